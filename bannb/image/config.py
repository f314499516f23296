"""A run's config: everything that determines a trained model, validated, hashed into the run's id."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from bannb.data import SUBSET_RULES, check_dataset, check_split_sizes
from bannb.errors import ConfigError, unknown_choice
from bannb.losses import make_loss
from bannb.models import create_model
from bannb.runs.config import HashedConfig, check_numbers

PRECISIONS = ("auto", "bf16", "fp16", "fp32")  # "auto": the fastest on the machine at hand, resolved before a run
SCHEDULES = ("step", "one-cycle", "one-cycle-hold")
# every number of a run config and its rule (`bannb.runs.config.NUMBER_RULES`), checked whoever builds the config
NUMBERS = dict(epochs="count", batch_size="count", valid_size="count", train_size="count or None",
               test_size="count or None", seed="seed", base_seed="seed or None", lr="positive",
               momentum="fraction", weight_decay="non-negative", gamma="positive", dropout="fraction")
CONFIG_VERSION = 3  # bump when a change to training or to the config makes old runs incomparable
# 3: base_seed (the replicate a run belongs to) is stored instead of being inferred from the seed


@dataclass(frozen=True)
class RunConfig(HashedConfig):
    """Everything that determines a trained model. Two equal configs give the same run."""

    DATA_FIELD = "dataset"
    LEGACY_DEFAULTS = {"subset": "first-of-sorted", "pool_size": 0}

    arch: str
    dataset: str = "fashion-mnist"
    loss: str = "ce"
    loss_params: dict = field(default_factory=dict)
    teacher: str | None = None  # the teacher's run id
    generation: int = 0  # 0 for a teacher, k for BAN-k
    seed: int = 0
    # The replicate the run belongs to: a teacher's own seed; BAN-k of a teacher with base seed s keeps s.
    # None means the run's own seed (always so for a teacher).
    base_seed: int | None = None
    epochs: int = 10
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "step"  # "step" (milestones, gamma), "one-cycle" (fastai's fit_one_cycle) or "one-cycle-hold"
    milestones: tuple = (0.3, 0.6, 0.8)
    gamma: float = 0.2
    dropout: float = 0.0
    augment: bool = True
    valid_size: int = 5000
    split_seed: int = 0
    train_size: int | None = None
    test_size: int | None = None
    # How the splits are drawn (`data.loaders.SUBSET_RULES`): "class-balanced" for every new run; runs recorded
    # before it (`LEGACY_DEFAULTS`) took the first `train_size` of a random split's sorted indices, which on files
    # stored class by class (CIFAR-10's JPEG archive) is one class
    subset: str = "class-balanced"
    # the held-out pool: this many training images (a class-balanced sample, the same for every training size) no
    # run trains or validates on; every run records its predictions on them (`data.loaders.split_indices`)
    pool_size: int = 0
    precision: str = "bf16"
    channels_last: bool = True
    processes: int = 1  # data-parallel processes: BatchNorm statistics are per process, so results depend on it
    version: int = CONFIG_VERSION

    def __post_init__(self):
        check_numbers(self, NUMBERS)  # first: the model's own checks would name a number less plainly
        check_dataset(self.dataset)
        make_loss(self.loss, **self.loss_params)
        with torch.device("meta"):  # validates the name and its arguments without allocating weights
            build_model(self, in_channels=3, num_classes=10)
        if self.subset not in SUBSET_RULES:
            raise unknown_choice("subset rule", self.subset, SUBSET_RULES)
        if self.subset != "class-balanced" and self.pool_size:
            raise ConfigError(f"a held-out pool needs class-balanced subsets (subset='class-balanced'), got "
                              f"subset={self.subset!r} with pool_size {self.pool_size}")
        if not isinstance(self.pool_size, int) or isinstance(self.pool_size, bool) or self.pool_size < 0:
            raise ConfigError(f"pool_size must be a non-negative integer, got {self.pool_size!r}")
        check_split_sizes(self.dataset, self.train_size, self.valid_size, self.test_size, self.pool_size)
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"unknown schedule {self.schedule!r}; valid schedules are: {', '.join(SCHEDULES)}")
        if self.precision not in PRECISIONS or self.precision == "auto":
            raise ConfigError(f"a run's precision must be resolved to one of bf16, fp16, fp32, got {self.precision!r}")
        object.__setattr__(self, "milestones", tuple(self.milestones))
        if self.teacher is None or self.base_seed is None:
            # A teacher is its own replicate (also after `dataclasses.replace(config, seed=…)`, which carries the
            # old base_seed along).
            object.__setattr__(self, "base_seed", self.seed)

    @property
    def model_overrides(self) -> dict:
        """Arguments the config adds to the architecture's own (only a dropout that is set)."""
        return {"dropout": self.dropout} if self.dropout else {}



def build_model(config: RunConfig, in_channels: int, num_classes: int) -> torch.nn.Module:
    """The network `config` describes, at its initial weights (drawn from torch's current random state)."""
    return create_model(config.arch, in_channels=in_channels, num_classes=num_classes, **config.model_overrides)
