"""The `gpu` profile (the paper's Table 1 on CIFAR-10 JPEG) at smoke size on the CPU, and the GPU benchmark's code."""
from __future__ import annotations

import json

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import bannb.data.arrays as arrays_module
from bannb import cli
from bannb.bench import gpu as bench_gpu
from bannb.data import cifar10_jpeg, load_dataset
from bannb.data.cifar10_jpeg import JpegArchive
from bannb.models import count_parameters, create_model
from bannb.runs.store import Run
from bannb.study.generations import born_again
from bannb.study.paper import PAPER_ARCHS, paper_table
from bannb.study.profiles import GPU_TABLE1_ARCHS, get_profile, make_config
from tests.test_cifar10_jpeg import write_archive

# Enough images per class for a 64-image training subset beside a 64-image validation split and a 64-image test subset.
SMOKE_ARCHIVE = JpegArchive(sha256=None, train_per_class=13, test_per_class=7)
SMOKE = dict(train_size=64, valid_size=64, test_size=64, epochs=1, arch="wrn-10-1")


def test_gpu_profile_is_table_1_on_cifar10_jpeg():
    config = make_config("gpu", device="cuda" if torch.cuda.is_available() else "cpu", precision="bf16")
    assert (config.dataset, config.arch, config.schedule) == ("cifar10-jpeg", "wrn-28-2", "one-cycle")
    assert config.batch_size == 512 and config.lr == pytest.approx(0.1 * 512 / 128)  # the recipe's lr, scaled
    assert config.epochs == 30 and config.valid_size == 5000 and config.train_size is None and config.test_size is None
    assert config.dropout == 0.0 and config.precision == "bf16" and config.channels_last
    assert list(get_profile("gpu").seeds) == [0, 1, 2]
    assert GPU_TABLE1_ARCHS == ("wrn-28-1", "wrn-28-2")
    paper_params = paper_table(1)["Params (M)"]  # the networks are the paper's, with its parameter counts
    for network in ("Wide-ResNet-28-1", "Wide-ResNet-28-2"):
        assert PAPER_ARCHS[network] in GPU_TABLE1_ARCHS
        ours = count_parameters(create_model(PAPER_ARCHS[network], 3, 10)) / 1e6
        assert ours == pytest.approx(paper_params[network], rel=0.05)


@pytest.fixture
def smoke_archive(tmp_path, monkeypatch):
    monkeypatch.setenv("BANNB_DATA", str(tmp_path / "env-data"))
    monkeypatch.setattr(arrays_module, "PROJECT_ROOT", tmp_path / "project")
    monkeypatch.setattr(arrays_module, "DATA_DIR", tmp_path / "project" / "data")
    monkeypatch.setattr(cifar10_jpeg, "ARCHIVE", SMOKE_ARCHIVE)
    write_archive(tmp_path / "project" / "data" / "cifar10-jpeg.tar.gz", SMOKE_ARCHIVE)
    load_dataset.cache_clear()
    yield tmp_path / "runs"
    load_dataset.cache_clear()


def test_table_1_command_at_smoke_size_on_the_cpu(smoke_archive, capsys):
    """`python -m bannb ban --profile gpu --generations 1` trains a teacher and its BAN student on CIFAR-10 JPEG,
    with the profile's batch, lr and schedule: here on the CPU, with a small network on a small archive."""
    runs_dir = smoke_archive
    argv = ["ban", "--profile", "gpu", "--device", "cpu", "--precision", "bf16", "--generations", "1",
            "--arch", SMOKE["arch"], "--epochs", "1", "--train-size", "64", "--valid-size", "64", "--test-size", "64",
            "--seeds", "0", "--runs-dir", str(runs_dir), "--quiet"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "cifar10-jpeg, wrn-10-1, loss ban, 1 epochs, seeds 0" in out
    # The same runs through the library: the command ran exactly the profile's configs, so they are reused.
    config = make_config("gpu", device="cpu", precision="bf16", **SMOKE)
    teacher, student = born_again(config, generations=1, runs_dir=runs_dir, device="cpu", progress=False)
    assert sorted(path.name for path in runs_dir.iterdir()) == sorted([teacher.run_id, student.run_id])
    for run in (teacher, student):
        assert run.config.dataset == "cifar10-jpeg" and run.run_id.startswith("cifar10-jpeg-wrn-10-1-")
        assert (run.config.batch_size, run.config.lr, run.config.schedule, run.config.precision) == (512, 0.4, "one-cycle", "bf16")
        rows = run.metrics()
        assert rows["epoch"].tolist() == [1] and rows["train_samples"].tolist() == [64]  # one batch: 64 < 512
        assert len(run.test_labels()) == 64 and run.test_logits().shape == (64, 10)
        assert 0 <= run.test_accuracy <= 1 and run.final["device"] == "cpu"
    assert student.config.teacher == teacher.run_id and student.config.loss == "ban"
    assert Run(runs_dir / student.run_id).final["test_agreement_with_teacher"] is not None


def forward_flops(arch, batch):
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        create_model(arch, 3, 10)(torch.randn(batch, 3, 32, 32))
    return counter.get_total_flops()


def test_gpu_benchmark_runs_on_the_cpu_at_a_tiny_size():
    report = bench_gpu.gpu_benchmark("cpu", arch="wrn-10-1", batch=4, steps=1, warmup=1, precision="fp32")
    assert (report["device"], report["arch"], report["batch"], report["precision"]) == ("cpu", "wrn-10-1", 4, "fp32")
    assert report["loader_synchronisations_per_epoch"] is None and report["datasheet_bf16_flops_per_second"] is None
    rows = {(row["step"].split()[0], row["path"].split()[0]): row for row in report["rows"]}
    assert set(rows) == {("teacher", "bannb"), ("teacher", "plain"), ("BAN", "bannb"), ("BAN", "plain")}
    forward = forward_flops("wrn-10-1", 4)
    teacher_step = rows["teacher", "bannb"]["step_flops"]
    # forward + backward ≈ 3 forwards (the first convolution needs no gradient of its input)
    assert 2.5 * forward < teacher_step <= 3 * forward
    assert rows["BAN", "bannb"]["step_flops"] == teacher_step + forward  # plus the teacher's forward
    for (step, path), row in rows.items():
        assert row["step_flops"] == rows[step, "plain"]["step_flops"]
        assert row["images_per_second"] == pytest.approx(4 / row["step_seconds"])
        assert row["flops_per_second"] == pytest.approx(row["step_flops"] / row["step_seconds"])
        assert row["share_of_measured_peak"] == pytest.approx(
            row["flops_per_second"] / report["measured_matmul_peak_flops_per_second"])
    for step in ("teacher", "BAN"):
        assert rows[step, "bannb"]["speedup_over_plain_fp32"] == pytest.approx(
            rows[step, "plain"]["step_seconds"] / rows[step, "bannb"]["step_seconds"])
    json.dumps(report)  # the lead merges it into performance.json


def test_datasheet_peaks_pick_the_specific_name_first(monkeypatch):
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA H100 PCIe")
    assert bench_gpu.datasheet_bf16_peak(torch.device("cuda")) == 756e12
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA H100 80GB HBM3")
    assert bench_gpu.datasheet_bf16_peak(torch.device("cuda")) == pytest.approx(989.4e12)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Some Other GPU")
    assert bench_gpu.datasheet_bf16_peak(torch.device("cuda")) is None
    assert bench_gpu.datasheet_bf16_peak(torch.device("cpu")) is None


def test_bench_gpu_refuses_bad_arguments(capsys):
    assert bench_gpu.main(["--steps", "0", "--device", "cpu"]) == 2
    assert "--steps, --warmup and --batch must be at least 1" in capsys.readouterr().err
