"""What the chapters share for showing results: runs into tidy tables (one row per run), mean ± std over
seeds, and the book's seaborn figures. Claims and their verdicts are `bannb.claims` and `bannb.stats`.

Errors are in percent throughout (100 × the test error of the last epoch), the paper's unit.
"""
from __future__ import annotations

import math
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

# ---------------------------------------------------------------- tidy tables


def run_records(runs: Iterable, **labels) -> pd.DataFrame:
    """One row per run: the `labels` you pass (e.g. model="BAN-1"), the base seed, test and validation
    error (%) of the last epoch, and the parameter count."""
    rows = []
    for run in runs:
        rows.append(dict(labels, seed=run.config.base_seed, dataset=run.config.dataset,
                         arch=run.config.arch, loss=run.config.loss,
                         generation=run.config.generation, test_error=100 * run.final["test_error"],
                         valid_error=100 * (1 - run.final["valid_accuracy"]), params=run.final["parameters"],
                         run_id=run.run_id))
    return pd.DataFrame(rows, columns=[*labels, "seed", "dataset", "arch", "loss", "generation", "test_error",
                                       "valid_error", "params", "run_id"])


def ensemble_records(groups: Mapping[int, Sequence] | Sequence[Sequence], **labels) -> pd.DataFrame:
    """One row per ensemble (the mean of its members' softmax outputs on the test set, Eq. 4): the labels,
    the replicate (the dict key, or the group's position), its test error (%), its members' total parameters."""
    from .generations import ensemble_accuracy
    items = groups.items() if isinstance(groups, Mapping) else enumerate(groups)
    rows = [dict(labels, seed=seed, members=len(runs), test_error=100 * (1 - ensemble_accuracy(list(runs))),
                 params=sum(run.final["parameters"] for run in runs),
                 run_id=" + ".join(run.run_id for run in runs))
            for seed, runs in items]
    return pd.DataFrame(rows, columns=[*labels, "seed", "members", "test_error", "params", "run_id"])


def metrics_records(runs: Iterable, **labels) -> pd.DataFrame:
    """Every run's per-epoch metrics (`Run.metrics()`) with the labels and base seed, and validation error in %."""
    frames = []
    for run in runs:
        frame = run.metrics()
        frame.insert(0, "seed", run.config.base_seed)
        for position, (name, value) in enumerate(labels.items()):
            frame.insert(position, name, value)
        frame["valid_error"] = 100 * (1 - frame["valid_accuracy"])
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


# ---------------------------------------------------------------- figures


def _figure(ncols: int = 1, width: float = 6.0, height: float = 3.6):
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, height), squeeze=False)
    return fig, list(axes[0])


def plot_learning_curves(metrics: pd.DataFrame, hue: str, title: str | None = None):
    """Training loss and validation error (%) per epoch, mean over seeds with a ±1 std band, one line per `hue`."""
    import seaborn as sns
    fig, (loss_ax, error_ax) = _figure(2, width=5.2)
    sns.lineplot(data=metrics, x="epoch", y="train_loss", hue=hue, errorbar="sd", marker="o", ax=loss_ax)
    sns.lineplot(data=metrics, x="epoch", y="valid_error", hue=hue, errorbar="sd", marker="o", ax=error_ax,
                 legend=False)
    loss_ax.set(ylabel="training loss (the run's own objective)")
    error_ax.set(ylabel="validation error (%)")
    for ax in (loss_ax, error_ax):
        ax.xaxis.get_major_locator().set_params(integer=True)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_errors(frame: pd.DataFrame, x: str, y: str = "test_error", hue: str | None = None,
                order: Sequence | None = None, title: str | None = None, ylabel: str = "test error (%)"):
    """Mean ± 1 std over seeds per `x` (points with error bars), with each seed's value as a dot."""
    import seaborn as sns
    fig, (ax,) = _figure(1, width=max(5.0, 0.9 * frame[x].nunique() + 2.5))
    dots = dict(color="0.45") if hue is None else dict(dodge=True)
    sns.stripplot(data=frame, x=x, y=y, hue=hue, order=order, alpha=0.45, size=5, legend=False, ax=ax, **dots)
    sns.pointplot(data=frame, x=x, y=y, hue=hue, order=order, errorbar="sd", capsize=0.15, linestyle="none",
                  dodge=0.4 if hue else False, marker="D", ax=ax)
    ax.set(xlabel="", ylabel=ylabel, title=title or "")
    ax.tick_params(axis="x", rotation=20)
    fig.tight_layout()
    return fig


def plot_gradient_terms(ground_truth, dark_knowledge, bins: int = 60, title: str | None = None):
    """Histograms of Eq. 7's two per-sample terms: q_* − p_* (ground truth) and Σ_{i≠*} (q_i − p_i) (dark knowledge)."""
    import seaborn as sns
    frame = pd.concat([
        pd.DataFrame({"value": np.asarray(ground_truth, dtype=float), "term": "ground truth: q* − p*"}),
        pd.DataFrame({"value": np.asarray(dark_knowledge, dtype=float), "term": "dark knowledge: Σ over i ≠ * of (q_i − p_i)"}),
    ], ignore_index=True)
    fig, (ax,) = _figure(1, width=7.0)
    sns.histplot(data=frame, x="value", hue="term", bins=bins, element="step", stat="count", ax=ax)
    ax.set(xlabel="per-sample gradient term (summed over its classes)", ylabel="test images", title=title or "")
    fig.tight_layout()
    return fig


def plot_paper_rows(table: pd.DataFrame, columns: Sequence[str], title: str | None = None,
                    ylabel: str = "test error (%)"):
    """One line per row of a paper table across `columns` (e.g. Table 2's Teacher → BAN-1 → BAN-2 → BAN-3)."""
    import seaborn as sns
    name = table.index.name or "row"
    long = table[list(columns)].rename_axis(name).reset_index().melt(id_vars=name, var_name="column", value_name="value")
    fig, (ax,) = _figure(1, width=max(5.0, 0.9 * len(columns) + 2.5))
    sns.pointplot(data=long, x="column", y="value", hue=name, order=list(columns), marker="o", ax=ax)
    ax.set(xlabel="", ylabel=ylabel, title=title or "")
    fig.tight_layout()
    return fig
