"""CIFAR-10 re-encoded as JPEG: small archives written here in the real layout, their faults, the cache, the
loader's random draws; and the real archive when it is present."""
from __future__ import annotations

import dataclasses
import hashlib
import io
import tarfile
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import bannb.data.arrays as arrays_module
from bannb import cli
from bannb.data import DATASETS, cifar10_jpeg, dataset_note, load_dataset
from bannb.data.cifar import CIFAR10_CLASSES
from bannb.data.cifar10_jpeg import (
    ARCHIVE,
    JpegArchive,
    find_archive,
    load_cifar10_jpeg,
)
from bannb.data.loaders import InMemoryLoader
from bannb.errors import DataError

REAL_ARCHIVE = find_archive()  # looked up before any test isolates the data folders
SMALL = JpegArchive(sha256=None, train_per_class=3, test_per_class=2)


def jpeg_bytes(pixels: np.ndarray, mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode).save(buffer, "JPEG", quality=75)
    return buffer.getvalue()


def random_pixels(rng, height=32, width=32):
    return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


def write_archive(path: Path, archive: JpegArchive = SMALL, seed: int = 0, members=None, skip=(), folders=True) -> dict:
    """A .tar.gz in the real layout; `members` ({name: bytes}) replace or add files, `skip` leaves files out.
    Returns the written JPEG bytes by member name."""
    rng = np.random.default_rng(seed)
    files = {f"{archive.top}/{split}/{name}/{index:04d}.jpg": jpeg_bytes(random_pixels(rng))
             for split in ("train", "test") for name in archive.classes for index in range(archive.per_class(split))}
    files.update(members or {})
    for name in skip:
        del files[name]
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        if folders:
            for folder in sorted({str(Path(name).parent) for name in files} | {archive.top}):
                info = tarfile.TarInfo(folder)
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
        for name, data in reversed(list(files.items())):  # out of order: the loader must sort
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return files


def decoded(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB")).transpose(2, 0, 1)


@pytest.fixture
def small(tmp_path, monkeypatch):
    """No real data folder can interfere; the archive expected is SMALL; returns the project's data folder."""
    monkeypatch.setenv("BANNB_DATA", str(tmp_path / "env-data"))
    monkeypatch.setattr(arrays_module, "PROJECT_ROOT", tmp_path / "project")
    monkeypatch.setattr(arrays_module, "DATA_DIR", tmp_path / "project" / "data")
    monkeypatch.setattr(cifar10_jpeg, "ARCHIVE", SMALL)
    load_dataset.cache_clear()
    yield tmp_path / "project" / "data"
    load_dataset.cache_clear()


def test_round_trip_in_class_then_file_order(small):
    files = write_archive(small / "cifar10-jpeg.tar.gz")
    dataset = load_cifar10_jpeg()
    assert dataset.name == "cifar10-jpeg" and dataset.classes == list(CIFAR10_CLASSES)
    assert dataset.train_images.shape == (30, 3, 32, 32) and dataset.test_images.shape == (20, 3, 32, 32)
    assert dataset.train_images.dtype == torch.uint8
    assert dataset.train_labels.tolist() == [c for c in range(10) for _ in range(3)]
    assert dataset.test_labels.tolist() == [c for c in range(10) for _ in range(2)]
    for split, images in (("train", dataset.train_images), ("test", dataset.test_images)):
        per_class = 3 if split == "train" else 2
        for c, name in enumerate(CIFAR10_CLASSES):
            for i in range(per_class):
                expected = decoded(files[f"cifar10-jpeg/{split}/{name}/{i:04d}.jpg"])
                assert np.array_equal(images[c * per_class + i].numpy(), expected)
    archive = small / "cifar10-jpeg.tar.gz"
    assert dataset.source == str(archive)
    assert dataset.checksums["archive_sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()
    assert "JPEG at quality 75" in dataset.note and "not comparable with published CIFAR-10" in dataset.note


def test_registered_as_a_dataset_with_its_caveat(small):
    write_archive(small / "cifar10-jpeg.tar.gz")
    assert "cifar10-jpeg" in DATASETS
    assert dataset_note("cifar10-jpeg") == cifar10_jpeg.NOTE and dataset_note("cifar10") == ""
    assert load_dataset("cifar10-jpeg").train_images.shape == (30, 3, 32, 32)


def test_data_command_validates_and_describes(small, capsys):
    write_archive(small / "cifar10-jpeg.tar.gz")
    assert cli.main(["data", "--dataset", "cifar10-jpeg"]) == 0
    out = capsys.readouterr().out
    assert "cifar10-jpeg: 30 train + 20 test images of shape (3, 32, 32), 10 classes" in out
    assert "images per class: train 3, test 2; classes airplane, automobile" in out
    assert "archive_sha256: " in out and "pixels_sha256: " in out
    assert "note: CIFAR-10 re-encoded as JPEG at quality 75" in out


@pytest.mark.parametrize("where", ["explicit", "env", "project", "shared"])
def test_archive_folders_and_where_the_cache_goes(small, tmp_path, where):
    folders = {"explicit": tmp_path / "explicit", "env": tmp_path / "env-data", "project": small,
               "shared": tmp_path / "shared" / "data"}  # ../shared/data beside the project
    write_archive(folders[where] / "cifar10-jpeg.tar.gz")
    root = folders["explicit"] if where == "explicit" else None
    assert load_cifar10_jpeg(root).source == str(folders[where] / "cifar10-jpeg.tar.gz")
    cache_folder = folders["explicit"] if where == "explicit" else small
    assert (cache_folder / "cifar10-jpeg.npz").is_file()
    if where in ("env", "shared"):
        assert not (folders[where] / "cifar10-jpeg.npz").exists(), "never written beside a shared archive"


def test_missing_archive_says_where_it_looked_and_where_to_put_it(small, tmp_path):
    with pytest.raises(DataError) as err:
        load_cifar10_jpeg()
    message = str(err.value)
    assert "cifar10-jpeg.tar.gz was not found" in message
    for folder in (tmp_path / "env-data", small, tmp_path / "shared" / "data"):
        assert str(folder) in message
    assert f"into {small}" in message and "$BANNB_DATA" in message


def test_the_known_archive_is_checked_by_its_sha256(small, monkeypatch):
    archive = small / "cifar10-jpeg.tar.gz"
    write_archive(archive)
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    monkeypatch.setattr(cifar10_jpeg, "ARCHIVE", dataclasses.replace(SMALL, sha256="0" * 64))
    with pytest.raises(DataError, match=f"has sha256 {digest}, expected {'0' * 64}: it is truncated, corrupt or another"):
        load_cifar10_jpeg()
    monkeypatch.setattr(cifar10_jpeg, "ARCHIVE", dataclasses.replace(SMALL, sha256=digest))
    assert load_cifar10_jpeg().checksums["archive_sha256"] == digest


def test_the_real_archive_description_is_strict():
    assert ARCHIVE.sha256 == "820394552d8cd6cf2834c7f34753d3e36624717e73e6a373a57a01edb25bc5f0"
    assert (ARCHIVE.train_per_class, ARCHIVE.test_per_class, ARCHIVE.classes) == (5000, 1000, CIFAR10_CLASSES)


def test_truncated_archive(small):
    archive = small / "cifar10-jpeg.tar.gz"
    write_archive(archive)
    archive.write_bytes(archive.read_bytes()[:len(archive.read_bytes()) // 2])
    with pytest.raises(DataError, match="is truncated or corrupt: it is not a readable .tar.gz"):
        load_cifar10_jpeg()


def test_not_gzip_at_all(small):
    (small).mkdir(parents=True)
    (small / "cifar10-jpeg.tar.gz").write_bytes(b"<html>not found</html>")
    with pytest.raises(DataError, match="truncated or corrupt"):
        load_cifar10_jpeg()


def test_corrupt_jpeg_is_named(small):
    good = jpeg_bytes(random_pixels(np.random.default_rng(1)))
    write_archive(small / "cifar10-jpeg.tar.gz", members={"cifar10-jpeg/test/frog/0001.jpg": good[:len(good) // 3]})
    with pytest.raises(DataError, match="cifar10-jpeg/test/frog/0001.jpg is a truncated or corrupt JPEG"):
        load_cifar10_jpeg()


def test_a_png_is_not_a_jpeg(small):
    buffer = io.BytesIO()
    Image.fromarray(random_pixels(np.random.default_rng(1))).save(buffer, "PNG")
    write_archive(small / "cifar10-jpeg.tar.gz", members={"cifar10-jpeg/train/cat/0002.jpg": buffer.getvalue()})
    with pytest.raises(DataError, match="cifar10-jpeg/train/cat/0002.jpg is not a JPEG image"):
        load_cifar10_jpeg()


@pytest.mark.parametrize("pixels, mode, found", [
    (np.zeros((31, 32, 3), np.uint8), "RGB", "32×31 RGB"),
    (np.zeros((32, 32), np.uint8), "L", "32×32 L"),
])
def test_wrong_image_size_or_mode(small, pixels, mode, found):
    write_archive(small / "cifar10-jpeg.tar.gz", members={"cifar10-jpeg/train/ship/0000.jpg": jpeg_bytes(pixels, mode)})
    with pytest.raises(DataError, match=f"cifar10-jpeg/train/ship/0000.jpg is a {found} image, expected a 32×32 RGB one"):
        load_cifar10_jpeg()


def test_wrong_count_per_class(small):
    write_archive(small / "cifar10-jpeg.tar.gz", skip=["cifar10-jpeg/test/horse/0001.jpg"])
    with pytest.raises(DataError, match=r"cifar10-jpeg/test/horse/ holds 1 images, expected 2 \(2 per class in test\)"):
        load_cifar10_jpeg()


def test_an_extra_image_is_a_wrong_count(small):
    extra = jpeg_bytes(random_pixels(np.random.default_rng(2)))
    write_archive(small / "cifar10-jpeg.tar.gz", members={"cifar10-jpeg/train/bird/0003.jpg": extra})
    with pytest.raises(DataError, match="cifar10-jpeg/train/bird/ holds 4 images, expected 3"):
        load_cifar10_jpeg()


def test_a_missing_class_folder(small):
    write_archive(small / "cifar10-jpeg.tar.gz", skip=[f"cifar10-jpeg/train/truck/{i:04d}.jpg" for i in range(3)],
                  folders=False)
    with pytest.raises(DataError, match="cifar10-jpeg/train/truck/ holds 0 images, expected 3"):
        load_cifar10_jpeg()


@pytest.mark.parametrize("name, message", [
    ("cifar10-jpeg/train/unicorn/0000.jpg", "in a class folder 'unicorn' that is not one of CIFAR-10's classes"),
    ("cifar10-jpeg/README.txt", "which is not an image at cifar10-jpeg/{train,test}/<class>/<NNNN>.jpg"),
    ("cifar10/train/cat/0000.jpg", "which is not an image at"),
    ("cifar10-jpeg/valid/cat/0000.jpg", "which is not an image at"),
])
def test_members_outside_the_layout(small, name, message):
    write_archive(small / "cifar10-jpeg.tar.gz", members={name: jpeg_bytes(random_pixels(np.random.default_rng(3)))},
                  folders=False)
    with pytest.raises(DataError, match=message.replace("{", r"\{").replace("}", r"\}")):
        load_cifar10_jpeg()


def test_a_link_is_refused(small):
    archive = small / "cifar10-jpeg.tar.gz"
    write_archive(archive)
    with tarfile.open(archive, "r:gz") as tar:
        members = [(m, tar.extractfile(m).read() if m.isfile() else None) for m in tar.getmembers()]
    link = tarfile.TarInfo("cifar10-jpeg/train/cat/0002.jpg")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    with tarfile.open(archive, "w:gz") as tar:
        for member, data in members:
            if member.name != link.name:
                tar.addfile(member, io.BytesIO(data) if data is not None else None)
        tar.addfile(link)
    with pytest.raises(DataError, match="cifar10-jpeg/train/cat/0002.jpg', which is not a plain file"):
        load_cifar10_jpeg()


def test_decoded_once_then_served_from_the_cache(small, monkeypatch):
    write_archive(small / "cifar10-jpeg.tar.gz")
    first = load_cifar10_jpeg()
    assert (small / "cifar10-jpeg.npz").is_file()

    def no_decode(*args):
        raise AssertionError("the archive was decoded a second time")

    monkeypatch.setattr(cifar10_jpeg, "decode_archive", no_decode)
    second = load_cifar10_jpeg()
    for key in ("train_images", "train_labels", "test_images", "test_labels"):
        assert torch.equal(getattr(first, key), getattr(second, key))
    assert second.checksums == first.checksums


def test_another_archive_is_not_served_from_the_cache(small, monkeypatch):
    archive = small / "cifar10-jpeg.tar.gz"
    write_archive(archive, seed=0)
    first = load_cifar10_jpeg()
    files = write_archive(archive, seed=1)  # same layout and counts, other images
    decodes = []
    original = cifar10_jpeg.decode_archive
    monkeypatch.setattr(cifar10_jpeg, "decode_archive", lambda *a: decodes.append(1) or original(*a))
    second = load_cifar10_jpeg()
    assert decodes == [1]
    assert np.array_equal(second.train_images[0].numpy(), decoded(files["cifar10-jpeg/train/airplane/0000.jpg"]))
    assert not torch.equal(first.train_images, second.train_images)
    assert second.checksums["pixels_sha256"] != first.checksums["pixels_sha256"]


def test_a_damaged_cache_is_rebuilt(small):
    write_archive(small / "cifar10-jpeg.tar.gz")
    first = load_cifar10_jpeg()
    cache = small / "cifar10-jpeg.npz"
    cache.write_bytes(cache.read_bytes()[:1000])
    with pytest.warns(UserWarning, match="ignoring the unreadable cache"):
        second = load_cifar10_jpeg()
    assert torch.equal(first.train_images, second.train_images)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_cifar10_jpeg()  # the rebuilt cache is sound


def test_a_cache_resaved_with_altered_pixels_is_detected_and_rebuilt(small, capsys):
    """A cache re-saved with other pixels is a sound zip with its old pixel checksum: the checksum is recomputed
    from the arrays read, and what `bannb data` prints is that recomputed one."""
    write_archive(small / "cifar10-jpeg.tar.gz")
    first = load_cifar10_jpeg()
    cache = small / "cifar10-jpeg.npz"
    with np.load(cache) as saved:
        arrays = {key: saved[key] for key in saved.files}
    arrays["train_images"] = arrays["train_images"].copy()
    arrays["train_images"][0, 0, 0, 0] ^= 1  # one bit of one pixel
    altered = cifar10_jpeg.pixels_sha256(arrays)
    np.savez(cache, **arrays)  # the stored pixels_sha256 is the original one
    with pytest.warns(UserWarning, match=rf"ignoring the cache {cache}: its arrays' sha256 is {altered}, not the "
                                         rf"{first.checksums['pixels_sha256']} they were decoded with"):
        assert cli.main(["data", "--dataset", "cifar10-jpeg"]) == 0
    out = capsys.readouterr().out
    assert f"pixels_sha256: {first.checksums['pixels_sha256']}" in out and altered not in out
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = load_cifar10_jpeg()  # the rebuilt cache is sound, and holds the archive's pixels
    assert torch.equal(again.train_images, first.train_images)
    assert again.checksums["pixels_sha256"] == cifar10_jpeg.pixels_sha256(
        {key: getattr(again, key).numpy() for key in ("train_images", "train_labels", "test_images", "test_labels")})


def test_the_data_fingerprint_of_an_image_run_is_its_arrays(small, monkeypatch):
    from bannb.data import data_fingerprint
    from bannb.data.arrays import arrays_sha256
    from bannb.image.config import RunConfig
    config = RunConfig(arch="wrn-10-1", dataset="cifar10-jpeg", valid_size=10, precision="fp32")
    assert data_fingerprint(config, missing_ok=True) is None  # no archive here: nothing is read or downloaded
    archive = small / "cifar10-jpeg.tar.gz"
    write_archive(archive, seed=0)
    first = data_fingerprint(config)
    dataset = load_dataset("cifar10-jpeg")
    assert first == dataset.checksums["pixels_sha256"] == arrays_sha256(vars(dataset))
    load_dataset.cache_clear()
    (small / "cifar10-jpeg.npz").unlink()
    assert data_fingerprint(config) == first  # the same archive decoded again: the same fingerprint
    load_dataset.cache_clear()
    write_archive(archive, seed=1)  # the same name, layout and counts, other images: the same run id
    assert data_fingerprint(config) != first


def test_a_cache_for_other_counts_is_not_used(small, monkeypatch):
    write_archive(small / "cifar10-jpeg.tar.gz")
    load_cifar10_jpeg()
    monkeypatch.setattr(cifar10_jpeg, "ARCHIVE", dataclasses.replace(SMALL, train_per_class=4))
    with pytest.warns(UserWarning, match="wrong shape"), pytest.raises(DataError, match="holds 3 images, expected 4"):
        load_cifar10_jpeg()


# ---------------------------------------------------------------- the loader's random draws

def reference_batches(images, labels, batch_size, mean, std, seed, epoch, pad=4):
    """The CPU loader as it was before draws could move to the device: every cpu run so far was trained on it."""
    generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
    order = torch.randperm(len(images), generator=generator)
    for start in range(0, len(images) // batch_size * batch_size, batch_size):
        index = order[start:start + batch_size]
        batch = images[index]
        n, c, h, w = batch.shape
        padded = F.pad(batch, (pad, pad, pad, pad))
        offset_y = torch.randint(0, 2 * pad + 1, (n, 1), generator=generator)
        offset_x = torch.randint(0, 2 * pad + 1, (n, 1), generator=generator)
        rows = offset_y + torch.arange(h)
        columns = torch.arange(w).expand(n, w)
        flipped = torch.rand(n, 1, generator=generator) < 0.5
        columns = offset_x + torch.where(flipped, w - 1 - columns, columns)
        batch = padded[torch.arange(n)[:, None, None, None], torch.arange(c)[None, :, None, None],
                       rows[:, None, :, None], columns[:, None, None, :]]
        yield (batch.float() - mean.view(1, -1, 1, 1)) * (1 / std).view(1, -1, 1, 1), labels[index]


def test_cpu_draws_are_bit_identical_to_the_stream_runs_were_trained_on():
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (100, 3, 8, 8), dtype=torch.uint8, generator=generator)
    labels = torch.randint(0, 10, (100,), generator=generator)
    mean, std = torch.tensor([120.0, 110.0, 100.0]), torch.tensor([60.0, 50.0, 40.0])
    loader = InMemoryLoader(images, labels, 32, mean, std, shuffle=True, augment=True, drop_last=True, seed=7)
    assert loader.generator_device == torch.device("cpu")
    for epoch in range(2):
        got = list(loader)
        expected = list(reference_batches(images, labels, 32, mean, std, seed=7, epoch=epoch))
        assert len(got) == len(expected) == 3
        for (x, y), (x_ref, y_ref) in zip(got, expected):
            assert torch.equal(x, x_ref) and torch.equal(y, y_ref)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_gpu_epoch_draws_on_the_device_without_synchronising():
    from bannb.bench.gpu import loader_synchronisations
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (256, 3, 32, 32), dtype=torch.uint8, generator=generator)
    labels = torch.randint(0, 10, (256,), generator=generator)
    loader = InMemoryLoader(images, labels, 64, torch.zeros(3), torch.ones(3), shuffle=True, augment=True,
                            drop_last=True, seed=3, device="cuda")
    assert loader.generator_device.type == "cuda"
    first = [(x.cpu(), y.cpu()) for x, y in loader]
    loader.epoch = 0
    again = [(x.cpu(), y.cpu()) for x, y in loader]  # epoch k depends only on (seed, k): resumable
    assert all(torch.equal(a, b) and torch.equal(c, d) for (a, c), (b, d) in zip(first, again))
    assert [x.shape for x, _ in first] == [(64, 3, 32, 32)] * 4
    assert loader_synchronisations(torch.device("cuda")) == 0


# ---------------------------------------------------------------- the real archive

@pytest.mark.skipif(REAL_ARCHIVE is None, reason="cifar10-jpeg.tar.gz is not in $BANNB_DATA, data/ or ../shared/data/")
def test_the_real_archive():
    load_dataset.cache_clear()
    dataset = load_dataset("cifar10-jpeg")
    assert dataset.checksums["archive_sha256"] == ARCHIVE.sha256
    assert dataset.train_images.shape == (50000, 3, 32, 32) and dataset.test_images.shape == (10000, 3, 32, 32)
    assert dataset.train_labels.bincount().tolist() == [5000] * 10
    assert dataset.test_labels.bincount().tolist() == [1000] * 10
    assert dataset.classes == list(CIFAR10_CLASSES)
    with tarfile.open(REAL_ARCHIVE, "r:gz") as tar:
        cat = tar.extractfile("cifar10-jpeg/train/cat/0007.jpg").read()
        ship = tar.extractfile("cifar10-jpeg/test/ship/0999.jpg").read()
    assert np.array_equal(dataset.train_images[3 * 5000 + 7].numpy(), decoded(cat))
    assert np.array_equal(dataset.test_images[8 * 1000 + 999].numpy(), decoded(ship))
