"""Training an image classifier: what the run lifecycle (`bannb.runs.lifecycle.train`, one for every kind of run)
asks of the image kind (`ImageTraining`: its data, model, loss and teacher, its fastai Learner and what it measures
once fitted), with the callbacks that measure an epoch and the measurements after training.
"""
from __future__ import annotations

import copy
import random
from dataclasses import dataclass

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
)
from bannb.runs.store import METRIC_COLUMNS, Run, compact_predictions
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


def training_fit(model, dls, config: RunConfig, teacher, test_logits: torch.Tensor, temperature: float = 1.0) -> dict:
    """How well the trained model fits its training split (clean images, eval mode), and for a student what its
    teacher taught it and how much of it it took (`study.teaching`): the teacher's mass outside its top class,
    entropy and wrong top classes on the clean training images (`_clean`) and on one pass of the views the student
    trained on (`_seen`: augmented where the run augments), and on the test set the two's top-1 agreement and
    KL(teacher ‖ student). Where the student matches the teacher's softmax at another `temperature` (Hinton's KD),
    the same on the targets it was trained on, the teacher's logits over `temperature` (`_targets_seen`)."""
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
                   **clean, **teaching.taught_record(seen_logits, seen_labels, "seen"),
                   **teaching.taught_record(seen_logits / temperature, seen_labels, "targets_seen"))
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


def first_epoch_teacher_logits(teacher, dls, config: RunConfig) -> torch.Tensor:
    """The teacher's logits (eval mode) on the inputs of the student's first epoch: its views as the student's
    loader draws them (augmented where the run augments), without moving that loader's epoch on."""
    logits, _ = predict(teacher, copy.copy(dls.train), config.precision, config.channels_last)
    return logits


@dataclass
class ImageTraining:
    """An image run being trained: what the run lifecycle (`bannb.runs.lifecycle.train`) asks of the image kind,
    its data, model, loss and teacher network (`prepare`), its fastai Learner (`learner`) and what it measures once
    fitted (`result`)."""

    config: RunConfig
    device: torch.device
    dls: object
    model: torch.nn.Module
    objective: BanObjective
    teacher: torch.nn.Module | None
    columns = METRIC_COLUMNS

    @property
    def states(self) -> dict:
        return dict(loss=self.objective)

    @classmethod
    def prepare(cls, config: RunConfig, teacher_run: Run | None, device: torch.device, log=print) -> "ImageTraining":
        """Everything a run needs before fitting, drawn in a fixed order from the run's seed: the data, the model's
        initial weights, the loss and the teacher's network (a loss that measures its teacher first is calibrated on
        the student's first-epoch views)."""
        if config.processes != distributed.world_size():
            raise ConfigError(f"run {config.run_id} is configured for {config.processes} processes but "
                              f"{distributed.world_size()} are running; make the config with processes={distributed.world_size()}")
        if teacher_run is not None and (teacher_run.config.dataset, teacher_run.config.valid_size,
                                        teacher_run.config.split_seed) != (config.dataset, config.valid_size, config.split_seed):
            raise ConfigError(f"teacher {teacher_run.run_id} was trained on another dataset or split than this student")
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
        return cls(config, device, dls, model, objective, teacher)

    def learner(self, recorder, progress: bool = True, callbacks=()):
        """The fastai Learner of the run, with its recording callbacks (`recorder` first)."""
        config = self.config
        sharded = [distributed.sharded_trainer(cpu=self.device.type == "cpu")] if config.processes > 1 else []
        callbacks = [recorder, EpochLosses(),
                     TrainProbe(clean_loader(self.dls, TRAIN_PROBE_SIZE), config.precision, config.channels_last),
                     StopOnNonFiniteLoss(recorder.path, "Lower the learning rate (--lr) or train in fp32 "
                                                        "(--precision fp32), then run again."),
                     *([TeacherTargetsPerEpoch()] if self.objective.needs_teacher else []),
                     *sharded, *callbacks]
        # the teacher runs on every batch only for an objective that trains on its logits
        teacher = self.teacher if self.objective.needs_teacher else None
        learn = make_learner(self.model, self.dls, self.objective, teacher, lr=config.lr, momentum=config.momentum,
                             weight_decay=config.weight_decay, milestones=config.milestones, gamma=config.gamma,
                             precision=config.precision, channels_last=config.channels_last, cbs=callbacks,
                             schedule=config.schedule)
        if not progress:
            learn.remove_cb(ProgressCallback)
            learn.logger = noop
        return learn

    def resume(self, epoch: int) -> None:
        self.dls.train.epoch = epoch  # the training loader's shuffle and augmentation are drawn from its epoch

    def result(self, learn, rows: list[dict], start_epoch: int, wall_seconds: float) -> tuple[dict, dict, dict]:
        """The last epoch's model on the test set (the test set never picks an epoch or a model) and the held-out
        pool, how it fits its training split and what its teacher taught it (`training_fit`): its weights, compact
        predictions and final metrics."""
        config, model = self.config, self.model
        # prediction runs fastai's epoch events too; they are not training epochs
        learn.remove_cbs([cb for cb in learn.cbs if isinstance(cb, (RunRecorder, EpochLosses, TrainProbe,
                                                                    TeacherTargetsPerEpoch))])
        test_logits, test_labels = learn.get_preds(dl=self.dls.test, act=noop)
        fit = training_fit(learn.model, self.dls, config, self.teacher, test_logits, self.objective.target_temperature)
        test_accuracy = (test_logits.argmax(dim=1) == test_labels).float().mean().item()
        pool_logits = pool_labels = None
        if self.dls.pool is not None:  # the held-out pool: as the test set, the last epoch's model only
            pool_logits, pool_labels = learn.get_preds(dl=self.dls.pool, act=noop)
            fit.update(heldout_record(test_logits, test_labels, pool_logits, pool_labels))
        last = rows[-1]
        final = dict(test_accuracy=test_accuracy, test_error=1 - test_accuracy,
                     test_loss=F.cross_entropy(test_logits.float(), test_labels).item(),
                     valid_accuracy=last["valid_accuracy"], valid_loss=last["valid_loss"], epochs=config.epochs,
                     train_seconds=sum(row["seconds"] for row in rows), parameters=count_parameters(model),
                     device=str(self.device), torch=torch.__version__, teacher=config.teacher,
                     resumed_from_epoch=start_epoch or None, wall_seconds_this_process=round(wall_seconds, 3),
                     **fit, **self.objective.record(), **{DATA_FINGERPRINT: data_fingerprint(config)})
        model.to(memory_format=torch.contiguous_format)
        weights = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        return weights, compact_predictions(test_logits, test_labels, pool_logits, pool_labels), final

    def synchronise(self) -> None:
        distributed.barrier()
