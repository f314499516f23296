"""Datasets (Fashion-MNIST, CIFAR-10/100) and the in-memory data path that feeds a fastai `Learner`; the text
corpus of the language-model experiment (`fortunes`, see `bannb.data.text`)."""
from __future__ import annotations

from functools import lru_cache

from ..errors import unknown_choice
from .arrays import ImageArrays, data_roots
from .loaders import BanDataLoaders, InMemoryLoader, make_dataloaders, pad_crop_flip, split_indices
from .text import CORPORA, TextCorpus, check_corpus, load_corpus

DATASETS = ("fashion-mnist", "cifar10", "cifar100")


def check_dataset(name: str) -> str:
    if name not in DATASETS:
        raise unknown_choice("dataset", name, DATASETS)
    return name


@lru_cache(maxsize=4)
def load_dataset(name: str, root=None, download: bool = True) -> ImageArrays:
    """The whole dataset as uint8 tensors, read (or downloaded) once per process."""
    check_dataset(name)
    if name == "fashion-mnist":
        from .fashion_mnist import load_fashion_mnist
        return load_fashion_mnist(root, download_if_missing=download)
    from .cifar import load_cifar
    return load_cifar(name, root, download=download)


__all__ = ["CORPORA", "DATASETS", "TextCorpus", "check_corpus", "load_corpus", "ImageArrays", "BanDataLoaders", "InMemoryLoader", "check_dataset", "data_roots",
           "load_dataset", "make_dataloaders", "pad_crop_flip", "split_indices"]
