"""Fashion-MNIST (Xiao et al. 2017): 60k/10k 28×28 grey images of 10 kinds of clothing, in IDX files."""
from __future__ import annotations

import gzip
import shutil
import struct
import urllib.request
import zlib
from pathlib import Path

import numpy as np
import torch

from bannb.data.arrays import ImageArrays, data_roots, download_root
from bannb.errors import DataError

FOLDER = "fashion-mnist"
SYSTEM_FOLDER = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist
MIRROR = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
FILES = {  # split -> (images file, labels file, number of samples)
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", 60_000),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 10_000),
}
IMAGES_MAGIC, LABELS_MAGIC = 0x00000803, 0x00000801
FIX = ("delete it and run again to download a fresh copy, install Debian's package with "
       "`apt-get install dataset-fashion-mnist`, or point $BANNB_DATA at a folder holding "
       "a `fashion-mnist/` folder with the four original IDX files")


def _find_file(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def candidate_folders(root=None) -> list[Path]:
    """Where the IDX files are looked for, in order."""
    return [r / FOLDER for r in data_roots(root)] + [SYSTEM_FOLDER]


def find_folder(root=None) -> Path | None:
    """The first folder that holds all four files, or None. A folder holding some of them but not all is refused
    rather than passed over, or the dataset would silently come from the next candidate (the system's copy, say)."""
    stems = [stem for images, labels, _ in FILES.values() for stem in (images, labels)]
    for folder in candidate_folders(root):
        missing = [stem for stem in stems if _find_file(folder, stem) is None]
        if not missing:
            return folder
        if len(missing) < len(stems):
            later = candidate_folders(root)[candidate_folders(root).index(folder) + 1:]
            raise DataError(f"the Fashion-MNIST folder {folder} lacks {', '.join(missing)} (as it is, the data "
                            f"would come from elsewhere); put the missing files into it, or remove it to use "
                            f"{' or '.join(map(str, later)) or 'a download'}")
    return None


def _read_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(f"Fashion-MNIST file {path} is truncated or corrupt ({err}); {FIX}") from err


def read_idx(path: Path, magic: int, count: int, item_shape: tuple[int, ...]) -> np.ndarray:
    """Read one IDX file and check its magic number, its shape and its length against what the header says."""
    raw = _read_bytes(path)
    ndim = 1 + len(item_shape)
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise DataError(f"Fashion-MNIST file {path} is too short to hold an IDX header; {FIX}")
    found_magic = struct.unpack(">I", raw[:4])[0]
    if found_magic != magic:
        raise DataError(f"Fashion-MNIST file {path} has magic number {found_magic:#010x}, expected {magic:#010x} "
                        f"(not an IDX {'image' if magic == IMAGES_MAGIC else 'label'} file); {FIX}")
    shape = struct.unpack(f">{ndim}I", raw[4:header_size])
    expected_shape = (count, *item_shape)
    if shape != expected_shape:
        raise DataError(f"Fashion-MNIST file {path} holds an array of shape {shape}, expected {expected_shape}; {FIX}")
    body = raw[header_size:]
    if len(body) != int(np.prod(shape)):
        raise DataError(f"Fashion-MNIST file {path} has {len(body)} data bytes, its header promises "
                        f"{int(np.prod(shape))}: the file is truncated; {FIX}")
    return np.frombuffer(body, dtype=np.uint8).reshape(shape)


def download(root=None) -> Path:
    """Fetch the four gzipped IDX files from the dataset's official mirror."""
    folder = download_root(root) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    for images, labels, _ in FILES.values():
        for stem in (images, labels):
            target = folder / (stem + ".gz")
            if target.exists():
                continue
            partial = target.with_suffix(".gz.part")
            with urllib.request.urlopen(MIRROR + stem + ".gz", timeout=30) as response, open(partial, "wb") as f:
                shutil.copyfileobj(response, f)
            partial.replace(target)  # a cut-off download never looks like a finished file
    return folder


def load_fashion_mnist(root=None, download_if_missing: bool = True) -> ImageArrays:
    folder = find_folder(root)
    if folder is None:
        searched = ", ".join(str(f) for f in candidate_folders(root))
        if not download_if_missing:
            raise DataError(f"Fashion-MNIST not found (searched {searched}); {FIX}")
        try:
            folder = download(root)
        except OSError as err:
            raise DataError(f"Fashion-MNIST not found (searched {searched}) and the download from {MIRROR} "
                            f"failed ({err}); {FIX}") from err
    arrays = {}
    for split, (images, labels, count) in FILES.items():
        image_array = read_idx(_find_file(folder, images), IMAGES_MAGIC, count, (28, 28))
        label_array = read_idx(_find_file(folder, labels), LABELS_MAGIC, count, ())
        if label_array.max() >= len(CLASSES):
            raise DataError(f"Fashion-MNIST file {_find_file(folder, labels)} has label {label_array.max()}, "
                            f"but there are only {len(CLASSES)} classes; {FIX}")
        arrays[split] = (torch.from_numpy(image_array.copy()).unsqueeze(1),
                         torch.from_numpy(label_array.astype(np.int64)))
    return ImageArrays("fashion-mnist", *arrays["train"], *arrays["test"], classes=list(CLASSES), source=str(folder))
