"""Speed of a distillation training step: bannb's path against a plain fp32 PyTorch loop.

    python -m bannb.bench [--cases …] [--steps 5] [--compile-cases …] [--accuracy-seeds 3] [--no-speed]

For each case: one distillation step (student forward/backward/update + teacher forward, batch 128)
through bannb's fastai Learner (its data pipeline, bf16 autocast, channels-last, teacher in inference
mode) and through the loop public BAN code uses (teacher under no_grad, fp32, NCHW), timed in the same
process; achieved FLOP/s (torch.utils.flop_counter) as a share of this machine's matmul peak, measured in
the same run; the data pipeline's share of a step; and peak memory. Each case runs in its own subprocess,
so peak memory is its own. The `--compile-cases` are timed again under torch.compile, with the compile
time. Then the accuracy side: WRN-16-1 teachers on Fashion-MNIST (the book's cpu teachers) in bf16 and in
fp32, `--accuracy-seeds` each, trained or reused from the runs directory, and whether they differ beyond
seed noise. Writes `performance.csv` and `performance.json` (sections not measured this time are kept);
the book's Performance appendix renders them.
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from .data.arrays import PROJECT_ROOT

CASES = {  # name -> (architecture, input shape, classes)
    "wrn-16-2 1×28×28": ("wrn-16-2", (1, 28, 28), 10),
    "densenet-bc-40-12 1×28×28": ("densenet-bc-40-12", (1, 28, 28), 10),
    "wrn-28-10 3×32×32": ("wrn-28-10", (3, 32, 32), 100),
    "densenet-bc-112-33 3×32×32": ("densenet-bc-112-33", (3, 32, 32), 100),
}
BATCH = 128


def matmul_peak(dtype: torch.dtype, size: int = 2048, repeats: int = 10) -> float:
    """Achieved FLOP/s of a large square matmul: the practical peak the networks are measured against."""
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    for _ in range(3):
        a @ b
    started = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * size ** 3 * repeats / (time.perf_counter() - started)


def step_flops(student, teacher, images, labels) -> int:
    """FLOPs of one distillation step: teacher forward, student forward and backward."""
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as counter:
        with torch.no_grad():
            teacher_logits = teacher(images)
        loss = -(F.softmax(teacher_logits, 1) * F.log_softmax(student(images), 1)).sum(1).mean()
        loss.backward()
    student.zero_grad()
    return counter.get_total_flops()


def plain_fp32_step_seconds(arch, shape, classes, steps) -> float:
    """The loop public BAN implementations use: fp32, NCHW, teacher under no_grad, torch's SGD."""
    from .models import create_model
    torch.manual_seed(0)
    student, teacher = create_model(arch, shape[0], classes), create_model(arch, shape[0], classes).eval()
    optimizer = torch.optim.SGD(student.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    images, labels = torch.randn(BATCH, *shape), torch.randint(0, classes, (BATCH,))
    times = []
    for step in range(steps + 1):
        started = time.perf_counter()
        with torch.no_grad():
            teacher_probs = F.softmax(teacher(images), 1)
        loss = -(teacher_probs * F.log_softmax(student(images), 1)).sum(1).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step:  # the first step warms up the allocator and oneDNN's kernel choice
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def bannb_step_seconds(arch, shape, classes, steps) -> tuple[float, float]:
    """Median step time through bannb's Learner (data pipeline included), and the data pipeline's share."""
    from fastai.callback.core import Callback
    from .data.arrays import ImageArrays
    from .data.loaders import make_dataloaders
    from .learner import make_learner
    from .losses import make_loss
    from .models import create_model
    count = BATCH * (steps + 1) + 64
    generator = torch.Generator().manual_seed(0)
    dataset = ImageArrays("random", torch.randint(0, 256, (count, *shape), dtype=torch.uint8, generator=generator),
                          torch.randint(0, classes, (count,), generator=generator),
                          torch.randint(0, 256, (64, *shape), dtype=torch.uint8, generator=generator),
                          torch.randint(0, classes, (64,), generator=generator), [str(i) for i in range(classes)])
    dls = make_dataloaders(dataset, BATCH, valid_size=64)

    class StepTimes(Callback):
        order = 100
        times, last = [], None

        def before_train(self):
            self.last = time.perf_counter()

        def after_batch(self):
            if self.training:
                now = time.perf_counter()
                self.times.append(now - self.last)
                self.last = now

    torch.manual_seed(0)
    timer = StepTimes()
    learn = make_learner(create_model(arch, shape[0], classes), dls, make_loss("ban"),
                         create_model(arch, shape[0], classes), cbs=[timer])
    learn.remove_cbs([cb for cb in learn.cbs if type(cb).__name__ == "ProgressCallback"])
    learn.logger = lambda *args: None
    learn.fit(1)
    step = statistics.median(timer.times[1:])
    started = time.perf_counter()
    batches = sum(1 for _ in dls.train)
    data_seconds = (time.perf_counter() - started) / batches
    return step, data_seconds / step


def measure_case(name: str, steps: int) -> dict:
    from .learner import resolve_precision
    from .models import count_parameters, create_model
    arch, shape, classes = CASES[name]
    student, teacher = create_model(arch, shape[0], classes), create_model(arch, shape[0], classes).eval()
    flops = step_flops(student, teacher, torch.randn(BATCH, *shape), torch.randint(0, classes, (BATCH,)))
    fp32 = plain_fp32_step_seconds(arch, shape, classes, steps)
    fast, data_share = bannb_step_seconds(arch, shape, classes, steps)
    return dict(case=name, arch=arch, input=list(shape), batch=BATCH, parameters=count_parameters(student),
                precision=resolve_precision("auto", "cpu"), step_flops=flops, plain_fp32_seconds=fp32,
                bannb_seconds=fast, speedup=fp32 / fast, bannb_flops_per_second=flops / fast,
                plain_fp32_flops_per_second=flops / fp32, data_share=data_share,
                peak_memory_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def book_wall_seconds(root: Path = PROJECT_ROOT) -> float | None:
    from .book import chapter_seconds, timings_file
    timings = timings_file(root)
    if not timings.exists():
        return None
    return sum(chapter_seconds(entry) for entry in json.loads(timings.read_text()).values())


def compiled_step_seconds(name: str, steps: int) -> dict:
    """bannb's step with the student and teacher under `torch.compile`, and what compiling cost: the lever
    that could lift a memory-bound DenseNet (it fuses BatchNorm, ReLU and the concatenations)."""
    arch, shape, classes = CASES[name]
    from . import models
    original = models.create_model
    started = time.perf_counter()
    models.create_model = lambda *args, **kwargs: torch.compile(original(*args, **kwargs))
    try:
        step, _ = bannb_step_seconds(arch, shape, classes, steps)
    finally:
        models.create_model = original
    return dict(case=name, compiled_seconds=step, first_epoch_seconds=time.perf_counter() - started)


# The accuracy side of the speed-up: the book's cpu teachers (bf16) against the same runs in fp32.
ACCURACY = dict(profile="cpu", arch="wrn-16-1", dataset="fashion-mnist")


def precision_accuracy(seeds: int, runs_dir: Path | None = None, log=print) -> dict:
    """Train (or reuse) `seeds` cpu-profile WRN-16-1 teachers in bf16 and in fp32; their test errors and
    whether the two differ beyond seed noise (`report.verdict`)."""
    from .experiments import book_config
    from .report import verdict
    from .runs import train_run
    rows = []
    for precision in ("bf16", "fp32"):
        for seed in range(seeds):
            config = book_config(ACCURACY["profile"], seed, arch=ACCURACY["arch"], dataset=ACCURACY["dataset"],
                                 precision=precision)
            log(f"[bench] accuracy: {config.arch} {precision} seed {seed} (reused if finished)")
            run = train_run(config, runs_dir, log=log)
            rows.append(dict(precision=precision, seed=seed, test_error=100 * run.final["test_error"],
                             run_id=run.run_id))
    errors = {p: [row["test_error"] for row in rows if row["precision"] == p] for p in ("fp32", "bf16")}
    result = verdict(errors["fp32"], errors["bf16"], "fp32", "bf16")
    return dict(setting=ACCURACY, runs=rows, outcome=result.outcome, delta=result.delta, p_value=result.p_value,
                verdict=result.text)


def write_report(out: Path, updates: dict) -> dict:
    """Merge the sections measured now into performance.json (the others are kept as last measured), atomically."""
    from .runs import atomic_write_bytes, atomic_write_json
    path = out / "performance.json"
    report = json.loads(path.read_text()) if path.exists() else {}
    report.update(updates)
    atomic_write_json(path, report)
    if "rows" in updates:
        import pandas as pd
        atomic_write_bytes(out / "performance.csv", pd.DataFrame(updates["rows"]).to_csv(index=False).encode())
    return report


def print_report(report: dict, out: Path) -> None:
    if "rows" in report:
        peaks, device = report["matmul_peak_flops_per_second"], report["device"]
        print(f"\nmatmul peak: bf16 {peaks['bf16'] / 1e9:.0f} GFLOP/s, fp32 {peaks['fp32'] / 1e9:.0f} GFLOP/s ({device})")
        print(f"{'case':<28} {'plain fp32':>11} {'bannb':>9} {'speed-up':>9} {'% peak':>7} {'data':>6} {'memory':>9}")
        for row in report["rows"]:
            print(f"{row['case']:<28} {row['plain_fp32_seconds'] * 1e3:9.0f}ms {row['bannb_seconds'] * 1e3:7.0f}ms "
                  f"{row['speedup']:8.2f}× {100 * row['bannb_share_of_peak']:6.1f}% {100 * row['data_share']:5.1f}% "
                  f"{row['peak_memory_mib']:7.0f}MiB")
    for row in report.get("compiled", []):
        print(f"torch.compile, {row['case']}: {row['compiled_seconds'] * 1e3:.0f} ms/step "
              f"(first epoch incl. compiling {row['first_epoch_seconds']:.0f} s)")
    if "accuracy" in report:
        print(f"accuracy, bf16 against fp32: {report['accuracy']['verdict']}")
    wall = report.get("cpu_book_wall_seconds")
    print(f"whole cpu book: {'not measured yet (run make book)' if wall is None else f'{wall / 60:.0f} min'}")
    print(f"written: {out / 'performance.csv'}, {out / 'performance.json'}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bannb.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", nargs="*", default=list(CASES), help="which of: " + "; ".join(CASES))
    parser.add_argument("--steps", type=int, default=5, help="timed steps per path (after one warm-up)")
    parser.add_argument("--compile-cases", nargs="*", default=["densenet-bc-40-12 1×28×28"],
                        help="cases also timed under torch.compile (none: skip)")
    parser.add_argument("--accuracy-seeds", type=int, default=3,
                        help="seeds of the bf16-vs-fp32 accuracy comparison (trains WRN-16-1 on Fashion-MNIST, "
                             "reusing finished runs; 0: skip)")
    parser.add_argument("--no-speed", action="store_true", help="skip the step timings (keep the last ones)")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "book" / "results")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: measure one case in this process
    parser.add_argument("--compiled", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    unknown = [name for name in args.cases + args.compile_cases if name not in CASES]
    if unknown:
        print(f"error: unknown case {unknown[0]!r}; the cases are: {'; '.join(CASES)}", file=sys.stderr)
        return 2
    if args.steps < 1 or args.accuracy_seeds < 0:
        print("error: --steps must be at least 1 and --accuracy-seeds at least 0", file=sys.stderr)
        return 2
    if args.one:
        result = compiled_step_seconds(args.one, args.steps) if args.compiled else measure_case(args.one, args.steps)
        print(json.dumps(result))
        return 0

    def in_subprocess(name: str, *flags: str) -> dict:
        # Each case in its own process, so peak memory and compiled kernels are its own.
        result = subprocess.run([sys.executable, "-m", "bannb.bench", "--one", name, "--steps", str(args.steps),
                                 *flags], capture_output=True, text=True)
        if result.returncode:
            raise SystemExit(f"error: measuring {name!r} failed:\n{result.stderr[-2000:]}")
        return json.loads(result.stdout.strip().splitlines()[-1])

    updates = {}
    if not args.no_speed:
        peaks = {"bf16": matmul_peak(torch.bfloat16), "fp32": matmul_peak(torch.float32)}
        rows = []
        for name in args.cases:
            print(f"[bench] {name} …", flush=True)
            row = in_subprocess(name)
            row["bannb_share_of_peak"] = row["bannb_flops_per_second"] / peaks[row["precision"]]
            row["plain_fp32_share_of_fp32_peak"] = row["plain_fp32_flops_per_second"] / peaks["fp32"]
            rows.append(row)
        compiled = []
        for name in args.compile_cases:
            print(f"[bench] {name} under torch.compile …", flush=True)
            compiled.append(in_subprocess(name, "--compiled"))
        device = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
        updates.update(device=device, torch=torch.__version__, matmul_peak_flops_per_second=peaks, batch=BATCH,
                       rows=rows, compiled=compiled)
    if args.accuracy_seeds:
        updates["accuracy"] = precision_accuracy(args.accuracy_seeds)
    updates["cpu_book_wall_seconds"] = book_wall_seconds()
    print_report(write_report(args.out, updates), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
