"""When does a born-again student beat its teacher? The map of regimes (chapter 10_regime_map), read from its records.

Each cell of the map (`Profile.regime_map`) is a regime: a dataset, a training-set size, what the student sees
(clean images or pad-crop-flip views, the same batch for teacher and student) and a length of training. In every
cell, on the same seeds, the book trains a teacher, its BAN-1, a label-smoothing student of the same teacher (our
control: the teacher's softness without its structure) and a teacher of twice the epochs (whether the teacher was
finished). This module turns the cell's records into what the chapter shows: per cell the paired differences with their
intervals, what the student was taught (`study.teaching`'s numbers, from the students' records) and how much of
its teacher it took; across cells the regression of the gain on the teacher's mass outside its top class; and the
rule, written before the map ran, that chooses the regime of chapters 3-8.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from bannb.paths import default_runs_dir
from bannb.report.records import final_fields
from bannb.runs.store import Run
from bannb.study.claims import HELDOUT, every_run_has_pool
from bannb.study.stats import MARGIN, Difference, family_verdicts, paired_difference
from bannb.study.teaching import agreement_with_others, taught_means

# the models of a cell, as the map chapter labels them (`chapters.regime_map_chapter`)
TEACHER, STUDENT, SMOOTHED, LONGER = "Teacher", "BAN-1", "Label smoothing", "Teacher (2× epochs)"

# What a run's final.json says about what its teacher taught it and how much of it it took (`study.teaching`),
# and what it cost; read into the records by `with_final_fields`.
TAUGHT_FIELDS = ("teacher_mass_outside_top_seen", "teacher_mass_outside_top_clean", "teacher_entropy_seen",
                 "teacher_targets_wrong_seen", "test_agreement_with_teacher", "test_kl_teacher_student",
                 "label_smoothing_mass", "train_accuracy", "train_seconds")

# The map's cells belong to the book's one Holm family: "BAN-1 has lower error than its teacher" in a cell is a claim of
# the book (`claims.CLAIMS`' MAP_CLAIM, one per cell), judged with every other claim, so that chapter 10, the
# summary's table and the summary's prose give each cell one verdict. The rule as first written adjusted across the
# map's cells alone; that reading is shown beside the verdict (`cell_verdicts`' `map_alone`), never as it.
MAP_CLAIM = "map-ban-vs-teacher"

DECISION_RULE = """\
Written before the map ran: in every cell, "BAN-1 has lower error than its teacher" is judged by the book's rule
(n ≥ 5 seeds, on the test set and the held-out pool together). Each cell is a claim of the book, adjusted (Holm)
with every other claim the book tests; the rule as first written adjusted across the map's cells alone, and that
reading is shown beside the verdict. If it holds in one or more cells, chapters 3-8 move to the cheapest of them (the least measured training
time of a teacher and its BAN-1) and are run there from scratch; otherwise they stay in the regime they have, and
chapters 4 and 11 say that at this scale a born-again student does not beat its teacher, and show why from the
map."""


def with_final_fields(frame: pd.DataFrame, fields=TAUGHT_FIELDS, runs_dir: Path | None = None) -> pd.DataFrame:
    """`frame` (run records) with `fields` of each run's final.json as columns, as recorded (fractions, nats,
    seconds); NaN where a run does not record one (a teacher has no teacher)."""
    return final_fields(frame, fields, runs_dir).astype({name: float for name in fields})


def judged_value(frame: pd.DataFrame) -> str:
    """The error the claims are judged on: on the test set and the held-out pool together (`heldout_error`) where
    every run of `frame` has a pool, else on the test set alone."""
    return HELDOUT if every_run_has_pool(frame) else "test_error"


def _side(cell: pd.DataFrame, model: str, value: str) -> dict:
    rows = cell[cell["model"] == model]
    return dict(zip(rows["seed"], rows[value]))


def _difference(cell: pd.DataFrame, a: str, b: str, value: str) -> Difference | None:
    first, second = _side(cell, a, value), _side(cell, b, value)
    return paired_difference(first, second) if set(first) & set(second) else None


def stored_test_logits(runs_dir: Path | None = None):
    """run id -> the run's stored test-set logits (`Run.test_logits`), read from `runs_dir`."""
    folder = Path(runs_dir) if runs_dir is not None else default_runs_dir()
    return lambda run_id: Run(folder / run_id).test_logits()


def agreement_with_other_teachers(cell: pd.DataFrame, test_logits) -> dict[int, float]:
    """Per seed, the top-1 agreement of the cell's BAN-1 with the cell's teachers of the other seeds on the test set
    (`test_logits`: run id -> logits): the baseline its agreement with its own teacher is read against."""
    teachers = cell[cell["model"] == TEACHER]
    teacher_logits = {seed: test_logits(run_id) for seed, run_id in zip(teachers["seed"], teachers["run_id"])}
    students = cell[cell["model"] == STUDENT]
    return {seed: agreement_with_others(test_logits(run_id),
                                        [logits for other, logits in teacher_logits.items() if other != seed])
            for seed, run_id in zip(students["seed"], students["run_id"])}


def cell_table(records: pd.DataFrame, test_logits=None, margin: float = MARGIN) -> pd.DataFrame:
    """One row per cell of the map's records (`chapter_records` of the map, with `with_final_fields`), in the order
    the cells come: the seeds, the teacher's error and clean training fit, what BAN-1 was taught (the teacher's mass
    outside its top class and entropy on the views it trained on and on the clean images, the share of wrong top
    classes), how much it took (agreement with its own teacher and with the cell's other teachers, KL), the paired
    differences BAN-1 − teacher, BAN-1 − label smoothing and 2× teacher − teacher (points, on `judged_value`) with
    95% intervals and p-values, whether the teacher is converged (its 2× teacher differs from it by less than
    `margin` on average), and the measured seconds of a teacher and its BAN-1. `test_logits` (run id -> logits)
    defaults to the runs' stored ones (`stored_test_logits`)."""
    value = judged_value(records)
    test_logits = test_logits or stored_test_logits()
    rows = []
    for cell_name, cell in records.groupby("cell", sort=False):
        teachers, students = cell[cell["model"] == TEACHER], cell[cell["model"] == STUDENT]
        row = dict(cell=cell_name, dataset=teachers["dataset"].iloc[0], seeds=len(set(students["seed"])),
                   value=value, teacher_error=teachers[value].mean(), teacher_error_sd=teachers[value].std(),
                   teacher_train_fit=100 * teachers["train_accuracy"].mean(),
                   **taught_means(students),
                   agreement_others=100 * np.mean(list(agreement_with_other_teachers(cell, test_logits).values())),
                   smoothing_mass=100 * cell[cell["model"] == SMOOTHED]["label_smoothing_mass"].mean(),
                   seconds=teachers["train_seconds"].mean() + students["train_seconds"].mean())
        for name, (a, b) in dict(ban_minus_teacher=(TEACHER, STUDENT), over_smoothing=(SMOOTHED, STUDENT),
                                 longer=(TEACHER, LONGER)).items():
            diff = _difference(cell, a, b, value)
            row.update({f"{name}_{key}": getattr(diff, attr, math.nan) if diff else math.nan
                        for key, attr in (("mean", "mean"), ("low", "low"), ("high", "high"), ("n", "n"),
                                          ("p", "p_value"))})
        row["converged"] = bool(abs(row["longer_mean"]) < margin) if not math.isnan(row["longer_mean"]) else False
        rows.append(row)
    return pd.DataFrame(rows)


def cell_verdicts(records: pd.DataFrame, evaluated: pd.DataFrame, margin: float = MARGIN) -> pd.DataFrame:
    """Per cell of the map's records, "BAN-1 has lower error than its teacher" (`MAP_CLAIM`): `verdict`, the book's
    (read from `evaluated`, rows of `claims.evaluate_book` holding the map's: the whole book's table, or the map
    chapter's `claims.evaluate_chapter`), the one the decision rule (`DECISION_RULE`) reads and every chapter shows,
    with its Holm-adjusted p-values; and `map_alone`, the rule with Holm's adjustment across the map's cells only, as
    the rule was first written (`stats.family_verdicts`): a reading shown beside the verdict, never as it."""
    value = judged_value(records)
    cells = list(dict.fromkeys(records["cell"]))
    rows = evaluated[evaluated["key"].str.fullmatch(rf"{MAP_CLAIM}(\[.*\])?")].set_index("key")
    keys = {cell: f"{MAP_CLAIM}[{cell}]" if len(cells) > 1 else MAP_CLAIM for cell in cells}
    missing = [key for key in keys.values() if key not in rows.index]
    if missing:
        raise ValueError(f"the evaluated claims have no row {', '.join(missing)}: pass the book's (or the map "
                         f"chapter's) evaluated claims on these records")
    differences = [_difference(records[records["cell"] == cell], TEACHER, STUDENT, value) for cell in cells]
    alone = family_verdicts(differences, ["lower"] * len(cells), [margin] * len(cells))
    return pd.DataFrame([dict(cell=cell, verdict=rows.loc[keys[cell], "verdict"],
                              p_adjusted=rows.loc[keys[cell], "p_adjusted"],
                              p_equivalence_adjusted=rows.loc[keys[cell], "p_equivalence_adjusted"],
                              map_alone=own["verdict"])
                         for cell, own in zip(cells, alone)])


def chapters_regime(table: pd.DataFrame, verdicts: pd.DataFrame, column: str = "verdict") -> str | None:
    """The decision rule (`DECISION_RULE`): the cheapest cell (`cell_table`'s measured `seconds`) in which BAN-1
    beats its teacher (`cell_verdicts`' `column`, the book's verdict unless another reading is asked for: "holds"),
    or None (the chapters stay where they are)."""
    winners = set(verdicts.loc[verdicts[column] == "holds", "cell"])
    candidates = table[table["cell"].isin(winners)]
    return None if candidates.empty else str(candidates.sort_values("seconds").iloc[0]["cell"])


def gain_points(records: pd.DataFrame) -> pd.DataFrame:
    """One row per seed and cell: BAN-1's gain over its own teacher (`gain`: teacher − BAN-1, points, on
    `judged_value`; positive: the student is better) and its teacher's mass outside the top class on the views the
    student trained on (`mass`, %)."""
    value = judged_value(records)
    rows = []
    for cell_name, cell in records.groupby("cell", sort=False):
        teachers, students = _side(cell, TEACHER, value), cell[cell["model"] == STUDENT]
        for seed, error, mass in zip(students["seed"], students[value], students["teacher_mass_outside_top_seen"]):
            if seed in teachers:
                rows.append(dict(cell=cell_name, seed=seed, mass=100 * mass, gain=teachers[seed] - error))
    return pd.DataFrame(rows, columns=["cell", "seed", "mass", "gain"])


def gain_regression(records: pd.DataFrame) -> dict:
    """The pooled least-squares line of BAN-1's gain over its own teacher on the teacher's mass outside its top
    class (`gain_points`, one point per seed and cell): the slope (points of gain per point of mass) with its 95%
    interval (Student's t, n − 2 degrees of freedom), the intercept, Pearson's r and n. NaN with fewer than 3
    points."""
    points = gain_points(records)
    n = len(points)
    if n < 3:
        return dict(slope=math.nan, low=math.nan, high=math.nan, intercept=math.nan, r=math.nan, n=n)
    fit = stats.linregress(points["mass"], points["gain"])
    half = float(stats.t.ppf(0.975, n - 2)) * fit.stderr
    return dict(slope=float(fit.slope), low=float(fit.slope - half), high=float(fit.slope + half),
                intercept=float(fit.intercept), r=float(fit.rvalue), n=n)
