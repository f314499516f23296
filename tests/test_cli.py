"""The command line: real runs through `main`, and bad input refused with one message and a non-zero exit."""
import subprocess

import pytest

from bannb.cli import _device, build_parser, main
from tests.conftest import bannb_command


def run_cli(*args):
    return subprocess.run(bannb_command(*args), capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("args, message", [
    (["train", "--arch", "resnet-50"], "unknown architecture 'resnet-50'; valid architectures are:"),
    (["train", "--dataset", "mnist"], "unknown dataset 'mnist'; valid datasets are: cifar10, cifar10-jpeg, cifar100, fashion-mnist"),
    (["train", "--profile", "laptop"], "unknown profile 'laptop'; valid profiles are: cpu, cpu-next, gpu, paper, smoke"),
    (["ban", "--loss", "distill"], "unknown loss 'distill'"),
    (["train", "--loss", "ban", "--teacher", "missing-run"], "teacher run 'missing-run' not found"),
])
def test_bad_input_gets_one_clear_error(args, message, tmp_path):
    result = run_cli(*args, "--runs-dir", str(tmp_path))
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not any(tmp_path.iterdir()), "nothing is written for bad input"


@pytest.mark.parametrize("command", [["train"], ["ban", "--generations", "1"]])
@pytest.mark.parametrize("profile", ["gpu", "paper"])
def test_a_gpu_profile_is_refused_without_cuda_unless_the_cpu_is_asked_for(command, profile, tmp_path, monkeypatch,
                                                                          capsys):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    assert main([*command, "--profile", profile, "--runs-dir", str(tmp_path), "--quiet"]) == 2
    assert capsys.readouterr().err == (
        f"error: profile {profile} needs a GPU, and no CUDA device is visible here (torch.cuda.is_available() is "
        f"False); to train it on the CPU anyway, ask for the CPU explicitly (--device cpu), or choose a CPU profile "
        f"(smoke, cpu, cpu-next)\n")
    assert not any(tmp_path.iterdir()), "nothing trained"
    explicit = build_parser().parse_args([*command, "--profile", profile, "--device", "cpu"])
    assert _device(explicit) == "cpu"  # asked for: what the command then trains on


def test_repeated_seeds_and_unknown_devices_are_refused(tmp_path, capsys):
    assert main(["ban", "--profile", "smoke", "--seeds", "0", "0", "--runs-dir", str(tmp_path)]) == 2
    assert "error: --seeds [0, 0] name 0 more than once" in capsys.readouterr().err
    assert main(["train", "--profile", "smoke", "--device", "tpu", "--runs-dir", str(tmp_path)]) == 2
    assert "error: unknown device 'tpu'; valid devices are cpu, cuda and cuda:N" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("flag, field", [("--epochs", "epochs"), ("--batch-size", "batch_size"),
                                         ("--generations", "generations")])
def test_non_positive_counts_are_refused(flag, field, tmp_path):
    result = run_cli("ban", flag, "0", "--runs-dir", str(tmp_path))
    assert result.returncode == 2 and result.stderr == f"error: {field} must be a positive integer, got 0\n"


def test_ban_then_evaluate(tmp_path, capsys, fashion_mnist_available):
    args = ["ban", "--profile", "smoke", "--generations", "2", "--runs-dir", str(tmp_path), "--quiet",
            "--precision", "fp32", "--train-size", "256", "--epochs", "1"]  # what the command prints, not accuracy
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
