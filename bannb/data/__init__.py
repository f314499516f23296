"""Datasets (Fashion-MNIST, CIFAR-10/100, CIFAR-10 re-encoded as JPEG) and the in-memory data path that feeds a
fastai `Learner`; the text corpus of the language-model experiment (`fortunes`, see `bannb.data.text`)."""
from __future__ import annotations

from functools import lru_cache
from typing import Mapping

from bannb.data import text
from bannb.data.arrays import ImageArrays, data_roots, download_root
from bannb.data.cifar import SPECS as CIFAR_SPECS
from bannb.data.cifar import find_folder as find_cifar
from bannb.data.cifar import load_cifar
from bannb.data.cifar10_jpeg import NOTE as CIFAR10_JPEG_NOTE
from bannb.data.cifar10_jpeg import find_archive, load_cifar10_jpeg
from bannb.data.fashion_mnist import find_folder as find_fashion_mnist
from bannb.data.fashion_mnist import load_fashion_mnist
from bannb.data.loaders import (
    SUBSET_RULES,
    BanDataLoaders,
    InMemoryLoader,
    make_dataloaders,
    pad_crop_flip,
    split_indices,
    test_indices,
)
from bannb.data.text import CORPORA, TextCorpus, check_corpus, load_corpus
from bannb.errors import ConfigError, unknown_choice

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


# How many training and test images each dataset holds (the published files'; a small archive a test writes holds
# fewer, which the loaders find when they read it).
DATASET_SIZES = {"fashion-mnist": (60_000, 10_000), "cifar10": (50_000, 10_000), "cifar100": (50_000, 10_000),
                 "cifar10-jpeg": (50_000, 10_000)}


def check_split_sizes(name: str, train_size: int | None, valid_size: int, test_size: int | None,
                      pool_size: int = 0) -> None:
    """Refuse subsets larger than dataset `name` holds, before any file is read: a run would otherwise train and
    test on fewer images than its config (and its record) says, or fail when its data is split."""
    train_images, test_images = DATASET_SIZES[check_dataset(name)]
    if valid_size >= train_images:
        raise ConfigError(f"valid_size {valid_size} leaves no training image: {name} has {train_images:,} training "
                          f"images (valid_size must be below that)")
    if train_size is not None and train_size > train_images - valid_size:
        raise ConfigError(f"train_size {train_size} is more than {name} holds beside the validation split: "
                          f"{train_images:,} training images less valid_size {valid_size} leave "
                          f"{train_images - valid_size:,} (give train_size ≤ {train_images - valid_size})")
    if pool_size and valid_size + (train_size or 1) + pool_size > train_images:
        raise ConfigError(f"pool_size {pool_size:,} does not fit beside the validation and training splits: {name} has "
                          f"{train_images:,} training images, valid_size {valid_size:,} and train_size {train_size} "
                          f"leave {train_images - valid_size - (train_size or 1):,} for the pool")
    if test_size is not None and test_size > test_images:
        raise ConfigError(f"test_size {test_size} is more than the {test_images:,} test images of {name}")


def check_dataset(name: str) -> str:
    if name not in DATASETS:
        raise unknown_choice("dataset", name, DATASETS)
    return name


# The key under which a run's record (final.json) holds `data_fingerprint` of its config.
DATA_FINGERPRINT = "data_sha256"


def data_fingerprint(config, missing_ok: bool = False) -> str | None:
    """What identifies the data a run `config` reads, as a sha256 (hex), where its run id names the data only
    (`HashedConfig.data_name`): for a language model the files of the corpus as found now (`text.corpus_sha256` of
    `text.find_folder()`: $BANNB_DATA, data/, the system's), for an image run the dataset's decoded arrays as
    `load_dataset` gives them (`ImageArrays.arrays_sha256`; for cifar10-jpeg its `pixels_sha256`). Computed once
    per process (the dataset is loaded once; the corpus digest is cached while its files are unchanged).
    `missing_ok`: None where the data is not on this machine (nothing is downloaded), for a record that is only
    read."""
    name = config.data_name
    if name in CORPORA:
        check_corpus(name)
        if missing_ok and not any(folder.is_dir() for folder in text.candidate_folders()):
            return None
        return text.corpus_sha256(text.find_folder())
    check_dataset(name)
    if missing_ok and not _present(name):
        return None
    return load_dataset(name).arrays_sha256()


# What every record written before DATA_FINGERPRINT existed (all those committed with the book: their final.json has
# no such key) was trained on: the published Fashion-MNIST, and Debian's `fortunes` package as it installs into
# /usr/share/games/fortunes (the test split of every committed language-model record is this corpus's: tests/test_lm).
RECORDED_DATA_SHA256 = {
    "fashion-mnist": "ece172613115fb18b120bec8f6c02271af90b8b8f0a5af5c51cbd5ceed68e619",
    "fortunes": "9918d7caa8c4a7fb90361cf929c33d7010c761c2f1325515143180125fbc7dea",
}


def data_mismatch(config, final: Mapping) -> str | None:
    """Why a finished run of `config`, whose final metrics (final.json) are `final`, was trained on other data than
    `config` reads here now, in words; None where it was not, or where nothing can be compared: no fingerprint
    recorded (`final[DATA_FINGERPRINT]`, else `RECORDED_DATA_SHA256` for the data of record) or no data here."""
    recorded = final.get(DATA_FINGERPRINT) or RECORDED_DATA_SHA256.get(config.data_name)
    found = None if recorded is None else data_fingerprint(config, missing_ok=True)
    if found is None or found == recorded:
        return None
    where = text.find_folder() if config.data_name in CORPORA else load_dataset(config.data_name).source
    return (f"it was trained on other {config.data_name} data than the one found now ({DATA_FINGERPRINT} {recorded}; "
            f"{where} has {found})")


def _present(name: str) -> bool:
    """Whether dataset `name` is on this machine (loading it downloads nothing)."""
    if name == "cifar10-jpeg":
        return find_archive() is not None
    if name == "fashion-mnist":
        return find_fashion_mnist() is not None
    return find_cifar(name) is not None or (download_root() / CIFAR_SPECS[name].archive_name).is_file()


@lru_cache(maxsize=4)
def load_dataset(name: str, root=None, download: bool = True) -> ImageArrays:
    """The whole dataset as uint8 tensors, read (or downloaded) once per process."""
    check_dataset(name)
    if name == "cifar10-jpeg":
        return load_cifar10_jpeg(root)  # a local archive only: there is nothing to download
    if name == "fashion-mnist":
        return load_fashion_mnist(root, download_if_missing=download)
    return load_cifar(name, root, download=download)


__all__ = ["CORPORA", "SUBSET_RULES", "DATA_FINGERPRINT", "DATASETS", "DATASET_NOTES", "DATASET_SHAPES", "DATASET_SIZES",
           "RECORDED_DATA_SHA256", "ImageArrays", "BanDataLoaders", "InMemoryLoader", "TextCorpus", "check_corpus",
           "check_dataset", "check_split_sizes", "data_fingerprint", "data_mismatch", "dataset_shape", "data_roots",
           "dataset_note", "load_corpus", "load_dataset", "make_dataloaders", "pad_crop_flip", "split_indices",
           "test_indices"]
