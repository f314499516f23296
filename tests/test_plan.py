"""Training a plan of runs on worker processes: teachers before students, finished runs reused, failures reported."""
import dataclasses
import json

import pytest

from bannb.generations import student_config, teacher_config
from bannb.plan import PlanFailed, order_by_dependency, train_all
from bannb.profiles import make_config
from bannb.runs import Run, finished_problem


def tiny(**overrides):
    return make_config("smoke", precision="fp32", train_size=256, valid_size=64, test_size=64, epochs=1,
                       batch_size=64, **overrides)


class FakeRun:
    def __init__(self, config):
        self.run_id = config.run_id


def chain(seed):
    teacher = teacher_config(tiny(seed=seed))
    student = student_config(teacher, FakeRun(teacher), 1)
    grandchild = student_config(teacher, FakeRun(student), 2)
    return teacher, student, grandchild


def test_order_puts_each_teacher_first_and_drops_duplicates():
    t0, s0, g0 = chain(0)
    t1, s1, _ = chain(1)
    ordered = order_by_dependency([g0, s1, s0, t1, t0, s0])
    ids = [c.run_id for c in ordered]
    assert len(ids) == 5 and len(set(ids)) == 5
    assert ids.index(t0.run_id) < ids.index(s0.run_id) < ids.index(g0.run_id)
    assert ids.index(t1.run_id) < ids.index(s1.run_id)


def test_two_workers_train_a_chain_and_reuse_it(tmp_path, fashion_mnist_available):
    teacher, student, _ = chain(0)
    other_teacher = teacher_config(tiny(seed=1))
    lines = []
    train_all([student, teacher, other_teacher], runs_dir=tmp_path, workers=2, log=lines.append)
    for config in (teacher, student, other_teacher):
        assert finished_problem(tmp_path / config.run_id) is None
    assert len(lines) == 3 and all("test error" in line for line in lines)
    # the student was taught by the teacher the plan trained
    assert Run(tmp_path / student.run_id).final["teacher"] == teacher.run_id
    # a second call finds everything finished and trains nothing
    again = []
    train_all([student, teacher, other_teacher], runs_dir=tmp_path, workers=2, log=again.append)
    assert again == []


def test_a_failing_run_skips_its_students_and_keeps_the_others(tmp_path, fashion_mnist_available):
    teacher, student, _ = chain(0)
    good = teacher_config(tiny(seed=3))
    broken = dataclasses.replace(teacher, lr=float("inf"), seed=7)  # the first step makes the weights NaN
    broken_student = student_config(broken, FakeRun(broken), 1)
    with pytest.raises(PlanFailed) as failure:
        train_all([broken, broken_student, good], runs_dir=tmp_path, workers=2, log=lambda *_: None)
    message = str(failure.value)
    assert broken.run_id in message and f"its teacher {broken.run_id} failed" in message
    assert finished_problem(tmp_path / good.run_id) is None
    assert not (tmp_path / broken_student.run_id).exists()
