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
)
from bannb.study.stats import paired_difference

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
