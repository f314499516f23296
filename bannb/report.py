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


def lm_run_records(runs: Iterable, **labels) -> pd.DataFrame:
    """One row per language-model run (`bannb.lm.LMRun`): the `labels`, the base seed, the corpus, test,
    validation and training perplexity of the last epoch (training: the clean model on every training token),
    and the parameter count."""
    rows = [dict(labels, seed=run.config.base_seed, corpus=run.config.corpus, arch=run.config.arch,
                 loss=run.config.loss, test_ppl=run.final["test_ppl"], valid_ppl=run.final["valid_ppl"],
                 train_ppl=run.final["train_ppl"], params=run.final["parameters"], run_id=run.run_id)
            for run in runs]
    return pd.DataFrame(rows, columns=[*labels, "seed", "corpus", "arch", "loss", "test_ppl", "valid_ppl", "train_ppl",
                                       "params", "run_id"])


def lm_metrics_records(runs: Iterable, **labels) -> pd.DataFrame:
    """Every language-model run's per-epoch metrics (`LMRun.metrics()`: train_ppl, train_probe_ppl, valid_ppl,
    lr, seconds…) with the labels and the base seed."""
    return _labelled_metrics(runs, labels)


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


def plot_lm_curves(metrics: pd.DataFrame, hue: str = "model", order: Sequence[str] | None = None,
                   title: str | None = None):
    """Language-model learning curves from `lm_metrics_records`' table, in two panels. Left, every epoch on a log
    axis: validation perplexity (solid, mean over seeds with a ±1 std band) and the clean model's perplexity on
    a fixed slice of the training text (dashed), one colour per `hue`. Right: validation perplexity over the last
    ⌈epochs/5⌉ epochs and the one before, each seed a thin line, so that the end of training is readable. In both,
    a triangle marks each run's first epoch at a lowered learning rate (the plateau rule's drops)."""
    import seaborn as sns
    from matplotlib.ticker import StrMethodFormatter
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
