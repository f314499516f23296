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


def _paper_rows(ax, table: pd.DataFrame, columns: Sequence[str], title: str | None, ylabel: str) -> None:
    import seaborn as sns
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


def lr_marks(lr: Sequence[float], epochs: Sequence[int] | None = None) -> dict:
    """Where a per-epoch learning rate (the value at each epoch's end) changes course, for marking curves.

    A schedule is *stepped* when the lr is piecewise constant (it changes between at most half of the consecutive
    epochs): {"kind": "step", "drops": [x of each fall, halfway between the two epochs], "peak": None}. Otherwise
    it is a *cycle* (fastai's one-cycle: warm-up, then annealing): {"kind": "cycle", "peak": the epoch of the
    highest lr, "drops": []}. `epochs` are the x values (default 1, 2, …)."""
    lr = np.asarray(list(lr), dtype=float)
    x = np.arange(1, len(lr) + 1) if epochs is None else np.asarray(list(epochs))
    changed = [i for i in range(1, len(lr)) if not math.isclose(lr[i], lr[i - 1], rel_tol=1e-6)]
    if len(changed) <= (len(lr) - 1) / 2:
        return dict(kind="step", peak=None, drops=[float(x[i] + x[i - 1]) / 2 for i in changed if lr[i] < lr[i - 1]])
    return dict(kind="cycle", peak=int(x[int(np.argmax(lr))]), drops=[])


def _mark_lr(ax, marks: dict) -> None:
    transform = ax.get_xaxis_transform()  # x in data, y in axes fraction
    if marks["kind"] == "cycle" and marks["peak"] is not None:
        ax.axvline(marks["peak"], color="0.3", linestyle="--", linewidth=1)
        ax.text(marks["peak"], 0.02, " lr peak, then annealing →", transform=transform, fontsize=8, va="bottom",
                color="0.3")
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
    import seaborn as sns
    from .convergence import MIN_TRAIN_ACCURACY, window_length
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
    from .convergence import MIN_TRAIN_ACCURACY
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
    from matplotlib.patches import Patch
    fig.legend(handles=[Patch(color="C2", label="meets the criterion"), Patch(color="C3", label="does not")],
               loc="upper center", ncol=2, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    return fig


def plot_generation_slopes(frame: pd.DataFrame, order: Sequence[str], paper: pd.DataFrame | None = None,
                           title: str | None = None, paper_title: str | None = None):
    """Each seed's sequence across `order` (e.g. Teacher → BAN-1 → BAN-2 → BAN-3), one thin line per seed through
    the models it has, with the mean per model (black diamonds); beside it, if `paper` is given, the paper's rows
    across the columns of `order` it has (`plot_paper_rows`), on their own axis."""
    panels = 2 if paper is not None else 1
    fig, axes = _figure(panels, width=max(4.5, 0.9 * len(order) + 2.0))
    ours = axes[-1]
    position = {model: i for i, model in enumerate(order)}
    rows = frame[frame["model"].isin(order)]
    for seed, runs in rows.groupby("seed"):
        runs = runs.assign(x=runs["model"].map(position)).sort_values("x")
        ours.plot(runs["x"], runs["test_error"], marker="o", linewidth=1, alpha=0.7, label=f"seed {seed}")
    means = rows.groupby("model")["test_error"].mean().reindex(order)
    ours.plot(np.arange(len(order)), means.values, color="black", marker="D", linewidth=2, label="mean")
    ours.set_xticks(np.arange(len(order)), labels=list(order))
    ours.set(ylabel="test error (%)", title=title or "ours, seed by seed")
    ours.legend(fontsize=8)
    if paper is not None:
        _paper_rows(axes[0], paper, [c for c in order if c in paper.columns], paper_title or "the paper",
                    "test error (%)")
    fig.tight_layout()
    return fig


def plot_student_differences(records: pd.DataFrame, hue: str = "model"):
    """Each student against its own teacher (`convergence.student_fit_records`): the paired difference student −
    teacher in test error (points; below 0: the student is better), one marker per student coloured by `hue`,
    against the share of the teacher's training targets that are wrong (left) and against the student's test
    agreement with its teacher (right)."""
    import seaborn as sns
    fig, axes = _figure(2, width=4.6)
    panels = (("teacher_train_targets_wrong", "teacher's training targets that are wrong (%)"),
              ("test_agreement_with_teacher", "student's test agreement with its teacher (%)"))
    for position, (ax, (x, xlabel)) in enumerate(zip(axes, panels)):
        sns.scatterplot(data=records, x=x, y="difference", hue=hue, style=hue, s=60, ax=ax, legend=position == 1)
        ax.axhline(0, color="0.4", linewidth=0.8)
        ax.set(xlabel=xlabel, ylabel="student − its teacher: test error (points)")
    if axes[1].get_legend() is not None:
        sns.move_legend(axes[1], "upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
    fig.tight_layout()
    return fig
