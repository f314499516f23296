"""The chapters' wall times: one owner for the file the book runner writes and the benchmark and the Performance
appendix read. Needs neither torch nor fastai."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from bannb.bench.machine import cpu_info
from bannb.paths import PROJECT_ROOT, results_dir
from bannb.runs.store import atomic_write_json
from bannb.study import chapters

COMMITTED_PROFILE = "cpu"  # the profile whose chapters are committed and timed (profiles.DEFAULT_PROFILE)


# The cold cpu book's budget: with no runs present, every chapter's plan must train and every chapter run within this
# on the 2-core machine the book is sized for. The one constant every budget the book and its prose cite comes from.
COLD_BOOK_BUDGET_SECONDS = 18 * 3600


def timings_file(root: Path = PROJECT_ROOT, profile: str = COMMITTED_PROFILE) -> Path:
    """Wall seconds per chapter of the committed profile, committed with the chapters they timed (the
    Performance appendix and `make bench` report the whole book's time from it)."""
    return results_dir(root) / f"book-timings-{profile}.json"


def chapter_seconds(entry) -> float:
    """What a chapter cost: training its plan (`train_seconds`, wall time on the plan's workers) plus executing
    its notebook (`seconds`). Entries written before runs were counted are plain numbers."""
    if not isinstance(entry, dict):
        return float(entry)
    return entry.get("seconds", 0.0) + entry.get("train_seconds", 0.0)


def read_timings(root: Path = PROJECT_ROOT, profile: str = COMMITTED_PROFILE) -> dict:
    path = timings_file(root, profile)
    return json.loads(path.read_text()) if path.exists() else {}


def seconds_per_run(chapters: str | Sequence[str], root: Path = PROJECT_ROOT,
                    profile: str = COMMITTED_PROFILE) -> float | None:
    """What one more run of a chapter's kind costs on the machines that trained the committed book: the wall time of
    training the chapter's plan (on parallel workers, as the book trains) over the runs it trained, pooled over
    several chapters where `chapters` names several; None where their training has not been measured."""
    timings = read_timings(root, profile)
    entries = [entry for name in ([chapters] if isinstance(chapters, str) else chapters)
               if isinstance(entry := timings.get(name), dict)]
    trained = sum(entry.get("plan_runs_trained", 0) for entry in entries)
    return sum(entry.get("train_seconds", 0.0) for entry in entries) / trained if trained else None


def central_seed_seconds(profile: str, root: Path | None = None) -> float | None:
    """What one more central seed costs on the machines that trained the committed book: its runs in
    `chapters.SEED_CHAPTERS` (`chapters.runs_per_seed`) at the mean wall seconds per run those chapters' plans took;
    None where their training has not been measured."""
    per_run = seconds_per_run(chapters.SEED_CHAPTERS, root or PROJECT_ROOT)
    return None if per_run is None else chapters.runs_per_seed(profile) * per_run


def machines(root: Path = PROJECT_ROOT, profile: str = COMMITTED_PROFILE) -> list[str]:
    """The machines (CPU model, ISA, cores) that trained the committed book's chapters, in order of first use."""
    found = []
    for entry in read_timings(root, profile).values():
        for machine in entry.get("machines", []) if isinstance(entry, dict) else []:
            if machine not in found:
                found.append(machine)
    return found


def duration_text(seconds: float | None) -> str:
    """A measured duration for prose: "40 s", "12 min", "2.4 h", or "not measured yet" for None."""
    if seconds is None:
        return "not measured yet"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def record_timing(root: Path, chapter: str, seconds: float, runs_trained: int) -> None:
    """Record what a chapter cost. A rerun that only reused finished runs does not replace the time of one
    that trained them: the file keeps what the book costs from scratch."""
    timings = read_timings(root)
    previous = timings.get(chapter)
    previous_trained = previous.get("runs_trained", 0) if isinstance(previous, dict) else None
    if runs_trained == 0 and previous is not None and previous_trained != 0:
        return
    kept = {k: v for k, v in previous.items() if k in ("train_seconds", "plan_runs_trained", "machines")} \
        if isinstance(previous, dict) else {}
    timings[chapter] = dict(kept, seconds=round(seconds, 1), runs_trained=runs_trained)
    atomic_write_json(timings_file(root), timings)


def add_training_time(root: Path, chapter: str, seconds: float, runs: int = 1,
                      profile: str = COMMITTED_PROFILE) -> None:
    """Add the wall time of training part of a chapter's plan. Called after every finished run, so that a
    plan trained over several sessions adds up (what is lost to a kill is the run in flight)."""
    timings = read_timings(root, profile)
    entry = timings.get(chapter)
    entry = dict(entry) if isinstance(entry, dict) else {}
    entry["train_seconds"] = round(entry.get("train_seconds", 0.0) + seconds, 1)
    entry["plan_runs_trained"] = entry.get("plan_runs_trained", 0) + runs
    info = cpu_info()
    machine = f"{info['model']} ({info['isa']}), {info['cores']} cores"
    machines = entry.get("machines", [])
    entry["machines"] = machines if machine in machines else [*machines, machine]  # a plan may span sessions
    timings[chapter] = entry
    atomic_write_json(timings_file(root, profile), timings)


def book_wall_seconds(root: Path = PROJECT_ROOT) -> float | None:
    """The whole cpu book's wall time: the sum of its chapters' (None until `make book` has run)."""
    timings = read_timings(root)
    return sum(chapter_seconds(entry) for entry in timings.values()) if timings else None


def cost_text(chapter: str, runs: int, root: Path = PROJECT_ROOT, profile: str = COMMITTED_PROFILE) -> str:
    """What `runs` more runs like `chapter`'s cost on the machines that trained the committed book, in words
    ("about 40 minutes on …"), from `seconds_per_run`; says so where the book's training has not been measured."""
    seconds = seconds_per_run(chapter, root, profile)
    if seconds is None:
        return f"a cost not measured yet (the {profile} book's timings have no training time for {chapter})"
    machines = "; ".join(read_timings(root, profile)[chapter].get("machines", [])) or "the machine that ran the book"
    minutes = runs * seconds / 60
    amount = f"{minutes:.0f} minutes" if minutes < 120 else f"{minutes / 60:.1f} hours"
    return f"about {amount} on {machines} ({seconds / 60:.1f} minutes per run, as the {profile} book trained them)"
