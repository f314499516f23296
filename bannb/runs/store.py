"""The run store: every trained model is a directory with its config, per-epoch metrics, final metrics and weights.

A run's id ends in a hash of its config, so asking again for a finished run loads it instead of
retraining. Every file is written atomically (temporary file, then rename), and a run counts as
finished only once `done.json`, written last, is present and the checksums it lists match.

A run has two parts. Its *record* (config, metrics, final metrics and its compact test-set predictions: a
few hundred kB) is everything the book reads, and is committed with the book. Its *weights* (`model.pt`) are
needed only to teach a student, and are never committed: a fresh clone has the records alone. A record
without weights is a finished run; `weights_problem` says whether the weights are there, and
`bannb.runs.lifecycle.restore_weights` trains a recorded run again to get them back.

One `Run` serves every kind of run (`bannb.runs.kinds`): its config is loaded as its kind's, and its network is
built by its kind.

One process at a time trains a run: `claim_run` holds a lock file beside its folder (`<run id>.lock`) for the whole
of its training, so that a second process asking for the same run waits, then loads what the first finished. A
full disk is one `DiskFull` error naming the folder, never a traceback or a half-written file.
"""
from __future__ import annotations

import csv
import errno
import fcntl
import hashlib
import io
import json
import os
import tempfile
from contextlib import contextmanager, nullcontext
from pathlib import Path

import torch

from bannb.data import data_mismatch
from bannb.errors import BannbError, ConfigError, DataError
from bannb.paths import default_runs_dir  # noqa: F401  (the store's default location)
from bannb.runs.kinds import config_from_dict, kind_of

CONFIG, METRICS, FINAL, WEIGHTS, PREDICTIONS, CHECKPOINT, DONE = (
    "config.json", "metrics.csv", "final.json", "model.pt", "test_predictions.pt", "checkpoint.pt", "done.json")
CHECKPOINT_DATA = "data"  # a checkpoint's key for the fingerprint of the data its epochs were trained on
RECORD_FILES = (CONFIG, METRICS, FINAL, PREDICTIONS)  # what the book reads: committed with it
RESULT_FILES = (*RECORD_FILES, WEIGHTS)  # what done.json vouches for
# an image run's (a student's also its teacher's targets, `teacher_mass_outside_top`, `teacher_entropy`; empty for
# a teacher); a kind with others passes its own
METRIC_COLUMNS = ["epoch", "train_loss", "valid_loss", "valid_accuracy", "train_probe_loss", "train_probe_accuracy",
                  "teacher_mass_outside_top", "teacher_entropy", "lr", "train_samples", "seconds"]
COUNT_COLUMNS = ("epoch", "train_samples", "train_tokens")  # read back as integers
TEMPORARY = ".tmp"  # the suffix of a file being written (`atomic_write_bytes`); one left in a run folder is stale
LOCK = ".lock"  # beside a run's folder: `<run id>.lock`, held while a process trains the run (`claim_run`)

# A test hook: None, or a callable given the path of every file the store has just written, removed or renamed
# into place. `atomic_write_bytes` calls it twice, once the temporary file is written and synced (with the
# temporary's path) and once it has replaced its target (with the target's path); `remove_file` once the file is
# gone. tests/test_kills.py kills the process at each of these points in turn.
_after_write = None


class DiskFull(BannbError):
    """The disk that holds the runs is full (or the user's quota is spent)."""


def _written(path: Path) -> None:
    if _after_write is not None:
        _after_write(Path(path))


def _disk_full(err: OSError, path: Path) -> DiskFull | None:
    """The one-line error for a write to `path` that failed for lack of space, or None for another failure."""
    if err.errno not in (errno.ENOSPC, errno.EDQUOT):
        return None
    return DiskFull(f"no space left on the disk that holds {path.parent} (writing {path.name}: {err.strerror}); "
                    f"free some space there, or give the runs another folder (--runs-dir or $BANNB_RUNS), then run "
                    f"the same command again: the epochs already checkpointed are kept")


# ---------------------------------------------------------------- files

def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file in the same folder, renamed over `path` once synced: a
    reader sees the old file or the new one, never a part; a failure removes the temporary. A full disk raises
    `DiskFull`."""
    temporary = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=TEMPORARY)
        with os.fdopen(handle, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(temporary, 0o644)  # mkstemp's 0600 would hide runs from other users of a shared machine
        _written(temporary)
        os.replace(temporary, path)
    except BaseException as err:
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)
        full = _disk_full(err, path) if isinstance(err, OSError) else None
        if full is not None:
            raise full from err
        raise
    _written(path)


def remove_file(path: Path) -> None:
    """Remove `path` if it is there (the checkpoint of a finished run, say)."""
    path.unlink(missing_ok=True)
    _written(path)


def remove_temporaries(path: Path) -> list[str]:
    """Remove the temporary files a killed process left in the run folder `path` (call it only while holding the
    run, `claim_run`: no other process writes there then); the names removed."""
    stale = sorted(p for p in path.glob(f"*{TEMPORARY}") if p.is_file()) if path.is_dir() else []
    for temporary in stale:
        temporary.unlink(missing_ok=True)
    return [p.name for p in stale]


def atomic_write_json(path: Path, value) -> None:
    atomic_write_bytes(path, (json.dumps(value, indent=2, sort_keys=True) + "\n").encode())


def atomic_torch_save(path: Path, value) -> None:
    buffer = io.BytesIO()
    torch.save(value, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_metrics(path: Path, rows: list[dict], columns=METRIC_COLUMNS) -> None:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_bytes(path, text.getvalue().encode())


def read_metrics(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return [{k: (int(v) if k in COUNT_COLUMNS else float(v)) for k, v in row.items() if v != ""}
                for row in csv.DictReader(f)]


def mark_done(path: Path) -> None:
    """Write done.json, the checksums of the run's result files (of its record alone if it has no weights): from
    now on the run counts as finished."""
    atomic_write_json(path / DONE, dict(sha256={name: sha256(path / name) for name in RESULT_FILES
                                                if name in RECORD_FILES or (path / name).exists()}))


# ---------------------------------------------------------------- the run directory

class Run:
    """A finished run on disk, of any kind: its config (loaded as its kind's), its final metrics, its record."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.config = config_from_dict(json.loads((self.path / CONFIG).read_text()))
        self.final = json.loads((self.path / FINAL).read_text())

    @property
    def kind(self):
        return kind_of(self.config)

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def has_weights(self) -> bool:
        return weights_problem(self.path) is None

    def predictions(self) -> dict:
        """The compact test-set predictions as stored (`test_predictions.pt`), read once."""
        if not hasattr(self, "_cached_predictions"):
            self._cached_predictions = torch.load(self.path / PREDICTIONS, weights_only=True)
        return self._cached_predictions

    def metrics(self):
        import pandas as pd  # lazily: the store is used where pandas is not
        return pd.read_csv(self.path / METRICS)

    def load_model(self, device="cpu") -> torch.nn.Module:
        problem = weights_problem(self.path)
        if problem is not None:
            raise BannbError(f"run {self.run_id} has no usable weights: {problem}; "
                             f"`bannb.runs.lifecycle.restore_weights` trains it again for them")
        model = self.kind.build_model(self)
        try:
            model.load_state_dict(torch.load(self.path / WEIGHTS, map_location=device, weights_only=True))
        except (RuntimeError, OSError, EOFError, KeyError) as err:
            first_line = str(err).strip().splitlines()[0]
            raise BannbError(f"checkpoint {self.path / WEIGHTS} does not fit {self.config.arch} on "
                             f"{self.config.data_name} ({first_line}); retrain the run (delete {self.path})") from err
        return model.to(device).eval()

    # ------------------------------------------------ an image classifier's results

    @property
    def test_accuracy(self) -> float:
        return self.final["test_accuracy"]

    def test_logits(self) -> torch.Tensor:
        """The last epoch's test-set logits (stored in float16, returned as float32)."""
        return self.predictions()["logits"].float()

    def test_labels(self) -> torch.Tensor:
        return self.predictions()["labels"].long()

    @property
    def has_pool(self) -> bool:
        """Whether the run was evaluated on a held-out pool (`RunConfig.pool_size`)."""
        return "pool_classes" in self.predictions()

    def pool_classes(self) -> torch.Tensor:
        """The top class of the last epoch's model on every image of the held-out pool, in the pool's order."""
        return self.predictions()["pool_classes"].long()

    def pool_labels(self) -> torch.Tensor:
        return self.predictions()["pool_labels"].long()

    # ------------------------------------------------ a language model's results

    @property
    def test_ppl(self) -> float:
        return self.final["test_ppl"]

    @property
    def valid_ppl(self) -> float:
        return self.final["valid_ppl"]

    def test_log_probs(self) -> dict:
        """`log_probs` (fp16) and `targets` of every test token, as (streams, length) tensors."""
        return self.predictions()

    def __repr__(self):
        return f"Run({self.run_id}, {self.kind.describe(self.final)})"


def finished_problem(path: Path) -> str | None:
    """Why `path` is not a trustworthy finished run, or None if it is one."""
    done = path / DONE
    if not done.exists():
        return "it has no done.json marker (it was interrupted or is still training)"
    marker, problem = read_json(done)
    if problem is not None:
        return problem
    checksums = marker.get("sha256") if isinstance(marker, dict) else None
    if not isinstance(checksums, dict) or not all(isinstance(name, str) and isinstance(digest, str)
                                                  for name, digest in checksums.items()):
        return "its done.json is malformed (not an object with a \"sha256\" object of file names and checksums)"
    strangers = sorted(name for name in checksums if name not in RESULT_FILES)
    if strangers:
        return f"its done.json lists files that are no part of a run's result ({', '.join(map(repr, strangers))})"
    unvouched = [name for name in RECORD_FILES if name not in checksums]
    if unvouched:
        return f"its done.json has no checksum for {', '.join(unvouched)} (written by an older bannb)"
    for name, expected in checksums.items():
        if not (path / name).exists():
            if name == WEIGHTS:  # a record without its weights (as committed): finished, and readable
                continue
            return f"{name} is missing"
        if sha256(path / name) != expected:
            return f"{name} does not match the checksum in done.json"
    for name in (CONFIG, FINAL):  # vouched for, but not what a run writes there (written by hand, say)
        problem = json_object_problem(path / name)
        if problem is not None:
            return problem
    return None


def read_json(path: Path) -> tuple[object, str | None]:
    """(the JSON value of a run's file at `path`, None), or (None, why it cannot be read)."""
    try:
        return json.loads(path.read_text()), None
    except (ValueError, OSError) as err:  # not JSON, not UTF-8 (both ValueErrors), or not a readable file
        return None, f"its {path.name} is unreadable ({type(err).__name__}: {' '.join(str(err).split())})"


def json_object_problem(path: Path) -> str | None:
    """Why the file at `path` is not a JSON object (a run's config.json, its final.json), or None if it is one."""
    value, problem = read_json(path)
    if problem is not None:
        return problem
    if not isinstance(value, dict):
        return f"its {path.name} is not a JSON object (it holds a {type(value).__name__})"
    return None


def finished_run(path: Path) -> Run | None:
    """The finished run at `path`, or None if it is not one (`finished_problem`). What a process killed after
    writing done.json left goes: its checkpoint (no process writes one into a finished run, so removing it needs no
    lock) and its lock file, unless a process holds it."""
    if finished_problem(path) is not None:
        return None
    if (path / CHECKPOINT).exists():
        remove_file(path / CHECKPOINT)
    _remove_stale_lock(path)
    return check_data(Run(path))


def check_data(run: Run) -> Run:
    """`run`, if it was trained on the data its config reads here now (`data.data_mismatch`: the fingerprint in
    its final.json, or the data of record for the book's records); a run of the same id on other data is never
    reused as this one, nor overwritten by a retraining."""
    problem = data_mismatch(run.config, run.final)
    if problem:
        raise DataError(f"run {run.run_id}: {problem}; point $BANNB_DATA at the data it was trained on, or train "
                        f"into another runs folder ($BANNB_RUNS)")
    return run


def weights_problem(path: Path) -> str | None:
    """Why the finished run at `path` has no trustworthy weights, or None if it has them."""
    problem = finished_problem(path)
    if problem is not None:
        return f"it is not a finished run ({problem})"
    if not (path / WEIGHTS).exists():
        return "only its record is here (config, metrics and predictions, as committed with the book), not model.pt"
    if WEIGHTS not in json.loads((path / DONE).read_text())["sha256"]:
        return "its done.json has no checksum for model.pt (a restore of its weights was interrupted)"
    return None


def smallest_int(values: torch.Tensor) -> torch.Tensor:
    return values.detach().to(torch.uint8 if int(values.max()) < 256 else torch.int64).cpu()


def compact_predictions(logits: torch.Tensor, labels: torch.Tensor, pool_logits: torch.Tensor | None = None,
                        pool_labels: torch.Tensor | None = None) -> dict:
    """A run's predictions as stored (`test_predictions.pt`): the test set's float16 logits (about 2 bytes a class
    an image; every reader, the training machine included, reads the same rounded values) and labels in the
    smallest integer type; with a held-out pool, only its top classes and labels (a byte an image each: the pool
    is there to count errors on)."""
    stored = dict(logits=logits.detach().to(torch.float16).cpu(), labels=smallest_int(labels))
    if pool_logits is not None:
        stored.update(pool_classes=smallest_int(pool_logits.argmax(dim=1)), pool_labels=smallest_int(pool_labels))
    return stored


def resolve_run(name: str, runs_dir: Path, role: str = "run") -> Run:
    """A finished run given by run id or run directory; `role` says what it is for ("teacher run" names a
    student's teacher), so that the message says which run is missing or unfinished and what to do."""
    path = Path(name) if Path(name).is_dir() else runs_dir / name
    if not path.is_dir():
        raise ConfigError(f"{role} {name!r} not found (looked for {path}); train it first, "
                          f"or give the directory of a finished run")
    problem = finished_problem(path)
    if problem:
        raise ConfigError(f"{role} {path} is not a finished run: {problem}; it is unfinished or corrupted: run the "
                          f"command that trained it again (it resumes an interrupted run, retrains a corrupted one)")
    return Run(path)


def resolve_teacher(teacher: str | None, runs_dir: Path) -> Run | None:
    """A teacher given by run id or run directory; it must be a finished run."""
    if teacher is None:
        return None
    return check_data(resolve_run(teacher, runs_dir, "teacher run"))


# ---------------------------------------------------------------- one process at a time

@contextmanager
def run_lock(path: Path, log=print):
    """Hold the run at `path` for this process: an exclusive `flock` on `<path>.lock`, beside the folder (so that
    the folder itself may be renamed or replaced meanwhile), released at the end, or by the kernel if the process
    dies. A second process waits here until the first is done; the file is removed on release, and a waiter that
    finds its file removed takes the new one."""
    lock, waited = path.with_name(path.name + LOCK), False
    created = _missing_folders(lock.parent)  # removed again if the command fails: a refusal leaves no runs folder
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
        while True:
            handle = os.open(lock, os.O_RDONLY | os.O_CREAT, 0o644)
            try:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    if not waited:
                        log(f"run {path.name}: another process is training it; waiting for it to finish")
                    waited = True
                    fcntl.flock(handle, fcntl.LOCK_EX)
                try:
                    current = os.stat(lock).st_ino == os.fstat(handle).st_ino
                except FileNotFoundError:
                    current = False
            except BaseException:
                os.close(handle)
                raise
            if current:
                break
            os.close(handle)  # the process it waited for removed that file: take the new one
    except OSError as err:
        _remove_empty(created)
        raise (_disk_full(err, lock) or _unwritable(err, lock.parent)) from err
    failed = True
    try:
        yield
        failed = False
    finally:
        lock.unlink(missing_ok=True)  # before the release: a waiter then sees its file gone and takes a new one
        os.close(handle)
        if failed:
            _remove_empty(created)


def _unwritable(err: OSError, folder: Path) -> ConfigError:
    """The one-line error for a runs folder this process cannot create its lock file in."""
    what = "is a file, not a folder" if folder.is_file() else f"cannot be written in ({err.strerror})"
    return ConfigError(f"the runs folder {folder} {what}; give the runs a folder this user can write in "
                       f"(--runs-dir or $BANNB_RUNS)")


def _missing_folders(folder: Path) -> list[Path]:
    """`folder` and those of its parents that do not exist yet, the deepest first."""
    missing = []
    while not folder.exists() and not folder.is_symlink() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def _remove_empty(folders: list[Path]) -> None:
    """Remove `folders` (the deepest first) while they are empty: what a failed command created and left unused."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:  # not empty (another process's runs, or this one's), or already gone
            return


def _remove_stale_lock(path: Path) -> None:
    """Remove the lock file of the run at `path` if no process holds it (a killed process's)."""
    lock = path.with_name(path.name + LOCK)
    if not lock.exists():
        return
    try:
        handle = os.open(lock, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if os.stat(lock).st_ino == os.fstat(handle).st_ino:  # still the file at that name: no one else has it
            lock.unlink()
    except (BlockingIOError, FileNotFoundError):
        pass  # a process holds it (or has just removed it): its own to remove
    finally:
        os.close(handle)


@contextmanager
def claim_run(path: Path, log=print, lock: bool = True):
    """Hold the run at `path` (`run_lock`) and say whether it must be trained: yields None if it is a finished run
    (another process finished it while this one waited), else why not (`finished_problem`). An unfinished run's
    stale files go first: the temporaries a killed process left, and a done.json that no longer vouches for it.
    `lock=False` (the other processes of a data-parallel run, whose process 0 holds it) only checks."""
    with run_lock(path, log) if lock else nullcontext():
        problem = finished_problem(path)
        if problem is not None and lock and path.is_dir():
            remove_temporaries(path)
            if (path / DONE).exists():
                remove_file(path / DONE)
        yield problem

