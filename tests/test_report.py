"""The chapters' reporting helpers, on hand-made runs and numbers whose results are known exactly."""
import math
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch

from bannb.report import (
    Support,
    compare,
    ensemble_records,
    format_mean_std,
    markdown_escape,
    mean_std,
    metrics_records,
    paper_support,
    plot_errors,
    plot_gradient_terms,
    plot_learning_curves,
    run_records,
    verdict,
    verdict_lines,
    welch_p_value,
)


def fake_run(seed=0, base_seed=None, test_error=0.125, valid_accuracy=0.75, parameters=10, probs=None, labels=None,
             metrics=None, run_id="run", arch="wrn-16-1", loss="ce", generation=0):
    config = SimpleNamespace(seed=seed, base_seed=seed if base_seed is None else base_seed, dataset="fashion-mnist",
                             arch=arch, loss=loss, generation=generation, split_seed=0, test_size=None)
    final = dict(test_error=test_error, valid_accuracy=valid_accuracy, parameters=parameters)
    run = SimpleNamespace(config=config, final=final, run_id=run_id)
    if probs is not None:
        run.test_logits = lambda: torch.tensor(probs).log()  # softmax(log p) = p
        run.test_labels = lambda: torch.tensor(labels)
    if metrics is not None:
        run.metrics = lambda: pd.DataFrame(metrics)
    return run


# ---------------------------------------------------------------- tables

def test_run_records_one_row_per_run_in_percent():
    runs = [fake_run(seed=2001, base_seed=1, test_error=0.125, valid_accuracy=0.75, parameters=10, run_id="a", loss="ban",
                     generation=2),
            fake_run(seed=3, test_error=0.5, valid_accuracy=0.5, parameters=20, run_id="b")]
    frame = run_records(runs, model="BAN-2", chapter=4)
    assert list(frame.columns[:3]) == ["model", "chapter", "seed"]
    assert frame["model"].tolist() == ["BAN-2", "BAN-2"] and frame["chapter"].tolist() == [4, 4]
    assert frame["seed"].tolist() == [1, 3]  # the base seed the config stores, not the run's own seed
    assert frame["test_error"].tolist() == [12.5, 50.0]
    assert frame["valid_error"].tolist() == [25.0, 50.0]
    assert frame["params"].tolist() == [10, 20]
    assert frame["generation"].tolist() == [2, 0] and frame["run_id"].tolist() == ["a", "b"]


def test_run_records_of_no_runs_is_an_empty_table_with_the_columns():
    frame = run_records([], model="Teacher")
    assert frame.empty and "test_error" in frame.columns and "model" in frame.columns


def test_ensemble_of_two_wrong_halves_is_right_everywhere():
    # Each member gets one of the two test images wrong; the mean of their probabilities gets both right.
    labels = [0, 0]
    first = fake_run(probs=[[0.9, 0.1], [0.45, 0.55]], labels=labels, parameters=7, run_id="first")
    second = fake_run(probs=[[0.45, 0.55], [0.9, 0.1]], labels=labels, parameters=5, run_id="second")
    frame = ensemble_records({4: [first, second], 5: [first]}, model="Ens*2")
    assert frame["seed"].tolist() == [4, 5]
    assert frame["test_error"].tolist() == pytest.approx([0.0, 50.0])
    assert frame["members"].tolist() == [2, 1] and frame["params"].tolist() == [12, 7]
    assert frame["run_id"].tolist() == ["first + second", "first"]
    # a list of groups is numbered by position
    assert ensemble_records([[second]], model="x")["seed"].tolist() == [0]


def test_metrics_records_adds_labels_seed_and_error():
    run = fake_run(seed=1001, base_seed=1, metrics=dict(epoch=[1, 2], train_loss=[2.0, 1.0], valid_loss=[1.5, 1.25],
                                                       valid_accuracy=[0.5, 0.75], lr=[0.1, 0.02], seconds=[1.0, 1.0]))
    frame = metrics_records([run, run], model="BAN-1")
    assert len(frame) == 4
    assert frame["model"].tolist() == ["BAN-1"] * 4 and frame["seed"].tolist() == [1] * 4
    assert frame["valid_error"].tolist() == [50.0, 25.0, 50.0, 25.0]


def test_mean_std_per_group_in_order_of_appearance():
    frame = pd.DataFrame({"model": ["b", "a", "a", "a"], "test_error": [5.0, 1.0, 2.0, 3.0]})
    summary = mean_std(frame, "model")
    assert summary["model"].tolist() == ["b", "a"]
    assert summary["mean"].tolist() == [5.0, 2.0]
    assert math.isnan(summary["std"][0]) and summary["std"][1] == 1.0  # sample std, ddof 1
    assert summary["n"].tolist() == [1, 3]
    assert summary["mean ± std"].tolist() == ["5.00 (n=1)", "2.00 ± 1.00"]


def test_mean_std_by_two_columns():
    frame = pd.DataFrame({"teacher": ["x", "x", "y"], "model": ["s", "s", "s"], "test_error": [1.0, 3.0, 4.0]})
    summary = mean_std(frame, ["teacher", "model"])
    assert summary[["teacher", "model", "mean", "n"]].values.tolist() == [["x", "s", 2.0, 2], ["y", "s", 4.0, 1]]


def test_format_mean_std():
    assert format_mean_std(8.123, 0.314, 3) == "8.12 ± 0.31"
    assert format_mean_std(8.123, float("nan"), 1) == "8.12 (n=1)"
    assert format_mean_std(8.123, 0.314, 3, digits=1) == "8.1 ± 0.3"


# ---------------------------------------------------------------- verdicts

def test_one_seed_is_inconclusive():
    result = verdict([10.0], [5.0], "teacher", "student")
    assert result.outcome == "inconclusive" and result.p_value is None
    assert result.delta == -5.0 and (result.n_a, result.n_b) == (1, 1)
    assert result.claim("lower") == "inconclusive"
    assert "single seed" in result.text


def test_two_seeds_use_the_combined_std():
    # s_a = s_b = √2, so the combined std is √(2 + 2) = 2
    beyond = verdict([1.0, 3.0], [4.0, 6.0])
    assert beyond.outcome == "higher" and beyond.delta == 3.0 and beyond.p_value is None
    assert beyond.claim("higher") == "holds" and beyond.claim("lower") == "does not hold"
    assert "combined std 2.00" in beyond.text
    within = verdict([1.0, 3.0], [2.0, 4.0])  # Δ = 1 < 2
    assert within.outcome == "within noise" and within.claim("lower") == "inconclusive"
    exactly = verdict([1.0, 3.0], [3.0, 5.0])  # Δ = 2 = the combined std: counts
    assert exactly.outcome == "higher"


def test_three_seeds_use_welchs_t_test():
    # t = (5 − 2) / √(1/3 + 1/3) = 3.674, 4 degrees of freedom (equal variances): two-sided p = 0.02131
    result = verdict([1.0, 2.0, 3.0], [4.0, 5.0, 6.0], "a", "b")
    assert result.p_value == pytest.approx(0.021312, abs=1e-5)
    assert result.outcome == "higher" and result.claim("lower") == "does not hold"
    assert result.text.startswith("b is 3.00 points higher than a") and "p = 0.021" in result.text
    lower = verdict([4.0, 5.0, 6.0], [1.0, 2.0, 3.0])
    assert lower.outcome == "lower" and lower.claim("lower") == "holds"
    # Δ = 0.5 with the same spread: t = 0.612, p = 0.573
    noise = verdict([1.0, 2.0, 3.0], [1.5, 2.5, 3.5])
    assert noise.p_value == pytest.approx(0.5734, abs=1e-3)
    assert noise.outcome == "within noise" and noise.claim("lower") == "inconclusive"


def test_welch_p_value_of_constant_samples():
    assert welch_p_value([1.0, 1.0, 1.0], [1.0, 1.0, 1.0]) == 1.0
    assert welch_p_value([1.0, 1.0, 1.0], [2.0, 2.0, 2.0]) == 0.0
    assert verdict([1.0, 1.0, 1.0], [1.0, 1.0, 1.0]).outcome == "within noise"


def test_unequal_seed_counts_follow_the_smaller_side():
    assert verdict([1.0, 2.0, 3.0], [9.0]).outcome == "inconclusive"
    assert verdict([1.0, 2.0, 3.0], [9.0, 9.5]).p_value is None  # n = 2 on one side: the combined-std rule


def test_nan_values_are_ignored_and_empty_sides_refused():
    assert verdict([1.0, float("nan")], [2.0]).n_a == 1
    with pytest.raises(ValueError):
        verdict([], [1.0])
    with pytest.raises(ValueError):
        verdict([1.0], [2.0]).claim("better")


def test_compare_builds_a_verdict_row():
    frame = pd.DataFrame({"model": ["T", "T", "S", "S"], "test_error": [1.0, 3.0, 4.0, 6.0]})
    row = compare(frame, "T", "S", expected="lower", claim="S beats T", paper=Support(3, 4))
    assert row["claim"] == "S beats T" and row["paper"] == "3 of 4 rows"
    assert row["a"] == "T: 2.00 ± 1.41" and row["b"] == "S: 5.00 ± 1.41"
    assert row["Δ (b − a)"] == 3.0 and row["outcome"] == "higher" and row["verdict"] == "does not hold"
    unclaimed = compare(frame, "T", "S")
    assert unclaimed["verdict"] == "—" and unclaimed["paper"] == "—" and unclaimed["claim"] == "S vs T"
    lines = verdict_lines([row, unclaimed])
    assert lines.splitlines()[0].startswith("- *S beats T* — **does not hold**: S is 3.00 points higher than T")
    assert lines.splitlines()[1].startswith("- *S vs T*: ")


def test_paper_support_counts_strict_wins_over_rows_giving_both():
    table = pd.DataFrame({"a": [2.0, 2.0, 2.0, np.nan], "b": [1.0, 3.0, 2.0, 1.0]})
    assert paper_support(table, "a", "b") == Support(1, 3)
    assert paper_support(table, "a", "b", "higher") == Support(1, 3)
    assert str(Support(1, 3)) == "1 of 3 rows"


def test_markdown_escape():
    assert markdown_escape("Ens*2 of res_student") == "Ens\\*2 of res\\_student"


# ---------------------------------------------------------------- figures

def test_plot_errors_draws_one_point_per_group_with_seed_dots():
    frame = pd.DataFrame({"model": ["T", "T", "S", "S"], "test_error": [1.0, 3.0, 4.0, 6.0]})
    fig = plot_errors(frame, x="model", order=["T", "S"], title="t")
    ax = fig.axes[0]
    assert ax.get_ylabel() == "test error (%)" and ax.get_title() == "t"
    assert [label.get_text() for label in ax.get_xticklabels()] == ["T", "S"]
    plt.close(fig)


def test_plot_learning_curves_has_loss_and_error_panels():
    frame = pd.DataFrame({"epoch": [1, 2, 1, 2], "train_loss": [2.0, 1.0, 2.1, 1.1], "valid_error": [50, 25, 52, 27],
                          "model": ["T", "T", "S", "S"]})
    fig = plot_learning_curves(frame, hue="model")
    assert len(fig.axes) == 2 and fig.axes[1].get_ylabel() == "validation error (%)"
    plt.close(fig)


def test_plot_gradient_terms_histograms_both_terms():
    ground_truth = torch.tensor([0.1, -0.2, 0.05])
    fig = plot_gradient_terms(ground_truth, -ground_truth, bins=5)
    ax = fig.axes[0]
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend[0].startswith("ground truth") and legend[1].startswith("dark knowledge")
    plt.close(fig)


def test_plot_paper_rows_draws_the_tables_columns_in_order():
    from bannb.report import plot_paper_rows
    table = pd.DataFrame({"T": [2.0, 3.0], "S": [1.0, 2.5]}, index=pd.Index(["x", "y"], name="Network"))
    fig = plot_paper_rows(table, ["T", "S"], title="paper")
    ax = fig.axes[0]
    assert [label.get_text() for label in ax.get_xticklabels()] == ["T", "S"] and ax.get_title() == "paper"
    assert [text.get_text() for text in ax.get_legend().get_texts()] == ["x", "y"]
    plt.close(fig)


def test_tally_agrees_in_number():
    from bannb.report import tally
    assert tally(["inconclusive"] * 14 + ["does not hold"] * 3 + ["holds"]) == \
        "14 are inconclusive, 3 do not hold, 1 holds"
    assert tally(["holds", "holds", "does not hold"]) == "2 hold, 1 does not hold"


# ---------------------------------------------------------------- chapters 5-7's figures

FIG_CLASSES = ["a", "b", "c"]
FIG_PROBS = np.array([[0.90, 0.08, 0.02], [0.30, 0.45, 0.25], [0.05, 0.70, 0.25], [0.10, 0.10, 0.80]])
FIG_LABELS = np.array([0, 1, 2, 2])


def test_class_mean_outputs_is_the_mean_distribution_per_true_class():
    from bannb.report import class_mean_outputs
    means = class_mean_outputs(FIG_PROBS, FIG_LABELS, FIG_CLASSES)
    assert means.index.tolist() == FIG_CLASSES and means.columns.tolist() == FIG_CLASSES
    assert means.loc["c"].tolist() == pytest.approx([0.075, 0.40, 0.525])
    assert means.sum(axis=1).tolist() == pytest.approx([1, 1, 1])
    assert class_mean_outputs(FIG_PROBS[:2], FIG_LABELS[:2], FIG_CLASSES).index.tolist() == ["a", "b"]


def test_plot_class_heatmap_one_panel_or_several_on_one_scale():
    from bannb.report import class_mean_outputs, plot_class_heatmap
    means = class_mean_outputs(FIG_PROBS, FIG_LABELS, FIG_CLASSES)
    fig = plot_class_heatmap(means, title="teacher")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "output class" and ax.get_ylabel() == "true class" and ax.get_title() == "teacher"
    annotations = [t.get_text() for t in ax.texts]
    assert len(annotations) == 9 and "90.0" in annotations and "52.5" in annotations
    assert len(fig.axes) == 2  # the heatmap and its colour bar
    plt.close(fig)
    fig = plot_class_heatmap({"before": means, "after": means.iloc[:, ::-1]}, title="DKPP")
    before, after, colour_bar = fig.axes
    assert before.get_title() == "before" and after.get_title() == "after" and fig._suptitle.get_text() == "DKPP"
    assert before.get_ylabel() == "true class" and after.get_ylabel() == ""
    assert before.collections[0].norm.vmin == after.collections[0].norm.vmin  # one colour scale
    assert colour_bar.get_ylabel() == "mean probability (log scale)"
    plt.close(fig)


def test_plot_soft_targets_one_distribution_per_image():
    from bannb.report import plot_soft_targets
    images = np.zeros((4, 1, 4, 4), dtype=np.uint8)
    fig = plot_soft_targets(FIG_PROBS, FIG_LABELS, FIG_CLASSES, [0, 2], images=images)
    assert len(fig.axes) == 4  # two images above two bar panels
    bars = fig.axes[2]
    assert len(bars.patches) == 3 and bars.get_xscale() == "log"
    colours = [patch.get_facecolor() for patch in bars.patches]
    assert colours[0] != colours[1] == colours[2]  # the true class (a) stands out
    assert bars.get_title() == "true: a, p* = 0.90" and fig.axes[3].get_title() == "true: c, p* = 0.25"
    assert [t.get_text() for t in bars.get_yticklabels()] == FIG_CLASSES
    plt.close(fig)
    fig = plot_soft_targets(FIG_PROBS, FIG_LABELS, FIG_CLASSES, [1], log=False)
    assert len(fig.axes) == 1 and fig.axes[0].get_xscale() == "linear"
    plt.close(fig)


def test_plot_soft_targets_sets_several_distributions_of_one_image_side_by_side():
    from bannb.report import plot_soft_targets
    permuted = FIG_PROBS[:, [0, 2, 1]]
    fig = plot_soft_targets({"teacher": FIG_PROBS, "permuted": permuted}, FIG_LABELS, FIG_CLASSES, [0])
    (ax,) = fig.axes
    assert len(ax.patches) == 6  # a bar per class and distribution
    widths = [patch.get_x() + patch.get_width() for patch in ax.patches]
    assert widths[:3] == pytest.approx([0.90, 0.08, 0.02]) and widths[3:] == pytest.approx([0.90, 0.02, 0.08])
    assert {patch.get_facecolor() for patch in ax.patches[:3]} != {patch.get_facecolor() for patch in ax.patches[3:]}
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["teacher", "permuted"]
    assert ax.get_yticklabels()[0].get_fontweight() == "bold" and ax.get_title() == "true: a, p* = 0.90 / 0.90"
    plt.close(fig)


def test_plot_paired_seeds_draws_a_line_per_seed_and_the_mean():
    from bannb.report import plot_paired_seeds
    frame = pd.DataFrame({"model": ["T", "S", "T", "S", "T", "X"], "seed": [0, 0, 1, 1, 2, 2],
                          "test_error": [10.0, 9.0, 11.0, 10.5, 12.0, 7.0]})
    fig = plot_paired_seeds(frame, ["T", "S"])
    ax = fig.axes[0]
    assert [label.get_text() for label in ax.get_xticklabels()] == ["T", "S"]
    seeds = [line for line in ax.lines if line.get_label().startswith("seed")]
    assert [line.get_label() for line in seeds] == ["seed 0", "seed 1", "seed 2"]
    assert seeds[0].get_ydata().tolist() == [10.0, 9.0] and seeds[2].get_ydata().tolist() == [12.0]  # no S for 2
    (mean,) = [line for line in ax.lines if line.get_label() == "mean"]
    assert mean.get_ydata().tolist() == pytest.approx([11.0, 9.75])
    plt.close(fig)


def test_plot_cwtm_weights_splits_right_and_wrong_on_a_log_axis():
    from bannb.report import plot_cwtm_weights
    fig = plot_cwtm_weights([1.02, 1.01, 0.6, 0.4], [True, True, True, False], bins=4)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    assert sum(patch.get_height() for patch in ax.patches) == 4
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["teacher right", "teacher wrong"]
    plt.close(fig)


def test_plot_ensemble_sizes_draws_one_line_per_family_over_the_sizes():
    from bannb.report import plot_ensemble_sizes
    frame = pd.DataFrame({"model": ["A1", "A1", "A2", "A2", "B1", "B1", "B2", "B3"], "seed": [0, 1, 0, 1, 0, 1, 0, 0],
                          "test_error": [10.0, 12.0, 9.0, 9.0, 11.0, 11.0, 8.0, 7.0]})
    fig = plot_ensemble_sizes(frame, {"born-again": ["A1", "A2"], "independent": ["B1", "B2", "B3"]},
                              dashed=["independent"])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["born-again", "independent"]
    assert [tick for tick in ax.get_xticks()] == [1, 2, 3]
    born_again, independent = ax.containers
    assert born_again.lines[0].get_ydata().tolist() == [11.0, 9.0]
    assert independent.lines[0].get_ydata().tolist() == [11.0, 8.0, 7.0]
    assert born_again.lines[0].get_linestyle() == "-" and independent.lines[0].get_linestyle() == "--"
    assert len(ax.collections[0].get_offsets()) == 2  # A1's two replicates as dots
    plt.close(fig)


def test_top_confusion_share_is_the_largest_wrong_class_over_all_wrong_classes():
    from bannb.report import class_mean_outputs, top_confusion_share
    means = class_mean_outputs(FIG_PROBS, FIG_LABELS, FIG_CLASSES)
    shares = top_confusion_share(means)
    # a: 0.08 of 0.10 wrong mass on b; b: 0.30 of 0.55 on a; c: 0.40 of 0.475 on b
    assert shares.tolist() == pytest.approx([0.8, 0.30 / 0.55, 0.40 / 0.475])
    even = pd.DataFrame(np.full((3, 3), 0.1) + np.diag([0.7] * 3), index=FIG_CLASSES, columns=FIG_CLASSES)
    assert top_confusion_share(even).tolist() == pytest.approx([0.5] * 3)  # an even spread: 1 / (classes − 1)


def test_disagreement_counts_differing_top_classes():
    from bannb.report import disagreement
    a = fake_run(probs=[[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]], labels=[0, 1, 0, 1])
    b = fake_run(probs=[[0.9, 0.1], [0.7, 0.3], [0.6, 0.4], [0.8, 0.2]], labels=[0, 1, 0, 1])
    assert disagreement(a, b) == pytest.approx(50.0) and disagreement(a, a) == 0.0


def test_ensemble_diversity_records_measure_disagreement_and_the_gain_of_averaging():
    from bannb.report import ensemble_diversity_records
    labels = [0, 1, 0, 1]
    # a is right on images 0-2, b on 1-3; averaged, the confident right answers win everywhere
    a = fake_run(probs=[[0.9, 0.1], [0.4, 0.6], [0.6, 0.4], [0.55, 0.45]], labels=labels, test_error=0.25)
    b = fake_run(probs=[[0.45, 0.55], [0.1, 0.9], [0.9, 0.1], [0.2, 0.8]], labels=labels, test_error=0.25)
    row = ensemble_diversity_records([[a, b], [a, a]], kind="pair").iloc[0]
    assert row["kind"] == "pair" and row["members"] == 2
    assert row["disagreement"] == pytest.approx(50.0)
    assert row["member_error"] == pytest.approx(25.0) and row["ensemble_error"] == pytest.approx(0.0)
    assert row["gain"] == pytest.approx(25.0)
    same = ensemble_diversity_records([[a, a]]).iloc[0]
    assert same["disagreement"] == 0.0 and same["gain"] == pytest.approx(0.0)
