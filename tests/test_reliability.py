"""What survives an interruption, what is never trusted, and how bad input is refused."""
import json
import signal
import subprocess
import time

import pytest
import torch
from fastai.callback.core import Callback

from bannb.errors import BannbError
from bannb.image.training import NonFiniteLoss
from bannb.runs import lifecycle
from bannb.runs.store import CHECKPOINT, DONE, FINAL, WEIGHTS
from tests.conftest import bannb_command, comparable, only_run, smoke_config

# fp32: the same numbers on every CPU, and fast on one without native bf16 (the smoke profile's own bf16 is emulated there)
TRAIN = ["train", "--profile", "smoke", "--epochs", "3", "--train-size", "1024", "--precision", "fp32", "--quiet"]
TIMEOUT = 900  # seconds per command: a safety net for a hung process, generous for a machine shared by many jobs


def test_sigkill_mid_epoch_then_resume_gives_the_uninterrupted_result(tmp_path, fashion_mnist_available):
    reference_dir, killed_dir = tmp_path / "reference", tmp_path / "killed"
    subprocess.run(bannb_command(*TRAIN, "--runs-dir", str(reference_dir)), check=True, timeout=TIMEOUT)

    process = subprocess.Popen(bannb_command(*TRAIN, "--runs-dir", str(killed_dir)), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + TIMEOUT
    while not list(killed_dir.glob(f"*/{CHECKPOINT}")):
        assert process.poll() is None and time.monotonic() < deadline, "the run ended before its first checkpoint"
        time.sleep(0.02)
    time.sleep(0.4)  # into the second epoch
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL
    path = only_run(killed_dir)
    assert not (path / DONE).exists() and not (path / WEIGHTS).exists()
    epoch = torch.load(path / CHECKPOINT, weights_only=False)["epoch"]
    assert 1 <= epoch < 3, "killed mid-training"

    resumed = subprocess.run(bannb_command(*TRAIN, "--runs-dir", str(killed_dir)), capture_output=True, text=True,
                             timeout=TIMEOUT)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((path / FINAL).read_text())["resumed_from_epoch"] == epoch
    assert not (path / CHECKPOINT).exists()
    # bit-identical: the same metrics at every epoch and the same weights as the run never interrupted
    assert comparable(path) == comparable(only_run(reference_dir))


def test_same_seed_same_metrics(tmp_path, fashion_mnist_available):
    config = smoke_config(train_size=512, epochs=1)
    first = lifecycle.train(config, tmp_path / "a", progress=False)
    second = lifecycle.train(config, tmp_path / "b", progress=False)
    assert comparable(first.path) == comparable(second.path)


class InjectNaN(Callback):
    """Turns the loss into NaN at a given (epoch, batch), as a diverging run would."""
    order = 24

    def __init__(self, epoch, batch):
        self.at = (epoch, batch)

    def after_loss(self):
        if self.training and (self.epoch, self.iter) == self.at:
            self.learn.loss_grad = self.loss_grad * float("nan")


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, fashion_mnist_available):
    config = smoke_config(train_size=512, epochs=3)
    with pytest.raises(NonFiniteLoss, match=r"became nan at epoch 2, batch 3; the checkpoint of epoch 1 is kept"):
        lifecycle.train(config, tmp_path, progress=False, callbacks=[InjectNaN(epoch=1, batch=2)])
    path = only_run(tmp_path)
    checkpoint = torch.load(path / CHECKPOINT, weights_only=False)
    assert checkpoint["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in checkpoint["model"].values() if v.is_floating_point())
    assert not (path / DONE).exists()
    # the next call resumes from that checkpoint and finishes
    run = lifecycle.train(config, tmp_path, progress=False)
    assert run.final["resumed_from_epoch"] == 1 and len(run.metrics()) == 3


def test_teacher_checkpoint_that_does_not_fit(tmp_path, fashion_mnist_available):
    teacher = lifecycle.train(smoke_config(train_size=256, epochs=1), tmp_path, progress=False)
    other = create_other_weights()
    torch.save(other, teacher.path / WEIGHTS)  # the checksum no longer matches: not a finished run any more
    student = smoke_config(train_size=256, epochs=1, loss="ban", teacher=teacher.run_id, generation=1)
    with pytest.raises(BannbError, match="not a finished run: model.pt does not match the checksum"):
        lifecycle.train(student, tmp_path, progress=False)
    # the same weights behind a valid marker (someone re-signed them): refused as not fitting the architecture
    from bannb.runs.store import sha256
    done = json.loads((teacher.path / DONE).read_text())
    done["sha256"][WEIGHTS] = sha256(teacher.path / WEIGHTS)
    (teacher.path / DONE).write_text(json.dumps(done))
    with pytest.raises(BannbError, match="does not fit wrn-16-1 on fashion-mnist"):
        lifecycle.train(student, tmp_path, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == [teacher.run_id], "nothing written for the student"


def create_other_weights():
    from bannb.models import create_model
    return create_model("wrn-16-2", in_channels=1, num_classes=10).state_dict()


def test_atomic_write_never_leaves_a_half_written_file(tmp_path, monkeypatch):
    from bannb.runs import store
    target = tmp_path / "final.json"
    store.atomic_write_json(target, {"test_accuracy": 0.9})

    def disk_full(fd):
        raise OSError("no space left on device")
    monkeypatch.setattr(store.os, "fsync", disk_full)
    with pytest.raises(OSError):
        store.atomic_write_json(target, {"test_accuracy": 0.1})
    assert json.loads(target.read_text()) == {"test_accuracy": 0.9}
    assert [p.name for p in tmp_path.iterdir()] == ["final.json"], "no temporary file is left behind"


def test_an_unfinished_run_is_reported_and_retrained(tmp_path, fashion_mnist_available):
    config = smoke_config(train_size=256, epochs=1)
    run = lifecycle.train(config, tmp_path, progress=False)
    (run.path / DONE).unlink()
    messages = []
    again = lifecycle.train(config, tmp_path, progress=False, log=messages.append)
    assert messages == [f"run {config.run_id}: not finished (it has no done.json marker (it was interrupted or is "
                        f"still training)); training it"]
    assert (again.path / DONE).exists()


class InterruptAfterFirstEpoch(Callback):
    """Stops the process's training after epoch 1's checkpoint is written, as an interruption would."""
    order = 70  # after RunRecorder

    def after_epoch(self):
        if self.epoch == 0:
            raise KeyboardInterrupt


def test_a_resumed_dkpp_student_draws_the_permutations_it_would_have_drawn(tmp_path, fashion_mnist_available):
    """The loss's random state travels with the checkpoint (`BanObjective.state_dict`): without it the resumed
    epoch would permute the teacher's outputs differently and end on other weights."""
    teacher = lifecycle.train(smoke_config(train_size=256, epochs=1), tmp_path / "teacher", progress=False)
    student = smoke_config(train_size=256, epochs=2, loss="dkpp", teacher=str(teacher.path), generation=1)
    reference = lifecycle.train(student, tmp_path / "reference", progress=False)
    with pytest.raises(KeyboardInterrupt):
        lifecycle.train(student, tmp_path / "resumed", progress=False, callbacks=[InterruptAfterFirstEpoch()])
    checkpoint = torch.load(tmp_path / "resumed" / student.run_id / CHECKPOINT, weights_only=False)
    assert checkpoint["epoch"] == 1 and set(checkpoint["loss"]) == {"generator"}
    resumed = lifecycle.train(student, tmp_path / "resumed", progress=False)
    assert resumed.final["resumed_from_epoch"] == 1
    assert comparable(resumed.path) == comparable(reference.path)
