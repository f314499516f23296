"""The run store's repairs (issue 20): a malformed done.json, two processes asking for one run, a full disk, the
temporaries a killed process leaves, and what `evaluate` says of a run that is not finished."""
import errno
import itertools
import json
import os
import time

import pytest

from bannb.cli import main
from bannb.errors import BannbError
from bannb.runs import lifecycle
from bannb.runs import store
from bannb.runs.lifecycle import restore_weights
from bannb.runs.store import (
    CHECKPOINT,
    DONE,
    METRICS,
    PREDICTIONS,
    WEIGHTS,
    DiskFull,
    Run,
    finished_problem,
    weights_problem,
)
from tests.conftest import comparable, forked, only_run, smoke_config

TIMEOUT = 120  # seconds for one forked process: a safety net for a hung one
quiet = lambda *_: None  # noqa: E731


def tiny(**overrides):
    return smoke_config(**dict(dict(train_size=128, valid_size=64, test_size=96, epochs=1, batch_size=64), **overrides))


# ---------------------------------------------------------------- a malformed done.json

MALFORMED = [
    ("[]", "its done.json is malformed (not an object with a \"sha256\" object of file names and checksums)"),
    ('{"sha256": null}', "its done.json is malformed (not an object with a \"sha256\" object of file names and "
                         "checksums)"),
    ('{"sha256": {"config.json": 1}}', "its done.json is malformed (not an object with a \"sha256\" object of file "
                                       "names and checksums)"),
    ('{"sha256": {"../../elsewhere": "0"}}', "its done.json lists files that are no part of a run's result "
                                             "('../../elsewhere')"),
    ("{not json", "its done.json is unreadable (JSONDecodeError: Expecting property name enclosed in double quotes: "
                  "line 1 column 2 (char 1))"),
]


def test_a_malformed_done_json_is_an_unfinished_run_that_train_trains_again(tmp_path, capsys, one_thread,
                                                                             fashion_mnist_available):
    run = lifecycle.train(tiny(), tmp_path, progress=False, log=quiet)
    original = comparable(run.path)
    for content, problem in MALFORMED:
        (run.path / DONE).write_text(content)
        assert finished_problem(run.path) == problem
        assert weights_problem(run.path) == f"it is not a finished run ({problem})"
        # evaluate names the run itself as unfinished or corrupted, in one line, with a non-zero exit
        assert main(["evaluate", run.run_id, "--runs-dir", str(tmp_path)]) == 2
        error = capsys.readouterr().err
        assert error == (f"error: run {run.path} is not a finished run: {problem}; it is unfinished or corrupted: "
                         f"run the command that trained it again (it resumes an interrupted run, retrains a "
                         f"corrupted one)\n")
        # train trains it again, as any unfinished run, to the same result
        messages = []
        again = lifecycle.train(tiny(), tmp_path, progress=False, log=messages.append)
        assert messages == [f"run {run.run_id}: not finished ({problem}); training it"]
        assert finished_problem(again.path) is None and comparable(again.path) == original
    (run.path / DONE).write_bytes(b"\xff\xfe\x00")
    assert finished_problem(run.path).startswith("its done.json is unreadable (UnicodeDecodeError: ")


def test_evaluate_of_an_unfinished_or_corrupted_run_says_so(tmp_path, capsys, one_thread, fashion_mnist_available):
    run = lifecycle.train(tiny(), tmp_path, progress=False, log=quiet)
    (run.path / WEIGHTS).write_bytes(b"not the weights")
    for problem in ("model.pt does not match the checksum in done.json",
                    "it has no done.json marker (it was interrupted or is still training)"):
        assert main(["evaluate", run.run_id, "--runs-dir", str(tmp_path)]) == 2
        error = capsys.readouterr().err
        assert error.startswith(f"error: run {run.path} is not a finished run: {problem}; it is unfinished or "
                                f"corrupted: run the command that trained it again")
        assert "teacher run" not in error and error.count("\n") == 1
        (run.path / DONE).unlink(missing_ok=True)  # next: no marker at all


# ---------------------------------------------------------------- two processes, one run

def test_a_second_process_waits_for_the_first_and_reuses_its_run(tmp_path, one_thread, fashion_mnist_available):
    config, runs_dir = tiny(epochs=2), tmp_path / "runs"
    writes, waiting = tmp_path / "writes.log", tmp_path / "second-is-waiting"

    def train(name):
        def hook(path):
            with open(writes, "a") as f:
                f.write(f"{name} {path.name}\n")
            if name == "first" and path.name == CHECKPOINT:  # the first holds the run until the second waits for it
                deadline = time.monotonic() + TIMEOUT
                while not waiting.exists() and time.monotonic() < deadline:
                    time.sleep(0.01)

        def log(message):
            with open(tmp_path / f"{name}.log", "a") as f:
                f.write(message + "\n")
            if "waiting" in message:
                waiting.touch()

        store._after_write = hook
        run = lifecycle.train(config, runs_dir, progress=False, log=log)
        (tmp_path / f"{name}.json").write_text(json.dumps(dict(run_id=run.run_id, test_accuracy=run.test_accuracy)))

    first = forked(train, "first")
    deadline = time.monotonic() + TIMEOUT
    while not (writes.exists() and "first config.json" in writes.read_text()):
        assert first.is_alive() and time.monotonic() < deadline
        time.sleep(0.01)
    second = forked(train, "second")
    for process in (first, second):
        process.join(TIMEOUT)
        assert process.exitcode == 0
    results = [json.loads((tmp_path / f"{name}.json").read_text()) for name in ("first", "second")]
    assert results[0] == results[1] and results[0]["run_id"] == config.run_id
    assert (tmp_path / "second.log").read_text() == (f"run {config.run_id}: another process is training it; waiting "
                                                      f"for it to finish\n")
    lines = writes.read_text().splitlines()
    assert not [line for line in lines if line.startswith("second")], "the second process wrote nothing"
    assert lines.count(f"first {METRICS}") == 3, "metrics.csv written by one process: after 2 epochs, then at the end"
    path = only_run(runs_dir)
    assert finished_problem(path) is None and sorted(p.name for p in runs_dir.iterdir()) == [config.run_id]


# ---------------------------------------------------------------- a full disk

def disk_full_at(monkeypatch, call: int) -> None:
    """Make the `call`-th fsync from now on (the store syncs each file it writes) fail as on a full disk."""
    calls, real = itertools.count(1), os.fsync

    def fsync(handle):
        if next(calls) == call:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(handle)

    monkeypatch.setattr(store.os, "fsync", fsync)


def test_an_atomic_write_to_a_full_disk_is_a_disk_full_error(tmp_path, monkeypatch):
    target = tmp_path / "final.json"
    store.atomic_write_json(target, {"test_accuracy": 0.9})
    disk_full_at(monkeypatch, 1)
    with pytest.raises(DiskFull) as raised:
        store.atomic_write_json(target, {"test_accuracy": 0.1})
    assert isinstance(raised.value, BannbError)
    assert str(raised.value) == (f"no space left on the disk that holds {tmp_path} (writing final.json: No space left "
                                 f"on device); free some space there, or give the runs another folder (--runs-dir or "
                                 f"$BANNB_RUNS), then run the same command again: the epochs already checkpointed "
                                 f"are kept")
    assert json.loads(target.read_text()) == {"test_accuracy": 0.9}
    assert [p.name for p in tmp_path.iterdir()] == ["final.json"], "no temporary file is left behind"
    # another failure is raised as it is
    monkeypatch.setattr(store.os, "fsync", lambda handle: (_ for _ in ()).throw(OSError(errno.EIO, "I/O error")))
    with pytest.raises(OSError, match="I/O error"):
        store.atomic_write_json(target, {})


def test_train_on_a_full_disk_says_so_in_one_line_then_resumes(tmp_path, monkeypatch, capsys, one_thread,
                                                                fashion_mnist_available):
    command = ["train", "--profile", "smoke", "--epochs", "2", "--train-size", "128", "--valid-size", "64",
               "--test-size", "96", "--batch-size", "64", "--precision", "fp32", "--device", "cpu", "--quiet",
               "--runs-dir", str(tmp_path)]
    disk_full_at(monkeypatch, 3)  # config.json, epoch 1's checkpoint, then its metrics.csv
    assert main(command) == 2
    error = capsys.readouterr().err
    path = only_run(tmp_path)
    assert error.startswith(f"error: no space left on the disk that holds {path} (writing metrics.csv: ")
    assert error.count("\n") == 1 and "Traceback" not in error
    assert sorted(p.name for p in path.iterdir()) == ["checkpoint.pt", "config.json"], "no temporary is left"
    monkeypatch.setattr(store.os, "fsync", os.fsync)  # space freed: the same command resumes after epoch 1
    assert main(command) == 0
    assert Run(path).final["resumed_from_epoch"] == 1 and finished_problem(path) is None


# ---------------------------------------------------------------- what a killed process leaves

def test_a_restore_cleans_what_a_killed_restore_left(tmp_path, one_thread, fashion_mnist_available):
    run = lifecycle.train(tiny(), tmp_path, progress=False, log=quiet)
    weights = (run.path / WEIGHTS).read_bytes()
    (run.path / WEIGHTS).unlink()  # the record, as committed; a restore killed while writing model.pt left:
    (run.path / "model.ptk1ll3d_x.tmp").write_bytes(weights[:100])
    assert weights_problem(run.path).startswith("only its record is here")
    restored = restore_weights(Run(run.path), tmp_path, log=quiet)
    assert (restored.path / WEIGHTS).read_bytes() == weights
    assert sorted(p.name for p in run.path.iterdir()) == sorted(["config.json", DONE, "final.json", METRICS, WEIGHTS,
                                                                 PREDICTIONS])
    assert [p.name for p in tmp_path.iterdir()] == [run.run_id], "no scratch folder (.restore) is left"
    # weights that done.json does not vouch for (the restore was killed before it rewrote done.json) are not trusted
    done = json.loads((run.path / DONE).read_text())
    del done["sha256"][WEIGHTS]
    (run.path / DONE).write_text(json.dumps(done))
    assert finished_problem(run.path) is None
    assert weights_problem(run.path) == "its done.json has no checksum for model.pt (a restore of its weights was " \
                                        "interrupted)"


def test_any_record_file_changed_after_done_json_makes_the_run_unfinished(tmp_path, one_thread,
                                                                          fashion_mnist_available):
    """done.json vouches for every file of the record, not only the weights: one changed by a byte is not trusted."""
    run = lifecycle.train(tiny(), tmp_path, progress=False, log=quiet)
    for name in ("final.json", METRICS, "config.json", PREDICTIONS):
        original = (run.path / name).read_bytes()
        (run.path / name).write_bytes(original + b" ")
        assert finished_problem(run.path) == f"{name} does not match the checksum in done.json"
        (run.path / name).write_bytes(original)
        assert finished_problem(run.path) is None
