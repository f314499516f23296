"""Table 1 on one GPU: the epoch plan, the run ids the driver reports, and the facts chapter 4 reads from them."""
import json
import math

import pandas as pd
import pytest

from bannb.cli import _config, build_parser
from bannb.facts import gpu_table1 as facts
from bannb.study import stats
from bannb.study.generations import chain_configs
from bannb.study.gpu_table1 import plan_epochs, table1_runs


def test_plan_epochs_fits_the_budget_as_if_the_runs_went_one_after_the_other():
    # per epoch, 3 seeds × ((1 + 2) + (2 + 3)) = 24 s: 240 s fit 10 epochs, 239 s only 9
    times = {"wrn-28-1": (1.0, 2.0), "wrn-28-2": (2.0, 3.0)}
    assert plan_epochs(times, 3, 240.0, 30) == 10
    assert plan_epochs(times, 3, 239.0, 30) == 9
    assert plan_epochs(times, 3, 10_000.0, 30) == 30  # never more than the profile's epochs
    assert plan_epochs(times, 3, 1.0, 30) == 1  # at least one
    with pytest.raises(ValueError, match="positive"):
        plan_epochs(times, 3, 0.0, 30)


def test_the_driver_names_the_runs_the_command_line_trains():
    """The manifest's run ids are those `python -m bannb ban --profile gpu --generations 1` writes."""
    args = build_parser().parse_args(["ban", "--profile", "gpu", "--generations", "1", "--arch", "wrn-28-1",
                                      "--seeds", "2", "--epochs", "17", "--device", "cpu"])
    teacher, student = chain_configs(_config(args, seed=2), 1)
    assert table1_runs("wrn-28-1", 2, 17, "cpu") == (teacher.run_id, student.run_id)
    assert table1_runs("wrn-28-1", 2, 30, "cpu")[0] != teacher.run_id  # the epochs are part of a run's identity


def _write_runs(folder, errors, epochs):
    """A manifest and each run's final.json: errors[network][role] = per-seed test errors (fractions)."""
    runs = []
    for arch, roles in errors.items():
        for role, values in roles.items():
            for seed, error in enumerate(values):
                run_id = f"{arch}-{role}-{seed}-{epochs}"
                (folder / run_id).mkdir(parents=True)
                final = dict(test_error=error, train_accuracy=0.9, teacher_mass_outside_top_seen=None,
                             test_agreement_with_teacher=None, teacher_entropy_seen=None,
                             test_kl_teacher_student=None)
                if role == "BAN-1":
                    final.update(teacher_mass_outside_top_seen=0.05 + seed / 100, test_agreement_with_teacher=0.9)
                (folder / run_id / "final.json").write_text(json.dumps(final))
                runs.append(dict(arch=arch, seed=seed, role=role, run_id=run_id, finished=True))
    runs.append(dict(arch="wrn-28-1", seed=9, role="teacher", run_id="stopped", finished=False))
    return dict(runs=runs, epochs=epochs, device="GPU", torch="2", side_by_side=6, wall_seconds=360.0,
                seeds=[0, 1, 2])


def test_table_and_facts_pair_each_student_with_its_own_teacher(tmp_path):
    errors = {"wrn-28-1": {"teacher": [0.140, 0.150, 0.160], "BAN-1": [0.138, 0.151, 0.155]},
              "wrn-28-2": {"teacher": [0.120, 0.110, 0.130], "BAN-1": [0.121, 0.112, 0.125]}}
    shorter_errors = {arch: {role: [e + 0.02 for e in values] for role, values in roles.items()}
                      for arch, roles in errors.items()}
    manifest = _write_runs(tmp_path, errors, 30)
    frame = facts.records(manifest, tmp_path)
    shorter = facts.records(_write_runs(tmp_path, shorter_errors, 17), tmp_path)
    assert len(frame) == 12 and set(frame["network"]) == {"Wide-ResNet-28-1", "Wide-ResNet-28-2"}  # unfinished left out
    shown = facts.table(frame)
    expected = stats.paired_difference({0: 14.0, 1: 15.0, 2: 16.0}, {0: 13.8, 1: 15.1, 2: 15.5})
    assert shown.loc["Wide-ResNet-28-1", "ours: BAN-1 − teacher [95% CI]"] == (
        f"{expected.mean:+.2f} [{expected.low:+.2f}, {expected.high:+.2f}]")
    assert shown.loc["Wide-ResNet-28-1", "ours: teacher"] == "15.00 ± 1.00"
    assert shown.loc["Wide-ResNet-28-2", "paper: BAN − teacher"] == pytest.approx(4.86 - 5.06)
    assert list(shown["verdict"]) == ["inconclusive", "inconclusive"]  # 3 seeds: below the rule's 5
    assert shown.loc["Wide-ResNet-28-1", "teacher's mass outside top (%)"] == pytest.approx(6.0)
    glued = facts.facts(frame, shorter, manifest)
    assert glued["gpu_w1_diff"] == pytest.approx(expected.mean)
    assert glued["gpu_w2_longer_gain"] == pytest.approx(-2.0)  # every teacher 2 points better after 30 epochs
    assert glued["gpu_shorter_epochs"] == 17 and glued["gpu_runs"] == 12
    assert glued["gpu_wall_minutes"] == 6.0 and math.isclose(glued["gpu_w1_agreement"], 90.0)
