"""Has a run converged? The criterion every teacher of the book must meet, stated before any run.

The paper's teachers fit their training sets (Wide-ResNets and DenseNets reach ~100% training accuracy
on CIFAR) and are trained until validation error stops improving. A born-again claim is only tested in
that regime: a student of an underfit teacher learns mostly that the teacher is unfinished.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

MIN_TRAIN_ACCURACY = 0.98

CRITERION = f"""\
A run has **converged** when both hold:

1. it **fits its training set**: accuracy on the clean training images (eval mode, no augmentation, every
   image of the training split, measured after the last epoch) is at least {MIN_TRAIN_ACCURACY:.0%};
2. its **validation error is flat over the last fifth of training**: a least-squares line through the
   validation error of the last ⌈epochs/5⌉ epochs and the epoch before them changes by less than two
   standard errors of one validation measurement, 2·√(e(1 − e)/n) with e the final validation error and
   n the validation images — no improvement that the validation split could detect is left."""


def flatness(valid_error: pd.Series | np.ndarray, valid_size: int) -> tuple[float, float]:
    """(change of validation error over the last fifth by a least-squares line, the allowed drop), in points.

    `valid_error` is in percent, one value per epoch in order."""
    errors = np.asarray(valid_error, dtype=float)
    window = errors[-(math.ceil(len(errors) / 5) + 1):]
    if len(window) < 2:
        return 0.0, math.inf
    epochs = np.arange(len(window), dtype=float)
    slope = np.polyfit(epochs, window, 1)[0]
    final = errors[-1] / 100
    allowed = 2 * 100 * math.sqrt(max(final * (1 - final), 1e-12) / valid_size)
    return float(slope * (len(window) - 1)), float(allowed)


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
