"""bannb.facts.dkpp: chapter 6's reading of DKPP's permutation and of what its students keep."""
import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from bannb.facts import dkpp
from bannb.study.stats import POWER

CLASSES = ["a", "b", "c", "d"]


def table(rows):
    return pd.DataFrame(rows, index=CLASSES, columns=CLASSES)


def test_permuted_keeps_each_rows_values_and_top_class():
    probs = torch.tensor([[0.7, 0.2, 0.06, 0.04], [0.1, 0.2, 0.3, 0.4]])
    shuffled = dkpp.permuted(probs)
    assert torch.equal(shuffled.sort(1).values, probs.sort(1).values)
    assert torch.equal(shuffled.argmax(1), probs.argmax(1))
    assert torch.equal(dkpp.permuted(probs), shuffled)  # the same fixed draw every time


def test_entropy_of_uniform_rows_is_log_k():
    assert dkpp.entropy(torch.full((3, 4), 0.25)) == pytest.approx(math.log(4))


def test_permutation_facts_find_the_most_concentrated_row():
    before = table([[0.7, 0.2, 0.05, 0.05], [0.1, 0.8, 0.05, 0.05], [0.06, 0.04, 0.8, 0.1], [0.1, 0.1, 0.1, 0.7]])
    after = table([[0.7, 0.1, 0.1, 0.1], [0.05, 0.8, 0.1, 0.05], [0.1, 0.06, 0.8, 0.04], [0.1, 0.1, 0.1, 0.7]])
    probs = torch.full((2, 4), 0.25)
    facts = dkpp.permutation_facts(before, after, probs, probs, seed=2)
    assert facts["teacher_seed"] == 2
    assert facts["pair_true"] == "a" and facts["pair_other"] == "b"  # 0.2 of a's 0.3 off the diagonal
    assert facts["pair_share_before"] == pytest.approx(200 / 3)
    assert facts["pair_share_after"] == pytest.approx(100 / 3)
    assert facts["top_share_before"] == pytest.approx(100 * np.mean([2 / 3, 0.5, 0.5, 1 / 3]))
    assert facts["top_share_after"] == pytest.approx(100 * np.mean([1 / 3, 0.5, 0.5, 1 / 3]))
    assert facts["even_share"] == pytest.approx(100 / 3) and facts["other_classes"] == 3
    assert facts["entropy_before"] == facts["entropy_after"] == pytest.approx(math.log(4))


def test_unsure_example_is_the_right_answer_nearest_one_half():
    probs = np.array([[0.9, 0.1], [0.55, 0.45], [0.3, 0.7], [0.45, 0.55]])
    assert dkpp.unsure_example(probs, np.array([0, 0, 0, 1])) == 1  # row 3 is right too, 0.55 ties: first wins
    assert dkpp.unsure_example(probs, np.array([0, 1, 0, 1])) == 3


def test_unsure_example_without_a_right_answer_is_the_first():
    assert dkpp.unsure_example(np.array([[0.9, 0.1], [0.2, 0.8]]), np.array([1, 0])) == 0


def run(logits, labels):
    return SimpleNamespace(test_logits=lambda: torch.tensor(logits), test_labels=lambda: torch.tensor(labels))


CONFUSED = run([[2.0, 1.0, -math.inf], [1.0, 2.0, -math.inf]], [0, 1])  # each class's wrong mass goes to the other one


def test_top_share_of_a_two_way_confusion_is_everything():
    assert dkpp.top_share(CONFUSED, ["x", "y", "z"]) == pytest.approx(100.0)


def test_kept_shares_and_facts():
    chains = {0: [CONFUSED, CONFUSED], 1: [CONFUSED, CONFUSED]}
    kept = dkpp.kept_shares(chains, [CONFUSED], ["x", "y", "z"])
    assert list(kept) == list(dkpp.KEPT_KEYS)
    assert kept["Teacher"] == pytest.approx([100.0, 100.0]) and len(kept["DKPP"]) == 1
    assert kept["Teacher, permuted (the DKPP targets)"][0] <= 100.0
    facts = dkpp.kept_facts({"Teacher": [40.0, 60.0], "Teacher, permuted (the DKPP targets)": [30.0],
                             "BAN-1": [45.0], "DKPP": []})
    assert facts["kept_teacher"] == 50.0 and facts["kept_permuted"] == 30.0 and facts["kept_ban"] == 45.0
    assert math.isnan(facts["kept_dkpp"])


def test_kept_table_shows_mean_std_and_n():
    shown = dkpp.kept_table({"Teacher": [40.0, 60.0], "DKPP": [30.0]})
    assert list(shown.columns) == ["share on the most similar class (%)", "n"]
    assert shown.loc["Teacher", "n"] == 2 and shown.loc["DKPP", "n"] == 1


def test_verdict_facts_add_the_power():
    evaluated = pd.DataFrame([dict(key="dkpp-vs-ban", paper_mean=0.2, paper_rows="4/4", mean=-0.4, ci_low=-0.6,
                                   ci_high=-0.2, n=5, verdict="does not hold")])
    facts = dkpp.verdict_facts(evaluated)
    assert facts["dkpp_vs_ban_verdict"] == "does not hold" and facts["power"] == POWER
