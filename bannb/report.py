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


# ---------------------------------------------------------------- teaching figures of chapters 5-7 (and 2)


def class_mean_outputs(probs, labels, classes: Sequence[str]) -> pd.DataFrame:
    """The mean output distribution per true class: row c is the average of `probs` over the images of class c
    (rows: true class, columns: output class; each row sums to 1; a class without images has no row)."""
    probs, labels = np.asarray(probs, dtype=float), np.asarray(labels)
    frame = pd.DataFrame(probs, columns=list(classes))
    frame.index = pd.Index([classes[c] for c in labels], name="true class")
    return frame.groupby(level=0, sort=False).mean().reindex([c for c in classes if c in set(frame.index)])


def plot_class_heatmap(means, title: str | None = None, floor: float = 1e-4):
    """The mean output per true class (`class_mean_outputs`) as a heatmap on a log colour scale, so that the dark
    knowledge off the diagonal shows; each cell annotated in percent (blank below 0.05%). `means` is one such
    table, or a mapping {panel title: table} drawn side by side on one shared colour scale (e.g. a teacher's
    outputs before and after DKPP's permutation)."""
    import matplotlib.pyplot as plt
    import seaborn as sns
    from matplotlib.colors import LogNorm
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


def plot_soft_targets(probs, labels, classes: Sequence[str], indices: Sequence[int], images=None,
                      title: str | None = None, log: bool = True):
    """Soft targets as bars for a few test images, one panel per image: a bar per class, the true class
    highlighted, its p* in the panel's title. `probs` is an N×C array (one distribution per image, e.g. the
    teacher's), or a mapping {name: N×C array} to set several distributions of the same images side by side in
    each panel (e.g. {"teacher": p, "permuted (DKPP)": p'}): one colour per name, the true class's name in bold.
    `images` (N×C×H×W, the rows of `probs`) adds each image above its bars. On a log axis (the default) the dark
    knowledge, the small probabilities of the wrong classes, shows next to the true class's."""
    import matplotlib.pyplot as plt
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
                      title: str | None = None, ylabel: str = "test error (%)"):
    """Paired runs drawn as pairs: one thin line per seed through its models in `order` (a student and its own
    teacher share a seed), and the mean over seeds as black diamonds. A seed's slope between two models is its
    paired difference; lines that run parallel show differences more consistent than the spread of seeds."""
    import matplotlib.pyplot as plt
    table = frame[frame["model"].isin(order)].pivot_table(index="seed", columns="model", values=value)
    table = table.reindex(columns=list(order))
    fig, ax = plt.subplots(figsize=(max(4.5, 1.1 * len(order) + 2.0), 3.6))
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
    fig.tight_layout()
    return fig


def plot_cwtm_weights(relative_weights, teacher_right, bins: int = 40, title: str | None = None):
    """Histogram of CWTM's per-sample weights (Eq. 10) times the batch size, so that 1 is what every sample would get
    under plain cross-entropy, split by whether the teacher's top class is right; counts on a log axis, since a
    teacher that fits puts nearly every image at the top."""
    import seaborn as sns
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
    import matplotlib.pyplot as plt
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


def top_confusion_share(means: pd.DataFrame) -> pd.Series:
    """Per true class (a row of `class_mean_outputs`), the share of its off-diagonal mass, the probability given to
    the wrong classes, that goes to its single most similar class: 1 / (classes − 1) for an even spread, 1 when
    all of it goes to one class. How much class similarity a model's dark knowledge carries."""
    values = means.to_numpy(dtype=float).copy()
    columns = list(means.columns)
    for row, true_class in enumerate(means.index):
        values[row, columns.index(true_class)] = np.nan
    off_diagonal = np.nansum(values, axis=1)
    return pd.Series(np.nanmax(values, axis=1) / off_diagonal, index=means.index, name="top confusion share")


def disagreement(run_a, run_b) -> float:
    """The share of test images (%) on which two runs' top classes differ: what an ensemble of the two can gain from."""
    return 100 * (run_a.test_logits().argmax(1) != run_b.test_logits().argmax(1)).float().mean().item()


def ensemble_diversity_records(groups: Sequence[Sequence], **labels) -> pd.DataFrame:
    """One row per ensemble (a group of runs): how often its members disagree (mean pairwise `disagreement`, % of
    test images), its members' mean test error, the ensemble's (Eq. 4, %), and the gain of averaging: the
    members' mean error minus the ensemble's (points; positive: the ensemble is better than its average member)."""
    from itertools import combinations
    from .generations import ensemble_accuracy
    rows = []
    for group in groups:
        group = list(group)
        pairs = list(combinations(group, 2))
        members = float(np.mean([100 * run.final["test_error"] for run in group]))
        ensemble = 100 * (1 - ensemble_accuracy(group))
        rows.append(dict(labels, members=len(group),
                         disagreement=float(np.mean([disagreement(a, b) for a, b in pairs])) if pairs else 0.0,
                         member_error=members, ensemble_error=ensemble, gain=members - ensemble))
    return pd.DataFrame(rows, columns=[*labels, "members", "disagreement", "member_error", "ensemble_error", "gain"])
