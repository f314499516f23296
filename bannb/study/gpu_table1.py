"""The paper's Table 1 (CIFAR-10 Wide-ResNets, teacher and BAN-1) at the `gpu` profile, within a fixed device budget.

    python -m bannb.study.gpu_table1 --budget 360 --runs-dir /tmp/runs --manifest gpu-table1.json

A GPU is lent for minutes, all tries together, so this is one prepared command that cannot overrun:

1. decode the CIFAR-10 JPEG archive once (every process then reads the decoded cache);
2. time bannb's teacher step and BAN step for each network of `GPU_TABLE1_ARCHS` (`bench.gpu.bannb_seconds`,
   the Learner, data on the device, the profile's precision) and choose the number of epochs so that all
   runs, trained one after the other, would fit `--budget` seconds (`plan_epochs`); the profile's 30 epochs are
   the most it asks for;
3. start one `python -m bannb ban --generations 1` per network and seed, side by side on the one GPU (small
   networks leave most of it idle, so the runs share it), and stop them all at `--deadline` if they have not
   finished (a run stopped early leaves no record; the finished ones are kept);
4. write a manifest: the machine, the measured step times, the plan, and per run its id and wall time.

Every run is an ordinary bannb run (config, metrics, `final.json`, test predictions); the book reads the runs
the manifest names (`facts.born_again.gpu_table1_rows`).
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

from bannb.bench.gpu import bannb_seconds
from bannb.data import load_dataset
from bannb.runs.store import atomic_write_json
from bannb.study.generations import chain_configs
from bannb.study.profiles import GPU_TABLE1_ARCHS, check_seeds, get_profile, make_config

PROFILE = "gpu"


def plan_epochs(epoch_seconds: dict[str, tuple[float, float]], seeds: int, budget: float, most: int) -> int:
    """The most epochs (at least 1, at most `most`) for which every network's `seeds` teachers and BAN-1 students,
    trained one after the other, fit `budget` seconds. `epoch_seconds`: network → (a teacher's, a student's
    seconds per epoch). Training side by side on one GPU is no slower than one after the other, so the plan
    holds however well the runs share it."""
    per_epoch = seeds * sum(teacher + student for teacher, student in epoch_seconds.values())
    if per_epoch <= 0 or budget <= 0:
        raise ValueError(f"need positive epoch times and budget, got {epoch_seconds} and {budget}")
    return max(1, min(most, math.floor(budget / per_epoch)))


def epoch_seconds(arch: str, device: torch.device, batch: int, train_images: int, eval_images: int,
                  precision: str, steps: int = 20) -> tuple[float, float]:
    """Seconds per epoch of a teacher and of its BAN student: `steps` timed steps through bannb's Learner,
    scaled to an epoch of `train_images`, plus the epoch's evaluation of `eval_images` at a third of a step's
    cost per image (a forward pass, no backward)."""
    batches = math.ceil(train_images / batch)
    result = []
    for ban in (False, True):
        step = bannb_seconds(arch, batch, 10, steps, 5, device, precision, ban) / steps
        result.append(step * batches + step / 3 * eval_images / batch)
    return tuple(result)


def table1_runs(arch: str, seed: int, epochs: int, device: str, **overrides) -> tuple[str, str]:
    """The run ids of the teacher and the BAN-1 student that `python -m bannb ban --generations 1` trains."""
    teacher, student = chain_configs(make_config(PROFILE, device=device, arch=arch, epochs=epochs, seed=seed,
                                                 **overrides), 1)
    return teacher.run_id, student.run_id


def _command(arch: str, seed: int, epochs: int, args, overrides: dict) -> list[str]:
    command = [sys.executable, "-m", "bannb", "ban", "--profile", PROFILE, "--generations", "1", "--arch", arch,
               "--seeds", str(seed), "--epochs", str(epochs), "--runs-dir", str(args.runs_dir), "--device",
               args.device, "--quiet"]
    for name, value in overrides.items():
        command += [f"--{name.replace('_', '-')}", str(value)]
    return command


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bannb.study.gpu_table1", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", type=float, default=360.0,
                        help="seconds of training, planned as if the runs went one after the other")
    parser.add_argument("--deadline", type=float, default=None,
                        help="seconds after start at which unfinished runs are stopped (default: 1.6 × budget)")
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="default: the gpu profile's")
    parser.add_argument("--archs", nargs="+", default=list(GPU_TABLE1_ARCHS))
    parser.add_argument("--runs-dir", type=Path, required=True)
    parser.add_argument("--manifest", type=Path, required=True)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--epochs", type=int, default=None, help="skip the measurement and train this many")
    # a rehearsal on a CPU at small sizes, so that the command is tried before a GPU's minutes are spent
    parser.add_argument("--train-size", type=int, default=None)
    parser.add_argument("--valid-size", type=int, default=None)
    parser.add_argument("--test-size", type=int, default=None)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    profile = get_profile(PROFILE)
    seeds = check_seeds("--seeds", args.seeds if args.seeds is not None else list(profile.seeds))
    deadline = args.deadline if args.deadline is not None else 1.6 * args.budget
    device = torch.device(args.device)
    overrides = {k: getattr(args, k) for k in ("train_size", "valid_size", "test_size") if getattr(args, k)}
    base = make_config(PROFILE, device=args.device, **overrides)

    dataset = load_dataset(base.dataset)  # decodes the archive once and caches it for the runs' processes
    decoded = time.perf_counter() - started
    train_images = (base.train_size or len(dataset.train_images) - base.valid_size)
    if args.epochs is None:
        timings = {arch: epoch_seconds(arch, device, base.batch_size, train_images,
                                       base.valid_size + 1000, base.precision if device.type == "cuda" else "fp32")
                   for arch in args.archs}
        epochs = plan_epochs(timings, len(seeds), args.budget, profile.epochs)
    else:
        timings, epochs = {}, args.epochs
    print(f"[gpu-table1] decoded in {decoded:.0f} s; epoch seconds (teacher, student) "
          f"{ {a: tuple(round(s, 2) for s in t) for a, t in timings.items()} }; {epochs} epochs", flush=True)

    env = dict(os.environ, OMP_NUM_THREADS="2", PYTHONUNBUFFERED="1")
    args.runs_dir.mkdir(parents=True, exist_ok=True)
    logs = args.manifest.parent
    logs.mkdir(parents=True, exist_ok=True)
    jobs = {}
    for arch in args.archs:
        for seed in seeds:
            log = open(logs / f"{arch}-seed{seed}.log", "w")
            jobs[(arch, seed)] = (subprocess.Popen(_command(arch, seed, epochs, args, overrides), env=env, stdout=log,
                                                   stderr=subprocess.STDOUT), time.perf_counter(), log)
    ended = {}
    while len(ended) < len(jobs):
        for key, (process, start, log) in jobs.items():
            if key not in ended and process.poll() is not None:
                ended[key] = (process.returncode, time.perf_counter() - start)
                log.close()
        if time.perf_counter() - started > deadline:
            for key, (process, start, log) in jobs.items():
                if key not in ended:
                    process.kill()
                    process.wait()
                    ended[key] = ("stopped at the deadline", time.perf_counter() - start)
                    log.close()
        time.sleep(1)

    runs = []
    for (arch, seed), (code, seconds) in ended.items():
        teacher, student = table1_runs(arch, seed, epochs, args.device, **overrides)
        for role, run_id in (("teacher", teacher), ("BAN-1", student)):
            finished = (args.runs_dir / run_id / "done.json").exists()
            runs.append(dict(arch=arch, seed=seed, role=role, run_id=run_id, finished=finished,
                             process_exit=code, process_seconds=round(seconds, 1)))
    manifest = dict(profile=PROFILE, dataset=base.dataset, archs=args.archs, seeds=seeds, epochs=epochs,
                    profile_epochs=profile.epochs, budget_seconds=args.budget, deadline_seconds=deadline,
                    epoch_seconds={a: list(t) for a, t in timings.items()},
                    planned_seconds=(len(seeds) * epochs * sum(map(sum, timings.values())) if timings else None),
                    wall_seconds=round(time.perf_counter() - started, 1), decode_seconds=round(decoded, 1),
                    device=(torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
                            or "cpu"),
                    torch=torch.__version__, side_by_side=len(jobs), overrides=overrides, runs=runs)
    atomic_write_json(args.manifest, manifest)
    print(f"[gpu-table1] {sum(r['finished'] for r in runs)}/{len(runs)} runs finished in "
          f"{manifest['wall_seconds']:.0f} s", flush=True)
    return 0 if all(r["finished"] for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
