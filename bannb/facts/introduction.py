"""The facts of chapter 01_introduction: how many claims the book tests, the committed profile's regime, the
decision rule's settings and what the whole book costs to retrain."""
from __future__ import annotations

from typing import Sequence

from bannb.book.timings import duration_text


def claim_counts(claims: Sequence) -> dict:
    """How many claims there are, how many are the book's own controls (`ours`), how many are central."""
    return {"n_claims": len(claims), "n_ours": sum(claim.ours for claim in claims),
            "n_central": sum(claim.central for claim in claims)}


def book_cost(wall_seconds: float | None, machines: Sequence[str]) -> str:
    """The cold book's measured time in words, with the CPUs that trained it in the order they did
    ("2.6 h on A, then B"); without machines, the time alone."""
    return duration_text(wall_seconds) + (" on " + ", then ".join(machines) if machines else "")


def facts(claims: Sequence, committed_profile: str, committed_config, seeds: Sequence[int], profile_name: str,
          margin: float, wall_seconds: float | None, machines: Sequence[str]) -> dict:
    """Every value chapter 1 cites: `committed_config` is the committed profile's `book_config()`, `seeds` and
    `profile_name` those of the profile the chapter ran at."""
    return {**claim_counts(claims),
            "committed_profile": committed_profile, "committed_arch": committed_config.arch,
            "committed_train_size": committed_config.train_size, "committed_epochs": committed_config.epochs,
            "central_seeds": len(seeds), "profile_name": profile_name, "margin": margin,
            "book_cost": book_cost(wall_seconds, machines)}
