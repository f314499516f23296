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


def lm_fake_run(label_seed, valid, lr):
    config = SimpleNamespace(base_seed=label_seed, corpus="fortunes", arch="lstm-1x8", loss="ce")
    final = dict(test_ppl=valid[-1] + 1, valid_ppl=valid[-1], train_ppl=valid[-1] / 2, parameters=7)
    metrics = pd.DataFrame({"epoch": range(1, len(valid) + 1), "valid_ppl": valid,
                            "train_probe_ppl": [v / 2 for v in valid], "lr": lr})
    return SimpleNamespace(config=config, final=final, run_id=f"lm{label_seed}", metrics=lambda: metrics.copy())


def test_lm_records_and_curves():
    from bannb.report import lm_metrics_records, lm_run_records, plot_lm_curves
    runs = [lm_fake_run(0, [200, 150, 130, 125, 124], [20, 20, 20, 5, 5]),
            lm_fake_run(1, [210, 160, 140, 128, 127], [20, 20, 5, 5, 1.25])]
    records = lm_run_records(runs, model="Teacher")
    assert list(records.columns[:3]) == ["model", "seed", "corpus"]
    assert list(records["test_ppl"]) == [125, 128] and list(records["train_ppl"]) == [62, 63.5]
    metrics = pd.concat([lm_metrics_records(runs, model="Teacher"),
                         lm_metrics_records(runs[:1], model="BAN")], ignore_index=True)
    assert len(metrics) == 15 and list(metrics.columns[:2]) == ["model", "seed"]
    fig = plot_lm_curves(metrics, order=["Teacher", "BAN"])
    all_ax, end_ax = fig.axes
    assert all_ax.get_yscale() == "log" and end_ax.get_xlim()[0] >= 3.5  # the zoom: epochs 4-5 only
    # the lr drops: Teacher seed 0 at epoch 4, seed 1 at 3 and 5, BAN (seed 0) at 4 — 4 triangles in all,
    # 3 of them in the last epochs' panel (epochs 4-5)
    drops = lambda ax: sum(len(c.get_offsets()) for c in ax.collections if c.get_gid() == "lr-drops")  # noqa: E731
    assert drops(all_ax) == 4 and drops(end_ax) == 3
    assert len(end_ax.get_lines()) == 3  # one line per (model, seed)
    plt.close(fig)


def test_plot_relative_changes_puts_each_seed_against_its_own_baseline():
    from bannb.report import plot_relative_changes
    frame = pd.DataFrame({"model": ["T", "T", "S", "S", "U", "U"], "seed": [0, 1] * 3,
                          "test_ppl": [100.0, 200.0, 90.0, 190.0, 100.0, 210.0]})
    fig = plot_relative_changes(frame, "T", ["S", "U"], paper={"S": [-4.0, -5.0]}, title="t")
    ax = fig.axes[0]
    assert [label.get_text() for label in ax.get_xticklabels()] == ["S", "U"] and ax.get_title() == "t"
    ours = [c for c in ax.collections if c.get_gid() == "seeds"]
    assert sorted(np.round(ours[0].get_offsets()[:, 1], 6)) == [-10.0, -5.0]  # 90/100, 190/200
    assert sorted(np.round(ours[1].get_offsets()[:, 1], 6)) == [0.0, 5.0]
    paper = [c for c in ax.collections if c.get_gid() == "paper"]
    assert len(paper) == 1 and sorted(paper[0].get_offsets()[:, 1]) == [-5.0, -4.0]
    plt.close(fig)
