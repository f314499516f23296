"""What the chapters compute from predictions and records before they show it: the probability of the true class,
soft-target examples, the learning-rate schedule's marks, class-mean outputs and confusions, and how much
ensemble members disagree."""
from __future__ import annotations

import math
from itertools import combinations
from typing import Sequence

import numpy as np
import pandas as pd

from bannb.study.generations import ensemble_accuracy


def true_class_probability(probs, labels) -> np.ndarray:
    """p*: each row's probability for its true class (Eq. 9's weight w_s when `probs` are the teacher's)."""
    probs, labels = np.asarray(probs, dtype=float), np.asarray(labels)
    return probs[np.arange(len(labels)), labels]


def soft_target_examples(probs, labels, count: int = 3) -> list[int]:
    """Up to `count` rows worth drawing as soft targets, chosen by rule: the row with the median p* among those
    the teacher gets right, the right one with p* nearest 0.5 (an unsure teacher), then the wrong one with the
    highest p* (a near miss), then the next lowest p*; no row twice."""
    probs, labels = np.asarray(probs, dtype=float), np.asarray(labels)
    p_star = true_class_probability(probs, labels)
    right = np.flatnonzero(probs.argmax(1) == labels)
    wrong = np.flatnonzero(probs.argmax(1) != labels)
    candidates = []
    if len(right):
        ordered = right[np.argsort(p_star[right], kind="stable")]
        candidates.append(int(ordered[len(ordered) // 2]))
        candidates.append(int(right[np.argmin(np.abs(p_star[right] - 0.5))]))
    if len(wrong):
        candidates.append(int(wrong[np.argmax(p_star[wrong])]))
    candidates += [int(i) for i in np.argsort(p_star, kind="stable")]
    chosen = []
    for index in candidates:
        if index not in chosen:
            chosen.append(index)
        if len(chosen) == count:
            break
    return chosen


def lr_marks(lr: Sequence[float], epochs: Sequence[int] | None = None) -> dict:
    """Where a per-epoch learning rate (the value at each epoch's end) changes course, for marking curves.

    A schedule is *stepped* when the lr is piecewise constant (it changes between at most half of the consecutive
    epochs): {"kind": "step", "drops": [x of each fall, halfway between the two epochs], "peak": None}. Otherwise
    it is a *cycle* (fastai's one-cycle: warm-up, then annealing): {"kind": "cycle", "peak": the epoch of the
    highest lr, "drops": [], "hold": the first epoch at the final lr where the cycle ends on two or more epochs at
    it (`one-cycle-hold`), else None}. `epochs` are the x values (default 1, 2, …)."""
    lr = np.asarray(list(lr), dtype=float)
    x = np.arange(1, len(lr) + 1) if epochs is None else np.asarray(list(epochs))
    changed = [i for i in range(1, len(lr)) if not math.isclose(lr[i], lr[i - 1], rel_tol=1e-6)]
    if len(changed) <= (len(lr) - 1) / 2:
        return dict(kind="step", peak=None, drops=[float(x[i] + x[i - 1]) / 2 for i in changed if lr[i] < lr[i - 1]],
                    hold=None)
    first_final = changed[-1] if changed else 0  # the index of the first epoch at the final lr
    return dict(kind="cycle", peak=int(x[int(np.argmax(lr))]), drops=[],
                hold=int(x[first_final]) if len(lr) - first_final >= 2 else None)


# ---------------------------------------------------------------- teaching figures of chapters 5-7 (and 2)


def class_mean_outputs(probs, labels, classes: Sequence[str]) -> pd.DataFrame:
    """The mean output distribution per true class: row c is the average of `probs` over the images of class c
    (rows: true class, columns: output class; each row sums to 1; a class without images has no row)."""
    probs, labels = np.asarray(probs, dtype=float), np.asarray(labels)
    frame = pd.DataFrame(probs, columns=list(classes))
    frame.index = pd.Index([classes[c] for c in labels], name="true class")
    return frame.groupby(level=0, sort=False).mean().reindex([c for c in classes if c in set(frame.index)])


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
