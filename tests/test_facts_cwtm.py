"""bannb.facts.cwtm: chapter 5's reading of Eq. 10's weights and of its verdicts."""
import math

import numpy as np
import pandas as pd
import pytest
import torch

from bannb.facts import cwtm
from bannb.study.stats import POWER


def test_objective_facts():
    assert cwtm.objective_facts("Table 2", 0.25, 64) == {"table2_citation": "Table 2", "label_weight": 0.25,
                                                         "teacher_weight": 0.75, "batch_size": 64}


def test_equally_confident_teachers_give_weights_of_one():
    logits = torch.tensor([[3.0, 0.0], [0.0, 3.0], [3.0, 0.0]])
    weights = cwtm.test_weights([logits, logits], batch_size=2)  # batches of 2 and 1, per teacher
    np.testing.assert_allclose(weights, np.ones(6), rtol=1e-6)


def test_a_less_confident_image_weighs_less():
    weights = cwtm.test_weights([torch.tensor([[5.0, 0.0], [0.0, 0.0]])], batch_size=2)
    assert weights[0] > 1 > weights[1]
    assert weights.sum() == pytest.approx(2.0)


def test_right_answers_chain_the_teachers():
    right = cwtm.right_answers([torch.tensor([[1.0, 0.0], [1.0, 0.0]]), torch.tensor([[0.0, 1.0]])],
                               [torch.tensor([0, 1]), torch.tensor([1])])
    assert right.tolist() == [True, False, True]


def test_weight_facts_with_right_and_wrong_images():
    weights = np.array([1.0, 1.04, 0.4, 1.56])
    facts = cwtm.weight_facts(weights, np.array([True, True, False, True]), [0.99, 0.97])
    assert facts["tolerance"] == 0.05
    assert facts["cwtm_near_one"] == pytest.approx(50.0)
    assert facts["cwtm_below_half"] == pytest.approx(25.0)
    assert facts["cwtm_right_weight"] == pytest.approx(3.6 / 3)
    assert facts["cwtm_wrong_weight"] == pytest.approx(0.4)
    assert facts["cwtm_effective_share"] == pytest.approx(100 * 16 / (4 * (1 + 1.04 ** 2 + 0.16 + 1.56 ** 2)))
    assert facts["teacher_train_accuracy"] == pytest.approx(98.0)


def test_weight_facts_without_wrong_or_right_images_are_missing():
    all_right = cwtm.weight_facts(np.ones(3), np.ones(3, dtype=bool), [1.0])
    assert math.isnan(all_right["cwtm_wrong_weight"]) and all_right["cwtm_right_weight"] == 1.0
    all_wrong = cwtm.weight_facts(np.ones(3), np.zeros(3, dtype=bool), [1.0])
    assert math.isnan(all_wrong["cwtm_right_weight"]) and all_wrong["cwtm_wrong_weight"] == 1.0


def evaluated(**row):
    base = dict(key="cwtm-vs-teacher", paper_mean=-0.3, paper_rows="3/4", mean=0.05, ci_low=-0.1, ci_high=0.2, n=5,
                verdict="no effect of the paper's size")
    return pd.DataFrame([{**base, **row}])


def test_verdict_facts_carry_the_verdict_and_the_power():
    facts = cwtm.verdict_facts(evaluated())
    assert facts["power"] == POWER
    assert facts["cwtm_vs_teacher_verdict"] == "no effect of the paper's size"
    assert facts["cwtm_vs_teacher_ours"] == "+0.05 points, 95% CI [-0.10, +0.20], n = 5"


def test_verdict_facts_of_a_single_seed_and_of_a_claim_not_run():
    single = cwtm.verdict_facts(evaluated(n=1, ci_low=math.nan, ci_high=math.nan, verdict="inconclusive"))
    assert single["cwtm_vs_teacher_ours"] == "+0.05 points, no interval with n = 1"
    assert cwtm.verdict_facts(evaluated(n=0))["cwtm_vs_teacher_ours"] == "not run"
