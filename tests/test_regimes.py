"""The map of regimes (bannb.study.regimes) on synthetic records: per-cell gains, the regression, the decision rule."""
import math

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats as scipy_stats

from bannb.study.claims import claims_for, evaluate
from bannb.study.regimes import (
    LONGER,
    MAP_CLAIM,
    SMOOTHED,
    STUDENT,
    TEACHER,
    agreement_with_other_teachers,
    cell_table,
    cell_verdicts,
    chapters_regime,
    gain_regression,
    judged_value,
    patience_rule,
    teacher_lengths,
)
from bannb.study.stats import MIN_PAIRS, paired_difference

SEEDS = range(5)


def cell_records(cell, teacher, gain, smoothing_gain, longer_gain, mass, seconds=100.0, jitter=0.05):
    """A cell's records: per seed a teacher at `teacher` + 0.3·seed, BAN-1 `gain` points better (± jitter), the
    label-smoothing student `smoothing_gain` better than the teacher, the 2× teacher `longer_gain` better; BAN-1's
    record says its teacher's mass outside the top class on its views was `mass` (a fraction)."""
    rows = []
    for seed in SEEDS:
        base = teacher + 0.3 * seed
        wiggle = jitter * math.sin(seed + len(cell))
        common = dict(cell=cell, seed=seed, dataset="fashion-mnist", train_seconds=seconds,
                      teacher_mass_outside_top_seen=math.nan, teacher_mass_outside_top_clean=math.nan,
                      teacher_entropy_seen=math.nan, teacher_targets_wrong_seen=math.nan,
                      test_agreement_with_teacher=math.nan, test_kl_teacher_student=math.nan,
                      label_smoothing_mass=math.nan, train_accuracy=0.95)
        rows += [dict(common, model=TEACHER, heldout_error=base, run_id=f"{cell}-t{seed}"),
                 dict(common, model=STUDENT, heldout_error=base - gain + wiggle, run_id=f"{cell}-s{seed}",
                      teacher_mass_outside_top_seen=mass, teacher_mass_outside_top_clean=mass / 2,
                      teacher_entropy_seen=2 * mass, teacher_targets_wrong_seen=mass / 4,
                      test_agreement_with_teacher=0.9, test_kl_teacher_student=0.1),
                 dict(common, model=SMOOTHED, heldout_error=base - smoothing_gain - wiggle, run_id=f"{cell}-l{seed}",
                      label_smoothing_mass=mass),
                 dict(common, model=LONGER, heldout_error=base - longer_gain + wiggle / 2, run_id=f"{cell}-x{seed}",
                      train_seconds=2 * seconds)]
    frame = pd.DataFrame(rows)
    return frame.assign(test_error=frame["heldout_error"] + 0.1)


def same_logits(run_id):
    """Every model predicts class (seed mod 3) on every test image: teachers of other seeds agree only sometimes."""
    seed = int(run_id.rsplit("-", 1)[1][1:])
    return torch.nn.functional.one_hot(torch.full((12,), seed % 3), 10).float()


@pytest.fixture
def records():
    return pd.concat([cell_records("clean", 12.0, gain=0.0, smoothing_gain=0.0, longer_gain=0.05, mass=0.03),
                      cell_records("augmented", 10.0, gain=1.0, smoothing_gain=0.4, longer_gain=0.8, mass=0.2,
                                   seconds=300.0),
                      cell_records("small", 20.0, gain=1.5, smoothing_gain=1.4, longer_gain=0.1, mass=0.3,
                                   seconds=200.0)], ignore_index=True)


def test_the_cell_table_pairs_each_comparison_by_seed(records):
    table = cell_table(records, test_logits=same_logits).set_index("cell")
    assert list(table.index) == ["clean", "augmented", "small"] and (table["seeds"] == 5).all()
    assert (table["value"] == "heldout_error").all()
    augmented = records[records["cell"] == "augmented"]
    side = {model: dict(zip(rows["seed"], rows["heldout_error"])) for model, rows in augmented.groupby("model")}
    gain = paired_difference(side[TEACHER], side[STUDENT])
    assert table.loc["augmented", "ban_minus_teacher_mean"] == pytest.approx(gain.mean)
    assert (table.loc["augmented", "ban_minus_teacher_low"],
            table.loc["augmented", "ban_minus_teacher_high"]) == pytest.approx((gain.low, gain.high))
    assert table.loc["augmented", "over_smoothing_mean"] == pytest.approx(
        paired_difference(side[SMOOTHED], side[STUDENT]).mean)
    assert table.loc["augmented", "teacher_error"] == pytest.approx(np.mean([10.0 + 0.3 * s for s in SEEDS]))
    # what BAN-1 was taught, from its records, in %
    assert table.loc["augmented", "mass_seen"] == pytest.approx(20.0)
    assert table.loc["augmented", "mass_clean"] == pytest.approx(10.0)
    assert table.loc["augmented", "smoothing_mass"] == pytest.approx(20.0)
    assert table.loc["augmented", "seconds"] == pytest.approx(600.0)  # a teacher and its BAN-1
    # converged: the 2× teacher within the margin (0.3 points) on average
    assert table["converged"].tolist() == [True, False, True]


def test_agreement_with_other_teachers_excludes_the_students_own():
    cell = pd.DataFrame([dict(model=model, seed=seed, run_id=f"c-{tag}{seed}")
                         for seed in range(4) for model, tag in ((TEACHER, "t"), (STUDENT, "s"))])
    found = agreement_with_other_teachers(cell, same_logits)
    # seed 0 predicts class 0, like seed 3's teacher only: 1 of its 3 other teachers
    assert found == pytest.approx({0: 1 / 3, 1: 0.0, 2: 0.0, 3: 1 / 3})


def judged(records):
    """The map's claims judged together (`claims.evaluate`), standing in for the book's table of verdicts."""
    return evaluate(records, claims_for("10_regime_map"))


def test_the_decision_takes_the_cheapest_cell_where_ban_beats_its_teacher(records):
    table = cell_table(records, test_logits=same_logits)
    evaluated = judged(records)
    verdicts = cell_verdicts(records, evaluated).set_index("cell")
    book = evaluated.set_index("key")["verdict"]
    # the verdict is the book's, cell by cell: the one claim "BAN-1 beats its teacher" of each cell
    assert verdicts["verdict"].to_dict() == {cell: book[f"{MAP_CLAIM}[{cell}]"] for cell in verdicts.index}
    assert verdicts.loc["clean", "verdict"] in ("no effect of the paper's size", "inconclusive")
    assert verdicts.loc["augmented", "verdict"] == verdicts.loc["small", "verdict"] == "holds"
    assert chapters_regime(table, verdicts.reset_index()) == "small"  # 400 s a seed against 600 s
    # beside it, the map's cells alone (the rule as first written): Holm across its 3 cells
    assert verdicts.loc["augmented", "map_alone"] == verdicts.loc["small", "map_alone"] == "holds"
    assert verdicts["p_adjusted"].tolist() == evaluated.set_index("key").loc[
        [f"{MAP_CLAIM}[{cell}]" for cell in verdicts.index], "p_adjusted"].tolist()
    nothing = cell_verdicts(records[records["cell"] == "clean"], judged(records[records["cell"] == "clean"]))
    assert chapters_regime(table, nothing) is None  # no cell wins: the chapters stay


def test_the_decision_reads_the_books_verdict_not_the_maps_own_family(records):
    table = cell_table(records, test_logits=same_logits)
    undecided = judged(records).assign(verdict="inconclusive")  # as a larger family could leave every cell
    verdicts = cell_verdicts(records, undecided)
    assert chapters_regime(table, verdicts) is None
    assert chapters_regime(table, verdicts, "map_alone") == "small"
    from bannb.facts.regime_map import decision_facts
    facts = decision_facts(table, verdicts, None)
    assert facts["map_alone_decision"] == ("Read with Holm's adjustment across the map's cells alone, as the rule was "
                                           "first written, the regime of chapters 3-8 would be small; the book's one "
                                           "family decides.")
    with pytest.raises(ValueError, match=r"no row map-ban-vs-teacher\[small\]"):
        cell_verdicts(records, undecided[undecided["key"] != f"{MAP_CLAIM}[small]"])


def test_the_maps_conclusion_for_other_chapters_moves_to_the_cheapest_winning_cell(records):
    from bannb.facts.regime_map import conclusion_facts
    facts = conclusion_facts(records, judged(records), test_logits=same_logits)
    assert facts["map_chosen"] == "small" and facts["map_winners"] == 2 and facts["map_cells"] == 3
    assert facts["map_decision"].startswith("BAN-1 beats its teacher in 2 of 3 cells (augmented, small)")
    assert facts["map_why"].startswith("Of the map's 3 verdicts on BAN-1 against its teacher (the book's rule, Holm's "
                                      "adjustment across every claim of the book): 2 “holds”")
    assert facts["map_alone_decision"].endswith("the decision is the same.")
    assert facts["map_worse_cells"] == 0  # the students of this fixture gain: none is worse than its teacher
    clean = records[records["cell"] == "clean"]
    clean_facts = conclusion_facts(clean, judged(clean), test_logits=same_logits)
    assert clean_facts["map_chosen"] == "none" and clean_facts["map_why"].startswith("Of the map's 1 verdict on")


def test_few_seeds_decide_nothing(records):
    few = records[records["seed"] < 4]
    verdicts = cell_verdicts(few, judged(few))
    assert (verdicts["verdict"] == "inconclusive").all() and (verdicts["map_alone"] == "inconclusive").all()
    assert chapters_regime(cell_table(few, test_logits=same_logits), verdicts) is None


def test_gain_regression_is_least_squares_over_every_seed_and_cell(records):
    fit = gain_regression(records)
    x, y = [], []
    for _, cell in records.groupby("cell", sort=False):
        teacher = dict(zip(cell[cell["model"] == TEACHER]["seed"], cell[cell["model"] == TEACHER]["heldout_error"]))
        for _, row in cell[cell["model"] == STUDENT].iterrows():
            x.append(100 * row["teacher_mass_outside_top_seen"])
            y.append(teacher[row["seed"]] - row["heldout_error"])
    expected = scipy_stats.linregress(x, y)
    half = scipy_stats.t.ppf(0.975, len(x) - 2) * expected.stderr
    assert fit["n"] == 15 and fit["slope"] == pytest.approx(expected.slope)
    assert (fit["low"], fit["high"]) == pytest.approx((expected.slope - half, expected.slope + half))
    assert fit["low"] > 0  # more dark knowledge, more gain, in these records
    assert math.isnan(gain_regression(records[records["seed"] == 0].head(4))["slope"])


def test_claims_are_judged_on_the_pool_only_where_every_run_has_one(records):
    assert judged_value(records) == "heldout_error"
    assert judged_value(records.assign(heldout_error=np.nan)) == "test_error"
    mixed = records.copy()
    mixed.loc[0, "heldout_error"] = np.nan
    assert judged_value(mixed) == "test_error"


# ---------------------------------------------------------------- the rule for finished teachers


def ladder_records(cell, teachers, students, seeds=SEEDS):
    """A cell's records as the map declares them (`loss` and `epochs` columns): `teachers` {epochs: error of seed 0}
    (each seed 0.3 points worse than the last, a small wiggle), `students` {(label, loss, epochs): gain over the
    teacher of that length} (± a wiggle of their own)."""
    rows = []
    for seed in seeds:
        base = 0.3 * seed + 0.04 * math.sin(3 * seed + len(cell))
        rows += [dict(cell=cell, model=TEACHER if epochs == min(teachers) else f"Teacher ({epochs} epochs)",
                      loss="ce", epochs=epochs, seed=seed, heldout_error=error + base, run_id=f"{cell}-t{epochs}-{seed}")
                 for epochs, error in teachers.items()]
        rows += [dict(cell=cell, model=label, loss=loss, epochs=epochs, seed=seed,
                      heldout_error=teachers[epochs] + base - gain + 0.05 * math.cos(seed + len(label)),
                      run_id=f"{cell}-{label}-{seed}")
                 for (label, loss, epochs), gain in students.items()]
    frame = pd.DataFrame(rows)
    return frame.assign(test_error=frame["heldout_error"] + 0.1)


def test_a_finished_teachers_winning_student_sends_chapter_4s_generations_to_its_cell():
    records = pd.concat([
        # finished at 30 epochs (its 60-epoch teacher 0.05 points better); BAN-1 1 point better, KD T=4 as good
        ladder_records("won", {30: 10.0, 60: 9.95}, {("BAN-1", "ban", 30): 1.0, ("KD T=4", "kd", 30): 0.0,
                                                     (SMOOTHED, "ls", 30): 2.0}),
        # unfinished at 30 (60 epochs: 1 point better), finished at 60 (120: 0.1 better); both BAN-1s win by 1 point
        ladder_records("ladder", {30: 12.0, 60: 11.0, 120: 10.9}, {("BAN-1", "ban", 30): 1.0,
                                                                   ("BAN-1 (60 epochs)", "ban", 60): 1.0}),
    ], ignore_index=True)
    outcome = patience_rule(records)
    rows = outcome.comparisons.set_index(["cell", "student"])
    # every born-again student against its own teacher; the label-smoothing control is not one
    assert list(rows.index) == [("won", "BAN-1"), ("won", "KD T=4"), ("ladder", "BAN-1"),
                                ("ladder", "BAN-1 (60 epochs)")]
    assert rows.loc[("won", "BAN-1"), "mean"] == pytest.approx(
        paired_difference(*(dict(zip(r["seed"], r["heldout_error"])) for r in
                            (records[(records["cell"] == "won") & (records["model"] == name)]
                             for name in (TEACHER, "BAN-1")))).mean)
    assert rows["verdict"].tolist() == ["holds", "no effect of the paper's size", "holds", "holds"]
    # the 30-epoch teacher of the ladder is unfinished, so its winning BAN-1 does not count; its 60-epoch rung is
    # finished by the next rung up
    assert rows["finished"].tolist() == [True, True, False, True]
    assert rows["wins"].tolist() == [True, False, False, True]
    assert outcome.generation_cells == ("won", "ladder")
    won = rows.loc[("won", "BAN-1")]
    assert outcome.sentence.startswith(f"A born-again student beats a finished teacher by the book's rule: BAN-1 of "
                                       f"the 30-epoch teacher in won ({won['mean']:+.2f} points, 95% CI "
                                       f"{won['low']:+.2f} to {won['high']:+.2f}, n = 5); BAN-1 (60 epochs) of the "
                                       f"60-epoch teacher in ladder")
    assert "also run in won, ladder" in outcome.sentence
    # Holm across the map's four comparisons: the smallest p-value times four
    raw = [paired_difference(*(dict(zip(r["seed"], r["heldout_error"])) for r in (
        records[(records["cell"] == cell) & (records["loss"] == "ce") & (records["epochs"] == epochs)],
        records[(records["cell"] == cell) & (records["model"] == student)]))).p_value
        for cell, student, epochs in (("won", "BAN-1", 30), ("won", "KD T=4", 30), ("ladder", "BAN-1", 30),
                                      ("ladder", "BAN-1 (60 epochs)", 60))]
    assert outcome.comparisons["p_adjusted"].min() == pytest.approx(min(1.0, 4 * min(raw)))
    lengths = outcome.teachers.set_index(["cell", "epochs"])
    assert lengths["finished"].to_dict() == {("won", 30): True, ("won", 60): False, ("ladder", 30): False,
                                             ("ladder", 60): True, ("ladder", 120): False}
    assert lengths.loc[("ladder", 30), "longer_mean"] == pytest.approx(-1.0)
    assert math.isnan(lengths.loc[("ladder", 120), "longer_mean"])  # the last rung has no 2× check


def test_a_winner_whose_teacher_is_unfinished_does_not_count():
    records = ladder_records("unfinished", {30: 12.0, 60: 11.0}, {("BAN-1", "ban", 30): 1.0})
    outcome = patience_rule(records)
    assert outcome.comparisons["verdict"].tolist() == ["holds"] and not outcome.comparisons["wins"].any()
    assert outcome.generation_cells == ()
    assert outcome.sentence.startswith("No teacher of the map is finished by the book's rule")


def test_no_winner_says_a_born_again_student_does_not_beat_even_a_finished_teacher():
    records = pd.concat([ladder_records("flat", {30: 10.0, 60: 9.9}, {("BAN-1", "ban", 30): 0.0,
                                                                      ("BAN+L", "ban+l", 30): -0.1}),
                         ladder_records("worse", {30: 14.0, 60: 13.0}, {("BAN-1", "ban", 30): -1.0})],
                        ignore_index=True)
    outcome = patience_rule(records)
    assert outcome.generation_cells == () and not outcome.comparisons["wins"].any()
    assert outcome.comparisons["verdict"].tolist()[2] == "does not hold"
    assert outcome.sentence == (
        "At this scale a born-again student does not beat even a finished teacher: in none of the map's 2 comparisons "
        "of a born-again student with a finished teacher does it have lower error by the book's rule (Holm's "
        "adjustment across all 3 of the map's comparisons). The patience figure, BAN-1 − teacher against the "
        "teacher's epochs in each cell, is the evidence.")


def test_fewer_than_five_seeds_decide_nothing():
    assert MIN_PAIRS == 5
    records = ladder_records("few", {30: 10.0, 60: 9.95}, {("BAN-1", "ban", 30): 1.0}, seeds=range(4))
    outcome = patience_rule(records)
    assert outcome.comparisons["verdict"].tolist() == ["inconclusive"] and outcome.comparisons["finished"].all()
    assert outcome.generation_cells == ()
    assert outcome.sentence.startswith("No born-again student of a finished teacher has the 5 seeds the book's rule "
                                       "needs")
    assert teacher_lengths(records)["seeds"].tolist() == [4, 4]


def test_records_of_runs_from_before_the_split_read_it_as_nan(tmp_path):
    """A student recorded before dark knowledge was recorded apart from mistakes: its new fields read as NaN."""
    import json

    from bannb.study.regimes import TAUGHT_FIELDS, with_final_fields
    for run_id, final in (("old", dict(teacher_mass_outside_top_seen=0.2)),
                          ("new", dict(teacher_mass_outside_top_seen=0.2, teacher_mass_outside_top_right_seen=0.1,
                                       teacher_mass_outside_top_wrong_seen=None))):
        (tmp_path / run_id).mkdir()
        (tmp_path / run_id / "final.json").write_text(json.dumps(final))
    frame = with_final_fields(pd.DataFrame({"model": [STUDENT, STUDENT], "run_id": ["old", "new"]}), runs_dir=tmp_path)
    assert {"teacher_mass_outside_top_right_seen", "teacher_mass_outside_top_wrong_seen"} <= set(TAUGHT_FIELDS)
    assert frame["teacher_mass_outside_top_seen"].tolist() == [0.2, 0.2]
    assert math.isnan(frame.loc[0, "teacher_mass_outside_top_right_seen"])
    assert frame.loc[1, "teacher_mass_outside_top_right_seen"] == 0.1
    assert frame["teacher_mass_outside_top_wrong_seen"].isna().all()  # null: a teacher without mistakes


# ---------------------------------------------------------------- the factors together

def factor_points(coefficients, collinear=False, noise=0.05, seeds=range(6)):
    """Students of three cells with known effects: gain = the cell's offset + Σ coefficient × factor + noise; the
    factors vary within cells independently (or mistakes ≈ 0.8 × dark knowledge where `collinear`)."""
    rng = np.random.default_rng(1)
    rows = []
    for offset, cell in zip((0.0, -1.0, 2.0), ("a", "b", "c")):
        for seed in seeds:
            for student in range(4):
                dark = rng.uniform(2, 30)
                mistakes = 0.8 * dark + rng.normal(0, 0.05) if collinear else rng.uniform(0, 20)
                unfinished = rng.uniform(0, 4)
                gain = (offset + coefficients[0] * dark + coefficients[1] * mistakes + coefficients[2] * unfinished
                        + rng.normal(0, noise))
                rows.append(dict(cell=cell, seed=seed, student=f"s{student}", gain=gain, dark=dark, mistakes=mistakes,
                                 unfinished=unfinished))
    return pd.DataFrame(rows)


def test_the_joint_fit_recovers_known_effects_within_cells():
    from bannb.study.regimes import fit_sentence, joint_fit
    truth = (0.05, -0.1, 0.5)
    fit = joint_fit(factor_points(truth), draws=400).set_index("factor")
    assert fit["coefficient"].tolist() == pytest.approx(truth, abs=0.01)
    # every interval excludes zero and is tight about the truth (6 seeds: the percentiles need not cover it exactly)
    assert ((fit["low"] > 0) | (fit["high"] < 0)).all()
    assert fit["low"].tolist() == pytest.approx(truth, abs=0.02) and fit["high"].tolist() == pytest.approx(truth, abs=0.02)
    assert fit["n"].iloc[0] == 72 and fit["seeds"].iloc[0] == 6
    sentence = fit_sentence(fit.reset_index())
    assert sentence.startswith("Within cells, with the three factors fitted together (72 students, 95% bootstrap "
                               "intervals over 6 seeds): the more dark knowledge, the more a student gains over its "
                               "teacher (+0.5")
    assert "the more mistakes, the less a student gains" in sentence
    assert "the more unfinishedness, the more a student gains" in sentence


def test_the_fit_says_when_the_data_cannot_separate_two_factors():
    from bannb.study.regimes import fit_sentence, joint_fit
    fit = joint_fit(factor_points((0.02, 0.0, 0.0), collinear=True, noise=0.3), draws=400)
    rows = fit.set_index("factor")
    assert rows.loc["dark", "low"] < 0 < rows.loc["dark", "high"]
    assert rows.loc["mistakes", "low"] < 0 < rows.loc["mistakes", "high"]
    assert rows.loc["dark", "corr_mistakes"] < -0.9
    sentence = fit_sentence(fit)
    assert "the data cannot separate dark knowledge and mistakes" in sentence
    assert sentence.endswith("unfinishedness makes no clear difference.")


def test_the_factors_of_each_student_come_from_its_records():
    from bannb.study.regimes import fit_sentence, gain_factors, joint_fit
    records = ladder_records("c", {30: 12.0, 60: 11.0, 120: 10.9},
                             {(STUDENT, "ban", 30): 0.5, ("BAN-1 (60 epochs)", "ban", 60): 0.2,
                              (SMOOTHED, "ls", 30): 1.0})
    records = records.assign(teacher_mass_outside_top_right_seen=0.1, teacher_targets_wrong_seen=0.02)
    points = gain_factors(records)
    # BAN-1 of both rungs (the label-smoothing control is no born-again student; the 120-epoch rung has no student)
    assert sorted(set(points["student"])) == ["BAN-1", "BAN-1 (60 epochs)"] and len(points) == 10
    first = points[(points["student"] == STUDENT) & (points["seed"] == 0)].iloc[0]
    assert first["dark"] == pytest.approx(10.0) and first["mistakes"] == pytest.approx(2.0)
    assert first["unfinished"] == pytest.approx(1.0)  # the 60-epoch teacher is 1 point better
    assert first["gain"] == pytest.approx(0.5 - 0.05 * math.cos(0 + len(STUDENT)))
    rung = points[points["student"] == "BAN-1 (60 epochs)"]
    assert rung["unfinished"].tolist() == pytest.approx([0.1] * 5)  # against the 120-epoch rung
    # a student trained on softer targets (KD at T = 4) is read on its own targets where they are recorded
    kd = gain_factors(records.assign(teacher_mass_outside_top_right_targets_seen=0.3))
    assert kd["dark"].tolist() == pytest.approx([30.0] * 10)
    # old records (no split) give no points; too few points give no fit
    assert gain_factors(records.assign(teacher_mass_outside_top_right_seen=np.nan)).empty
    assert gain_factors(records.assign(teacher_mass_outside_top_right_seen=np.nan,
                                       teacher_mass_outside_top_right_targets_seen=np.nan)).empty
    assert joint_fit(points.head(3))["coefficient"].isna().all()
    few = joint_fit(factor_points((0.05, -0.1, 0.5), seeds=range(4)))
    assert few["coefficient"].isna().all()  # 4 seeds: fewer than the rule's 5
    assert fit_sentence(few) == ("With 48 students on 4 seeds the map cannot fit its students' gains on the three "
                                 "factors together.")
