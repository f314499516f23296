"""The facts of chapter 10_regime_map: what each cell of the map is, what its teachers taught, what its students
gained, the regression of the gain on the teacher's dark knowledge, and the regime the decision rule chooses for
chapters 3-8 (`study.regimes`)."""
from __future__ import annotations

import math

import pandas as pd

from bannb.data import DATASET_NOTES
from bannb.facts import MISSING
from bannb.study import regimes
from bannb.study.profiles import Profile


def describe_cell(profile: Profile, cell: str) -> dict:
    """What a cell of `profile`'s map is, from its run config: dataset, training images, what the student sees,
    epochs (and the 2× teacher's)."""
    config = profile.book_config(**profile.regime_map[cell])
    return dict(cell=cell, dataset=config.dataset, train_images=config.train_size,
                views="pad-crop-flip (teacher and student: the same views)" if config.augment else "clean images",
                epochs=config.epochs, longer_epochs=2 * config.epochs, pool=config.pool_size)


def cells(profile: Profile) -> pd.DataFrame:
    """Every cell of `profile`'s map (`describe_cell`), in its order."""
    return pd.DataFrame([describe_cell(profile, cell) for cell in profile.regime_map])


def data_notes(profile: Profile) -> str:
    """What the reader must know of the map's datasets (the CIFAR-10 JPEG copy's note), one sentence each; empty
    where no dataset has a note."""
    used = dict.fromkeys(describe_cell(profile, cell)["dataset"] for cell in profile.regime_map)
    return " ".join(DATASET_NOTES[name] for name in used if name in DATASET_NOTES)


def trains_sentence(profile: Profile) -> str:
    """What `profile`'s map trains beyond the four models of every cell: its ladders of teacher lengths
    (`Profile.map_ladder`, per cell) and its other students of every teacher (`Profile.map_students`)."""
    ladders = "; ".join(f"{cell}: {', '.join(map(str, rungs))} epochs" for cell, rungs in profile.map_ladder.items())
    students = ", ".join(regimes.MAP_STUDENTS[name].label for name in profile.map_students)
    parts = ([f"ladders of teachers ({ladders})"] if ladders else []) + (
        [f"in every cell the students {students}"] if students else [])
    if not parts:
        return (f"The {profile.name} profile's map has no ladder and no other students: each cell has the four "
                f"models above.")
    return f"The {profile.name} profile's map trains " + ", and ".join(parts) + "."


def _number(value, digits: int = 1) -> str:
    return MISSING if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def decision_facts(table: pd.DataFrame, verdicts: pd.DataFrame, chosen: str | None) -> dict:
    """The decision rule's outcome for the prose: the winning cells (BAN-1 beats its teacher: the book's verdict,
    `regimes.cell_verdicts`), the regime chosen for chapters 3-8 and a sentence saying what follows; and
    (`map_alone_decision`) whether the rule as first written, Holm across the map's cells alone, decides the same."""
    winners = verdicts.loc[verdicts["verdict"] == "holds", "cell"].tolist()
    alone = regimes.chapters_regime(table, verdicts, "map_alone")
    if alone == chosen:
        alone_sentence = ("Read with Holm's adjustment across the map's cells alone, as the rule was first written, "
                          "the decision is the same.")
    else:
        alone_sentence = (f"Read with Holm's adjustment across the map's cells alone, as the rule was first written, "
                          f"the regime of chapters 3-8 would be {alone or 'the one they have'}; the book's one family "
                          f"decides.")
    if chosen is None:
        sentence = ("In no cell does BAN-1 beat its teacher by the book's rule, so chapters 3-8 stay in the regime "
                    "they have; at this scale a born-again student does not beat its teacher, and the cells above "
                    "show why.")
    else:
        sentence = (f"BAN-1 beats its teacher in {len(winners)} of {len(verdicts)} cells ({', '.join(winners)}); the "
                    f"cheapest of them, {chosen}, is the regime of chapters 3-8.")
    return dict(map_winners=len(winners), map_cells=len(verdicts), map_chosen=chosen or "none",
                map_decision=sentence, map_alone_decision=alone_sentence)


def _span(values, digits: int = 2) -> str:
    low, high = (f"{value:.{digits}f}" for value in (min(values), max(values)))
    return low if low == high else f"{low} to {high}"


def why_facts(table: pd.DataFrame, verdicts: pd.DataFrame) -> dict:
    """Why the map decides as it does, from its cells (`regimes.cell_table`) and verdicts (`regimes.cell_verdicts`:
    the book's): how many cells got each verdict; the cells where BAN-1 is worse than its teacher (its whole 95%
    interval of BAN-1 − teacher above zero) and by how much, and whether the book's verdict calls that decided; the
    cells whose teacher was not finished (`converged` False) and how much better a teacher of twice the epochs is
    there; and the first cell (the chapters' own regime) in numbers. Chapters 4, 10 and 11 glue the sentence
    (`map_why`)."""
    counts = verdicts["verdict"].value_counts()
    parts = [f"{count} “{verdict}”" for verdict, count in counts.items()]
    noun = "verdict" if len(verdicts) == 1 else "verdicts"
    sentences = [f"Of the map's {len(verdicts)} {noun} on BAN-1 against its teacher (the book's rule, Holm's "
                 f"adjustment across every claim of the book): {', '.join(parts)}."]
    worse = table[table["ban_minus_teacher_low"] > 0]
    if len(worse):
        undecided = worse["cell"].map(dict(zip(verdicts["cell"], verdicts["verdict"]))) != "does not hold"
        sentences.append(
            f"In {', '.join(worse['cell'])}, where the teacher puts {_span(worse['mass_seen'], 1)}% of its probability "
            f"outside its top class on the student's views, BAN-1 is worse than its teacher by "
            f"{_span(worse['ban_minus_teacher_mean'])} points (its 95% interval above zero)"
            + (", which the book's adjustment across all its claims does not count as decided." if undecided.all()
               else "."))
    unfinished = table[~table["converged"].astype(bool) & table["longer_mean"].notna()]
    if len(unfinished):
        outweighs = (-unfinished["longer_mean"]).min() > table["ban_minus_teacher_mean"].abs().max()
        sentences.append(
            f"The teachers of {', '.join(unfinished['cell'])} were not finished: one trained twice as long is "
            f"{_span(-unfinished['longer_mean'])} points better"
            + (", more than any born-again student differs from its teacher." if outweighs else "."))
    first = table.iloc[0]
    sentences.append(
        f"In {first['cell']}, the regime closest to chapters 3-8, the teacher has {first['mass_seen']:.1f}% of its "
        f"probability to teach outside its top class, and BAN-1 − teacher is {first['ban_minus_teacher_mean']:+.2f} "
        f"points (95% CI {first['ban_minus_teacher_low']:+.2f} to {first['ban_minus_teacher_high']:+.2f}, "
        f"n = {int(first['ban_minus_teacher_n'])}).")
    return dict(map_why=" ".join(sentences), map_worse_cells=len(worse), map_unfinished_cells=len(unfinished))


def conclusion_facts(records: pd.DataFrame, evaluated: pd.DataFrame, test_logits=None) -> dict:
    """What the map concludes, for any chapter to glue: the decision (`decision_facts`) and why (`why_facts`), from
    the map's records (`chapter_records` of the map, with `regimes.with_final_fields`) and the book's verdicts on
    them (`evaluated`: `chapters.judged_claims`' table, the whole book's or the map chapter's rows). Chapters 4 and
    11 say it beside their own verdicts; chapter 10 derives it."""
    table, verdicts = regimes.cell_table(records, test_logits), regimes.cell_verdicts(records, evaluated)
    return {**decision_facts(table, verdicts, regimes.chapters_regime(table, verdicts)), **why_facts(table, verdicts)}


def regression_facts(fit: dict) -> dict:
    """The pooled regression of the gain on the mass outside the top class, for the prose."""
    if math.isnan(fit["slope"]):
        sentence = f"With {fit['n']} points there is no line to fit."
    else:
        per_ten = 10 * fit["slope"]
        direction = ("grows" if fit["low"] > 0 else "shrinks" if fit["high"] < 0 else
                     "shows no clear trend")
        sentence = (f"Pooled over every seed and cell, BAN-1's gain over its teacher {direction} with the teacher's "
                    f"mass outside its top class: {per_ten:+.2f} points of gain per 10 points of mass (95% CI "
                    f"{10 * fit['low']:+.2f} to {10 * fit['high']:+.2f}, n = {fit['n']}, r = {fit['r']:+.2f}).")
    return dict(slope=fit["slope"], slope_low=fit["low"], slope_high=fit["high"], slope_n=fit["n"],
                slope_sentence=sentence)


def span_facts(table: pd.DataFrame) -> dict:
    """How far the map moves the teacher's dark knowledge: the smallest and largest cell means of the mass outside
    the top class on the student's inputs (%), and how many cells' teachers are converged."""
    return dict(mass_low=float(table["mass_seen"].min()), mass_high=float(table["mass_seen"].max()),
                converged_cells=int(table["converged"].sum()), cells_total=len(table))


def cell_view(table: pd.DataFrame) -> pd.DataFrame:
    """`regimes.cell_table` as the chapter shows it: per cell what was taught, what was inherited and what was
    gained, in words a reader can scan (percentages and points, intervals in brackets)."""
    def interval(row, name):
        if math.isnan(row[f"{name}_mean"]):
            return MISSING
        if math.isnan(row[f"{name}_low"]):
            return f"{row[f'{name}_mean']:+.2f}"
        return f"{row[f'{name}_mean']:+.2f} [{row[f'{name}_low']:+.2f}, {row[f'{name}_high']:+.2f}]"

    return pd.DataFrame({
        "cell": table["cell"], "seeds": table["seeds"],
        "teacher error (%)": [_number(v, 2) for v in table["teacher_error"]],
        "teacher's clean training fit (%)": [_number(v) for v in table["teacher_train_fit"]],
        "mass outside top, student's views (%)": [_number(v) for v in table["mass_seen"]],
        "mass outside top, clean images (%)": [_number(v) for v in table["mass_clean"]],
        "entropy (nats)": [_number(v, 2) for v in table["entropy_seen"]],
        "wrong top classes (%)": [_number(v) for v in table["targets_wrong_seen"]],
        "agreement: own teacher / others (%)": [f"{_number(a)} / {_number(b)}"
                                                for a, b in zip(table["agreement"], table["agreement_others"])],
        "BAN-1 − teacher": [interval(row, "ban_minus_teacher") for _, row in table.iterrows()],
        "BAN-1 − label smoothing": [interval(row, "over_smoothing") for _, row in table.iterrows()],
        "2× teacher − teacher": [interval(row, "longer") for _, row in table.iterrows()],
        "converged": ["yes" if c else "no" for c in table["converged"]],
    }).set_index("cell")


# ---------------------------------------------------------------- patience and the factors together

PATIENCE_LOSS = "ban"  # the patience figure follows BAN-1, the paper's student, at every length of its teacher


def patience_points(outcome: regimes.PatienceOutcome) -> pd.DataFrame:
    """What the patience figure draws (`report.plot_patience`): per cell and length of its teacher, BAN-1 − teacher
    (points, on the judged value, its 95% interval and n: `regimes.patience_rule`'s comparisons) and whether that
    teacher is finished by the book's rule, in the order the map has them."""
    rows = outcome.comparisons[outcome.comparisons["loss"] == PATIENCE_LOSS]
    return rows[["cell", "epochs", "mean", "low", "high", "n", "finished"]].reset_index(drop=True)


def _plural(count: int, noun: str, plural: str | None = None) -> str:
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


def finished_sentence(teachers: pd.DataFrame) -> str:
    """How many of the map's teachers (one per cell and length, `regimes.teacher_lengths`) are finished by the book's
    rule, which, and how many have no teacher of twice the epochs to be judged by."""
    finished = teachers[teachers["finished"].astype(bool)]
    unjudged = int(teachers["longer_mean"].isna().sum())
    named = "; ".join(f"{row.cell} at {row.epochs} epochs" for row in finished.itertuples())
    verb = "is" if len(finished) == 1 else "are"
    return (f"Of the map's {_plural(len(teachers), 'teacher')} (one per cell and length), {len(finished)} {verb} "
            f"finished by the book's rule{f' ({named})' if named else ''}; {_plural(unjudged, 'has', 'have')} no "
            f"teacher of twice the epochs to be judged by.")


def fit_view(fit: pd.DataFrame) -> pd.DataFrame:
    """`regimes.joint_fit` as the chapter shows it: per factor (in words) its coefficient (points of gain over the
    teacher per point of the factor) with its 95% bootstrap interval, and the students and seeds it rests on."""
    def interval(row):
        if math.isnan(row["coefficient"]):
            return MISSING
        return f"{row['coefficient']:+.3f} [{row['low']:+.3f}, {row['high']:+.3f}]"

    return pd.DataFrame({"factor": [regimes.FACTORS[name] for name in fit["factor"]],
                         "points of gain per point of the factor [95% CI]": [interval(row) for _, row in fit.iterrows()],
                         "students": fit["n"].astype(int), "seeds": fit["seeds"].astype(int)}).set_index("factor")


def coverage_sentence(records: pd.DataFrame, fit: pd.DataFrame) -> str:
    """How many of the map's born-again students (`regimes.BORN_AGAIN_LOSSES`) the joint fit rests on, and why the
    others are left out: recorded before the teacher's dark knowledge was kept apart from its mistakes (no
    `teacher_mass_outside_top_right_seen` nor its targets' own), or without a teacher of twice the epochs."""
    students = records[records["loss"].isin(regimes.BORN_AGAIN_LOSSES)]
    total, used = len(students), int(fit["n"].iloc[0])
    unsplit = int((students["teacher_mass_outside_top_right_seen"].isna() & students.get(
        "teacher_mass_outside_top_right_targets_seen", pd.Series(math.nan, index=students.index)).isna()).sum())
    unchecked = total - used - unsplit
    if used == total:
        return f"The fit rests on all {_plural(total, 'born-again student')} of the map."
    reasons = [f"{unsplit} {'was' if unsplit == 1 else 'were'} recorded before the teacher's dark knowledge was "
               f"kept apart from its mistakes"] * bool(unsplit) + [
        f"{unchecked} {'has' if unchecked == 1 else 'have'} no teacher of twice the epochs of "
        f"{'its' if unchecked == 1 else 'their'} own"] * bool(unchecked)
    return f"The fit rests on {used} of the map's {_plural(total, 'born-again student')}: " + "; ".join(reasons) + "."


def patience_glue(records: pd.DataFrame, outcome: regimes.PatienceOutcome, fit: pd.DataFrame) -> dict:
    """The glue values of the rule for finished teachers (`outcome`: `regimes.patience_rule`) and of the joint fit
    (`fit`: `regimes.joint_fit` of `regimes.gain_factors`) on the map's `records`: the rule's sentence
    (`patience_outcome`), the cells where chapter 4's generations are also run (`patience_generation_cells`,
    "none" where none), the finished teachers (`patience_finished`, of `patience_teachers`, and their sentence),
    the comparisons judged, the fit's one-sentence answer (`fit_answer`), what it rests on (`fit_students`,
    `fit_seeds`, `fit_coverage`)."""
    return dict(patience_outcome=outcome.sentence,
                patience_generation_cells=", ".join(outcome.generation_cells) or "none",
                patience_finished=int(outcome.teachers["finished"].sum()), patience_teachers=len(outcome.teachers),
                patience_finished_sentence=finished_sentence(outcome.teachers),
                patience_comparisons=len(outcome.comparisons),
                fit_answer=regimes.fit_sentence(fit), fit_students=int(fit["n"].iloc[0]),
                fit_seeds=int(fit["seeds"].iloc[0]), fit_coverage=coverage_sentence(records, fit))


def patience_facts(records: pd.DataFrame, draws: int = 2000) -> dict:
    """What the map says of patience and of what makes a student win, for any chapter to glue (chapters 4 and 11,
    the landing page): `patience_glue` of `regimes.patience_rule` and of the joint fit (`draws` bootstrap samples)
    on the map's records (`chapter_records` of the map, with `regimes.with_final_fields`)."""
    fit = regimes.joint_fit(regimes.gain_factors(records), draws=draws)
    return patience_glue(records, regimes.patience_rule(records), fit)
