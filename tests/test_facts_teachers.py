"""What chapter 03_teachers concludes (`bannb.facts.teachers`), on small synthetic records: every reading of the
regime study and of the teachers against the criterion, and the fallbacks where nothing is there to name."""
import json
import math
from types import SimpleNamespace

import pandas as pd
import pytest

from bannb.facts import MISSING, teachers

PROFILE = SimpleNamespace(schedule="one-cycle-hold", augment=False, train_size=3000, epochs=20, valid_size=2000)
STEP_RECIPE = SimpleNamespace(schedule="step", augment=True)


def regime(*rows):
    """A regime study: (candidate, fits, flat, train_minutes, train_accuracy, test_error) per row."""
    frame = pd.DataFrame(rows, columns=["candidate", "fits", "flat", "train_minutes", "train_accuracy",
                                        "test_error"])
    return frame.assign(converged=frame["fits"] & frame["flat"], last_fifth_change=-0.2, allowed_drop=1.5)


def test_criterion_facts_read_the_config():
    assert teachers.criterion_facts(PROFILE) == {"min_train_accuracy": 98.0, "valid_size": 2000, "window": 5,
                                                 "epochs": 20}


def test_a_profile_regime_that_converges_cheapest_agrees_with_the_study():
    study = regime(("own", True, True, 2.0, 99.5, 13.9), ("no hold", True, True, 2.1, 100.0, 13.3),
                   ("step", False, True, 2.0, 97.5, 14.7), ("augment", False, True, 2.0, 87.8, 16.1),
                   ("slow", True, True, 5.0, 99.0, 13.0), ("still falling", True, False, 2.0, 99.9, 14.0))
    facts = teachers.regime_facts(study, PROFILE, recipe=STEP_RECIPE, own_label="own")
    assert facts["n_candidates"] == 6 and facts["n_converged"] == 3
    assert facts["converged_names"] == "own; no hold; slow"
    assert facts["unfit_names"] == "step; augment" and facts["unfit_best"] == 97.5
    assert facts["unflat_names"] == "still falling"
    assert (facts["own_label"], facts["own_verdict"], facts["own_train"], facts["own_minutes"]) == (
        "own", "meets", 99.5, 2.0)
    assert facts["cheapest_name"] == "own; no hold"  # 2.1 is within 10% of 2.0; 5.0 is not
    assert facts["study_agrees"] == "agrees with the study"
    assert (facts["best_test_name"], facts["best_test"]) == ("slow", 13.0)
    assert facts["profile_augment"] == "without augmentation"
    assert facts["recipe_relation"].startswith("a departure from the recipe the book assumes for the paper")


def test_a_profile_regime_that_fails_disagrees_and_empty_lists_read_none():
    study = regime(("own", True, False, 2.0, 99.5, 13.9), ("other", False, False, 2.0, 90.0, 15.0))
    facts = teachers.regime_facts(study, PROFILE, recipe=STEP_RECIPE, own_label="own")
    assert facts["own_verdict"] == "does not meet"
    assert facts["n_converged"] == 0 and facts["converged_names"] == "none" and facts["cheapest_name"] == "none"
    assert facts["best_test_name"] == "none" and math.isnan(facts["best_test"])
    assert facts["study_agrees"] == "does not agree with the study, and the profile should be revised"


def test_a_converged_profile_regime_that_is_not_the_cheapest_is_kept_by_the_maps_rule():
    study = regime(("own", True, True, 3.0, 99.5, 13.9), ("cheap", True, True, 2.0, 99.0, 14.0))
    facts = teachers.regime_facts(study, PROFILE, recipe=STEP_RECIPE, own_label="own")
    assert facts["own_verdict"] == "meets" and facts["cheapest_name"] == "cheap"
    assert facts["study_agrees"].startswith(
        "meets the criterion but is not the cheapest regime that does (cheap: 2.0 minutes a teacher against 3.0)")
    assert "never for cost alone" in facts["study_agrees"]
    # nothing misses the threshold: no best of the unfit
    assert facts["unfit_names"] == "none" and math.isnan(facts["unfit_best"])


def test_the_paper_recipe_shortened_with_augmentation():
    study = regime(("own", True, True, 2.0, 99.5, 13.9))
    config = SimpleNamespace(**(vars(PROFILE) | {"schedule": "step", "augment": True}))
    facts = teachers.regime_facts(study, config, recipe=STEP_RECIPE, own_label="own")
    assert facts["profile_augment"] == "with pad-crop-flip augmentation"
    assert facts["recipe_relation"] == "the recipe the book assumes for the paper, shortened."
    assert facts["profile_schedule"] == "step" and facts["profile_train_size"] == 3000


def test_the_config_table_shows_an_unset_field_as_a_dash():
    config = SimpleNamespace(to_dict=lambda: {"arch": "wrn-16-1", "teacher": None, "test_size": math.nan,
                                              "milestones": (0.3, 0.6), "lr": 0.1})
    table = teachers.config_table(config)
    assert table["teacher config"].tolist() == ["wrn-16-1", MISSING, MISSING, "(0.3, 0.6)", "0.1"]


def fit(converged, train_accuracy, change, allowed):
    return pd.DataFrame({"seed": range(len(converged)), "converged": converged, "train_accuracy": train_accuracy,
                         "last_fifth_change": change, "allowed_drop": allowed})


def test_every_teacher_converges_and_the_seed_noise_exceeds_the_margin():
    facts = teachers.teacher_facts(fit([True, True, True], [99.0, 98.5, 99.9], [-0.5, 0.2, -1.0], [1.0, 1.0, 2.0]),
                                   pd.DataFrame({"model": "Teacher", "test_error": [13.0, 14.0, 15.0]}))
    assert facts["n_teachers"] == 3 and facts["n_teachers_converged"] == 3
    assert facts["teachers_verdict"] == "Every teacher meets the criterion." and facts["short_seeds"] == "none"
    assert facts["teachers_min_train"] == 98.5 and facts["teachers_worst_change"] == -0.5
    assert facts["teacher_mean"] == 14.0 and facts["teacher_std"] == 1.0
    assert facts["margin"] == 0.3 and facts["noise_vs_margin"] == "larger than"


def test_teachers_short_of_the_criterion_are_named_and_small_noise_is_no_larger_than_the_margin():
    facts = teachers.teacher_facts(fit([True, False, False], [99.0, 97.0, 99.0], [0.0, 0.0, -3.0], [1.5] * 3),
                                   pd.DataFrame({"model": "Teacher", "test_error": [13.9, 14.0, 14.1]}))
    assert facts["n_teachers_converged"] == 1 and facts["short_seeds"] == "1, 2"
    assert facts["teachers_verdict"].startswith("Not every teacher meets the criterion")
    assert facts["teachers_worst_change"] == -2.0
    assert facts["noise_vs_margin"] == "no larger than"


def test_a_held_one_cycle_reads_its_peak_end_and_hold():
    lr = pd.Series([0.05, 0.1, 0.08, 0.05, 0.02, 0.01, 0.01, 0.01], index=range(1, 9))
    assert teachers.schedule_facts(lr) == {"lr_peak_epoch": 2, "lr_peak": 0.1, "lr_last": 0.01, "lr_held_from": 6}


def test_a_step_schedule_holds_from_no_epoch():
    lr = pd.Series([0.1] * 4 + [0.02] * 4, index=range(1, 9))
    assert teachers.schedule_facts(lr)["lr_held_from"] == MISSING


def test_parameter_counts_against_table_1():
    counts = pd.DataFrame({"arch": ["wrn-28-1", "wrn-28-2", "densenet-bc-112-33"], "paper (M)": [0.4, 1.5, 6.0],
                           "ours / paper": [0.97, 1.02, 1.10]})
    facts = teachers.parameter_facts(counts, "wrn-16-1", 200_000)
    assert facts["wrn_worst"] == pytest.approx(3.0) and facts["densenet_worst"] == pytest.approx(10.0)
    assert (facts["teacher_params"], facts["teacher_arch"], facts["smallest_paper"]) == (200_000, "wrn-16-1", 0.4)
    assert facts["smallest_ratio"] == pytest.approx(2.0)


def test_more_teachers_cost_what_the_book_measured(tmp_path):
    results = tmp_path / "book" / "results"
    results.mkdir(parents=True)
    (results / "book-timings-cpu.json").write_text(json.dumps(
        {"03_teachers": {"train_seconds": 600.0, "plan_runs_trained": 4, "machines": ["a test box"]}}))
    assert teachers.try_it_facts([0, 1, 2], range(5), root=tmp_path) == {
        "try_extra": 2, "try_cost": "about 5 minutes on a test box (2.5 minutes per run, as the cpu book trained them)"}


def test_more_teachers_cost_nothing_known_before_the_book_is_timed(tmp_path):
    facts = teachers.try_it_facts(range(3), range(10), root=tmp_path)
    assert facts["try_extra"] == 7 and facts["try_cost"].startswith("a cost not measured yet")
