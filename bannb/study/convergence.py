"""Has a run converged? The criterion every teacher of the book must meet, stated before any run.

The paper's teachers fit their training sets (Wide-ResNets and DenseNets reach ~100% training accuracy
on CIFAR) and are trained until validation error stops improving. A born-again claim is only tested in
that regime: a student of an underfit teacher learns mostly that the teacher is unfinished.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

MIN_TRAIN_ACCURACY = 0.98

CRITERION = f"""\
A run has **converged** when both hold:

1. it **fits its training set**: accuracy on the clean training images (eval mode, no augmentation, every
   image of the training split, measured after the last epoch) is at least {MIN_TRAIN_ACCURACY:.0%};
2. its **validation error is flat over the last fifth of training**: a least-squares line through the
   validation error of the last ⌈epochs/5⌉ epochs and the epoch before them changes by less than two
   standard errors of one validation measurement, 2·√(e(1 − e)/n) with e the final validation error and
   n the validation images — no improvement that the validation split could detect is left."""


def window_length(epochs: int) -> int:
    """How many epochs the flatness test reads: the last ⌈epochs/5⌉ and the one before them (all, if fewer)."""
    return min(epochs, math.ceil(epochs / 5) + 1)


def last_fifth_change(values: pd.Series | np.ndarray) -> float | None:
    """The change of a per-epoch series over the last ⌈epochs/5⌉ epochs and the epoch before them
    (`window_length`), by a least-squares line (in the series' unit); None where fewer than 2 epochs are in that
    window."""
    values = np.asarray(values, dtype=float)
    window = values[-window_length(len(values)):]
    if len(window) < 2:
        return None
    slope = np.polyfit(np.arange(len(window), dtype=float), window, 1)[0]
    return float(slope * (len(window) - 1))


def flatness(valid_error: pd.Series | np.ndarray, valid_size: int) -> tuple[float, float]:
    """(change of validation error over the last fifth by a least-squares line, the allowed drop), in points.

    `valid_error` is in percent, one value per epoch in order."""
    errors = np.asarray(valid_error, dtype=float)
    change = last_fifth_change(errors)
    if change is None:
        return 0.0, math.inf
    final = errors[-1] / 100
    allowed = 2 * 100 * math.sqrt(max(final * (1 - final), 1e-12) / valid_size)
    return change, float(allowed)


def fit_record(run) -> dict:
    """One row of the convergence table for a finished run: training accuracy, the last fifth's change of
    validation error against what is allowed, and whether each part of `CRITERION` holds."""
    metrics = run.metrics()
    change, allowed = flatness(100 * (1 - metrics["valid_accuracy"]), run.config.valid_size)
    train_accuracy = run.final.get("train_accuracy", math.nan)
    fits = bool(train_accuracy >= MIN_TRAIN_ACCURACY)
    flat = bool(change > -allowed)
    return dict(run_id=run.run_id, seed=run.config.base_seed,
                train_accuracy=100 * train_accuracy, valid_error=100 * (1 - run.final["valid_accuracy"]),
                last_fifth_change=change, allowed_drop=allowed, fits=fits, flat=flat, converged=fits and flat)


def fit_records(runs, **labels) -> pd.DataFrame:
    """`fit_record` for each run, with the `labels` (e.g. model="Teacher") in front."""
    return pd.DataFrame([dict(labels, **fit_record(run)) for run in runs])


# ---------------------------------------------------------------- language models (chapter 9)

# A language model never fits its training text the way an image classifier fits its images (the next word stays
# uncertain), so an LM teacher is judged on the second part alone, with an allowance in perplexity: 1% of its
# final validation perplexity, a quarter of the relative gain the paper reports for BAN+L (Table 6: 4-5%), so a
# teacher that is "flat" could not have produced the paper's effect by training on.
LM_FLAT_FRACTION = 0.01

LM_CRITERION = f"""\
A language-model teacher has **converged** when its **validation perplexity is flat over the last fifth of
training**: a least-squares line through the validation perplexity of the last ⌈epochs/5⌉ epochs and the epoch
before them falls by less than {LM_FLAT_FRACTION:.0%} of the final validation perplexity (a quarter of the
paper's relative BAN+L gain). How far it is from fitting its training text is reported, not required: the
perplexity of the clean model (eval mode, no dropout) on every training token, against the validation one."""


def lm_fit_record(run) -> dict:
    """One row of the LM convergence table for a finished language-model run (a `bannb.runs.store.Run` of the "lm" kind): training,
    validation and test perplexity, the last fifth's change of validation perplexity against what is allowed."""
    change = last_fifth_change(run.metrics()["valid_ppl"])
    valid_ppl = run.final["valid_ppl"]
    allowed = LM_FLAT_FRACTION * valid_ppl
    flat = change is None or change > -allowed
    return dict(run_id=run.run_id, seed=run.config.base_seed, train_ppl=run.final["train_ppl"], valid_ppl=valid_ppl,
                test_ppl=run.final["test_ppl"], valid_over_train=valid_ppl / run.final["train_ppl"],
                last_fifth_change=math.nan if change is None else change, allowed_drop=allowed, flat=bool(flat))


def unfinished_lm_teachers(fits) -> str | None:
    """Why a language-model chapter's verdicts cannot be counted, or None: some of its teachers (`fits`: one
    `lm_fit_record` per teacher run) are still improving over their last fifth by more than is allowed, so a
    student beside them compares with a teacher that had not finished."""
    still = [fit for fit in fits if not fit["flat"]]
    if not still:
        return None
    steepest = min(still, key=lambda fit: fit["last_fifth_change"])
    return (f"{len(still)} of its {len(fits)} teachers are still improving (validation perplexity "
            f"{steepest['last_fifth_change']:+.1f} over the last fifth, {steepest['allowed_drop']:.1f} allowed)")


def _label(generation: int) -> str:
    return "Teacher" if generation == 0 else f"BAN-{generation}"


def teacher_pairs(fit: pd.DataFrame) -> pd.DataFrame:
    """Each student of a table of runs beside its own teacher, found by the teacher's run id (so a BAN-2 is paired
    with its BAN-1). `fit` has one row per run: `run_id`, `teacher` (its teacher's run id; NaN for a teacher),
    `model`, `seed`, `test_error` and `train_accuracy` (%), and, for a student, `teacher_train_targets_wrong` and
    `test_agreement_with_teacher` (%) (`experiments.run_fit` reads them from the runs' `final.json`).

    One row per student: its `run_id`, `model`, `seed` (and `chapter` where `fit` has one), the teacher's model,
    clean training accuracy and test error, the share of the teacher's training targets that are wrong, the
    student's test agreement with it, its test error, and `difference`, its test error minus its teacher's
    (points, b − a as `bannb.study.claims` takes it: below 0 when the student is better)."""
    teachers = fit.drop_duplicates("run_id").set_index("run_id")
    students = fit[fit["teacher"].isin(teachers.index)].reset_index(drop=True)
    teacher = teachers.loc[students["teacher"]].reset_index(drop=True)
    return pd.DataFrame({"chapter": students.get("chapter"), "run_id": students["run_id"], "model": students["model"],
                         "teacher_model": teacher["model"], "seed": students["seed"],
                         "teacher_train_accuracy": teacher["train_accuracy"],
                         "teacher_train_targets_wrong": students["teacher_train_targets_wrong"],
                         "test_agreement_with_teacher": students["test_agreement_with_teacher"],
                         "teacher_test_error": teacher["test_error"], "test_error": students["test_error"],
                         "difference": students["test_error"] - teacher["test_error"]})


def student_fit_records(chains: dict) -> pd.DataFrame:
    """One row per teacher → student step of born-again sequences ({seed: [teacher, BAN-1, …]}): the student's
    `fit_record` beside its own teacher (`teacher_pairs`: the teacher's model, training accuracy and test error,
    the student's test error and `difference`, and from its `final.json` the share of its teacher's training
    targets whose argmax is not the label and its top-1 agreement with its teacher on the test set, %)."""
    fit = pd.DataFrame([dict(fit_record(run), model=_label(generation), test_error=100 * run.final["test_error"],
                             teacher=run.config.teacher if generation else math.nan,
                             teacher_train_targets_wrong=100 * run.final.get("teacher_train_targets_wrong", math.nan),
                             test_agreement_with_teacher=100 * run.final.get("test_agreement_with_teacher", math.nan))
                        for runs in chains.values() for generation, run in enumerate(runs)])
    pairs = teacher_pairs(fit).drop(columns=["chapter", "model", "seed", "test_error", "teacher_train_targets_wrong",
                                             "test_agreement_with_teacher"])
    return fit.merge(pairs, on="run_id")


def mass_outside_top_class(run) -> float:
    """The mean probability (%) a run's softmax puts outside its top class on the test set: how much a student
    of it can learn beyond the argmax (the paper's "dark knowledge"), from the stored test predictions."""
    probabilities = torch.softmax(run.test_logits().float(), dim=1)
    return float(100 * (1 - probabilities.max(dim=1).values).mean())


# Readable headers for the convergence tables of the chapters (`fit_records`, `student_fit_records`,
# `experiments.regime_records`).
COLUMN_LABELS = {
    "train_accuracy": "clean training accuracy (%)", "last_fifth_change": "last-fifth change (points)",
    "allowed_drop": "allowed drop (points)", "valid_error": "validation error (%)", "test_error": "test error (%)",
    "train_minutes": "training minutes", "train_size": "training images",
    "teacher_train_accuracy": "teacher's clean training accuracy (%)", "teacher_test_error": "teacher's test error (%)",
    "difference": "student − teacher (points)", "teacher_train_targets_wrong": "teacher's training targets wrong (%)",
    "test_agreement_with_teacher": "test agreement with teacher (%)",
}
