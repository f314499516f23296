"""The machine at hand: what the CPU is (`cpu_info`, `isa_level`, `machine_name`), its matmul peak
(`matmul_peak`, on the CPU or a CUDA device), and the FLOPs of a step (`step_flops`).

The benchmarks (`bannb.bench.cpu`, `bannb.bench.gpu`) place their steps against these; `precision="auto"` names
the machine its cached decisions belong to by `machine_name`; the book's timings say which CPUs trained it. This
module imports nothing from bannb, so that any of them may import it.
"""
from __future__ import annotations

import os
import platform
import re
import subprocess
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

# The CPU flags that decide whether bf16 can pay: native bf16 dot products (AVX512-BF16) and tile matmuls (AMX).
CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16")


# ------------------------------------------------------------------------------------------------- what the CPU is

def _cpuinfo_fields() -> dict:
    """The first processor's fields of /proc/cpuinfo (Linux), else {}."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    fields = {}
    for line in text.split("\n\n")[0].splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    return fields


def cpu_info() -> dict:
    """The CPU's model name, family/model numbers, core count, torch's thread count and the flags that matter."""
    fields = _cpuinfo_fields()
    name = fields.get("model name")
    if not name:
        try:
            lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
            name = next((line.split(":", 1)[1].strip() for line in lscpu.splitlines()
                         if line.startswith("Model name:")), None)
        except (OSError, subprocess.SubprocessError):
            name = None
    name = re.sub(r"\s+", " ", name or platform.processor() or platform.machine() or "unknown CPU")
    if "flags" in fields:
        present = set(fields["flags"].split())
        flags = {flag: flag in present for flag in CPU_FLAGS}
    else:  # no /proc/cpuinfo: ask torch for the two that matter most
        flags = {"avx512_bf16": torch.cpu._is_avx512_bf16_supported(), "amx_tile": torch.cpu._is_amx_tile_supported()}
    return dict(model=name, family=fields.get("cpu family"), model_number=fields.get("model"),
                cores=os.cpu_count(), threads=torch.get_num_threads(), flags=flags, isa=isa_level(flags),
                arch=platform.machine())


def isa_level(flags: dict) -> str:
    """The highest of the instruction sets that decide bf16's speed. Under a hypervisor a CPU may report only
    "AMD EPYC", whichever generation it is, so the model name alone does not tell the machines apart."""
    if flags.get("amx_bf16") or flags.get("amx_tile"):
        return "amx"
    if flags.get("avx512_bf16"):
        return "avx512-bf16"
    if flags.get("avx512f"):
        return "avx512"
    if flags.get("avx2"):
        return "avx2"
    return platform.machine() or "unknown"


def machine_name(device: torch.device | str = "cpu") -> str:
    """What a measurement ran on, in words: 'AMD EPYC (avx2), 2 threads' or the GPU's name."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    info = cpu_info()
    return f"{info['model']} ({info['isa']}), {info['threads']} threads"


# ------------------------------------------------------------------------------------------- the machine's ceiling

def matmul_peak(dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu", seconds: float = 1.0) -> float:
    """Achieved FLOP/s of a square matmul on `device`, the practical peak the networks are measured against.

    On a CUDA device: 20 products of 8192² after 3 untimed ones, synchronised around the timing (`seconds` is not
    used). Elsewhere the size grows to 2048 unless one product already takes long (bf16 without native
    instructions is emulated and ~40× slower: a 2048² product would take minutes); then it repeats for about
    `seconds`."""
    device = torch.device(device)
    if device.type == "cuda":
        size, repeats = 8192, 20
        a = torch.randn(size, size, dtype=dtype, device=device)
        b = torch.randn(size, size, dtype=dtype, device=device)
        for _ in range(3):
            a @ b
        torch.cuda.synchronize(device)
        started = time.perf_counter()
        for _ in range(repeats):
            a @ b
        torch.cuda.synchronize(device)
        return 2 * size ** 3 * repeats / (time.perf_counter() - started)
    size = 256
    while True:
        a = torch.randn(size, size, dtype=dtype, device=device)
        b = torch.randn(size, size, dtype=dtype, device=device)
        a @ b
        started = time.perf_counter()
        a @ b
        once = time.perf_counter() - started
        if size >= 2048 or once * 8 > seconds:
            break
        size *= 2
    repeats, started = 0, time.perf_counter()
    while repeats < 3 or time.perf_counter() - started < seconds:
        a @ b
        repeats += 1
    return 2 * size ** 3 * repeats / (time.perf_counter() - started)


# ------------------------------------------------------------------------------------------------- what a step does

def step_flops(step) -> int:
    """FLOPs of one call of `step` (torch's FLOP counter: 2 per multiply-add)."""
    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops()
