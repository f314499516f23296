"""The training data path: uint8 images in memory, batch-level augmentation, fastai `DataLoaders`.

Every step of the pipeline acts on a whole batch at once (one gather does the pad, the random crop
and the flip), so the data costs a small share of a training step even on two CPU cores.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from fastai.data.core import DataLoaders

from bannb.data.arrays import ImageArrays
from bannb.errors import ConfigError
from bannb.image import distributed


class Split(NamedTuple):
    """Indices into a dataset's training images: the split a run trains on, the one it selects on, and the pool
    no run of a profile trains or validates on (a second held-out evaluation set; empty unless asked for)."""

    train: torch.Tensor
    valid: torch.Tensor
    pool: torch.Tensor


def class_quotas(class_counts: torch.Tensor, size: int, capacity: torch.Tensor | None = None) -> torch.Tensor:
    """`size` shared among the classes in proportion to `class_counts` (largest remainder; a tie goes to the
    lower class index), so that a subset has the class balance of the set it is drawn from; no class gets more than
    its `capacity` (by default its count: what is left of it after other parts took theirs), the rest going to the
    classes with room, by the same order."""
    capacity = class_counts.clone() if capacity is None else capacity
    if size > int(capacity.sum()):
        raise ConfigError(f"cannot draw {size:,} images from {int(capacity.sum()):,}")
    exact = class_counts.double() * size / int(class_counts.sum())
    quotas = torch.minimum(exact.floor().long(), capacity)
    while (missing := size - int(quotas.sum())) > 0:
        remainder = torch.where(quotas < capacity, exact - quotas, torch.tensor(-math.inf, dtype=torch.float64))
        # the classes with the largest remainders (and room) get one more each; a stable sort breaks ties by index
        ranked = torch.sort(-remainder, stable=True).indices[:min(missing, int((quotas < capacity).sum()))]
        quotas[ranked] += 1
    return quotas


# How a run's splits are drawn from a dataset's training images (`split_indices`): "class-balanced", every new
# run's; "first-of-sorted", the rule of runs recorded before it (kept so that their records stay reproducible).
SUBSET_RULES = ("class-balanced", "first-of-sorted")


def first_of_sorted_split(count: int, valid_size: int, split_seed: int, train_size: int | None) -> Split:
    """The rule of runs recorded before class-balanced splits: a seeded random validation split, and the first
    `train_size` of the remaining indices in sorted order. A fair sample only of files in random class order
    (Fashion-MNIST's); on CIFAR-10's class-ordered archive the first 3,000 are all airplanes. Not for new runs."""
    order = torch.randperm(count, generator=torch.Generator().manual_seed(split_seed))
    train = order[valid_size:].sort().values
    return Split(train if train_size is None else train[:train_size], order[:valid_size].sort().values,
                 torch.zeros(0, dtype=torch.long))


def split_indices(labels: torch.Tensor, valid_size: int, split_seed: int = 0, train_size: int | None = None,
                  pool_size: int = 0, rule: str = "class-balanced") -> Split:
    """A seeded, class-balanced split of a dataset's training images (their `labels`; the test set is never part
    of it), each part sorted.

    Each class's images are put in one seeded random order. The validation split takes the first of each class,
    the training split the next (all the rest but the pool for `train_size` None), the pool the last: every part
    is a class-balanced sample (`class_quotas`) whatever order the files come in, so the first 3,000 images of a
    dataset stored class by class are not 3,000 airplanes. The pool depends on the seed and its size only, so
    runs of different training sizes share it and none of them trains on it. `rule` "first-of-sorted" is the
    rule of runs recorded before this one (`first_of_sorted_split`), without a pool."""
    labels = torch.as_tensor(labels).long()
    count = len(labels)
    if not 0 < valid_size < count:
        raise ConfigError(f"valid_size must be between 1 and {count - 1} (the training set's size less one), "
                          f"got {valid_size}")
    train_wanted = count - valid_size - pool_size if train_size is None else train_size
    if pool_size < 0 or train_wanted < 1 or valid_size + train_wanted + pool_size > count:
        raise ConfigError(f"a split of {count:,} training images cannot hold valid_size {valid_size:,}, train_size "
                          f"{train_size} and pool_size {pool_size:,}: together they must not exceed {count:,}, "
                          f"and the training split needs at least one image; give smaller sizes")
    if rule == "first-of-sorted" and not pool_size:
        return first_of_sorted_split(count, valid_size, split_seed, train_size)
    if rule != "class-balanced":
        raise ConfigError(f"unknown subset rule {rule!r} (with pool_size {pool_size}); valid: class-balanced, or "
                          f"first-of-sorted without a pool")
    classes = int(labels.max()) + 1
    counts = torch.bincount(labels, minlength=classes)
    # the pool first (it depends on its size only), then the validation split, then the training split, each from
    # what the others left of every class
    pool_quota = class_quotas(counts, pool_size)
    valid_quota = class_quotas(counts, valid_size, counts - pool_quota)
    left = counts - pool_quota - valid_quota
    train_quota = left if train_size is None else class_quotas(counts, train_size, left)
    order = torch.randperm(count, generator=torch.Generator().manual_seed(split_seed))
    parts = {"train": [], "valid": [], "pool": []}
    for label in range(classes):
        members = order[labels[order] == label]  # this class's images, in the seeded random order
        valid_end = int(valid_quota[label])
        parts["valid"].append(members[:valid_end])
        parts["train"].append(members[valid_end:valid_end + int(train_quota[label])])
        parts["pool"].append(members[len(members) - int(pool_quota[label]):])
    return Split(**{name: torch.cat(chunks).sort().values for name, chunks in parts.items()})


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
    """fastai `DataLoaders` with a third, test loader, the held-out pool's loader (`pool`, None without one) and
    the facts a model needs about the data."""

    @property
    def test(self) -> InMemoryLoader:
        return self.loaders[2]

    def __init__(self, train, valid, test, dataset: ImageArrays, pool: InMemoryLoader | None = None, **kwargs):
        super().__init__(train, valid, test, **kwargs)
        self.pool = pool
        self.dataset_name, self.classes = dataset.name, dataset.classes
        self.num_classes, self.in_channels = dataset.num_classes, dataset.image_shape[0]


def make_dataloaders(dataset: ImageArrays, batch_size: int = 128, valid_size: int = 5000, split_seed: int = 0,
                     train_size: int | None = None, test_size: int | None = None, augment: bool = True,
                     seed: int = 0, device: str | torch.device = "cpu", eval_batch_size: int | None = None,
                     pool_size: int = 0, subset: str = "class-balanced") -> BanDataLoaders:
    """Train (augmented, shuffled), valid (held out of train) and test loaders, normalised by the train split's
    statistics, and `pool`, the held-out pool of the training images (`split_indices`; None without one).

    The training and validation splits and the pool are class-balanced samples (`split_indices`); `test_size`
    takes a seeded subset of the test set, for smoke runs only.
    """
    split = split_indices(dataset.train_labels, valid_size, split_seed, train_size, pool_size, subset)
    test_index = test_indices(len(dataset.test_images), test_size, split_seed)
    train_images = dataset.train_images[split.train]
    mean, std = channel_stats(train_images)
    eval_batch_size = eval_batch_size or 2 * batch_size
    common = dict(mean=mean, std=std, device=device)
    train = InMemoryLoader(train_images, dataset.train_labels[split.train], batch_size, shuffle=True,
                           augment=augment, drop_last=True, seed=seed, **common)
    valid = InMemoryLoader(dataset.train_images[split.valid], dataset.train_labels[split.valid], eval_batch_size, **common)
    test = InMemoryLoader(dataset.test_images[test_index], dataset.test_labels[test_index], eval_batch_size, **common)
    pool = (InMemoryLoader(dataset.train_images[split.pool], dataset.train_labels[split.pool], eval_batch_size,
                           **common) if len(split.pool) else None)
    return BanDataLoaders(train, valid, test, dataset=dataset, pool=pool, device=torch.device(device))
