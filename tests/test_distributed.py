"""Data-parallel training on the CPU: two processes on the gloo backend against one."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from bannb.data import load_dataset, make_dataloaders
from bannb.runs.store import Run, read_metrics
from tests.conftest import free_port

ARGS = ["train", "--profile", "smoke", "--epochs", "2", "--train-size", "512", "--precision", "fp32", "--quiet"]


def train(runs_dir: Path, processes: int) -> Run:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    if processes == 1:
        command = [sys.executable, "-m", "bannb", *ARGS]
    else:
        torchrun = Path(sys.executable).with_name("torchrun")
        command = [str(torchrun), "--nproc_per_node", str(processes), "--master_port", str(free_port()), "-m", "bannb", *ARGS]
    result = subprocess.run([*command, "--runs-dir", str(runs_dir)], capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    (path,) = list(runs_dir.iterdir())
    return Run(path)


def evaluate_alone(run: Run, split: str):
    """The saved model evaluated in this single process, on the whole split."""
    config = run.config
    dls = make_dataloaders(load_dataset(config.dataset), config.batch_size, config.valid_size, config.split_seed,
                           config.train_size, config.test_size, seed=config.seed)
    loader = dls.valid if split == "valid" else dls.test
    model = run.load_model()
    with torch.no_grad():
        logits = torch.cat([model(x) for x, _ in loader])
    return F.cross_entropy(logits, loader.labels).item(), (logits.argmax(1) == loader.labels).float().mean().item()


def test_two_gloo_processes_match_one(tmp_path, fashion_mnist_available):
    single, double = train(tmp_path / "one", 1), train(tmp_path / "two", 2)
    assert (single.config.processes, double.config.processes) == (1, 2)
    # the same samples per epoch: each global batch is split over the two processes, not repeated
    assert [row["train_samples"] for row in read_metrics(double.path / "metrics.csv")] == [512, 512]
    assert read_metrics(double.path / "metrics.csv")[0]["train_samples"] == \
        read_metrics(single.path / "metrics.csv")[0]["train_samples"]
    # predictions gathered from both processes, in the dataset's order
    assert torch.equal(double.test_labels(), single.test_labels())
    assert len(double.test_logits()) == double.config.test_size
    # metrics gathered correctly: they equal the saved model's, evaluated here on the whole split in one process
    last = read_metrics(double.path / "metrics.csv")[-1]
    valid_loss, valid_accuracy = evaluate_alone(double, "valid")
    assert last["valid_accuracy"] == pytest.approx(valid_accuracy, abs=1e-6)
    assert last["valid_loss"] == pytest.approx(valid_loss, rel=1e-4)
    test_loss, test_accuracy = evaluate_alone(double, "test")
    assert double.test_accuracy == pytest.approx(test_accuracy, abs=1e-6)
    assert double.final["test_loss"] == pytest.approx(test_loss, rel=1e-4)
