"""bannb.facts.gradient: what chapter 2 reads off one teacher and its student."""
import math

import pandas as pd
import pytest
import torch

from bannb.facts import gradient

CLASSES = ["a", "b", "c"]


def test_teacher_facts_on_a_teacher_right_on_two_of_four():
    probs = torch.tensor([[0.8, 0.1, 0.1], [0.3, 0.6, 0.1], [0.995, 0.004, 0.001], [0.2, 0.2, 0.6]])
    labels = torch.tensor([0, 1, 1, 0])  # right, right, wrong (p* = 0.004), wrong (p* = 0.2)
    facts = gradient.teacher_facts(probs, labels, seed=3, arch="wrn-16-1")
    assert facts["seed"] == 3 and facts["arch"] == "wrn-16-1"
    assert facts["teacher_error"] == pytest.approx(50.0)
    assert facts["median_p_star_right"] == pytest.approx(0.7)  # median of 0.8 and 0.6
    assert facts["low_confidence"] == pytest.approx(50.0)  # 0.004 and 0.2
    assert facts["high_confidence"] == 0.0


def test_teacher_facts_without_a_right_answer_have_no_median():
    probs = torch.tensor([[0.1, 0.9, 0.0], [0.995, 0.005, 0.0]])
    facts = gradient.teacher_facts(probs, torch.tensor([0, 1]), seed=0, arch="x")
    assert math.isnan(facts["median_p_star_right"])
    assert facts["teacher_error"] == pytest.approx(100.0)


def test_unsure_example_is_the_second_or_the_only_one():
    assert gradient.unsure_example([4, 7, 9]) == 7
    assert gradient.unsure_example([4]) == 4


def test_class_mean_facts_find_the_most_confused_pair():
    means = pd.DataFrame([[0.9, 0.08, 0.02], [0.3, 0.6, 0.1], [0.001, 0.099, 0.9]], index=CLASSES, columns=CLASSES)
    facts = gradient.class_mean_facts(means)
    assert facts["confused_true"] == "b" and facts["confused_output"] == "a"
    assert facts["confused_share"] == pytest.approx(30.0)
    assert facts["off_diagonal_min"] == pytest.approx(0.1)
    assert facts["dark_share"] == pytest.approx(100 * (1 - 2.4 / 3))


def test_gradient_summary_of_a_student_that_copies_its_teacher_is_zero():
    teacher = torch.tensor([[2.0, 0.0, -1.0], [0.0, 3.0, 0.0]])
    labels = torch.tensor([0, 2])
    summary = gradient.gradient_summary({"start of training": torch.zeros(2, 3), "end of training": teacher.clone()},
                                        teacher, labels)
    assert list(summary.columns) == ["start of training", "end of training"]
    assert summary.loc[gradient.GROUND_TRUTH, "end of training"] == pytest.approx(0.0, abs=1e-7)
    assert summary.loc[gradient.DARK, "end of training"] == pytest.approx(0.0, abs=1e-7)
    assert summary.loc[gradient.STUDENT_ERROR, "end of training"] == pytest.approx(50.0)
    p = teacher.softmax(1)
    assert summary.loc[gradient.GROUND_TRUTH, "start of training"] == pytest.approx(
        float(((1 / 3 - p[0, 0]).abs() + (1 / 3 - p[1, 2]).abs()) / 2), rel=1e-6)


def test_summary_facts_read_both_moments():
    summary = pd.DataFrame({"start of training": [0.7, 0.9, 90.0], "end of training": [0.1, 0.2, 12.5]},
                           index=[gradient.GROUND_TRUTH, gradient.DARK, gradient.STUDENT_ERROR])
    assert gradient.summary_facts(summary) == {"start_ground_truth": 0.7, "start_dark": 0.9, "end_ground_truth": 0.1,
                                               "end_dark": 0.2, "student_error": 12.5}


def test_cost_facts_measured_and_not():
    assert gradient.cost_facts({"seconds": 20.0, "train_seconds": 10.0}, 50.0) == {
        "rerun_cost": "30 s", "new_seed_cost": "2 min"}
    assert gradient.cost_facts(17.0, None) == {"rerun_cost": "17 s", "new_seed_cost": "not measured yet"}
    assert gradient.cost_facts(None, None)["rerun_cost"] == "not measured yet"
