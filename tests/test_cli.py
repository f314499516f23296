"""The command line: real runs through `main`, and bad input refused with one message and a non-zero exit."""
import subprocess

import pytest

from bannb.cli import main
from tests.conftest import bannb_command


def run_cli(*args):
    return subprocess.run(bannb_command(*args), capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("args, message", [
    (["train", "--arch", "resnet-50"], "unknown architecture 'resnet-50'; valid architectures are:"),
    (["train", "--dataset", "mnist"], "unknown dataset 'mnist'; valid datasets are: cifar10, cifar10-jpeg, cifar100, fashion-mnist"),
    (["train", "--profile", "laptop"], "unknown profile 'laptop'; valid profiles are: cpu, gpu, paper, smoke"),
    (["ban", "--loss", "distill"], "unknown loss 'distill'"),
    (["train", "--loss", "ban", "--teacher", "missing-run"], "teacher run 'missing-run' not found"),
])
def test_bad_input_gets_one_clear_error(args, message, tmp_path):
    result = run_cli(*args, "--runs-dir", str(tmp_path))
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not any(tmp_path.iterdir()), "nothing is written for bad input"


@pytest.mark.parametrize("flag", ["--epochs", "--batch-size", "--generations"])
def test_non_positive_counts_are_refused(flag, tmp_path):
    result = run_cli("ban", flag, "0", "--runs-dir", str(tmp_path))
    assert result.returncode == 2 and "expected a positive integer, got 0" in result.stderr


def test_ban_then_evaluate(tmp_path, capsys, fashion_mnist_available):
    args = ["ban", "--profile", "smoke", "--generations", "2", "--runs-dir", str(tmp_path), "--quiet",
            "--precision", "fp32"]
    assert main(args) == 0
    out = capsys.readouterr().out
    for row in ("teacher", "BAN-1", "BAN-2", "ensemble BAN-1..2", "ensemble teacher+BANs"):
        assert f"  {row} " in out
    run_ids = sorted(path.name for path in tmp_path.iterdir())
    assert len(run_ids) == 3
    assert main(["evaluate", *run_ids, "--runs-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.count("test accuracy") == 4 and "ensemble of 3" in out


def test_models_lists_the_registry(capsys):
    assert main(["models"]) == 0
    names = capsys.readouterr().out.split()
    assert {"wrn-16-1", "wrn-28-10", "densenet-bc-112-33", "densenet-bc-80-120", "preresnet-1001"} <= set(names)
