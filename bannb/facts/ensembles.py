"""The facts of chapter 07_ensembles: the sizes of the born-again and independent ensembles, how often their
members disagree, the verdicts of the ensemble claims, and what more secondary seeds would cost."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import pandas as pd

from bannb import report
from bannb.book.timings import cost_text
from bannb.facts import verdict_facts  # noqa: F401  (the chapter's claims: shared with chapters 5-7)
from bannb.facts.more_seeds import command_markdown
from bannb.paths import PROJECT_ROOT
from bannb.study import stats

ORDER = ["Teacher", "BAN-1", "BAN-2", "BAN-3", "Ens*2", "Ens*3", "Teachers×2", "Teachers×3"]
BORN_AGAIN_PAIR = "BAN-1 and BAN-2 (Ens*2)"
TEACHER_STUDENT_PAIR = "Teacher and BAN-1"
INDEPENDENT_PAIR = "two independent teachers (Teachers×2)"
# what a new secondary seed trains: its BAN-3 alone where it is a central seed, else its whole chain up to BAN-3
RUNS_PER_CENTRAL_SEED, RUNS_PER_OTHER_SEED = 1, 4


def pool_facts(seeds: Sequence[int], secondary_seeds: Sequence[int], pool_seeds: Sequence[int], pairs: int,
               triples: int) -> dict:
    """How many central and secondary seeds, the independent teachers' seeds (how many, first and last), and the
    disjoint ensembles of two and of three they make."""
    return {"central_count": len(seeds), "secondary_count": len(secondary_seeds), "pool_count": len(pool_seeds),
            "pool_first_seed": min(pool_seeds), "pool_last_seed": max(pool_seeds), "pair_count": pairs,
            "triple_count": triples}


def size_table(frame: pd.DataFrame, order: Sequence[str] = ORDER) -> pd.DataFrame:
    """Per model in `order`: its members (1 for a single network), its parameters in total, mean ± std and n."""
    summary = report.mean_std(frame, "model").set_index("model").reindex(order)
    summary["members"] = frame.groupby("model")["members"].first().reindex(order).fillna(1).astype(int)
    summary["parameters (total)"] = frame.groupby("model")["params"].first().reindex(order).astype(int)
    return summary[["members", "parameters (total)", "mean ± std", "n"]]


def size_facts(sizes: pd.DataFrame) -> dict:
    """The parameters of one network, of Ens*3 and of Teachers×3 (`size_table`)."""
    return {"single_params": int(sizes.loc["Teacher", "parameters (total)"]),
            "ens3_params": int(sizes.loc["Ens*3", "parameters (total)"]),
            "teachers3_params": int(sizes.loc["Teachers×3", "parameters (total)"])}


def diversity_records(chains, independent_pairs: Sequence) -> pd.DataFrame:
    """`report.ensemble_diversity_records` of BAN-1 with BAN-2 and of each teacher with its BAN-1 (`chains`: seed →
    [teacher, BAN-1, BAN-2]), and of the disjoint pairs of independent teachers."""
    return pd.concat([
        report.ensemble_diversity_records([chain[1:3] for chain in chains.values()], pair=BORN_AGAIN_PAIR),
        report.ensemble_diversity_records([chain[0:2] for chain in chains.values()], pair=TEACHER_STUDENT_PAIR),
        report.ensemble_diversity_records(independent_pairs, pair=INDEPENDENT_PAIR),
    ], ignore_index=True)


def diversity_facts(diversity: pd.DataFrame) -> dict:
    """The mean disagreement (% of test images) of each kind of pair and the mean gain (points) of averaging two
    born-again generations and two independent teachers; NaN for a kind without pairs."""
    means = diversity.groupby("pair", sort=False)[["disagreement", "gain"]].mean().reindex(
        [BORN_AGAIN_PAIR, TEACHER_STUDENT_PAIR, INDEPENDENT_PAIR])
    return {"disagree_born_again": float(means.loc[BORN_AGAIN_PAIR, "disagreement"]),
            "disagree_teacher_student": float(means.loc[TEACHER_STUDENT_PAIR, "disagreement"]),
            "disagree_independent": float(means.loc[INDEPENDENT_PAIR, "disagreement"]),
            "gain_born_again": float(means.loc[BORN_AGAIN_PAIR, "gain"]),
            "gain_independent": float(means.loc[INDEPENDENT_PAIR, "gain"])}


def diversity_table(diversity: pd.DataFrame) -> pd.DataFrame:
    """Per kind of pair: how many ensembles, how often their members disagree, what averaging gains."""
    table = diversity.groupby("pair", sort=False).agg(ensembles=("gain", "size"),
                                                      disagreement=("disagreement", "mean"), gain=("gain", "mean"))
    return table.rename(columns={"disagreement": "members disagree on (% of test images)",
                                 "gain": "gain over the mean member (points)"})


def more_secondary_seeds(seeds: Sequence[int], secondary_seeds: Sequence[int]) -> list[int]:
    """The secondary seeds the box proposes: every central seed too, or twice as many where they are already."""
    proposed = sorted(set(seeds) | set(secondary_seeds))
    return proposed if len(proposed) != len(secondary_seeds) else list(range(2 * len(secondary_seeds)))


def more_secondary_facts(ens3_vs_ban3, seeds: Sequence[int], secondary_seeds: Sequence[int],
                         root: Path = PROJECT_ROOT) -> dict:
    """The "Try it yourself" box: the half-width of Ens*3 against BAN-3 (`claims.difference`; None where it was not
    run, NaN), its projection at `more_secondary_seeds`, the command, the new runs and their cost at chapter 4's
    time per run (from the timings under `root`)."""
    more = more_secondary_seeds(seeds, secondary_seeds)
    new_runs = sum(RUNS_PER_CENTRAL_SEED if s in set(seeds) else RUNS_PER_OTHER_SEED
                   for s in set(more) - set(secondary_seeds))
    return {"ens3_half_width": math.nan if ens3_vs_ban3 is None else float(ens3_vs_ban3.half_width),
            "ens3_projected": math.nan if ens3_vs_ban3 is None
            else float(stats.expected_half_width(ens3_vs_ban3.sd, len(more))),
            "more_secondary_count": len(more),
            "more_secondary_command": command_markdown("07_ensembles", "secondary_seeds", more),
            "new_runs": new_runs, "new_runs_cost": cost_text("04_born_again", new_runs, root)}
