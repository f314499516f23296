"""Data-parallel training over processes and machines: fastai's `DistributedTrainer` on Hugging Face accelerate.

Launch any bannb command under `torchrun --nproc_per_node N -m bannb …` or `accelerate launch -m bannb …`:
every process holds the model, the teacher and the whole (in-memory) dataset; each global batch of
`batch_size` is split evenly over the processes (so the optimisation sees the same batches as one
process), DDP averages the gradients, and predictions and metrics are gathered from all processes in
the dataset's order. Only process 0 writes the run's files.
"""
from __future__ import annotations

import os

import torch
import torch.distributed as dist
from fastcore.basics import noop

from bannb.errors import ConfigError


def world_size() -> int:
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return int(os.environ.get("RANK", "0"))


def is_main_process() -> bool:
    return rank() == 0


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """The sum over processes (the tensor itself in a single process)."""
    if world_size() > 1 and dist.is_initialized():
        tensor = tensor.clone()
        dist.all_reduce(tensor)
    return tensor


def gather_in_order(tensor: torch.Tensor, processes: int) -> torch.Tensor:
    """Undo the batch split: process r held items r, r+N, r+2N… of each batch; put them back in place."""
    parts = [torch.empty_like(tensor) for _ in range(processes)]
    dist.all_gather(parts, tensor.contiguous())
    gathered = tensor.new_empty((tensor.shape[0] * processes, *tensor.shape[1:]))
    for process, part in enumerate(parts):
        gathered[process::processes] = part
    return gathered


def check_divisible(loader, processes: int, name: str) -> None:
    """Every batch must split evenly over the processes, so that gathering is exact."""
    last = loader.n % loader.bs if not loader.drop_last else 0
    if loader.bs % processes or last % processes:
        raise ConfigError(f"the {name} set ({loader.n} samples, batches of {loader.bs}) does not split evenly over "
                          f"{processes} processes; choose a batch size and {name} size divisible by {processes}")


def sharded_trainer(**accelerator_kwargs):
    """fastai's DistributedTrainer, with our in-memory loaders sharded in place instead of wrapped in
    fastai's `DistributedDL` (which needs fastai's own DataLoader)."""
    from fastai.distributed import DistributedTrainer  # lazily: only runs over several processes need it

    class ShardedTrainer(DistributedTrainer):
        def _wrap_dl(self, dl):
            processes = world_size()
            if getattr(dl, "world_size", 1) != processes:
                check_divisible(dl, processes, "training" if dl.shuffle else "evaluation")
                dl.rank, dl.world_size = rank(), processes
            return dl

        def before_fit(self):
            super().before_fit()
            if not is_main_process():
                self.learn.logger = noop

    # SyncBatchNorm needs CUDA; on the CPU each process keeps its own BatchNorm statistics, as plain DDP does.
    return ShardedTrainer(sync_bn=torch.cuda.is_available(), **accelerator_kwargs)
