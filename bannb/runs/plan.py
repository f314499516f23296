"""Train a set of runs on several worker processes, each teacher before its students.

On a 2-core CPU the book's small networks train faster as two single-threaded processes than as one
process with two threads (a small convolution does not split well over threads, and two processes never
wait on each other's barriers), so a chapter's runs go through `train_all`. Each run is still the same
deterministic function of its config; the worker count only changes which runs train at the same time.

    train_all(chapters.chapter_plan("04_born_again", "cpu"))   # what `python -m bannb.book --train-only` does
"""
from __future__ import annotations

import ctypes
import json
import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Sequence

import torch

from bannb.errors import BannbError
from bannb.runs.kinds import config_from_dict
from bannb.runs.lifecycle import restore_weights, train
from bannb.runs.store import default_runs_dir, finished_problem, weights_problem


class PlanFailed(BannbError):
    """Some runs of a plan failed; the others finished and are kept."""


def default_workers() -> int:
    """One single-threaded worker per core, at most 2 on the CPU machines the book is sized for
    (`BANNB_WORKERS` overrides)."""
    if "BANNB_WORKERS" in os.environ:
        return max(1, int(os.environ["BANNB_WORKERS"]))
    return max(1, min(2, os.cpu_count() or 1))


def _initialise_worker(threads: int) -> None:
    torch.set_num_threads(threads)
    _die_with_parent()


def _die_with_parent() -> None:
    """A worker must not outlive the process that plans the runs: an orphan would go on training a run that the
    next invocation trains again, both writing the same run directory. Linux delivers SIGTERM at the parent's
    death (prctl PR_SET_PDEATHSIG); elsewhere a thread watches for the parent to change."""
    if sys.platform.startswith("linux"):
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _train_one(config_dict: dict, runs_dir: str | None, device: str) -> dict:
    """Train one run (of any kind, by its stored config), or give a recorded run without weights its weights back
    (`restore_weights`). The result names the run, its test result in words and the seconds."""
    config = config_from_dict(config_dict)
    started = time.perf_counter()
    quiet = lambda *_: None  # noqa: E731
    run = train(config, runs_dir, device, log=quiet)
    run = restore_weights(run, runs_dir, device, log=quiet) if not run.has_weights else run
    return dict(run_id=run.run_id, result=run.kind.describe(run.final), seconds=time.perf_counter() - started)


def teachers_to_restore(configs: Sequence, runs_dir: Path) -> list:
    """The configs of the recorded runs without weights that `configs` need as teachers, their own teachers
    included: on a fresh clone the committed records have no weights, and a student to train needs them."""
    needed, seen = [], set()
    for config in configs:
        teacher = config.teacher
        while teacher is not None and teacher not in seen:
            seen.add(teacher)
            path = runs_dir / teacher
            if finished_problem(path) is not None or weights_problem(path) is None:
                break  # not recorded (the plan trains it, or training says what is missing), or already complete
            recorded = type(config).from_dict(json.loads((path / "config.json").read_text()))
            needed.append(recorded)
            teacher = recorded.teacher
    return needed


def order_by_dependency(configs: Sequence) -> list:
    """The distinct configs, each after the config of its teacher where that teacher is in the plan."""
    unique = list({config.run_id: config for config in configs}.values())
    ids = {config.run_id for config in unique}
    placed, ordered = set(), []
    while len(ordered) < len(unique):
        progress = False
        for config in unique:
            if config.run_id in placed:
                continue
            if config.teacher is None or config.teacher not in ids or config.teacher in placed:
                ordered.append(config)
                placed.add(config.run_id)
                progress = True
        if not progress:  # only possible with a cycle, which hashing makes impossible; guard anyway
            raise BannbError("the plan's teacher links form a cycle")
    return ordered


def schedule_seconds(configs: Sequence, seconds_of, workers: int | None = None) -> float:
    """The wall time `train_all` would take to train `configs` from scratch if each run took `seconds_of(config)`
    seconds: the same order, each student once its teacher has finished, `workers` at a time."""
    pending = order_by_dependency(configs)
    ids = {config.run_id for config in pending}
    workers = workers or default_workers()
    now, done, running, waiting = 0.0, set(), {}, list(pending)  # running: run id -> when it finishes
    while waiting or running:
        for config in list(waiting):
            if len(running) >= workers:
                break
            if config.teacher is None or config.teacher not in ids or config.teacher in done:
                running[config.run_id] = now + seconds_of(config)
                waiting.remove(config)
        run_id, now = min(running.items(), key=lambda item: item[1])
        del running[run_id]
        done.add(run_id)
    return now


def train_all(configs: Sequence, runs_dir: Path | None = None, device: str = "cpu", workers: int | None = None,
              threads_per_worker: int = 1, log=print, on_finished=None) -> None:
    """Train every config not yet finished (finished runs are reused), `workers` at a time, each student only
    once its teacher has finished and has its weights (a recorded teacher without them is trained again first).
    A failed run is reported and its students are skipped; the others go on, and `PlanFailed` lists the failures
    at the end."""
    runs_dir = Path(runs_dir or default_runs_dir())
    to_train = [c for c in configs if finished_problem(runs_dir / c.run_id) is not None]
    pending = order_by_dependency([*teachers_to_restore(to_train, runs_dir), *to_train])
    if not pending:
        return
    workers = min(workers or default_workers(), len(pending))
    if device != "cpu" or workers == 1:  # one process: a GPU, one core, or a single run to train
        for position, config in enumerate(pending, 1):
            result = _train_one(config.to_dict(), str(runs_dir), device)
            if on_finished:
                on_finished(result)
            log(f"[train] {position}/{len(pending)} {result['run_id']}: {result['result']} in {result['seconds']:.0f} s")
        return
    ids = {c.run_id for c in pending}
    done, failed, running = set(), {}, {}
    waiting = list(pending)
    started = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_initialise_worker,
                             initargs=(threads_per_worker,)) as pool:
        while waiting or running:
            for config in list(waiting):
                if len(running) >= workers:
                    break
                if config.teacher in failed:
                    failed[config.run_id] = f"its teacher {config.teacher} failed"
                    waiting.remove(config)
                elif config.teacher is None or config.teacher not in ids or config.teacher in done:
                    running[pool.submit(_train_one, config.to_dict(), str(runs_dir), device)] = config
                    waiting.remove(config)
            if not running:
                continue
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                config = running.pop(future)
                try:
                    result = future.result()
                except Exception as err:  # reported with the others at the end; dependents are skipped
                    failed[config.run_id] = f"{type(err).__name__}: {err}"
                    log(f"[train] FAILED {config.run_id}: {err}")
                    continue
                done.add(config.run_id)
                if on_finished:
                    on_finished(result)
                log(f"[train] {len(done)}/{len(pending)} {result['run_id']}: {result['result']} "
                    f"in {result['seconds']:.0f} s "
                    f"({time.perf_counter() - started:.0f} s so far)")
    if failed:
        raise PlanFailed("runs failed (the finished ones are kept):\n  "
                         + "\n  ".join(f"{run_id}: {why}" for run_id, why in failed.items()))
