"""What the chapters share for showing results: runs into tidy tables (one row per run), mean ± std over
seeds, a plain-words verdict on a difference (the rule is `VERDICT_RULE`), and the book's seaborn figures.

Errors are in percent throughout (100 × the test error of the last epoch), the paper's unit.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

ALPHA = 0.05  # Welch's test threshold

VERDICT_RULE = """\
For two sets of per-seed test errors a and b, with Δ = mean(b) − mean(a):

- fewer than 2 seeds on either side: **inconclusive**, since one seed gives no estimate of seed-to-seed noise;
- 2 seeds on a side (and at least 2 on the other): the difference counts only if |Δ| is at least the combined
  standard deviation √(s_a² + s_b²); otherwise it is **within noise**;
- 3 or more seeds on both sides: Welch's two-sided t-test (unequal variances); the difference counts if
  p < 0.05, otherwise it is **within noise**.

A paper claim such as "b is lower than a" then **holds** if the difference counts and goes the paper's way,
**does not hold** if it counts and goes the other way, and is **inconclusive** otherwise (within noise, or too
few seeds)."""

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


def record_runs(frame: pd.DataFrame, runs_dir=None) -> list:
    """The finished run (`store.Run`) of each row of a `run_records` table, in order (rows of ensembles, whose
    `run_id` joins several runs, are refused: take their members' rows)."""
    from .paths import default_runs_dir
    from .store import Run
    ensembles = [run_id for run_id in frame["run_id"] if " + " in run_id]
    if ensembles:
        raise ValueError(f"{len(ensembles)} rows are ensembles, not runs (e.g. {ensembles[0]})")
    folder = default_runs_dir() if runs_dir is None else runs_dir
    return [Run(folder / run_id) for run_id in frame["run_id"]]


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


# ---------------------------------------------------------------- verdicts


@dataclass(frozen=True)
class Verdict:
    """The outcome of comparing b against a (lower is better): "lower", "higher", "within noise" or "inconclusive"."""

    outcome: str
    delta: float  # mean(b) − mean(a)
    mean_a: float
    mean_b: float
    n_a: int
    n_b: int
    p_value: float | None  # Welch's test, at n ≥ 3 on both sides
    text: str

    def claim(self, expected: str = "lower") -> str:
        """"holds", "does not hold" or "inconclusive" for a paper claim that b is `expected` ("lower"/"higher") than a."""
        if expected not in ("lower", "higher"):
            raise ValueError(f"expected must be 'lower' or 'higher', got {expected!r}")
        if self.outcome in ("lower", "higher"):
            return "holds" if self.outcome == expected else "does not hold"
        return "inconclusive"

    def __str__(self) -> str:
        return self.text


def _values(values) -> np.ndarray:
    array = np.asarray(list(values), dtype=float)
    return array[~np.isnan(array)]


def welch_p_value(a, b) -> float:
    """Two-sided p-value of Welch's t-test; 1.0 when both samples are constant and equal, 0.0 when constant and different."""
    from scipy import stats
    a, b = _values(a), _values(b)
    if np.std(a) == 0 and np.std(b) == 0:
        return 1.0 if a.mean() == b.mean() else 0.0
    return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def verdict(a, b, name_a: str = "a", name_b: str = "b", unit: str = "points") -> Verdict:
    """Whether the errors `b` differ from `a` beyond seed noise, by the rule in this module's docstring."""
    a, b = _values(a), _values(b)
    n_a, n_b = len(a), len(b)
    if n_a == 0 or n_b == 0:
        raise ValueError("verdict needs at least one value on each side")
    mean_a, mean_b = float(a.mean()), float(b.mean())
    delta = mean_b - mean_a
    compared = f"{name_b} {mean_b:.2f} against {name_a} {mean_a:.2f}"
    p_value = None
    if min(n_a, n_b) < 2:
        outcome = "inconclusive"
        text = (f"inconclusive: {compared} ({delta:+.2f} {unit}), but with a single seed there is no estimate "
                f"of seed-to-seed noise")
    else:
        if min(n_a, n_b) >= 3:
            p_value = welch_p_value(a, b)
            counts = p_value < ALPHA
            evidence = f"Welch's t-test p = {p_value:.3f}, n = {n_a} and {n_b}"
        else:
            combined = math.sqrt(a.std(ddof=1) ** 2 + b.std(ddof=1) ** 2)
            counts = abs(delta) >= combined and delta != 0
            evidence = f"combined std {combined:.2f}, n = {n_a} and {n_b}"
        if counts:
            outcome = "lower" if delta < 0 else "higher"
            text = f"{name_b} is {abs(delta):.2f} {unit} {outcome} than {name_a}: {compared} ({evidence})"
        else:
            outcome = "within noise"
            text = f"within noise: {compared} ({delta:+.2f} {unit}; {evidence})"
    return Verdict(outcome, delta, mean_a, mean_b, n_a, n_b, p_value, text)


def compare(frame: pd.DataFrame, a: str, b: str, by: str = "model", expected: str | None = None,
            claim: str | None = None, paper=None, value: str = "test_error") -> dict:
    """One row of a verdict table: the rows with frame[by] == b against those with frame[by] == a.

    `expected` is the paper's direction for b ("lower"/"higher"), or None where the comparison is not a paper
    claim; `paper` is the paper's own support for the claim (e.g. `paper_support(...)`)."""
    values_a = frame.loc[frame[by] == a, value]
    values_b = frame.loc[frame[by] == b, value]
    result = verdict(values_a, values_b, a, b)
    summary_a = format_mean_std(result.mean_a, values_a.std(), len(values_a))
    summary_b = format_mean_std(result.mean_b, values_b.std(), len(values_b))
    return {"claim": claim or f"{b} vs {a}", "paper": "—" if paper is None else str(paper),
            "a": f"{a}: {summary_a}", "b": f"{b}: {summary_b}", "Δ (b − a)": round(result.delta, 2),
            "outcome": result.outcome, "verdict": result.claim(expected) if expected else "—", "detail": result.text}


# A claim's verdict inside a sentence: "the claim … holds / does not hold / is inconclusive".
CLAIM_PHRASES = {"holds": "holds", "does not hold": "does not hold", "inconclusive": "is inconclusive",
                 "—": "is not one of the paper's claims"}

# An outcome inside a sentence: "b is … than a".
OUTCOME_PHRASES = {"lower": "lower (better)", "higher": "higher (worse)", "within noise": "within noise",
                   "inconclusive": "inconclusive (too few seeds to tell)"}


VERDICT_VERBS = {"holds": ("holds", "hold"), "does not hold": ("does not hold", "do not hold"),
                 "inconclusive": ("is inconclusive", "are inconclusive")}


def tally(verdicts: Iterable[str]) -> str:
    """How many claims got each verdict, as a phrase: "14 are inconclusive, 3 do not hold, 1 holds"."""
    counts = pd.Series(list(verdicts), dtype=object).value_counts()
    return ", ".join(f"{count} {VERDICT_VERBS[word][count != 1]}" for word, count in counts.items())


def markdown_escape(text: str) -> str:
    """`text` with Markdown's emphasis characters escaped, so that "Ens*2" stays as written."""
    return text.replace("\\", "\\\\").replace("*", "\\*").replace("_", "\\_")


def verdict_lines(rows: Sequence[dict]) -> str:
    """The `compare` rows as a Markdown list: the claim, its verdict where it is a paper claim, and the numbers."""
    lines = []
    for row in rows:
        verdict_word = f" — **{row['verdict']}**" if row["verdict"] != "—" else ""
        lines.append(f"- *{markdown_escape(row['claim'])}*{verdict_word}: {markdown_escape(row['detail'])}.")
    return "\n".join(lines)


@dataclass(frozen=True)
class Support:
    """In how many of the paper's rows a claim holds."""

    count: int
    rows: int

    def __str__(self) -> str:
        return f"{self.count} of {self.rows} rows"


def paper_support(table: pd.DataFrame, a: str, b: str, expected: str = "lower") -> Support:
    """In how many rows of a paper table column b is strictly `expected` ("lower"/"higher") than column a,
    out of the rows that give both."""
    both = table[[a, b]].dropna()
    holds = both[b] < both[a] if expected == "lower" else both[b] > both[a]
    return Support(int(holds.sum()), len(both))


def profile_note(profile: str) -> str:
    """What a chapter's numbers are worth at `profile` (`Profile.note`; kept for the chapters' imports)."""
    from .profiles import get_profile
    return get_profile(profile).note()


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


def lr_drops(metrics: pd.DataFrame, factor: float = 0.5) -> list[int]:
    """The epochs at whose end the learning rate (`lr`, mean over runs) is below `factor` × the previous epoch's:
    the step schedule's milestones, and the last, steepest epochs of a one-cycle schedule's annealing."""
    lr = metrics.groupby("epoch")["lr"].mean().sort_index()
    return [int(epoch) for epoch, ratio in (lr / lr.shift()).items() if ratio < factor]


def _plain_log_ticks(ax) -> None:
    """Label a log y axis in plain numbers at 1, 2 and 5 of each decade (…, 0.5, 1, 2, 5, 10, 20, …)."""
    from matplotlib.ticker import FuncFormatter, LogLocator
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.yaxis.set_minor_formatter(FuncFormatter(lambda value, _: ""))


def plot_last_epochs(metrics: pd.DataFrame, hue: str, fraction: float = 0.2, title: str | None = None,
                     style: str | None = None):
    """Every model's training, with its end readable: clean training error and validation error (%) per epoch on
    log axes (mean over seeds, ±1 std band, one line per `hue`, dashed by `style` where that column has several
    values), then the validation error of the last `fraction` of training (and the epoch before it) on a linear
    axis. Dotted lines: the epochs where the learning rate fell by half or more (`lr_drops`). `metrics` is
    `metrics_records`' table (it needs `train_probe_accuracy`)."""
    import seaborn as sns
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
        for epoch in lr_drops(frame):
            ax.axvline(epoch, color="0.6", linestyle=":", linewidth=1)
    for epoch in (e for e in lr_drops(frame) if e >= start):
        axes[2].axvline(epoch, color="0.6", linestyle=":", linewidth=1)
    axes[2].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize="small")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_against_floor(frame: pd.DataFrame, floor: str, y: str = "model", x: str = "test_error",
                       order: Sequence | None = None, title: str | None = None):
    """Every model's test error (one row each: each seed a dot, the mean ± 1 std a diamond) against the floor, the
    model `floor` of column `y` (a linear classifier): its mean as a vertical line in a ±1 std band. Models whose
    mean error is not below the floor's are drawn in red and marked "does not beat" in the legend."""
    import matplotlib.lines as mlines
    import matplotlib.patches as mpatches
    import seaborn as sns
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
