"""CIFAR-10 and CIFAR-100 (Krizhevsky 2009): 50k/10k 32×32 colour images in 10 or 100 classes.

Two on-disk layouts are read, looked for in each folder of `data_roots(root)` in this order:

1. The official python-pickle folders, as extracted from the official tarballs:

   - ``cifar-10-batches-py/``: ``data_batch_1`` … ``data_batch_5``, ``test_batch``, ``batches.meta``.
     Each batch is a pickled dict with ``b'data'`` (N×3072 uint8: the R, G and B planes, each a
     row-major 32×32 image) and ``b'labels'`` (N ints); the meta dict has ``b'label_names'``.
   - ``cifar-100-python/``: ``train``, ``test``, ``meta``; the data dicts have ``b'data'``,
     ``b'fine_labels'`` and ``b'coarse_labels'`` (the fine labels are used), the meta dict has
     ``b'fine_label_names'``.

2. The folders of PNGs that fastai's ``untar_data`` extracts (``URLs.CIFAR`` =
   ``fast-ai-sample/cifar10.tgz`` → ``cifar10/``, ``URLs.CIFAR_100`` = ``fast-ai-imageclas/cifar100.tgz``
   → ``cifar100/``; the folder name is the archive's stem, see ``fastai/data/external.py``):

   - ``cifar10/{train,test}/<class>/*.png`` plus ``cifar10/labels.txt`` (one class name a line).
   - ``cifar100/{train,test}/<superclass>/<class>/*.png``: the 100 fine classes sit inside their
     20 superclass folders (``aquatic_mammals/beaver/…``). Public descriptions of this archive
     disagree: one script that downloads and counts it documents the superclass nesting, another
     describes ``cifar100/{train,test}/<class>/*.png`` with no superclass level. Both are read: a
     class folder is a folder holding PNG files, found one level below ``train``/``test`` (flat) or
     two levels below (nested under superclasses); the layout must be the same throughout.

   Class indices follow the sorted class-folder names, which for the official names is the
   canonical CIFAR order (the official ``label_names``/``fine_label_names`` are alphabetical).
   Images must be 32×32 PNGs: RGB, or grey or palette ones (converted to RGB exactly).
   Within a split, images are ordered by class index, then by file name. Decoding 60k PNGs takes
   a while, so the arrays are cached next to the folder (``cifar10-png-cache.npz``,
   ``cifar100-png-cache.npz``; uncompressed, written atomically) and reused while the cache is
   newer than every file and folder in the tree and
   was built from the same files; a cache that cannot be read or fails its checks is rebuilt.

3. Otherwise the official python tarball is downloaded into `download_root(root)`, its md5 is
   checked, and it is extracted (regular files and folders only, no path leaving the folder)
   before being read as in 1.
"""
from __future__ import annotations

import codecs
import gzip
import hashlib
import http.client
import os
import pickle
import shutil
import tarfile
import tempfile
import urllib.request
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import torch
from PIL import Image

from bannb.data.arrays import ImageArrays, data_roots, download_root
from bannb.errors import DataError, unknown_choice

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR100_CLASSES = (
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle",
    "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle",
    "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur",
    "dolphin", "elephant", "flatfish", "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard",
    "lamp", "lawn_mower", "leopard", "lion", "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain",
    "mouse", "mushroom", "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree",
    "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road", "rocket",
    "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake", "spider",
    "squirrel", "streetcar", "sunflower", "sweet_pepper", "table",
    "tank", "telephone", "television", "tiger", "tractor",
    "train", "trout", "tulip", "turtle", "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm",
)

# The official tarballs (https://www.cs.toronto.edu/~kriz/cifar.html) and their md5 sums.
URLS = {
    "cifar10": "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
    "cifar100": "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
}
MD5S = {
    "cifar10": "c58f30108f718f92721af3b95e74349a",
    "cifar100": "eb9058c3a382ffc7106e4002c42a8d85",
}

IMAGE_SHAPE = (3, 32, 32)
ROW_SIZE = 3 * 32 * 32


@dataclass(frozen=True)
class _Spec:
    name: str                     # "cifar10"
    title: str                    # "CIFAR-10", for messages
    pickle_folder: str            # folder the official tarball extracts to
    train_files: tuple[str, ...]
    test_file: str
    meta_file: str
    names_key: str                # key of the class names in the meta dict
    labels_key: str               # key of the labels in the data dicts
    png_folder: str               # folder fastai's untar_data extracts to
    classes: tuple[str, ...]      # the official class names, in the official order

    @property
    def archive_name(self) -> str:
        return URLS[self.name].rsplit("/", 1)[-1]

    @property
    def cache_name(self) -> str:
        return f"{self.png_folder}-png-cache.npz"


SPECS = {
    "cifar10": _Spec("cifar10", "CIFAR-10", "cifar-10-batches-py",
                     tuple(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta",
                     "label_names", "labels", "cifar10", CIFAR10_CLASSES),
    "cifar100": _Spec("cifar100", "CIFAR-100", "cifar-100-python", ("train",), "test", "meta",
                      "fine_label_names", "fine_labels", "cifar100", CIFAR100_CLASSES),
}


def _fix(spec: _Spec, path: Path) -> str:
    return (f"delete the folder {path.parent} and run again to download a fresh copy, or download {URLS[spec.name]}, "
            f"extract it and put the `{spec.pickle_folder}` folder it holds in its place "
            f"(or point $BANNB_DATA at a folder holding it)")


# ---------------------------------------------------------------------------------------------
# The official pickles
# ---------------------------------------------------------------------------------------------

def _numpy_globals() -> dict[tuple[str, str], object]:
    """The only globals a CIFAR pickle needs: how numpy rebuilds an array and its dtype, whatever version wrote it."""
    reconstruct = np.empty(0).__reduce__()[0]
    frombuffer = np.empty(0).__reduce_ex__(5)[0]
    scalar = np.float64(0).__reduce__()[0]
    allowed = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype, ("_codecs", "encode"): codecs.encode}
    for package in ("numpy.core", "numpy._core"):  # numpy < 2 wrote numpy.core, numpy >= 2 writes numpy._core
        allowed[(f"{package}.multiarray", "_reconstruct")] = reconstruct
        allowed[(f"{package}.multiarray", "scalar")] = scalar
        allowed[(f"{package}.numeric", "_frombuffer")] = frombuffer
    return allowed


_SAFE_GLOBALS = _numpy_globals()


class _SafeUnpickler(pickle.Unpickler):
    """Unpickles plain data and numpy arrays, and refuses anything else: a pickle can run code when loaded."""

    def find_class(self, module, name):
        try:
            return _SAFE_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"it asks for {module}.{name}, which a CIFAR file never holds") from None


def _read_pickle(path: Path, spec: _Spec) -> dict:
    if not path.is_file():
        raise DataError(f"{spec.title} file {path} is missing; {_fix(spec, path)}")
    try:
        with open(path, "rb") as f:
            obj = _SafeUnpickler(f, encoding="bytes").load()
            trailing = f.read(1)
    except OSError as err:
        raise DataError(f"{spec.title} file {path} could not be read ({err}); {_fix(spec, path)}") from err
    except Exception as err:  # a damaged pickle can fail in many ways (EOFError, UnpicklingError, ValueError, ...)
        raise DataError(f"{spec.title} file {path} is truncated or corrupt: it could not be unpickled "
                        f"({type(err).__name__}: {err}); {_fix(spec, path)}") from err
    if trailing:
        raise DataError(f"{spec.title} file {path} is corrupt: it has bytes after the end of the pickle; "
                        f"{_fix(spec, path)}")
    if not isinstance(obj, dict):
        raise DataError(f"{spec.title} file {path} holds a {type(obj).__name__}, expected a dict; {_fix(spec, path)}")
    return obj


def _get(d: dict, key: str, path: Path, spec: _Spec):
    """d[b'key']: the official files are Python 2 pickles, read with encoding='bytes'; a str key is accepted too."""
    for k in (key.encode(), key):
        if k in d:
            return d[k]
    found = ", ".join(sorted(repr(k) for k in d)) or "none"
    raise DataError(f"{spec.title} file {path} has no {key!r} entry (its keys: {found}); {_fix(spec, path)}")


def _class_names(path: Path, spec: _Spec) -> list[str]:
    names = _get(_read_pickle(path, spec), spec.names_key, path, spec)
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, (bytes, str)) for n in names):
        raise DataError(f"{spec.title} file {path}: {spec.names_key!r} is not a list of names; {_fix(spec, path)}")
    names = [n.decode("utf-8", "replace") if isinstance(n, bytes) else n for n in names]
    if len(names) != len(spec.classes):
        raise DataError(f"{spec.title} file {path} lists {len(names)} class names, {spec.title} has "
                        f"{len(spec.classes)}; {_fix(spec, path)}")
    return names


def _read_batch(path: Path, spec: _Spec, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """One data file as (N×3×32×32 uint8 images, N int64 labels), with its shape, dtype and labels checked."""
    d = _read_pickle(path, spec)
    data, labels = _get(d, "data", path, spec), _get(d, spec.labels_key, path, spec)
    data = np.asarray(data) if isinstance(data, np.ndarray) else None
    if data is None or data.ndim != 2 or data.shape[1] != ROW_SIZE:
        found = "is not an array" if data is None else f"has shape {data.shape}"
        raise DataError(f"{spec.title} file {path}: 'data' {found}, expected N×{ROW_SIZE} "
                        f"(N images of 3×32×32 bytes); {_fix(spec, path)}")
    if len(data) == 0:
        raise DataError(f"{spec.title} file {path} holds no images; {_fix(spec, path)}")
    if data.dtype != np.uint8:
        if data.dtype.kind not in "iu" or data.min() < 0 or data.max() > 255:
            raise DataError(f"{spec.title} file {path}: 'data' has dtype {data.dtype}"
                            f"{'' if data.dtype.kind not in 'iu' else ' with values outside 0..255'}, "
                            f"expected bytes (uint8); {_fix(spec, path)}")
        data = data.astype(np.uint8)
    try:
        labels = np.asarray(labels)
    except (ValueError, TypeError) as err:
        labels, cause = None, err
    else:
        cause = None
    if labels is None or labels.ndim != 1 or (labels.size and labels.dtype.kind not in "iu"):
        raise DataError(f"{spec.title} file {path}: {spec.labels_key!r} is not a list of integers; "
                        f"{_fix(spec, path)}") from cause
    if len(labels) != len(data):
        raise DataError(f"{spec.title} file {path} has {len(labels)} labels for {len(data)} images; {_fix(spec, path)}")
    if labels.min() < 0 or labels.max() >= num_classes:
        bad = labels.min() if labels.min() < 0 else labels.max()
        raise DataError(f"{spec.title} file {path} has label {bad}, outside 0..{num_classes - 1} "
                        f"for its {num_classes} classes; {_fix(spec, path)}")
    # Each row is the R plane, then G, then B, each a row-major 32×32 image: exactly C×H×W order.
    return data.reshape(-1, *IMAGE_SHAPE), labels.astype(np.int64)


def _load_pickle_folder(spec: _Spec, folder: Path) -> ImageArrays:
    classes = _class_names(folder / spec.meta_file, spec)
    for name in (*spec.train_files, spec.test_file):  # name every missing file before reading any big one
        if not (folder / name).is_file():
            raise DataError(f"{spec.title} file {folder / name} is missing; {_fix(spec, folder / name)}")
    train = [_read_batch(folder / name, spec, len(classes)) for name in spec.train_files]
    test_images, test_labels = _read_batch(folder / spec.test_file, spec, len(classes))
    train_images = np.concatenate([images for images, _ in train])
    train_labels = np.concatenate([labels for _, labels in train])
    return _to_arrays(spec, train_images, train_labels, test_images, test_labels, classes, folder)


def _to_arrays(spec, train_images, train_labels, test_images, test_labels, classes, folder) -> ImageArrays:
    as_tensor = lambda a: torch.from_numpy(np.ascontiguousarray(a))  # noqa: E731
    return ImageArrays(spec.name, as_tensor(train_images), as_tensor(train_labels.astype(np.int64)),
                       as_tensor(test_images), as_tensor(test_labels.astype(np.int64)),
                       classes=list(classes), source=str(folder))


# ---------------------------------------------------------------------------------------------
# fastai's folders of PNGs
# ---------------------------------------------------------------------------------------------

def _png_fix(spec: _Spec, folder: Path) -> str:
    return (f"re-extract fastai's {spec.png_folder}.tgz there, or delete the folder {folder} to use the "
            f"official files (`{spec.pickle_folder}`), which are downloaded when missing")


def _is_png_folder(folder: Path) -> bool:
    """A folder named like fastai's counts as one only if it has a train or test folder: `cifar10/` is a common name."""
    return (folder / "train").is_dir() or (folder / "test").is_dir()


def _listing(folder: Path) -> tuple[list[os.DirEntry], list[os.DirEntry]]:
    """(sub-folders, PNG files) of a folder, hidden entries left out, each sorted by name."""
    with os.scandir(folder) as it:
        entries = sorted((e for e in it if not e.name.startswith(".")), key=lambda e: e.name)
    folders = [e for e in entries if e.is_dir()]
    pngs = [e for e in entries if e.is_file() and e.name.lower().endswith(".png")]
    return folders, pngs


class _Scan:
    """What is in a PNG folder: the files of each class of each split, and a fingerprint of the tree."""

    def __init__(self, spec: _Spec, folder: Path):
        self.spec, self.folder = spec, folder
        self.splits: dict[str, dict[str, list[Path]]] = {}
        self.newest_ns = folder.stat().st_mtime_ns
        self.count = 0
        layouts = set()
        labels_txt = folder / "labels.txt"
        if labels_txt.is_file():
            self.newest_ns = max(self.newest_ns, labels_txt.stat().st_mtime_ns)
        for split in ("train", "test"):
            split_dir = folder / split
            if not split_dir.is_dir():
                raise DataError(f"{spec.title} PNG folder {folder} has no `{split}` folder "
                                f"(expected {folder}/{split}/<class>/*.png); {_png_fix(spec, folder)}")
            self.splits[split] = self._scan_split(split_dir, layouts)
        if len(layouts) > 1:
            raise DataError(f"{spec.title} PNG folder {folder} mixes class folders directly under train/test "
                            f"with class folders inside superclass folders; {_png_fix(spec, folder)}")
        train, test = (set(self.splits[s]) for s in ("train", "test"))
        if train != test:
            only = "; ".join(f"only in {s}: {', '.join(sorted(names))}"
                             for s, names in (("train", train - test), ("test", test - train)) if names)
            raise DataError(f"{spec.title} PNG folder {folder} has different classes in train and test ({only}); "
                            f"{_png_fix(spec, folder)}")
        self.classes = sorted(train)
        if len(self.classes) != len(spec.classes):
            missing = sorted(set(spec.classes) - train)
            hint = f" (missing: {', '.join(missing)})" if missing else ""
            raise DataError(f"{spec.title} PNG folder {folder} has {len(self.classes)} class folders, "
                            f"{spec.title} has {len(spec.classes)}{hint}; {_png_fix(spec, folder)}")
        if labels_txt.is_file():
            listed = [line.strip() for line in labels_txt.read_text(errors="replace").splitlines() if line.strip()]
            if sorted(listed) != self.classes:
                raise DataError(f"{spec.title} file {labels_txt} lists classes {listed}, but the class folders are "
                                f"{self.classes}; {_png_fix(spec, folder)}")
        if self.classes != sorted(spec.classes):
            warnings.warn(f"{spec.title} PNG folder {folder}: the class folder names differ from the official "
                          f"{spec.title} names; class indices follow the sorted folder names", stacklevel=3)

    def _scan_split(self, split_dir: Path, layouts: set) -> dict[str, list[Path]]:
        spec, folder = self.spec, self.folder
        self._stamp(split_dir)
        classes: dict[str, list[Path]] = {}
        children, _ = _listing(split_dir)  # loose files here are not images of a class
        for child in children:
            subfolders, pngs = _listing(child.path)
            self._stamp(child)
            if pngs and subfolders:
                raise DataError(f"{spec.title} folder {child.path} holds both PNG files and sub-folders; "
                                f"{_png_fix(spec, folder)}")
            if pngs or not subfolders:  # a class folder right under train/test (an empty one is reported below)
                layouts.add("flat")
                self._add(classes, child, pngs)
                continue
            layouts.add("nested")  # a superclass folder: its sub-folders are the classes
            for sub in subfolders:
                deeper, sub_pngs = _listing(sub.path)
                self._stamp(sub)
                if deeper:
                    raise DataError(f"{spec.title} folder {sub.path} holds sub-folders; expected the PNG images "
                                    f"of class {sub.name!r}; {_png_fix(spec, folder)}")
                self._add(classes, sub, sub_pngs)
        if not classes:
            raise DataError(f"{spec.title} folder {split_dir} holds no class folders "
                            f"(expected {split_dir}/<class>/*.png); {_png_fix(spec, folder)}")
        return classes

    def _add(self, classes: dict, class_dir: os.DirEntry, pngs: list[os.DirEntry]):
        spec, folder = self.spec, self.folder
        if not pngs:
            raise DataError(f"{spec.title} class folder {class_dir.path} holds no PNG images; {_png_fix(spec, folder)}")
        if class_dir.name in classes:
            raise DataError(f"{spec.title} class {class_dir.name!r} appears twice: {class_dir.path} and "
                            f"{classes[class_dir.name][0].parent}; {_png_fix(spec, folder)}")
        for png in pngs:
            self._stamp(png)
        self.count += len(pngs)
        classes[class_dir.name] = [Path(png.path) for png in pngs]

    def _stamp(self, entry):
        stat = entry.stat() if isinstance(entry, os.DirEntry) else os.stat(entry)
        self.newest_ns = max(self.newest_ns, stat.st_mtime_ns)

    @property
    def fingerprint(self) -> np.ndarray:
        return np.array([self.count, self.newest_ns], dtype=np.int64)


def _read_png(path: Path, spec: _Spec, folder: Path) -> np.ndarray:
    """One image as a 3×32×32 uint8 array (channel, row, column)."""

    try:
        with Image.open(path) as im:
            im.load()
            if im.format != "PNG":
                raise DataError(f"{spec.title} image {path} is a {im.format} file, not a PNG; {_png_fix(spec, folder)}")
            if im.size != (32, 32) or im.mode not in ("RGB", "L", "P"):
                raise DataError(f"{spec.title} image {path} is a {im.size[0]}×{im.size[1]} {im.mode} image, "
                                f"expected a 32×32 RGB one; {_png_fix(spec, folder)}")
            # grey and palette PNGs convert to RGB without loss; RGB ones are read as they are
            pixels = np.asarray(im if im.mode == "RGB" else im.convert("RGB"), dtype=np.uint8)
    except DataError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise DataError(f"{spec.title} image {path} is truncated or corrupt ({err}); "
                        f"{_png_fix(spec, folder)}") from err
    return pixels.transpose(2, 0, 1)  # H×W×C -> C×H×W


def _read_pngs(scan: _Scan) -> dict[str, np.ndarray]:
    arrays = {}
    for split, classes in scan.splits.items():
        n = sum(len(files) for files in classes.values())
        images = np.empty((n, *IMAGE_SHAPE), dtype=np.uint8)
        labels = np.empty(n, dtype=np.int64)
        i = 0
        for index, name in enumerate(scan.classes):
            for path in classes[name]:
                images[i] = _read_png(path, scan.spec, scan.folder)
                labels[i] = index
                i += 1
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = images, labels
    return arrays


_ARRAY_KEYS = ("train_images", "train_labels", "test_images", "test_labels")


def _load_cache(path: Path, scan: _Scan) -> dict[str, np.ndarray] | None:
    """The cached arrays if the cache is newer than the folder, built from the same files, and sound; else None."""
    if not path.is_file():
        return None
    try:
        if path.stat().st_mtime_ns < scan.newest_ns:
            return None  # something in the folder changed after the cache was written
        with np.load(path, allow_pickle=False) as z:
            if not np.array_equal(z["fingerprint"], scan.fingerprint):
                return None
            if [str(c) for c in z["classes"]] != scan.classes:
                return None
            arrays = {key: z[key] for key in _ARRAY_KEYS}
        for split in ("train", "test"):
            images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
            expected = sum(len(files) for files in scan.splits[split].values())
            if (images.dtype != np.uint8 or images.shape != (expected, *IMAGE_SHAPE) or labels.dtype != np.int64
                    or labels.shape != (expected,) or labels.min() < 0 or labels.max() >= len(scan.classes)):
                raise ValueError(f"its {split} arrays have the wrong shape, dtype or labels")
        return arrays
    except Exception as err:  # noqa: BLE001 - whatever is wrong with a cache, it is rebuilt, never trusted
        warnings.warn(f"ignoring the unreadable cache {path} ({type(err).__name__}: {err}); rebuilding it",
                      stacklevel=3)
        return None


def _write_cache(path: Path, arrays: dict[str, np.ndarray], scan: _Scan):
    """Write the cache atomically: a temporary file in the same folder, then os.replace."""
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, fingerprint=scan.fingerprint, classes=np.array(scan.classes), **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as err:  # a read-only data folder only costs speed
        warnings.warn(f"could not write the cache {path} ({err}); the PNGs will be decoded again next time",
                      stacklevel=3)
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def _load_png_folder(spec: _Spec, folder: Path) -> ImageArrays:
    scan = _Scan(spec, folder)
    cache = folder.parent / spec.cache_name
    arrays = _load_cache(cache, scan)
    if arrays is None:
        arrays = _read_pngs(scan)
        _write_cache(cache, arrays, scan)
    return _to_arrays(spec, *(arrays[key] for key in _ARRAY_KEYS), scan.classes, folder)


# ---------------------------------------------------------------------------------------------
# Finding and downloading
# ---------------------------------------------------------------------------------------------

def candidate_folders(name: str, root=None) -> list[tuple[str, Path]]:
    """Where the dataset is looked for, in order, as ("pickle" or "png", folder)."""
    spec = SPECS[name]
    return [(kind, r / folder) for r in data_roots(root)
            for kind, folder in (("pickle", spec.pickle_folder), ("png", spec.png_folder))]


def find_folder(name: str, root=None) -> tuple[str, Path] | None:
    """The first folder that holds the dataset in a known layout, or None."""
    for kind, folder in candidate_folders(name, root):
        if kind == "pickle" and folder.is_dir():
            return kind, folder
        if kind == "png" and folder.is_dir() and _is_png_folder(folder):
            return kind, folder
    return None


def _fetch(url: str, target: Path):
    """Download url to target (the function tests replace)."""
    with urllib.request.urlopen(url, timeout=60) as response, open(target, "wb") as f:
        shutil.copyfileobj(response, f, length=1 << 20)


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _safe_member_path(member: tarfile.TarInfo, archive: Path) -> PurePosixPath:
    """The member's relative path, if it is a plain file or folder that stays inside the extraction folder."""
    path = PurePosixPath(member.name)
    if (path.is_absolute() or ".." in path.parts or not path.parts or "\\" in member.name
            or ":" in path.parts[0] or not (member.isfile() or member.isdir())):
        kind = "link" if (member.issym() or member.islnk()) else "entry"
        raise DataError(f"archive {archive} holds an unsafe {kind} {member.name!r} (absolute, leaving the folder, "
                        f"or not a plain file); nothing was extracted from it; delete it and run again")
    return path


def _extract(archive: Path, dest: Path, spec: _Spec) -> Path:
    """Extract the official tarball into dest/<pickle folder>, via a temporary folder so a failure leaves nothing."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{spec.pickle_folder}-extract-", dir=dest))
    try:
        try:
            with tarfile.open(archive, "r:*") as tar:
                members = tar.getmembers()
                paths = [_safe_member_path(m, archive) for m in members]  # check every member before writing any
                for member, path in zip(members, paths):
                    target = tmp.joinpath(*path.parts)
                    if member.isdir():
                        target.mkdir(parents=True, exist_ok=True)
                        continue
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with tar.extractfile(member) as src, open(target, "wb") as out:
                        shutil.copyfileobj(src, out, length=1 << 20)
        except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as err:
            raise DataError(f"{spec.title} archive {archive} is truncated or corrupt ({err}); delete it and run again "
                            f"to download a fresh copy") from err
        extracted = tmp / spec.pickle_folder
        if not extracted.is_dir():
            raise DataError(f"{spec.title} archive {archive} does not hold a `{spec.pickle_folder}` folder; "
                            f"delete it and run again to download a fresh copy of {URLS[spec.name]}")
        final = dest / spec.pickle_folder
        os.replace(extracted, final)
        return final
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def download_cifar(name: str, root=None) -> Path:
    """Fetch the official tarball into download_root(root), check its md5, extract it; return the extracted folder."""
    spec = SPECS[name]
    dest = download_root(root)
    dest.mkdir(parents=True, exist_ok=True)
    archive = dest / spec.archive_name
    if not (archive.is_file() and _md5(archive) == MD5S[name]):  # reuse an earlier complete download
        partial = archive.with_name(archive.name + ".part")
        try:
            _fetch(URLS[name], partial)
            found = _md5(partial)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        if found != MD5S[name]:
            partial.unlink(missing_ok=True)
            raise DataError(f"the {spec.title} download from {URLS[name]} has md5 {found}, expected {MD5S[name]}: "
                            f"it is incomplete or not the official file; run again, or download it yourself and put "
                            f"the extracted `{spec.pickle_folder}` folder into {dest}")
        os.replace(partial, archive)  # a cut-off download never looks like a finished file
    return _extract(archive, dest, spec)


def load_cifar(name: str, root=None, download: bool = True) -> ImageArrays:
    """CIFAR-10 or CIFAR-100 as uint8 N×3×32×32 images and int64 labels (the fine labels for CIFAR-100)."""
    if name not in SPECS:
        raise unknown_choice("dataset", name, SPECS)
    spec = SPECS[name]
    found = find_folder(name, root)
    if found is not None:
        kind, folder = found
        return _load_pickle_folder(spec, folder) if kind == "pickle" else _load_png_folder(spec, folder)
    searched = ", ".join(str(folder) for _, folder in candidate_folders(name, root))
    fix = (f"to fix it, download {URLS[name]}, extract it and put the `{spec.pickle_folder}` folder it holds into "
           f"{download_root(root)} (or fastai's `{spec.png_folder}` folder of PNGs), or set $BANNB_DATA to a folder "
           f"that holds the extracted `{spec.pickle_folder}`")
    if not download:
        raise DataError(f"{spec.title} not found (searched {searched}) and download=False; {fix}")
    try:
        folder = download_cifar(name, root)
    except (OSError, http.client.HTTPException, ValueError) as err:
        raise DataError(f"{spec.title} not found (searched {searched}) and the download from {URLS[name]} "
                        f"failed ({type(err).__name__}: {err}); {fix}") from err
    return _load_pickle_folder(spec, folder)
