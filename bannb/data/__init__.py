"""Datasets (Fashion-MNIST, CIFAR-10/100, CIFAR-10 re-encoded as JPEG) and the in-memory data path that feeds a
fastai `Learner`; the text corpus of the language-model experiment (`fortunes`, see `bannb.data.text`)."""
from __future__ import annotations

from functools import lru_cache

from bannb.data.arrays import ImageArrays, data_roots
from bannb.data.cifar import load_cifar
from bannb.data.cifar10_jpeg import NOTE as CIFAR10_JPEG_NOTE
from bannb.data.cifar10_jpeg import load_cifar10_jpeg
from bannb.data.fashion_mnist import load_fashion_mnist
from bannb.data.loaders import (
    BanDataLoaders,
    InMemoryLoader,
    make_dataloaders,
    pad_crop_flip,
    split_indices,
    test_indices,
)
from bannb.data.text import CORPORA, TextCorpus, check_corpus, load_corpus
from bannb.errors import unknown_choice

DATASETS = ("fashion-mnist", "cifar10", "cifar100", "cifar10-jpeg")

# What a reader must be told wherever a result comes from the dataset (chapters, tables, the `data` command).
DATASET_NOTES = {"cifar10-jpeg": CIFAR10_JPEG_NOTE}


def dataset_note(name: str) -> str:
    """The caveat that goes with results on `name` ("" for none)."""
    return DATASET_NOTES.get(check_dataset(name), "")


# What a network needs to know of each dataset before any file is read: (channels, height, width), classes.
DATASET_SHAPES = {"fashion-mnist": ((1, 28, 28), 10), "cifar10": ((3, 32, 32), 10), "cifar100": ((3, 32, 32), 100),
                  "cifar10-jpeg": ((3, 32, 32), 10)}


def dataset_shape(name: str) -> tuple[tuple[int, int, int], int]:
    """(image shape, number of classes) of dataset `name`, without loading it."""
    return DATASET_SHAPES[check_dataset(name)]


def check_dataset(name: str) -> str:
    if name not in DATASETS:
        raise unknown_choice("dataset", name, DATASETS)
    return name


@lru_cache(maxsize=4)
def load_dataset(name: str, root=None, download: bool = True) -> ImageArrays:
    """The whole dataset as uint8 tensors, read (or downloaded) once per process."""
    check_dataset(name)
    if name == "cifar10-jpeg":
        return load_cifar10_jpeg(root)  # a local archive only: there is nothing to download
    if name == "fashion-mnist":
        return load_fashion_mnist(root, download_if_missing=download)
    return load_cifar(name, root, download=download)


__all__ = ["CORPORA", "DATASETS", "DATASET_NOTES", "ImageArrays", "BanDataLoaders", "InMemoryLoader", "TextCorpus",
           "DATASET_SHAPES", "check_corpus", "check_dataset", "dataset_shape", "data_roots", "dataset_note", "load_corpus", "load_dataset",
           "make_dataloaders", "pad_crop_flip", "split_indices"]
