"""Giving a recorded run its weights back: the record (as committed) is a finished run, but a student to train
needs its teacher's weights, which are never committed."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch

from bannb.runs.store import (
    PREDICTIONS,
    WEIGHTS,
    Run,
    atomic_write_bytes,
    default_runs_dir,
    mark_done,
    remove_temporaries,
    resolve_teacher,
    run_lock,
    sha256,
    weights_problem,
)

RESTORE_DIR = ".restore"  # under the runs folder: recorded runs being trained again for their weights


def restore_weights(run, runs_dir: Path | None = None, device: str | torch.device = "cpu",
                    progress: bool = False, log=print):
    """A finished run with its weights: `run` itself if it has them, else the run trained again from its config
    (its own teacher first, the same way) in a scratch folder, then moved in. Image runs (`Run`) and language-model
    runs alike (`run.kind.train`).

    Training is deterministic on one CPU type and torch version, so the retrained run normally reproduces its
    record exactly: the record is kept and only `model.pt` is added. Where it does not (another CPU type's
    kernels round differently), the record is replaced by the run that now teaches, and the log says so, with
    both results. An interruption leaves the record as it was and the scratch run resumable."""
    if run.has_weights:
        return run
    runs_dir = Path(runs_dir or default_runs_dir())
    with run_lock(run.path, log):  # one process at a time: a second waits, then finds the weights back
        if weights_problem(run.path) is None:
            return Run(run.path)
        remove_temporaries(run.path)  # a killed restore's model.pt being written, say
        return _restore(Run(run.path), runs_dir, device, progress, log)


def _restore(run, runs_dir: Path, device, progress: bool, log):
    """`restore_weights`'s work, while the process holds the run."""
    kind = run.kind
    if run.config.teacher is not None:
        restore_weights(resolve_teacher(run.config.teacher, runs_dir), runs_dir, device, progress, log)
    log(f"run {run.run_id}: recorded without its weights; training it again for them")
    scratch = runs_dir / RESTORE_DIR / run.run_id
    retrained = kind.train(run.config, runs_dir, device, progress, log, scratch)
    if sha256(scratch / PREDICTIONS) == sha256(run.path / PREDICTIONS):
        atomic_write_bytes(run.path / WEIGHTS, (scratch / WEIGHTS).read_bytes())
        mark_done(run.path)  # the record's checksums are unchanged; the weights' is the new file's
        shutil.rmtree(scratch)
        _remove_scratch_folder(runs_dir)
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
    _remove_scratch_folder(runs_dir)
    return Run(run.path)


def _remove_scratch_folder(runs_dir: Path) -> None:
    """Remove the runs folder's `.restore/` once no restore uses it (another process's may still be under way)."""
    try:
        (runs_dir / RESTORE_DIR).rmdir()
    except OSError:  # not empty: another restore's scratch run is in it
        pass
