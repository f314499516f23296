"""The map's declaration (`chapters.regime_map_chapter`): its ladders of longer teachers and its extra students
(`Profile.map_ladder`, `Profile.map_students`) add runs only where a profile asks for them, and reuse the runs the
map already has."""
import dataclasses
from collections import Counter

import pytest

from bannb.errors import ConfigError
from bannb.study.chapters import chapter_entries, chapter_plan
from bannb.study.experiments import BAN_L_PARAMS
from bannb.study.profiles import get_profile
from bannb.study.regimes import BAN_L, KD_T4, LONGER, SMOOTHED, STUDENT, TEACHER, rung_student, rung_teacher

MAP = "10_regime_map"


def by_label(entries, cell):
    return {entry.label: entry for entry in entries if entry.columns["cell"] == cell}


def test_the_cpu_profile_asks_for_no_new_map_run():
    cpu = get_profile("cpu")
    assert cpu.map_ladder == {} and cpu.map_students == ()
    entries = chapter_entries(MAP, "cpu")
    assert Counter(entry.label for entry in entries) == {TEACHER: 4, STUDENT: 4, SMOOTHED: 4, LONGER: 4}
    assert len(chapter_plan(MAP, "cpu")) == 4 * 5 * 4  # 4 cells × 5 seeds × (teacher, BAN-1, smoothing, 2×)
    # every model says how long its teacher trained: the cell's epochs, twice them for the 2× teacher
    augmented = by_label(entries, "fashion-1k-augmented")
    assert {label: entry.columns["epochs"] for label, entry in augmented.items()} == {
        TEACHER: 30, STUDENT: 30, SMOOTHED: 30, LONGER: 60}
    assert all(config.epochs == entry.columns["epochs"] for entry in entries for config in entry.configs)


def test_a_ladder_and_the_extra_students_reuse_the_maps_runs():
    cpu = get_profile("cpu")
    before = [config.run_id for config in chapter_plan(MAP, cpu)]
    longer = dataclasses.replace(cpu, map_ladder={"fashion-1k-augmented": (30, 60, 120, 240)},
                                 map_students=("kd-t4", "ban+l"))
    after = chapter_plan(MAP, longer)
    ids = [config.run_id for config in after]
    assert len(ids) == len(set(ids)) and set(before) < set(ids)
    # per seed: a KD and a BAN+L student in each of 4 cells, the ladder's BAN-1 at 60 and 120 epochs and its teachers
    # of 120 and 240 (those of 30 and 60 are the map's teacher and 2× teacher)
    assert len(ids) - len(before) == 5 * (2 * 4 + 2 + 2)
    entries = chapter_entries(MAP, longer)
    cell = by_label(entries, "fashion-1k-augmented")
    assert list(cell) == [TEACHER, STUDENT, SMOOTHED, LONGER, KD_T4, BAN_L, rung_student(60), rung_teacher(120),
                          rung_student(120), rung_teacher(240)]
    assert "BAN-1 (240 epochs)" not in cell  # the last rung is only the 2× check of the one below
    teachers = {epochs: [config.run_id for config in cell[label].configs]
                for epochs, label in ((30, TEACHER), (60, LONGER), (120, rung_teacher(120)), (240, rung_teacher(240)))}
    for epochs, label in ((60, rung_student(60)), (120, rung_student(120))):
        students = cell[label].configs
        assert [config.teacher for config in students] == teachers[epochs]  # each rung's BAN-1 of its own teacher
        assert {(config.epochs, config.loss, config.generation) for config in students} == {(epochs, "ban", 1)}
        assert cell[label].columns == dict(cell="fashion-1k-augmented", epochs=epochs)
    assert {config.epochs for config in cell[rung_teacher(240)].configs} == {240}
    assert {config.loss for config in cell[rung_teacher(240)].configs} == {"ce"}
    # the extra students learn from the cell's own teacher, seed by seed, as BAN-1 does
    for label, loss, params in ((KD_T4, "kd", dict(temperature=4.0, alpha=1.0)), (BAN_L, "ban+l", BAN_L_PARAMS)):
        configs = cell[label].configs
        assert [config.teacher for config in configs] == teachers[30]
        assert {(config.loss, tuple(sorted(config.loss_params.items())), config.epochs) for config in configs} == {
            (loss, tuple(sorted(params.items())), 30)}
        assert [config.seed for config in configs] == [config.seed for config in cell[STUDENT].configs]
    # the cells without a ladder gain the two students only
    assert list(by_label(entries, "fashion-3k-clean")) == [TEACHER, STUDENT, SMOOTHED, LONGER, KD_T4, BAN_L]


def test_the_smoke_profile_runs_a_ladder_and_the_extra_students():
    cell = by_label(chapter_entries(MAP, "smoke"), "augmented")
    assert {label: entry.columns["epochs"] for label, entry in cell.items()} == {
        TEACHER: 1, STUDENT: 1, SMOOTHED: 1, LONGER: 2, KD_T4: 1, BAN_L: 1, rung_student(2): 2, rung_teacher(4): 4}


@pytest.mark.parametrize("change, message", [
    (dict(map_ladder={"nowhere": (30, 60)}), "map_ladder's cell 'nowhere'"),
    (dict(map_ladder={"fashion-1k-augmented": (30, 90)}), "each twice the last"),
    (dict(map_ladder={"fashion-1k-augmented": (30,)}), "two or more"),
])
def test_a_bad_ladder_is_refused_when_the_profile_is_made(change, message):
    with pytest.raises(ConfigError, match=message):
        dataclasses.replace(get_profile("cpu"), **change)


def test_an_unknown_map_student_is_refused_before_anything_trains():
    profile = dataclasses.replace(get_profile("cpu"), map_students=("kd-t9",))
    with pytest.raises(ConfigError, match="map student.*kd-t9.*ban\\+l, kd-t4"):
        chapter_plan(MAP, profile)
