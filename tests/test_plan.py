"""Training a plan of runs on worker processes: teachers before students, finished runs reused, failures reported."""
import dataclasses

import pytest

from bannb.runs.plan import PlanFailed, order_by_dependency, train_all
from bannb.runs.store import Run, finished_problem
from bannb.study.generations import student_config, teacher_config
from bannb.study.profiles import make_config


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
    broken = dataclasses.replace(teacher, lr=1e30, seed=7)  # the first steps make the weights NaN
    broken_student = student_config(broken, FakeRun(broken), 1)
    with pytest.raises(PlanFailed) as failure:
        train_all([broken, broken_student, good], runs_dir=tmp_path, workers=2, log=lambda *_: None)
    message = str(failure.value)
    assert broken.run_id in message and f"its teacher {broken.run_id} failed" in message
    assert finished_problem(tmp_path / good.run_id) is None
    assert not (tmp_path / broken_student.run_id).exists()


def test_workers_die_with_the_planning_process(tmp_path, fashion_mnist_available):
    """Killing the planner (SIGKILL, no clean-up) must not leave a worker training on."""
    import os
    import signal
    import subprocess
    import sys
    import time
    script = tmp_path / "planner.py"
    script.write_text(
        "import sys\n"
        "from bannb.study.generations import teacher_config\n"
        "from bannb.runs.plan import train_all\n"
        "from bannb.study.profiles import make_config\n"
        "if __name__ == '__main__':  # the workers are spawned: they import this file\n"
        "    configs = [teacher_config(make_config('smoke', precision='fp32', seed=s, epochs=50, train_size=2048))\n"
        "               for s in (0, 1)]\n"
        "    train_all(configs, runs_dir=sys.argv[1], workers=2)\n")
    planner = subprocess.Popen([sys.executable, str(script), str(tmp_path / "runs")])
    deadline = time.time() + 120
    workers = []
    while time.time() < deadline and len(workers) < 2:
        time.sleep(1)
        children = subprocess.run(["pgrep", "-P", str(planner.pid)], capture_output=True, text=True).stdout.split()
        workers = [int(pid) for pid in children
                   if "spawn_main" in open(f"/proc/{pid}/cmdline").read().replace("\0", " ")]
    assert len(workers) == 2, "the planner did not start its two workers"
    while time.time() < deadline and len(list((tmp_path / "runs").glob("*/metrics.csv"))) < 2:
        time.sleep(0.5)  # until both workers are training (an idle worker exits with its queue anyway)
    os.kill(planner.pid, signal.SIGKILL)
    planner.wait()
    deadline = time.time() + 30
    while time.time() < deadline and any(os.path.exists(f"/proc/{pid}") and
                                         open(f"/proc/{pid}/stat").read().split()[2] != "Z" for pid in workers):
        time.sleep(0.5)
    alive = [pid for pid in workers if os.path.exists(f"/proc/{pid}") and open(f"/proc/{pid}/stat").read().split()[2] != "Z"]
    assert alive == []


def test_schedule_seconds_follows_train_alls_order():
    from bannb.runs.plan import schedule_seconds
    t0, s0, g0 = chain(0)
    t1, s1, _ = chain(1)
    seconds = {t0.run_id: 10, s0.run_id: 20, g0.run_id: 5, t1.run_id: 10, s1.run_id: 20}
    plan = [t0, s0, g0, t1, s1]
    assert schedule_seconds(plan, lambda c: seconds[c.run_id], workers=1) == 65
    # two workers: both teachers (0-10), both students (10-30), then the grandchild (30-35)
    assert schedule_seconds(plan, lambda c: seconds[c.run_id], workers=2) == 35
    assert schedule_seconds([s0, t0, s0], lambda c: seconds[c.run_id], workers=2) == 30  # duplicates train once
