"""Training on real Fashion-MNIST: the teacher in the loop, run reuse, born-again sequences and ensembles."""
import dataclasses
import json
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from fastai.callback.core import Callback

from bannb.data import load_dataset, make_dataloaders, split_indices
from bannb.errors import ConfigError
from bannb.image import training as training_module
from bannb.image.config import CONFIG_VERSION, RunConfig
from bannb.image.learner import make_learner
from bannb.runs import lifecycle
from bannb.losses import make_loss
from bannb.models import create_model
from bannb.report import run_records
from bannb.runs.store import DONE, finished_problem
from bannb.study.generations import (
    born_again,
    ensemble_accuracy,
    generation_seed,
    student_config,
    teacher_config,
)
from bannb.study.profiles import make_config
from tests.conftest import smoke_config


@pytest.fixture(scope="module")
def smoke_dls(fashion_mnist_available):
    return make_dataloaders(load_dataset("fashion-mnist"), batch_size=32, valid_size=64, train_size=128, test_size=64)


class RecordInputs(Callback):
    """Keeps what the student saw, and hooks the teacher to keep what it saw."""
    order = 30

    def __init__(self, teacher):
        self.student_inputs, self.teacher_inputs = [], []
        teacher.register_forward_hook(lambda module, args, output: self.teacher_inputs.append(args[0].clone()))

    def after_pred(self):
        if self.training:
            self.student_inputs.append(self.xb[0].clone())


def test_teacher_sees_the_students_augmented_batch_and_stays_frozen(smoke_dls):
    torch.manual_seed(0)
    student, teacher = create_model("wrn-16-1", 1, 10), create_model("wrn-16-1", 1, 10)
    teacher_state = {k: v.clone() for k, v in teacher.state_dict().items()}
    recorder = RecordInputs(teacher)
    learn = make_learner(student, smoke_dls, make_loss("ban"), teacher, precision="fp32", cbs=[recorder])
    learn.fit(1)
    assert len(recorder.student_inputs) == len(smoke_dls.train) == len(recorder.teacher_inputs)
    assert all(torch.equal(s, t) for s, t in zip(recorder.student_inputs, recorder.teacher_inputs))
    # eval mode and no gradients: not a weight, not a BatchNorm running statistic moves
    assert all(torch.equal(teacher_state[k], v) for k, v in teacher.state_dict().items())
    assert not teacher.training


def test_distillation_loss_is_the_one_optimised(smoke_dls):
    """The loss fastai backpropagates is BAN against the teacher's logits, not the label loss."""
    torch.manual_seed(0)
    student, teacher = create_model("wrn-16-1", 1, 10), create_model("wrn-16-1", 1, 10)

    class Check(Callback):
        order = 40
        seen = []

        def after_loss(self):
            if self.training:
                expected = make_loss("ban")(self.pred, *self.yb, self.learn.teacher_logits)
                self.seen.append((self.loss_grad.item(), expected.item()))

    learn = make_learner(student, smoke_dls, make_loss("ban"), teacher, precision="fp32", cbs=[Check()])
    learn.fit(1)
    assert Check.seen and all(got == pytest.approx(want) for got, want in Check.seen)


def test_cpu_autocast_computes_in_bf16(smoke_dls):
    model = create_model("wrn-16-1", 1, 10)
    dtypes = []
    model.stem.register_forward_hook(lambda module, args, output: dtypes.append(output.dtype))
    learn = make_learner(model, smoke_dls, make_loss("ce"), precision="bf16")
    learn.fit(1)
    assert set(dtypes) == {torch.bfloat16}
    assert all(p.dtype == torch.float32 for p in model.parameters())  # master weights stay fp32


def test_config_hash_names_the_run():
    config = smoke_config()
    assert config.hash == make_config("smoke", precision="fp32").hash
    assert config.hash != smoke_config(seed=1).hash != smoke_config(lr=0.05).hash
    assert config.run_id.startswith("fashion-mnist-wrn-16-1-teacher-seed0-")
    assert RunConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


@pytest.mark.parametrize("overrides, message", [
    (dict(arch="resnet-50"), "valid architectures"),
    (dict(arch="wrn-13-1"), "depth must be 6n\\+4"),
    (dict(epochs=0), "epochs must be a positive integer"),
    (dict(batch_size=-1), "batch_size must be a positive integer"),
    (dict(loss="distill"), "valid losses are"),
    (dict(dataset="svhn"), "valid datasets are"),
])
def test_bad_config_is_refused(overrides, message):
    with pytest.raises(ConfigError, match=message):
        smoke_config(**overrides)


def test_base_seed_is_stored_not_inferred():
    teacher = teacher_config(smoke_config(seed=3))
    assert teacher.base_seed == 3 and CONFIG_VERSION == teacher.version == 3
    assert dataclasses.replace(teacher, seed=4).base_seed == 4  # a teacher is its own replicate
    student = student_config(teacher, SimpleNamespace(run_id="the-teacher"), generation=2)
    assert (student.seed, student.base_seed, student.generation) == (generation_seed(3, 2), 3, 2)
    # what the run record holds, and what report.run_records labels the row with
    assert RunConfig.from_dict(json.loads(json.dumps(student.to_dict()))).base_seed == 3
    assert run_records([SimpleNamespace(config=student, final=dict(test_error=0.1, valid_accuracy=0.9, parameters=1),
                                        run_id="r")])["seed"].tolist() == [3]
    # a student of another replicate with the same own seed is another run
    assert dataclasses.replace(student, base_seed=4).hash != student.hash
    with pytest.raises(ConfigError, match="base_seed must be an integer"):
        dataclasses.replace(student, base_seed="3")


def test_unknown_profile_lists_the_valid_ones():
    with pytest.raises(ConfigError, match="cpu, cpu-next, gpu, paper, smoke"):
        make_config("laptop")


def test_finished_runs_are_reused_and_broken_ones_retrained(tmp_path, fashion_mnist_available, monkeypatch):
    config = smoke_config(train_size=256, epochs=1)
    run = lifecycle.train(config, tmp_path, progress=False)
    assert finished_problem(run.path) is None
    assert len(run.metrics()) == 1 and 0 <= run.test_accuracy <= 1
    weights_before = (run.path / "model.pt").read_bytes()

    def no_training(*args, **kwargs):
        raise AssertionError("a finished run must not be retrained")
    monkeypatch.setattr(training_module, "make_learner", no_training)
    again = lifecycle.train(config, tmp_path, progress=False)
    assert again.path == run.path and again.final == run.final
    monkeypatch.undo()

    # a file that no longer matches its checksum: the run is not trusted, and is trained again
    (run.path / "final.json").write_text('{"test_accuracy": 1.0}')
    assert "checksum" in finished_problem(run.path)
    retrained = lifecycle.train(config, tmp_path, progress=False)
    assert finished_problem(retrained.path) is None and retrained.test_accuracy < 1.0
    assert (run.path / "model.pt").read_bytes() == weights_before  # same seed, same config: the same weights

    (run.path / DONE).unlink()
    assert "no done.json" in finished_problem(run.path)


def test_student_needs_a_finished_teacher(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        lifecycle.train(smoke_config(loss="ban", teacher="no-such-run"), tmp_path, progress=False)


def test_born_again_sequence_and_ensemble(tmp_path, fashion_mnist_available):
    base = smoke_config(seed=7)
    sequence = born_again(base, generations=2, runs_dir=tmp_path, progress=False)
    teacher, first, second = sequence
    assert teacher.config.loss == "ce" and teacher.config.teacher is None
    assert (first.config.teacher, second.config.teacher) == (teacher.run_id, first.run_id)
    assert [run.config.seed for run in sequence] == [7, generation_seed(7, 1), generation_seed(7, 2)]
    assert [run.config.base_seed for run in sequence] == [7, 7, 7]  # one replicate, stored in every config
    assert len({run.config.seed for run in sequence}) == 3  # a new seed every generation
    assert [run.config.generation for run in sequence] == [0, 1, 2]
    # the students trained: their weights differ from each other and from the teacher
    weights = [run.load_model().state_dict()["head.fc.weight"] for run in sequence]
    assert not torch.equal(weights[0], weights[1]) and not torch.equal(weights[1], weights[2])
    # a real, if short, training: well above chance (10%) on the held-out test subset
    assert teacher.test_accuracy > 0.3
    # the ensemble is the mean of the members' softmax outputs (Eq. 4), computed from the stored test logits
    probs = torch.stack([F.softmax(run.test_logits(), 1) for run in sequence[1:]]).mean(0)
    expected = (probs.argmax(1) == first.test_labels()).float().mean().item()
    assert ensemble_accuracy(sequence[1:]) == pytest.approx(expected)
    # the stored logits are the saved model's: reloading and predicting gives the same accuracy
    model = first.load_model()
    dls = make_dataloaders(load_dataset("fashion-mnist"), 64, base.valid_size, base.split_seed, base.train_size,
                           base.test_size, seed=base.seed)
    with torch.no_grad():
        logits = torch.cat([model(x) for x, _ in dls.test])
    assert (logits.argmax(1) == dls.test.labels).float().mean().item() == pytest.approx(first.test_accuracy, abs=0.01)
    # asking again reuses all three runs
    assert [run.path for run in born_again(base, 2, runs_dir=tmp_path, progress=False)] == [r.path for r in sequence]


def test_every_run_records_its_pool_and_a_smoothing_student_its_teachers_mass(tmp_path, fashion_mnist_available):
    base = smoke_config(seed=5, train_size=256, valid_size=128, test_size=96, pool_size=200, epochs=1, augment=True)
    teacher = lifecycle.train(teacher_config(base), tmp_path, progress=False)
    # the pool: a class-balanced sample of training images the run neither trains nor validates on
    dataset = load_dataset("fashion-mnist")
    split = split_indices(dataset.train_labels, base.valid_size, base.split_seed, base.train_size, base.pool_size)
    assert torch.equal(teacher.pool_labels(), dataset.train_labels[split.pool].long())
    assert torch.bincount(teacher.pool_labels(), minlength=10).tolist() == [20] * 10
    assert teacher.predictions()["pool_classes"].dtype == torch.uint8 and len(teacher.pool_classes()) == 200
    model = teacher.load_model()  # the stored top classes are the saved model's
    pool = make_dataloaders(dataset, 64, base.valid_size, base.split_seed, base.train_size, base.test_size,
                            pool_size=base.pool_size).pool
    with torch.no_grad():
        classes = torch.cat([model(x).argmax(1) for x, _ in pool])
    assert (classes != teacher.pool_classes()).float().mean().item() <= 0.01  # float rounding may flip a tie
    pool_wrong = (teacher.pool_classes() != teacher.pool_labels()).sum().item()
    test_wrong = (teacher.test_logits().argmax(1) != teacher.test_labels()).sum().item()
    assert teacher.final["pool_error"] == pytest.approx(pool_wrong / 200)
    assert teacher.final["heldout_error"] == pytest.approx((pool_wrong + test_wrong) / 296)
    assert teacher.final["heldout_images"] == 296

    # a label-smoothing student: smoothed by its teacher's mass outside the top class on its own first-epoch views
    student = lifecycle.train(student_config(base, teacher, generation=1, loss="ls"), tmp_path, progress=False)
    views = make_dataloaders(dataset, base.batch_size, base.valid_size, base.split_seed, base.train_size,
                             base.test_size, augment=True, seed=student.config.seed, pool_size=base.pool_size).train
    with torch.no_grad():
        teacher_logits = torch.cat([model(x) for x, _ in views])
    expected = (1 - F.softmax(teacher_logits.double(), 1).max(1).values).mean().item()
    assert student.final["label_smoothing_mass"] == pytest.approx(expected, rel=1e-4)
    assert 0 < expected < 0.9  # one epoch on 256 images: a soft teacher
    # it is measured against its teacher like any student, and has its own pool predictions
    assert 0 <= student.final["test_agreement_with_teacher"] <= 1 and student.has_pool


def test_a_students_metrics_record_the_targets_its_teacher_gave_every_epoch(tmp_path, fashion_mnist_available):
    # clean images, 256 of them in batches of 64 (no batch dropped): an epoch's targets are the teacher's outputs on
    # exactly the clean training split, which the record also measures after training (`_clean`)
    base = smoke_config(seed=2, train_size=256, batch_size=64, epochs=2, augment=False)
    teacher = lifecycle.train(teacher_config(base), tmp_path, progress=False)
    student = lifecycle.train(student_config(base, teacher, generation=1), tmp_path, progress=False)
    rows = student.metrics()
    assert rows["teacher_mass_outside_top"].tolist() == pytest.approx(
        [student.final["teacher_mass_outside_top_clean"]] * 2, rel=1e-5)
    assert rows["teacher_entropy"].tolist() == pytest.approx([student.final["teacher_entropy_clean"]] * 2, rel=1e-5)
    assert teacher.metrics()["teacher_mass_outside_top"].isna().all()  # a teacher is given the labels
