"""What chapter 11_summary (every claim of the paper, judged) concludes, computed from `claims.evaluate_book`'s
table and the chapters' records: one function per section, each returning the glue names and values that
section's prose cites."""
from __future__ import annotations

import pandas as pd

from bannb.book.timings import COLD_BOOK_BUDGET_SECONDS, duration_text
from bannb.data import dataset_shape
from bannb.facts import MISSING
from bannb.study.claims import OUT_OF_TALLY, tested_claims, verdict_counts
from bannb.study.convergence import MIN_TRAIN_ACCURACY
from bannb.study.paper import paper_table
from bannb.study.stats import MARGIN, MIN_PAIRS, seeds_for_target

# The verdict counts the chapter cites: glue name (after "summary_") -> verdict.
VERDICT_NAMES = {"holds": "holds", "does_not_hold": "does not hold", "no_effect": "no effect of the paper's size",
                 "inconclusive": "inconclusive"}
HEADLINE = "ban1-vs-teacher"  # the paper's headline claim: BAN-1 beats its teacher
# The controls the paper lacks, by the prefix of their glue names: BAN-1 against a teacher trained as long as
# both, and ensembles of born-again generations against ensembles of as many teachers.
CONTROLS = {"long": "ban1-vs-long-teacher", "ens2": "ens2-vs-teachers2", "ens3": "ens3-vs-teachers3"}
TRY_SEEDS = 10  # the "try it yourself" box runs seeds 0 to 9
MACHINE_NOT_RECORDED = "machine not recorded"


def verdict_facts(evaluated: pd.DataFrame) -> dict:
    """The tally of every claim's verdict (`claims.verdict_counts`), and the headline claim's numbers."""
    counts = verdict_counts(evaluated)
    facts = {f"summary_{name}": counts[verdict] for name, verdict in VERDICT_NAMES.items()}
    out = evaluated[evaluated["verdict"] == OUT_OF_TALLY]
    why = "; ".join(f"{chapter}: {notes.iloc[0]}" for chapter, notes in out.groupby("chapter", sort=False)["note"]
                    ) if len(out) else ""
    facts.update(summary_claims=len(evaluated), summary_claims_tested=counts["tested"],
                 summary_not_run=counts["not_run"], summary_out_of_tally=counts["out_of_tally"],
                 summary_out_of_tally_why=why or "none")
    ban1 = evaluated.set_index("key").loc[HEADLINE]
    facts.update(summary_ban1_mean=float(ban1["mean"]), summary_ban1_ci_low=float(ban1["ci_low"]),
                 summary_ban1_ci_high=float(ban1["ci_high"]), summary_ban1_n=int(ban1["n"]),
                 summary_ban1_verdict=ban1["verdict"], summary_ban1_paper=float(ban1["paper_mean"]))
    return facts


def _named(rows: pd.DataFrame) -> str:
    """Claims named in a sentence, each with our difference: “statement” (mean unit, 95% CI low to high, n = n)."""
    return "; ".join(f"“{row.claim}” ({row.mean:+.2f} {row.unit}"
                     + ("" if pd.isna(row.ci_low) else f", 95% CI {row.ci_low:+.2f} to {row.ci_high:+.2f}")
                     + f", n = {int(row.n)})" for row in rows.itertuples())


def _verb(count: int, singular: str, plural: str) -> str:
    return singular if count == 1 else plural


def _undecided_sentence(rows: pd.DataFrame) -> str:
    """How many tested claims are inconclusive (`rows`: those), how many of them rest on fewer pairs than the rule
    decides on, and what would decide the rest: the seeds that would narrow the most demanding one's interval to
    the rule's margin at the spread its differences have (`stats.seeds_for_target`; among the central claims where
    any is inconclusive, the power computation this chapter makes for them), where that is more than it has."""
    if rows.empty:
        return "None is left inconclusive."
    count = len(rows)
    sentence = f"{count} {_verb(count, 'remains', 'remain')} inconclusive."
    few = int((rows["n"] < MIN_PAIRS).sum())
    if few:
        sentence += (f" {few} of them {_verb(few, 'rests', 'rest')} on fewer than the {MIN_PAIRS} paired seeds the "
                     f"rule needs for any other verdict.")
    needed = pd.Series([seeds_for_target(hw, n, margin) for hw, n, margin in
                        zip(rows["half_width"], rows["n"], rows["margin"])], index=rows.index)
    short = rows[needed > rows["n"]]  # NaN (fewer than 2 pairs) compares False
    central = short[short["central"].astype(bool)]
    group = central if len(central) else short
    if len(group):
        most = needed[group.index].idxmax()
        row = rows.loc[most]
        sentence += (f" More seeds would narrow them: for a 95% interval no wider than ± {row['margin']:g} "
                     f"{row['unit']}, the rule's margin, so that an effect of the paper's size cannot hide inside it, "
                     f"the most demanding{' central' if len(central) else ''} claim among them, “{row['claim']}”, "
                     f"would need {int(needed[most])} paired seeds at the spread its differences have, against its "
                     f"{int(row['n'])}.")
    return sentence


def findings(evaluated: pd.DataFrame, when: str) -> dict:
    """What the book found, in a few sentences that the landing page and this chapter open with, from the book's
    verdicts (`chapters.judged_claims`' table; the claims the tally counts, `claims.tested_claims`): which claims
    hold, which do not, which show no effect of the paper's size (each named, with our difference), how many remain
    inconclusive and what would decide them (`_undecided_sentence`), and `when` a born-again student beats its
    teacher at this scale (the map's reading, a sentence of `study.regimes`)."""
    tested = tested_claims(evaluated)
    by_verdict = {name: tested[tested["verdict"] == verdict] for name, verdict in VERDICT_NAMES.items()}
    holds, against, no_effect = by_verdict["holds"], by_verdict["does_not_hold"], by_verdict["no_effect"]
    if tested.empty:
        held = "The book has tested no claim yet: no chapter has runs at this profile."
    elif holds.empty:
        held = f"None of the {len(tested)} claims the book tested holds."
    else:
        held = (f"{len(holds)} of the {len(tested)} claims the book tested {_verb(len(holds), 'holds', 'hold')}: "
                f"{_named(holds)}.")
    return {"summary_finding_holds": held,
            "summary_finding_does_not_hold":
                (f"{len(against)} {_verb(len(against), 'does', 'do')} not hold, the difference lying significantly on "
                 f"the other side of the paper's: {_named(against)}." if len(against) else
                 "No claim is contradicted: no difference lies significantly on the other side of the paper's."),
            "summary_finding_no_effect":
                (f"{len(no_effect)} {_verb(len(no_effect), 'shows', 'show')} no effect of the paper's size, the "
                 f"difference shown to be smaller than the rule's margin: {_named(no_effect)}." if len(no_effect) else
                 "No claim is shown to have no effect of the paper's size."),
            "summary_finding_inconclusive": _undecided_sentence(by_verdict["inconclusive"]),
            "summary_finding_when": when}


def claims_table(evaluated: pd.DataFrame) -> pd.DataFrame:
    """Every claim as the chapter's table shows it, narrow enough for the page: the chapter by its number ("ch."),
    where the claim comes from, the claim, the paper's difference b − a (mean over its printed rows) and in how
    many rows it goes the claim's way, ours with its 95% interval in one column, n, the half-width, the smallest
    effect the comparison could detect, the verdict, and (where a claim is measured in something else than points
    of error, the language models' perplexity) the unit."""
    view = pd.DataFrame({
        "ch.": [int(name.split("_")[0]) for name in evaluated["chapter"]], "table": evaluated["table"],
        "claim": evaluated["claim"], "paper: b − a": evaluated["paper_mean"], "paper's rows": evaluated["paper_rows"],
        "ours: b − a": evaluated["mean"],
        "95% CI": [MISSING if pd.isna(low) else f"[{low:+.2f}, {high:+.2f}]"
                   for low, high in zip(evaluated["ci_low"], evaluated["ci_high"])],
        "n": evaluated["n"].astype(int), "half-width": evaluated["half_width"],
        "detectable": evaluated["detectable"], "verdict": evaluated["verdict"]})
    if "unit" in evaluated and evaluated["unit"].nunique() > 1:
        view["unit"] = evaluated["unit"]
    return view


def central_claims(evaluated: pd.DataFrame) -> pd.DataFrame:
    """The claims the experiment is sized for, with whether their interval is within ± `MARGIN` ("within
    target") and the seeds that would take it there at the spread of their differences ("seeds for the
    target"; NaN with fewer than 2 pairs)."""
    central = evaluated[evaluated["central"]].assign(**{"within target": lambda t: t["half_width"] <= MARGIN})
    central["seeds for the target"] = [seeds_for_target(hw, n) for hw, n in zip(central["half_width"], central["n"])]
    return central


def target_cost(more_seeds: int, per_seed: float | None, book: float | None, machines: list[str]) -> str:
    """What `more_seeds` seeds of the central chapters would add to a cold book of `book` seconds, at `per_seed`
    seconds a seed (None: not measured), against the book's budget."""
    if more_seeds == 0:
        return "No central claim needs more seeds than the profile trains."
    if per_seed is None or book is None:
        return "What those seeds would cost is not measured yet (the committed book's timings are not recorded)."
    added = more_seeds * per_seed
    verdict = ("at this scale the target and the budget cannot both be met." if book + added > COLD_BOOK_BUDGET_SECONDS
               else "the target fits the budget.")
    return (f"Those {more_seeds} more seeds of chapters 3 to 6 would add about {duration_text(added)} of training to "
            f"a cold book that takes {duration_text(book)} ({'; '.join(machines) or MACHINE_NOT_RECORDED}), against "
            f"a budget of {duration_text(COLD_BOOK_BUDGET_SECONDS)}: " + verdict)


def central_facts(central: pd.DataFrame, per_seed: float | None, book: float | None, machines: list[str]) -> dict:
    """Whether the central claims (`central_claims`) meet the margin, the seeds the most demanding one needs
    against those the profile trains, and what training them would cost (every central claim sharing the
    profile's seeds: `per_seed` seconds a seed of chapters 3 to 6, `book` the cold book's seconds)."""
    needed = central["seeds for the target"]
    seeds_most = int(needed.max()) if needed.notna().any() else 0
    seeds_now = int(central["n"].max())
    return {"summary_margin": MARGIN, "summary_central": len(central),
            "summary_central_ok": int(central["within target"].sum()), "summary_seeds_most": seeds_most,
            "summary_seeds_now": seeds_now,
            "summary_target_cost": target_cost(max(seeds_most - seeds_now, 0), per_seed, book, machines)}


def interval_text(row) -> str:
    """A claim's 95% interval in the prose, or why it has none."""
    if row["n"] == 0:
        return "not run"
    if row["n"] < 2:
        return "no interval with one seed"
    return f"[{row['ci_low']:+.2f}, {row['ci_high']:+.2f}]"


def controls(evaluated: pd.DataFrame) -> pd.DataFrame:
    """The rows of the controls the paper does not have (`CONTROLS`), keyed by claim key."""
    return evaluated.set_index("key").loc[list(CONTROLS.values())]


def control_facts(evaluated: pd.DataFrame) -> dict:
    """Per control: our mean difference, its interval in words, n, and its verdict ("not run" without runs)."""
    facts = {}
    for name, key in CONTROLS.items():
        row = evaluated.set_index("key").loc[key]
        facts.update({f"summary_{name}_mean": float(row["mean"]), f"summary_{name}_ci": interval_text(row),
                      f"summary_{name}_n": int(row["n"]),
                      f"summary_{name}_verdict": "not run" if row["n"] == 0 else row["verdict"]})
    return facts


def fit_facts(fit: pd.DataFrame, pairs: pd.DataFrame) -> dict:
    """How well the book's teachers fit their training sets (`fit`: one row per run, `experiments.run_fit`; a
    teacher is a run whose id is another run's `teacher`), and how much of their teachers the students learn
    (`pairs`: `convergence.teacher_pairs`)."""
    taught = fit[fit["run_id"].isin(fit["teacher"])].drop_duplicates("run_id")  # every run that taught a student
    return {"why_teachers": len(taught),
            "why_teachers_fit": int((taught["train_accuracy"] >= 100 * MIN_TRAIN_ACCURACY).sum()),
            "why_min_train_accuracy": 100 * MIN_TRAIN_ACCURACY, "why_lowest_fit": float(taught["train_accuracy"].min()),
            "why_targets_wrong": float(pairs["teacher_train_targets_wrong"].mean()),
            "why_targets_wrong_max": float(pairs["teacher_train_targets_wrong"].max()),
            "why_agreement": float(pairs["test_agreement_with_teacher"].mean())}


def scale_facts(teachers: pd.DataFrame, train_size: int) -> dict:
    """Our central teachers (`teachers`: chapter 4's teacher records: dataset, test_error, params) against the
    paper's: classes, accuracy, parameters (Table 1's DenseNets) and training images."""
    classes, paper_classes = dataset_shape(teachers["dataset"].iloc[0])[1], dataset_shape("cifar100")[1]
    params = int(teachers["params"].iloc[0])
    densenets = paper_table(1).filter(like="DenseNet", axis=0)["Params (M)"]
    return {"why_classes": classes, "why_paper_classes": paper_classes, "why_wrong_classes": classes - 1,
            "why_paper_wrong_classes": paper_classes - 1,
            "why_teacher_accuracy": 100 - float(teachers["test_error"].mean()),
            "why_paper_teacher_accuracy": 100 - float(paper_table(2)["Teacher"].mean()),
            "why_train_images": f"{train_size:,}", "why_params": f"{params:,}",
            "why_paper_params": f"{densenets.min():g} to {densenets.max():g}",
            "why_params_ratio": float(1e6 * densenets.min() / params),
            "why_params_ratio_max": float(1e6 * densenets.max() / params)}


def try_facts(seeds, runs_per_seed: int, per_seed: float | None, machines: list[str]) -> dict:
    """The "try it yourself" box: seeds 0 to `TRY_SEEDS` - 1 instead of `seeds`, `runs_per_seed` runs each, at
    `per_seed` seconds a seed of chapters 3 to 6 in the committed book (None: not measured)."""
    extra = len(set(range(TRY_SEEDS)) - set(seeds))
    if per_seed:
        cost = (f"about {duration_text(extra * per_seed)} at the {per_seed / runs_per_seed / 60:.1f} minutes a run of "
                f"those chapters took in the committed book ({'; '.join(machines) or MACHINE_NOT_RECORDED})")
    else:
        cost = "not measured yet (the committed book's timings are not recorded)"
    return {"try_runs_per_seed": runs_per_seed, "try_runs": extra * runs_per_seed, "try_cost": cost}
