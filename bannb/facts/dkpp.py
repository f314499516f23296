"""The facts of chapter 06_dkpp: what DKPP's permutation does to a teacher's class similarities, how much of them
the students' own outputs keep, and the verdicts of the DKPP claims."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from bannb import losses, report
from bannb.facts import verdict_facts  # noqa: F401  (the chapter's claims: shared with chapters 5-7)

PERMUTATION_SEED = 0  # one fixed draw of DKPP's permutation, the same for every figure and table
KEPT_KEYS = {"Teacher": "kept_teacher", "Teacher, permuted (the DKPP targets)": "kept_permuted",
             "BAN-1": "kept_ban", "DKPP": "kept_dkpp"}  # row of the kept table → glue name


def permuted(probs):
    """`probs` (rows of softmax outputs) as DKPP permutes them, with the fixed seed."""
    return losses.permute_non_argmax(probs, torch.Generator().manual_seed(PERMUTATION_SEED))


def entropy(probs) -> float:
    """The mean entropy (nats) of rows of probabilities."""
    return float(-(probs * probs.clamp_min(1e-12).log()).sum(1).mean())


def permutation_facts(before: pd.DataFrame, after: pd.DataFrame, probs, permuted_probs, seed: int) -> dict:
    """From the teacher's mean output per true class before and after the permutation (`report.class_mean_outputs`)
    and its test outputs before and after: the mean share (%) of a class's off-diagonal mass on its most similar
    class, before and after, against an even spread; the most concentrated row, its most similar class and that
    pair's share before and after; the mean entropy before and after (unchanged by a permutation)."""
    shares_before, shares_after = report.top_confusion_share(before), report.top_confusion_share(after)
    strongest = shares_before.idxmax()
    off_diagonal = before.loc[strongest].drop(strongest)
    other = off_diagonal.idxmax()
    after_row = after.loc[strongest].drop(strongest)
    classes = len(before.columns)
    return {"teacher_seed": seed,
            "top_share_before": float(100 * shares_before.mean()), "top_share_after": float(100 * shares_after.mean()),
            "even_share": 100 / (classes - 1), "other_classes": classes - 1,
            "pair_true": strongest, "pair_other": other,
            "pair_share_before": float(100 * off_diagonal[other] / off_diagonal.sum()),
            "pair_share_after": float(100 * after_row[other] / after_row.sum()),
            "entropy_before": entropy(probs), "entropy_after": entropy(permuted_probs)}


def unsure_example(probs: np.ndarray, labels: np.ndarray) -> int:
    """The test image drawn before and after: the one the teacher gets right with p* closest to one half, where
    its dark knowledge is largest (the first image where it gets none right)."""
    right = np.flatnonzero(probs.argmax(1) == labels)
    if not len(right):
        return 0
    p_star = probs[right, labels[right]]
    return int(right[np.argmin(np.abs(p_star - 0.5))])


def top_share(run, classes: Sequence[str], permute: bool = False) -> float:
    """The mean share (%) over classes of the off-diagonal mass of `run`'s test outputs on each class's most
    similar class (of its outputs as DKPP permutes them, with `permute`)."""
    probs = run.test_logits().softmax(1)
    if permute:
        probs = permuted(probs)
    means = report.class_mean_outputs(probs.numpy(), run.test_labels().numpy(), classes)
    return 100 * float(report.top_confusion_share(means).mean())


def kept_shares(chains: Mapping[int, Sequence], dkpp_runs: Sequence, classes: Sequence[str]) -> dict[str, list]:
    """`top_share` per seed of the teachers, their permuted outputs (the DKPP targets), BAN-1 and DKPP."""
    return {"Teacher": [top_share(chain[0], classes) for chain in chains.values()],
            "Teacher, permuted (the DKPP targets)": [top_share(chain[0], classes, permute=True)
                                                     for chain in chains.values()],
            "BAN-1": [top_share(chain[1], classes) for chain in chains.values()],
            "DKPP": [top_share(run, classes) for run in dkpp_runs]}


def kept_facts(kept: Mapping[str, Sequence[float]]) -> dict:
    """The mean of each model's shares (`kept_shares`), by glue name (NaN for a model without runs)."""
    return {key: float(np.mean(kept[name])) if len(kept[name]) else float("nan") for name, key in KEPT_KEYS.items()}


def kept_table(kept: Mapping[str, Sequence[float]]) -> pd.DataFrame:
    """The shares as the chapter shows them: mean ± std and n per model."""
    frame = pd.DataFrame([dict(model=model, share=v) for model, values in kept.items() for v in values])
    return report.mean_std(frame, "model", value="share").set_index("model")[["mean ± std", "n"]].rename(
        columns={"mean ± std": "share on the most similar class (%)"})
