"""The training data path: uint8 images in memory, batch-level augmentation, fastai `DataLoaders`.

Every step of the pipeline acts on a whole batch at once (one gather does the pad, the random crop
and the flip), so the data costs a small share of a training step even on two CPU cores.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from fastai.data.core import DataLoaders

from bannb.data.arrays import ImageArrays
from bannb.errors import ConfigError
from bannb.image import distributed


def split_indices(num_samples: int, valid_size: int, split_seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded (train, valid) split of the training set's indices; the test set is never part of it."""
    if not 0 < valid_size < num_samples:
        raise ConfigError(f"valid_size must be between 1 and {num_samples - 1} (the training set's size less one), got {valid_size}")
    order = torch.randperm(num_samples, generator=torch.Generator().manual_seed(split_seed))
    return order[valid_size:].sort().values, order[:valid_size].sort().values


def test_indices(num_samples: int, test_size: int | None = None, split_seed: int = 0) -> torch.Tensor:
    """The test images a run is evaluated on, in order: all of them, or a seeded subset of `test_size` (smoke runs)."""
    if test_size is None:
        return torch.arange(num_samples)
    return torch.randperm(num_samples, generator=torch.Generator().manual_seed(split_seed))[:test_size].sort().values


def channel_stats(images: torch.Tensor, chunk: int = 8192) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std of uint8 images, in pixel units (0–255), in float64 for accuracy."""
    total = torch.zeros(images.shape[1], dtype=torch.float64)
    total_sq = torch.zeros_like(total)
    for start in range(0, len(images), chunk):
        block = images[start:start + chunk].to(torch.float64)
        total += block.sum(dim=(0, 2, 3))
        total_sq += (block ** 2).sum(dim=(0, 2, 3))
    count = len(images) * images.shape[2] * images.shape[3]
    mean = total / count
    return mean.float(), (total_sq / count - mean ** 2).sqrt().float()


def pad_crop_flip(images: torch.Tensor, pad: int, flip: bool, generator: torch.Generator) -> torch.Tensor:
    """The paper's CIFAR augmentation on a whole uint8 batch: zero-pad by `pad`, random crop back, random horizontal flip.

    The random draws are made where `generator` lives. With a generator on the images' device (what
    `InMemoryLoader` uses on a GPU) nothing crosses between host and device; a CPU generator with GPU images
    costs a host-to-device copy, which from pageable memory waits for the GPU to finish its queued work.
    """
    batch, channels, height, width = images.shape
    padded = F.pad(images, (pad, pad, pad, pad))
    draw = generator.device
    offset_y = torch.randint(0, 2 * pad + 1, (batch, 1), generator=generator, device=draw)
    offset_x = torch.randint(0, 2 * pad + 1, (batch, 1), generator=generator, device=draw)
    rows = offset_y + torch.arange(height, device=draw)
    columns = torch.arange(width, device=draw).expand(batch, width)
    if flip:
        flipped = torch.rand(batch, 1, generator=generator, device=draw) < 0.5
        columns = torch.where(flipped, width - 1 - columns, columns)
    columns = offset_x + columns
    device = images.device
    return padded[torch.arange(batch, device=device)[:, None, None, None],
                  torch.arange(channels, device=device)[None, :, None, None],
                  rows.to(device)[:, None, :, None],
                  columns.to(device)[:, None, None, :]]


class InMemoryLoader:
    """Batches of (normalised float images, int64 labels) from uint8 tensors, iterable by a fastai `Learner`.

    The order and the augmentation of epoch k depend only on (seed, k), so a resumed run sees the same
    batches as one that was never interrupted.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int, mean: torch.Tensor,
                 std: torch.Tensor, shuffle: bool = False, augment: bool = False, pad: int = 4, flip: bool = True,
                 drop_last: bool = False, seed: int = 0, device: str | torch.device = "cpu"):
        if batch_size < 1:
            raise ConfigError(f"batch size must be a positive integer, got {batch_size}")
        self.images, self.labels = images, labels
        self.bs, self.shuffle, self.augment, self.pad, self.flip = batch_size, shuffle, augment, pad, flip
        self.drop_last, self.seed, self.epoch = drop_last and len(images) > batch_size, seed, 0
        self.rank, self.world_size = 0, 1  # set by bannb.image.distributed when training over several processes
        self.mean, self.inv_std = mean.view(1, -1, 1, 1), (1.0 / std).view(1, -1, 1, 1)
        self.to(device)

    @property
    def n(self) -> int:
        return len(self.images)

    def __len__(self) -> int:
        return self.n // self.bs if self.drop_last else math.ceil(self.n / self.bs)

    def to(self, device):
        self.device = torch.device(device)
        self.images, self.labels = self.images.to(self.device), self.labels.to(self.device)
        self.mean, self.inv_std = self.mean.to(self.device), self.inv_std.to(self.device)
        return self

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        return (images.float() - self.mean) * self.inv_std

    @property
    def generator_device(self) -> torch.device:
        """Where the shuffle and the augmentation are drawn: on the CPU for CPU data (the stream every CPU run so
        far was trained on, so resumed runs stay reproducible), on the data's device otherwise, so that a GPU
        epoch runs without a single host-to-device copy or synchronisation."""
        return torch.device("cpu") if self.device.type == "cpu" else self.device

    def __iter__(self):
        generator = torch.Generator(self.generator_device).manual_seed(self.seed * 100_003 + self.epoch)
        self.epoch += 1
        order = (torch.randperm(self.n, generator=generator, device=self.generator_device) if self.shuffle
                 else torch.arange(self.n, device=self.device))
        order = order.to(self.device)
        for start in range(0, len(self) * self.bs, self.bs):
            index = order[start:start + self.bs]
            if self.world_size > 1:  # this process's share of the global batch
                index = index[self.rank::self.world_size]
            images = self.images[index]
            if self.augment:
                images = pad_crop_flip(images, self.pad, self.flip, generator)
            yield self.normalize(images), self.labels[index]


    def to_detach(self, batch, cpu: bool = True, gather: bool = True):
        """fastai's hook for metrics and predictions: detach, and over several processes gather in order."""

        def detach(x):
            if not isinstance(x, torch.Tensor):
                return x
            x = x.detach()
            if gather and self.world_size > 1:
                if x.ndim == 0:  # a batch mean: every process holds an equal share of the batch
                    x = distributed.all_reduce_sum(x.float()) / self.world_size
                else:
                    x = distributed.gather_in_order(x, self.world_size)
            return x.cpu() if cpu else x

        if isinstance(batch, (tuple, list)):
            return type(batch)(self.to_detach(b, cpu, gather) for b in batch)
        return detach(batch)


class BanDataLoaders(DataLoaders):
    """fastai `DataLoaders` with a third, test loader and the facts a model needs about the data."""

    @property
    def test(self) -> InMemoryLoader:
        return self.loaders[2]

    def __init__(self, train, valid, test, dataset: ImageArrays, **kwargs):
        super().__init__(train, valid, test, **kwargs)
        self.dataset_name, self.classes = dataset.name, dataset.classes
        self.num_classes, self.in_channels = dataset.num_classes, dataset.image_shape[0]


def make_dataloaders(dataset: ImageArrays, batch_size: int = 128, valid_size: int = 5000, split_seed: int = 0,
                     train_size: int | None = None, test_size: int | None = None, augment: bool = True,
                     seed: int = 0, device: str | torch.device = "cpu", eval_batch_size: int | None = None) -> BanDataLoaders:
    """Train (augmented, shuffled), valid (held out of train) and test loaders, normalised by the train split's statistics.

    `train_size`/`test_size` take seeded subsets, for smoke runs only.
    """
    train_index, valid_index = split_indices(len(dataset.train_images), valid_size, split_seed)
    if train_size is not None:
        train_index = train_index[:train_size]
    test_index = test_indices(len(dataset.test_images), test_size, split_seed)
    train_images = dataset.train_images[train_index]
    mean, std = channel_stats(train_images)
    eval_batch_size = eval_batch_size or 2 * batch_size
    common = dict(mean=mean, std=std, device=device)
    train = InMemoryLoader(train_images, dataset.train_labels[train_index], batch_size, shuffle=True,
                           augment=augment, drop_last=True, seed=seed, **common)
    valid = InMemoryLoader(dataset.train_images[valid_index], dataset.train_labels[valid_index], eval_batch_size, **common)
    test = InMemoryLoader(dataset.test_images[test_index], dataset.test_labels[test_index], eval_batch_size, **common)
    return BanDataLoaders(train, valid, test, dataset=dataset, device=torch.device(device))
