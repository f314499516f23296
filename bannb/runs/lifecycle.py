"""A run's lifecycle, written once for every kind of run (`bannb.runs.kinds`: image classifiers, language models).

    train(config)  ->  the finished `Run`

1. **Reuse**: a finished run (`store.finished_run`) is only read, never trained again.
2. **Lock**: one process at a time trains a run (`store.claim_run`); a second waits, then reads what the first finished.
3. **Restore the teacher**: a student's teacher recorded without its weights (as committed) is trained again for them
   (`restore_weights`, which trains through this same lifecycle into a scratch folder).
4. **Prepare**: the kind draws the run's data, model, loss and teacher network, in a fixed order from the run's seed
   (`RunKind.prepare` gives the kind's `Training`).
5. **Write the config**: the run folder's `config.json` (an existing one must be the config hashed into the name).
6. **Resume**: the interrupted earlier process's last checkpoint, if any: its weights, optimiser, random states, the
   state of every stateful callback and its metrics rows. A checkpoint carries the fingerprint of the data it was
   trained on, and a resume on other data is refused: the finished record is never a mix of two datasets.
7. **Fit**: the kind's fastai `Learner`, with `RunRecorder` checkpointing after every epoch.
8. **Write the result**: metrics, weights, compact predictions, final metrics, and `done.json` last.

A kind's `Training` (see `Training`) holds what differs: its data, model and callbacks, and what it measures at the
end. Nothing here imports a kind, or fastai at module level: reading records never needs either.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import time
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from bannb.data import data_fingerprint
from bannb.errors import DataError
from bannb.runs.kinds import kind_of
from bannb.runs.store import (
    CHECKPOINT,
    CHECKPOINT_DATA,
    CONFIG,
    FINAL,
    METRICS,
    PREDICTIONS,
    WEIGHTS,
    Run,
    atomic_torch_save,
    atomic_write_bytes,
    atomic_write_json,
    claim_run,
    default_runs_dir,
    finished_run,
    mark_done,
    read_json,
    read_metrics,
    remove_file,
    remove_temporaries,
    resolve_teacher,
    run_lock,
    sha256,
    weights_problem,
    write_metrics,
)

RESTORE_DIR = ".restore"  # under the runs folder: recorded runs being trained again for their weights


class Training(Protocol):
    """What a kind of run gives the lifecycle for one run being trained (`RunKind.prepare` returns it), once its
    data, model, loss and teacher network are drawn."""

    model: torch.nn.Module
    columns: list  # its metrics.csv columns
    states: dict  # name -> an object with state_dict/load_state_dict saved in every checkpoint (a loss, a schedule)

    def learner(self, recorder, progress: bool, callbacks):
        """The run's fastai Learner, with `recorder` (`runs.learner.RunRecorder`) and `callbacks` among its own."""

    def resume(self, epoch: int) -> None:
        """Put what the kind's data order depends on where the checkpoint after `epoch` left it."""

    def result(self, learn, rows: list[dict], start_epoch: int, wall_seconds: float) -> tuple[dict, dict, dict]:
        """(weights, compact predictions, final metrics) of the fitted run."""

    def synchronise(self) -> None:
        """Wait for the run's other processes (a data-parallel run's), once process 0 has written the result."""


# ---------------------------------------------------------------- the run folder before and after a fit


def write_config(path: Path, config, writes: bool = True, log=print) -> None:
    """The run's `config.json`. An existing one that is not the config hashed into the folder's name (unreadable,
    or another config: damaged or edited after the run began) is replaced by it, and said so: the folder's name
    says which config its run is, and its other files are checked on their own (`read_checkpoint`)."""
    stored = path / CONFIG
    if writes and stored.exists():
        value, problem = read_json(stored)
        if problem is None and value != json.loads(json.dumps(config.to_dict())):
            problem = f"its {CONFIG} is not the config hashed into the folder's name"
        if problem is not None:
            log(f"run {path.name}: {problem}; it is written again from the run's config")
    if writes:
        path.mkdir(parents=True, exist_ok=True)
        atomic_write_json(stored, config.to_dict())


CHECKPOINT_KEYS = frozenset({"epoch", "model", "opt", "rng"})  # what every checkpoint `RunRecorder` writes holds


def read_checkpoint(path: Path, device, fingerprint: str | None, log=print) -> tuple[dict | None, list[dict]]:
    """(the interrupted earlier process's last checkpoint, the metrics rows of its epochs), or (None, []).

    A checkpoint trained on other data than `fingerprint` (the data the run's config reads now) is refused: resuming
    it would finish a run whose epochs were trained on two datasets. One that records no fingerprint (written before
    checkpoints carried one) cannot be vouched for, and the run starts over. The rows travel inside the checkpoint;
    one written before they did keeps `metrics.csv`'s rows up to its epoch."""
    if not (path / CHECKPOINT).exists():
        return None, []
    try:
        checkpoint = torch.load(path / CHECKPOINT, map_location=device, weights_only=False)
    except Exception as err:  # a checkpoint cut off mid-write cannot exist (atomic), but a damaged disk can
        log(f"run {path.name}: checkpoint unreadable ({' '.join(str(err).split())}); starting over")
        return None, []
    missing = CHECKPOINT_KEYS - set(checkpoint) if isinstance(checkpoint, dict) else CHECKPOINT_KEYS
    if missing or not isinstance(checkpoint["epoch"], int):  # a pickle, but not one `RunRecorder` wrote
        log(f"run {path.name}: checkpoint unreadable (not a run's checkpoint: it lacks "
            f"{', '.join(sorted(missing)) or 'an integer epoch'}); starting over")
        return None, []
    trained_on = checkpoint.get(CHECKPOINT_DATA)
    if trained_on is None:
        log(f"run {path.name}: its checkpoint does not say which data it was trained on; starting over")
        return None, []
    if trained_on != fingerprint:
        raise DataError(f"run {path.name} was interrupted after epoch {checkpoint['epoch']} of training on other data "
                        f"(sha256 {trained_on}) than its config reads now ({fingerprint}); point $BANNB_DATA back at "
                        f"that data to resume it, or remove {path} to train it from scratch on this data")
    rows = checkpoint.get("rows")
    if rows is None:
        rows = [row for row in read_metrics(path / METRICS) if row["epoch"] <= checkpoint["epoch"]]
    return checkpoint, [dict(row) for row in rows]


def restore_random_states(checkpoint: dict) -> None:
    """The global random states a checkpoint holds (torch's, numpy's, Python's)."""
    states = checkpoint["rng"]
    torch.set_rng_state(states["torch"].cpu())
    np.random.set_state(states["numpy"])
    random.setstate(states["python"])


def write_result(path: Path, weights: dict, predictions: dict, final: dict, rows: list[dict], columns) -> None:
    """A finished run's files: every epoch's metrics, the weights, the test predictions, the final metrics, and
    `done.json` last (from then on the run counts as finished); the checkpoint goes."""
    write_metrics(path / METRICS, rows, columns)
    atomic_torch_save(path / WEIGHTS, weights)
    atomic_torch_save(path / PREDICTIONS, predictions)
    atomic_write_json(path / FINAL, final)
    mark_done(path)
    remove_file(path / CHECKPOINT)


# ---------------------------------------------------------------- the lifecycle


def train(config, runs_dir: Path | None = None, device: str | torch.device = "cpu", progress: bool = False,
          log=print, callbacks=(), path: Path | None = None) -> Run:
    """Train the run `config` describes, of whatever kind, or load it if it has already finished.

    An interrupted run resumes from its last completed epoch and ends as an uninterrupted run would. `callbacks`
    are extra fastai callbacks (logging, a test's interruption); they must not change what is trained, since they are
    not part of the run's config. `path` is where the run is written (by default `runs_dir / run_id`; teachers are
    always looked up in `runs_dir`)."""
    kind = kind_of(config)
    runs_dir = Path(runs_dir or default_runs_dir())
    path = Path(path or runs_dir / config.run_id)
    if (run := finished_run(path)) is not None:  # a finished run is only read: no lock
        return run
    main = kind.main_process()  # process 0 of a data-parallel run holds the run and writes it for all of them
    with claim_run(path, log, lock=main) as problem:
        if problem is None:  # another process finished it while this one waited
            return finished_run(path)
        if path.exists():
            log(f"run {config.run_id}: not finished ({problem}); training it")
        teacher = resolve_teacher(config.teacher, runs_dir)
        if teacher is not None:
            teacher = restore_weights(teacher, runs_dir, device, progress, log)
        return _fit(kind, config, teacher, path, device, progress, log, callbacks, main)


def _fit(kind, config, teacher: Run | None, path: Path, device, progress: bool, log, callbacks, main: bool) -> Run:
    """Steps 4-8 of the lifecycle for the run at `path`, which this process holds."""
    from bannb.runs.learner import RunRecorder  # lazily: fastai is heavy, and reading records never needs it

    device = torch.device(device)
    training = kind.prepare(config, teacher, device, log)
    write_config(path, config, writes=main, log=log)
    fingerprint = data_fingerprint(config)
    checkpoint, rows = read_checkpoint(path, device, fingerprint, log)
    start_epoch = checkpoint["epoch"] if checkpoint else 0
    recorder = RunRecorder(path, rows, training.columns, start_epoch, states=training.states, writes=main,
                           fingerprint=fingerprint)
    learn = training.learner(recorder, progress, callbacks)
    if checkpoint is not None:
        training.model.load_state_dict(checkpoint["model"])
        learn.create_opt()
        learn.opt.load_state_dict(checkpoint["opt"])
        for name, state in training.states.items():
            state.load_state_dict(checkpoint[name])
        training.resume(start_epoch)
        restore_random_states(checkpoint)
        log(f"run {config.run_id}: resuming after epoch {start_epoch} of {config.epochs}")
    started = time.perf_counter()
    if start_epoch < config.epochs:
        learn.fit(config.epochs, lr=config.lr, reset_opt=checkpoint is None)
    weights, predictions, final = training.result(learn, rows, start_epoch, time.perf_counter() - started)
    if main:
        write_result(path, weights, predictions, final, rows, training.columns)
    training.synchronise()
    return Run(path)


# ---------------------------------------------------------------- a recorded run's weights, back


def restore_weights(run: Run, runs_dir: Path | None = None, device: str | torch.device = "cpu",
                    progress: bool = False, log=print) -> Run:
    """A finished run with its weights: `run` itself if it has them, else the run trained again from its config
    (its own teacher first, the same way) in a scratch folder, then moved in. Every kind alike.

    The record (as committed) is a finished run, but a student to train needs its teacher's weights, which are never
    committed. Training is deterministic on one CPU type and torch version, so the retrained run normally reproduces
    its record exactly: the record is kept and only `model.pt` is added. Where it does not (another CPU type's
    kernels round differently), the record is replaced by the run that now teaches, and the log says so, with both
    results. An interruption leaves the record as it was and the scratch run resumable."""
    if run.has_weights:
        return run
    runs_dir = Path(runs_dir or default_runs_dir())
    with run_lock(run.path, log):  # one process at a time: a second waits, then finds the weights back
        if weights_problem(run.path) is None:
            return Run(run.path)
        remove_temporaries(run.path)  # a killed restore's model.pt being written, say
        return _restore(Run(run.path), runs_dir, device, progress, log)


def _restore(run: Run, runs_dir: Path, device, progress: bool, log) -> Run:
    """`restore_weights`'s work, while the process holds the run."""
    kind = run.kind
    if run.config.teacher is not None:
        restore_weights(resolve_teacher(run.config.teacher, runs_dir), runs_dir, device, progress, log)
    log(f"run {run.run_id}: recorded without its weights; training it again for them")
    scratch = runs_dir / RESTORE_DIR / run.run_id
    retrained = train(run.config, runs_dir, device, progress, log, path=scratch)
    if sha256(scratch / PREDICTIONS) == sha256(run.path / PREDICTIONS):
        atomic_write_bytes(run.path / WEIGHTS, (scratch / WEIGHTS).read_bytes())
        mark_done(run.path)  # the record's checksums are unchanged; the weights' is the new file's
        _remove_scratch(scratch)
        log(f"run {run.run_id}: weights restored; the retrained run reproduces its record exactly")
        return Run(run.path)
    log(f"run {run.run_id}: the retrained run differs from its record ({kind.describe(run.final)} recorded, "
        f"{kind.result_text(retrained.final)} now: another CPU type or torch version); the record is replaced by the "
        f"run that now teaches its students")
    replaced = run.path.with_name(run.path.name + ".replaced")
    shutil.rmtree(replaced, ignore_errors=True)
    os.replace(run.path, replaced)  # between these two renames the run is absent: asked again, it is retrained
    os.replace(scratch, run.path)
    shutil.rmtree(replaced)
    _remove_scratch(scratch)
    return Run(run.path)


def _remove_scratch(scratch: Path) -> None:
    """The scratch run's folder, and the scratch folder itself once no other restore uses it."""
    shutil.rmtree(scratch, ignore_errors=True)
    try:
        scratch.parent.rmdir()
    except OSError:  # another run is being restored there, or it is already gone
        pass
