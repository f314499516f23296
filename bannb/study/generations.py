"""Born-again sequences (Eq. 3) and their ensembles (Eq. 4).

Teacher → BAN-1 → … → BAN-k: the same schedule each time, a new seed each generation, each student
taught by the previous generation once it has converged.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
import torch.nn.functional as F

from bannb.errors import ConfigError
from bannb.image.config import RunConfig
from bannb.models import model_family
from bannb.runs.lifecycle import train
from bannb.runs.store import Run

SEED_STRIDE = 1000  # a student's seed is its base seed + SEED_STRIDE × its generation: base seeds lie below it


def generation_seed(seed: int, generation: int) -> int:
    """A student's own seed: distinct per generation and per base seed (for base seeds 0 to `SEED_STRIDE` - 1).
    The base seed itself is stored in the config (`RunConfig.base_seed`), never recovered from this."""
    return seed + SEED_STRIDE * generation


def teacher_config(base: RunConfig) -> RunConfig:
    """The teacher of `base`'s replicate: trained on the labels, with `base`'s seed (its own base seed)."""
    return dataclasses.replace(base, loss="ce", loss_params={}, teacher=None, generation=0, base_seed=base.seed)


def student_config(base: RunConfig, teacher: Run | RunConfig, generation: int, loss: str = "ban", loss_params: dict | None = None,
                   arch: str | None = None) -> RunConfig:
    """BAN-`generation` of the replicate `base` starts (base seed `base.seed`), taught by `teacher`. A student of
    another family than its teacher (chapter 8's DenseNet student of a Wide-ResNet) has no dropout: only
    Wide-ResNets take it (`Profile.config`)."""
    arch = arch or base.arch
    dropout = base.dropout if model_family(arch) == model_family(base.arch) else 0.0
    return dataclasses.replace(base, arch=arch, dropout=dropout, loss=loss, loss_params=dict(loss_params or {}),
                               teacher=teacher.run_id, generation=generation,
                               seed=generation_seed(base.seed, generation), base_seed=base.seed)


def chain_configs(base: RunConfig, generations: int, loss: str = "ban", loss_params: dict | None = None,
                  student_arch: str | None = None) -> list[RunConfig]:
    """The configs of [teacher, BAN-1, …, BAN-k] for the replicate `base`, without training anything (a run's id
    is its config's, so each student can name its teacher before the teacher exists)."""
    configs = [teacher_config(base)]
    for generation in range(1, generations + 1):
        configs.append(student_config(base, configs[-1], generation, loss, loss_params, student_arch))
    return configs


def born_again(base: RunConfig, generations: int, loss: str = "ban", loss_params: dict | None = None,
               student_arch: str | None = None, runs_dir: Path | None = None, device="cpu", progress=True,
               log=print) -> list[Run]:
    """Train (or load) the teacher and `generations` born-again students; returns [teacher, BAN-1, …, BAN-k]."""
    if not isinstance(generations, int) or generations < 1:
        raise ConfigError(f"generations must be a positive integer, got {generations!r}")
    # Refuse a bad student loss or architecture before hours go into the teacher.
    dataclasses.replace(base, arch=student_arch or base.arch, loss=loss, loss_params=dict(loss_params or {}))
    runs = [train(teacher_config(base), runs_dir, device, progress, log)]
    for generation in range(1, generations + 1):
        config = student_config(base, runs[-1], generation, loss, loss_params, student_arch)
        runs.append(train(config, runs_dir, device, progress, log))
    return runs


def test_probabilities(run: Run) -> torch.Tensor:
    """The run's softmax outputs on the test set (stored when it finished)."""
    return F.softmax(run.test_logits().float(), dim=1)


def ensemble_accuracy(runs: list[Run]) -> float:
    """BANE (Eq. 4): accuracy of the mean of the members' softmax outputs on the test set."""
    if not runs:
        raise ConfigError("an ensemble needs at least one run")
    data = {(r.config.dataset, r.config.split_seed, r.config.test_size) for r in runs}
    if len(data) > 1:
        raise ConfigError(f"ensemble members were tested on different data: {sorted(map(str, data))}")
    mean_probs = torch.stack([test_probabilities(run) for run in runs]).mean(dim=0)
    return (mean_probs.argmax(dim=1) == runs[0].test_labels()).float().mean().item()
