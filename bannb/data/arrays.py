"""The in-memory form every dataset loader returns, and where datasets live on disk."""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np
import torch

from bannb.paths import DATA_DIR, PROJECT_ROOT  # noqa: F401  (PROJECT_ROOT: still importable from here)


def data_roots(root: str | Path | None = None) -> list[Path]:
    """Folders searched for dataset files, in order: an explicit root, `$BANNB_DATA`, the project's `data/`."""
    roots = []
    if root is not None:
        roots.append(Path(root))
    if os.environ.get("BANNB_DATA"):
        roots.append(Path(os.environ["BANNB_DATA"]))
    roots.append(DATA_DIR)
    return roots


def download_root(root: str | Path | None = None) -> Path:
    """Where a download is written: the first of `data_roots`."""
    return data_roots(root)[0]


ARRAY_FIELDS = ("train_images", "train_labels", "test_images", "test_labels")
ARRAYS_SHA256 = "pixels_sha256"  # the `ImageArrays.checksums` key of `arrays_sha256` (cifar10-jpeg's loader's name)


def arrays_sha256(arrays: Mapping[str, np.ndarray | torch.Tensor]) -> str:
    """The sha256 of a dataset's four arrays (`ARRAY_FIELDS`, in that order, each's bytes in C order): what a run
    reads of an image dataset, whichever files it came from (IDX or gzipped, pickles or PNGs, JPEGs and the decoder
    that decoded them)."""
    digest = hashlib.sha256()
    for key in ARRAY_FIELDS:
        value = arrays[key]
        digest.update(np.ascontiguousarray(value.numpy() if isinstance(value, torch.Tensor) else value))
    return digest.hexdigest()


@dataclass
class ImageArrays:
    """A whole image-classification dataset as tensors: uint8 N×C×H×W images, int64 labels."""

    name: str
    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    classes: list[str]
    source: str = ""  # the folder or files it was read from, for messages and run configs
    note: str = ""  # what a reader must know about this copy of the data (e.g. that it was re-encoded)
    checksums: dict = field(default_factory=dict)  # of the files read and of the decoded arrays, where known

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def arrays_sha256(self) -> str:
        """`arrays_sha256` of this dataset, computed once (kept in `checksums`; a loader that computes it as it
        reads, cifar10-jpeg's, has put it there already)."""
        if ARRAYS_SHA256 not in self.checksums:
            self.checksums[ARRAYS_SHA256] = arrays_sha256(vars(self))
        return self.checksums[ARRAYS_SHA256]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train_images.shape[1:])

    def __post_init__(self):
        for split, images, labels in (("train", self.train_images, self.train_labels),
                                      ("test", self.test_images, self.test_labels)):
            assert images.dtype == torch.uint8 and images.ndim == 4, f"{self.name} {split} images must be uint8 N×C×H×W"
            assert labels.dtype == torch.int64 and len(labels) == len(images), f"{self.name} {split} labels must be int64, one per image"
