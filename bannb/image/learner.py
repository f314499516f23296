"""Distillation on a fastai `Learner`: the teacher and the precision are callbacks; the training loop is fastai's."""
from __future__ import annotations

from functools import partial

import torch
from fastai.callback.core import Callback
from fastai.callback.fp16 import AMPMode, MixedPrecision
from fastai.callback.schedule import ParamScheduler, combined_cos
from fastai.learner import Learner, Recorder
from fastai.metrics import accuracy
from fastai.optimizer import SGD

from bannb.errors import ConfigError
from bannb.image.config import SCHEDULES
from bannb.image.precision import resolve_precision
from bannb.losses import BanObjective, CrossEntropy
from bannb.runs.learner import TeacherCallback, epoch_skipped


def multistep_schedule(lr: float, milestones=(0.3, 0.6, 0.8), gamma: float = 0.2):
    """The Wide-ResNet recipe's step schedule (×0.2 at epochs 60/120/160 of 200) as a function of training progress."""
    milestones = tuple(milestones)

    def schedule(progress: float) -> float:
        return lr * gamma ** sum(progress >= milestone for milestone in milestones)

    return schedule


def one_cycle_hold_schedule(lr: float, milestones=(0.3, 0.6, 0.8), gamma: float = 0.2):
    """fastai's one-cycle compressed into training up to the last milestone, annealing to the step recipe's final
    lr (lr × gamma^len(milestones)) instead of lr/1e5, then held there to the end, as the step recipe's last phase
    is. The end of training is a stretch at a constant small lr, on which a still-improving network shows."""
    milestones = tuple(milestones)
    final = lr * gamma ** len(milestones)
    return cycle_then_hold(combined_cos(0.25, lr / 25, lr, final), cycle_end(milestones), final)


def cycle_end(milestones) -> float:
    """Where `one-cycle-hold`'s cycle ends: at the last milestone (the whole of training without milestones)."""
    return milestones[-1] if milestones else 1.0


def cycle_then_hold(cycle, end: float, held: float):
    """`cycle` (a function of progress 0…1) run over training up to `end`, then `held` to the end of training."""

    def schedule(progress: float) -> float:
        return cycle(progress / end) if progress < end else held

    return schedule


def schedule_callbacks(schedule: str, lr: float, milestones=(0.3, 0.6, 0.8), gamma: float = 0.2) -> list[Callback]:
    """The learning-rate (and momentum) schedule as a fastai `ParamScheduler`.

    "step": the Wide-ResNet recipe, lr × gamma at each milestone (fractions of training), momentum fixed.
    "one-cycle": fastai's `fit_one_cycle` schedule with its defaults: lr warms up from lr/25 over the first
    25% along a cosine, then anneals to lr/1e5; momentum goes 0.95 → 0.85 → 0.95 the opposite way.
    "one-cycle-hold": the same cycle, over training up to the last milestone and down to the step recipe's final lr,
    which is then held (`one_cycle_hold_schedule`); momentum follows the cycle, then stays at 0.95.
    """
    if schedule == "step":
        return [ParamScheduler({"lr": multistep_schedule(lr, milestones, gamma)})]
    if schedule == "one-cycle":
        return [ParamScheduler({"lr": combined_cos(0.25, lr / 25, lr, lr / 1e5),
                                "mom": combined_cos(0.25, 0.95, 0.85, 0.95)})]
    if schedule == "one-cycle-hold":
        momentum = combined_cos(0.25, 0.95, 0.85, 0.95)
        return [ParamScheduler({"lr": one_cycle_hold_schedule(lr, milestones, gamma),
                                "mom": cycle_then_hold(momentum, cycle_end(milestones), momentum(1.0))})]
    raise ConfigError(f"unknown schedule {schedule!r}; valid schedules are: {', '.join(SCHEDULES)}")


class CPUAutocast(Callback):
    """bf16 autocast on the CPU, where fastai's `MixedPrecision` (CUDA only) does not reach. bf16 keeps fp32's
    exponent range, so no loss scaling is needed."""

    order = MixedPrecision.order  # as fastai's: before the teacher runs, so that the teacher is autocast too

    def before_batch(self):
        self.autocast = torch.autocast("cpu", dtype=torch.bfloat16)
        self.autocast.__enter__()

    def after_pred(self):
        self.learn.pred = self.pred.float()

    def after_loss(self):
        self.autocast.__exit__(None, None, None)

    after_cancel_batch = after_loss


class ChannelsLastInputs(Callback):
    """Hands convolutions NHWC batches, the layout oneDNN and cuDNN are fastest in (fastai's `ChannelsLast`
    converts the model only)."""

    order = MixedPrecision.order - 5  # before the precision and teacher callbacks see the batch

    def before_fit(self):
        self.learn.model.to(memory_format=torch.channels_last)
        self.learn.channels_last = True  # the teacher takes the layout too (`TeacherCallback`)

    def before_batch(self):
        self.learn.xb = tuple(x.contiguous(memory_format=torch.channels_last) for x in self.xb)


@torch.no_grad()
def predict(model: torch.nn.Module, loader, precision: str = "fp32", channels_last: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(fp32 logits, labels) of `model` in eval mode over an un-augmented, unshuffled loader, in the loader's order.
    The model's train/eval mode is restored afterwards."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    autocast = torch.autocast(device.type, dtype=torch.float16 if precision == "fp16" else torch.bfloat16,
                              enabled=precision in ("bf16", "fp16"))
    logits, labels = [], []
    with autocast:
        for images, targets in loader:
            if channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            logits.append(model(images).float())
            labels.append(targets)
    model.train(was_training)
    return torch.cat(logits), torch.cat(labels)


class TrainProbe(Callback):
    """After every training epoch: loss and accuracy on a fixed set of clean training images (eval mode, no
    augmentation), the measure of whether a model fits its training set, into the epoch's metrics row
    (`learn.epoch_values`, which `RunRecorder` writes)."""

    order = Recorder.order + 5  # after fastai's Recorder, before bannb's RunRecorder writes the row

    def __init__(self, loader, precision: str, channels_last: bool):
        self.loader, self.precision, self.channels_last = loader, precision, channels_last

    def after_epoch(self):
        if epoch_skipped(self.learn):
            return
        logits, labels = predict(self.learn.model, self.loader, self.precision, self.channels_last)
        self.learn.epoch_values.update(
            train_probe_loss=torch.nn.functional.cross_entropy(logits, labels).item(),
            train_probe_accuracy=(logits.argmax(dim=1) == labels).float().mean().item())


def precision_callbacks(precision: str, device) -> list[Callback]:
    device = torch.device(device)
    if precision == "fp32":
        return []
    if device.type == "cuda":
        return [MixedPrecision(amp_mode=AMPMode.BF16 if precision == "bf16" else AMPMode.FP16)]
    return [CPUAutocast()]


class TrainOnObjective(Callback):
    """Trains on an objective that needs no teacher's logits but is not the label loss (a label-smoothing
    student's), while validation keeps the Learner's label loss, as every other run's does."""

    order = TeacherCallback.order  # where a teacher's objective would replace the loss

    def __init__(self, objective: BanObjective):
        self.objective = objective

    def after_loss(self):
        if self.training:
            self.learn.loss_grad = self.objective(self.pred, *self.yb)
            self.learn.loss = self.loss_grad.clone()


def make_learner(model: torch.nn.Module, dls, objective: BanObjective, teacher: torch.nn.Module | None = None,
                 lr: float = 0.1, momentum: float = 0.9, weight_decay: float = 5e-4, milestones=(0.3, 0.6, 0.8),
                 gamma: float = 0.2, precision: str = "auto", channels_last: bool = True, cbs=(),
                 schedule: str = "step") -> Learner:
    """A fastai Learner with the Wide-ResNet recipe (SGD, L2 weight decay on every parameter, `schedule`). Every
    run validates on the label loss; a student trains on its objective (`TeacherCallback` runs `teacher` on each
    batch where the objective needs its logits, `TrainOnObjective` where it does not)."""
    if objective.needs_teacher and teacher is None:
        raise ConfigError(f"the {objective.name!r} loss needs a teacher")
    device = dls.device
    precision = resolve_precision(precision, device)
    if torch.device(device).type == "cuda":  # every training batch has one shape: let cuDNN pick its fastest kernels
        torch.backends.cudnn.benchmark = True
    callbacks = schedule_callbacks(schedule, lr, milestones, gamma)
    callbacks += precision_callbacks(precision, device)
    if channels_last:
        callbacks.append(ChannelsLastInputs())
    if teacher is not None:
        callbacks.append(TeacherCallback(teacher, objective))
    elif not objective.is_label_loss:
        callbacks.append(TrainOnObjective(objective))
    loss_func = objective if objective.is_label_loss and teacher is None else CrossEntropy()
    opt_func = partial(SGD, mom=momentum, wd=weight_decay, decouple_wd=False)
    return Learner(dls, model.to(device), loss_func=loss_func, opt_func=opt_func, lr=lr, metrics=accuracy,
                   cbs=callbacks + list(cbs), wd_bn_bias=True, train_bn=True)
