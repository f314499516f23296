"""A kill at every write boundary of a run, found by the store's test hook (`bannb.runs.store._after_write`), not
by timing: whichever file write (or rename, or removal) a process dies after, the next call finishes the run as an
uninterrupted run ends, to the bit, and leaves no temporary file behind."""
import itertools
import json
import os
import signal
from pathlib import Path

import pytest
import torch

from bannb.runs import lifecycle
from bannb.lm.config import LMRunConfig
from bannb.runs import store
from bannb.runs.store import (
    CHECKPOINT,
    CONFIG,
    DONE,
    FINAL,
    METRICS,
    PREDICTIONS,
    TEMPORARY,
    WEIGHTS,
    finished_problem,
    read_metrics,
)
from tests.conftest import forked, only_run, smoke_config
from tests.test_lm import SMOKE, small_corpus  # noqa: F401  (small_corpus: a fixture)

TIMEOUT = 120  # seconds for one killed process: a safety net for a hung one
FILES = (CONFIG, METRICS, FINAL, WEIGHTS, PREDICTIONS, CHECKPOINT, DONE)
# the store's writes in a 2-epoch run, "~" for a temporary file written and synced but not yet renamed into place
EPOCH = ["checkpoint.pt~", "checkpoint.pt", "metrics.csv~", "metrics.csv"]
WRITES = ["config.json~", "config.json", *EPOCH, *EPOCH,
          "metrics.csv~", "metrics.csv", "model.pt~", "model.pt", "test_predictions.pt~", "test_predictions.pt",
          "final.json~", "final.json", "done.json~", "done.json", "checkpoint.pt"]  # the checkpoint's removal last
quiet = lambda *_: None  # noqa: E731


def label(path: Path) -> str:
    """The file a hooked path is (`name~` for its temporary)."""
    if path.name.endswith(TEMPORARY):
        return next(name for name in FILES if path.name.startswith(name)) + "~"
    return path.name


def writes_of(train, monkeypatch) -> tuple[object, list[str]]:
    """The run `train()` returns, and the store's writes on the way, in order."""
    written = []
    monkeypatch.setattr(store, "_after_write", lambda path: written.append(label(path)))
    run = train()
    monkeypatch.setattr(store, "_after_write", None)
    return run, written


def killed_after_write(n: int, train) -> None:
    """Run `train()` in a forked process that SIGKILLs itself just after the store's `n`-th write."""
    def kill_at_n():
        count = itertools.count(1)

        def hook(path):
            if next(count) == n:
                os.kill(os.getpid(), signal.SIGKILL)

        store._after_write = hook
        train()

    process = forked(kill_at_n)
    process.join(TIMEOUT)
    if process.exitcode is None:
        process.kill()
    assert process.exitcode == -signal.SIGKILL, f"not killed at write {n} (exit code {process.exitcode})"


def the_same_run(path: Path, reference: Path) -> None:
    """The weights' tensors, the test predictions' bytes, every metrics row but its seconds and the final metrics
    but their timings are the reference's."""
    weights, expected = (torch.load(p / WEIGHTS, weights_only=True) for p in (path, reference))
    assert weights.keys() == expected.keys() and all(torch.equal(weights[k], expected[k]) for k in expected)
    assert (path / PREDICTIONS).read_bytes() == (reference / PREDICTIONS).read_bytes()
    rows = [[{k: v for k, v in row.items() if k != "seconds"} for row in read_metrics(p / METRICS)]
            for p in (path, reference)]
    assert rows[0] == rows[1]
    finals = [json.loads((p / FINAL).read_text()) for p in (path, reference)]
    for final in finals:
        for key in ("train_seconds", "wall_seconds_this_process", "resumed_from_epoch"):
            final.pop(key)
    assert finals[0] == finals[1]


def kill_after_every_write(make_run, tmp_path, monkeypatch) -> None:
    """`make_run(runs_dir)` trains a 2-epoch run into `runs_dir`: killed after each of its writes in turn, then
    called again, it ends as the run never interrupted, with nothing stale left."""
    reference, writes = writes_of(lambda: make_run(tmp_path / "reference"), monkeypatch)
    assert writes == WRITES
    for n, written in enumerate(writes, 1):
        runs_dir = tmp_path / f"killed-{n}"
        killed_after_write(n, lambda: make_run(runs_dir))
        path = runs_dir / reference.run_id
        assert bool(list(path.glob(f"*{TEMPORARY}"))) == written.endswith("~"), f"killed after {written}"
        assert (finished_problem(path) is None) == (n >= writes.index(DONE) + 1), f"killed after {written}"
        run = make_run(runs_dir)
        the_same_run(run.path, reference.path)
        assert finished_problem(run.path) is None
        assert sorted(p.name for p in run.path.iterdir()) == sorted([CONFIG, METRICS, FINAL, WEIGHTS, PREDICTIONS,
                                                                     DONE]), f"killed after {written}"
        assert sorted(p.name for p in runs_dir.iterdir()) == [reference.run_id], "no lock file is left"


def test_a_kill_after_any_write_of_an_image_run(tmp_path, monkeypatch, one_thread, fashion_mnist_available):
    config = smoke_config(train_size=128, valid_size=64, test_size=96, epochs=2, batch_size=64)
    kill_after_every_write(lambda runs_dir: lifecycle.train(config, runs_dir, progress=False, log=quiet),
                           tmp_path, monkeypatch)


def test_a_kill_after_any_write_of_a_language_model_run(small_corpus, monkeypatch, one_thread):  # noqa: F811
    config = LMRunConfig(**dict(SMOKE, epochs=2))
    kill_after_every_write(lambda runs_dir: lifecycle.train(config, runs_dir, log=quiet), small_corpus / "runs",
                           monkeypatch)


# ---------------------------------------------------------------- a resume on other data

FIRST_CHECKPOINT = WRITES.index("checkpoint.pt") + 1  # the store's writes up to the first epoch's checkpoint


def shifted_fashion_mnist(root: Path) -> Path:
    """A $BANNB_DATA folder holding Fashion-MNIST under its own name, with every training label moved on by one
    class: other data that a run's id cannot tell apart from the real one."""
    import gzip

    from bannb.data.fashion_mnist import FOLDER, find_folder
    system, folder = find_folder(), root / FOLDER
    folder.mkdir(parents=True)
    for source in system.iterdir():
        if source.name.startswith("train-labels"):
            raw = bytearray(gzip.decompress(source.read_bytes()) if source.suffix == ".gz" else source.read_bytes())
            raw[8:] = bytes((label + 1) % 10 for label in raw[8:])  # after the IDX header's 8 bytes
            (folder / "train-labels-idx1-ubyte").write_bytes(bytes(raw))
        else:
            (folder / source.name).symlink_to(source)
    return root


def test_an_image_run_interrupted_on_one_dataset_is_refused_on_another(tmp_path, one_thread,
                                                                       fashion_mnist_available):
    """Killed after its first epoch's checkpoint, then asked again with other data under the same name (the
    training labels shifted, through $BANNB_DATA): the command refuses in one line, trains no epoch of the other
    data, and leaves the checkpoint of the first data as it was, to resume on that data."""
    import subprocess

    from bannb.cli import main
    from tests.conftest import bannb_command
    runs_dir = tmp_path / "runs"
    command = ["train", "--profile", "smoke", "--epochs", "2", "--train-size", "128", "--valid-size", "64",
               "--test-size", "96", "--batch-size", "64", "--precision", "fp32", "--quiet", "--runs-dir", str(runs_dir)]
    killed_after_write(FIRST_CHECKPOINT, lambda: main(command))
    path = only_run(runs_dir)  # (a killed process leaves its lock file beside it)
    checkpoint = (path / CHECKPOINT).read_bytes()
    other = dict(os.environ, BANNB_DATA=str(shifted_fashion_mnist(tmp_path / "other")))
    result = subprocess.run(bannb_command(*command), env=other, capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert f"run {path.name} was interrupted after epoch 1 of training on other data" in line
    assert "remove" in line and "BANNB_DATA" in line  # what to do, both ways
    assert (path / CHECKPOINT).read_bytes() == checkpoint and not (path / DONE).exists()
    assert not (path / FINAL).exists() and torch.load(path / CHECKPOINT, weights_only=False)["epoch"] == 1


def test_a_language_model_interrupted_on_one_corpus_is_refused_on_another(small_corpus, one_thread):  # noqa: F811
    """The same for a language model whose corpus changes under it between the kill and the resume."""
    from bannb.errors import DataError
    from tests.test_lm import write_fortunes
    config = LMRunConfig(**dict(SMOKE, epochs=2))
    runs_dir = small_corpus / "runs"
    killed_after_write(FIRST_CHECKPOINT, lambda: lifecycle.train(config, runs_dir, log=quiet))
    path = runs_dir / config.run_id
    checkpoint = (path / CHECKPOINT).read_bytes()
    corpus = small_corpus / "data" / "fortunes" / "cookie"
    write_fortunes(corpus.parent, {"cookie": list(reversed(corpus.read_text().split("\n%\n")[:-1]))})
    with pytest.raises(DataError, match=f"run {path.name} was interrupted after epoch 1 of training on other data"):
        lifecycle.train(config, runs_dir, log=quiet)
    assert (path / CHECKPOINT).read_bytes() == checkpoint and not (path / DONE).exists()


def test_a_checkpoint_that_does_not_name_its_data_starts_over(tmp_path, one_thread, fashion_mnist_available):
    """A checkpoint without the data's fingerprint (written before checkpoints carried one) cannot be vouched for:
    the run starts over, says so, and ends as the uninterrupted run."""
    config = smoke_config(train_size=128, valid_size=64, test_size=96, epochs=2, batch_size=64)
    reference = lifecycle.train(config, tmp_path / "reference", log=quiet)
    runs_dir = tmp_path / "killed"
    killed_after_write(FIRST_CHECKPOINT, lambda: lifecycle.train(config, runs_dir, log=quiet))
    path = runs_dir / config.run_id
    checkpoint = torch.load(path / CHECKPOINT, weights_only=False)
    del checkpoint[store.CHECKPOINT_DATA]
    torch.save(checkpoint, path / CHECKPOINT)
    messages = []
    run = lifecycle.train(config, runs_dir, log=messages.append)
    assert any("does not say which data it was trained on; starting over" in m for m in messages)
    assert run.final["resumed_from_epoch"] is None
    the_same_run(run.path, reference.path)
