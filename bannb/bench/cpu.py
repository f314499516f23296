"""Speed of a distillation training step on the machine at hand, in every precision, against references a reader
can check.

    python -m bannb.bench                      # everything the Performance appendix shows (~8 min on 2 cores)
    python -m bannb.bench --quick              # one small case, 2 timed steps, no DenseNet variants or accuracy,
                                               # into _build/bench-quick/ (the committed reports stay as measured)
    python -m bannb.bench --cases "wrn-16-1 1×28×28" --accuracy-seeds 0 --no-variants

Where it ran: the CPU's model name, its family/model numbers, core and thread counts and the flags that decide
bf16's speed (AVX512-F, AVX512-BF16, AMX), plus two ceilings measured in the same run: the matmul peak in fp32
and in bf16 (a large square matmul) and the memory bandwidth (a triad a = b + s·c over tensors far larger than
the caches). Results go to `book/results/performance-<cpu model and ISA>.json`, one file per CPU type, so runs on
different machines sit side by side; the Performance appendix reads them all.

For each case (network, input; batch 128; the teacher's forward included):
- the plain loop public BAN code uses (fp32, NCHW, teacher under no_grad): the reference;
- bannb's Learner step (its data pipeline, callbacks and BAN loss) in every precision candidate: fp32 and bf16
  autocast, each NCHW and channels-last (a candidate more than 3× slower than the best is given up);
- what `precision="auto"` picks, measured afresh (its decision is timed, not read from a cache), and how far
  its Learner step is from the fastest candidate's;
- FLOPs per step (torch.utils.flop_counter) and bytes per step (every op reading its inputs and writing its
  output once: a lower bound on DRAM traffic when no tensor stays in cache), so each step is placed against the
  FLOP/s peak and against the memory bandwidth;
- the data pipeline's share of a step, and peak memory (each case runs in its own process).
For DenseNet-BC-40-12, the dense-block variants tried to bring it nearer its limit (`--variants`). Then the
accuracy side: the book's cpu WRN-16-1 teachers in bf16 and fp32 (`--accuracy-seeds`, reused when finished).
The default cases leave out WRN-28-10 and DenseNet-BC-112-33 on 3×32×32 (tens of seconds per step on 2 cores,
which would take the run past 8 minutes); `--cases` adds them.
"""
from __future__ import annotations

import argparse
import json
import math
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch
from fastai.callback.core import Callback, CancelFitException
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from bannb.bench.machine import cpu_info, machine_name, matmul_peak, step_flops
from bannb.book.timings import book_wall_seconds
from bannb.data.arrays import ImageArrays
from bannb.data.loaders import make_dataloaders
from bannb.image.learner import make_learner
from bannb.image.precision import (
    Candidate,
    candidates,
    decide,
    slug,
    time_steps,
    training_step,
)
from bannb.losses import make_loss
from bannb.models import count_parameters, create_model
from bannb.models.densenet import DenseBlock
from bannb.paths import PROJECT_ROOT, RESULTS_DIR
from bannb.runs.lifecycle import train
from bannb.runs.store import atomic_write_json
from bannb.study.experiments import book_config
from bannb.study.stats import paired_difference

CASES = {  # name -> (architecture, input shape, classes)
    "wrn-16-1 1×28×28": ("wrn-16-1", (1, 28, 28), 10),
    "wrn-16-2 1×28×28": ("wrn-16-2", (1, 28, 28), 10),
    "densenet-bc-40-12 1×28×28": ("densenet-bc-40-12", (1, 28, 28), 10),
    "wrn-28-10 3×32×32": ("wrn-28-10", (3, 32, 32), 100),
    "densenet-bc-112-33 3×32×32": ("densenet-bc-112-33", (3, 32, 32), 100),
}
DEFAULT_CASES = list(CASES)[:3]
# where `--quick` writes its report: a check, kept apart from the committed record of a full benchmark
QUICK_OUT = PROJECT_ROOT / "_build" / "bench-quick"
BATCH = 128
VARIANT_CASE = "densenet-bc-40-12 1×28×28"
# DenseNet dense-block variants: name -> create_model keyword arguments / a wrapper (see `variant_factory`).
VARIANTS = ("concat (as before)", "preallocated buffer", "compiled blocks")


# ------------------------------------------------------ the memory's ceiling (the matmul peak is bannb.bench.machine's)

def memory_bandwidth(megabytes: int = 256, seconds: float = 1.0) -> float:
    """Bytes/s of a triad a = b + 2·c over fp32 tensors of `megabytes` each (far beyond any cache): 2 reads and
    1 write per element, the STREAM convention."""
    elements = megabytes * 2 ** 20 // 4
    a, b, c = torch.empty(elements), torch.rand(elements), torch.rand(elements)
    torch.add(b, c, alpha=2.0, out=a)
    repeats, started = 0, time.perf_counter()
    while repeats < 3 or time.perf_counter() - started < seconds:
        torch.add(b, c, alpha=2.0, out=a)
        repeats += 1
    return 3 * a.numel() * a.element_size() * repeats / (time.perf_counter() - started)


# ------------------------------------------------------------------------------------------------- what a step does

def step_bytes(step) -> int:
    """Bytes one call of `step` moves if every op reads its inputs and writes its outputs once from memory (views
    move nothing). Ops that fuse or hit the cache move less; the figure places a step against the bandwidth."""

    class ByteCounter(TorchDispatchMode):
        total = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            if not func.is_view:
                tensors = [t for t in tree_flatten((args, kwargs, out))[0] if isinstance(t, torch.Tensor)]
                ByteCounter.total += sum(t.numel() * t.element_size() for t in tensors)
            return out

    with ByteCounter():
        step()
    return ByteCounter.total


def variant_factory(variant: str):
    """A model factory for a DenseNet dense-block variant (None: bannb's own `create_model`)."""
    if variant == "concat (as before)":
        return None
    if variant == "preallocated buffer":

        def buffered_blocks(arch, in_channels, num_classes):
            model = create_model(arch, in_channels, num_classes)
            for module in model.modules():
                if isinstance(module, DenseBlock):
                    module.buffered = True
            return model
        return buffered_blocks
    if variant == "compiled blocks":

        def compiled_blocks(arch, in_channels, num_classes):
            # torch.compile of each dense block alone: Inductor may fuse the concatenations with BN and ReLU
            model = create_model(arch, in_channels, num_classes)
            for module in list(model.modules()):
                for name, child in list(module.named_children()):
                    if isinstance(child, DenseBlock):
                        setattr(module, name, torch.compile(child))
            return model
        return compiled_blocks
    raise ValueError(f"unknown variant {variant!r}")


def bannb_step_seconds(arch, shape, classes, steps, candidate: Candidate, model_factory=None,
                       give_up_after: float = math.inf, batch: int = BATCH) -> tuple[float, float]:
    """Median step through bannb's Learner (its data pipeline, callbacks, BAN loss, teacher) in `candidate`, and
    the data pipeline's share of it; (inf, nan) when a step takes longer than `give_up_after` seconds."""
    model_factory = model_factory or create_model
    count = batch * (steps + 1) + 64
    generator = torch.Generator().manual_seed(0)
    dataset = ImageArrays("random", torch.randint(0, 256, (count, *shape), dtype=torch.uint8, generator=generator),
                          torch.randint(0, classes, (count,), generator=generator),
                          torch.randint(0, 256, (64, *shape), dtype=torch.uint8, generator=generator),
                          torch.randint(0, classes, (64,), generator=generator), [str(i) for i in range(classes)])
    dls = make_dataloaders(dataset, batch, valid_size=64)

    class StepTimes(Callback):
        order = 100

        def before_train(self):
            self.times, self.gave_up, self.last = [], False, time.perf_counter()

        def after_batch(self):
            if self.training:
                now = time.perf_counter()
                self.times.append(now - self.last)
                self.last = now
                if len(self.times) > 1 and self.times[-1] > give_up_after:  # the first step is not judged
                    self.gave_up = True
                    raise CancelFitException()

        def before_validate(self):
            raise CancelFitException()  # only the training steps are timed

    torch.manual_seed(0)
    timer = StepTimes()
    learn = make_learner(model_factory(arch, shape[0], classes), dls, make_loss("ban"),
                         model_factory(arch, shape[0], classes), precision=candidate.precision,
                         channels_last=candidate.channels_last, cbs=[timer])
    learn.remove_cbs([cb for cb in learn.cbs if type(cb).__name__ == "ProgressCallback"])
    learn.logger = lambda *args: None
    learn.fit(1)
    if timer.gave_up:
        return math.inf, math.nan
    step = statistics.median(timer.times[1:])  # the first step warms up
    started = time.perf_counter()
    batches = sum(1 for _ in dls.train)
    return step, (time.perf_counter() - started) / batches / step


def measure_case(name: str, steps: int, variants: bool = False, batch: int = BATCH) -> dict:
    """Every measurement of one case (run in its own process by `main`, so the peak memory is its own)."""
    arch, shape, classes = CASES[name]
    row = dict(case=name, arch=arch, input=list(shape), batch=batch,
               parameters=count_parameters(create_model(arch, shape[0], classes)))
    plain = training_step(Candidate("fp32", False), arch, shape, classes, batch, distill=True)
    row["step_flops"] = step_flops(plain)
    row["step_bytes"] = {precision: step_bytes(training_step(Candidate(precision, True), arch, shape, classes,
                                                             batch, distill=True))
                         for precision in ("fp32", "bf16")}
    row["plain_fp32_seconds"] = time_steps(plain, warmup=1, steps=steps)
    row["candidates"], data_shares = {}, {}
    for candidate in candidates("cpu"):
        best = min(row["candidates"].values(), default=math.inf)
        seconds, data_shares[candidate.label] = bannb_step_seconds(arch, shape, classes, steps, candidate, batch=batch,
                                                                   give_up_after=3 * best)
        row["candidates"][candidate.label] = seconds
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as cache:  # decided afresh: what auto picks on this machine today
        decision = decide(arch, shape, classes, batch, distill=True, cache=Path(cache) / "precision.json",
                          log=lambda line: None)
    row["auto"] = dict(choice=decision.choice.label, decision_seconds=time.perf_counter() - started,
                       timed=decision.seconds)
    fastest = min(row["candidates"], key=row["candidates"].get)
    row["fastest"] = fastest
    row["auto_gap"] = row["candidates"][decision.choice.label] / row["candidates"][fastest] - 1
    row["bannb_seconds"] = row["candidates"][decision.choice.label]
    row["data_share"] = data_shares[decision.choice.label]
    if variants:
        row["variants"] = {}
        for variant in VARIANTS:
            started = time.perf_counter()
            seconds, _ = bannb_step_seconds(arch, shape, classes, steps, decision.choice,
                                            variant_factory(variant), batch=batch)
            row["variants"][variant] = dict(seconds=seconds, first_epoch_seconds=time.perf_counter() - started,
                                            precision=decision.choice.label)
    row["peak_memory_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return row


def add_shares(row: dict, peaks: dict, bandwidth: float) -> dict:
    """Each timing as a share of the FLOP/s peak of its precision and of the memory bandwidth."""
    def shares(label: str, seconds: float) -> dict:
        precision = Candidate.from_label(label).precision
        if math.isinf(seconds):
            return dict(share_of_peak=None, share_of_bandwidth=None)
        return dict(share_of_peak=row["step_flops"] / seconds / peaks[precision],
                    share_of_bandwidth=row["step_bytes"][precision] / seconds / bandwidth)
    row["candidate_shares"] = {label: shares(label, s) for label, s in row["candidates"].items()}
    row["plain_fp32_shares"] = shares("fp32", row["plain_fp32_seconds"])
    for variant in row.get("variants", {}).values():
        variant.update(shares(variant["precision"], variant["seconds"]))
    row["speedup"] = row["plain_fp32_seconds"] / row["bannb_seconds"]
    return row


# -------------------------------------------------------------------------------------------------- accuracy

# The accuracy side of the speed-up: the book's cpu teachers (bf16) against the same runs in fp32.
ACCURACY = dict(profile="cpu", arch="wrn-16-1", dataset="fashion-mnist")


def precision_accuracy(seeds: int, runs_dir: Path | None = None, log=print) -> dict:
    """Train (or reuse) `seeds` cpu-profile WRN-16-1 teachers in bf16 and in fp32; their test errors and the
    paired difference bf16 − fp32 (same seed, same data order) with its 95% CI and the book's verdict word
    (`bannb.study.stats`: "no effect of the paper's size" when the interval lies within ±MARGIN)."""
    rows = []
    for precision in ("bf16", "fp32"):
        for seed in range(seeds):
            config = book_config(ACCURACY["profile"], seed, arch=ACCURACY["arch"], dataset=ACCURACY["dataset"],
                                 precision=precision)
            log(f"[bench] accuracy: {config.arch} {precision} seed {seed} (reused if finished)")
            run = train(config, runs_dir, progress=True, log=log)
            rows.append(dict(precision=precision, seed=seed, test_error=100 * run.final["test_error"],
                             run_id=run.run_id))
    errors = {p: {row["seed"]: row["test_error"] for row in rows if row["precision"] == p} for p in ("fp32", "bf16")}
    difference = paired_difference(errors["fp32"], errors["bf16"])
    return dict(setting=ACCURACY, runs=rows, outcome=difference.verdict("lower"), delta=difference.mean,
                ci_low=difference.low, ci_high=difference.high, p_value=difference.p_value, verdict=str(difference))


# ---------------------------------------------------------------------------------------------------- the report

def report_file(out: Path, machine: dict) -> Path:
    """One file per CPU type: the model name and the ISA level that decides bf16 (a hypervisor may call two
    generations alike, 'AMD EPYC')."""
    return out / f"performance-{slug(machine['model'] + ' ' + machine['isa'])}.json"


def write_report(path: Path, updates: dict) -> dict:
    """Merge the sections measured now into this CPU type's file (the others are kept as last measured)."""
    report = json.loads(path.read_text()) if path.exists() else {}
    if "rows" in updates and "rows" in report:  # cases measured now replace theirs; the others stay
        measured = {row["case"] for row in updates["rows"]}
        updates = dict(updates, rows=[row for row in report["rows"] if row["case"] not in measured] + updates["rows"])
    report.update(updates)
    atomic_write_json(path, report)
    return report


def ms(seconds: float) -> str:
    if seconds is None:  # not measured (an older report timed only what auto picked)
        return f"{'n/a':>10}"
    return "   gave up" if math.isinf(seconds) else f"{seconds * 1e3:8.0f}ms"


def shown(value, scale: float = 100, form: str = "5.1f", unit: str = "%") -> str:
    """`value` × `scale` as text, or "n/a" where a report (an older one, say) does not hold it."""
    return "n/a" if value is None else f"{scale * value:{form}}{unit}"


def print_report(report: dict, path: Path) -> None:
    """The report as text: any report a performance file holds, older formats included (a value one did not
    measure reads n/a)."""
    machine = report.get("machine", {})
    if "rows" in report:
        peaks = report["matmul_peak_flops_per_second"]
        print(f"\n{report.get('device')}; flags: {', '.join(f for f, on in machine.get('flags', {}).items() if on)}")
        print(f"matmul peak: fp32 {peaks['fp32'] / 1e9:.0f} GFLOP/s, bf16 {peaks['bf16'] / 1e9:.0f} GFLOP/s "
              f"(bf16/fp32 {peaks['bf16'] / peaks['fp32']:.2f}×); memory bandwidth "
              f"{shown(report.get('memory_bandwidth_bytes_per_second'), 1e-9, '.1f', ' GB/s')}")
        labels = [c.label for c in candidates("cpu")]
        print(f"{'case':<28} {'plain fp32':>10} " + " ".join(f"{label:>18}" for label in labels)
              + f" {'auto picks':>18} {'gap':>6} {'% peak':>7} {'% bw':>6}")
        for row in report["rows"]:
            shares = row.get("candidate_shares", {}).get(row["auto"]["choice"], {})
            print(f"{row['case']:<28} {ms(row['plain_fp32_seconds'])} "
                  + " ".join(f"{ms(row['candidates'].get(label)):>18}" for label in labels)
                  + f" {row['auto']['choice']:>18} {shown(row.get('auto_gap')):>6} "
                  f"{shown(shares.get('share_of_peak'), form='6.1f'):>7} "
                  f"{shown(shares.get('share_of_bandwidth')):>6}")
            for variant, result in row.get("variants", {}).items():
                print(f"    dense block {variant:<22} {ms(result['seconds'])} ({result['precision']}): "
                      f"{shown(result.get('share_of_peak'), form='.1f')} of peak, "
                      f"{shown(result.get('share_of_bandwidth'), form='.1f')} of bandwidth; first epoch "
                      f"{shown(result.get('first_epoch_seconds'), 1, '.0f', ' s')}")
    if "accuracy" in report:
        print(f"accuracy, bf16 against fp32: {report['accuracy']['verdict']}")
    wall = report.get("cpu_book_wall_seconds")
    print(f"whole cpu book: {'not measured yet (run make book)' if wall is None else f'{wall / 60:.0f} min'}")
    print(f"written: {path}")


# ------------------------------------------------------------------------------ the reports, for the appendix

AUTO_TOLERANCE = 0.05  # issue 13: a run with precision "auto" is within 5% of the fastest candidate's step


def read_reports(folder: Path | None = None) -> dict[str, dict]:
    """Every CPU type's report in `folder` (default `book/results`), by "<CPU model> (<ISA level>)"."""
    folder = Path(folder) if folder is not None else RESULTS_DIR
    reports = {}
    for path in sorted(folder.glob("performance-*.json")):
        report = json.loads(path.read_text())
        reports[f"{report['machine']['model']} ({report['machine']['isa']})"] = report
    return reports


def _share(value) -> float:
    return math.nan if value is None else 100 * value


def machines_table(reports: dict[str, dict]):
    """One row per CPU type: what it is (flags, cores, torch) and its ceilings measured in the same run (the fp32
    and bf16 matmul peaks in GFLOP/s, their ratio, the memory bandwidth in GB/s), and the note a report carries
    when it was measured before the benchmark measured everything."""
    rows = []
    for name, report in reports.items():
        machine, peaks = report["machine"], report["matmul_peak_flops_per_second"]
        bandwidth = report.get("memory_bandwidth_bytes_per_second")
        rows.append({"CPU": name, "flags": ", ".join(flag for flag, on in machine.get("flags", {}).items() if on),
                     "cores": machine.get("cores"), "threads": machine.get("threads"), "torch": report.get("torch"),
                     "fp32 matmul (GFLOP/s)": peaks["fp32"] / 1e9, "bf16 matmul (GFLOP/s)": peaks["bf16"] / 1e9,
                     "bf16 / fp32": peaks["bf16"] / peaks["fp32"],
                     "memory bandwidth (GB/s)": math.nan if bandwidth is None else bandwidth / 1e9,
                     "measured": report.get("measured"), "note": machine.get("note", "")})
    return pd.DataFrame(rows)


def steps_table(reports: dict[str, dict], tolerance: float = AUTO_TOLERANCE):
    """One row per CPU type and case: the plain fp32 loop and bannb's step in every candidate (ms; NaN where not
    measured, inf where given up), what `auto` picked, the fastest candidate, auto's gap to it (%) and whether it
    is within `tolerance` (None where only auto's choice was timed), auto's speed-up over the plain loop, and the
    share of the matmul peak (of its precision) and of the memory bandwidth its step reaches, beside the plain
    loop's share of the fp32 peak. Cases in the order of `CASES`."""
    rows = []
    order = {case: position for position, case in enumerate(CASES)}
    for name, report in reports.items():
        for row in sorted(report["rows"], key=lambda row: order.get(row["case"], len(order))):
            choice = row["auto"]["choice"]
            shares = row.get("candidate_shares", {}).get(choice, {})
            entry = {"CPU": name, "case": row["case"], "plain fp32 loop": 1e3 * row["plain_fp32_seconds"]}
            entry.update({c.label: 1e3 * row["candidates"][c.label] if c.label in row["candidates"] else math.nan
                          for c in candidates("cpu")})
            gap = row.get("auto_gap")
            entry.update({"auto picks": choice, "fastest": row.get("fastest") or "not measured",
                          "auto vs fastest (%)": math.nan if gap is None else 100 * gap,
                          "within tolerance": None if gap is None else bool(gap <= tolerance),
                          "speed-up over plain": row["plain_fp32_seconds"] / row["bannb_seconds"],
                          "% of its matmul peak": _share(shares.get("share_of_peak")),
                          "% of memory bandwidth": _share(shares.get("share_of_bandwidth")),
                          "plain loop: % of fp32 peak": _share(row.get("plain_fp32_shares", {}).get("share_of_peak"))})
            rows.append(entry)
    return pd.DataFrame(rows)


def variants_table(reports: dict[str, dict]):
    """The dense-block variants of DenseNet-BC-40-12 tried on each CPU type (`VARIANTS`), in auto's precision: ms per
    step, its change against concatenating (%, below 0: faster), its share of the matmul peak and of the memory
    bandwidth, and the first epoch's seconds (compiling included)."""
    rows = []
    for name, report in reports.items():
        for row in report["rows"]:
            variants = row.get("variants", {})
            before = variants.get(VARIANTS[0], {}).get("seconds")
            for variant, result in variants.items():
                rows.append({"CPU": name, "case": row["case"], "dense block": variant, "precision": result["precision"],
                             "ms per step": 1e3 * result["seconds"],
                             "change (%)": math.nan if not before else 100 * (result["seconds"] / before - 1),
                             "% of matmul peak": _share(result.get("share_of_peak")),
                             "% of memory bandwidth": _share(result.get("share_of_bandwidth")),
                             "first epoch (s)": result.get("first_epoch_seconds") or math.nan})
    return pd.DataFrame(rows)


def accuracy_difference(report: dict):
    """bf16 against fp32 on the book's teachers of the report's accuracy section: their test errors paired by seed
    (`stats.paired_difference`, bf16 − fp32 in points), or None where the report has no accuracy section."""
    runs = report.get("accuracy", {}).get("runs")
    if not runs:
        return None
    errors = {precision: {run["seed"]: run["test_error"] for run in runs if run["precision"] == precision}
              for precision in ("fp32", "bf16")}
    return paired_difference(errors["fp32"], errors["bf16"])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bannb.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", nargs="*", default=DEFAULT_CASES, help="which of: " + "; ".join(CASES))
    parser.add_argument("--steps", type=int, default=3, help="timed steps per path (after a warm-up)")
    parser.add_argument("--no-variants", action="store_true",
                        help=f"skip the dense-block variants of {VARIANT_CASE} ({', '.join(VARIANTS)})")
    parser.add_argument("--accuracy-seeds", type=int, default=3,
                        help="seeds of the bf16-vs-fp32 accuracy comparison (trains WRN-16-1 on Fashion-MNIST, "
                             "reusing finished runs; 0: skip)")
    parser.add_argument("--quick", action="store_true",
                        help="a check in about a minute: wrn-16-1 only, 2 steps, no variants, no accuracy; written "
                             "under _build/bench-quick/ unless --out is given (the committed reports are full "
                             "benchmarks)")
    parser.add_argument("--no-speed", action="store_true", help="skip the step timings (keep the last ones)")
    parser.add_argument("--out", type=Path, default=None, help="where the report goes (default: book/results)")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: measure one case in this process
    args = parser.parse_args(argv)
    if args.quick:
        args.cases, args.steps, args.no_variants, args.accuracy_seeds = ["wrn-16-1 1×28×28"], 2, True, 0
    unknown = [name for name in args.cases if name not in CASES]
    if unknown:
        print(f"error: unknown case {unknown[0]!r}; the cases are: {'; '.join(CASES)}", file=sys.stderr)
        return 2
    if args.steps < 1 or args.accuracy_seeds < 0:
        print("error: --steps must be at least 1 and --accuracy-seeds at least 0", file=sys.stderr)
        return 2
    if args.one:
        print(json.dumps(measure_case(args.one, args.steps, variants=not args.no_variants)))
        return 0

    def in_subprocess(name: str) -> dict:
        # Each case in its own process, so peak memory and compiled kernels are its own.
        flags = ["--no-variants"] if args.no_variants or name != VARIANT_CASE else []
        result = subprocess.run([sys.executable, "-m", "bannb.bench", "--one", name, "--steps", str(args.steps),
                                 *flags], capture_output=True, text=True)
        if result.returncode:
            raise SystemExit(f"error: measuring {name!r} failed:\n{result.stderr[-2000:]}")
        return json.loads(result.stdout.strip().splitlines()[-1])

    machine = cpu_info()
    path = report_file(args.out or (QUICK_OUT if args.quick else RESULTS_DIR), machine)
    updates = {}
    if not args.no_speed:
        print(f"[bench] on {machine_name('cpu')}: matmul peaks and memory bandwidth …", flush=True)
        peaks = {"fp32": matmul_peak(torch.float32), "bf16": matmul_peak(torch.bfloat16)}
        bandwidth = memory_bandwidth()
        rows = []
        for name in args.cases:
            print(f"[bench] {name} …", flush=True)
            rows.append(add_shares(in_subprocess(name), peaks, bandwidth))
        updates.update(machine=machine, device=machine_name("cpu"), torch=torch.__version__, batch=BATCH,
                       steps=args.steps, matmul_peak_flops_per_second=peaks,
                       memory_bandwidth_bytes_per_second=bandwidth, rows=rows,
                       measured=time.strftime("%Y-%m-%d"))
    if args.accuracy_seeds:
        updates["accuracy"] = precision_accuracy(args.accuracy_seeds)
    updates["cpu_book_wall_seconds"] = book_wall_seconds()
    print_report(write_report(path, updates), path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
