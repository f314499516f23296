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


def test_plot_claims_forest_one_panel_per_table_one_row_per_claim():
    from bannb.claims import CLAIMS, evaluate
    from bannb.report import VERDICT_COLORS, plot_claims_forest
    chosen = [c for c in CLAIMS if c.key in ("ban1-vs-teacher", "banl-vs-teacher", "wrn-ban-vs-teacher",
                                             "ban1-vs-long-teacher")]
    frame = pd.DataFrame([dict(model=model, seed=seed, test_error=base + 0.05 * ((seed + len(model)) % 3))
                          for model, base in (("Teacher", 10.0), ("BAN-1", 9.0), ("BAN+L", 10.0))
                          for seed in range(4)])
    table = evaluate(frame, chosen)
    fig = plot_claims_forest(table)
    panels = [ax for ax in fig.axes if ax.get_yticklabels()]
    assert [ax.get_title(loc="left") for ax in panels] == ["the paper's Table 2", "the paper's Table 3",
                                                            "our controls (not in the paper)"]
    labels = [t.get_text() for t in panels[0].get_yticklabels()]
    assert sorted(labels) == ["BAN+L − Teacher", "BAN-1 − Teacher"]
    at = dict(zip(panels[0].get_yticks(), labels))
    assert at[max(at)] == "BAN-1 − Teacher"  # the table's first claim is drawn at the top
    assert panels[-1].get_xlabel() == "b − a in points of error (left of 0: b is better)"
    assert not panels[0].get_xlabel() and panels[0].get_shared_x_axes().joined(panels[0], panels[-1])
    texts = [t.get_text() for ax in panels for t in ax.texts]
    verdicts = table.set_index("key")["verdict"]
    assert verdicts["ban1-vs-teacher"] == "holds" and "holds" in texts
    assert texts.count("not run") == 2 * 2  # two claims without runs: at zero and in the verdict column
    # the paper's diamond on every paper claim with runs or without; ours only where there are runs
    diamonds = [line for ax in panels for line in ax.lines if line.get_marker() == "D"]
    assert sum(len(line.get_xdata()) for line in diamonds) == 3
    dots = [line for ax in panels for line in ax.lines if line.get_marker() == "o"]
    assert len(dots) == 2 and {line.get_color() for line in dots} <= set(VERDICT_COLORS.values())
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any(text.startswith("the paper") for text in legend) and "ours, 95% CI: holds" in legend
    plt.close(fig)


def test_plot_claims_forest_gives_another_unit_its_own_axis():
    from bannb.report import plot_claims_forest
    base = dict(n=3, verdict="holds", paper_mean=-1.0, a="Teacher", b="BAN")
    table = pd.DataFrame([dict(base, table="Table 2", mean=-0.5, ci_low=-0.8, ci_high=-0.2),
                          dict(base, table="Table 6", mean=-4.0, ci_low=-6.0, ci_high=-2.0,
                               unit="perplexity points", margin=3.0)])
    table.loc[0, ["unit", "margin"]] = ["points of error", 0.3]
    fig = plot_claims_forest(table)
    errors, perplexity = [ax for ax in fig.axes if ax.get_yticklabels()]
    assert errors.get_xlabel() == "b − a in points of error (left of 0: b is better)"
    assert perplexity.get_xlabel() == "b − a in perplexity points (left of 0: b is better)"
    assert not errors.get_shared_x_axes().joined(errors, perplexity)
    assert perplexity.get_xlim()[0] <= -6.0 and errors.get_xlim()[1] < 3.0
    plt.close(fig)


def test_plot_student_gains_marks_zero_and_the_criterion():
    from bannb.report import plot_student_gains
    pairs = pd.DataFrame(dict(model=["BAN-1", "BAN-1", "CWTM"], teacher_train_accuracy=[97.0, 99.5, 99.0],
                              gain=[0.4, -0.2, 0.1]))
    fig = plot_student_gains(pairs)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "the teacher's clean training accuracy (%)" and ax.get_ylabel().startswith("student −")
    assert [line.get_xdata()[0] for line in ax.lines if line.get_linestyle() == ":"] == [pytest.approx(98.0)]
    assert sum(len(c.get_offsets()) for c in ax.collections) == 3
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["BAN-1", "CWTM"]
    plt.close(fig)


def test_plot_step_speedups_one_panel_per_cpu_and_a_bar_per_measured_candidate():
    from bannb.report import plot_step_speedups
    labels = ["fp32", "fp32+channels-last", "bf16", "bf16+channels-last"]
    steps = pd.DataFrame([
        {"CPU": "Xeon", "case": "wrn", "plain fp32 loop": 200.0, "fp32": 200.0, "fp32+channels-last": 160.0,
         "bf16": math.inf, "bf16+channels-last": 170.0, "auto picks": "fp32+channels-last"},
        {"CPU": "EPYC", "case": "wrn", "plain fp32 loop": 500.0, "fp32": math.nan, "fp32+channels-last": math.nan,
         "bf16": math.nan, "bf16+channels-last": 250.0, "auto picks": "bf16+channels-last"}])
    machines = pd.DataFrame({"CPU": ["Xeon", "EPYC"], "bf16 / fp32": [0.54, 2.27]})
    fig = plot_step_speedups(steps, machines, labels)
    xeon, epyc = [ax for ax in fig.axes if ax.get_title()]
    assert (xeon.get_title(), epyc.get_title()) == ("Xeon", "EPYC")
    assert [p.get_width() for p in xeon.patches] == pytest.approx([1.0, 1.25, 200 / 170])
    assert [p.get_width() for p in epyc.patches] == pytest.approx([2.0])
    assert [t.get_text() for t in xeon.texts] == ["gave up"]
    assert [p.get_linewidth() > 0 for p in xeon.patches] == [False, True, False]  # auto's pick has an edge
    ratio = [line.get_xdata()[0] for line in epyc.lines if line.get_linestyle() == ":"]
    assert ratio == [pytest.approx(2.27)] and xeon.get_xlabel().startswith("speed-up")
    plt.close(fig)
