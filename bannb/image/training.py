"""Training a run: prepare (data, model, loss, teacher; resume from a checkpoint), fit with fastai, write the result.

`train_run` is the one entry point: it loads a finished run instead of retraining it, resumes an
interrupted one from its last completed epoch bit-identically, and writes a run's files through the
run store (`bannb.runs.store`) and the lifecycle every kind shares (`bannb.runs.learner`), `done.json` last.
"""
from __future__ import annotations

import copy
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from fastai.callback.core import Callback
from fastai.callback.progress import ProgressCallback
from fastai.learner import Recorder
from fastcore.basics import noop

from bannb.data import DATA_FINGERPRINT, data_fingerprint, load_dataset, make_dataloaders
from bannb.data.loaders import InMemoryLoader
from bannb.errors import ConfigError
from bannb.image import distributed
from bannb.image.config import RunConfig, build_model
from bannb.image.learner import TrainProbe, make_learner, predict
from bannb.losses import BanObjective, make_loss
from bannb.models import count_parameters
from bannb.runs.learner import (  # noqa: F401  (NonFiniteLoss: what a diverging run raises)
    NonFiniteLoss,
    RunRecorder,
    StopOnNonFiniteLoss,
    TeacherCallback,
    epoch_skipped,
    read_checkpoint,
    restore_random_states,
    write_config,
    write_result,
)
from bannb.runs.restore import restore_weights
from bannb.runs.store import (
    METRIC_COLUMNS,
    Run,
    claim_run,
    compact_predictions,
    default_runs_dir,
    finished_run,
    resolve_teacher,
)
from bannb.study import teaching

TRAIN_PROBE_SIZE = 1000  # clean training images evaluated after every epoch (the whole split at the end)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# ---------------------------------------------------------------- callbacks

class EpochLosses(Callback):
    """The epoch's mean training loss over its samples (across processes; fastai's smoothed loss would restart
    its average on a resume) and fastai's validation loss and accuracy, into the epoch's metrics row."""

    order = Recorder.order + 1  # after fastai's Recorder has the epoch's validation values

    def before_epoch(self):
        self.loss_sum, self.sample_count = torch.zeros(()), 0

    def after_batch(self):
        if self.training:
            self.loss_sum += self.loss.detach().float().cpu() * len(self.yb[0])
            self.sample_count += len(self.yb[0])

    def after_epoch(self):
        if epoch_skipped(self.learn):
            return
        valid_loss, valid_accuracy = (float(v) for v in self.recorder.values[-1][1:3])
        loss_sum, samples = distributed.all_reduce_sum(torch.stack([self.loss_sum, torch.tensor(float(self.sample_count))]))
        self.learn.epoch_values.update(train_loss=(loss_sum / samples).item(), valid_loss=valid_loss,
                                       valid_accuracy=valid_accuracy, train_samples=int(samples.item()))


class TeacherTargetsPerEpoch(Callback):
    """What the student was given this epoch: its teacher's mean probability outside the top class and mean
    entropy (nats) over the batches it trained on (the teacher's logits of each batch, already computed), into the
    epoch's metrics row (`teacher_mass_outside_top`, `teacher_entropy`)."""

    order = TeacherCallback.order + 1  # after the teacher's logits of the batch are set

    def before_epoch(self):
        self.sums = torch.zeros(3, dtype=torch.float64)  # mass, entropy, samples

    def after_batch(self):
        if self.training:
            taught, samples = teaching.dark_knowledge(self.learn.teacher_logits), len(self.learn.teacher_logits)
            self.sums += torch.tensor([taught["mass_outside_top"] * samples, taught["entropy"] * samples, samples],
                                      dtype=torch.float64)

    def after_epoch(self):
        if epoch_skipped(self.learn):
            return
        mass, entropy, samples = distributed.all_reduce_sum(self.sums).tolist()
        self.learn.epoch_values.update(teacher_mass_outside_top=mass / samples, teacher_entropy=entropy / samples)


# ---------------------------------------------------------------- measurements after training

def clean_loader(dls, size: int | None = None) -> InMemoryLoader:
    """The first `size` images of the training split (all of them for None) in order, without augmentation."""
    train = dls.train
    count = train.n if size is None else min(size, train.n)
    mean, std = train.mean.flatten(), (1 / train.inv_std).flatten()
    return InMemoryLoader(train.images[:count], train.labels[:count], dls.valid.bs, mean, std, device=train.device)


def training_fit(model, dls, config: RunConfig, teacher, test_logits: torch.Tensor) -> dict:
    """How well the trained model fits its training split (clean images, eval mode), and for a student what its
    teacher taught it and how much of it it took (`study.teaching`): the teacher's mass outside its top class,
    entropy and wrong top classes on the clean training images (`_clean`) and on one pass of the views the student
    trained on (`_seen`: augmented where the run augments), and on the test set the two's top-1 agreement and
    KL(teacher ‖ student)."""
    loader = clean_loader(dls)
    logits, labels = predict(model, loader, config.precision, config.channels_last)
    fit = dict(train_accuracy=(logits.argmax(dim=1) == labels).float().mean().item(),
               train_loss=F.cross_entropy(logits, labels).item())
    if teacher is not None:
        teacher_logits, _ = predict(teacher, loader, config.precision, config.channels_last)
        seen_logits, seen_labels = predict(teacher, dls.train, config.precision, config.channels_last)
        teacher_test_logits, _ = predict(teacher, dls.test, config.precision, config.channels_last)
        clean = teaching.taught_record(teacher_logits, labels, "clean")
        inherited = teaching.fidelity(teacher_test_logits.cpu(), test_logits.cpu())  # predict leaves them on the device
        # the record's older names for two of these, which the analysis reads (`experiments.FIT_FIELDS`)
        fit.update(teacher_train_targets_wrong=clean["teacher_targets_wrong_clean"],
                   test_agreement_with_teacher=inherited["agreement"], test_kl_teacher_student=inherited["kl"],
                   **clean, **teaching.taught_record(seen_logits, seen_labels, "seen"))
    return fit


def heldout_record(test_logits, test_labels, pool_logits, pool_labels) -> dict:
    """The error on the held-out pool and on the test set and pool together (`heldout_error`: what the claims
    are judged on where a profile has a pool), with the two sets' sizes."""
    pool_wrong = int((pool_logits.argmax(dim=1) != pool_labels).sum())
    test_wrong = int((test_logits.argmax(dim=1) != test_labels).sum())
    return dict(pool_error=pool_wrong / len(pool_labels), pool_images=len(pool_labels),
                heldout_error=(pool_wrong + test_wrong) / (len(pool_labels) + len(test_labels)),
                heldout_images=len(pool_labels) + len(test_labels))


# ---------------------------------------------------------------- the steps of a run

def run_dataloaders(config: RunConfig, device="cpu"):
    """The data of the run `config` describes, as its training draws it: its splits, its test set and its
    held-out pool (`make_dataloaders`)."""
    return make_dataloaders(load_dataset(config.dataset), config.batch_size, config.valid_size, config.split_seed,
                            config.train_size, config.test_size, config.augment, seed=config.seed, device=device,
                            pool_size=config.pool_size, subset=config.subset)


@dataclass
class Training:
    """A run being trained: what `prepare_training` sets up and the later steps use."""

    config: RunConfig
    path: Path
    device: torch.device
    dls: object
    model: torch.nn.Module
    objective: BanObjective
    teacher: torch.nn.Module | None
    rows: list[dict] = field(default_factory=list)  # the metrics of the epochs done so far
    checkpoint: dict | None = None  # the interrupted earlier process's, when resuming

    @property
    def start_epoch(self) -> int:
        return self.checkpoint["epoch"] if self.checkpoint else 0


def first_epoch_teacher_logits(teacher, dls, config: RunConfig) -> torch.Tensor:
    """The teacher's logits (eval mode) on the inputs of the student's first epoch: its views as the student's
    loader draws them (augmented where the run augments), without moving that loader's epoch on."""
    logits, _ = predict(teacher, copy.copy(dls.train), config.precision, config.channels_last)
    return logits


def prepare_training(config: RunConfig, runs_dir: Path, device, log=print, path: Path | None = None) -> Training:
    """Everything a run needs before fitting, drawn in a fixed order from the run's seed: the data, the model's
    initial weights, the loss and the teacher (looked up in `runs_dir`); the run's directory (`path`, by default
    `runs_dir / run_id`) with its config; and, if an earlier process was interrupted, its last checkpoint's model
    weights and metrics."""
    if config.processes != distributed.world_size():
        raise ConfigError(f"run {config.run_id} is configured for {config.processes} processes but "
                          f"{distributed.world_size()} are running; make the config with processes={distributed.world_size()}")
    teacher_run = resolve_teacher(config.teacher, runs_dir)
    if teacher_run is not None and (teacher_run.config.dataset, teacher_run.config.valid_size,
                                    teacher_run.config.split_seed) != (config.dataset, config.valid_size, config.split_seed):
        raise ConfigError(f"teacher {teacher_run.run_id} was trained on another dataset or split than this student")
    device = torch.device(device)
    dls = run_dataloaders(config, device)
    seed_everything(config.seed)
    model = build_model(config, dls.in_channels, dls.num_classes)
    objective = make_loss(config.loss, run_seed=config.seed, **config.loss_params)
    teacher = teacher_run.load_model(device) if teacher_run else None
    if objective.measures_teacher:
        if teacher is None and not objective.params:
            raise ConfigError(f"the {config.loss!r} loss measures its teacher before training: give the run a teacher")
        if teacher is not None:
            objective.calibrate(first_epoch_teacher_logits(teacher, dls, config))
    training = Training(config, Path(path or runs_dir / config.run_id), device, dls, model, objective, teacher)
    write_config(training.path, config, writes=distributed.is_main_process(), log=log)
    training.checkpoint, training.rows = read_checkpoint(training.path, device, log)
    if training.checkpoint is not None:
        model.load_state_dict(training.checkpoint["model"])
        log(f"run {config.run_id}: resuming after epoch {training.start_epoch} of {config.epochs}")
    return training


def build_learner(training: Training, progress: bool = True, callbacks=()):
    """The fastai Learner of the run, with its recording callbacks; when resuming, the optimiser, the data
    order, the global random states and the loss's state as the checkpoint left them."""
    config = training.config
    sharded = [distributed.sharded_trainer(cpu=training.device.type == "cpu")] if config.processes > 1 else []
    callbacks = [RunRecorder(training.path, training.rows, METRIC_COLUMNS, training.start_epoch,
                             states=dict(loss=training.objective), writes=distributed.is_main_process()),
                 EpochLosses(),
                 TrainProbe(clean_loader(training.dls, TRAIN_PROBE_SIZE), config.precision, config.channels_last),
                 StopOnNonFiniteLoss(training.path, "Lower the learning rate (--lr) or train in fp32 "
                                                    "(--precision fp32), then run again."),
                 *([TeacherTargetsPerEpoch()] if training.objective.needs_teacher else []),
                 *sharded, *callbacks]
    # the teacher runs on every batch only for an objective that trains on its logits
    teacher = training.teacher if training.objective.needs_teacher else None
    learn = make_learner(training.model, training.dls, training.objective, teacher, lr=config.lr,
                         momentum=config.momentum, weight_decay=config.weight_decay, milestones=config.milestones,
                         gamma=config.gamma, precision=config.precision, channels_last=config.channels_last,
                         cbs=callbacks, schedule=config.schedule)
    if not progress:
        learn.remove_cb(ProgressCallback)
        learn.logger = noop
    checkpoint = training.checkpoint
    if checkpoint is not None:
        learn.create_opt()
        learn.opt.load_state_dict(checkpoint["opt"])
        training.dls.train.epoch = training.start_epoch
        restore_random_states(checkpoint)
        training.objective.load_state_dict(checkpoint["loss"])
    return learn


def finish_run(training: Training, learn, wall_seconds: float) -> Run:
    """The last epoch's model on the test set (the test set never picks an epoch or a model), how it fits its
    training split, and the run's files, `done.json` last."""
    config, path, model = training.config, training.path, training.model
    # prediction runs fastai's epoch events too; they are not training epochs
    learn.remove_cbs([cb for cb in learn.cbs if isinstance(cb, (RunRecorder, EpochLosses, TrainProbe,
                                                                TeacherTargetsPerEpoch))])
    test_logits, test_labels = learn.get_preds(dl=training.dls.test, act=noop)
    fit = training_fit(learn.model, training.dls, config, training.teacher, test_logits)
    test_accuracy = (test_logits.argmax(dim=1) == test_labels).float().mean().item()
    pool_logits = pool_labels = None
    if training.dls.pool is not None:  # the held-out pool: as the test set, the last epoch's model only
        pool_logits, pool_labels = learn.get_preds(dl=training.dls.pool, act=noop)
        fit.update(heldout_record(test_logits, test_labels, pool_logits, pool_labels))
    last = training.rows[-1]
    final = dict(test_accuracy=test_accuracy, test_error=1 - test_accuracy,
                 test_loss=F.cross_entropy(test_logits.float(), test_labels).item(),
                 valid_accuracy=last["valid_accuracy"], valid_loss=last["valid_loss"], epochs=config.epochs,
                 train_seconds=sum(row["seconds"] for row in training.rows), parameters=count_parameters(model),
                 device=str(training.device), torch=torch.__version__, teacher=config.teacher,
                 resumed_from_epoch=training.start_epoch or None, wall_seconds_this_process=round(wall_seconds, 3),
                 **fit, **training.objective.record(), **{DATA_FINGERPRINT: data_fingerprint(config)})
    model.to(memory_format=torch.contiguous_format)
    if not distributed.is_main_process():
        distributed.barrier()  # process 0 writes the run
        return Run(path)
    write_result(path, {k: v.detach().cpu() for k, v in model.state_dict().items()},
                 compact_predictions(test_logits, test_labels, pool_logits, pool_labels), final, training.rows,
                 METRIC_COLUMNS)
    distributed.barrier()
    return Run(path)


def train_run(config: RunConfig, runs_dir: Path | None = None, device: str | torch.device = "cpu",
              progress: bool = True, log=print, callbacks=(), path: Path | None = None) -> Run:
    """Train the run `config` describes, or load it if it has already finished.

    An interrupted run resumes from its last completed epoch. One process at a time trains a run
    (`bannb.runs.store.claim_run`): a second asking for it waits, then loads what the first finished. A student
    whose teacher is recorded without its weights (a fresh clone) first gets them back (`restore_weights`).
    `callbacks` are extra fastai callbacks (logging, say); they must not change what is trained, since they are not
    part of the run's config. `path` is where the run is written (by default `runs_dir / run_id`; teachers are
    always looked up in `runs_dir`).
    """
    runs_dir = Path(runs_dir or default_runs_dir())
    path = Path(path or runs_dir / config.run_id)
    if (run := finished_run(path)) is not None:  # a finished run is only read: no lock
        return run
    # one process at a time trains the run (process 0 of a data-parallel run holds it for all of them)
    with claim_run(path, log, lock=distributed.is_main_process()) as problem:
        if problem is None:  # another process finished it while this one waited
            return finished_run(path)
        if path.exists():
            log(f"run {config.run_id}: not finished ({problem}); training it")
        if config.teacher is not None:
            restore_weights(resolve_teacher(config.teacher, runs_dir), runs_dir, device, progress, log)
        training = prepare_training(config, runs_dir, device, log, path)
        learn = build_learner(training, progress, callbacks)
        started = time.perf_counter()
        if training.start_epoch < config.epochs:
            learn.fit(config.epochs, lr=config.lr, reset_opt=training.checkpoint is None)
        return finish_run(training, learn, time.perf_counter() - started)
