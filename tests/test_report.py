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


# ---------------------------------------------------------------- convergence and generations figures

def test_lr_marks_tell_a_cycle_from_steps():
    from bannb.report import lr_marks
    cycle = [0.02, 0.06, 0.1, 0.09, 0.07, 0.04, 0.02, 0.01, 0.001, 0.00001]
    assert lr_marks(cycle) == dict(kind="cycle", peak=3, drops=[])
    steps = [0.1, 0.1, 0.1, 0.02, 0.02, 0.02, 0.004, 0.004, 0.0008, 0.0008]
    assert lr_marks(steps) == dict(kind="step", peak=None, drops=[3.5, 6.5, 8.5])
    assert lr_marks([0.1, 0.1, 0.1], epochs=[5, 6, 7]) == dict(kind="step", peak=None, drops=[])


def fit_metrics(seeds=(0, 1), epochs=10, lr=None):
    lr = lr or [0.02, 0.06, 0.1, 0.09, 0.07, 0.04, 0.02, 0.01, 0.001, 0.00001][:epochs]
    rows = []
    for seed in seeds:
        for epoch in range(1, epochs + 1):
            rows.append(dict(seed=seed, epoch=epoch, lr=lr[epoch - 1], valid_accuracy=0.8 + 0.01 * epoch,
                             train_probe_accuracy=min(1.0, 0.8 + 0.03 * epoch)))  # 0 training error at the end
    return pd.DataFrame(rows)


def test_plot_fit_curves_marks_the_lr_peak_and_zooms_on_the_last_fifth():
    from bannb.report import plot_fit_curves
    fig = plot_fit_curves(fit_metrics(), hue="seed", title="teachers")
    whole, lr_axis, end = fig.axes[0], fig.axes[2], fig.axes[1]
    assert whole.get_yscale() == "log" and whole.get_title() == "whole run"
    # 2 seeds × (validation, training probe) lines; the criterion's allowed training error; the lr peak
    assert len([line for line in whole.get_lines() if len(line.get_xdata()) == 10]) == 4
    assert any("lr peak" in text.get_text() for text in whole.texts)
    assert any("2%" in text.get_text() for text in whole.texts)
    assert lr_axis.get_ylabel() == "learning rate" and len(lr_axis.get_lines()) == 1
    # the window of the criterion: ceil(10/5) = 2 last epochs and the one before, one line per seed
    windows = [line.get_xdata() for line in end.get_lines()]
    assert len(windows) == 2 and all(list(x) == [8, 9, 10] for x in windows)
    assert fig._suptitle.get_text() == "teachers"
    plt.close(fig)


def test_plot_fit_curves_marks_step_drops():
    from bannb.report import plot_fit_curves
    steps = [0.1, 0.1, 0.1, 0.02, 0.02, 0.02, 0.004, 0.004, 0.0008, 0.0008]
    fig = plot_fit_curves(fit_metrics(seeds=(0,), lr=steps))
    assert sum("lr drop" in text.get_text() for text in fig.axes[0].texts) == 3
    plt.close(fig)


def test_plot_regime_study_has_four_panels_one_bar_per_candidate():
    from bannb.report import plot_regime_study
    records = pd.DataFrame(dict(candidate=["a", "b", "c"], train_accuracy=[99.5, 95.0, 98.5],
                                last_fifth_change=[-0.1, -2.0, 0.2], allowed_drop=[0.9, 0.9, 0.9],
                                converged=[True, False, True], test_error=[9.0, 10.0, 9.5],
                                train_minutes=[3.0, 3.0, 6.0]))
    fig = plot_regime_study(records)
    assert len(fig.axes) == 4
    assert [label.get_text() for label in fig.axes[0].get_yticklabels()] == ["a", "b", "c"]
    assert all(len(ax.patches) == 3 for ax in fig.axes)
    colours = [patch.get_facecolor() for patch in fig.axes[0].patches]
    assert colours[0] == colours[2] != colours[1]  # coloured by the criterion
    assert fig.axes[1].get_xlabel().startswith("validation error change")
    plt.close(fig)


def test_plot_generation_slopes_draws_a_line_per_seed_and_the_paper_beside():
    from bannb.report import plot_generation_slopes
    frame = pd.DataFrame(dict(model=["Teacher", "BAN-1", "BAN-2", "Teacher", "BAN-1", "BAN-2", "BAN-3"],
                              seed=[0, 0, 0, 1, 1, 1, 1], test_error=[10.0, 9.5, 9.4, 10.2, 9.9, 9.8, 9.7]))
    order = ["Teacher", "BAN-1", "BAN-2", "BAN-3"]
    table = pd.DataFrame({"Teacher": [18.0, 17.0], "BAN-1": [17.5, 16.5], "BAN-2": [17.2, 16.4], "BAN-3": [17.0, 16.7],
                          "CWTM": [17.8, 17.4]}, index=pd.Index(["112-33", "90-60"], name="Network"))
    fig = plot_generation_slopes(frame, order, paper=table)
    paper_ax, ours = fig.axes
    lines = ours.get_lines()
    assert [len(line.get_xdata()) for line in lines] == [3, 4, 4]  # seed 0 has no BAN-3; the mean line
    assert list(lines[-1].get_ydata()[:3]) == pytest.approx([10.1, 9.7, 9.6])
    assert [label.get_text() for label in ours.get_xticklabels()] == order
    assert [label.get_text() for label in paper_ax.get_xticklabels()] == order  # CWTM is not in the sequence
    assert len(plot_generation_slopes(frame, order).axes) == 1
    plt.close("all")


def test_plot_student_differences_one_marker_per_student_in_each_panel():
    from bannb.report import plot_student_differences
    records = pd.DataFrame(dict(model=["BAN-1", "BAN-1", "BAN-2"], teacher_train_targets_wrong=[0.5, 1.0, 0.2],
                                test_agreement_with_teacher=[95.0, 96.0, 97.5], difference=[-0.3, 0.1, 0.0]))
    fig = plot_student_differences(records)
    assert len(fig.axes) == 2
    for ax in fig.axes:
        assert sum(len(collection.get_offsets()) for collection in ax.collections) == 3
        assert ax.get_ylabel().startswith("student − its teacher")
    assert fig.axes[0].get_xlabel().startswith("teacher's training targets")
    assert fig.axes[1].get_xlabel().startswith("student's test agreement")
    assert fig.axes[0].get_legend() is None and fig.axes[1].get_legend() is not None
    plt.close(fig)
