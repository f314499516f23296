"""What the fastai Learner of every kind of run shares: the run folder's config and checkpoint, the callbacks that
record an epoch and stop a diverging run, the teacher, and the files a finished run writes.

An image run (`bannb.image.training`) and a language-model run (`bannb.lm.training`) differ in their data, their
model and what they measure after an epoch; the lifecycle is this one. After every epoch `RunRecorder` writes one
checkpoint holding the model, the optimiser, the random states, the state of every stateful callback *and every
epoch's metrics row so far*, then `metrics.csv` from those rows: a kill between the two writes loses nothing,
since a resume rewrites `metrics.csv` from the checkpoint, and a finished run's `metrics.csv` has every epoch.
"""
from __future__ import annotations

import json
import random
import time
from pathlib import Path

import numpy as np
import torch
from fastai.callback.core import Callback, CancelEpochException
from fastai.callback.fp16 import MixedPrecision
from fastai.callback.progress import ProgressCallback

from bannb.errors import BannbError
from bannb.losses import BanObjective
from bannb.runs.store import (
    CHECKPOINT,
    CONFIG,
    FINAL,
    METRICS,
    PREDICTIONS,
    WEIGHTS,
    atomic_torch_save,
    atomic_write_json,
    mark_done,
    read_json,
    read_metrics,
    remove_file,
    write_metrics,
)

# ---------------------------------------------------------------- the run folder before and after a fit


def write_config(path: Path, config, writes: bool = True, log=print) -> None:
    """The run's `config.json`. An existing one that is not the config hashed into the folder's name (unreadable,
    or another config: damaged or edited after the run began) is replaced by it, and said so: the folder's name
    says which config its run is, and its other files are checked on their own (`read_checkpoint`)."""
    stored = path / CONFIG
    if writes and stored.exists():
        value, problem = read_json(stored)
        if problem is None and value != json.loads(json.dumps(config.to_dict())):
            problem = f"its {CONFIG} is not the config hashed into the folder's name"
        if problem is not None:
            log(f"run {path.name}: {problem}; it is written again from the run's config")
    if writes:
        path.mkdir(parents=True, exist_ok=True)
        atomic_write_json(stored, config.to_dict())


CHECKPOINT_KEYS = frozenset({"epoch", "model", "opt", "rng"})  # what every checkpoint `RunRecorder` writes holds


def read_checkpoint(path: Path, device, log=print) -> tuple[dict | None, list[dict]]:
    """(the interrupted earlier process's last checkpoint, the metrics rows of its epochs), or (None, []).

    The rows travel inside the checkpoint; a checkpoint written before they did keeps `metrics.csv`'s rows up to
    its epoch."""
    if not (path / CHECKPOINT).exists():
        return None, []
    try:
        checkpoint = torch.load(path / CHECKPOINT, map_location=device, weights_only=False)
    except Exception as err:  # a checkpoint cut off mid-write cannot exist (atomic), but a damaged disk can
        log(f"run {path.name}: checkpoint unreadable ({' '.join(str(err).split())}); starting over")
        return None, []
    missing = CHECKPOINT_KEYS - set(checkpoint) if isinstance(checkpoint, dict) else CHECKPOINT_KEYS
    if missing or not isinstance(checkpoint["epoch"], int):  # a pickle, but not one `RunRecorder` wrote
        log(f"run {path.name}: checkpoint unreadable (not a run's checkpoint: it lacks "
            f"{', '.join(sorted(missing)) or 'an integer epoch'}); starting over")
        return None, []
    rows = checkpoint.get("rows")
    if rows is None:
        rows = [row for row in read_metrics(path / METRICS) if row["epoch"] <= checkpoint["epoch"]]
    return checkpoint, [dict(row) for row in rows]


def restore_random_states(checkpoint: dict) -> None:
    """The global random states a checkpoint holds (torch's, numpy's, Python's)."""
    states = checkpoint["rng"]
    torch.set_rng_state(states["torch"].cpu())
    np.random.set_state(states["numpy"])
    random.setstate(states["python"])


def write_result(path: Path, weights: dict, predictions: dict, final: dict, rows: list[dict], columns) -> None:
    """A finished run's files: every epoch's metrics, the weights, the test predictions, the final metrics, and
    `done.json` last (from then on the run counts as finished); the checkpoint goes."""
    write_metrics(path / METRICS, rows, columns)
    atomic_torch_save(path / WEIGHTS, weights)
    atomic_torch_save(path / PREDICTIONS, predictions)
    atomic_write_json(path / FINAL, final)
    mark_done(path)
    remove_file(path / CHECKPOINT)


# ---------------------------------------------------------------- callbacks


def epoch_skipped(learn) -> bool:
    """Whether the epoch under way was done by an interrupted earlier process (`RunRecorder` skips it): callbacks
    that measure an epoch leave it alone."""
    return getattr(learn, "epoch_skipped", False)


class RunRecorder(Callback):
    """After every epoch: its metrics row (`learn.epoch_values`, which the measuring callbacks before it fill,
    plus the epoch, its learning rate and its seconds), then one resumable checkpoint holding the model, the
    optimiser, the global random states, the `state_dict` of every object in `states` and every row so far, then
    `metrics.csv`. Epochs before `start_epoch` were done by an interrupted earlier process and are skipped."""

    order = ProgressCallback.order + 1  # after fastai's Recorder and progress bar, and every measuring callback

    def __init__(self, path: Path, rows: list[dict], columns, start_epoch: int = 0, states: dict | None = None,
                 writes: bool = True):
        self.path, self.rows, self.columns, self.start_epoch = path, rows, columns, start_epoch
        self.states, self.writes = states or {}, writes

    def before_epoch(self):
        self.learn.epoch_skipped = self.epoch < self.start_epoch
        if self.learn.epoch_skipped:
            raise CancelEpochException
        self.epoch_start = time.perf_counter()
        self.learn.epoch_values = {}

    def after_epoch(self):
        if self.learn.epoch_skipped:
            return
        lr = float(self.opt.hypers[-1]["lr"])
        self.rows.append(dict(epoch=self.epoch + 1, **self.learn.epoch_values, lr=lr,
                              seconds=round(time.perf_counter() - self.epoch_start, 3)))
        if not self.writes:
            return
        model = getattr(self.model, "module", self.model)  # unwrapped from DDP
        atomic_torch_save(self.path / CHECKPOINT, dict(
            epoch=self.epoch + 1, model=model.state_dict(), opt=self.opt.state_dict(), rows=self.rows,
            rng=dict(torch=torch.get_rng_state(), numpy=np.random.get_state(), python=random.getstate()),
            **{name: state.state_dict() for name, state in self.states.items()}))
        write_metrics(self.path / METRICS, self.rows, self.columns)


class NonFiniteLoss(BannbError):
    """Training diverged."""


class TeacherCallback(Callback):
    """Runs the teacher on the student's own (augmented) batch and trains the student on the distillation
    objective.

    The teacher is frozen: eval mode (its BatchNorm statistics stay put), inference mode (no graph, no
    gradients). Validation keeps the Learner's label loss, so runs compare on the same footing. A kind whose
    teacher reads its batch differently (a language model carries its state) overrides `teacher_logits`.
    """

    order = MixedPrecision.order + 10  # after the precision callbacks, so that the teacher is autocast too

    def __init__(self, teacher: torch.nn.Module, objective: BanObjective):
        self.teacher, self.objective = teacher, objective

    def before_fit(self):
        device = next(self.learn.model.parameters()).device
        memory_format = torch.channels_last if getattr(self.learn, "channels_last", False) else torch.contiguous_format
        self.teacher.to(device, memory_format=memory_format).eval()
        for parameter in self.teacher.parameters():
            parameter.requires_grad_(False)

    def teacher_logits(self) -> torch.Tensor:
        return self.teacher(*self.xb).float()

    def after_pred(self):
        if not self.training:
            return
        with torch.inference_mode():
            self.learn.teacher_logits = self.teacher_logits()

    def after_loss(self):
        if not self.training:
            return
        self.learn.loss_grad = self.objective(self.pred, *self.yb, self.learn.teacher_logits)
        self.learn.loss = self.loss_grad.clone()


class StopOnNonFiniteLoss(Callback):
    """Stops at the first NaN or infinite loss, before the optimiser step can spread it into the weights;
    the last completed epoch's checkpoint stays as it was."""

    order = TeacherCallback.order + 5  # after the teacher callback has set the distillation loss

    def __init__(self, path: Path, advice: str):
        self.path, self.advice = path, advice

    def after_loss(self):
        if self.training and not torch.isfinite(self.loss_grad).all():
            kept = f"the checkpoint of epoch {self.epoch} is kept" if self.epoch else "no epoch had finished"
            raise NonFiniteLoss(f"the training loss became {self.loss_grad.item()} at epoch {self.epoch + 1}, "
                                f"batch {self.iter + 1}; {kept} in {self.path}. {self.advice}")
