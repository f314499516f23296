"""The facts of chapter 02_gradient: what one teacher's soft targets say (its error, its confidence on the true
class, which classes it finds alike) and how far its born-again student's output is from them, at the start and
at the end of training."""
from __future__ import annotations

from typing import Mapping, Sequence

import pandas as pd

from bannb import report
from bannb.book.timings import chapter_seconds, duration_text
from bannb.losses import gradient_terms

GROUND_TRUTH = "mean |q* − p*|"
DARK = "mean Σ_{i≠*} |q_i − p_i|"
STUDENT_ERROR = "student test error (%)"
MOMENT_KEYS = (("start of training", "start"), ("end of training", "end"))  # summary column → glue prefix


def teacher_facts(teacher_probs, labels, seed: int, arch: str) -> dict:
    """The teacher drawn: its seed, architecture and test error (%); the median p* over the images it gets right
    (NaN where it gets none right); the share (%) of test images with p* below one half and above 0.99."""
    p_star = report.true_class_probability(teacher_probs, labels)
    right = (teacher_probs.argmax(1) == labels).numpy()
    return {"seed": seed, "arch": arch,
            "teacher_error": 100 * (teacher_probs.argmax(1) != labels).float().mean().item(),
            "median_p_star_right": float(pd.Series(p_star[right]).median()) if right.any() else float("nan"),
            "low_confidence": 100 * float((p_star < 0.5).mean()),
            "high_confidence": 100 * float((p_star > 0.99).mean())}


def unsure_example(examples: Sequence[int]) -> int:
    """The image whose gradient is drawn: the second of `report.soft_target_examples` (the right answer the teacher
    is least sure of), or the only one there is."""
    return examples[1] if len(examples) > 1 else examples[0]


def class_mean_facts(means: pd.DataFrame) -> dict:
    """From the mean output per true class (`report.class_mean_outputs`): the mean share (%) of the output that
    goes to a wrong class, the (true, output) pair with the largest off-diagonal share and that share (%), and
    the smallest off-diagonal share (%)."""
    off_diagonal = means.copy()
    for true_class in means.index:
        off_diagonal.loc[true_class, true_class] = float("nan")
    off_diagonal = off_diagonal.stack().dropna()  # (true class, output class) → mean probability
    confused_true, confused_output = off_diagonal.idxmax()
    return {"dark_share": 100 * (1 - float(pd.Series([means.loc[c, c] for c in means.index]).mean())),
            "confused_true": confused_true, "confused_output": confused_output,
            "confused_share": 100 * float(off_diagonal.max()),
            "off_diagonal_min": 100 * float(off_diagonal.min())}


def gradient_summary(student_logits: Mapping[str, object], teacher_logits, labels) -> pd.DataFrame:
    """Per moment of the student (a column), per test image on average: the size of Eq. 7's ground-truth term
    |q* − p*|, the total absolute gradient on the other classes, and the student's test error (%)."""
    teacher_probs = teacher_logits.softmax(1)
    summary = {}
    for moment, logits in student_logits.items():
        probs = logits.float().softmax(1)
        ground_truth, _ = gradient_terms(logits, teacher_logits, labels)
        summary[moment] = {
            GROUND_TRUTH: ground_truth.abs().mean().item(),
            DARK: ((probs - teacher_probs).abs().sum(1) - ground_truth.abs()).mean().item(),
            STUDENT_ERROR: 100 * (probs.argmax(1) != labels).float().mean().item(),
        }
    return pd.DataFrame(summary)


def summary_facts(summary: pd.DataFrame) -> dict:
    """`gradient_summary`'s two terms at the start and at the end of training, and the finished student's error."""
    facts = {}
    for moment, key in MOMENT_KEYS:
        facts[f"{key}_ground_truth"] = float(summary.loc[GROUND_TRUTH, moment])
        facts[f"{key}_dark"] = float(summary.loc[DARK, moment])
    facts["student_error"] = float(summary.loc[STUDENT_ERROR, "end of training"])
    return facts


def cost_facts(own_timing, seconds_per_run: float | None) -> dict:
    """What rerunning the chapter costs (its own recorded timing entry, None if not recorded) and what a seed
    outside the profile's adds: its teacher and BAN-1, two runs at `seconds_per_run` (None: not measured)."""
    return {"rerun_cost": duration_text(None if own_timing is None else chapter_seconds(own_timing)),
            "new_seed_cost": duration_text(None if seconds_per_run is None else 2 * seconds_per_run)}
