"""`precision="auto"` decided by measurement: which numeric format and memory layout trains this network fastest
on this machine.

Whether bf16 pays depends on more than the CPU's flags: on one Xeon with AVX512-BF16 (and no AMX) a bf16 matmul
runs at half fp32's speed, so Wide-ResNets train 7–26% slower in bf16 there while memory-bound DenseNets still
gain; on a CPU without AVX512-BF16, bf16 is emulated and many times slower. So on first use for a (machine,
architecture, input shape, batch, teacher or not) `decide` times a few real training steps (forward, backward,
SGD step, and the teacher's forward when distilling) in every candidate, keeps the fastest, prints the decision
once and caches it with its timings outside git: `$BANNB_CACHE/precision.json`, else
`~/.cache/bannb/precision.json`. Later runs read the cache and measure nothing. An explicit precision never gets
here.

The machine's identity (its CPU's model name and the flags that matter, or its GPU) comes from `bannb.bench.machine`.
"""
from __future__ import annotations

import json
import math
import os
import re
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from bannb.bench.machine import machine_name
from bannb.errors import ConfigError
from bannb.image.config import PRECISIONS
from bannb.models import create_model

WARMUP_STEPS, TIMED_STEPS = 2, 3
# A candidate whose single step already takes this many times the best median so far cannot win: stop timing it
# (on a CPU that emulates bf16, a bf16 step is ~10× slower, and timing five of them would cost a minute).
GIVE_UP_FACTOR = 3.0


@dataclass(frozen=True)
class Candidate:
    precision: str  # "fp32", "bf16" or "fp16" (CUDA)
    channels_last: bool

    @property
    def label(self) -> str:
        return self.precision + ("+channels-last" if self.channels_last else "")

    @classmethod
    def from_label(cls, label: str) -> "Candidate":
        precision, _, layout = label.partition("+")
        if precision not in ("fp32", "bf16", "fp16") or layout not in ("", "channels-last"):
            raise ValueError(f"not a precision candidate: {label!r}")
        return cls(precision, layout == "channels-last")


def candidates(device: torch.device | str) -> list[Candidate]:
    """What `auto` chooses among: fp32 and bf16 autocast, each NCHW and channels-last, on the CPU; on CUDA also
    fp16 (fastai's mixed precision), and bf16 only where the GPU has it. fp32 first: it is the cheap baseline
    that lets a hopeless candidate be given up early."""
    device = torch.device(device)
    if device.type == "cuda":
        precisions = ["fp32", "fp16"] + (["bf16"] if torch.cuda.is_bf16_supported() else [])
    else:
        precisions = ["fp32", "bf16"]
    return [Candidate(p, layout) for p in precisions for layout in (False, True)]


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


# ------------------------------------------------------------------------------------------------- the measurement

def shape_text(input_shape) -> str:
    return "×".join(str(size) for size in input_shape)


def training_step(candidate: Candidate, arch: str, input_shape, num_classes: int = 10, batch_size: int = 128,
                  distill: bool = False, device: torch.device | str = "cpu", model_factory=None) -> Callable[[], None]:
    """One training step of `arch` in `candidate`, as a function to call: forward (and the frozen teacher's forward
    under no_grad when distilling) under autocast, the soft cross-entropy, backward, an SGD step with momentum and
    weight decay: the work of bannb's Learner, and of the plain loop public BAN code uses when the candidate is
    fp32 NCHW. Random data: the speed does not depend on it. `model_factory(arch, in_channels, num_classes)`
    builds the networks (default `create_model`)."""
    model_factory = model_factory or create_model
    device = torch.device(device)
    memory_format = torch.channels_last if candidate.channels_last else torch.contiguous_format
    student = model_factory(arch, input_shape[0], num_classes).to(device, memory_format=memory_format)
    teacher = model_factory(arch, input_shape[0], num_classes).to(device, memory_format=memory_format).eval() \
        if distill else None
    optimizer = torch.optim.SGD(student.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    images = torch.randn(batch_size, *input_shape, device=device).contiguous(memory_format=memory_format)
    labels = torch.randint(0, num_classes, (batch_size,), device=device)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(candidate.precision)
    scaler = torch.amp.GradScaler("cuda") if candidate.precision == "fp16" else None

    def step() -> None:
        with torch.autocast(device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None):
            if teacher is not None:
                with torch.no_grad():
                    targets = F.softmax(teacher(images).float(), 1)
            else:
                targets = F.one_hot(labels, num_classes).float()
            loss = -(targets * F.log_softmax(student(images).float(), 1)).sum(1).mean()
        optimizer.zero_grad()
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()

    return step


def time_steps(step: Callable[[], None], warmup: int = WARMUP_STEPS, steps: int = TIMED_STEPS,
               give_up_after: float = math.inf, device: torch.device | str = "cpu") -> float:
    """Median seconds of `step` after `warmup` untimed calls (the first pay for the allocator and oneDNN's kernel
    choice); inf as soon as a call after the first takes longer than `give_up_after`."""
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)
    times = []
    for index in range(warmup + steps):
        sync()
        started = time.perf_counter()
        step()
        sync()
        seconds = time.perf_counter() - started
        if index >= 1 and seconds > give_up_after:  # the very first call may pay for kernel selection: not judged
            return math.inf
        if index >= warmup:
            times.append(seconds)
    return statistics.median(times)


def step_seconds(candidate: Candidate, arch: str, input_shape, num_classes: int = 10, batch_size: int = 128,
                 distill: bool = False, device: torch.device | str = "cpu", warmup: int = WARMUP_STEPS,
                 steps: int = TIMED_STEPS, give_up_after: float = math.inf) -> float:
    """Median seconds of a training step of `arch` in `candidate` (see `training_step`)."""
    step = training_step(candidate, arch, input_shape, num_classes, batch_size, distill, device)
    return time_steps(step, warmup, steps, give_up_after, device)


@dataclass(frozen=True)
class Decision:
    choice: Candidate
    seconds: dict  # candidate label -> median step seconds (inf: given up as hopeless)
    key: str
    measured_now: bool

    def summary(self, arch: str, input_shape, device_name: str) -> str:
        others = ", ".join(f"{label} {format_ms(s)}" for label, s in self.seconds.items() if label != self.choice.label)
        return (f"precision auto → {self.choice.label} for {arch} {shape_text(input_shape)} on {device_name}: "
                f"{format_ms(self.seconds[self.choice.label])} vs {others}")


def format_ms(seconds: float) -> str:
    return "gave up (> 3× slower)" if math.isinf(seconds) else f"{seconds * 1e3:.0f} ms"


def fastest(seconds: dict) -> Candidate:
    """The candidate with the smallest step time (ties: the first listed, fp32 before bf16, NCHW before NHWC)."""
    finite = {label: s for label, s in seconds.items() if not math.isinf(s)}
    if not finite:
        raise ConfigError("no precision candidate finished a timed step")
    return Candidate.from_label(min(finite, key=finite.get))


def cache_file() -> Path:
    root = os.environ.get("BANNB_CACHE")
    if root:
        return Path(root) / "precision.json"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "bannb" / "precision.json"


def decision_key(device: torch.device | str, arch: str, input_shape, num_classes: int, batch_size: int,
                 distill: bool) -> str:
    """What the answer depends on: the machine (CPU model, its bf16 instructions, threads; or the GPU), the torch
    version, the network and its input, the batch size, and whether a teacher runs too."""
    return (f"{machine_name(device)} | torch {torch.__version__} | {arch} {shape_text(input_shape)} → {num_classes} "
            f"| batch {batch_size} | {'with teacher' if distill else 'no teacher'}")


def read_cache(path: Path, log=print) -> dict:
    """The cached decisions; a file that cannot be read as them is reported and started afresh (it only caches
    measurements, which are taken again)."""
    if not path.exists():
        return {}
    try:
        entries = json.loads(path.read_text())
        if not isinstance(entries, dict):
            raise ValueError("not a JSON object")
        for entry in entries.values():
            Candidate.from_label(entry["choice"])
            {label: float(s) for label, s in entry["seconds"].items()}
        return entries
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        log(f"precision cache {path} is unreadable ({err}); measuring again and rewriting it")
        return {}


def write_cache(path: Path, entries: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(entries, indent=2, sort_keys=True))
    os.replace(temporary, path)  # a reader never sees half a file


def decide(arch: str, input_shape, num_classes: int = 10, batch_size: int = 128, distill: bool = False,
           device: torch.device | str = "cpu", measure: Callable[[Candidate, float], float] | None = None,
           cache: Path | None = None, log=print) -> Decision:
    """The fastest candidate for this network on this machine: from the cache, else measured (and cached).

    `measure(candidate, give_up_after)` returns a median step in seconds (default: `step_seconds` of this
    network); tests pass their own."""
    device = torch.device(device)
    cache = cache_file() if cache is None else cache
    key = decision_key(device, arch, input_shape, num_classes, batch_size, distill)
    entries = read_cache(cache, log)
    if key in entries:
        entry = entries[key]
        return Decision(Candidate.from_label(entry["choice"]), {k: float(v) for k, v in entry["seconds"].items()},
                        key, measured_now=False)
    if measure is None:
        def measure(candidate, give_up_after):
            return step_seconds(candidate, arch, input_shape, num_classes, batch_size, distill, device,
                                give_up_after=give_up_after)
    seconds = {}
    for candidate in candidates(device):
        best = min(seconds.values(), default=math.inf)
        seconds[candidate.label] = measure(candidate, GIVE_UP_FACTOR * best)
    decision = Decision(fastest(seconds), seconds, key, measured_now=True)
    entries = read_cache(cache, log=lambda line: None)  # another process may have added its own meanwhile
    entries[key] = dict(choice=decision.choice.label, seconds=seconds, measured=time.strftime("%Y-%m-%d %H:%M"))
    write_cache(cache, entries)
    log(decision.summary(arch, input_shape, machine_name(device)) + f" (measured once; cached in {cache})")
    return decision


def auto_settings(device: torch.device | str, arch: str, input_shape, num_classes: int = 10, batch_size: int = 128,
                  distill: bool = False, log=print) -> dict:
    """The run-config fields `precision="auto"` stands for: {"precision": ..., "channels_last": ...}."""
    choice = decide(arch, input_shape, num_classes, batch_size, distill, device, log=log).choice
    return dict(precision=choice.precision, channels_last=choice.channels_last)


def resolve_precision(precision: str, device: torch.device | str, *, arch: str | None = None, input_shape=None,
                      num_classes: int = 10, batch_size: int = 128, distill: bool = False, log=print) -> str:
    """An explicit precision is checked and kept. 'auto' with the network given (`arch`, `input_shape`) is the
    fastest precision measured on this machine (`decide`: timed once, then cached; the layout it
    chose with it comes from `auto_settings`). 'auto' without a network to time falls back on
    what the device reports: bf16 on CUDA where supported (else fp16), and on CPUs with native bf16
    (AVX512-BF16 or AMX), else fp32."""
    if precision not in PRECISIONS:
        raise ConfigError(f"unknown precision {precision!r}; valid precisions are: {', '.join(PRECISIONS)}")
    device = torch.device(device)
    if precision == "fp16" and device.type != "cuda":
        raise ConfigError("fp16 mixed precision needs a CUDA device; use --precision bf16 or fp32 on the CPU")
    if precision != "auto":
        return precision
    if arch is not None and input_shape is not None:
        return decide(arch, input_shape, num_classes, batch_size, distill, device, log=log).choice.precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    native_bf16 = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    return "bf16" if native_bf16 else "fp32"
