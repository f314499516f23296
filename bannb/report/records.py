"""Runs as tidy tables, one row per run (or ensemble): what every chapter's tables, claims and figures read.
Errors are in percent throughout (100 × the test error of the last epoch), the paper's unit.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import pandas as pd

from bannb.paths import default_runs_dir
from bannb.runs.store import Run
from bannb.study.generations import ensemble_accuracy

# ---------------------------------------------------------------- tidy tables


def run_records(runs: Iterable, **labels) -> pd.DataFrame:
    """One row per run: the `labels` you pass (e.g. model="BAN-1"), the base seed, test error, error on the test set
    and the held-out pool together (`heldout_error`; NaN for a run without a pool) and validation error (%) of the
    last epoch, and the parameter count."""
    rows = []
    for run in runs:
        rows.append(dict(labels, seed=run.config.base_seed, dataset=run.config.dataset,
                         arch=run.config.arch, loss=run.config.loss,
                         generation=run.config.generation, test_error=100 * run.final["test_error"],
                         heldout_error=100 * run.final.get("heldout_error", math.nan),
                         valid_error=100 * (1 - run.final["valid_accuracy"]), params=run.final["parameters"],
                         run_id=run.run_id))
    return pd.DataFrame(rows, columns=[*labels, "seed", "dataset", "arch", "loss", "generation", "test_error",
                                       "heldout_error", "valid_error", "params", "run_id"])


def lm_run_records(runs: Iterable, **labels) -> pd.DataFrame:
    """One row per language-model run (a `bannb.runs.store.Run` of the "lm" kind): the `labels`, the base seed, the corpus, test,
    validation and training perplexity of the last epoch (training: the clean model on every training token),
    and the parameter count."""
    rows = [dict(labels, seed=run.config.base_seed, corpus=run.config.corpus, arch=run.config.arch,
                 loss=run.config.loss, test_ppl=run.final["test_ppl"], valid_ppl=run.final["valid_ppl"],
                 train_ppl=run.final["train_ppl"], params=run.final["parameters"], run_id=run.run_id)
            for run in runs]
    return pd.DataFrame(rows, columns=[*labels, "seed", "corpus", "arch", "loss", "test_ppl", "valid_ppl", "train_ppl",
                                       "params", "run_id"])


def lm_metrics_records(runs: Iterable, **labels) -> pd.DataFrame:
    """Every language-model run's per-epoch metrics (`Run.metrics()`: train_ppl, train_probe_ppl, valid_ppl,
    lr, seconds…) with the labels and the base seed."""
    return _labelled_metrics(runs, labels)


def ensemble_records(groups: Mapping[int, Sequence] | Sequence[Sequence], **labels) -> pd.DataFrame:
    """One row per ensemble (the mean of its members' softmax outputs on the test set, Eq. 4): the labels,
    the replicate (the dict key, or the group's position), its test error (%), its members' total parameters."""
    items = groups.items() if isinstance(groups, Mapping) else enumerate(groups)
    rows = [dict(labels, seed=seed, members=len(runs), test_error=100 * (1 - ensemble_accuracy(list(runs))),
                 params=sum(run.final["parameters"] for run in runs),
                 run_id=" + ".join(run.run_id for run in runs))
            for seed, runs in items]
    return pd.DataFrame(rows, columns=[*labels, "seed", "members", "test_error", "params", "run_id"])


def record_runs(frame: pd.DataFrame, runs_dir=None) -> list:
    """The finished run (`store.Run`) of each row of a `run_records` table, in order (rows of ensembles, whose
    `run_id` joins several runs, are refused: take their members' rows)."""
    ensembles = [run_id for run_id in frame["run_id"] if " + " in run_id]
    if ensembles:
        raise ValueError(f"{len(ensembles)} rows are ensembles, not runs (e.g. {ensembles[0]})")
    folder = default_runs_dir() if runs_dir is None else runs_dir
    return [Run(folder / run_id) for run_id in frame["run_id"]]


def final_fields(frame: pd.DataFrame, fields: Sequence[str], runs_dir: Path | None = None) -> pd.DataFrame:
    """`frame` (run records) with `fields` of each run's `final.json` as columns, as recorded (fractions, nats,
    seconds, run ids). NaN where a run does not record one or records null (a teacher has no teacher), for an
    ensemble (its `run_id` joins several runs: no one record) and for a run whose folder has no `final.json`."""
    folder = Path(runs_dir) if runs_dir is not None else default_runs_dir()
    rows = []
    for run_id in frame["run_id"]:
        path = folder / str(run_id) / "final.json"
        final = json.loads(path.read_text()) if " + " not in str(run_id) and path.exists() else {}
        rows.append({name: math.nan if final.get(name) is None else final[name] for name in fields})
    return pd.concat([frame.reset_index(drop=True), pd.DataFrame(rows, columns=list(fields))], axis=1)


def metrics_records(runs: Iterable, **labels) -> pd.DataFrame:
    """Every run's per-epoch metrics (`Run.metrics()`) with the labels and base seed, and validation error in %."""
    frame = _labelled_metrics(runs, labels)
    frame["valid_error"] = 100 * (1 - frame["valid_accuracy"])
    return frame


def _labelled_metrics(runs: Iterable, labels: dict) -> pd.DataFrame:
    frames = []
    for run in runs:
        frame = run.metrics()
        frame.insert(0, "seed", run.config.base_seed)
        for position, (name, value) in enumerate(labels.items()):
            frame.insert(position, name, value)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


# ---------------------------------------------------------------- summaries


def format_mean_std(mean: float, std: float, n: int, digits: int = 2) -> str:
    """"8.12 ± 0.31" (n ≥ 2), or "8.12 (n=1)" where one value gives no spread."""
    if n < 2 or std is None or math.isnan(std):
        return f"{mean:.{digits}f} (n={n})"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def mean_std(frame: pd.DataFrame, by: str | Sequence[str], value: str = "test_error", digits: int = 2) -> pd.DataFrame:
    """Mean, sample standard deviation (ddof 1) and count of `value` per group, with a "mean ± std" column;
    groups in order of first appearance."""
    by = [by] if isinstance(by, str) else list(by)
    grouped = frame.groupby(by, sort=False)[value]
    summary = grouped.agg(mean="mean", std="std", n="count").reset_index()
    summary["mean ± std"] = [format_mean_std(m, s, n, digits) for m, s, n in
                             zip(summary["mean"], summary["std"], summary["n"])]
    return summary
