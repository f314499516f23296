"""The chapters' wall times: one owner for the file the book runner writes and the benchmark and the Performance
appendix read. Needs neither torch nor fastai."""
from __future__ import annotations

import json
from pathlib import Path

from .data.arrays import PROJECT_ROOT


def timings_file(root: Path = PROJECT_ROOT) -> Path:
    """Wall seconds per chapter of the cpu profile, committed with the chapters they timed."""
    return root / "book" / "results" / "book-timings-cpu.json"


def chapter_seconds(entry) -> float:
    """A timings entry's seconds (entries written before runs were counted are plain numbers)."""
    return entry["seconds"] if isinstance(entry, dict) else float(entry)


def read_timings(root: Path = PROJECT_ROOT) -> dict:
    path = timings_file(root)
    return json.loads(path.read_text()) if path.exists() else {}


def record_timing(root: Path, chapter: str, seconds: float, runs_trained: int) -> None:
    """Record what a chapter cost. A rerun that only reused finished runs does not replace the time of one
    that trained them: the file keeps what the book costs from scratch."""
    timings = read_timings(root)
    previous = timings.get(chapter)
    previous_trained = previous.get("runs_trained", 0) if isinstance(previous, dict) else None
    if runs_trained == 0 and previous is not None and previous_trained != 0:
        return
    timings[chapter] = dict(seconds=round(seconds, 1), runs_trained=runs_trained)
    from .runs import atomic_write_json
    atomic_write_json(timings_file(root), timings)


def book_wall_seconds(root: Path = PROJECT_ROOT) -> float | None:
    """The whole cpu book's wall time: the sum of its chapters' (None until `make book` has run)."""
    timings = read_timings(root)
    return sum(chapter_seconds(entry) for entry in timings.values()) if timings else None
