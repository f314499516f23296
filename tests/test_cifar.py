"""CIFAR-10/100 loaders, on tiny files written in each exact on-disk layout (no network)."""
from __future__ import annotations

import hashlib
import io
import os
import pickle
import shutil
import struct
import tarfile
import urllib.error
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import bannb.data.arrays as arrays_module
from bannb.data import cifar
from bannb.data.cifar import CIFAR10_CLASSES, CIFAR100_CLASSES, load_cifar
from bannb.errors import ConfigError, DataError

# CIFAR-100's 20 superclasses (the official `coarse_label_names`) and their fine classes, as the
# superclass-nested PNG layout of fastai's cifar100.tgz groups them.
SUPERCLASSES = {
    "aquatic_mammals": ["beaver", "dolphin", "otter", "seal", "whale"],
    "fish": ["aquarium_fish", "flatfish", "ray", "shark", "trout"],
    "flowers": ["orchid", "poppy", "rose", "sunflower", "tulip"],
    "food_containers": ["bottle", "bowl", "can", "cup", "plate"],
    "fruit_and_vegetables": ["apple", "mushroom", "orange", "pear", "sweet_pepper"],
    "household_electrical_devices": ["clock", "keyboard", "lamp", "telephone", "television"],
    "household_furniture": ["bed", "chair", "couch", "table", "wardrobe"],
    "insects": ["bee", "beetle", "butterfly", "caterpillar", "cockroach"],
    "large_carnivores": ["bear", "leopard", "lion", "tiger", "wolf"],
    "large_man-made_outdoor_things": ["bridge", "castle", "house", "road", "skyscraper"],
    "large_natural_outdoor_scenes": ["cloud", "forest", "mountain", "plain", "sea"],
    "large_omnivores_and_herbivores": ["camel", "cattle", "chimpanzee", "elephant", "kangaroo"],
    "medium_mammals": ["fox", "porcupine", "possum", "raccoon", "skunk"],
    "non-insect_invertebrates": ["crab", "lobster", "snail", "spider", "worm"],
    "people": ["baby", "boy", "girl", "man", "woman"],
    "reptiles": ["crocodile", "dinosaur", "lizard", "snake", "turtle"],
    "small_mammals": ["hamster", "mouse", "rabbit", "shrew", "squirrel"],
    "trees": ["maple_tree", "oak_tree", "palm_tree", "pine_tree", "willow_tree"],
    "vehicles_1": ["bicycle", "bus", "motorcycle", "pickup_truck", "train"],
    "vehicles_2": ["lawn_mower", "rocket", "streetcar", "tank", "tractor"],
}
SUPERCLASS_OF = {fine: coarse for coarse, fines in SUPERCLASSES.items() for fine in fines}


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No real data folder can interfere: $BANNB_DATA and the project's data/ both point into tmp_path."""
    monkeypatch.setenv("BANNB_DATA", str(tmp_path / "env-data"))
    monkeypatch.setattr(arrays_module, "DATA_DIR", tmp_path / "project" / "data")

    def no_network(url, target):
        raise AssertionError(f"a test tried to download {url}")

    monkeypatch.setattr(cifar, "_fetch", no_network)


@pytest.fixture
def root(tmp_path):
    path = tmp_path / "root"
    path.mkdir()
    return path


# ---------------------------------------------------------------------------------------------
# Writers for each layout
# ---------------------------------------------------------------------------------------------

class Py2Pickler(pickle._Pickler):
    """Writes what Python 2's cPickle wrote for the official files: str as BINSTRING, numpy.core globals."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_str(self, obj):
        data = obj.encode("latin1") if isinstance(obj, str) else bytes(obj)
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    dispatch[str] = save_py2_str
    dispatch[bytes] = save_py2_str


def py2_dumps(obj) -> bytes:
    f = io.BytesIO()
    Py2Pickler(f, protocol=2).dump(obj)
    return f.getvalue().replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")


def py3_dumps(obj) -> bytes:
    """A copy re-saved from Python 3: bytes keys, the newest protocol."""
    def keys_to_bytes(d):
        return {k.encode(): v for k, v in d.items()}
    return pickle.dumps(keys_to_bytes(obj), protocol=pickle.HIGHEST_PROTOCOL)


@dataclass
class Expected:
    train_data: np.ndarray    # N×3072 rows as written
    train_labels: list
    test_data: np.ndarray
    test_labels: list
    classes: list


def random_batch(rng, n, num_classes):
    return rng.integers(0, 256, (n, 3072), dtype=np.uint8), [int(x) for x in rng.integers(0, num_classes, n)]


def write_cifar10_pickles(root: Path, rng, dumps=py2_dumps, sizes=(3, 2, 4, 1, 2), test_size=3) -> Expected:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    datas, labels = [], []
    for i, n in enumerate(sizes, start=1):
        data, batch_labels = random_batch(rng, n, 10)
        (folder / f"data_batch_{i}").write_bytes(dumps({
            "batch_label": f"training batch {i} of 5", "labels": batch_labels, "data": data,
            "filenames": [f"img_{i}_{j}.png" for j in range(n)]}))
        datas.append(data)
        labels += batch_labels
    test_data, test_labels = random_batch(rng, test_size, 10)
    (folder / "test_batch").write_bytes(dumps({
        "batch_label": "testing batch 1 of 1", "labels": test_labels, "data": test_data,
        "filenames": [f"test_{j}.png" for j in range(test_size)]}))
    (folder / "batches.meta").write_bytes(dumps({
        "num_cases_per_batch": 10000, "label_names": list(CIFAR10_CLASSES), "num_vis": 3072}))
    return Expected(np.concatenate(datas), labels, test_data, test_labels, list(CIFAR10_CLASSES))


def write_cifar100_pickles(root: Path, rng, dumps=py2_dumps, train_size=7, test_size=4) -> Expected:
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    coarse_names = sorted(SUPERCLASSES)
    written = {}
    for split, n in (("train", train_size), ("test", test_size)):
        data, fine = random_batch(rng, n, 100)
        coarse = [coarse_names.index(SUPERCLASS_OF[CIFAR100_CLASSES[f]]) for f in fine]
        (folder / split).write_bytes(dumps({
            "filenames": [f"{split}_{j}.png" for j in range(n)], "batch_label": f"{split} batch",
            "fine_labels": fine, "coarse_labels": coarse, "data": data}))
        written[split] = (data, fine)
    (folder / "meta").write_bytes(dumps({"fine_label_names": list(CIFAR100_CLASSES),
                                         "coarse_label_names": coarse_names}))
    return Expected(*written["train"], *written["test"], list(CIFAR100_CLASSES))


@dataclass
class ExpectedPngs:
    train_pixels: np.ndarray  # N×32×32×3, as handed to PIL, in the loader's promised order
    train_labels: list
    test_pixels: np.ndarray
    test_labels: list
    classes: list


def write_png(path: Path, pixels: np.ndarray):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels, mode="RGB").save(path)


def write_fastai_pngs(root: Path, rng, name: str, nested: bool, per_class=(2, 1)) -> ExpectedPngs:
    """fastai's untar_data folders: cifar10/{train,test}/<class>/*.png + labels.txt, and
    cifar100/{train,test}/<superclass>/<class>/*.png (nested=True) or .../<class>/*.png (nested=False)."""
    classes = CIFAR10_CLASSES if name == "cifar10" else CIFAR100_CLASSES
    folder = root / name
    out = {}
    for split, n in zip(("train", "test"), per_class):
        pixels, labels = [], []
        for index, cls in enumerate(sorted(classes)):  # the loader orders by class, then by file name
            class_dir = folder / split / (SUPERCLASS_OF[cls] if nested else "") / cls
            for j in range(n):
                image = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                write_png(class_dir / f"{index * 10 + j:05d}_{cls}.png", image)
                pixels.append(image)
                labels.append(index)
        out[split] = (np.stack(pixels), labels)
    if name == "cifar10":
        (folder / "labels.txt").write_text("\n".join(CIFAR10_CLASSES) + "\n")
    return ExpectedPngs(*out["train"], *out["test"], sorted(classes))


# ---------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------

def check_common(ds, name, classes):
    assert ds.name == name
    assert ds.classes == list(classes)
    for images, labels in ((ds.train_images, ds.train_labels), (ds.test_images, ds.test_labels)):
        assert images.dtype == torch.uint8 and labels.dtype == torch.int64
        assert images.shape[1:] == (3, 32, 32) and images.is_contiguous()
        assert len(images) == len(labels)


def check_pickle_round_trip(ds, expected: Expected):
    check_common(ds, ds.name, expected.classes)
    splits = ((ds.train_images, ds.train_labels, expected.train_data, expected.train_labels),
              (ds.test_images, ds.test_labels, expected.test_data, expected.test_labels))
    for images, labels, data, written in splits:
        assert len(images) == len(data)
        assert labels.tolist() == written
        got = images.numpy()
        # The official row layout, element by element: pixel (c, y, x) is byte c*1024 + y*32 + x.
        for n in range(len(data)):
            for c in range(3):
                for y in (0, 1, 17, 31):
                    for x in (0, 2, 23, 31):
                        assert got[n, c, y, x] == data[n, c * 1024 + y * 32 + x]
        assert np.array_equal(got.reshape(len(data), -1), data)


def check_png_round_trip(ds, expected: ExpectedPngs):
    check_common(ds, ds.name, expected.classes)
    splits = ((ds.train_images, ds.train_labels, expected.train_pixels, expected.train_labels),
              (ds.test_images, ds.test_labels, expected.test_pixels, expected.test_labels))
    for images, labels, pixels, written in splits:
        assert labels.tolist() == written
        got = images.numpy()
        assert got.shape == (len(pixels), 3, 32, 32)
        for n in range(len(pixels)):
            for y, x in ((0, 0), (0, 31), (5, 9), (31, 0), (20, 27)):
                for c in range(3):  # PIL took row y, column x, channel c: H×W×C
                    assert got[n, c, y, x] == pixels[n, y, x, c]
        assert np.array_equal(got, pixels.transpose(0, 3, 1, 2))


# ---------------------------------------------------------------------------------------------
# Class names
# ---------------------------------------------------------------------------------------------

def test_official_class_names_are_alphabetical():
    assert list(CIFAR10_CLASSES) == ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                                     "truck"]
    assert list(CIFAR10_CLASSES) == sorted(CIFAR10_CLASSES)
    assert list(CIFAR100_CLASSES) == sorted(CIFAR100_CLASSES) and len(set(CIFAR100_CLASSES)) == 100
    assert sorted(SUPERCLASS_OF) == list(CIFAR100_CLASSES)


def test_unknown_dataset_name():
    with pytest.raises(ConfigError, match="unknown dataset 'cifar1000'.*cifar10, cifar100"):
        load_cifar("cifar1000")


# ---------------------------------------------------------------------------------------------
# Pickle layout
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dumps", [py2_dumps, py3_dumps], ids=["python2-pickles", "python3-pickles"])
def test_cifar10_pickles_round_trip(root, dumps):
    expected = write_cifar10_pickles(root, np.random.default_rng(0), dumps)
    ds = load_cifar("cifar10", root=root, download=False)
    check_pickle_round_trip(ds, expected)
    assert ds.name == "cifar10" and ds.num_classes == 10
    assert ds.source == str(root / "cifar-10-batches-py")
    assert len(ds.train_images) == 3 + 2 + 4 + 1 + 2 and len(ds.test_images) == 3


@pytest.mark.parametrize("dumps", [py2_dumps, py3_dumps], ids=["python2-pickles", "python3-pickles"])
def test_cifar100_pickles_round_trip_uses_fine_labels(root, dumps):
    expected = write_cifar100_pickles(root, np.random.default_rng(1), dumps)
    ds = load_cifar("cifar100", root=root, download=False)
    check_pickle_round_trip(ds, expected)
    assert ds.name == "cifar100" and ds.num_classes == 100
    assert ds.source == str(root / "cifar-100-python")


def test_a_single_pixel_lands_where_the_official_layout_puts_it(root):
    folder = root / "cifar-10-batches-py"
    folder.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = np.zeros((2, 3072), dtype=np.uint8)
        data[1, 1 * 1024 + 5 * 32 + 7] = 200  # image 1, green plane, row 5, column 7
        (folder / name).write_bytes(py2_dumps({"data": data, "labels": [0, 9]}))
    (folder / "batches.meta").write_bytes(py2_dumps({"label_names": list(CIFAR10_CLASSES)}))
    ds = load_cifar("cifar10", root=root, download=False)
    assert ds.test_images[1, 1, 5, 7] == 200 and int(ds.test_images.sum()) == 200
    assert ds.train_labels.tolist() == [0, 9] * 5


def test_the_first_data_folder_wins_and_env_folder_is_searched(root, tmp_path):
    write_cifar10_pickles(tmp_path / "env-data", np.random.default_rng(2))
    ds = load_cifar("cifar10", root=root, download=False)  # nothing in root: found through $BANNB_DATA
    assert ds.source == str(tmp_path / "env-data" / "cifar-10-batches-py")
    expected = write_cifar10_pickles(root, np.random.default_rng(3))
    check_pickle_round_trip(load_cifar("cifar10", root=root, download=False), expected)


def test_pickles_are_preferred_over_pngs_in_the_same_folder(root):
    expected = write_cifar10_pickles(root, np.random.default_rng(4))
    write_fastai_pngs(root, np.random.default_rng(5), "cifar10", nested=False, per_class=(1, 1))
    ds = load_cifar("cifar10", root=root, download=False)
    assert ds.source == str(root / "cifar-10-batches-py")
    check_pickle_round_trip(ds, expected)


# ---------------------------------------------------------------------------------------------
# fastai PNG layout and its cache
# ---------------------------------------------------------------------------------------------

def test_fastai_cifar10_pngs_round_trip(root):
    expected = write_fastai_pngs(root, np.random.default_rng(6), "cifar10", nested=False)
    ds = load_cifar("cifar10", root=root, download=False)
    check_png_round_trip(ds, expected)
    assert ds.source == str(root / "cifar10")
    assert len(ds.train_images) == 20 and len(ds.test_images) == 10
    assert (root / "cifar10-png-cache.npz").is_file()


@pytest.mark.parametrize("nested", [True, False], ids=["superclass-nested", "flat"])
def test_fastai_cifar100_pngs_round_trip(root, nested):
    expected = write_fastai_pngs(root, np.random.default_rng(7), "cifar100", nested=nested, per_class=(1, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # official class names: no warning
        ds = load_cifar("cifar100", root=root, download=False)
    check_png_round_trip(ds, expected)
    assert ds.classes == list(CIFAR100_CLASSES) and ds.source == str(root / "cifar100")


def test_png_cache_is_written_reused_and_rebuilt(root, monkeypatch):
    expected = write_fastai_pngs(root, np.random.default_rng(8), "cifar10", nested=False, per_class=(1, 1))
    cache = root / "cifar10-png-cache.npz"
    check_png_round_trip(load_cifar("cifar10", root=root, download=False), expected)
    assert cache.is_file()
    assert not [p for p in root.iterdir() if p.name.endswith(".tmp")]  # the temporary file was renamed away
    with np.load(cache, allow_pickle=False) as z:
        assert z["train_images"].dtype == np.uint8 and z["train_images"].shape == (10, 3, 32, 32)

    real_read_png = cifar._read_png
    reads = []

    def counting_read_png(*args):
        reads.append(args[0])
        return real_read_png(*args)

    monkeypatch.setattr(cifar, "_read_png", counting_read_png)
    check_png_round_trip(load_cifar("cifar10", root=root, download=False), expected)
    assert reads == []  # reused: no PNG decoded

    cache.write_bytes(b"PK\x03\x04 this is not a zip archive")  # a corrupt cache is rebuilt, never trusted
    with pytest.warns(UserWarning, match="unreadable cache"):
        check_png_round_trip(load_cifar("cifar10", root=root, download=False), expected)
    assert len(reads) == 20
    with np.load(cache, allow_pickle=False) as z:
        assert np.array_equal(z["train_images"], expected.train_pixels.transpose(0, 3, 1, 2))

    # a cache whose arrays were tampered with (valid zip, wrong shape) is not trusted either
    with np.load(cache, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["test_images"] = arrays["test_images"][:3]
    with open(cache, "wb") as f:
        np.savez(f, **arrays)
    reads.clear()
    with pytest.warns(UserWarning, match="unreadable cache"):
        check_png_round_trip(load_cifar("cifar10", root=root, download=False), expected)
    assert len(reads) == 20


def test_png_cache_is_rebuilt_when_the_folder_changes(root, monkeypatch):
    rng = np.random.default_rng(9)
    expected = write_fastai_pngs(root, rng, "cifar10", nested=False, per_class=(1, 1))
    load_cifar("cifar10", root=root, download=False)
    cache = root / "cifar10-png-cache.npz"
    # a new image added after the cache was written (mtime set later, whatever the clock resolution)
    new_pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    new_png = root / "cifar10" / "train" / "truck" / "99999_truck.png"
    write_png(new_png, new_pixels)
    later = cache.stat().st_mtime_ns + 10_000_000_000
    os.utime(new_png, ns=(later, later))
    os.utime(new_png.parent, ns=(later, later))
    ds = load_cifar("cifar10", root=root, download=False)
    assert len(ds.train_images) == 11
    assert np.array_equal(ds.train_images[-1].numpy(), new_pixels.transpose(2, 0, 1))
    assert ds.train_labels[-1] == CIFAR10_CLASSES.index("truck")
    assert np.array_equal(ds.test_images.numpy(), expected.test_pixels.transpose(0, 3, 1, 2))

    # an image rewritten in place: same files, same count, only its mtime tells
    changed = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    old_png = root / "cifar10" / "test" / "bird" / "00020_bird.png"
    write_png(old_png, changed)
    later = cache.stat().st_mtime_ns + 20_000_000_000
    os.utime(old_png, ns=(later, later))
    ds = load_cifar("cifar10", root=root, download=False)
    assert np.array_equal(ds.test_images[CIFAR10_CLASSES.index("bird")].numpy(), changed.transpose(2, 0, 1))


def test_a_folder_named_cifar10_without_train_or_test_is_not_taken_for_fastais(root):
    (root / "cifar10").mkdir()  # e.g. someone's own folder; the search goes on to $BANNB_DATA
    with pytest.raises(DataError, match="not found"):
        load_cifar("cifar10", root=root, download=False)


# ---------------------------------------------------------------------------------------------
# Errors: each a DataError that names the file
# ---------------------------------------------------------------------------------------------

def test_truncated_pickle(root):
    write_cifar10_pickles(root, np.random.default_rng(10))
    path = root / "cifar-10-batches-py" / "data_batch_2"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DataError, match="data_batch_2 is truncated or corrupt") as info:
        load_cifar("cifar10", root=root, download=False)
    assert str(path) in str(info.value) and "$BANNB_DATA" in str(info.value)
    assert info.value.__cause__ is not None


def test_pickle_with_trailing_garbage(root):
    write_cifar10_pickles(root, np.random.default_rng(10))
    path = root / "cifar-10-batches-py" / "test_batch"
    path.write_bytes(path.read_bytes() + b"garbage")
    with pytest.raises(DataError, match="test_batch is corrupt"):
        load_cifar("cifar10", root=root, download=False)


def test_missing_batch_file(root):
    write_cifar10_pickles(root, np.random.default_rng(11))
    path = root / "cifar-10-batches-py" / "data_batch_4"
    path.unlink()
    with pytest.raises(DataError, match="is missing") as info:
        load_cifar("cifar10", root=root, download=False)
    assert str(path) in str(info.value)


def test_missing_meta_file(root):
    write_cifar100_pickles(root, np.random.default_rng(11))
    (root / "cifar-100-python" / "meta").unlink()
    with pytest.raises(DataError, match=r"cifar-100-python/meta is missing"):
        load_cifar("cifar100", root=root, download=False)


def replace_batch(root, name, **entries):
    path = root / "cifar-10-batches-py" / name
    batch = {"data": np.zeros((2, 3072), np.uint8), "labels": [0, 1]}
    batch.update(entries)
    path.write_bytes(py2_dumps({k: v for k, v in batch.items() if v is not None}))
    return path


@pytest.mark.parametrize("entries, message", [
    ({"data": np.zeros((2, 3000), np.uint8)}, r"'data' has shape \(2, 3000\), expected N×3072"),
    ({"data": np.zeros((2, 3, 32, 32), np.uint8)}, r"'data' has shape \(2, 3, 32, 32\), expected N×3072"),
    ({"data": np.zeros((2, 3072), np.float32)}, "dtype float32"),
    ({"data": np.full((2, 3072), 300, np.int32)}, "values outside 0..255"),
    ({"labels": [0, 1, 2]}, "3 labels for 2 images"),
    ({"labels": [0, 10]}, "label 10, outside 0..9"),
    ({"labels": [-1, 0]}, "label -1, outside 0..9"),
    ({"labels": None}, "no 'labels' entry"),
    ({"data": None}, "no 'data' entry"),
])
def test_bad_batch_contents(root, entries, message):
    write_cifar10_pickles(root, np.random.default_rng(12))
    path = replace_batch(root, "data_batch_3", **entries)
    with pytest.raises(DataError, match=message) as info:
        load_cifar("cifar10", root=root, download=False)
    assert str(path) in str(info.value)


def test_integer_data_within_byte_range_is_accepted(root):
    write_cifar10_pickles(root, np.random.default_rng(12))
    data = np.arange(2 * 3072).reshape(2, 3072) % 256
    replace_batch(root, "test_batch", data=data.astype(np.int64), labels=[3, 4])
    ds = load_cifar("cifar10", root=root, download=False)
    assert np.array_equal(ds.test_images.reshape(2, -1).numpy(), data)


def test_meta_with_the_wrong_number_of_classes(root):
    write_cifar10_pickles(root, np.random.default_rng(13))
    path = root / "cifar-10-batches-py" / "batches.meta"
    path.write_bytes(py2_dumps({"label_names": list(CIFAR10_CLASSES[:9])}))
    with pytest.raises(DataError, match="lists 9 class names, CIFAR-10 has 10") as info:
        load_cifar("cifar10", root=root, download=False)
    assert str(path) in str(info.value)


def test_a_pickle_that_would_run_code_is_refused(root, tmp_path):
    write_cifar10_pickles(root, np.random.default_rng(14))
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.mkdir, (str(marker),))

    path = root / "cifar-10-batches-py" / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": Evil(), b"labels": []}, protocol=2))
    with pytest.raises(DataError, match="data_batch_1 is truncated or corrupt.*mkdir, which a CIFAR file never holds"):
        load_cifar("cifar10", root=root, download=False)
    assert not marker.exists()


def png_setup(root, nested=False, name="cifar10"):
    return write_fastai_pngs(root, np.random.default_rng(15), name, nested=nested, per_class=(1, 1))


def test_png_of_the_wrong_size(root):
    png_setup(root)
    path = root / "cifar10" / "train" / "cat" / "00030_cat.png"
    Image.fromarray(np.zeros((31, 32, 3), np.uint8)).save(path)
    with pytest.raises(DataError, match=r"is a 32×31 RGB image, expected a 32×32 RGB one") as info:
        load_cifar("cifar10", root=root, download=False)
    assert str(path) in str(info.value)


def test_png_with_alpha(root):
    png_setup(root)
    path = root / "cifar10" / "test" / "dog" / "00050_dog.png"
    Image.fromarray(np.zeros((32, 32, 4), np.uint8), mode="RGBA").save(path)
    with pytest.raises(DataError, match=r"32×32 RGBA image, expected a 32×32 RGB one") as info:
        load_cifar("cifar10", root=root, download=False)
    assert str(path) in str(info.value)


def test_grey_png_converts_without_loss(root):
    expected = png_setup(root)
    path = root / "cifar10" / "test" / "dog" / "00050_dog.png"
    grey = np.random.default_rng(16).integers(0, 256, (32, 32), dtype=np.uint8)
    Image.fromarray(grey, mode="L").save(path)
    ds = load_cifar("cifar10", root=root, download=False)
    index = expected.test_labels.index(CIFAR10_CLASSES.index("dog"))
    assert all(np.array_equal(ds.test_images[index, c].numpy(), grey) for c in range(3))


def test_truncated_png(root):
    png_setup(root)
    path = root / "cifar10" / "train" / "frog" / "00060_frog.png"
    path.write_bytes(path.read_bytes()[:60])
    with pytest.raises(DataError, match="is truncated or corrupt") as info:
        load_cifar("cifar10", root=root, download=False)
    assert str(path) in str(info.value)


def test_empty_class_folder(root):
    png_setup(root)
    folder = root / "cifar10" / "test" / "ship"
    shutil.rmtree(folder)
    folder.mkdir()
    with pytest.raises(DataError, match="holds no PNG images") as info:
        load_cifar("cifar10", root=root, download=False)
    assert str(folder) in str(info.value)


def test_missing_test_folder(root):
    png_setup(root)
    shutil.rmtree(root / "cifar10" / "test")
    with pytest.raises(DataError, match="has no `test` folder") as info:
        load_cifar("cifar10", root=root, download=False)
    assert str(root / "cifar10") in str(info.value)


def test_missing_class_folder(root):
    png_setup(root, nested=True, name="cifar100")
    shutil.rmtree(root / "cifar100" / "train" / "trees" / "oak_tree")
    shutil.rmtree(root / "cifar100" / "test" / "trees" / "oak_tree")
    with pytest.raises(DataError, match=r"has 99 class folders, CIFAR-100 has 100 \(missing: oak_tree\)"):
        load_cifar("cifar100", root=root, download=False)


def test_classes_differ_between_train_and_test(root):
    png_setup(root)
    shutil.rmtree(root / "cifar10" / "test" / "bird")
    write_png(root / "cifar10" / "test" / "parrot" / "0.png", np.zeros((32, 32, 3), np.uint8))
    with pytest.raises(DataError, match="only in train: bird; only in test: parrot"):
        load_cifar("cifar10", root=root, download=False)


def test_labels_txt_that_disagrees_with_the_folders(root):
    png_setup(root)
    path = root / "cifar10" / "labels.txt"
    path.write_text("\n".join(CIFAR10_CLASSES[:9] + ("lorry",)) + "\n")
    with pytest.raises(DataError, match="lists classes") as info:
        load_cifar("cifar10", root=root, download=False)
    assert str(path) in str(info.value)


# ---------------------------------------------------------------------------------------------
# Download
# ---------------------------------------------------------------------------------------------

def test_failed_download_lists_the_searched_folders_and_the_fix(root, tmp_path, monkeypatch):
    def offline(url, target):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(cifar, "_fetch", offline)
    with pytest.raises(DataError) as info:
        load_cifar("cifar10", root=root)
    message = str(info.value)
    for folder in (root / "cifar-10-batches-py", root / "cifar10", tmp_path / "env-data" / "cifar-10-batches-py",
                   tmp_path / "project" / "data" / "cifar-10-batches-py"):
        assert str(folder) in message
    assert "download from https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz failed" in message
    assert "Temporary failure in name resolution" in message
    assert "$BANNB_DATA" in message and "`cifar-10-batches-py`" in message
    assert isinstance(info.value.__cause__, urllib.error.URLError)
    assert not list(root.glob("*.part")) and not list(root.glob("cifar-10-python.tar.gz"))


def test_download_false_does_not_try(root, tmp_path):
    with pytest.raises(DataError, match="CIFAR-100 not found .* and download=False") as info:
        load_cifar("cifar100", root=root, download=False)  # the autouse fixture fails on any fetch
    message = str(info.value)
    assert str(root / "cifar-100-python") in message and str(tmp_path / "env-data" / "cifar100") in message
    assert "$BANNB_DATA" in message and "`cifar-100-python`" in message


def make_official_tarball(tmp_path, writer, folder_name, rng):
    """A tiny stand-in for the official tarball: the extracted folder, tarred and gzipped."""
    staging = tmp_path / "staging"
    expected = writer(staging, rng)
    tarball = tmp_path / "official.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(staging / folder_name, arcname=folder_name)
    return tarball, expected


@pytest.mark.parametrize("name, writer, folder_name", [
    ("cifar10", write_cifar10_pickles, "cifar-10-batches-py"),
    ("cifar100", write_cifar100_pickles, "cifar-100-python"),
])
def test_download_checks_md5_and_extracts(root, tmp_path, monkeypatch, name, writer, folder_name):
    tarball, expected = make_official_tarball(tmp_path, writer, folder_name, np.random.default_rng(17))
    fetched = []

    def fake_fetch(url, target):
        fetched.append(url)
        shutil.copyfile(tarball, target)

    monkeypatch.setattr(cifar, "_fetch", fake_fetch)
    monkeypatch.setitem(cifar.MD5S, name, hashlib.md5(tarball.read_bytes()).hexdigest())
    ds = load_cifar(name, root=root)
    assert fetched == [cifar.URLS[name]]
    check_pickle_round_trip(ds, expected)
    assert ds.source == str(root / folder_name)
    assert (root / cifar.URLS[name].rsplit("/", 1)[1]).is_file()
    assert not [p for p in root.iterdir() if p.name.startswith(".") or p.name.endswith(".part")]

    monkeypatch.setattr(cifar, "_fetch", lambda url, target: pytest.fail("downloaded twice"))
    check_pickle_round_trip(load_cifar(name, root=root), expected)


def test_download_with_the_wrong_md5_is_discarded(root, tmp_path, monkeypatch):
    tarball, _ = make_official_tarball(tmp_path, write_cifar10_pickles, "cifar-10-batches-py",
                                       np.random.default_rng(18))
    monkeypatch.setattr(cifar, "_fetch", lambda url, target: shutil.copyfile(tarball, target))
    with pytest.raises(DataError, match=f"has md5 {hashlib.md5(tarball.read_bytes()).hexdigest()}, "
                                        f"expected c58f30108f718f92721af3b95e74349a"):
        load_cifar("cifar10", root=root)
    assert list(root.iterdir()) == []


def evil_tarball(tmp_path, add_evil):
    tarball = tmp_path / "evil.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        good = tarfile.TarInfo("cifar-10-batches-py/batches.meta")
        payload = py2_dumps({"label_names": list(CIFAR10_CLASSES)})
        good.size = len(payload)
        tar.addfile(good, io.BytesIO(payload))
        add_evil(tar)
    return tarball


def add_traversal(tar):
    info = tarfile.TarInfo("cifar-10-batches-py/../../escaped.txt")
    info.size = 4
    tar.addfile(info, io.BytesIO(b"evil"))


def add_absolute(tar):
    info = tarfile.TarInfo("/tmp/absolute-escape.txt")
    info.size = 4
    tar.addfile(info, io.BytesIO(b"evil"))


def add_symlink(tar):
    info = tarfile.TarInfo("cifar-10-batches-py/data_batch_1")
    info.type = tarfile.SYMTYPE
    info.linkname = "/etc/passwd"
    tar.addfile(info)


@pytest.mark.parametrize("add_evil", [add_traversal, add_absolute, add_symlink])
def test_unsafe_archive_members_are_refused(root, tmp_path, monkeypatch, add_evil):
    tarball = evil_tarball(tmp_path, add_evil)
    monkeypatch.setattr(cifar, "_fetch", lambda url, target: shutil.copyfile(tarball, target))
    monkeypatch.setitem(cifar.MD5S, "cifar10", hashlib.md5(tarball.read_bytes()).hexdigest())
    with pytest.raises(DataError, match="unsafe") as info:
        load_cifar("cifar10", root=root)
    assert "cifar-10-python.tar.gz" in str(info.value)
    assert not (tmp_path / "escaped.txt").exists() and not (root.parent / "escaped.txt").exists()
    assert not (root / "cifar-10-batches-py").exists()
    assert [p.name for p in root.iterdir()] == ["cifar-10-python.tar.gz"]


def test_archive_without_the_expected_folder(root, tmp_path, monkeypatch):
    tarball = tmp_path / "other.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        info = tarfile.TarInfo("something-else/readme.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    monkeypatch.setattr(cifar, "_fetch", lambda url, target: shutil.copyfile(tarball, target))
    monkeypatch.setitem(cifar.MD5S, "cifar10", hashlib.md5(tarball.read_bytes()).hexdigest())
    with pytest.raises(DataError, match="does not hold a `cifar-10-batches-py` folder"):
        load_cifar("cifar10", root=root)
    assert [p.name for p in root.iterdir()] == ["cifar-10-python.tar.gz"]
