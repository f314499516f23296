"""The book's seaborn figures. Their tables come from `bannb.report.records`, what they compute first from
`bannb.report.analysis`; claims and their verdicts are `bannb.study.claims` and `bannb.study.stats`.

Errors are in percent throughout (100 × the test error of the last epoch), the paper's unit.
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import matplotlib.lines as mlines
import matplotlib.patches as mpatches
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.colors import LogNorm
from matplotlib.lines import Line2D
from matplotlib.patches import FancyBboxPatch, Patch
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter, ScalarFormatter, StrMethodFormatter
from matplotlib.transforms import blended_transform_factory

from bannb.report.analysis import lr_marks
from bannb.study.convergence import MIN_TRAIN_ACCURACY, window_length
from bannb.study.stats import MARGIN

# ---------------------------------------------------------------- figures


def _figure(ncols: int = 1, width: float = 6.0, height: float = 3.6):
    fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, height), squeeze=False)
    return fig, list(axes[0])


def plot_learning_curves(metrics: pd.DataFrame, hue: str, title: str | None = None):
    """Training loss and validation error (%) per epoch, mean over seeds with a ±1 std band, one line per `hue`."""
    fig, (loss_ax, error_ax) = _figure(2, width=5.2)
    sns.lineplot(data=metrics, x="epoch", y="train_loss", hue=hue, errorbar="sd", marker="o", ax=loss_ax)
    sns.lineplot(data=metrics, x="epoch", y="valid_error", hue=hue, errorbar="sd", marker="o", ax=error_ax,
                 legend=False)
    loss_ax.set(ylabel="training loss (the run's own objective)")
    error_ax.set(ylabel="validation error (%)")
    return _per_epoch(fig, (loss_ax, error_ax), title)


def _per_epoch(fig, axes, title: str | None):
    """A figure of per-epoch curves, finished: whole epochs on every x axis, the title above all panels."""
    for ax in axes:
        ax.xaxis.get_major_locator().set_params(integer=True)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_errors(frame: pd.DataFrame, x: str, y: str = "test_error", hue: str | None = None,
                order: Sequence | None = None, title: str | None = None, ylabel: str = "test error (%)"):
    """Mean ± 1 std over seeds per `x` (points with error bars), with each seed's value as a dot."""
    fig, (ax,) = _figure(1, width=max(5.0, 0.9 * frame[x].nunique() + 2.5))
    dots = dict(color="0.45") if hue is None else dict(dodge=True)
    sns.stripplot(data=frame, x=x, y=y, hue=hue, order=order, alpha=0.45, size=5, legend=False, ax=ax, **dots)
    sns.pointplot(data=frame, x=x, y=y, hue=hue, order=order, errorbar="sd", capsize=0.15, linestyle="none",
                  dodge=0.4 if hue else False, marker="D", ax=ax)
    ax.set(xlabel="", ylabel=ylabel, title=title or "")
    ax.tick_params(axis="x", rotation=20)
    fig.tight_layout()
    return fig


def plot_born_again_diagram(generations: int = 3):
    """The born-again sequence and its ensembles (Eq. 3-4), drawn: the teacher, trained on the labels, teaches
    BAN-1, BAN-k teaches BAN-(k+1) (same architecture, new seed, only the teacher's outputs as targets), and Ens*k
    averages the softmax outputs of BAN-1…BAN-k (k ≥ 2). One box per model, one "teaches" arrow per student, one
    bracket per ensemble."""
    if generations < 1:
        raise ValueError(f"a born-again sequence has at least one generation, got {generations}")
    names = ["Teacher"] + [f"BAN-{k}" for k in range(1, generations + 1)]
    step, width, height = 2.9, 1.5, 0.7
    ensembles = list(range(2, generations + 1))
    fig, ax = plt.subplots(figsize=(1.75 * len(names) + 2.2, 1.5 + 0.3 * len(ensembles)))
    colours = ["#4c72b0"] + ["#dd8452"] * generations
    for i, (name, colour) in enumerate(zip(names, colours)):
        ax.add_patch(FancyBboxPatch((i * step - width / 2, -height / 2), width, height,
                                    boxstyle="round,pad=0.05", facecolor=colour, edgecolor="black", alpha=0.85))
        ax.text(i * step, 0, name, ha="center", va="center", fontsize=11, color="white", weight="bold")
    ax.text(0, height / 2 + 0.25, "trained on the labels", ha="center", va="bottom", fontsize=9)
    for i in range(generations):
        ax.annotate("", xy=((i + 1) * step - width / 2 - 0.08, 0), xytext=(i * step + width / 2 + 0.08, 0),
                    arrowprops=dict(arrowstyle="-|>", lw=1.6, color="black"))
        ax.text((i + 0.5) * step, 0.12, "teaches", ha="center", va="bottom", fontsize=9)
    for row, k in enumerate(ensembles):
        y = -height / 2 - 0.35 - 0.45 * row
        ax.plot([step, k * step], [y, y], color="#55a868", lw=2)
        for member in range(1, k + 1):
            ax.plot([member * step] * 2, [y, -height / 2 - 0.08], color="#55a868", lw=0.8, ls=":")
        ax.text(generations * step + width / 2 + 0.2, y, f"Ens*{k}: mean of BAN-1…BAN-{k}", ha="left",
                va="center", fontsize=9, color="#2f6b3f")
    ax.set_xlim(-width / 2 - 0.2, generations * step + width / 2 + (3.6 if ensembles else 0.2))
    ax.set_ylim(-height / 2 - 0.2 - 0.45 * len(ensembles), height / 2 + 0.6)
    ax.set_aspect("equal")
    ax.axis("off")
    fig.tight_layout()
    return fig


def plot_class_differences(student_probs: Mapping[str, Sequence[float]], teacher_probs: Sequence[float], label: int,
                           classes: Sequence[str], title: str | None = None):
    """The BAN loss's gradient for one image, q − p per class (Eq. 5), one panel per student output in
    `student_probs` (e.g. {"start of training": q0, "end of training": q1}); the true class's bar (Eq. 7's
    ground-truth term) highlighted, the others' sum (the dark-knowledge term) in the panel's title."""
    teacher_probs = np.asarray(teacher_probs, dtype=float)
    fig, axes = _figure(len(student_probs), width=max(4.5, 0.45 * len(classes) + 1.0), height=3.4)
    positions = np.arange(len(classes))
    for ax, (name, q) in zip(axes, student_probs.items()):
        difference = np.asarray(q, dtype=float) - teacher_probs
        colours = ["#dd8452" if c == label else "#4c72b0" for c in range(len(classes))]
        ax.bar(positions, difference, color=colours)
        ax.axhline(0, color="black", lw=0.8)
        ax.set_xticks(positions, list(classes), rotation=60, ha="right", fontsize=8)
        dark = difference.sum() - difference[label]
        ax.set_title(f"{name}\nq* − p* = {difference[label]:+.3f}; Σ over i ≠ * = {dark:+.3f}", fontsize=9)
        ax.set_ylabel("$q_i - p_i$ (gradient on logit $i$)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_true_class_probability(p_star, bins: int = 50, title: str | None = None):
    """Histogram of p*, the probability given to the true class, on a log count axis: a teacher that fits puts
    most images near 1, and only a log axis shows the few it is unsure about."""
    fig, (ax,) = _figure(1, width=6.5, height=3.4)
    sns.histplot(x=np.asarray(p_star, dtype=float), bins=np.linspace(0, 1, bins + 1), ax=ax)
    ax.set_yscale("log")
    ax.set_ylim(bottom=0.7)  # from one image up, so that the axis spans whole decades
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.axvline(0.5, color="black", lw=0.8, ls="--")
    ax.set(xlabel="probability of the true class, p*", ylabel="test images (log scale)", title=title or "")
    fig.tight_layout()
    return fig


def _paper_rows(ax, table: pd.DataFrame, columns: Sequence[str], title: str | None, ylabel: str) -> None:
    name = table.index.name or "row"
    long = table[list(columns)].rename_axis(name).reset_index().melt(id_vars=name, var_name="column", value_name="value")
    sns.pointplot(data=long, x="column", y="value", hue=name, order=list(columns), marker="o", ax=ax)
    ax.set(xlabel="", ylabel=ylabel, title=title or "")


def plot_paper_rows(table: pd.DataFrame, columns: Sequence[str], title: str | None = None,
                    ylabel: str = "test error (%)"):
    """One line per row of a paper table across `columns` (e.g. Table 2's Teacher → BAN-1 → BAN-2 → BAN-3)."""
    fig, (ax,) = _figure(1, width=max(5.0, 0.9 * len(columns) + 2.5))
    _paper_rows(ax, table, columns, title, ylabel)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------- convergence and generations

ERROR_FLOOR = 0.05  # where a log axis of error (%) draws a zero error


def _mark_lr(ax, marks: dict) -> None:
    transform = ax.get_xaxis_transform()  # x in data, y in axes fraction
    if marks["kind"] == "cycle" and marks["peak"] is not None:
        ax.axvline(marks["peak"], color="0.3", linestyle="--", linewidth=1)
        ax.text(marks["peak"], 0.02, " lr peak, then annealing →", transform=transform, fontsize=8, va="bottom",
                color="0.3")
    if marks.get("hold") is not None:
        ax.axvline(marks["hold"], color="0.3", linestyle="-.", linewidth=1)
        ax.text(marks["hold"], 0.10, " lr held →", transform=transform, fontsize=8, va="bottom", color="0.3")
    for x in marks["drops"]:
        ax.axvline(x, color="0.3", linestyle="--", linewidth=1)
        ax.text(x, 0.02, " lr drop", transform=transform, fontsize=8, va="bottom", color="0.3")


def plot_fit_curves(metrics: pd.DataFrame, hue: str = "seed", title: str | None = None,
                    min_train_accuracy: float | None = None):
    """How runs fit: per epoch, the error (%) on the clean training probe (dashed) and on the validation split
    (solid), one colour per `hue` (mean ± sd where a hue has several runs), on a log axis so that the end of
    training stays readable, with the learning rate of the first `hue` group (grey, right axis) and its peak or
    drops marked (`lr_marks`); the last fifth of training is shaded, and drawn again on its own in a second
    panel (validation error, linear axis), the window the convergence criterion reads. A zero error is drawn at
    `ERROR_FLOOR`. `min_train_accuracy` (default the criterion's) is drawn as the training error allowed."""
    threshold = MIN_TRAIN_ACCURACY if min_train_accuracy is None else min_train_accuracy
    frame = metrics.copy()
    frame["clean training probe"] = 100 * (1 - frame["train_probe_accuracy"])
    frame["validation"] = 100 * (1 - frame["valid_accuracy"])
    long = frame.melt(id_vars=["epoch", hue], value_vars=["validation", "clean training probe"], var_name="split",
                      value_name="error (%)")
    long["error (%)"] = long["error (%)"].clip(lower=ERROR_FLOOR)
    long[hue] = long[hue].astype(str)
    order = list(dict.fromkeys(long[hue]))
    fig, (whole, end) = _figure(2, width=5.4)
    sns.lineplot(data=long, x="epoch", y="error (%)", hue=hue, hue_order=order, style="split",
                 style_order=["validation", "clean training probe"], errorbar="sd", ax=whole)
    whole.set_yscale("log")
    whole.axhline(100 * (1 - threshold), color="0.5", linestyle=":", linewidth=1)
    whole.text(0.99, 100 * (1 - threshold), f"training error allowed: {100 * (1 - threshold):g}%", fontsize=8,
               va="bottom", ha="right", color="0.4", transform=whole.get_yaxis_transform())
    epochs = np.sort(frame["epoch"].unique())
    window = epochs[-window_length(len(epochs)):]
    whole.axvspan(window[0], window[-1], color="0.92", zorder=0)
    first = frame[frame[hue].astype(str) == order[0]].groupby("epoch")["lr"].first()
    lr_ax = whole.twinx()
    lr_ax.plot(first.index, first.values, color="0.6", linewidth=1)
    lr_ax.set_ylabel("learning rate", color="0.5")
    lr_ax.tick_params(axis="y", colors="0.5")
    _mark_lr(whole, lr_marks(first.values, first.index))
    whole.set(ylabel=f"error (%, log; 0 drawn at {ERROR_FLOOR:g})", title="whole run")
    handles, labels = whole.get_legend_handles_labels()
    whole.get_legend().remove()
    tail = long[(long["split"] == "validation") & long["epoch"].isin(window)]
    sns.lineplot(data=tail, x="epoch", y="error (%)", hue=hue, hue_order=order, errorbar="sd", marker="o",
                 ax=end, legend=False)
    end.set(ylabel="validation error (%)", title="the last fifth (and the epoch before)")
    end.legend(handles, labels, fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1), frameon=False)
    return _per_epoch(fig, (whole, end), title)


def plot_regime_study(records: pd.DataFrame, min_train_accuracy: float | None = None):
    """The regime study (`experiments.regime_records`), one row per candidate regime and four panels: clean
    training accuracy against the criterion's threshold, the change of validation error over the last fifth
    (a tick marks the largest drop the criterion allows: a bar left of it fails), test error and training
    minutes. Bars are coloured by whether the candidate's teacher meets the criterion."""
    threshold = MIN_TRAIN_ACCURACY if min_train_accuracy is None else min_train_accuracy
    colours = ["C2" if converged else "C3" for converged in records["converged"]]
    y = np.arange(len(records))
    fig, axes = _figure(4, width=3.0, height=0.45 * len(records) + 1.6)
    accuracy, change, error, minutes = axes
    accuracy.barh(y, records["train_accuracy"], color=colours)
    low = min(float(records["train_accuracy"].min()), 100 * threshold)
    accuracy.set_xlim(max(0.0, low - 0.5 * (100 - low) - 0.5), 100)
    accuracy.axvline(100 * threshold, color="0.3", linestyle=":")
    accuracy.set(xlabel="clean training accuracy (%)", yticks=y, yticklabels=records["candidate"])
    change.barh(y, records["last_fifth_change"], color=colours)
    change.scatter(-records["allowed_drop"], y, marker="|", s=200, color="0.2", zorder=3)
    change.axvline(0, color="0.5", linewidth=0.8)
    change.set(xlabel="validation error change,\nlast fifth (points)")
    error.barh(y, records["test_error"], color=colours)
    error.set(xlabel="test error (%)")
    minutes.barh(y, records["train_minutes"], color=colours)
    minutes.set(xlabel="training minutes")
    for ax in axes:
        ax.invert_yaxis()
        if ax is not accuracy:
            ax.set_yticks(y, labels=[])
    fig.legend(handles=[Patch(color="C2", label="meets the criterion"), Patch(color="C3", label="does not")],
               loc="upper center", ncol=2, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    return fig


# What each x of `plot_student_differences` shows.
STUDENT_AXES = {
    "teacher_train_targets_wrong": "teacher's training targets that are wrong (%)",
    "test_agreement_with_teacher": "student's test agreement with its teacher (%)",
    "teacher_train_accuracy": "the teacher's clean training accuracy (%)",
}


def plot_student_differences(records: pd.DataFrame, x: Sequence[str] = ("teacher_train_targets_wrong",
                                                                       "test_agreement_with_teacher"),
                             hue: str = "model", title: str | None = None, min_train_accuracy: float | None = None):
    """Each student against its own teacher (`convergence.teacher_pairs` or `student_fit_records`): the paired
    difference student − teacher in test error (points; below 0: the student is better; the grey line is 0), one
    marker per student coloured by `hue`, against each column of `x` in a panel of its own (`STUDENT_AXES`). Against
    the teacher's training accuracy, the convergence criterion's (`min_train_accuracy`, default
    `convergence.MIN_TRAIN_ACCURACY`) is the dotted line."""
    threshold = 100 * (MIN_TRAIN_ACCURACY if min_train_accuracy is None else min_train_accuracy)
    fig, axes = _figure(len(x), width=4.6 if len(x) > 1 else 6.4, height=3.6 if len(x) > 1 else 3.8)
    for position, (ax, column) in enumerate(zip(axes, x)):
        sns.scatterplot(data=records, x=column, y="difference", hue=hue, style=hue, s=60, ax=ax,
                        legend=position == len(x) - 1)
        ax.axhline(0, color="0.5", linewidth=0.8)
        if column == "teacher_train_accuracy":
            ax.axvline(threshold, color="0.3", linestyle=":", linewidth=1)
        ax.set(xlabel=STUDENT_AXES.get(column, column), ylabel="student − its teacher: test error (points)")
    if axes[-1].get_legend() is not None:
        sns.move_legend(axes[-1], "upper left", bbox_to_anchor=(1.01, 1), title="student", fontsize=8, frameon=False)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _plain_log_ticks(ax) -> None:
    """Label a log y axis in plain numbers at 1, 2 and 5 of each decade (…, 0.5, 1, 2, 5, 10, 20, …)."""
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.yaxis.set_minor_formatter(FuncFormatter(lambda value, _: ""))


def plot_last_epochs(metrics: pd.DataFrame, hue: str, fraction: float = 0.2, title: str | None = None,
                     style: str | None = None):
    """Every model's training, with its end readable: clean training error and validation error (%) per epoch on
    log axes (mean over seeds, ±1 std band, one line per `hue`, dashed by `style` where that column has several
    values), then the validation error of the last `fraction` of training (and the epoch before it) on a linear
    axis. Dashed lines: the schedule's peak or drops (`lr_marks`, of the mean learning rate per epoch). `metrics`
    is `metrics_records`' table (it needs `train_probe_accuracy`)."""
    frame = metrics.assign(train_error=100 * (1 - metrics["train_probe_accuracy"]))
    style = style if style is not None and frame[style].nunique() > 1 else None
    palette = "tab10" if frame[hue].nunique() <= 10 else None
    last = int(frame["epoch"].max())
    start = max(int(frame["epoch"].min()), last - math.ceil(fraction * last))
    fig, axes = _figure(3, width=4.4, height=3.6)
    panels = ((axes[0], frame, "train_error", "clean training error (%), log"),
              (axes[1], frame, "valid_error", "validation error (%), log"),
              (axes[2], frame[frame["epoch"] >= start], "valid_error",
               f"validation error (%), epochs {start}–{last}"))
    for position, (ax, data, y, label) in enumerate(panels):
        sns.lineplot(data=data, x="epoch", y=y, hue=hue, style=style, palette=palette, errorbar="sd", marker="o",
                     markersize=4, dashes=style is not None, ax=ax, legend=position == 2)
        ax.set(ylabel=label, xlabel="epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
    positive = pd.concat([frame["train_error"], frame["valid_error"]])
    positive = positive[positive > 0]
    for ax in axes[:2]:
        ax.set_yscale("log")
        _plain_log_ticks(ax)
        if not positive.empty:  # a run that fits its training set reaches 0 errors, which a log axis cannot show
            ax.set_ylim(bottom=0.8 * positive.min())
    lr = frame.groupby("epoch")["lr"].mean().sort_index()
    marks = lr_marks(lr.values, lr.index)
    for ax in axes[:2]:
        _mark_lr(ax, marks)
    _mark_lr(axes[2], dict(marks, peak=marks["peak"] if (marks["peak"] or 0) >= start else None,
                           drops=[x for x in marks["drops"] if x >= start]))
    axes[2].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize="small")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_lm_curves(metrics: pd.DataFrame, hue: str = "model", order: Sequence[str] | None = None,
                   title: str | None = None):
    """Language-model learning curves from `lm_metrics_records`' table, in two panels. Left, every epoch on a log
    axis: validation perplexity (solid, mean over seeds with a ±1 std band) and the clean model's perplexity on
    a fixed slice of the training text (dashed), one colour per `hue`. Right: validation perplexity over the last
    ⌈epochs/5⌉ epochs and the one before, each seed a thin line, so that the end of training is readable. In both,
    a triangle marks each run's first epoch at a lowered learning rate (the plateau rule's drops)."""
    order = list(order) if order is not None else list(dict.fromkeys(metrics[hue]))
    colours = dict(zip(order, sns.color_palette(n_colors=len(order))))
    fig, (all_ax, end_ax) = _figure(2, width=5.4)
    epochs = int(metrics["epoch"].max())
    start = max(1, epochs - math.ceil(epochs / 5))
    sns.lineplot(data=metrics, x="epoch", y="valid_ppl", hue=hue, hue_order=order, palette=colours, errorbar="sd",
                 marker="o", ax=all_ax)
    sns.lineplot(data=metrics, x="epoch", y="train_probe_ppl", hue=hue, hue_order=order, palette=colours,
                 errorbar=None, linestyle="--", legend=False, ax=all_ax)
    end = metrics[metrics["epoch"] >= start]
    for (label, seed), rows in end.groupby([hue, "seed"], sort=False):
        end_ax.plot(rows["epoch"], rows["valid_ppl"], color=colours[label], linewidth=1, alpha=0.8, marker=".")
    ordered = metrics.sort_values([hue, "seed", "epoch"])
    dropped = ordered[ordered["lr"] < ordered.groupby([hue, "seed"])["lr"].shift(1)]
    for ax, rows in ((all_ax, dropped), (end_ax, dropped[dropped["epoch"] >= start])):
        ax.scatter(rows["epoch"], rows["valid_ppl"], marker="v", s=60, color=[colours[m] for m in rows[hue]],
                   edgecolor="black", zorder=5, gid="lr-drops",
                   label="first epoch at a lower lr" if ax is all_ax and len(rows) else None)
    all_ax.set_yscale("log")
    for axis in (all_ax.yaxis.set_major_formatter, all_ax.yaxis.set_minor_formatter):
        axis(StrMethodFormatter("{x:g}"))  # 200, 300 rather than 2 × 10²
    all_ax.set(ylabel="perplexity (log scale)",
               title="validation (solid) and training slice (dashed)")
    end_ax.set(xlabel="epoch", ylabel="validation perplexity", title=f"epochs {start}-{epochs}, one line per seed")
    all_ax.legend(fontsize="small")
    for ax in (all_ax, end_ax):
        ax.xaxis.get_major_locator().set_params(integer=True)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_against_floor(frame: pd.DataFrame, floor: str, y: str = "model", x: str = "test_error",
                       order: Sequence | None = None, title: str | None = None):
    """Every model's test error (one row each: each seed a dot, the mean ± 1 std a diamond) against the floor, the
    model `floor` of column `y` (a linear classifier): its mean as a vertical line in a ±1 std band. Models whose
    mean error is not below the floor's are drawn in red and marked "does not beat" in the legend."""
    floor_values = frame.loc[frame[y] == floor, x]
    if floor_values.empty:
        raise ValueError(f"no rows of the floor {floor!r} in column {y!r}")
    others = frame[frame[y] != floor]
    order = list(order) if order is not None else list(dict.fromkeys(others[y]))
    means = others.groupby(y)[x].mean()
    floor_mean, floor_std = floor_values.mean(), floor_values.std() if len(floor_values) > 1 else 0.0
    palette = {label: ("tab:red" if means[label] >= floor_mean else "tab:blue") for label in order}
    fig, (ax,) = _figure(1, width=8.5, height=max(2.5, 0.42 * len(order) + 1.2))
    ax.axvspan(floor_mean - floor_std, floor_mean + floor_std, color="0.85", zorder=0)
    ax.axvline(floor_mean, color="0.35", linestyle="--", zorder=1)
    sns.stripplot(data=others, x=x, y=y, order=order, hue=y, palette=palette, alpha=0.5, size=5, legend=False, ax=ax)
    sns.pointplot(data=others, x=x, y=y, order=order, hue=y, palette=palette, errorbar="sd", capsize=0.2,
                  linestyle="none", marker="D", legend=False, ax=ax)
    handles = [mlines.Line2D([], [], color="tab:blue", marker="D", linestyle="none", label="beats the floor"),
               mlines.Line2D([], [], color="tab:red", marker="D", linestyle="none", label="does not beat the floor"),
               mlines.Line2D([], [], color="0.35", linestyle="--", label=f"{floor}: mean"),
               mpatches.Patch(color="0.85", label=f"{floor}: ± 1 std")]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize="small")
    ax.set(xlabel="test error (%)", ylabel="", title=title or "")
    fig.tight_layout()
    return fig


VERDICT_COLORS = {"holds": "tab:green", "does not hold": "tab:red", "no effect of the paper's size": "tab:blue",
                  "inconclusive": "tab:orange"}


def _table_order(name: str) -> tuple:
    return (1, 0) if name == "ours" else (0, int(name.split()[-1])) if name.split()[-1].isdigit() else (0, 99)


def plot_claims_forest(claims: pd.DataFrame, title: str | None = None):
    """A forest plot of `claims.evaluate`'s table: one row per claim ("b − a"), one panel per table of the paper
    (our own controls last, under "ours"). Our paired mean difference is a dot with its 95% CI, coloured by the
    verdict (written at the right); the paper's mean difference over its printed rows is a hollow black diamond;
    the grey band is ±the rule's margin, the line zero. A claim without runs reads "not run". Panels share the x
    axis of their unit (the table's `unit` column where it has one, e.g. perplexity for language models; test
    error in points otherwise) and take the margin from its `margin` column (`stats.MARGIN` otherwise)."""
    claims = claims.assign(unit=claims["unit"] if "unit" in claims else "points of error",
                           margin=claims["margin"] if "margin" in claims else MARGIN)
    groups = sorted(claims["table"].unique(), key=_table_order)
    sizes = [int((claims["table"] == group).sum()) for group in groups]
    units = [claims.loc[claims["table"] == group, "unit"].iloc[0] for group in groups]
    fig, axes = plt.subplots(len(groups), 1, squeeze=False, layout="constrained",
                             figsize=(9.0, 1.0 + 0.34 * sum(sizes) + 0.4 * len(groups) + 0.5 * (len(set(units)) - 1)),
                             gridspec_kw=dict(height_ratios=[size + 0.6 for size in sizes]))
    axes = list(axes[:, 0])
    for index, (ax, group, unit) in enumerate(zip(axes, groups, units)):
        first = units.index(unit)
        if first != index:
            ax.sharex(axes[first])
        rows = claims[claims["table"] == group].reset_index(drop=True)
        y = np.arange(len(rows))[::-1]
        margin = float(rows["margin"].iloc[0])
        ax.axvspan(-margin, margin, color="0.92", zorder=0)
        ax.axvline(0, color="0.3", linewidth=0.8, zorder=1)
        right = blended_transform_factory(ax.transAxes, ax.transData)
        for position, row in zip(y, rows.itertuples()):
            color = VERDICT_COLORS.get(row.verdict, "0.5")
            if row.n == 0 or not np.isfinite(row.mean):
                ax.text(0, position, "not run", ha="center", va="center", fontsize=8, color="0.35", style="italic")
                ax.text(1.01, position, "not run", transform=right, va="center", fontsize=8, color="0.35")
                continue
            if np.isfinite(row.ci_low):
                ax.plot([row.ci_low, row.ci_high], [position, position], color=color, linewidth=2.2,
                        solid_capstyle="butt", zorder=2)
            ax.plot(row.mean, position, "o", color=color, markersize=6, zorder=3)
            ax.text(1.01, position, row.verdict, transform=right, va="center", fontsize=8, color=color)
        paper = rows["paper_mean"].to_numpy(dtype=float)
        shown = np.isfinite(paper)
        ax.plot(paper[shown], y[shown], "D", markerfacecolor="none", markeredgecolor="black", markersize=6, zorder=4)
        ax.set_yticks(y, [f"{row.b} − {row.a}" for row in rows.itertuples()], fontsize=8)
        ax.set_ylim(-0.7, len(rows) - 0.3)
        ax.set_title("our controls (not in the paper)" if group == "ours" else f"the paper's {group}",
                     fontsize=9, loc="left")
        last_of_unit = index == len(axes) - 1 or unit not in units[index + 1:]
        ax.tick_params(labelbottom=last_of_unit)
        if last_of_unit:
            ax.set_xlabel(f"b − a in {unit} (left of 0: b is better)")
    run = claims[claims["n"] > 0]
    handles = [Line2D([], [], marker="o", color=color, linewidth=2.2, label=f"ours, 95% CI: {verdict}")
               for verdict, color in VERDICT_COLORS.items() if verdict in set(run["verdict"])]
    handles += [Line2D([], [], marker="D", linestyle="none", markerfacecolor="none", markeredgecolor="black",
                       label="the paper (mean over its rows)"),
                Patch(color="0.92", label="± the rule's margin")]
    fig.legend(handles=handles, loc="outside lower center", ncol=3, fontsize=8, frameon=False)
    if title:
        fig.suptitle(title)
    return fig


def plot_class_heatmap(means, title: str | None = None, floor: float = 1e-4):
    """The mean output per true class (`class_mean_outputs`) as a heatmap on a log colour scale, so that the dark
    knowledge off the diagonal shows; each cell annotated in percent (blank below 0.05%). `means` is one such
    table, or a mapping {panel title: table} drawn side by side on one shared colour scale (e.g. a teacher's
    outputs before and after DKPP's permutation)."""
    panels = dict(means) if isinstance(means, Mapping) else {title or "": means}
    first = next(iter(panels.values()))
    cell = 0.5  # inches per cell
    width = cell * first.shape[1] * len(panels) + 0.4 * (len(panels) - 1) + 2.6  # + class names and the colour bar
    fig, axes = plt.subplots(1, len(panels) + 1, figsize=(width, cell * first.shape[0] + 2.0), layout="constrained",
                             gridspec_kw=dict(width_ratios=[1] * len(panels) + [0.05]))
    for position, (ax, (name, table)) in enumerate(zip(axes, panels.items())):
        values = table.to_numpy(dtype=float)
        annotations = np.where(100 * values >= 0.05, np.char.mod("%.1f", 100 * values), "")
        last = position == len(panels) - 1
        sns.heatmap(table.clip(lower=floor), norm=LogNorm(vmin=floor, vmax=1), annot=annotations, fmt="",
                    annot_kws=dict(fontsize=7), cmap="viridis", ax=ax, cbar=last, cbar_ax=axes[-1] if last else None,
                    cbar_kws=dict(label="mean probability (log scale)") if last else None)
        ax.set(xlabel="output class", ylabel="true class" if position == 0 else "", title=name)
        if position:
            ax.set_yticklabels([])
        ax.tick_params(axis="y", rotation=0)
    if isinstance(means, Mapping) and title:
        fig.suptitle(title)
    return fig


def plot_step_speedups(steps: pd.DataFrame, machines: pd.DataFrame, labels: Sequence[str] | None = None):
    """Speed-up of bannb's step over the plain fp32 loop, per precision candidate (bars) and case (rows), one panel
    per CPU type (`bench.steps_table` and `bench.machines_table`). The black line is the plain loop (1×), the purple
    dotted one the CPU's bf16/fp32 matmul peak ratio (what a compute-bound step can gain from bf16 at most); auto's
    pick has a black edge. Candidates not measured on a CPU have no bar; one given up (far slower) reads "gave up"."""
    labels = list(labels or ["fp32", "fp32+channels-last", "bf16", "bf16+channels-last"])
    cpus = list(dict.fromkeys(steps["CPU"]))
    cases = list(dict.fromkeys(steps["case"]))
    colors = dict(zip(labels, plt.get_cmap("tab10").colors))
    fig, axes = plt.subplots(1, len(cpus), figsize=(4.6 * len(cpus) + 1.5, 0.2 * len(cases) * len(labels) + 1.6),
                             sharey=True, squeeze=False, layout="constrained")
    height = 0.8 / len(labels)
    for ax, cpu in zip(axes[0], cpus):
        rows = steps[steps["CPU"] == cpu].set_index("case")
        for position, case in enumerate(cases):
            if case not in rows.index:
                continue
            row = rows.loc[case]
            for k, label in enumerate(labels):
                y = position - 0.4 + height * (k + 0.5)
                ms = row[label]
                if np.isnan(ms):
                    continue
                if np.isinf(ms):
                    ax.text(0.02, y, "gave up", va="center", fontsize=7, color=colors[label])
                    continue
                picked = label == row["auto picks"]
                ax.barh(y, row["plain fp32 loop"] / ms, height=height, color=colors[label],
                        edgecolor="black" if picked else "none", linewidth=1.2 if picked else 0)
        ratio = machines.set_index("CPU").loc[cpu, "bf16 / fp32"]
        ax.axvline(1.0, color="black", linewidth=1)
        ax.axvline(ratio, color="tab:purple", linestyle=":", linewidth=1.8)
        ax.set_title(cpu, fontsize=9)
        ax.set_xlabel("speed-up over the plain fp32 loop (×)")
    axes[0][0].set_yticks(range(len(cases)), cases, fontsize=8)
    axes[0][0].invert_yaxis()
    handles = [plt.Rectangle((0, 0), 1, 1, color=colors[label]) for label in labels]
    handles += [plt.Rectangle((0, 0), 1, 1, facecolor="white", edgecolor="black"),
                plt.Line2D([], [], color="tab:purple", linestyle=":")]
    fig.legend(handles, [*labels, "auto's pick (black edge)", "bf16/fp32 matmul peak ratio"],
               loc="outside lower center", ncol=3, fontsize=8, frameon=False)
    return fig


def plot_relative_changes(frame: pd.DataFrame, baseline: str, order: Sequence[str], value: str = "test_ppl",
                          paper: Mapping[str, Sequence[float]] | None = None, ylabel: str | None = None,
                          title: str | None = None):
    """Each model's change of `value` against the `baseline` model of the same seed, in % of the baseline's: one
    dot per seed and a bar at the mean, per model of `order`; the paper's own changes (`paper`: {model: [% …]},
    e.g. Table 6's rows) as crosses beside them. Relative changes put runs of another scale (another corpus,
    another perplexity) on the paper's axis."""
    wide = frame.pivot_table(index="seed", columns="model", values=value)
    fig, (ax,) = _figure(1, width=max(4.5, 1.3 * len(order) + 2.5))
    ax.axhline(0, color="0.5", linewidth=1)
    for position, model in enumerate(order):
        change = (100 * (wide[model] / wide[baseline] - 1)).dropna()
        offsets = np.linspace(-0.08, 0.08, len(change)) if len(change) > 1 else np.zeros(len(change))
        ax.scatter(position + offsets, change, color="C0", alpha=0.7, gid="seeds",
                   label="ours, one dot per seed" if position == 0 else None)
        if len(change):
            ax.hlines(change.mean(), position - 0.2, position + 0.2, color="C0", linewidth=2.5)
        if paper and model in paper:
            ax.scatter([position + 0.3] * len(paper[model]), paper[model], marker="x", s=60, color="C3",
                       gid="paper", label="the paper" if not any(m in paper for m in order[:position]) else None)
    ax.set_xticks(range(len(order)), list(order))
    ax.set_xlim(-0.6, len(order) - 0.4)
    ax.set(ylabel=ylabel or f"change of {value} against {baseline} (%)", title=title or "")
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def plot_soft_targets(probs, labels, classes: Sequence[str], indices: Sequence[int], images=None,
                      title: str | None = None, log: bool = True):
    """Soft targets as bars for a few test images, one panel per image: a bar per class, the true class
    highlighted, its p* in the panel's title. `probs` is an N×C array (one distribution per image, e.g. the
    teacher's), or a mapping {name: N×C array} to set several distributions of the same images side by side in
    each panel (e.g. {"teacher": p, "permuted (DKPP)": p'}): one colour per name, the true class's name in bold.
    `images` (N×C×H×W, the rows of `probs`) adds each image above its bars. On a log axis (the default) the dark
    knowledge, the small probabilities of the wrong classes, shows next to the true class's."""
    sources = {name: np.asarray(p, dtype=float) for name, p in probs.items()} if isinstance(probs, Mapping) \
        else {None: np.asarray(probs, dtype=float)}
    labels = np.asarray(labels)
    n, rows, several = len(indices), 1 if images is None else 2, len(sources) > 1 or isinstance(probs, Mapping)
    panel_width = 2.7 + (2.0 if several else 0)
    fig, axes = plt.subplots(rows, n, figsize=(panel_width * n + 0.9, 3.0 + 1.6 * (rows - 1)), squeeze=False,
                             gridspec_kw=dict(height_ratios=[1, 1.9]) if rows == 2 else None)
    positions = np.arange(len(classes))
    floor = 1e-5 if log else 0.0
    palette = ["#4c72b0", "#dd8452", "#55a868", "#c44e52"]
    for column, index in enumerate(indices):
        ax, label = axes[-1][column], labels[index]
        thickness = 0.8 / len(sources)
        for s, (name, values) in enumerate(sources.items()):
            if several:
                colours = palette[s % len(palette)]
                offset = (s - (len(sources) - 1) / 2) * thickness
            else:
                colours = ["#dd8452" if c == label else "#8c8c8c" for c in range(len(classes))]
                offset = 0.0
            ax.barh(positions + offset, np.maximum(values[index], floor) - floor, left=floor, color=colours,
                    height=thickness, label=name)
        if log:
            ax.set_xscale("log")
            ax.set_xlim(floor, 1.5)
        else:
            ax.set_xlim(0, 1)
        ax.set_yticks(positions, list(classes) if column == 0 else [""] * len(classes))
        if several and column == 0:
            ax.get_yticklabels()[label].set_fontweight("bold")
        ax.invert_yaxis()
        p_star = " / ".join(f"{values[index, label]:.2f}" for values in sources.values())
        ax.set_title(f"true: {classes[label]}, p* = {p_star}", fontsize=9)
        ax.set_xlabel("probability" + (" (log)" if log else ""), fontsize=8)
        ax.tick_params(labelsize=8)
        if images is not None:
            image = np.asarray(images[index])
            image_ax = axes[0][column]
            image_ax.imshow(image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0),
                            cmap="gray_r" if image.shape[0] == 1 else None)
            image_ax.axis("off")
    if several:
        axes[-1][-1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1), frameon=False)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_paired_seeds(frame: pd.DataFrame, order: Sequence[str], value: str = "test_error",
                      title: str | None = None, ylabel: str = "test error (%)", paper: pd.DataFrame | None = None,
                      paper_title: str | None = None):
    """Paired runs drawn as pairs: one thin line per seed through its models in `order` (a student and its own
    teacher share a seed; a seed without a model skips it), and the mean over seeds as black diamonds. A seed's
    slope between two models is its paired difference; lines that run parallel show differences more consistent
    than the spread of seeds. Beside it, if `paper` is given, the paper's rows across the columns of `order` it
    has (`plot_paper_rows`), on their own axis."""
    table = frame[frame["model"].isin(order)].pivot_table(index="seed", columns="model", values=value)
    table = table.reindex(columns=list(order))
    panels = 2 if paper is not None else 1
    fig, axes = _figure(panels, width=max(4.5, 1.1 * len(order) + 2.0))
    ax = axes[-1]
    x = np.arange(len(order))
    colours = plt.get_cmap("tab10")
    for position, (seed, row) in enumerate(table.iterrows()):
        shown = row.notna().to_numpy()
        ax.plot(x[shown], row.to_numpy()[shown], marker="o", markersize=3.5, linewidth=1, alpha=0.6,
                color=colours(position % 10), label=f"seed {seed}")
    ax.plot(x, table.mean().to_numpy(), "D", color="black", markersize=7, label="mean", zorder=3)
    ax.set_xticks(x, list(order))
    ax.set(ylabel=ylabel, title=title or "")
    ax.legend(fontsize=7, ncol=2 if len(table) > 6 else 1, loc="center left", bbox_to_anchor=(1.01, 0.5))
    if paper is not None:
        _paper_rows(axes[0], paper, [c for c in order if c in paper.columns], paper_title or "the paper", ylabel)
    fig.tight_layout()
    return fig


def plot_cwtm_weights(relative_weights, teacher_right, bins: int = 40, title: str | None = None):
    """Histogram of CWTM's per-sample weights (Eq. 10) times the batch size, so that 1 is what every sample would get
    under plain cross-entropy, split by whether the teacher's top class is right; counts on a log axis, since a
    teacher that fits puts nearly every image at the top."""
    frame = pd.DataFrame({"weight": np.asarray(relative_weights, dtype=float),
                          "teacher": np.where(np.asarray(teacher_right, dtype=bool), "teacher right", "teacher wrong")})
    fig, (ax,) = _figure(1, width=6.5, height=3.4)
    sns.histplot(data=frame, x="weight", hue="teacher", hue_order=["teacher right", "teacher wrong"], bins=bins,
                 multiple="stack", ax=ax)
    ax.set_yscale("log")
    ax.axvline(1, color="black", lw=0.8, ls="--")
    ax.set(xlabel="CWTM weight × batch size (1: plain cross-entropy's weight)", ylabel="test images (log scale)",
           title=title or "")
    fig.tight_layout()
    return fig


def plot_ensemble_sizes(frame: pd.DataFrame, families: Mapping[str, Sequence[str]], value: str = "test_error",
                        title: str | None = None, ylabel: str = "test error (%)", dashed: Sequence[str] = ()):
    """Test error against ensemble size, one line per family of models: `families` maps a family's name to its
    model labels for sizes 1, 2, 3… (e.g. {"born-again": ["BAN-1", "Ens*2", "Ens*3"], "independent teachers":
    ["Teacher", "Teachers×2", "Teachers×3"]}). Mean ± 1 std over replicates, each replicate as a dot; the families
    named in `dashed` (a reference that is no ensemble, say) are drawn dashed."""
    fig, ax = plt.subplots(figsize=(6.0, 3.8))
    width = 0.1 * (len(families) - 1)
    for position, (name, labels) in enumerate(families.items()):
        offset = position * 0.1 - width / 2
        sizes, means, stds = [], [], []
        for size, label in enumerate(labels, start=1):
            values = frame.loc[frame["model"] == label, value].to_numpy(dtype=float)
            if len(values) == 0:
                continue
            sizes.append(size)
            means.append(values.mean())
            stds.append(values.std(ddof=1) if len(values) > 1 else 0.0)
            ax.scatter(np.full(len(values), size + offset), values, s=12, alpha=0.45, color=f"C{position}")
        ax.errorbar(np.array(sizes) + offset, means, yerr=stds, marker="D", capsize=3, color=f"C{position}",
                    label=name, linestyle="--" if name in dashed else "-")
    longest = max(len(labels) for labels in families.values())
    ax.set_xticks(range(1, longest + 1))
    ax.set(xlabel="models in the ensemble (1: a single model)", ylabel=ylabel, title=title or "")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_gain_against_mass(points: pd.DataFrame, fit: Mapping, table: pd.DataFrame | None = None,
                           title: str | None = None):
    """The map's answer to *when*: one dot per seed and cell, BAN-1's gain over its own teacher (points; above 0 the
    student is better) against the teacher's mass outside its top class on the student's views (%), coloured by
    cell; each cell's mean gain with its 95% interval as a bar at the cell's mean mass; the pooled least-squares line
    (`regimes.gain_regression`: slope, its interval in the legend). `points`: `regimes.gain_points`."""
    fig, axes = _figure(width=7.0, height=4.2)
    ax = axes[0]
    cells = list(dict.fromkeys(points["cell"]))
    palette = dict(zip(cells, sns.color_palette("colorblind", len(cells))))
    for cell in cells:
        mine = points[points["cell"] == cell]
        ax.scatter(mine["mass"], mine["gain"], s=28, alpha=0.7, color=palette[cell], label=cell)
    if table is not None:
        for _, row in table.iterrows():
            if not math.isnan(row["ban_minus_teacher_low"]):
                # the table's difference is BAN-1 − teacher; the axis is the gain, teacher − BAN-1
                mean, low, high = (row[f"ban_minus_teacher_{key}"] for key in ("mean", "low", "high"))
                ax.errorbar(row["mass_seen"], -mean, yerr=[[high - mean], [mean - low]],
                            fmt="D", color=palette.get(row["cell"], "black"), markeredgecolor="black",
                            markersize=7, capsize=4, zorder=3)
    if not math.isnan(fit["slope"]):
        xs = np.linspace(points["mass"].min(), points["mass"].max(), 50)
        ax.plot(xs, fit["intercept"] + fit["slope"] * xs, color="black", linewidth=1.2,
                label=f"least squares: {10 * fit['slope']:+.2f} points per 10 points of mass\n"
                      f"(95% CI {10 * fit['low']:+.2f} to {10 * fit['high']:+.2f}, n = {fit['n']})")
    ax.axhline(0, color="grey", linewidth=0.8, linestyle=":")
    for edge in (-MARGIN, MARGIN):
        ax.axhline(edge, color="grey", linewidth=0.6, linestyle="--")
    ax.set(xlabel="teacher's mass outside its top class on the student's views (%)",
           ylabel="teacher − BAN-1 (points; > 0: BAN-1 better)", title=title or "")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    fig.tight_layout()
    return fig


def plot_fidelity_against_gain(table: pd.DataFrame, title: str | None = None):
    """How much of its teacher a student inherits, per cell: BAN-1's top-1 agreement with its own teacher against
    its agreement with the cell's other teachers (the dashed diagonal: no more like its own teacher than like any
    other), each dot labelled with the cell and coloured by BAN-1's mean gain over its teacher."""
    fig, axes = _figure(width=6.2, height=4.4)
    ax = axes[0]
    limit = max(abs(table["ban_minus_teacher_mean"]).max(), MARGIN)
    scatter = ax.scatter(table["agreement_others"], table["agreement"], c=-table["ban_minus_teacher_mean"],
                         cmap="coolwarm_r", vmin=-limit, vmax=limit, s=90, edgecolor="black")
    for _, row in table.iterrows():
        ax.annotate(row["cell"], (row["agreement_others"], row["agreement"]), fontsize=7,
                    xytext=(5, 4), textcoords="offset points")
    low = min(table["agreement_others"].min(), table["agreement"].min()) - 1
    high = max(table["agreement_others"].max(), table["agreement"].max()) + 1
    ax.plot([low, high], [low, high], linestyle="--", color="grey", linewidth=0.8)
    ax.set(xlim=(low, high), ylim=(low, high), xlabel="BAN-1's agreement with the cell's other teachers (%)",
           ylabel="BAN-1's agreement with its own teacher (%)", title=title or "")
    fig.colorbar(scatter, ax=ax, label="teacher − BAN-1 (points)")
    fig.tight_layout()
    return fig


PATIENCE_DODGE = 0.05  # how far apart (in doublings) the patience figure sets its cells about each length


def plot_patience(points: pd.DataFrame, title: str | None = None):
    """The patience figure: BAN-1 − its own teacher (points; below 0 the student is better, with its 95% interval)
    against the teacher's epochs, one line per cell; a filled marker where that teacher is finished by the book's
    rule (its teacher of twice the epochs within the paper's margin), a hollow one where it is not or cannot be
    judged. The x axis doubles from tick to tick (the ladder's rungs) and is labelled with the epochs the map has; the
    cells stand a little apart about each length (`PATIENCE_DODGE`).
    `points`: `facts.regime_map.patience_points` (cell, epochs, mean, low, high, finished)."""
    fig, axes = _figure(width=7.0, height=4.2)
    ax = axes[0]
    cells = list(dict.fromkeys(points["cell"]))
    palette = dict(zip(cells, sns.color_palette("colorblind", len(cells))))
    for position, cell in enumerate(cells):
        mine = points[points["cell"] == cell].sort_values("epochs")
        # the cells side by side about each length, so that their intervals do not hide one another
        x = mine["epochs"].to_numpy(dtype=float) * 2 ** (PATIENCE_DODGE * (position - (len(cells) - 1) / 2))
        mean = mine["mean"].to_numpy(dtype=float)
        # one seed has no interval: no bar rather than a NaN one
        below = np.nan_to_num(mean - mine["low"].to_numpy(dtype=float))
        above = np.nan_to_num(mine["high"].to_numpy(dtype=float) - mean)
        ax.errorbar(x, mean, yerr=[below, above], color=palette[cell], linewidth=1.2, capsize=4,
                    label=cell)
        finished = mine["finished"].astype(bool).to_numpy()
        ax.scatter(x, mean, s=60, zorder=3, edgecolors=[palette[cell]] * len(mine),
                   facecolors=[palette[cell] if done else "none" for done in finished], linewidths=1.5, gid=cell)
    ax.axhline(0, color="grey", linewidth=0.8, linestyle=":")
    for edge in (-MARGIN, MARGIN):
        ax.axhline(edge, color="grey", linewidth=0.6, linestyle="--")
    epochs = sorted(set(int(e) for e in points["epochs"]))
    ax.set_xscale("log", base=2)
    ax.set_xticks(epochs, [str(e) for e in epochs])
    ax.xaxis.set_minor_formatter(NullFormatter())
    if epochs:
        ax.set_xlim(epochs[0] / 1.4, epochs[-1] * 1.4)
    handles, _ = ax.get_legend_handles_labels()
    handles += [Line2D([], [], marker="o", linestyle="", color="black", label="teacher finished"),
                Line2D([], [], marker="o", linestyle="", color="black", markerfacecolor="none",
                       label="teacher not finished (or no 2× teacher)")]
    ax.set(xlabel="teacher's epochs (BAN-1 trains as long)", ylabel="BAN-1 − teacher (points; < 0: BAN-1 better)",
           title=title or "")
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    fig.tight_layout()
    return fig
