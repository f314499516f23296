"""What chapter 04_born_again concludes: the design's numbers, how often a student beats its own teacher, the
verdict on each claim and how the equal-compute control reads, whether the design could decide, whether the
students converged, and why our numbers differ from the paper's (with the Spearman test of wrong teacher targets
against a student's gain).

Each function takes what the chapter already holds (the records, `claims.evaluate`'s table, the students' fit
table, ...) and returns the names and values the chapter's prose cites, for `bannb.facts.glue_facts`.
"""
from __future__ import annotations

import math
from typing import Iterable, Sequence

import pandas as pd
from scipy.stats import spearmanr

from bannb.book import timings
from bannb.facts import MISSING
from bannb.study import claims, convergence, experiments, stats

CHAPTER = "04_born_again"
NONE = "none"  # what a list reads when nothing is in it
SIGNIFICANCE = 0.05  # below this p-value the Spearman test reads as a clear relation

# the prose's short name for each of the chapter's claims (`claims.claims_for(CHAPTER)`)
CLAIM_NAMES = {"ban1": "ban1-vs-teacher", "ban2": "ban2-vs-ban1", "ban3": "ban3-vs-ban2", "ban3t": "ban3-vs-teacher",
               "long": "ban1-vs-long-teacher"}
# the prose's short name for each column of `claims.seed_differences` it counts wins in
PAIR_COLUMNS = {"ban1": "BAN-1 − Teacher", "ban2": "BAN-2 − BAN-1", "long": "BAN-1 − Teacher (2× epochs)"}


def design_facts(seeds: Sequence[int], secondary_seeds: Sequence[int], epochs: int) -> dict:
    """The design: central and secondary seeds, a teacher's epochs and the equal-compute control's."""
    return {"n_seeds": len(seeds), "n_secondary": len(secondary_seeds), "epochs": epochs,
            "long_epochs": experiments.LONG_TEACHER_FACTOR * epochs}


def pair_facts(differences: pd.DataFrame) -> dict:
    """Per compared pair (`PAIR_COLUMNS`), on how many seeds the second model has the lower error
    (`<name>_better`) out of the seeds that have both (`<name>_pairs`)."""
    facts = {}
    for name, column in PAIR_COLUMNS.items():
        values = differences[column].dropna()
        facts.update({f"{name}_better": int((values < 0).sum()), f"{name}_pairs": len(values)})
    return facts


def control_reading(ban1_verdict: str, long_verdict: str) -> str:
    """What the equal-compute control says about BAN-1's gain over its teacher, from the two verdicts."""
    if ban1_verdict != "holds":
        return "With no established gain of BAN-1 over its own teacher, there is no gain for the control to explain."
    if long_verdict == "holds":
        return "BAN-1's gain survives the control: it beats even a teacher given the same training budget."
    if long_verdict == "does not hold":
        return ("BAN-1 beats its own teacher but not a teacher given the same budget, which is better still: "
                "at this scale the gain is explained by the extra training.")
    return ("BAN-1 beats its own teacher, but against a teacher given the same budget the comparison cannot "
            "tell: the extra training may explain the gain.")


def claim_facts(evaluated: pd.DataFrame) -> dict:
    """Per claim of the chapter (`CLAIM_NAMES`, from `claims.evaluate`'s table): its verdict, mean difference, CI,
    half-width, smallest detectable effect, the paper's difference and rows, n; and `control_reading`."""
    library = claims.claim_facts(evaluated)
    rows = evaluated.set_index("key")
    facts = {}
    for name, key in CLAIM_NAMES.items():
        prefix, row = key.replace("-", "_"), rows.loc[key]
        facts.update({f"{name}_verdict": library[f"{prefix}_verdict"], f"{name}_mean": library[f"{prefix}_mean"]})
        facts.update({f"{name}_{column}": float(row[column])
                      for column in ("ci_low", "ci_high", "half_width", "detectable")})
        facts.update({f"{name}_paper_mean": library[f"{prefix}_paper"],
                      f"{name}_paper_rows": library[f"{prefix}_paper_rows"], f"{name}_n": library[f"{prefix}_n"]})
    facts["control_reading"] = control_reading(facts["ban1_verdict"], facts["long_verdict"])
    return facts


def precision_facts(evaluated: pd.DataFrame, frame: pd.DataFrame, chapter_claims: Sequence[claims.Claim]) -> dict:
    """Could the design decide: the verdict rule's constants, whether every central claim's half-width is within
    the margin (and which are not), the largest spread of a central claim's per-seed differences (`frame`: the
    records) and the seeds that spread needs for a half-width of the margin ("—" where no claim has a spread)."""
    central = evaluated[evaluated["central"]]
    missed = central[~(central["half_width"] <= stats.MARGIN)]
    spreads = [d.sd for d in (claims.difference(frame, c) for c in chapter_claims if c.central)
               if d is not None and d.n >= 2]
    worst_sd = max(spreads, default=float("nan"))
    return {"margin": stats.MARGIN, "confidence": 100 * stats.CONFIDENCE, "alpha": 100 * (1 - stats.CONFIDENCE),
            "power": 100 * stats.POWER, "n_central": len(central),
            "design_met": "met the target" if missed.empty else "did not meet the target",
            "missed_claims": "; ".join(missed["claim"]) or NONE,
            "seeds_needed": MISSING if math.isnan(worst_sd) else stats.seeds_for_half_width(worst_sd, stats.MARGIN),
            "worst_sd": float(worst_sd)}


def student_facts(students: pd.DataFrame, long_fit: pd.DataFrame) -> dict:
    """Whether the students (`convergence.student_fit_records`) end flat, which do not, how many of the
    equal-compute teachers (`long_fit`: `convergence.fit_records`) converge, and how the students follow their
    teachers (mean test agreement, largest share of wrong training targets)."""
    unflat = students.loc[~students["flat"], ["model", "seed"]].itertuples(index=False)
    return {"n_students": len(students), "n_students_flat": int(students["flat"].sum()),
            "students_verdict": "Every student ends flat." if students["flat"].all() else
            "Not every student ends flat: some were still learning when training stopped.",
            "unflat_students": ", ".join(f"{model} (seed {seed})" for model, seed in unflat) or NONE,
            "n_long": len(long_fit), "n_long_converged": int(long_fit["converged"].sum()),
            "agreement_mean": float(students["test_agreement_with_teacher"].mean()),
            "wrong_max": float(students["teacher_train_targets_wrong"].max())}


def rho_reading(rho: float, p_value: float) -> str:
    """The Spearman test of wrong teacher targets against a student's difference from its teacher, in words."""
    if not p_value < SIGNIFICANCE:  # NaN (nothing varied) reads as no clear relation too
        return "no clear relation"
    way = "better" if rho < 0 else "worse"
    return (f"a clear relation: the more of its teacher's training targets were wrong, the {way} a student "
            "did against that teacher")


def relation_facts(students: pd.DataFrame) -> dict:
    """Spearman's ρ between the share of a teacher's wrong training targets and its student's difference from it,
    over every teacher → student pair, its p-value (both NaN where either side is constant) and its reading."""
    wrong, difference = students["teacher_train_targets_wrong"], students["difference"]
    varied = wrong.nunique() > 1 and difference.nunique() > 1
    rho, p_value = spearmanr(wrong, difference) if varied else (float("nan"), float("nan"))
    return {"rho": float(rho), "rho_p": float(p_value), "rho_n": len(students),
            "rho_reading": rho_reading(rho, p_value)}


def wrong_reading(wrong_mean: float) -> str:
    """What a mean share of wrong training targets (%) of the first students' teachers means for them: within
    what the convergence criterion allows a teacher to get wrong, or beyond it."""
    if wrong_mean <= 100 * (1 - convergence.MIN_TRAIN_ACCURACY):
        return ("on its training images a BAN student's targets almost always name the label, and what it can "
                "learn beyond the labels lies in the rest of each distribution.")
    return ("a BAN student is taught a wrong class on a noticeable share of its training images: its teacher is "
            "far from fitting them.")


def fit_facts(students: pd.DataFrame, teacher_fit: pd.DataFrame, teacher_errors: pd.Series) -> dict:
    """How well the teachers fit: how many converge (`teacher_fit`), the share of their training targets that are
    wrong for the first students (BAN-1 rows of `students`), those students' test agreement with them, and the
    teachers' mean test error (`teacher_errors`, per seed)."""
    first = students[students["model"] == "BAN-1"]  # the students of the teachers themselves
    wrong_mean = first["teacher_train_targets_wrong"].mean()
    return {"n_teachers": len(teacher_fit), "n_teachers_converged": int(teacher_fit["converged"].sum()),
            "wrong_reading": wrong_reading(wrong_mean), "ban1_wrong_mean": float(wrong_mean),
            "ban1_wrong_max": float(first["teacher_train_targets_wrong"].max()),
            "ban1_agreement": float(first["test_agreement_with_teacher"].mean()),
            "teacher_test_error": float(teacher_errors.mean())}


def scale_facts(outside_top: Sequence[float], our_classes: int, paper_classes: int, our_parameters: int,
                counts: pd.DataFrame, train_images: int, paper_network: str = "DenseNet-90-60") -> dict:
    """Our setting against the paper's: the teachers' mean probability outside their top class (`outside_top`, %
    per teacher), the classes, and our teacher's parameters against the paper's `paper_network` (its row of
    `counts`, `paper.parameter_comparison(1)`)."""
    paper_millions = counts.set_index("network").loc[paper_network, "paper (M)"]
    return {"outside_top": sum(outside_top) / len(outside_top), "our_classes": our_classes,
            "paper_classes": paper_classes, "our_params": our_parameters, "paper_params": float(paper_millions),
            "params_ratio": float(paper_millions * 1e6 / our_parameters), "train_images": train_images}


def try_it_facts(seeds: Iterable[int], runs_per_seed: int, more_seeds: Iterable[int] = range(10), **cost) -> dict:
    """How many runs `more_seeds` (the seeds of the chapter's "Try it yourself" command) add to `seeds`, each
    seed's sequence being `runs_per_seed` runs, and what they cost (`timings.cost_text`; `cost` is passed on)."""
    new_runs = len(set(more_seeds) - set(seeds)) * runs_per_seed
    return {"try_runs": new_runs, "try_cost": timings.cost_text(CHAPTER, new_runs, **cost)}
