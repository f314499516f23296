"""What chapter 10_regime_map concludes (bannb.facts.regime_map): its cells, the decision's sentence in each
branch, the regression's sentence in each direction, and the table a reader scans."""
import dataclasses
import math

import pandas as pd
import pytest

from bannb.facts import MISSING, regime_map
from bannb.study import regimes
from bannb.study.profiles import get_profile
from tests.test_regimes import ladder_records


def test_the_cpu_maps_cells_are_described_from_their_configs():
    cells = regime_map.cells(get_profile("cpu")).set_index("cell")
    assert list(cells.index) == ["fashion-3k-clean", "fashion-3k-augmented", "fashion-1k-augmented",
                                 "cifar10-2k-augmented"]
    assert cells.loc["fashion-3k-clean", "views"] == "clean images" and cells.loc["fashion-3k-clean", "epochs"] == 20
    assert cells.loc["cifar10-2k-augmented", "dataset"] == "cifar10-jpeg"
    assert cells.loc["fashion-1k-augmented", "train_images"] == 1000
    assert (cells["longer_epochs"] == 2 * cells["epochs"]).all() and (cells["pool"] == 10_000).all()
    assert "JPEG" in regime_map.data_notes(get_profile("cpu"))  # the CIFAR-10 copy is said to be the JPEG one
    assert regime_map.data_notes(get_profile("smoke")) == ""


def verdicts(*words, alone=None):
    """Per cell c0, c1, … the book's verdict (`words`) and the map's own family's (`alone`, the same by default)."""
    return pd.DataFrame({"cell": [f"c{i}" for i in range(len(words))], "verdict": list(words),
                         "map_alone": list(alone or words)})


def costs(count):
    """A cell table's measured seconds: c0 the cheapest."""
    return pd.DataFrame({"cell": [f"c{i}" for i in range(count)], "seconds": [100.0 * (i + 1) for i in range(count)]})


def test_the_decision_sentence_in_both_branches():
    stay = regime_map.decision_facts(costs(2), verdicts("inconclusive", "does not hold"), None)
    assert stay["map_chosen"] == "none" and stay["map_winners"] == 0 and stay["map_cells"] == 2
    assert stay["map_decision"].startswith("In no cell does BAN-1 beat its teacher")
    assert stay["map_alone_decision"].endswith("the decision is the same.")
    move = regime_map.decision_facts(costs(3), verdicts("holds", "inconclusive", "holds"), "c2")
    assert move["map_winners"] == 2 and move["map_chosen"] == "c2"
    assert move["map_decision"] == ("BAN-1 beats its teacher in 2 of 3 cells (c0, c2); the cheapest of them, c2, is "
                                    "the regime of chapters 3-8.")


@pytest.mark.parametrize("low, high, word", [(0.01, 0.05, "grows"), (-0.05, -0.01, "shrinks"),
                                             (-0.01, 0.05, "shows no clear trend")])
def test_the_regression_sentence_reads_the_interval(low, high, word):
    fit = dict(slope=(low + high) / 2, low=low, high=high, intercept=0.0, r=0.5, n=20)
    facts = regime_map.regression_facts(fit)
    assert f"teacher {word} with" in facts["slope_sentence"]
    assert f"{10 * fit['slope']:+.2f} points of gain per 10 points of mass" in facts["slope_sentence"]
    assert facts["slope_n"] == 20


def test_no_line_without_points():
    facts = regime_map.regression_facts(dict(slope=math.nan, low=math.nan, high=math.nan, intercept=math.nan,
                                             r=math.nan, n=2))
    assert facts["slope_sentence"] == "With 2 points there is no line to fit."


def test_the_cell_view_formats_intervals_and_missing_values():
    row = dict(cell="c", seeds=5, teacher_error=12.345, teacher_train_fit=99.0, mass_seen=2.5, mass_clean=2.4,
               entropy_seen=0.1, targets_wrong_seen=0.2, agreement=90.0, agreement_others=89.0,
               ban_minus_teacher_mean=-0.5, ban_minus_teacher_low=-0.9, ban_minus_teacher_high=-0.1,
               over_smoothing_mean=0.2, over_smoothing_low=math.nan,
               over_smoothing_high=math.nan, longer_mean=math.nan, longer_low=math.nan, longer_high=math.nan,
               converged=False)
    table = pd.DataFrame([row])
    view = regime_map.cell_view(table).loc["c"]
    assert view["BAN-1 − teacher"] == "-0.50 [-0.90, -0.10]"
    assert view["BAN-1 − label smoothing"] == "+0.20"  # one pair: no interval
    assert view["2× teacher − teacher"] == MISSING and view["converged"] == "no"
    assert view["teacher error (%)"] == "12.35" and view["agreement: own teacher / others (%)"] == "90.0 / 89.0"
    facts = regime_map.span_facts(table.assign(converged=[True]))
    assert facts == dict(mass_low=2.5, mass_high=2.5, converged_cells=1, cells_total=1)


def test_why_sentence_names_the_worse_and_unfinished_cells_from_the_table():
    table = pd.DataFrame(dict(cell=["clean", "aug", "small"], mass_seen=[3.04, 11.3, 18.5],
                              ban_minus_teacher_mean=[-0.16, 0.57, 1.12], ban_minus_teacher_low=[-0.31, 0.24, -0.1],
                              ban_minus_teacher_high=[-0.003, 0.89, 2.3], ban_minus_teacher_n=[5, 5, 5],
                              longer_mean=[-0.29, -1.45, -4.08], converged=[True, False, False]))
    facts = regime_map.why_facts(table, verdicts("inconclusive", "does not hold", "inconclusive").assign(
        cell=table["cell"]))
    assert facts["map_worse_cells"] == 1 and facts["map_unfinished_cells"] == 2
    why = facts["map_why"]
    assert why.startswith("Of the map's 3 verdicts on BAN-1 against its teacher (the book's rule, Holm's adjustment "
                          "across every claim of the book): 2 “inconclusive”, 1 “does not hold”.")
    assert "In aug, where the teacher puts 11.3% of its probability" in why
    assert "worse than its teacher by 0.57 points (its 95% interval above zero). " in why
    # a whole interval above zero that the book's verdict leaves undecided is said to be so, not called a verdict
    undecided = regime_map.why_facts(table, verdicts("inconclusive", "inconclusive", "inconclusive",
                                                     alone=["inconclusive", "does not hold", "inconclusive"]
                                                     ).assign(cell=table["cell"]))
    assert undecided["map_why"].startswith("Of the map's 3 verdicts on BAN-1 against its teacher (the book's rule, "
                                           "Holm's adjustment across every claim of the book): 3 “inconclusive”.")
    assert ("worse than its teacher by 0.57 points (its 95% interval above zero), which the book's adjustment "
            "across all its claims does not count as decided.") in undecided["map_why"]
    assert "does not hold" not in undecided["map_why"]
    assert ("The teachers of aug, small were not finished: one trained twice as long is 1.45 to 4.08 points better, "
            "more than any born-again student differs from its teacher.") in why
    assert why.endswith("In clean, the regime closest to chapters 3-8, the teacher has 3.0% of its probability to "
                        "teach outside its top class, and BAN-1 − teacher is -0.16 points (95% CI -0.31 to -0.00, "
                        "n = 5).")
    # a 2× teacher that gains less than the student's largest difference is not called bigger than it
    calm = regime_map.why_facts(table.assign(longer_mean=[-0.29, -0.5, -4.08]), verdicts("a", "b", "c"))
    assert "0.50 to 4.08 points better." in calm["map_why"]



# ---------------------------------------------------------------- patience and the factors together

def map_records():
    """Two cells of a map with ladders (`ladder_records`): "won", finished at 30 epochs, whose BAN-1 beats it, and a
    60-epoch BAN-1 with no 120-epoch teacher to judge its own by; "ladder", unfinished at 30 and finished at 60, a
    BAN-1 at both; a label-smoothing control. Dark knowledge and mistakes vary from student to student."""
    records = pd.concat([
        ladder_records("won", {30: 10.0, 60: 9.95}, {("BAN-1", "ban", 30): 1.0, ("BAN-1 (60 epochs)", "ban", 60): 0.5,
                                                     ("Label smoothing", "ls", 30): 0.0}),
        ladder_records("ladder", {30: 12.0, 60: 11.0, 120: 10.9}, {("BAN-1", "ban", 30): 1.0,
                                                                   ("BAN-1 (60 epochs)", "ban", 60): 1.0}),
    ], ignore_index=True)
    return records.assign(teacher_mass_outside_top_right_seen=0.02 + 0.01 * (records.index % 7),
                          teacher_targets_wrong_seen=0.01 * (3 * records.index % 5))


def test_patience_facts_glue_the_rules_outcome_and_the_fits_answer():
    records = map_records()
    facts = regime_map.patience_facts(records, draws=200)
    outcome = regimes.patience_rule(records)
    assert facts["patience_outcome"] == outcome.sentence
    assert facts["patience_outcome"].startswith("A born-again student beats a finished teacher by the book's rule: "
                                                "BAN-1 of the 30-epoch teacher in won")
    assert facts["patience_generation_cells"] == "won, ladder"
    assert facts["patience_teachers"] == 5 and facts["patience_finished"] == 2 and facts["patience_comparisons"] == 4
    assert facts["patience_finished_sentence"] == (
        "Of the map's 5 teachers (one per cell and length), 2 are finished by the book's rule (won at 30 epochs; "
        "ladder at 60 epochs); 2 have no teacher of twice the epochs to be judged by.")
    # the won cell's 60-epoch BAN-1 has no 120-epoch teacher: it is judged, but has no unfinishedness to fit
    fit = regimes.joint_fit(regimes.gain_factors(records), draws=200)
    assert facts["fit_students"] == 15 and facts["fit_seeds"] == 5
    assert facts["fit_answer"] == regimes.fit_sentence(fit)
    assert facts["fit_answer"].startswith("Within cells, with the three factors fitted together (15 students, 95% "
                                          "bootstrap intervals over 5 seeds): ")
    assert facts["fit_coverage"] == ("The fit rests on 15 of the map's 20 born-again students: 5 have no teacher of "
                                     "twice the epochs of their own.")
    unsplit = records.assign(teacher_mass_outside_top_right_seen=records["teacher_mass_outside_top_right_seen"].where(
        records["seed"] != 0))
    assert regime_map.patience_facts(unsplit, draws=50)["fit_coverage"] == (
        "The fit rests on 12 of the map's 20 born-again students: 4 were recorded before the teacher's dark knowledge "
        "was kept apart from its mistakes; 4 have no teacher of twice the epochs of their own.")


def test_patience_points_are_the_ban_1_comparisons_with_their_teachers_finish():
    points = regime_map.patience_points(regimes.patience_rule(map_records()))
    assert points[["cell", "epochs"]].values.tolist() == [["won", 30], ["won", 60], ["ladder", 30], ["ladder", 60]]
    assert points["finished"].tolist() == [True, False, False, True]
    assert points["n"].tolist() == [5] * 4
    assert (points["mean"] < 0).all()  # BAN-1 − teacher: every BAN-1 better
    assert points.loc[1, "mean"] == pytest.approx(-0.5, abs=0.06)


def test_the_committed_maps_shape_judges_its_one_finished_teacher_and_cannot_fit_yet():
    """As the map's records are before its ladders train: per cell a teacher, its BAN-1 and its 2× teacher, recorded
    before dark knowledge was kept apart (NaN)."""
    records = pd.concat([ladder_records("clean", {20: 10.0, 40: 9.9}, {("BAN-1", "ban", 20): 0.0}),
                         ladder_records("augmented", {30: 12.0, 60: 10.5}, {("BAN-1", "ban", 30): -0.6})],
                        ignore_index=True).assign(teacher_mass_outside_top_right_seen=math.nan,
                                                  teacher_targets_wrong_seen=0.05)
    facts = regime_map.patience_facts(records, draws=50)
    assert facts["patience_outcome"] == (
        "At this scale a born-again student does not beat even a finished teacher: in the map's one comparison of a "
        "born-again student with a finished teacher it does not have lower error by the book's rule (Holm's "
        "adjustment across all 2 of the map's comparisons). The patience figure, BAN-1 − teacher against the "
        "teacher's epochs in each cell, is the evidence.")
    assert facts["patience_generation_cells"] == "none"
    assert facts["patience_finished_sentence"] == (
        "Of the map's 4 teachers (one per cell and length), 1 is finished by the book's rule (clean at 20 epochs); "
        "2 have no teacher of twice the epochs to be judged by.")
    assert facts["fit_answer"] == ("With 0 students on 0 seeds the map cannot fit its students' gains on the three "
                                   "factors together.")
    assert facts["fit_coverage"] == ("The fit rests on 0 of the map's 10 born-again students: 10 were recorded before "
                                     "the teacher's dark knowledge was kept apart from its mistakes.")


def test_the_fit_view_formats_each_factor_with_its_interval():
    fit = pd.DataFrame(dict(factor=list(regimes.FACTORS), coefficient=[0.05, -0.1, math.nan],
                            low=[0.01, -0.2, math.nan], high=[0.09, 0.004, math.nan], n=12, seeds=6))
    view = regime_map.fit_view(fit)
    assert list(view.index) == list(regimes.FACTORS.values())
    assert view.iloc[:, 0].tolist() == ["+0.050 [+0.010, +0.090]", "-0.100 [-0.200, +0.004]", MISSING]
    assert view["students"].tolist() == [12] * 3 and view["seeds"].tolist() == [6] * 3
    every = regime_map.coverage_sentence(pd.DataFrame(dict(loss=["ban", "ls", "kd"],
                                                            teacher_mass_outside_top_right_seen=0.1)), fit.assign(n=2))
    assert every == "The fit rests on all 2 born-again students of the map."  # the control is none of them


def test_what_each_profiles_map_trains_beyond_its_four_models():
    assert regime_map.trains_sentence(get_profile("smoke")) == (
        "The smoke profile's map trains ladders of teachers (augmented: 1, 2, 4 epochs), and in every cell the "
        "students KD T=4, BAN+L.")
    assert regime_map.trains_sentence(dataclasses.replace(get_profile("smoke"), map_ladder={})) == (
        "The smoke profile's map trains in every cell the students KD T=4, BAN+L.")
    assert regime_map.trains_sentence(dataclasses.replace(get_profile("smoke"), map_ladder={}, map_students=())) == (
        "The smoke profile's map has no ladder and no other students: each cell has the four models above.")
