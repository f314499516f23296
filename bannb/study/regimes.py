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
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from bannb.paths import default_runs_dir
from bannb.report.records import final_fields
from bannb.runs.store import Run
from bannb.study.claims import HELDOUT, every_run_has_pool
from bannb.study.experiments import BAN_L_PARAMS
from bannb.study.stats import MARGIN, MIN_PAIRS, Difference, family_verdicts, paired_difference
from bannb.study.teaching import agreement_with_others, taught_means

# the models of a cell, as the map chapter labels them (`chapters.regime_map_chapter`)
TEACHER, STUDENT, SMOOTHED, LONGER = "Teacher", "BAN-1", "Label smoothing", "Teacher (2× epochs)"
KD_T4, BAN_L = "KD T=4", "BAN+L"


def rung_teacher(epochs: int) -> str:
    """The label of a cell's ladder teacher of `epochs` (`Profile.map_ladder`), where it is neither the cell's
    teacher nor its 2× teacher."""
    return f"Teacher ({epochs} epochs)"


def rung_student(epochs: int) -> str:
    """The label of the BAN-1 of a cell's ladder teacher of `epochs`, where that is not the cell's teacher."""
    return f"BAN-1 ({epochs} epochs)"


@dataclass(frozen=True)
class MapStudent:
    """A student of every cell's teacher beyond BAN-1 and label smoothing (`Profile.map_students`): its label,
    loss and the loss's parameters."""

    label: str
    loss: str
    params: dict


# Softer targets, the same wrong top classes: Hinton's loss at T = 4 (T² scaled) with no label term (alpha 1).
# Mistakes overruled: the paper's BAN+L, teacher and labels.
MAP_STUDENTS = {"kd-t4": MapStudent(KD_T4, "kd", dict(temperature=4.0, alpha=1.0)),
                "ban+l": MapStudent(BAN_L, "ban+l", BAN_L_PARAMS)}

# What a run's final.json says about what its teacher taught it and how much of it it took (`study.teaching`),
# and what it cost; read into the records by `with_final_fields`.
# The mass outside the top class is also recorded apart on the views whose top class is right (dark knowledge) and
# on those whose top class is wrong (mistakes); runs recorded before that was have NaN there.
TAUGHT_FIELDS = ("teacher_mass_outside_top_seen", "teacher_mass_outside_top_clean", "teacher_entropy_seen",
                 "teacher_targets_wrong_seen", "teacher_targets_wrong_clean",
                 "teacher_mass_outside_top_right_seen", "teacher_mass_outside_top_wrong_seen",
                 "teacher_mass_outside_top_right_clean", "teacher_mass_outside_top_wrong_clean",
                 "teacher_mass_outside_top_right_targets_seen",
                 "test_agreement_with_teacher", "test_kl_teacher_student",
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
reading is shown beside the verdict. If it holds in one or more cells, chapters 3-8 move to the cheapest of them (the
least measured training time of a teacher and its BAN-1) and are run there from scratch; otherwise they stay in the
regime they have, and chapters 4 and 11 say that at this scale a born-again student does not beat its teacher, and
show why from the map."""


# The losses of the map's born-again students of a teacher: BAN-1 (the paper's loss) and, where the map trains them,
# the student on the teacher's softmax at T = 4 (Hinton's loss, no labels) and BAN+L. The label-smoothing student is
# a control: it never sees its teacher's outputs.
BORN_AGAIN_LOSSES = ("ban", *(student.loss for student in MAP_STUDENTS.values()))

PATIENCE_RULE = f"""\
Written before the map's longer teachers and its other students ran. A teacher is *finished* when its teacher of
twice the epochs (on a cell's ladder of teacher lengths, the next rung up: 30 → 60 → 120 → 240 epochs) differs
from it by less than the paper's margin ({MARGIN} points) on average. In every cell, each born-again student of each
teacher (its BAN-1, and where the map trains them its student on the teacher's softmax at temperature 4 with no
labels and its BAN+L student) is judged against its own teacher by the book's rule: "the student has lower error
than its teacher", n ≥ {MIN_PAIRS} seeds, on the test set and the held-out pool together, with Holm's adjustment
across every such comparison of the map. If one holds whose teacher is finished, chapter 4's generations (teacher
→ BAN-1 → BAN-2, on at least {MIN_PAIRS} seeds) are also run in that cell, and chapters 4 and 11 report them beside
the chapters' regime. If none does, the book says that at this scale a born-again student does not beat even a
finished teacher, and shows the patience figure (BAN-1 − teacher against the teacher's epochs, per cell) as the
evidence. Where no teacher is finished, or no student of a finished teacher has {MIN_PAIRS} seeds, it says that the
map cannot tell."""

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


def is_finished(longer_mean: float, margin: float = MARGIN) -> bool:
    """The book's rule for a finished teacher: its teacher of twice the epochs differs from it by less than `margin`
    points on average (`longer_mean`: the mean paired difference 2× teacher − teacher); False where there is none
    (NaN)."""
    return False if math.isnan(longer_mean) else bool(abs(longer_mean) < margin)


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
        row["converged"] = is_finished(row["longer_mean"], margin)
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


# ---------------------------------------------------------------- patience: the rule for finished teachers


def _teachers_by_length(records: pd.DataFrame, value: str) -> dict[tuple[str, int], dict]:
    """(cell, epochs) -> {seed: error} of the map's teachers (loss "ce"), by the `epochs` column of the records."""
    teachers = records[records["loss"] == "ce"]
    return {(cell, int(epochs)): dict(zip(rows["seed"], rows[value]))
            for (cell, epochs), rows in teachers.groupby(["cell", "epochs"], sort=False)}


def teacher_lengths(records: pd.DataFrame, margin: float = MARGIN) -> pd.DataFrame:
    """One row per cell and length of its teachers (the map's records with their `epochs` and `loss` columns): the
    seeds, the mean error (on `judged_value`), the paired difference of the teacher of twice the epochs against it
    (`longer_*`, points: NaN where the map has none) and whether the teacher is finished (`is_finished`)."""
    value = judged_value(records)
    teachers = _teachers_by_length(records, value)
    rows = []
    for (cell, epochs), errors in teachers.items():
        longer = teachers.get((cell, 2 * epochs))
        diff = paired_difference(errors, longer) if longer and set(errors) & set(longer) else None
        mean = diff.mean if diff else math.nan
        rows.append(dict(cell=cell, epochs=epochs, seeds=len(errors), error=float(np.mean(list(errors.values()))),
                         longer_mean=mean, longer_low=diff.low if diff else math.nan,
                         longer_high=diff.high if diff else math.nan, longer_n=diff.n if diff else 0,
                         finished=is_finished(mean, margin)))
    return pd.DataFrame(rows, columns=["cell", "epochs", "seeds", "error", "longer_mean", "longer_low", "longer_high",
                                       "longer_n", "finished"])


@dataclass(frozen=True)
class PatienceOutcome:
    """What the rule for finished teachers (`PATIENCE_RULE`) found: every comparison of a born-again student with
    its own teacher (`comparisons`), the teachers' lengths and whether each is finished (`teachers`), the cells
    where chapter 4's generations are also run (none: empty) and the sentence the chapters print."""

    comparisons: pd.DataFrame
    teachers: pd.DataFrame
    generation_cells: tuple
    sentence: str


def patience_rule(records: pd.DataFrame, margin: float = MARGIN) -> PatienceOutcome:
    """`PATIENCE_RULE` applied to the map's records (`chapter_records` of the map: `cell`, `model`, `seed`, `loss`,
    `epochs` and the errors): every student of `BORN_AGAIN_LOSSES` against its own teacher (the cell's teacher of
    the same seed and length: a map student trains as long as its teacher), judged by the book's rule with Holm's
    adjustment across all of them (`stats.family_verdicts`); a comparison wins where it holds and its teacher is
    finished (`teacher_lengths`)."""
    value = judged_value(records)
    teachers = _teachers_by_length(records, value)
    lengths = teacher_lengths(records, margin)
    finished = {(row.cell, row.epochs): row.finished for row in lengths.itertuples()}
    students = records[records["loss"].isin(BORN_AGAIN_LOSSES)]
    rows, differences = [], []
    for (cell, epochs, model), group in students.groupby(["cell", "epochs", "model"], sort=False):
        teacher = teachers.get((cell, int(epochs)), {})
        errors = dict(zip(group["seed"], group[value]))
        diff = paired_difference(teacher, errors) if set(teacher) & set(errors) else None
        differences.append(diff)
        rows.append(dict(cell=cell, epochs=int(epochs), student=model, loss=group["loss"].iloc[0],
                         n=diff.n if diff else 0, mean=diff.mean if diff else math.nan,
                         low=diff.low if diff else math.nan, high=diff.high if diff else math.nan,
                         finished=finished.get((cell, int(epochs)), False)))
    judged = family_verdicts(differences, ["lower"] * len(differences), [margin] * len(differences))
    comparisons = pd.DataFrame([dict(row, verdict=verdicts["verdict"], p_adjusted=verdicts["p_adjusted"])
                                for row, verdicts in zip(rows, judged)],
                               columns=["cell", "epochs", "student", "loss", "n", "mean", "low", "high", "finished",
                                        "verdict", "p_adjusted"])
    comparisons["wins"] = (comparisons["verdict"] == "holds") & comparisons["finished"].astype(bool)
    cells = tuple(dict.fromkeys(comparisons.loc[comparisons["wins"], "cell"]))
    return PatienceOutcome(comparisons, lengths, cells, _patience_sentence(comparisons, lengths, margin))


def _patience_sentence(comparisons: pd.DataFrame, lengths: pd.DataFrame, margin: float) -> str:
    winners = comparisons[comparisons["wins"]]
    if len(winners):
        named = "; ".join(f"{row.student} of the {row.epochs}-epoch teacher in {row.cell} ({row.mean:+.2f} points, "
                          f"95% CI {row.low:+.2f} to {row.high:+.2f}, n = {row.n})" for row in winners.itertuples())
        cells = list(dict.fromkeys(winners["cell"]))
        return (f"A born-again student beats a finished teacher by the book's rule: {named}. Chapter 4's generations "
                f"(teacher → BAN-1 → BAN-2) are also run in {', '.join(cells)}, and chapters 4 and 11 report them "
                f"beside the chapters' regime.")
    figure = "the patience figure (BAN-1 − teacher against the teacher's epochs) shows how the gap moves"
    if not lengths["finished"].any():
        return (f"No teacher of the map is finished by the book's rule (wherever the map has a teacher of twice the "
                f"epochs, it differs by {margin} points or more), so the map cannot say whether a born-again student "
                f"beats a finished teacher at this scale; {figure} as the teachers train longer.")
    judged = comparisons[comparisons["finished"].astype(bool) & (comparisons["n"] >= MIN_PAIRS)]
    if judged.empty:
        return (f"No born-again student of a finished teacher has the {MIN_PAIRS} seeds the book's rule needs, so the "
                f"map cannot say whether one beats a finished teacher at this scale; {figure} as the teachers train "
                f"longer.")
    pairing = "of a born-again student with a finished teacher"
    found = (f"in the map's one comparison {pairing} it does not have lower error" if len(judged) == 1 else
             f"in none of the map's {len(judged)} comparisons {pairing} does it have lower error")
    return (f"At this scale a born-again student does not beat even a finished teacher: {found} by the book's rule "
            f"(Holm's adjustment across all {len(comparisons)} of the map's comparisons). The patience figure, "
            f"BAN-1 − teacher against the teacher's epochs in each cell, is the evidence.")


# ---------------------------------------------------------------- what makes a student win: the factors together

# The three candidate causes of a born-again student's gain over its own teacher, as `gain_factors` names them.
FACTORS = {"dark": "dark knowledge (the teacher's mass outside its top class where that class is right)",
           "mistakes": "mistakes (the share of the teacher's top classes that are wrong)",
           "unfinished": "unfinishedness (how much better the teacher's 2× teacher is)"}
INSEPARABLE_CORRELATION = -0.7  # two coefficients this anti-correlated across the bootstrap trade off one for the other


def gain_factors(records: pd.DataFrame) -> pd.DataFrame:
    """One row per born-again student (`BORN_AGAIN_LOSSES`) of the map's records (with `with_final_fields`, and
    `epochs` and `loss`): its cell and seed, its gain over its own teacher (`gain`: teacher − student, points, on
    `judged_value`), the mass outside the top class of the targets it was trained on (its teacher's softmax, at the
    loss's temperature: T = 4 for KD) on the views it saw whose top class is right (`dark`, %), the share of those views whose top class is wrong (`mistakes`, %) and how unfinished its teacher is
    (`unfinished`: teacher − its 2× teacher of the same seed, points). Students without all of these are left out
    (a teacher without a 2× teacher, a record from before dark knowledge was recorded apart)."""
    value = judged_value(records)
    teachers = _teachers_by_length(records, value)
    students = records[records["loss"].isin(BORN_AGAIN_LOSSES)]
    rows = []
    for row in students.itertuples(index=False):
        own = teachers.get((row.cell, int(row.epochs)), {})
        longer = teachers.get((row.cell, 2 * int(row.epochs)), {})
        if row.seed in own and row.seed in longer:
            rows.append(dict(cell=row.cell, seed=row.seed, student=row.model,
                             gain=own[row.seed] - getattr(row, value),
                             dark=100 * _targets_dark(row),
                             mistakes=100 * row.teacher_targets_wrong_seen,
                             unfinished=own[row.seed] - longer[row.seed]))
    frame = pd.DataFrame(rows, columns=["cell", "seed", "student", "gain", *FACTORS])
    return frame.dropna(subset=["gain", *FACTORS]).reset_index(drop=True)


def _targets_dark(row) -> float:
    """A student's dark knowledge on its own targets (`teacher_mass_outside_top_right_targets_seen`); a record written
    before those were kept apart gives the teacher's at T = 1, the same for every loss but KD."""
    targets = getattr(row, "teacher_mass_outside_top_right_targets_seen", math.nan)
    return row.teacher_mass_outside_top_right_seen if pd.isna(targets) else targets


def _least_squares(points: pd.DataFrame) -> np.ndarray:
    """The factors' coefficients of gain ~ factors + one intercept per cell (the cell as a fixed effect)."""
    cells = pd.get_dummies(points["cell"]).to_numpy(dtype=float)
    design = np.column_stack([points[list(FACTORS)].to_numpy(dtype=float), cells])
    coefficients, *_ = np.linalg.lstsq(design, points["gain"].to_numpy(dtype=float), rcond=None)
    return coefficients[:len(FACTORS)]


def joint_fit(points: pd.DataFrame, draws: int = 2000, seed: int = 0) -> pd.DataFrame:
    """The least-squares fit of each student's gain over its teacher on the three factors together (`gain_factors`:
    points of gain per point of each factor), the cell a fixed effect so that the effects are read within cells;
    95% percentile intervals from `draws` bootstrap samples of the seeds (a drawn seed brings all its runs, in every
    cell). One row per factor: `coefficient`, `low`, `high`, the points and seeds it rests on; and the bootstrap
    correlation of each pair of coefficients (`corr_<factor>` columns). NaN where the design cannot be fitted (fewer
    points than unknowns) or the seeds are fewer than the book's rule needs (`MIN_PAIRS`: a bootstrap over two
    seeds has two draws' worth of intervals)."""
    seeds = sorted(set(points["seed"]))
    unknowns = len(FACTORS) + points["cell"].nunique()
    nan = pd.DataFrame({"factor": list(FACTORS), "coefficient": math.nan, "low": math.nan, "high": math.nan,
                        "n": len(points), "seeds": len(seeds), **{f"corr_{name}": math.nan for name in FACTORS}})
    if len(points) <= unknowns or len(seeds) < MIN_PAIRS:
        return nan
    estimate = _least_squares(points)
    generator = np.random.default_rng(seed)
    by_seed = {s: points[points["seed"] == s] for s in seeds}
    samples = []
    for _ in range(draws):
        drawn = pd.concat([by_seed[s] for s in generator.choice(seeds, size=len(seeds))], ignore_index=True)
        if len(drawn) > unknowns and drawn["cell"].nunique() == points["cell"].nunique():
            samples.append(_least_squares(drawn))
    samples = np.array(samples)
    low, high = np.percentile(samples, [2.5, 97.5], axis=0)
    correlation = np.corrcoef(samples, rowvar=False)
    return pd.DataFrame({"factor": list(FACTORS), "coefficient": estimate, "low": low, "high": high,
                         "n": len(points), "seeds": len(seeds),
                         **{f"corr_{name}": correlation[:, position] for position, name in enumerate(FACTORS)}})


def fit_sentence(fit: pd.DataFrame) -> str:
    """When a born-again student wins, in one sentence computed from `joint_fit`: the factors whose interval excludes
    zero, with their direction and size; the pairs that both cover zero yet trade off across the bootstrap
    (correlation ≤ `INSEPARABLE_CORRELATION`): "the data cannot separate X and Y"; and the rest as making no clear
    difference."""
    if fit["coefficient"].isna().all():
        return (f"With {int(fit['n'].iloc[0])} students on {int(fit['seeds'].iloc[0])} seeds the map cannot fit its "
                f"students' gains on the three factors together.")
    rows = fit.set_index("factor")
    names = {factor: text.split(" (")[0] for factor, text in FACTORS.items()}
    units = {"dark": "per 10 points", "mistakes": "per 10 points", "unfinished": "per point"}
    scale = {"dark": 10, "mistakes": 10, "unfinished": 1}
    clauses, unclear = [], []
    for factor in FACTORS:
        row = rows.loc[factor]
        if row["low"] > 0 or row["high"] < 0:
            direction = "more" if row["coefficient"] > 0 else "less"
            clauses.append(f"the more {names[factor]}, the {direction} a student gains over its teacher "
                           f"({scale[factor] * row['coefficient']:+.2f} points {units[factor]}, 95% CI "
                           f"{scale[factor] * row['low']:+.2f} to {scale[factor] * row['high']:+.2f})")
        else:
            unclear.append(factor)
    paired = set()
    for position, first in enumerate(unclear):
        for second in unclear[position + 1:]:
            if rows.loc[first, f"corr_{second}"] <= INSEPARABLE_CORRELATION:
                clauses.append(f"the data cannot separate {names[first]} and {names[second]}")
                paired |= {first, second}
    rest = [names[factor] for factor in unclear if factor not in paired]
    if rest:
        clauses.append(f"{' and '.join(rest)} {'makes' if len(rest) == 1 else 'make'} no clear difference")
    return (f"Within cells, with the three factors fitted together ({int(rows['n'].iloc[0])} students, 95% bootstrap "
            f"intervals over {int(rows['seeds'].iloc[0])} seeds): " + "; ".join(clauses) + ".")
