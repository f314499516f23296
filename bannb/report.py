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
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.transforms import blended_transform_factory
    from .stats import MARGIN
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


def plot_student_gains(pairs: pd.DataFrame, min_train_accuracy: float | None = None, title: str | None = None):
    """Each student's test error minus its own teacher's (`experiments.teacher_pairs`), against how well that teacher
    fits its training set (clean training accuracy, %), one colour per kind of student; the convergence criterion's
    training accuracy (`convergence.MIN_TRAIN_ACCURACY`) is the dotted line, zero gain the grey one."""
    import seaborn as sns
    from .convergence import MIN_TRAIN_ACCURACY
    threshold = 100 * (MIN_TRAIN_ACCURACY if min_train_accuracy is None else min_train_accuracy)
    fig, (ax,) = _figure(1, width=6.4, height=3.8)
    ax.axhline(0, color="0.5", linewidth=0.8)
    ax.axvline(threshold, color="0.3", linestyle=":", linewidth=1)
    sns.scatterplot(data=pairs, x="teacher_train_accuracy", y="gain", hue="model", style="model", s=45, ax=ax)
    ax.set(xlabel="the teacher's clean training accuracy (%)",
           ylabel="student − its teacher: test error (points)", title=title or "")
    if ax.get_legend() is not None:
        sns.move_legend(ax, "upper left", bbox_to_anchor=(1.01, 1), title="student", fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def plot_step_speedups(steps: pd.DataFrame, machines: pd.DataFrame, labels: Sequence[str] | None = None):
    """Speed-up of bannb's step over the plain fp32 loop, per precision candidate (bars) and case (rows), one panel
    per CPU type (`bench.steps_table` and `bench.machines_table`). The black line is the plain loop (1×), the purple
    dotted one the CPU's bf16/fp32 matmul peak ratio (what a compute-bound step can gain from bf16 at most); auto's
    pick has a black edge. Candidates not measured on a CPU have no bar; one given up (far slower) reads "gave up"."""
    import matplotlib.pyplot as plt
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
