"""Fashion-MNIST files and their validation, the split, and the batch-level data path."""
import gzip
import struct

import numpy as np
import pytest
import torch

from bannb.data import (
    fashion_mnist,
    load_dataset,
    make_dataloaders,
    pad_crop_flip,
    split_indices,
)
from bannb.data.loaders import InMemoryLoader, channel_stats, class_quotas
from bannb.errors import ConfigError, DataError


def write_idx(path, array, magic, gz=True, truncate=0):
    header = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    payload = payload[:len(payload) - truncate]
    if gz:
        with gzip.open(path.with_name(path.name + ".gz"), "wb") as f:
            f.write(payload)
    else:
        path.write_bytes(payload)


def fake_fashion_mnist(folder, train=60_000, test=10_000, seed=0, gz=True):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for split, count in (("train", train), ("test", test)):
        images_name, labels_name, _ = fashion_mnist.FILES[split]
        images = rng.integers(0, 256, (count, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, count, dtype=np.uint8)
        write_idx(folder / images_name, images, fashion_mnist.IMAGES_MAGIC, gz)
        write_idx(folder / labels_name, labels, fashion_mnist.LABELS_MAGIC, gz)
        arrays[split] = images, labels
    return arrays


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """No real dataset anywhere the loader looks; network access fails like this machine's."""
    monkeypatch.setattr(fashion_mnist, "SYSTEM_FOLDER", tmp_path / "system")
    monkeypatch.setattr("bannb.data.arrays.DATA_DIR", tmp_path / "project" / "data")
    monkeypatch.setenv("BANNB_DATA", str(tmp_path / "env"))

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")
    monkeypatch.setattr(fashion_mnist.urllib.request, "urlopen", offline)
    return tmp_path


def test_real_fashion_mnist(fashion_mnist_available):
    dataset = load_dataset("fashion-mnist")
    assert dataset.train_images.shape == (60_000, 1, 28, 28) and dataset.test_images.shape == (10_000, 1, 28, 28)
    assert dataset.train_images.dtype == torch.uint8 and dataset.train_labels.dtype == torch.int64
    assert torch.bincount(dataset.train_labels).tolist() == [6000] * 10  # the dataset is balanced
    assert torch.bincount(dataset.test_labels).tolist() == [1000] * 10
    assert dataset.classes[0] == "T-shirt/top" and dataset.num_classes == 10


def test_idx_round_trip_and_lookup_order(isolated):
    written = fake_fashion_mnist(isolated / "env" / "fashion-mnist", gz=False)
    fake_fashion_mnist(isolated / "system", seed=1)  # found later in the order, so not used
    dataset = fashion_mnist.load_fashion_mnist()
    assert dataset.source == str(isolated / "env" / "fashion-mnist")
    assert np.array_equal(dataset.train_images[:, 0].numpy(), written["train"][0])
    assert np.array_equal(dataset.test_labels.numpy(), written["test"][1].astype(np.int64))


@pytest.mark.parametrize("damage, message", [
    ("truncate", "truncated"),
    ("magic", "magic number"),
    ("count", "shape"),
    ("gzip", "truncated or corrupt"),
])
def test_damaged_files_get_one_clear_error(isolated, damage, message):
    folder = isolated / "env" / "fashion-mnist"
    fake_fashion_mnist(folder)
    labels_file = folder / "t10k-labels-idx1-ubyte.gz"
    labels = np.zeros(10_000, dtype=np.uint8)
    if damage == "truncate":
        write_idx(folder / "t10k-labels-idx1-ubyte", labels, fashion_mnist.LABELS_MAGIC, truncate=10)
    elif damage == "magic":
        write_idx(folder / "t10k-labels-idx1-ubyte", labels, fashion_mnist.IMAGES_MAGIC)
    elif damage == "count":
        write_idx(folder / "t10k-labels-idx1-ubyte", labels[:9_999], fashion_mnist.LABELS_MAGIC)
    else:
        labels_file.write_bytes(labels_file.read_bytes()[:40])
    with pytest.raises(DataError, match=message) as error:
        fashion_mnist.load_fashion_mnist()
    assert "t10k-labels-idx1-ubyte" in str(error.value)
    assert "apt-get install dataset-fashion-mnist" in str(error.value)  # …and how to fix it


def test_missing_dataset_offline_says_where_it_looked(isolated):
    with pytest.raises(DataError) as error:
        fashion_mnist.load_fashion_mnist()
    text = str(error.value)
    assert "network is unreachable" in text and str(isolated / "system") in text and "BANNB_DATA" in text
    assert not list((isolated / "env" / "fashion-mnist").glob("*.gz")), "a failed download leaves no file behind"


def test_split_is_seeded_disjoint_and_complete():
    labels = torch.arange(1000) % 10
    train, valid, pool = split_indices(labels, 100, split_seed=3)
    assert len(train) == 900 and len(valid) == 100 and len(pool) == 0
    assert set(train.tolist()).isdisjoint(valid.tolist())
    assert sorted(train.tolist() + valid.tolist()) == list(range(1000))
    assert torch.equal(valid, split_indices(labels, 100, split_seed=3).valid)
    assert not torch.equal(valid, split_indices(labels, 100, split_seed=4).valid)
    with pytest.raises(ConfigError, match="valid_size"):
        split_indices(labels, 1000)
    with pytest.raises(ConfigError, match="pool_size"):
        split_indices(labels, 100, train_size=800, pool_size=101)


def test_a_subset_of_class_ordered_files_is_class_balanced():
    # CIFAR-10's JPEG archive decodes class by class: the first 1,000 training indices are all airplanes. Taking the
    # first `train_size` of a random split's sorted indices (the old rule) gave a subset of one or two classes.
    labels = torch.arange(10).repeat_interleave(500)  # 5,000 images, stored class by class
    train, valid, pool = split_indices(labels, valid_size=500, split_seed=0, train_size=1000, pool_size=2000)
    for part, size in ((train, 1000), (valid, 500), (pool, 2000)):
        assert torch.equal(torch.bincount(labels[part], minlength=10), torch.full((10,), size // 10))
    assert len(set(train.tolist()) | set(valid.tolist()) | set(pool.tolist())) == 3500  # disjoint


def test_class_quotas_keep_an_unbalanced_sets_proportions():
    counts = torch.tensor([500, 300, 200])
    assert class_quotas(counts, 10).tolist() == [5, 3, 2]
    assert class_quotas(counts, 7).tolist() == [4, 2, 1]  # 3.5, 2.1, 1.4: the largest remainder gets the seventh
    assert class_quotas(torch.tensor([1, 1, 1]), 2).tolist() == [1, 1, 0]  # a tie goes to the lower class
    # a class with less room left than its share gives the rest to the others
    assert class_quotas(torch.tensor([5, 5]), 6, capacity=torch.tensor([1, 5])).tolist() == [1, 5]
    with pytest.raises(ConfigError, match="cannot draw 7"):
        class_quotas(torch.tensor([5, 5]), 7, capacity=torch.tensor([1, 5]))
    labels = torch.cat([torch.full((count,), label) for label, count in enumerate(counts.tolist())])
    train, _, _ = split_indices(labels, valid_size=100, train_size=70)
    assert torch.bincount(labels[train]).tolist() == [35, 21, 14]


def test_the_pool_is_shared_by_every_training_size_and_never_trained_on():
    labels = torch.randint(0, 10, (3000,), generator=torch.Generator().manual_seed(0))
    small = split_indices(labels, 200, split_seed=0, train_size=300, pool_size=1000)
    large = split_indices(labels, 200, split_seed=0, train_size=1500, pool_size=1000)
    assert torch.equal(small.pool, large.pool) and torch.equal(small.valid, large.valid)
    assert set(small.train.tolist()) <= set(large.train.tolist())  # a smaller subset is nested in a larger one
    assert set(large.pool.tolist()).isdisjoint(large.train.tolist() + large.valid.tolist())
    everything = split_indices(labels, 200, split_seed=0, pool_size=1000)  # train_size None: all but valid and pool
    assert len(everything.train) == 1800 and torch.equal(everything.pool, small.pool)


def test_pad_crop_flip_is_a_window_of_the_padded_image():
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (64, 3, 8, 8), dtype=torch.uint8)
    out = pad_crop_flip(images, 2, True, generator)
    assert out.shape == images.shape and out.dtype == torch.uint8
    padded = torch.nn.functional.pad(images, (2, 2, 2, 2))
    flips = 0
    for index in range(len(images)):
        windows = [padded[index, :, y:y + 8, x:x + 8] for y in range(5) for x in range(5)]
        plain = any(torch.equal(out[index], window) for window in windows)
        mirrored = any(torch.equal(out[index], window.flip(-1)) for window in windows)
        assert plain or mirrored
        flips += mirrored and not plain
    assert 16 < flips < 48  # about half the batch is flipped
    assert torch.equal(pad_crop_flip(images, 0, False, generator), images)


def test_loader_is_deterministic_per_epoch_and_normalised():
    images = torch.randint(0, 256, (300, 1, 28, 28), dtype=torch.uint8)
    labels = torch.arange(300) % 10
    mean, std = channel_stats(images)
    assert mean.item() == pytest.approx(images.double().mean().item(), rel=1e-5)

    def epoch_batches(loader, epoch):
        loader.epoch = epoch
        return [(x.clone(), y.clone()) for x, y in loader]

    loader = InMemoryLoader(images, labels, 64, mean, std, shuffle=True, augment=True, drop_last=True, seed=5)
    assert len(loader) == 4
    first, again, second = epoch_batches(loader, 0), epoch_batches(loader, 0), epoch_batches(loader, 1)
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(first, again))
    assert not torch.equal(first[0][1], second[0][1])
    plain = InMemoryLoader(images, labels, 64, mean, std)
    batches = list(plain)
    assert [len(y) for _, y in batches] == [64, 64, 64, 64, 44]
    everything = torch.cat([x for x, _ in batches])
    assert everything.mean().item() == pytest.approx(0, abs=1e-4) and everything.std().item() == pytest.approx(1, abs=1e-3)
    assert torch.equal(torch.cat([y for _, y in batches]), labels)


def test_dataloaders_hold_out_validation_and_keep_test(fashion_mnist_available):
    dataset = load_dataset("fashion-mnist")
    dls = make_dataloaders(dataset, batch_size=128, valid_size=5000, split_seed=0)
    assert (dls.train.n, dls.valid.n, dls.test.n) == (55_000, 5_000, 10_000)
    assert torch.equal(dls.test.labels, dataset.test_labels)
    assert dls.num_classes == 10 and dls.in_channels == 1
    x, y = next(iter(dls.train))
    assert x.shape == (128, 1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.int64


def test_unknown_dataset_lists_the_valid_ones():
    with pytest.raises(ConfigError, match="cifar10, cifar10-jpeg, cifar100, fashion-mnist"):
        load_dataset("mnist")


def test_dataset_shapes_match_the_loaded_data(fashion_mnist_available):
    from bannb.data import DATASET_SHAPES, DATASETS, dataset_shape, load_dataset
    assert set(DATASET_SHAPES) == set(DATASETS)
    data = load_dataset("fashion-mnist")
    assert dataset_shape("fashion-mnist") == (tuple(data.image_shape), data.num_classes)


def test_test_images_are_the_runs_test_set_in_its_order(fashion_mnist_available):
    from bannb.data import test_indices
    from bannb.study.experiments import test_images
    from tests.conftest import smoke_config
    assert torch.equal(test_indices(5), torch.arange(5))
    subset = test_indices(10_000, 1000, split_seed=0)
    assert len(subset) == 1000 and torch.equal(subset, subset.sort().values) and len(set(subset.tolist())) == 1000
    config = smoke_config()  # a seeded test subset
    dataset = load_dataset(config.dataset)
    dls = make_dataloaders(dataset, config.batch_size, config.valid_size, config.split_seed, config.train_size,
                           config.test_size, augment=False)
    images = test_images(config)
    assert len(images) == config.test_size == len(dls.test.labels)
    index = test_indices(len(dataset.test_images), config.test_size, config.split_seed)
    assert torch.equal(dataset.test_labels[index], dls.test.labels)  # the order of Run.test_labels()
    assert torch.equal(images, dataset.test_images[index]) and images.dtype == torch.uint8


def test_a_split_with_a_pool_and_every_other_image_for_training_keeps_its_parts_apart_and_sorted():
    """`train_size` None: the training split takes every image the validation split and the pool leave; no image is
    in two parts, and each part is sorted (the batch order, hence the committed runs' reproduction, depends on it)."""
    labels = torch.arange(1000) % 10
    train, valid, pool = split_indices(labels, 100, split_seed=3, pool_size=200)
    assert (len(train), len(valid), len(pool)) == (700, 100, 200)
    assert set(pool.tolist()).isdisjoint(train.tolist()) and set(pool.tolist()).isdisjoint(valid.tolist())
    assert sorted(train.tolist() + valid.tolist() + pool.tolist()) == list(range(1000))
    for part in (train, valid, pool):
        assert part.tolist() == sorted(part.tolist())
