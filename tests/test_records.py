"""Runs as committed: a record (config, metrics, final metrics, compact predictions) without its weights.

A fresh clone has only the records. They must read as finished runs, so that the book re-renders without
training; a student that needs a recorded teacher's weights gets them by training the teacher again, which
reproduces the record on the same CPU type (and replaces it, saying so, where it does not)."""
import json

import pytest
import torch

from bannb.errors import BannbError
from bannb.runs import lifecycle
from bannb.runs.plan import teachers_to_restore, train_all
from bannb.runs.lifecycle import RESTORE_DIR, restore_weights
from bannb.runs.store import (
    DONE,
    PREDICTIONS,
    RECORD_FILES,
    WEIGHTS,
    Run,
    finished_problem,
    mark_done,
    weights_problem,
)
from bannb.study.generations import student_config, teacher_config
from tests.conftest import smoke_config


def tiny(**overrides):
    return smoke_config(train_size=256, valid_size=64, test_size=96, epochs=1, batch_size=64, **overrides)


def as_committed(run: Run) -> dict:
    """Drop the run's weights, as a clone of the repository has it; the record's bytes, to compare later."""
    (run.path / WEIGHTS).unlink()
    return {name: (run.path / name).read_bytes() for name in (*RECORD_FILES, DONE)}


def test_predictions_are_stored_compact_and_read_as_float32(tmp_path, fashion_mnist_available):
    run = lifecycle.train(tiny(), tmp_path, progress=False)
    stored = torch.load(run.path / PREDICTIONS, weights_only=True)
    assert stored["logits"].dtype == torch.float16 and stored["logits"].shape == (96, 10)
    assert stored["labels"].dtype == torch.uint8
    assert run.test_logits().dtype == torch.float32 and run.test_labels().dtype == torch.int64
    assert torch.equal(run.test_logits(), stored["logits"].float())
    # 96 images × 10 classes × 2 bytes of logits: the file is a few kB, not the float32 logits' size
    assert (run.path / PREDICTIONS).stat().st_size < 96 * 10 * 4 + 2000


def test_a_record_without_weights_is_a_finished_run(tmp_path, fashion_mnist_available):
    run = lifecycle.train(tiny(), tmp_path, progress=False)
    assert run.has_weights and weights_problem(run.path) is None
    as_committed(run)
    assert finished_problem(run.path) is None
    record = Run(run.path)
    assert not record.has_weights and "only its record" in weights_problem(run.path)
    assert record.test_logits().shape == (96, 10) and record.test_accuracy == run.test_accuracy
    with pytest.raises(BannbError, match="has no usable weights: only its record is here"):
        record.load_model()
    # asking for the run again reuses the record: nothing is trained
    assert lifecycle.train(tiny(), tmp_path, progress=False, log=pytest.fail).run_id == run.run_id
    assert not (run.path / WEIGHTS).exists()
    # a record missing one of its files is not finished
    (run.path / PREDICTIONS).unlink()
    assert finished_problem(run.path) == f"{PREDICTIONS} is missing"


def test_a_student_of_a_recorded_teacher_restores_its_weights_exactly(tmp_path, fashion_mnist_available):
    teacher = lifecycle.train(teacher_config(tiny(seed=3)), tmp_path, progress=False)
    weights = (teacher.path / WEIGHTS).read_bytes()
    record = as_committed(teacher)
    messages = []
    student = lifecycle.train(student_config(teacher.config, teacher, 1), tmp_path, progress=False, log=messages.append)
    assert student.config.teacher == teacher.run_id and finished_problem(student.path) is None
    assert messages == [f"run {teacher.run_id}: recorded without its weights; training it again for them",
                        f"run {teacher.run_id}: weights restored; the retrained run reproduces its record exactly"]
    # the record is untouched, byte for byte; the weights are the ones the teacher was first trained to
    assert {name: (teacher.path / name).read_bytes() for name in record} == record
    assert (teacher.path / WEIGHTS).read_bytes() == weights and Run(teacher.path).has_weights
    assert not (tmp_path / RESTORE_DIR).exists()  # the scratch folder goes with the scratch run


def test_a_teacher_that_does_not_reproduce_its_record_replaces_it(tmp_path, fashion_mnist_available):
    teacher = lifecycle.train(teacher_config(tiny(seed=4)), tmp_path, progress=False)
    as_committed(teacher)
    # the record as another CPU type would have made it: other logits (and a valid done.json for them)
    stored = torch.load(teacher.path / PREDICTIONS, weights_only=True)
    original = stored["logits"].clone()
    stored["logits"] = stored["logits"] + 1
    torch.save(stored, teacher.path / PREDICTIONS)
    final = json.loads((teacher.path / "final.json").read_text())
    (teacher.path / "final.json").write_text(json.dumps(dict(final, test_error=0.5)))
    mark_done(teacher.path)
    assert finished_problem(teacher.path) is None
    messages = []
    restored = restore_weights(Run(teacher.path), tmp_path, log=messages.append)
    assert messages[-1] == (f"run {teacher.run_id}: the retrained run differs from its record (test error 50.00% "
                            f"recorded, {100 * final['test_error']:.2f}% now: another CPU type or torch version); "
                            f"the record is replaced by the run that now teaches its students")
    assert restored.has_weights and restored.final["test_error"] == final["test_error"]
    assert torch.equal(restored.test_logits(), original.float())
    assert sorted(p.name for p in tmp_path.iterdir()) == [teacher.run_id]  # no scratch folder left behind


def test_a_plan_restores_recorded_teachers_once_before_their_students(tmp_path, fashion_mnist_available):
    teacher = lifecycle.train(teacher_config(tiny(seed=5)), tmp_path, progress=False)
    first = lifecycle.train(student_config(teacher.config, teacher, 1), tmp_path, progress=False)
    for run in (teacher, first):
        as_committed(run)
    second = student_config(teacher.config, first, 2)
    other_loss = student_config(teacher.config, teacher, 1, loss="cwtm")
    assert [c.run_id for c in teachers_to_restore([second, other_loss], tmp_path)] == [first.run_id, teacher.run_id]
    finished = []
    train_all([second, other_loss], tmp_path, workers=1, log=lambda *_: None, on_finished=finished.append)
    assert [r["run_id"] for r in finished] == [teacher.run_id, first.run_id, other_loss.run_id, second.run_id] \
        or [r["run_id"] for r in finished] == [teacher.run_id, other_loss.run_id, first.run_id, second.run_id]
    assert all(Run(tmp_path / r["run_id"]).has_weights for r in finished)
