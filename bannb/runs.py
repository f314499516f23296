"""Runs: every trained model is a directory with its config, per-epoch metrics, final metrics and weights.

A run's id ends in a hash of its config, so asking again for a finished run loads it instead of
retraining. Every file is written atomically (temporary file, then rename), and a run counts as
finished only once `done.json`, written last, is present and the checksums it lists match.
"""
from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import os
import random
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from fastcore.basics import noop
from fastai.callback.core import Callback, CancelEpochException

from . import distributed
from .data import check_dataset, load_dataset, make_dataloaders
from .data.arrays import PROJECT_ROOT
from .errors import BannbError, ConfigError
from .data.loaders import InMemoryLoader
from .learner import PRECISIONS, SCHEDULES, TrainProbe, make_learner, predict, resolve_precision
from .losses import make_loss
from .models import count_parameters, create_model

CONFIG, METRICS, FINAL, WEIGHTS, PREDICTIONS, CHECKPOINT, DONE = (
    "config.json", "metrics.csv", "final.json", "model.pt", "test_predictions.pt", "checkpoint.pt", "done.json")
METRIC_COLUMNS = ["epoch", "train_loss", "valid_loss", "valid_accuracy", "train_probe_loss", "train_probe_accuracy",
                  "lr", "train_samples", "seconds"]
TRAIN_PROBE_SIZE = 1000  # clean training images evaluated after every epoch (the whole split at the end)
CONFIG_VERSION = 2  # bump when a change to training makes old runs incomparable


def default_runs_dir() -> Path:
    return Path(os.environ.get("BANNB_RUNS", PROJECT_ROOT / "data" / "runs"))


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines a trained model. Two equal configs give the same run."""

    arch: str
    dataset: str = "fashion-mnist"
    loss: str = "ce"
    loss_params: dict = field(default_factory=dict)
    teacher: str | None = None  # the teacher's run id
    generation: int = 0  # 0 for a teacher, k for BAN-k
    seed: int = 0
    epochs: int = 10
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "step"  # "step" (milestones, gamma) or "one-cycle" (fastai's fit_one_cycle)
    milestones: tuple = (0.3, 0.6, 0.8)
    gamma: float = 0.2
    dropout: float = 0.0
    augment: bool = True
    valid_size: int = 5000
    split_seed: int = 0
    train_size: int | None = None
    test_size: int | None = None
    precision: str = "bf16"
    channels_last: bool = True
    processes: int = 1  # data-parallel processes: BatchNorm statistics are per process, so results depend on it
    version: int = CONFIG_VERSION

    def __post_init__(self):
        check_dataset(self.dataset)
        make_loss(self.loss, **self.loss_params)
        with torch.device("meta"):  # validates the name and its arguments without allocating weights
            build_model(self, in_channels=3, num_classes=10)
        for name in ("epochs", "batch_size", "valid_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        for name in ("train_size", "test_size"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ConfigError(f"{name} must be a positive integer or None, got {value!r}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"unknown schedule {self.schedule!r}; valid schedules are: {', '.join(SCHEDULES)}")
        if self.lr <= 0:
            raise ConfigError(f"lr must be positive, got {self.lr}")
        if self.precision not in PRECISIONS or self.precision == "auto":
            raise ConfigError(f"a run's precision must be resolved to one of bf16, fp16, fp32, got {self.precision!r}")
        object.__setattr__(self, "milestones", tuple(self.milestones))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "RunConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ConfigError(f"unknown run config keys {sorted(unknown)}; valid keys are: {', '.join(sorted(known))}")
        return cls(**values)

    @property
    def hash(self) -> str:
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]

    @property
    def run_id(self) -> str:
        role = "teacher" if self.teacher is None else f"{self.loss}-gen{self.generation}"
        return f"{self.dataset}-{self.arch}-{role}-seed{self.seed}-{self.hash}"


# ---------------------------------------------------------------- files

def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(temporary, 0o644)  # mkstemp's 0600 would hide runs from other users of a shared machine
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, value) -> None:
    atomic_write_bytes(path, (json.dumps(value, indent=2, sort_keys=True) + "\n").encode())


def atomic_torch_save(path: Path, value) -> None:
    buffer = io.BytesIO()
    torch.save(value, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_metrics(path: Path, rows: list[dict]) -> None:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=METRIC_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_bytes(path, text.getvalue().encode())


def read_metrics(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return [{k: (int(v) if k in ("epoch", "train_samples") else float(v)) for k, v in row.items() if v != ""}
                for row in csv.DictReader(f)]


# ---------------------------------------------------------------- the run directory

class Run:
    """A finished run on disk."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.config = RunConfig.from_dict(_tuple_milestones(json.loads((self.path / CONFIG).read_text())))
        self.final = json.loads((self.path / FINAL).read_text())

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def test_accuracy(self) -> float:
        return self.final["test_accuracy"]

    def test_logits(self) -> torch.Tensor:
        return self._predictions()["logits"]

    def test_labels(self) -> torch.Tensor:
        return self._predictions()["labels"]

    def _predictions(self) -> dict:
        if not hasattr(self, "_cached_predictions"):
            self._cached_predictions = torch.load(self.path / PREDICTIONS, weights_only=True)
        return self._cached_predictions

    def metrics(self):
        import pandas as pd
        return pd.read_csv(self.path / METRICS)

    def load_model(self, device="cpu") -> torch.nn.Module:
        dataset = load_dataset(self.config.dataset)
        model = build_model(self.config, dataset.image_shape[0], dataset.num_classes)
        try:
            model.load_state_dict(torch.load(self.path / WEIGHTS, map_location=device, weights_only=True))
        except (RuntimeError, OSError, EOFError, KeyError) as err:
            first_line = str(err).strip().splitlines()[0]
            raise BannbError(f"checkpoint {self.path / WEIGHTS} does not fit {self.config.arch} on "
                             f"{self.config.dataset} ({first_line}); retrain the run (delete {self.path})") from err
        return model.to(device).eval()

    def __repr__(self):
        return f"Run({self.run_id}, test_accuracy={self.test_accuracy:.4f})"


def _tuple_milestones(values: dict) -> dict:
    return {**values, "milestones": tuple(values.get("milestones", ()))}


def finished_problem(path: Path) -> str | None:
    """Why `path` is not a trustworthy finished run, or None if it is one."""
    done = path / DONE
    if not done.exists():
        return "it has no done.json marker (it was interrupted or is still training)"
    try:
        checksums = json.loads(done.read_text())["sha256"]
    except (ValueError, KeyError) as err:
        return f"its done.json is unreadable ({err})"
    for name, expected in checksums.items():
        if not (path / name).exists():
            return f"{name} is missing"
        if sha256(path / name) != expected:
            return f"{name} does not match the checksum in done.json"
    return None


def build_model(config: RunConfig, in_channels: int, num_classes: int) -> torch.nn.Module:
    overrides = {"dropout": config.dropout} if config.dropout else {}
    return create_model(config.arch, in_channels=in_channels, num_classes=num_classes, **overrides)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class NonFiniteLoss(BannbError):
    """Training diverged."""


class StopOnNonFiniteLoss(Callback):
    """Stops at the first NaN or infinite loss, before the optimiser step can spread it into the weights;
    the last completed epoch's checkpoint stays as it was."""

    order = 25  # after the teacher callback has set the distillation loss

    def __init__(self, path: Path):
        self.path = path

    def after_loss(self):
        if self.training and not torch.isfinite(self.loss_grad).all():
            kept = f"the checkpoint of epoch {self.epoch} is kept" if self.epoch else "no epoch had finished"
            raise NonFiniteLoss(f"the training loss became {self.loss_grad.item()} at epoch {self.epoch + 1}, "
                                f"batch {self.iter + 1}; {kept} in {self.path}. Lower the learning rate (--lr) or "
                                f"train in fp32 (--precision fp32), then run again.")


class RunRecorder(Callback):
    """After every epoch: the metrics row and a resumable checkpoint (model, optimiser, RNG states), both atomic.

    Epochs before `start_epoch` were done by an interrupted earlier process and are skipped.
    """

    order = 60  # after fastai's Recorder has the epoch's validation values

    def __init__(self, path: Path, rows: list[dict], start_epoch: int = 0):
        self.path, self.rows, self.start_epoch = path, rows, start_epoch

    def before_epoch(self):
        if self.epoch < self.start_epoch:
            raise CancelEpochException
        self.epoch_start = time.perf_counter()
        # the epoch's mean training loss; fastai's smoothed loss would restart its average on a resume
        self.loss_sum, self.sample_count = torch.zeros(()), 0

    def after_batch(self):
        if self.training:
            self.loss_sum += self.loss.detach().float().cpu() * len(self.yb[0])
            self.sample_count += len(self.yb[0])

    def after_epoch(self):
        if self.epoch < self.start_epoch:
            return
        valid_loss, valid_accuracy = (float(v) for v in self.recorder.values[-1][1:3])
        loss_sum, samples = distributed.all_reduce_sum(torch.stack([self.loss_sum, torch.tensor(float(self.sample_count))]))
        self.rows.append(dict(epoch=self.epoch + 1, train_loss=(loss_sum / samples).item(),
                              valid_loss=valid_loss, valid_accuracy=valid_accuracy, **getattr(self.learn, "train_probe", {}),
                              lr=float(self.opt.hypers[-1]["lr"]), train_samples=int(samples.item()),
                              seconds=round(time.perf_counter() - self.epoch_start, 3)))
        if not distributed.is_main_process():
            return
        model = getattr(self.model, "module", self.model)  # unwrapped from DDP
        atomic_torch_save(self.path / CHECKPOINT, dict(
            epoch=self.epoch + 1, model=model.state_dict(), opt=self.opt.state_dict(),
            rng=dict(torch=torch.get_rng_state(), numpy=np.random.get_state(), python=random.getstate()),
            loss_rng=_loss_generator_state(self.learn)))
        write_metrics(self.path / METRICS, self.rows)


def _loss_generator_state(learn):
    objective = getattr(learn, "objective", None)
    generator = getattr(objective, "generator", None)
    return generator.get_state() if generator is not None else None


def clean_loader(dls, size: int | None = None) -> InMemoryLoader:
    """The first `size` images of the training split (all of them for None) in order, without augmentation."""
    train = dls.train
    count = train.n if size is None else min(size, train.n)
    mean, std = train.mean.flatten(), (1 / train.inv_std).flatten()
    return InMemoryLoader(train.images[:count], train.labels[:count], dls.valid.bs, mean, std, device=train.device)


def training_fit(model, dls, config: RunConfig, teacher, test_logits: torch.Tensor) -> dict:
    """How well the trained model fits its training split (clean images, eval mode), and for a student how its
    teacher's targets relate to the labels and how often the two agree on the test set."""
    loader = clean_loader(dls)
    logits, labels = predict(model, loader, config.precision, config.channels_last)
    fit = dict(train_accuracy=(logits.argmax(dim=1) == labels).float().mean().item(),
               train_loss=F.cross_entropy(logits, labels).item())
    if teacher is not None:
        teacher_logits, _ = predict(teacher, loader, config.precision, config.channels_last)
        teacher_test_logits, _ = predict(teacher, dls.test, config.precision, config.channels_last)
        fit.update(teacher_train_targets_wrong=(teacher_logits.argmax(dim=1) != labels).float().mean().item(),
                   test_agreement_with_teacher=(teacher_test_logits.argmax(dim=1)
                                                == test_logits.argmax(dim=1)).float().mean().item())
    return fit


def resolve_teacher(teacher: str | None, runs_dir: Path) -> Run | None:
    """A teacher given by run id or run directory; it must be a finished run."""
    if teacher is None:
        return None
    path = Path(teacher) if Path(teacher).is_dir() else runs_dir / teacher
    if not path.is_dir():
        raise ConfigError(f"teacher run {teacher!r} not found (looked for {path}); train it first, "
                          f"or give the directory of a finished run")
    problem = finished_problem(path)
    if problem:
        raise ConfigError(f"teacher run {path} is not a finished run: {problem}; train it to the end first")
    return Run(path)


def train_run(config: RunConfig, runs_dir: Path | None = None, device: str | torch.device = "cpu",
              progress: bool = True, log=print, callbacks=()) -> Run:
    """Train the run `config` describes, or load it if it has already finished.

    An interrupted run resumes from its last completed epoch. `callbacks` are extra fastai callbacks
    (logging, say); they must not change what is trained, since they are not part of the run's config.
    """
    runs_dir = Path(runs_dir or default_runs_dir())
    path = runs_dir / config.run_id
    if path.exists():
        problem = finished_problem(path)
        if problem is None:
            return Run(path)
        log(f"run {config.run_id}: not finished ({problem}); training it")
    teacher_run = resolve_teacher(config.teacher, runs_dir)
    if teacher_run is not None and (teacher_run.config.dataset, teacher_run.config.valid_size,
                                    teacher_run.config.split_seed) != (config.dataset, config.valid_size, config.split_seed):
        raise ConfigError(f"teacher {teacher_run.run_id} was trained on another dataset or split than this student")
    device = torch.device(device)
    dataset = load_dataset(config.dataset)
    dls = make_dataloaders(dataset, config.batch_size, config.valid_size, config.split_seed, config.train_size,
                           config.test_size, config.augment, seed=config.seed, device=device)
    seed_everything(config.seed)
    model = build_model(config, dls.in_channels, dls.num_classes)
    objective = make_loss(config.loss, **({"seed": config.seed} if config.loss == "dkpp" else {}), **config.loss_params)
    teacher = teacher_run.load_model(device) if teacher_run else None

    stored_config = path / CONFIG
    if stored_config.exists() and json.loads(stored_config.read_text()) != json.loads(json.dumps(config.to_dict())):
        raise BannbError(f"{stored_config} does not match the config hashed into its name; remove {path} and run again")
    if distributed.is_main_process():
        path.mkdir(parents=True, exist_ok=True)
        atomic_write_json(stored_config, config.to_dict())

    rows, start_epoch, checkpoint = [], 0, None
    if (path / CHECKPOINT).exists():
        try:
            checkpoint = torch.load(path / CHECKPOINT, map_location=device, weights_only=False)
        except Exception as err:  # a checkpoint cut off mid-write cannot exist (atomic), but a damaged disk can
            log(f"run {config.run_id}: checkpoint unreadable ({err}); starting over")
        if checkpoint is not None:
            start_epoch = checkpoint["epoch"]
            rows = [row for row in read_metrics(path / METRICS) if row["epoch"] <= start_epoch]
            model.load_state_dict(checkpoint["model"])
            log(f"run {config.run_id}: resuming after epoch {start_epoch} of {config.epochs}")

    recorder = RunRecorder(path, rows, start_epoch)
    probe = TrainProbe(clean_loader(dls, TRAIN_PROBE_SIZE), config.precision, config.channels_last)
    if config.processes != distributed.world_size():
        raise ConfigError(f"run {config.run_id} is configured for {config.processes} processes but "
                          f"{distributed.world_size()} are running; make the config with processes={distributed.world_size()}")
    if config.processes > 1:
        callbacks = [distributed.sharded_trainer(cpu=device.type == "cpu"), *callbacks]
    learn = make_learner(model, dls, objective, teacher, lr=config.lr, momentum=config.momentum,
                         weight_decay=config.weight_decay, milestones=config.milestones, gamma=config.gamma,
                         precision=config.precision, channels_last=config.channels_last,
                         cbs=[recorder, probe, StopOnNonFiniteLoss(path), *callbacks], schedule=config.schedule)
    learn.objective = objective
    if not progress:
        learn.remove_cbs([cb for cb in learn.cbs if type(cb).__name__ == "ProgressCallback"])
        learn.logger = noop
    if checkpoint is not None:
        learn.create_opt()
        learn.opt.load_state_dict(checkpoint["opt"])
        dls.train.epoch = start_epoch
        torch.set_rng_state(checkpoint["rng"]["torch"].cpu())
        np.random.set_state(checkpoint["rng"]["numpy"])
        random.setstate(checkpoint["rng"]["python"])
        if checkpoint.get("loss_rng") is not None:
            objective.generator.set_state(checkpoint["loss_rng"])
    started = time.perf_counter()
    if start_epoch < config.epochs:
        learn.fit(config.epochs, lr=config.lr, reset_opt=checkpoint is None)
    # The last epoch's model on the test set: the test set never picks an epoch or a model.
    learn.remove_cbs([recorder, probe])  # prediction runs fastai's epoch events too; they are not training epochs
    test_logits, test_labels = learn.get_preds(dl=dls.test, act=noop)
    fit = training_fit(learn.model, dls, config, teacher, test_logits)
    test_loss = F.cross_entropy(test_logits.float(), test_labels).item()
    test_accuracy = (test_logits.argmax(dim=1) == test_labels).float().mean().item()
    last = rows[-1]
    final = dict(test_accuracy=test_accuracy, test_error=1 - test_accuracy, test_loss=test_loss,
                 valid_accuracy=last["valid_accuracy"], valid_loss=last["valid_loss"], epochs=config.epochs,
                 train_seconds=sum(row["seconds"] for row in rows), parameters=count_parameters(model),
                 device=str(device), torch=torch.__version__, teacher=config.teacher,
                 resumed_from_epoch=start_epoch or None, wall_seconds_this_process=round(time.perf_counter() - started, 3),
                 **fit)
    model.to(memory_format=torch.contiguous_format)
    if not distributed.is_main_process():
        distributed.barrier()  # process 0 writes the run
        return Run(path)
    atomic_torch_save(path / WEIGHTS, {k: v.detach().cpu() for k, v in model.state_dict().items()})
    atomic_torch_save(path / PREDICTIONS, dict(logits=test_logits.to(torch.float32), labels=test_labels))
    atomic_write_json(path / FINAL, final)
    names = [CONFIG, METRICS, FINAL, WEIGHTS, PREDICTIONS]
    atomic_write_json(path / DONE, dict(sha256={name: sha256(path / name) for name in names}))
    (path / CHECKPOINT).unlink(missing_ok=True)
    distributed.barrier()
    return Run(path)
