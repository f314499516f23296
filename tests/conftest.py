"""Fixtures and helpers shared by the test files (import the helpers with `from tests.conftest import …`)."""
import json
import multiprocessing
import socket
import sys
from pathlib import Path

import pytest
import torch

from bannb.data.fashion_mnist import find_folder
from bannb.models import count_parameters, create_model


@pytest.fixture(scope="session")
def fashion_mnist_available():
    """The real dataset: `make test` obtains it first, so a missing one is a set-up failure, not a skip."""
    if find_folder() is None:
        pytest.fail("Fashion-MNIST is not installed: run `make data` (or `make test`, which does it)")
    return True


def smoke_config(**overrides):
    """A run config at the smoke profile in fp32 (the same numbers on every CPU), with `overrides`."""
    from bannb.study.profiles import make_config
    return make_config("smoke", device="cpu", precision="fp32", **overrides)


def bannb_command(*args) -> list[str]:
    """The command line `python -m bannb …` in this interpreter."""
    return [sys.executable, "-m", "bannb", *args]


def only_run(runs_dir: Path) -> Path:
    """The one run directory in `runs_dir` (fails if there is not exactly one)."""
    (path,) = [p for p in runs_dir.iterdir() if p.is_dir()]
    return path


def comparable(path: Path):
    """Everything a run reports except wall-clock seconds: its final metrics, its epoch rows and its weights."""
    from bannb.runs.store import FINAL, METRICS, WEIGHTS, read_metrics
    final = json.loads((path / FINAL).read_text())
    for key in ("train_seconds", "wall_seconds_this_process", "resumed_from_epoch"):
        final.pop(key)
    rows = [{k: v for k, v in row.items() if k != "seconds"} for row in read_metrics(path / METRICS)]
    return final, rows, (path / WEIGHTS).read_bytes()


def meta_count(name, **kwargs) -> int:
    """A registered network's parameter count. The meta device allocates nothing, so counting a 200M-parameter
    model costs milliseconds."""
    with torch.device("meta"):
        return count_parameters(create_model(name, **kwargs))


def free_port() -> int:
    """A TCP port no process listens on now (the OS picks it), for a rendezvous of local processes."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def one_thread():
    """One intra-op thread in this process (and in the processes `forked` starts): a process forked after OpenMP
    has run threads hangs in its next parallel region, and one thread count gives the killed process and the one
    that resumes its run the same numbers."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def forked(target, *args):
    """A started child process running `target(*args)`, forked from this one (no import of torch and fastai again,
    and it inherits this process's loaded datasets and monkeypatches); call it under the `one_thread` fixture."""
    def run():
        torch.set_num_threads(1)
        target(*args)

    process = multiprocessing.get_context("fork").Process(target=run)
    process.start()
    return process
