"""What chapter 03_teachers concludes: the convergence criterion's numbers, the regime study that chose how the
profile trains its teachers, every teacher against the criterion, the learning-rate schedule, the parameter
counts against Table 1, and the cost of more teachers.

Each function takes what the chapter already holds (a config, the regime study's records, the teachers' fit
table, ...) and returns the names and values the chapter's prose cites, for `bannb.facts.glue_facts`.
"""
from __future__ import annotations

from typing import Iterable

import pandas as pd

from bannb import report
from bannb.book import timings
from bannb.facts import MISSING, is_missing
from bannb.study import convergence, experiments
from bannb.study.profiles import get_profile
from bannb.study.stats import MARGIN

CHAPTER = "03_teachers"
NONE = "none"  # what a list of names reads when nothing is in it
# candidates of the same plan differ in measured time by noise: within 10% of the least counts as as cheap
CHEAP_TOLERANCE = 1.1


def candidate_names(rows: pd.DataFrame) -> str:
    """The regime candidates of `rows`, "; "-separated ("none" for no row)."""
    return "; ".join(rows["candidate"]) or NONE


def criterion_facts(config) -> dict:
    """The criterion's numbers for the teachers' config: the threshold on clean training accuracy (%), the
    validation split's size, the window of the last fifth and the epochs."""
    return {"min_train_accuracy": 100 * convergence.MIN_TRAIN_ACCURACY, "valid_size": config.valid_size,
            "window": convergence.window_length(config.epochs), "epochs": config.epochs}


def study_reading(own: pd.Series, cheapest: pd.DataFrame, agrees: bool) -> str:
    """How the profile's regime (`own`, a row of the study) stands against the study's choice, the cheapest
    converged candidates (`cheapest`): agreeing; converged but dearer, which the profile keeps, since the map's
    rule (`regimes.DECISION_RULE`, fixed before the map ran) moves the chapters only to a regime where a born-again
    student beats its teacher and never for cost alone; or not converged, which calls for a new regime."""
    if agrees:
        return "agrees with the study"
    if own["converged"]:
        return (f"meets the criterion but is not the cheapest regime that does ({candidate_names(cheapest)}: "
                f"{cheapest['train_minutes'].min():.1f} minutes a teacher against {own['train_minutes']:.1f}). The "
                f"profile keeps it: the rule chapter 10 fixed before its map ran moves chapters 3-8 only to a "
                f"regime where a born-again student beats its teacher, never for cost alone")
    return "does not agree with the study, and the profile should be revised"


def regime_facts(regime: pd.DataFrame, config, recipe=None, own_label: str | None = None) -> dict:
    """What the regime study (`experiments.regime_records`) found: which candidates converge, which fail which
    part of the criterion, how the profile's own regime (`own_label`, by default the first candidate) fares,
    whether it is among the cheapest converged ones, and how the profile's `config` relates to the paper's
    `recipe` (by default the `paper` profile)."""
    if recipe is None:
        recipe = get_profile("paper")  # the paper's recipe as the book reads it
    own_label = own_label if own_label is not None else next(iter(experiments.REGIME_CANDIDATES))
    own = regime.set_index("candidate").loc[own_label]
    converged = regime[regime["converged"]]
    cheapest = converged[converged["train_minutes"] <= CHEAP_TOLERANCE * converged["train_minutes"].min()]
    unfit, unflat = regime[~regime["fits"]], regime[regime["fits"] & ~regime["flat"]]
    agrees = bool(own["converged"]) and own_label in set(cheapest["candidate"])
    same_recipe = (config.schedule, config.augment) == (recipe.schedule, recipe.augment)
    return {
        "n_candidates": len(regime), "n_converged": len(converged), "converged_names": candidate_names(converged),
        "unfit_names": candidate_names(unfit),
        "unfit_best": float(unfit["train_accuracy"].max()) if len(unfit) else float("nan"),
        "unflat_names": candidate_names(unflat), "own_label": own_label,
        "own_verdict": "meets" if own["converged"] else "does not meet",
        "own_train": float(own["train_accuracy"]), "own_change": float(own["last_fifth_change"]),
        "own_allowed": float(own["allowed_drop"]), "own_minutes": float(own["train_minutes"]),
        "own_test": float(own["test_error"]), "cheapest_name": candidate_names(cheapest),
        "study_agrees": study_reading(own, cheapest, agrees),
        "best_test_name": candidate_names(converged.nsmallest(1, "test_error")),
        "best_test": float(converged["test_error"].min()) if len(converged) else float("nan"),
        "profile_train_size": config.train_size, "profile_schedule": config.schedule,
        "profile_augment": "with pad-crop-flip augmentation" if config.augment else "without augmentation",
        "recipe_relation": "the recipe the book assumes for the paper, shortened." if same_recipe else
        "a departure from the recipe the book assumes for the paper, made so that the teachers are what the "
        "paper's are, networks that fit their training set.",
    }


def config_table(config) -> pd.DataFrame:
    """The teacher's config as a one-column table of text, an unset field as "—"."""
    return pd.Series({name: MISSING if is_missing(value) else str(value) for name, value in config.to_dict().items()},
                     name="teacher config").to_frame()


def teacher_facts(fit: pd.DataFrame, frame: pd.DataFrame) -> dict:
    """Every teacher against the criterion (`fit`: `convergence.fit_records` of the teachers) and their test error
    across seeds (`frame`: the chapter's records, one model), against the verdict rule's margin."""
    short = fit[~fit["converged"]]
    summary = report.mean_std(frame, "model").iloc[0]
    return {
        "n_teachers": len(fit), "n_teachers_converged": int(fit["converged"].sum()),
        "teachers_verdict": "Every teacher meets the criterion." if short.empty else
        "Not every teacher meets the criterion, and the chapters that use them inherit that.",
        "short_seeds": ", ".join(str(seed) for seed in short["seed"]) or NONE,
        "teachers_min_train": float(fit["train_accuracy"].min()),
        # in units of the allowed drop: below −1 fails the second part of the criterion
        "teachers_worst_change": float((fit["last_fifth_change"] / fit["allowed_drop"]).min()),
        "teacher_mean": float(summary["mean"]), "teacher_std": float(summary["std"]), "margin": MARGIN,
        "noise_vs_margin": "larger than" if summary["std"] > MARGIN else "no larger than",
    }


def schedule_facts(lr: pd.Series) -> dict:
    """Where the learning rate (per epoch, indexed by epoch) peaks and ends, and the epoch from which it is held
    ("—" for a schedule that holds nothing)."""
    held_from = report.lr_marks(lr.values, lr.index)["hold"]
    return {"lr_peak_epoch": int(lr.idxmax()), "lr_peak": float(lr.max()), "lr_last": float(lr.iloc[-1]),
            "lr_held_from": MISSING if held_from is None else held_from}


def worst_count_error(rows: pd.DataFrame) -> float:
    """The largest distance of our parameter counts from the paper's, % (NaN for no row)."""
    return float(100 * (rows["ours / paper"] - 1).abs().max())


def parameter_facts(counts: pd.DataFrame, arch: str, teacher_parameters: int) -> dict:
    """Our counts against Table 1's (`paper.parameter_comparison(1)`), per family, and our teacher's size (`arch`,
    `teacher_parameters`) against the smallest network of the table."""
    return {"wrn_worst": worst_count_error(counts[counts["arch"].str.startswith("wrn")]),
            "densenet_worst": worst_count_error(counts[counts["arch"].str.startswith("densenet")]),
            "teacher_params": teacher_parameters, "teacher_arch": arch,
            "smallest_paper": float(counts["paper (M)"].min()),
            "smallest_ratio": float(counts["paper (M)"].min() * 1e6 / teacher_parameters)}


def try_it_facts(seeds: Iterable[int], more_seeds: Iterable[int] = range(10), **cost) -> dict:
    """How many teachers `more_seeds` (the seeds of the chapter's "Try it yourself" command) add to `seeds`, and
    what they cost (`timings.cost_text`; `cost` is passed on to it)."""
    extra = len(set(more_seeds) - set(seeds))
    return {"try_extra": extra, "try_cost": timings.cost_text(CHAPTER, extra, **cost)}
