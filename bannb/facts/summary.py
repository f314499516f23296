"""What chapter 11_summary (every claim of the paper, judged) concludes, computed from `claims.evaluate_book`'s
table and the chapters' records: one function per section, each returning the glue names and values that
section's prose cites."""
from __future__ import annotations

import pandas as pd

from bannb.book.timings import COLD_BOOK_BUDGET_SECONDS, duration_text
from bannb.data import dataset_shape
from bannb.study.claims import OUT_OF_TALLY, verdict_counts
from bannb.study.convergence import MIN_TRAIN_ACCURACY
from bannb.study.paper import paper_table
from bannb.study.stats import MARGIN, seeds_for_target

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
