"""A kill at every write boundary of a run, found by the store's test hook (`bannb.runs.store._after_write`), not
by timing: whichever file write (or rename, or removal) a process dies after, the next call finishes the run as an
uninterrupted run ends, to the bit, and leaves no temporary file behind."""
import itertools
import json
import os
import signal
from pathlib import Path

import torch

from bannb.image.training import train_run
from bannb.lm.config import LMRunConfig
from bannb.lm.training import train_lm_run
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
from tests.conftest import forked, smoke_config
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
    kill_after_every_write(lambda runs_dir: train_run(config, runs_dir, progress=False, log=quiet),
                           tmp_path, monkeypatch)


def test_a_kill_after_any_write_of_a_language_model_run(small_corpus, monkeypatch, one_thread):  # noqa: F811
    config = LMRunConfig(**dict(SMOKE, epochs=2))
    kill_after_every_write(lambda runs_dir: train_lm_run(config, runs_dir, log=quiet), small_corpus / "runs",
                           monkeypatch)
