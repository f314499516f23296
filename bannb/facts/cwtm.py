"""The facts of chapter 05_cwtm: the BAN+L mixing weight, what Eq. 10's weights look like on the teachers' test
outputs, and the verdicts of the BAN+L and CWTM claims."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

from bannb import losses
from bannb.facts import verdict_facts  # noqa: F401  (the chapter's claims: shared with chapters 5-7)

TOLERANCE = 0.05  # a weight within 5% of 1 counts as an ordinary one


def objective_facts(citation: str, label_weight: float, batch_size: int) -> dict:
    """The paper's table cited, BAN+L's weights on the labels and on the teacher, the training batch size."""
    return {"table2_citation": citation, "label_weight": float(label_weight),
            "teacher_weight": float(1 - label_weight), "batch_size": batch_size}


def test_weights(test_logits: Sequence, batch_size: int) -> np.ndarray:
    """Eq. 10's weights of every teacher's test outputs (a list of logits), cut into training-size batches, times
    the batch's size: 1 is what plain cross-entropy gives every image."""
    return torch.cat([torch.cat([len(chunk) * losses.cwtm_weights(chunk) for chunk in logits.split(batch_size)])
                      for logits in test_logits]).numpy()


def right_answers(test_logits: Sequence, test_labels: Sequence) -> np.ndarray:
    """Whether each teacher (a list of test logits, and one of test labels) gets each test image right, end to end."""
    return torch.cat([logits.argmax(1) == labels for logits, labels in zip(test_logits, test_labels)]).numpy()


def weight_facts(weights: np.ndarray, right: np.ndarray, train_accuracies: Sequence[float],
                 tolerance: float = TOLERANCE) -> dict:
    """The share (%) of weights within `tolerance` of 1 and below one half, the mean weight of the images the
    teachers get right and wrong (NaN where there are none), the effective sample size as a share (%) of the
    batch, and the teachers' mean clean training accuracy (%)."""
    return {"tolerance": tolerance,
            "cwtm_near_one": float(100 * np.mean(np.abs(weights - 1) <= tolerance)),
            "cwtm_below_half": float(100 * np.mean(weights < 0.5)),
            "cwtm_right_weight": float(weights[right].mean()) if right.any() else math.nan,
            "cwtm_wrong_weight": float(weights[~right].mean()) if (~right).any() else math.nan,
            "cwtm_effective_share": float(100 * weights.sum() ** 2 / (len(weights) * (weights ** 2).sum())),
            "teacher_train_accuracy": float(100 * np.mean(train_accuracies))}
