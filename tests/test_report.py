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
    ensemble_records,
    format_mean_std,
    mean_std,
    metrics_records,
    plot_errors,
    plot_learning_curves,
    run_records,
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


def test_final_fields_reads_each_runs_record_and_nan_where_there_is_none(tmp_path):
    import json

    from bannb.report import final_fields
    (tmp_path / "t0").mkdir()
    (tmp_path / "t0" / "final.json").write_text(json.dumps(dict(train_seconds=12.5, teacher=None)))
    (tmp_path / "s0").mkdir()
    (tmp_path / "s0" / "final.json").write_text(json.dumps(dict(train_seconds=20.0, teacher="t0")))
    frame = pd.DataFrame(dict(model=["Teacher", "BAN-1", "Ens*2", "gone"], run_id=["t0", "s0", "t0 + s0", "x9"]),
                         index=[3, 4, 5, 6])
    fields = final_fields(frame, ("train_seconds", "teacher", "never_recorded"), tmp_path)
    assert fields.index.tolist() == [0, 1, 2, 3] and fields["model"].tolist() == frame["model"].tolist()
    assert fields["train_seconds"].tolist()[:2] == [12.5, 20.0]
    assert fields.loc[1, "teacher"] == "t0" and math.isnan(fields.loc[0, "teacher"])  # null: a teacher has none
    assert fields.loc[2:, ["train_seconds", "teacher"]].isna().all().all()  # an ensemble; a run with no record
    assert fields["never_recorded"].isna().all()


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


CLASSES = ["a", "b", "c"]
# three images of classes 0, 1, 2: a confident right answer, an unsure right one, a confident wrong one
PROBS = np.array([[0.90, 0.08, 0.02], [0.30, 0.45, 0.25], [0.05, 0.70, 0.25]])
LABELS = np.array([0, 1, 2])


def test_born_again_diagram_has_a_box_per_model_an_arrow_per_student_and_a_bracket_per_ensemble():
    from matplotlib.patches import FancyBboxPatch

    from bannb.report import plot_born_again_diagram
    fig = plot_born_again_diagram(3)
    ax = fig.axes[0]
    boxes = [patch for patch in ax.patches if isinstance(patch, FancyBboxPatch)]
    texts = [text.get_text() for text in ax.texts]
    assert len(boxes) == 4
    assert [t for t in texts if t in ("Teacher", "BAN-1", "BAN-2", "BAN-3")] == ["Teacher", "BAN-1", "BAN-2", "BAN-3"]
    assert texts.count("teaches") == 3
    assert len([t for t in ax.texts if getattr(t, "arrow_patch", None) is not None]) == 3  # the "teaches" arrows
    assert [t for t in texts if t.startswith("Ens*")] == ["Ens*2: mean of BAN-1…BAN-2", "Ens*3: mean of BAN-1…BAN-3"]
    plt.close(fig)
    fig = plot_born_again_diagram(1)  # one student: no ensemble
    assert not [t for t in fig.axes[0].texts if t.get_text().startswith("Ens*")]
    plt.close(fig)
    with pytest.raises(ValueError):
        plot_born_again_diagram(0)


def test_true_class_probability_and_the_soft_target_examples_rule():
    from bannb.report import soft_target_examples, true_class_probability
    assert true_class_probability(PROBS, LABELS).tolist() == [0.90, 0.45, 0.25]
    # right answers 0 (p* 0.90) and 1 (0.45): the median of two sorted [1, 0] is 0; the one nearest 0.5 is 1;
    # the wrong one with the highest p* is 2
    assert soft_target_examples(PROBS, LABELS, count=3) == [0, 1, 2]
    assert soft_target_examples(PROBS, LABELS, count=2) == [0, 1]
    all_right = PROBS[:2]
    assert soft_target_examples(all_right, LABELS[:2], count=3) == [0, 1]  # never a row twice, never past the rows


def test_plot_soft_targets_one_panel_per_image_true_class_highlighted():
    from bannb.report import plot_soft_targets
    images = np.zeros((3, 1, 4, 4), dtype=np.uint8)
    fig = plot_soft_targets(PROBS, LABELS, CLASSES, [0, 2], images=images)
    assert len(fig.axes) == 4  # two images above two bar panels
    bars = fig.axes[2]
    assert len(bars.patches) == 3 and bars.get_xscale() == "log"
    colours = [patch.get_facecolor() for patch in bars.patches]
    assert colours[0] != colours[1] == colours[2]  # the true class (a) stands out
    assert bars.get_title() == "true: a, p* = 0.90" and fig.axes[3].get_title() == "true: c, p* = 0.25"
    assert [t.get_text() for t in bars.get_yticklabels()] == CLASSES
    plt.close(fig)
    fig = plot_soft_targets(PROBS, LABELS, CLASSES, [1], log=False)
    assert len(fig.axes) == 1 and fig.axes[0].get_xscale() == "linear"
    plt.close(fig)


def test_plot_class_differences_draws_q_minus_p_and_both_terms():
    from bannb.report import plot_class_differences
    teacher = PROBS[1]
    fig = plot_class_differences({"start": [1 / 3] * 3, "end": teacher}, teacher, label=1, classes=CLASSES)
    start, end = fig.axes
    assert [patch.get_height() for patch in start.patches] == pytest.approx([1 / 3 - 0.30, 1 / 3 - 0.45, 1 / 3 - 0.25])
    assert start.get_title() == "start\nq* − p* = -0.117; Σ over i ≠ * = +0.117"
    assert [patch.get_height() for patch in end.patches] == pytest.approx([0, 0, 0])
    plt.close(fig)


def test_class_mean_outputs_averages_per_true_class_and_draws_a_heatmap():
    from bannb.report import class_mean_outputs, plot_class_heatmap
    probs = np.vstack([PROBS, [[0.10, 0.10, 0.80]]])
    labels = np.array([0, 1, 2, 2])
    means = class_mean_outputs(probs, labels, CLASSES)
    assert means.index.tolist() == CLASSES and means.columns.tolist() == CLASSES
    assert means.loc["c"].tolist() == pytest.approx([0.075, 0.40, 0.525])
    assert means.sum(axis=1).tolist() == pytest.approx([1, 1, 1])
    fig = plot_class_heatmap(means, title="teacher")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "output class" and ax.get_ylabel() == "true class" and ax.get_title() == "teacher"
    annotations = [t.get_text() for t in ax.texts]
    assert len(annotations) == 9 and "90.0" in annotations and "52.5" in annotations
    plt.close(fig)


def test_plot_true_class_probability_uses_a_log_count_axis():
    from bannb.report import plot_true_class_probability
    fig = plot_true_class_probability([0.99, 0.98, 0.2], bins=10)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and len(ax.patches) == 10
    assert sum(patch.get_height() for patch in ax.patches) == 3
    plt.close(fig)


def test_plot_paper_rows_draws_the_tables_columns_in_order():
    from bannb.report import plot_paper_rows
    table = pd.DataFrame({"T": [2.0, 3.0], "S": [1.0, 2.5]}, index=pd.Index(["x", "y"], name="Network"))
    fig = plot_paper_rows(table, ["T", "S"], title="paper")
    ax = fig.axes[0]
    assert [label.get_text() for label in ax.get_xticklabels()] == ["T", "S"] and ax.get_title() == "paper"
    assert [text.get_text() for text in ax.get_legend().get_texts()] == ["x", "y"]
    plt.close(fig)


def _curves(schedule_lr, models=("T", "S"), seeds=(0, 1)):
    """metrics_records-like rows: per model and seed, one row per epoch with the given lr."""
    rows = []
    for m, model in enumerate(models):
        for seed in seeds:
            for epoch, lr in enumerate(schedule_lr, start=1):
                rows.append(dict(model=model, seed=seed, epoch=epoch, lr=lr, valid_error=30.0 / epoch + m + seed,
                                 train_probe_accuracy=1 - 0.2 / epoch ** 2 if epoch < len(schedule_lr) else 1.0))
    return pd.DataFrame(rows)


def test_plot_last_epochs_zooms_on_the_last_fifth_and_marks_the_lr_schedule():
    from bannb.report import plot_last_epochs
    step = [0.1, 0.1, 0.1, 0.02, 0.02, 0.004, 0.004, 0.0008, 0.0008, 0.0008]
    fig = plot_last_epochs(_curves(step), hue="model", title="curves")
    train_ax, valid_ax, zoom_ax = fig.axes
    assert train_ax.get_yscale() == "log" and valid_ax.get_yscale() == "log" and zoom_ax.get_yscale() == "linear"
    assert zoom_ax.get_ylabel() == "validation error (%), epochs 8–10"
    # one line per model in each panel, and the zoom shows only its epochs
    assert len([line for line in zoom_ax.get_lines() if len(line.get_xdata()) == 3]) == 2
    assert all(min(line.get_xdata()) >= 8 for line in zoom_ax.get_lines()
               if line.get_linestyle() != "--" and len(line.get_xdata()))
    # dashed lines at the drops (`lr_marks`: halfway between epochs 3|4, 5|6, 7|8) on each full panel; the zoom
    # (epochs 8-10) has none
    dashed = [[line.get_xdata()[0] for line in ax.get_lines() if line.get_linestyle() == "--"] for ax in fig.axes]
    assert dashed == [[3.5, 5.5, 7.5], [3.5, 5.5, 7.5], []]
    # a run that fits its training set (0 errors at the end) still has a finite log axis
    assert np.isfinite(train_ax.get_ylim()).all() and train_ax.get_ylim()[0] > 0
    fig.canvas.draw()  # the log axes read in plain numbers, not powers of ten
    assert "2" in [t.get_text() for t in valid_ax.get_yticklabels()]
    assert [text.get_text() for text in zoom_ax.get_legend().get_texts()] == ["T", "S"]
    plt.close(fig)
    # several networks per model: one line per (model, network), the networks told apart in the legend
    curves = pd.concat([_curves(step).assign(network=network) for network in ("a", "b")], ignore_index=True)
    fig = plot_last_epochs(curves, hue="model", style="network")
    zoom_ax = fig.axes[2]
    assert len([line for line in zoom_ax.get_lines() if len(line.get_xdata()) == 3]) == 4
    assert [text.get_text() for text in zoom_ax.get_legend().get_texts()] == ["model", "T", "S", "network", "a", "b"]
    plt.close(fig)


def test_plot_against_floor_colours_the_models_that_do_not_beat_it():
    from bannb.report import plot_against_floor
    frame = pd.DataFrame({"model": ["good"] * 3 + ["bad"] * 3 + ["Linear"] * 3,
                          "test_error": [10.0, 11.0, 12.0, 20.0, 21.0, 22.0, 15.0, 16.0, 17.0]})
    fig = plot_against_floor(frame, floor="Linear", title="floor")
    ax = fig.axes[0]
    assert [label.get_text() for label in ax.get_yticklabels()] == ["good", "bad"]  # the floor is a line, not a row
    assert ax.get_xlabel() == "test error (%)" and ax.get_title() == "floor"
    floor_lines = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert len(floor_lines) == 1 and floor_lines[0].get_xdata()[0] == pytest.approx(16.0)
    # seeds' dots: blue for the model that beats the floor, red for the one that does not
    colours = [tuple(np.round(c.get_facecolor()[0][:3], 3)) for c in ax.collections if len(c.get_offsets()) == 3]
    assert colours == [tuple(np.round(matplotlib.colors.to_rgb("tab:blue"), 3)),
                       tuple(np.round(matplotlib.colors.to_rgb("tab:red"), 3))]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["beats the floor", "does not beat the floor",
                                                                    "Linear: mean", "Linear: ± 1 std"]
    with pytest.raises(ValueError, match="no rows of the floor"):
        plot_against_floor(frame[frame["model"] != "Linear"], floor="Linear")
    plt.close(fig)


def test_record_runs_are_the_rows_runs_in_order_and_refuse_ensembles(tmp_path):
    import json

    from bannb.image.config import RunConfig
    from bannb.report import record_runs
    for name, seed in (("b", 1), ("a", 0)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text(json.dumps(RunConfig(arch="wrn-16-1", seed=seed).to_dict()))
        (tmp_path / name / "final.json").write_text("{}")
    runs = record_runs(pd.DataFrame({"run_id": ["a", "b"]}), runs_dir=tmp_path)
    assert [(run.run_id, run.config.seed) for run in runs] == [("a", 0), ("b", 1)]
    with pytest.raises(ValueError, match="1 rows are ensembles"):
        record_runs(pd.DataFrame({"run_id": ["a", "a + b"]}), runs_dir=tmp_path)


def test_plot_claims_forest_one_panel_per_table_one_row_per_claim():
    from bannb.report import VERDICT_COLORS, plot_claims_forest
    from bannb.study.claims import CLAIMS, evaluate
    chosen = [c for c in CLAIMS if c.key in ("ban1-vs-teacher", "banl-vs-teacher", "wrn-ban-vs-teacher",
                                             "ban1-vs-long-teacher")]
    frame = pd.DataFrame([dict(model=model, seed=seed, test_error=base + 0.05 * ((seed + len(model)) % 3))
                          for model, base in (("Teacher", 10.0), ("BAN-1", 9.0), ("BAN+L", 10.0))
                          for seed in range(5)])
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


def test_plot_student_differences_against_the_teachers_fit_marks_zero_and_the_criterion():
    from bannb.report import plot_student_differences
    pairs = pd.DataFrame(dict(model=["BAN-1", "BAN-1", "CWTM"], teacher_train_accuracy=[97.0, 99.5, 99.0],
                              difference=[0.4, -0.2, 0.1]))
    fig = plot_student_differences(pairs, x=["teacher_train_accuracy"])
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


def test_lr_marks_tell_a_cycle_from_steps():
    from bannb.report import lr_marks
    cycle = [0.02, 0.06, 0.1, 0.09, 0.07, 0.04, 0.02, 0.01, 0.001, 0.00001]
    assert lr_marks(cycle) == dict(kind="cycle", peak=3, drops=[], hold=None)
    steps = [0.1, 0.1, 0.1, 0.02, 0.02, 0.02, 0.004, 0.004, 0.0008, 0.0008]
    assert lr_marks(steps) == dict(kind="step", peak=None, drops=[3.5, 6.5, 8.5], hold=None)
    assert lr_marks([0.1, 0.1, 0.1], epochs=[5, 6, 7]) == dict(kind="step", peak=None, drops=[], hold=None)
    # one-cycle-hold: a cycle that ends on epochs 8-10 at its final lr; the hold starts at the first of them
    held = [0.02, 0.06, 0.1, 0.09, 0.07, 0.04, 0.02, 0.0008, 0.0008, 0.0008]
    assert lr_marks(held) == dict(kind="cycle", peak=3, drops=[], hold=8)
    assert lr_marks(held, epochs=range(11, 21))["hold"] == 18


def test_one_cycle_hold_schedule_anneals_to_the_step_recipes_last_lr_and_holds_it():
    from bannb.image.learner import multistep_schedule, one_cycle_hold_schedule
    schedule = one_cycle_hold_schedule(0.1, milestones=(0.3, 0.6, 0.8), gamma=0.2)
    step = multistep_schedule(0.1, (0.3, 0.6, 0.8), 0.2)
    assert schedule(0.0) == pytest.approx(0.1 / 25)  # fastai's one-cycle warm-up start
    assert schedule(0.25 * 0.8) == pytest.approx(0.1)  # the peak, a quarter of the way to the last milestone
    for progress in (0.8, 0.85, 0.99, 1.0):  # the last fifth: the step recipe's final lr, held
        assert schedule(progress) == pytest.approx(step(progress)) == pytest.approx(0.1 * 0.2 ** 3)
    values = [schedule(p / 100) for p in range(20, 81)]
    assert all(a >= b for a, b in zip(values, values[1:]))  # annealing never goes back up


def test_one_cycle_hold_momentum_follows_the_cycle_then_stays_at_its_end():
    from bannb.image.learner import schedule_callbacks
    momentum = schedule_callbacks("one-cycle-hold", 0.1, milestones=(0.3, 0.6, 0.8))[0].scheds["mom"]
    assert momentum(0.0) == pytest.approx(0.95)
    assert momentum(0.25 * 0.8) == pytest.approx(0.85)  # lowest at the lr's peak, as fastai's one-cycle
    for progress in (0.8, 0.9, 1.0):
        assert momentum(progress) == pytest.approx(0.95)
    assert momentum(0.5) < momentum(0.7) < 0.95  # still rising back before the last milestone


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


def test_plot_paired_seeds_draws_the_paper_beside():
    from bannb.report import plot_paired_seeds
    frame = pd.DataFrame(dict(model=["Teacher", "BAN-1", "BAN-2", "Teacher", "BAN-1", "BAN-2", "BAN-3"],
                              seed=[0, 0, 0, 1, 1, 1, 1], test_error=[10.0, 9.5, 9.4, 10.2, 9.9, 9.8, 9.7]))
    order = ["Teacher", "BAN-1", "BAN-2", "BAN-3"]
    table = pd.DataFrame({"Teacher": [18.0, 17.0], "BAN-1": [17.5, 16.5], "BAN-2": [17.2, 16.4], "BAN-3": [17.0, 16.7],
                          "CWTM": [17.8, 17.4]}, index=pd.Index(["112-33", "90-60"], name="Network"))
    fig = plot_paired_seeds(frame, order, paper=table)
    paper_ax, ours = fig.axes
    lines = ours.get_lines()
    assert [len(line.get_xdata()) for line in lines] == [3, 4, 4]  # seed 0 has no BAN-3; the mean line
    assert list(lines[-1].get_ydata()[:3]) == pytest.approx([10.1, 9.7, 9.6])
    assert [label.get_text() for label in ours.get_xticklabels()] == order
    assert [label.get_text() for label in paper_ax.get_xticklabels()] == order  # CWTM is not in the sequence
    assert len(plot_paired_seeds(frame, order).axes) == 1
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
    assert not [line for ax in fig.axes for line in ax.lines if line.get_linestyle() == ":"]  # no criterion here
    plt.close(fig)


def test_plot_patience_draws_a_line_per_cell_over_the_epochs_and_fills_the_finished_teachers():
    from bannb.report import plot_patience
    from bannb.report.figures import PATIENCE_DODGE
    points = pd.DataFrame(dict(cell=["a", "a", "a", "b"], epochs=[60, 30, 120, 30], mean=[-0.2, 0.5, 0.1, 1.0],
                               low=[-0.5, 0.1, -0.3, math.nan], high=[0.1, 0.9, 0.5, math.nan], n=[5, 5, 5, 1],
                               finished=[True, False, False, False]))
    fig = plot_patience(points, title="patience")
    ax = fig.axes[0]
    lines = {container.get_label(): container for container in ax.containers}
    assert list(lines) == ["a", "b"]
    data_line, _, (bars,) = lines["a"].lines
    # sorted by epochs, the two cells set apart about each length by the same factor
    shift = 2 ** (PATIENCE_DODGE / 2)
    assert data_line.get_xdata().tolist() == pytest.approx([30 / shift, 60 / shift, 120 / shift])
    assert data_line.get_ydata().tolist() == [0.5, -0.2, 0.1]
    assert [segment[:, 1].tolist() for segment in bars.get_segments()] == [
        pytest.approx([0.1, 0.9]), pytest.approx([-0.5, 0.1]), pytest.approx([-0.3, 0.5])]
    (_, _, (single,)) = lines["b"].lines
    assert [segment[:, 1].tolist() for segment in single.get_segments()] == [[1.0, 1.0]]  # one seed: no interval
    markers = {collection.get_gid(): collection for collection in ax.collections if collection.get_gid()}
    # filled where the teacher is finished (the 60-epoch one of a), hollow elsewhere
    assert markers["a"].get_offsets()[:, 0].tolist() == pytest.approx([30 / shift, 60 / shift, 120 / shift])
    assert markers["b"].get_offsets()[:, 0].tolist() == pytest.approx([30 * shift])
    assert [face[3] for face in markers["a"].get_facecolors()] == [0.0, 1.0, 0.0]
    assert [face[3] for face in markers["b"].get_facecolors()] == [0.0]
    assert ax.get_xscale() == "log" and ax.get_xticks().tolist() == [30, 60, 120]
    assert [label.get_text() for label in ax.get_xticklabels()] == ["30", "60", "120"]
    assert "epochs" in ax.get_xlabel() and ax.get_title() == "patience"
    assert sorted(line.get_ydata()[0] for line in ax.lines if line.get_linestyle() == "--") == [-0.3, 0.3]
    plt.close(fig)
