"""What each chapter concludes, computed from its records: one module per chapter (d2l's way: each function says
which chapter it serves), each with `facts(...) -> dict` of the values and sentences the chapter's prose cites.

The notebooks glue a chapter's facts in one call (`glue_facts`) and choose nothing in their own cells: every
reading that could have come out either way is chosen here, where `tests/` can check each branch.
"""
from __future__ import annotations

import math
from typing import Mapping

import pandas as pd

from bannb.study import claims, stats, teaching

MISSING = "—"  # how a value that was not measured prints, in the prose and in tables


def plain(value):
    """`value` as a Python scalar: myst-nb formats a glued value from its repr, and numpy 2's `np.float64(3.08)`
    is not one it can format (the page would show nothing)."""
    if getattr(value, "ndim", None) == 0 and hasattr(value, "item"):
        return value.item()
    return value


def glue_facts(values: Mapping[str, object]) -> None:
    """myst-nb's `glue(name, value, display=False)` for every (name, value): what the prose cites
    (``{glue:text}`name:.2f` ``)."""
    from myst_nb import glue  # lazily: the library is usable without the book's dependencies
    for name, value in values.items():
        glue(name, plain(value), display=False)


def verdict_facts(evaluated: pd.DataFrame) -> dict:
    """A chapter's claims (`claims.evaluate`'s table): every claim's values for the prose (`claims.claim_facts`) and the power the detectable effects assume;
    chapters 5, 6 and 7 glue these."""
    return {**claims.claim_facts(evaluated), "power": stats.POWER}


def is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or (
        getattr(value, "ndim", None) == 0 and value != value)


def show_table(frame, precision: int = 2, **formats):
    """A table for the reader: numbers to `precision` digits, a missing value as "—" (not NaN); `formats`
    maps a column to its own format string."""
    styler = frame.style.format(precision=precision, na_rep=MISSING)
    for column, spec in formats.items():
        styler = styler.format(spec, na_rep=MISSING, subset=[column])
    return styler


def taught_facts(records: pd.DataFrame, model: str = "BAN-1") -> dict:
    """What `model`'s students were taught and how much of it they took (`study.teaching`, read into the records by
    `regimes.with_final_fields`), as means over their runs: the teacher's probability outside its top class on
    the inputs the students trained on (`taught_mass`, %, and its complement `taught_top`), its entropy there
    (nats), the most of those targets that can put less than half on their top class (`taught_unsure_bound`, %),
    the share of them whose top class is wrong (%), and on the test set the students' top-1
    agreement with their own teacher (%) and KL(teacher ‖ student) (nats). Chapters 4-7 explain their losses
    with these: what there is to weight (CWTM), to permute (DKPP) and to average (ensembles)."""
    students = records[records["model"] == model]
    if students.empty:
        raise ValueError(f"no runs of {model!r} among the records (models: {sorted(records['model'].unique())})")
    means = teaching.taught_means(students)
    mass = means["mass_seen"]
    # Markov's inequality on 1 − p*: at most 2 × mass of the targets put less than half on their top class, so at
    # most that share of CWTM's weights p* / mean(p*) fall below one half
    return {"taught_model": model, "taught_n": int(len(students)), "taught_mass": mass, "taught_top": 100 - mass,
            "taught_unsure_bound": min(100.0, 2 * mass), "taught_entropy": means["entropy_seen"],
            "taught_wrong": means["targets_wrong_seen"], "inherited_agreement": means["agreement"],
            "inherited_kl": means["kl"]}
