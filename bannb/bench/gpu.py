"""Throughput of the `gpu` profile's training steps: bannb's path against a plain fp32 PyTorch loop, on the same
device in the same process.

    python -m bannb.bench.gpu [--arch wrn-28-2] [--batch 512] [--steps 30] [--device cuda] [--json FILE]

Two steps, each timed both ways:

- the teacher's step: forward, cross-entropy with the labels, backward, SGD update;
- the BAN step: the same, plus the frozen teacher's forward on the same batch and the BAN loss.

bannb's path is the fastai Learner that `make_learner` builds (as a run trains), fed by `InMemoryLoader` with
the whole data set resident on the device (shuffling and pad-crop-flip drawn there), bf16 autocast (fastai's
MixedPrecision on CUDA), channels-last and cuDNN autotuning. The plain loop is the one public BAN code uses:
fp32 (cuDNN's default TF32 convolutions left as they are), NCHW, `torch.optim.SGD`, teacher under `no_grad`,
and one fixed batch already on the device (no augmentation: the data side is free for it). FLOPs per step
come from torch's FLOP counter (2 per multiply-add); the share of peak is taken against the peak of a large
matmul in bannb's precision (bf16 on a GPU) measured in the same process and, where the GPU is known, its
datasheet dense bf16 peak.

`gpu_benchmark` returns the figures as a dict (the Performance appendix's `gpu` section); it runs on the CPU
too, at tiny sizes, so that its code is tested where no GPU is.
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from fastai.callback.core import Callback

from bannb.bench.machine import matmul_peak, step_flops
from bannb.data.arrays import ImageArrays
from bannb.data.loaders import InMemoryLoader, make_dataloaders
from bannb.image.learner import make_learner
from bannb.image.precision import resolve_precision
from bannb.losses import make_loss
from bannb.models import create_model
from bannb.runs.store import atomic_write_json
from bannb.study.profiles import PROFILES

# Dense (no sparsity) bf16 tensor-core peaks from NVIDIA's datasheets, TFLOP/s; the first name contained in
# torch.cuda.get_device_name() wins, so the specific names come first.
DATASHEET_BF16_TFLOPS = {"H100 PCIe": 756.0, "H100 NVL": 835.0, "H100": 989.4, "H200": 989.4, "A100": 312.0}


def datasheet_bf16_peak(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((tflops * 1e12 for key, tflops in DATASHEET_BF16_TFLOPS.items() if key in name), None)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def ban_step_flops(arch: str, batch: int, classes: int, device: torch.device, ban: bool) -> int:
    """FLOPs of one training step: student forward and backward, plus the teacher's forward for a BAN step."""
    student, teacher = create_model(arch, 3, classes).to(device), create_model(arch, 3, classes).to(device).eval()
    images = torch.randn(batch, 3, 32, 32, device=device)

    def step():
        if ban:
            with torch.no_grad():
                teacher(images)
        student(images).float().logsumexp(1).mean().backward()
    return step_flops(step)


def _random_images(count: int, classes: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return (torch.randint(0, 256, (count, 3, 32, 32), dtype=torch.uint8, generator=generator),
            torch.randint(0, classes, (count,), generator=generator))


def plain_fp32_seconds(arch: str, batch: int, classes: int, steps: int, warmup: int, device: torch.device,
                       ban: bool) -> float:
    """Seconds for `steps` steps of the plain fp32 loop, after `warmup` untimed ones."""
    torch.manual_seed(0)
    student = create_model(arch, 3, classes).to(device)
    teacher = create_model(arch, 3, classes).to(device).eval()
    optimizer = torch.optim.SGD(student.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    images, labels = _random_images(batch, classes)
    images, labels = (images.float() / 255).to(device), labels.to(device)
    started = None
    for step in range(warmup + steps):
        if step == warmup:
            synchronize(device)
            started = time.perf_counter()
        if ban:
            with torch.no_grad():
                teacher_probs = F.softmax(teacher(images), 1)
            loss = -(teacher_probs * F.log_softmax(student(images), 1)).sum(1).mean()
        else:
            loss = F.cross_entropy(student(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    synchronize(device)
    return time.perf_counter() - started


def bannb_seconds(arch: str, batch: int, classes: int, steps: int, warmup: int, device: torch.device,
                  precision: str, ban: bool) -> float:
    """Seconds for `steps` training batches of one epoch through bannb's Learner, after `warmup` untimed ones
    (the data pipeline, the callbacks and the optimiser included; the epoch's validation is not)."""

    train_images, train_labels = _random_images(batch * (warmup + steps) + batch, classes)
    test_images, test_labels = _random_images(batch, classes, seed=1)
    dataset = ImageArrays("random", train_images, train_labels, test_images, test_labels,
                          [str(i) for i in range(classes)])
    dls = make_dataloaders(dataset, batch, valid_size=batch, device=device)

    class TrainTimer(Callback):
        order = 100  # after every other callback of the batch

        def before_batch(self):
            if self.training and self.iter == warmup:
                synchronize(device)
                self.started = time.perf_counter()

        def after_train(self):
            synchronize(device)
            self.seconds = time.perf_counter() - self.started

    torch.manual_seed(0)
    timer = TrainTimer()
    teacher = create_model(arch, 3, classes) if ban else None
    learn = make_learner(create_model(arch, 3, classes), dls, make_loss("ban" if ban else "ce"), teacher,
                         precision=precision, cbs=[timer])
    learn.remove_cbs([cb for cb in learn.cbs if type(cb).__name__ == "ProgressCallback"])
    learn.logger = lambda *args: None
    learn.fit(1)
    return timer.seconds


def loader_synchronisations(device: torch.device, batch: int = 64, batches: int = 4) -> int | None:
    """How many synchronising CUDA calls an augmented, shuffled epoch of `InMemoryLoader` makes (0: the data path
    never stalls the GPU); None off CUDA."""
    if device.type != "cuda":
        return None
    images, labels = _random_images(batch * batches, 10)
    loader = InMemoryLoader(images, labels, batch, torch.zeros(3), torch.ones(3), shuffle=True, augment=True,
                            drop_last=True, device=device)
    synchronize(device)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            for _ in loader:
                pass
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return sum("synchronizing" in str(w.message) for w in caught)


def gpu_benchmark(device: str | torch.device | None = None, arch: str = "wrn-28-2", batch: int | None = None,
                  steps: int = 30, warmup: int = 5, classes: int = 10, precision: str = "auto") -> dict:
    """The teacher's step and the BAN step of `arch`, through bannb and through the plain fp32 loop: images/s,
    achieved FLOP/s and their shares of the bf16 peak. `batch` defaults to the `gpu` profile's."""
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    batch = batch or PROFILES["gpu"]["batch_size"]
    precision = resolve_precision(precision, device)
    previous_benchmark = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True  # as bannb's path sets it; the plain loop gets the same autotuning
    try:
        peak = matmul_peak(torch.bfloat16 if precision == "bf16" else torch.float32, device)
        datasheet = datasheet_bf16_peak(device)
        rows = []
        for step, ban in (("teacher step", False), ("BAN step (teacher forward included)", True)):
            flops = ban_step_flops(arch, batch, classes, device, ban)
            for path, seconds in (
                    (f"bannb ({precision}, channels-last, data on the device)",
                     bannb_seconds(arch, batch, classes, steps, warmup, device, precision, ban)),
                    ("plain PyTorch fp32 loop", plain_fp32_seconds(arch, batch, classes, steps, warmup, device, ban))):
                per_second = flops * steps / seconds
                rows.append(dict(step=step, path=path, images_per_second=batch * steps / seconds,
                                 step_seconds=seconds / steps, step_flops=flops, flops_per_second=per_second,
                                 share_of_measured_peak=per_second / peak,
                                 share_of_datasheet_bf16_peak=None if datasheet is None else per_second / datasheet))
        for step in {row["step"] for row in rows}:
            bannb_row, plain_row = (row for row in rows if row["step"] == step)
            bannb_row["speedup_over_plain_fp32"] = plain_row["step_seconds"] / bannb_row["step_seconds"]
    finally:
        torch.backends.cudnn.benchmark = previous_benchmark
    return dict(device=torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
                torch=torch.__version__, cudnn=torch.backends.cudnn.version(), arch=arch, batch=batch, steps=steps,
                precision=precision, measured_matmul_peak_flops_per_second=peak,
                datasheet_bf16_flops_per_second=datasheet,
                loader_synchronisations_per_epoch=loader_synchronisations(device), rows=rows)


def print_gpu_report(report: dict) -> None:
    datasheet = report["datasheet_bf16_flops_per_second"]
    print(f"{report['device']}, torch {report['torch']}, {report['arch']}, batch {report['batch']}: "
          f"{report['precision']} matmul "
          f"peak {report['measured_matmul_peak_flops_per_second'] / 1e12:.1f} TFLOP/s measured"
          + (f", {datasheet / 1e12:.0f} datasheet" if datasheet else ""))
    for row in report["rows"]:
        print(f"  {row['step']:<38} {row['path']:<52} {row['images_per_second']:>9.0f} images/s "
              f"{row['flops_per_second'] / 1e12:7.2f} TFLOP/s {100 * row['share_of_measured_peak']:5.1f}% of peak"
              + (f"  ×{row['speedup_over_plain_fp32']:.2f}" if "speedup_over_plain_fp32" in row else ""))
    if report["loader_synchronisations_per_epoch"] is not None:
        print("  synchronising CUDA calls in an epoch of the data loader: "
              f"{report['loader_synchronisations_per_epoch']}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bannb.bench.gpu", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="wrn-28-2")
    parser.add_argument("--batch", type=int, default=None, help="default: the gpu profile's batch size")
    parser.add_argument("--steps", type=int, default=30, help="timed steps per path (after --warmup untimed ones)")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--device", default=None, help="default: cuda if available, else cpu")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.warmup < 1 or (args.batch is not None and args.batch < 1):
        print("error: --steps, --warmup and --batch must be at least 1", file=sys.stderr)
        return 2
    report = gpu_benchmark(args.device, args.arch, args.batch, args.steps, args.warmup)
    print_gpu_report(report)
    if args.json:
        atomic_write_json(args.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
