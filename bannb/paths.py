"""Where the project's files live: the checkout, its data, its runs, its book. One place for every path."""
from __future__ import annotations

import os
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parents[1]
# In a checkout (an editable install) everything lives under the project's folder; elsewhere, under the working directory.
PROJECT_ROOT = _CHECKOUT if (_CHECKOUT / "_toc.yml").exists() else Path.cwd()


def book_dir(root: Path = PROJECT_ROOT) -> Path:
    """The chapters' folder of the project at `root` (a test passes a temporary project)."""
    return root / "book"


def results_dir(root: Path = PROJECT_ROOT) -> Path:
    """Measurements the book renders (benchmarks, chapter timings), committed with the chapters."""
    return book_dir(root) / "results"


DATA_DIR = PROJECT_ROOT / "data"  # datasets (or `$BANNB_DATA`), the paper's tables, the committed run records
BOOK_DIR = book_dir()
RESULTS_DIR = results_dir()


def default_runs_dir() -> Path:
    """Where finished runs are kept: `$BANNB_RUNS` if set (read at every call), else data/runs."""
    return Path(os.environ.get("BANNB_RUNS", DATA_DIR / "runs"))
