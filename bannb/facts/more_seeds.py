"""The "Try it yourself" box of chapters 05_cwtm and 06_dkpp (one helper, since both price the same thing): how
wide the chapter's widest interval is, how narrow twice the seeds would make it, the command that trains them,
and what the new runs cost."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import pandas as pd

from bannb.book.timings import cost_text
from bannb.paths import PROJECT_ROOT
from bannb.study.stats import expected_half_width


def widest(differences: Sequence) -> object | None:
    """The widest interval among the comparisons with at least two pairs (None where none has two)."""
    paired = [d for d in differences if d is not None and d.n >= 2]
    return max(paired, key=lambda d: d.half_width) if paired else None


def command_markdown(notebook: str, parameter: str, seeds: Sequence[int]):
    """The papermill command that reruns `notebook` with `parameter` set to `seeds`, as a bash block."""
    from IPython.display import Markdown  # lazily: the library is usable without the book's dependencies
    command = f'papermill book/{notebook}.ipynb out.ipynb -y "{parameter}: {list(seeds)}"'
    return Markdown(f"```bash\n{command}\n```")


def facts(frame: pd.DataFrame, differences: Sequence, seeds: Sequence[int], chapter: str,
          root: Path = PROJECT_ROOT) -> dict:
    """The box's values for `chapter` (its notebook's name), from its records `frame` (one row per run, with
    `seed` and `run_id`) and its claims' differences (`claims.difference`, None for a claim without runs): the
    widest half-width (NaN where no comparison has two pairs) and its projection at twice the seeds, the
    command, the runs a seed has, the new runs and their cost (from the timings under `root`)."""
    more_seeds = list(range(2 * len(seeds)))
    runs_per_seed = int(frame.groupby("seed")["run_id"].nunique().max())
    new_runs = runs_per_seed * len(set(more_seeds) - set(seeds))
    widest_difference = widest(differences)
    return {"widest_half_width": math.nan if widest_difference is None else float(widest_difference.half_width),
            "seed_count": len(seeds),
            "projected_half_width": math.nan if widest_difference is None
            else float(expected_half_width(widest_difference.sd, len(more_seeds))),
            "more_seeds_command": command_markdown(chapter, "seeds", more_seeds),
            "runs_per_seed": runs_per_seed, "new_runs": new_runs, "new_runs_cost": cost_text(chapter, new_runs, root)}
