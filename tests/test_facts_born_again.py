"""What chapter 04_born_again concludes (`bannb.facts.born_again`), on small synthetic records: each reading of the
equal-compute control, of the design's precision, of the students' convergence and of the Spearman test, and the
fallbacks where nothing is there to name."""
import json
import math

import numpy as np
import pandas as pd
import pytest

from bannb.facts import MISSING, born_again
from bannb.study import claims

CHAPTER_CLAIMS = claims.claims_for("04_born_again")
CENTRAL_MISSED = ("A born-again student (BAN-1) has lower error than its teacher; "
                  "BAN-2 has lower error than BAN-1, its teacher")


def records(errors: dict) -> pd.DataFrame:
    """Tidy records from {model: [test error per seed 0, 1, …]} (NaN: the model was not run on that seed)."""
    return pd.DataFrame([dict(model=model, seed=seed, test_error=error) for model, values in errors.items()
                         for seed, error in enumerate(values) if not math.isnan(error)])


def test_design_facts():
    assert born_again.design_facts(range(8), [0, 1, 2], 20) == {"n_seeds": 8, "n_secondary": 3, "epochs": 20,
                                                                "long_epochs": 40}


def test_pair_facts_count_wins_over_the_seeds_that_have_both():
    differences = pd.DataFrame({"BAN-1 − Teacher": [-0.5, 0.2, -0.1, 0.0],
                                "BAN-2 − BAN-1": [0.3, 0.1, 0.2, 0.4],
                                "BAN-1 − Teacher (2× epochs)": [-1.0, np.nan, np.nan, np.nan]})
    assert born_again.pair_facts(differences) == {"ban1_better": 2, "ban1_pairs": 4, "ban2_better": 0,
                                                  "ban2_pairs": 4, "long_better": 1, "long_pairs": 1}


@pytest.mark.parametrize("ban1, long, start", [
    ("inconclusive", "holds", "With no established gain of BAN-1 over its own teacher"),
    ("does not hold", "does not hold", "With no established gain of BAN-1 over its own teacher"),
    ("holds", "holds", "BAN-1's gain survives the control"),
    ("holds", "does not hold", "BAN-1 beats its own teacher but not a teacher given the same budget"),
    ("holds", "inconclusive", "BAN-1 beats its own teacher, but against a teacher given the same budget the "
                              "comparison cannot tell"),
    ("holds", "no effect of the paper's size", "BAN-1 beats its own teacher, but against a teacher given the "
                                               "same budget the comparison cannot tell"),
])
def test_each_reading_of_the_equal_compute_control(ban1, long, start):
    assert born_again.control_reading(ban1, long).startswith(start)


def test_the_gain_explained_by_extra_training_reads_in_full():
    assert born_again.control_reading("holds", "does not hold") == (
        "BAN-1 beats its own teacher but not a teacher given the same budget, which is better still: at this scale "
        "the gain is explained by the extra training.")


# BAN-1 one point below its teacher on every seed (± 0.1), BAN-2 half a point below BAN-1 (± 0.05); BAN-3 and a
# teacher trained twice as long on seeds 0-2, the long teacher two points better than BAN-1
TEACHER = [10.0, 11.0, 12.0, 13.0]
BAN1 = [t - 1 + e for t, e in zip(TEACHER, [0.1, -0.1, 0.1, -0.1])]
BAN2 = [b - 0.5 + e for b, e in zip(BAN1, [0.05, -0.05, 0.05, -0.05])]
TIGHT = records({"Teacher": TEACHER, "BAN-1": BAN1, "BAN-2": BAN2, "BAN-3": [b - 0.2 for b in BAN2[:3]] + [np.nan],
                 "Teacher (2× epochs)": [b - 2 + e for b, e in zip(BAN1[:3], [0.1, 0.0, -0.1])] + [np.nan]})


# The same on five seeds, every model on all of them: enough pairs for the rule to decide (stats.MIN_PAIRS)
TEACHER5 = [10.0, 11.0, 12.0, 13.0, 14.0]
BAN1_5 = [t - 1 + e for t, e in zip(TEACHER5, [0.1, -0.1, 0.1, -0.1, 0.0])]
BAN2_5 = [b - 0.5 + e for b, e in zip(BAN1_5, [0.05, -0.05, 0.05, -0.05, 0.0])]
TIGHT5 = records({"Teacher": TEACHER5, "BAN-1": BAN1_5, "BAN-2": BAN2_5, "BAN-3": [b - 0.2 for b in BAN2_5],
                  "Teacher (2× epochs)": [b - 2 + e for b, e in zip(BAN1_5, [0.1, 0.0, -0.1, 0.0, 0.05])]})


def test_claim_facts_on_evaluated_records():
    facts = born_again.claim_facts(claims.evaluate(TIGHT5, CHAPTER_CLAIMS))
    assert (facts["ban1_verdict"], facts["ban2_verdict"], facts["long_verdict"]) == ("holds", "holds",
                                                                                     "does not hold")
    assert facts["ban1_mean"] == pytest.approx(-1.0) and facts["ban1_n"] == 5 and facts["ban3_n"] == 5
    assert facts["ban1_ci_low"] < facts["ban1_mean"] < facts["ban1_ci_high"] < 0
    assert facts["ban1_half_width"] == pytest.approx((facts["ban1_ci_high"] - facts["ban1_ci_low"]) / 2)
    assert facts["ban1_detectable"] > facts["ban1_half_width"]
    assert facts["ban1_paper_mean"] == pytest.approx(-0.8375) and facts["ban1_paper_rows"] == "4 of 4 rows"
    assert math.isnan(facts["long_paper_mean"]) and facts["long_paper_rows"] == "—"  # our control: no paper number
    assert facts["control_reading"] == born_again.control_reading("holds", "does not hold")
    assert set(facts) == {f"{name}_{field}" for name in born_again.CLAIM_NAMES for field in (
        "verdict", "mean", "ci_low", "ci_high", "half_width", "detectable", "paper_mean", "paper_rows", "n")} | {
        "control_reading"}


def test_claim_facts_of_a_claim_not_run():
    facts = born_again.claim_facts(claims.evaluate(records({"Teacher": TEACHER5, "BAN-1": BAN1_5, "BAN-2": BAN2_5}),
                                                   CHAPTER_CLAIMS))
    assert facts["ban3_verdict"] == claims.NOT_RUN == "not run" and facts["ban3_n"] == 0 and math.isnan(facts["ban3_ci_low"])
    assert facts["control_reading"].startswith("BAN-1 beats its own teacher, but against a teacher given the same")


def test_a_tight_design_meets_the_target():
    facts = born_again.precision_facts(claims.evaluate(TIGHT, CHAPTER_CLAIMS), TIGHT, CHAPTER_CLAIMS)
    assert (facts["margin"], facts["confidence"], facts["power"], facts["n_central"]) == (0.3, 95.0, 80.0, 2)
    assert facts["alpha"] == pytest.approx(5.0)
    assert facts["design_met"] == "met the target" and facts["missed_claims"] == "none"
    # the spread of BAN-1 − Teacher (±0.1 about −1) is the larger; 3 pairs give t(0.975, 2)·sd/√3 ≤ 0.3
    assert facts["worst_sd"] == pytest.approx(0.2 / math.sqrt(3)) and facts["seeds_needed"] == 3


def test_a_noisy_design_names_the_claims_that_missed_it():
    noisy = records({"Teacher": TEACHER, "BAN-1": [t + e for t, e in zip(TEACHER, [-2.0, 1.0, -1.5, 2.0])],
                     "BAN-2": [t + e for t, e in zip(TEACHER, [1.0, -1.0, 2.0, -2.0])]})
    facts = born_again.precision_facts(claims.evaluate(noisy, CHAPTER_CLAIMS), noisy, CHAPTER_CLAIMS)
    assert facts["design_met"] == "did not meet the target" and facts["missed_claims"] == CENTRAL_MISSED
    assert facts["seeds_needed"] > 10


def test_one_seed_gives_no_spread_and_no_number_of_seeds():
    single = records({"Teacher": [10.0], "BAN-1": [9.0], "BAN-2": [8.0]})
    facts = born_again.precision_facts(claims.evaluate(single, CHAPTER_CLAIMS), single, CHAPTER_CLAIMS)
    assert facts["design_met"] == "did not meet the target" and facts["missed_claims"] == CENTRAL_MISSED
    assert math.isnan(facts["worst_sd"]) and facts["seeds_needed"] == MISSING


def students(flat, wrong=(1.0, 2.0, 3.0), agreement=(90.0, 92.0, 94.0), difference=(0.1, 0.2, 0.3)):
    return pd.DataFrame({"model": ["BAN-1", "BAN-2", "BAN-1"], "seed": [0, 0, 1], "flat": flat,
                         "teacher_train_targets_wrong": wrong, "test_agreement_with_teacher": agreement,
                         "difference": difference})


def test_every_student_flat():
    facts = born_again.student_facts(students([True, True, True]), pd.DataFrame({"converged": [True, False]}))
    assert facts == {"n_students": 3, "n_students_flat": 3, "students_verdict": "Every student ends flat.",
                     "unflat_students": "none", "n_long": 2, "n_long_converged": 1, "agreement_mean": 92.0,
                     "wrong_max": 3.0}


def test_students_still_learning_are_named():
    facts = born_again.student_facts(students([True, False, False]), pd.DataFrame({"converged": [True]}))
    assert facts["n_students_flat"] == 1
    assert facts["students_verdict"] == "Not every student ends flat: some were still learning when training stopped."
    assert facts["unflat_students"] == "BAN-2 (seed 0), BAN-1 (seed 1)"


@pytest.mark.parametrize("rho, p_value, reading", [
    (-0.9, 0.01, "a clear relation: the more of its teacher's training targets were wrong, the better a student "
                 "did against that teacher"),
    (0.9, 0.01, "a clear relation: the more of its teacher's training targets were wrong, the worse a student "
                "did against that teacher"),
    (-0.9, 0.05, "no clear relation"),
    (float("nan"), float("nan"), "no clear relation"),
])
def test_each_reading_of_the_spearman_test(rho, p_value, reading):
    assert born_again.rho_reading(rho, p_value) == reading


def test_a_monotone_relation_is_clear():
    pairs = pd.DataFrame({"teacher_train_targets_wrong": [0.5, 1.0, 1.5, 2.0, 2.5, 3.0],
                          "difference": [0.9, 0.4, 0.3, -0.1, -0.2, -0.8]})
    facts = born_again.relation_facts(pairs)
    assert facts["rho"] == pytest.approx(-1.0) and facts["rho_p"] < 0.05 and facts["rho_n"] == 6
    assert facts["rho_reading"].endswith("the better a student did against that teacher")


def test_a_constant_side_gives_no_test():
    facts = born_again.relation_facts(students([True] * 3, wrong=(1.0, 1.0, 1.0)))
    assert math.isnan(facts["rho"]) and math.isnan(facts["rho_p"]) and facts["rho_n"] == 3
    assert facts["rho_reading"] == "no clear relation"


def test_the_wrong_targets_read_against_what_the_criterion_allows():
    assert born_again.wrong_reading(2.0).startswith("on its training images a BAN student's targets almost always")
    assert born_again.wrong_reading(2.5).startswith("a BAN student is taught a wrong class on a noticeable share")


def test_fit_facts_read_the_first_students_only():
    facts = born_again.fit_facts(students([True] * 3, wrong=(1.0, 9.0, 3.0), agreement=(90.0, 50.0, 94.0)),
                                 pd.DataFrame({"converged": [True, True, False]}), pd.Series([13.0, 14.0]))
    assert facts == {"n_teachers": 3, "n_teachers_converged": 2, "wrong_reading": born_again.wrong_reading(2.0),
                     "ban1_wrong_mean": 2.0, "ban1_wrong_max": 3.0, "ban1_agreement": 92.0,
                     "teacher_test_error": 13.5}
    assert born_again.fit_facts(students([True] * 3, wrong=(4.0, 0.0, 4.0)), pd.DataFrame({"converged": [True]}),
                                pd.Series([13.0]))["wrong_reading"] == born_again.wrong_reading(4.0)


def test_scale_facts_against_the_paper_densenet():
    counts = pd.DataFrame({"network": ["Wide-ResNet-28-1", "DenseNet-90-60"], "paper (M)": [0.38, 16.0]})
    assert born_again.scale_facts([8.0, 9.0], 10, 100, 200_000, counts, 3000) == {
        "outside_top": 8.5, "our_classes": 10, "paper_classes": 100, "our_params": 200_000, "paper_params": 16.0,
        "params_ratio": 80.0, "train_images": 3000}


def test_more_seeds_cost_what_the_book_measured(tmp_path):
    results = tmp_path / "book" / "results"
    results.mkdir(parents=True)
    (results / "book-timings-cpu.json").write_text(json.dumps(
        {"04_born_again": {"train_seconds": 1200.0, "plan_runs_trained": 10, "machines": ["a test box"]}}))
    assert born_again.try_it_facts(range(8), 3, range(10), root=tmp_path) == {
        "try_runs": 6, "try_cost": "about 12 minutes on a test box (2.0 minutes per run, as the cpu book trained them)"}
