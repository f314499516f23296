"""What chapter 08_densenet_resnet concludes (bannb.facts.densenet_resnet), on small synthetic frames."""
import math

import pandas as pd
import pytest

from bannb.facts import densenet_resnet as ch08
from bannb.study.claims import FLOOR, VOID


def test_grid_counts_models_runs_and_seeds():
    records = pd.DataFrame({"label": ["A", "A", "B", "B", "C"], "seed": [0, 1, 0, 1, 0]})
    assert ch08.grid_facts(records) == {"n_models": 3, "n_runs": 5, "n_seeds": 2}


def counts(paper_depth, ours_depth, paper_compr, ours_compr):
    index = ["Teacher", "0.5×Depth", "2×Depth", "0.5×Compr", "1.5×Compr"]
    return pd.DataFrame({"paper (M)": [16.1, *paper_depth, *paper_compr],
                         "ours (M)": [16.0, *ours_depth, *ours_compr]}, index=index)


def test_parameters_that_follow_the_paper():
    facts = ch08.parameter_facts(counts([20.0, 10.0], [22.0, 9.0], [2.0, 3.0], [2.0, 3.5]),
                                 pd.DataFrame({"ours / paper": [1.1, 0.95]}))
    assert facts["depth_trend"] == "fall with depth as Table 4's do"
    assert facts["depth_gap"] == pytest.approx(0.1)
    assert facts["paper_span"] == pytest.approx(1.5) and facts["our_span"] == pytest.approx(1.75)
    assert facts["span_reading"] == "in line with the paper's"
    assert facts["res_gap"] == pytest.approx(0.1)
    assert all(type(value) in (str, float) for value in facts.values())


def test_parameters_that_do_not_follow_the_paper():
    # our depth students grow with depth; the paper's compression students span far more than ours
    facts = ch08.parameter_facts(counts([20.0, 10.0], [9.0, 12.0], [1.0, 9.0], [2.0, 3.0]),
                                 pd.DataFrame({"ours / paper": [1.0]}))
    assert facts["depth_trend"] == "do not follow Table 4's"
    assert facts["paper_span"] == pytest.approx(9.0) and facts["our_span"] == pytest.approx(1.5)
    assert facts["span_reading"].startswith("so the paper's cannot come from changing the transition widths")
    assert facts["res_gap"] == 0.0


def fits(rows):
    return pd.DataFrame(rows, columns=["model", "seed", "train_accuracy", "flat", "converged", "teacher"])


def test_every_teacher_converged():
    facts = ch08.convergence_facts(fits([("WRN", 0, 99.5, True, True, True), ("WRN", 1, 99.0, True, True, True),
                                         ("Student", 0, 90.0, True, False, False),
                                         ("Student", 1, 91.0, False, False, False)]))
    assert facts == {"min_train_accuracy": 98.0, "teachers_converged": 2, "teacher_runs": 2,
                     "teachers_short": "every one does", "others_flat": 1, "other_runs": 2}


def test_teachers_short_of_the_criterion_are_named_with_why():
    facts = ch08.convergence_facts(fits([("WRN", 0, 97.125, True, False, True), ("WRN", 1, 99.0, False, False, True),
                                         ("DenseNet", 2, 99.0, True, True, True)]))
    assert facts["teachers_converged"] == 1 and facts["teacher_runs"] == 3
    assert facts["teachers_short"] == ("these do not: WRN seed 0 (97.12% clean training accuracy); "
                                       "WRN seed 1 (99.00% clean training accuracy, still improving)")
    assert facts["others_flat"] == 0 and facts["other_runs"] == 0


def floor_records(errors):
    return pd.DataFrame([(model, model, error) for model, error in errors], columns=["model", "label", "test_error"])


def test_every_model_beats_the_floor():
    facts = ch08.floor_facts(floor_records([(FLOOR, 20.0), (FLOOR, 22.0), ("A", 10.0), ("B", 12.0)]))
    assert facts == {"floor_error": 21.0, "n_beat_floor": 2, "n_compared": 2, "floor_failures": "none fails it"}


def test_models_at_or_above_the_floor_are_named():
    facts = ch08.floor_facts(floor_records([(FLOOR, 20.0), ("A", 10.0), ("B", 20.0), ("C", 25.0)]))
    assert facts["n_beat_floor"] == 1 and facts["n_compared"] == 3
    assert facts["floor_failures"] == "these do not: B, C"


def test_without_a_floor_no_model_is_said_to_pass_it():
    facts = ch08.floor_facts(floor_records([("A", 10.0), ("B", 12.0)]))
    assert math.isnan(facts["floor_error"]) and facts["n_beat_floor"] == 0 and facts["n_compared"] == 2
    assert facts["floor_failures"] == "none was compared with it, as it was not run"


def claim_rows(rows):
    return pd.DataFrame(rows, columns=["key", "mean", "paper_mean", "verdict", "note"])


NAN = float("nan")
ALL_FAMILIES = [("wrn-ban-vs-teacher[wrn-16-4]", 0.5, -0.5, "holds", ""),
                ("wrn-ban-vs-teacher[wrn-28-1]", -0.25, -0.75, "inconclusive", ""),
                ("densenet-student-vs-wrn-teacher", -1.0, -4.4, "does not hold", ""),
                ("densenet-student-vs-baseline", 0.1, NAN, "no effect of the paper's size", ""),
                ("deeper-densenet-vs-teacher", NAN, -1.26, "inconclusive", "not run"),
                ("compressed-densenet-vs-teacher", 2.0, 2.14, VOID, "Linear beats the student"),
                ("resnet-student-vs-baseline", NAN, -1.6, "inconclusive", "not run")]


def test_verdict_counts():
    facts = ch08.verdict_facts(claim_rows(ALL_FAMILIES))
    assert {name: facts[name] for name in ("n_holds", "n_not", "n_none", "n_inconclusive", "n_void", "n_claims")} \
        == {"n_holds": 1, "n_not": 1, "n_none": 1, "n_inconclusive": 3, "n_void": 1, "n_claims": 7}


def test_a_family_of_several_networks_is_averaged_and_lists_its_verdicts_once_each():
    facts = ch08.verdict_facts(claim_rows(ALL_FAMILIES))
    assert facts["t3_ban_ours"] == 0.125 and facts["t3_ban_paper"] == -0.625
    assert facts["t3_ban_verdict"] == "holds, inconclusive"
    assert facts["t3_ban_here"] == "+0.12 here (holds, inconclusive)"
    assert facts["t3_here"] == "-1.00 here (does not hold)"
    assert math.isnan(facts["t3_base_paper"]) and facts["t3_base_here"] == "+0.10 here (no effect of the paper's size)"
    assert facts["t4_compr_here"] == "+2.00 here (void)"  # a void claim was run: it is measured here


def test_a_family_not_run_is_not_measured_here_and_its_table_says_so():
    facts = ch08.verdict_facts(claim_rows(ALL_FAMILIES))
    assert math.isnan(facts["t4_deep_ours"]) and facts["t4_deep_verdict"] == "inconclusive"
    assert facts["t4_deep_here"] == "not measured here (this profile does not train it)"
    assert facts["t4_status"] == "Our networks of Table 4 under the paper's rows:"  # its compression claim ran
    assert facts["t5_status"].startswith("This profile does not train Table 5's students (its note says why)")
    assert facts["t5_here"] == "not measured here (this profile does not train it)"


def test_a_family_with_no_row_at_all():
    facts = ch08.verdict_facts(claim_rows(ALL_FAMILIES[:2]))
    assert math.isnan(facts["t5_ours"]) and facts["t5_verdict"] == ""
    assert facts["t5_here"] == "not measured here (this profile does not train it)"
    assert facts["t4_status"].startswith("This profile does not train Table 4's students")


def test_more_seeds_narrow_the_interval_by_the_ratio_of_t_half_widths():
    from scipy import stats
    facts = ch08.try_facts(3, None)
    expected = (stats.t.ppf(0.975, 2) / 3 ** 0.5) / (stats.t.ppf(0.975, 4) / 5 ** 0.5)
    assert facts["try_seeds_now"] == 3 and facts["try_narrowing"] == pytest.approx(expected)
    assert facts["try_narrowing"] == pytest.approx(2.0007, abs=1e-4)
    assert ch08.try_facts(5, None)["try_narrowing"] == pytest.approx(1.0)


def test_the_cost_of_more_seeds_scales_the_committed_training_time():
    timing = {"train_seconds": 1200.0, "machines": ["CPU X", "CPU Y"]}
    assert ch08.try_facts(3, timing)["try_cost"] == ("about 13 minutes of training on the machine that timed the "
                                                     "committed book (CPU X; CPU Y)")
    assert ch08.try_facts(3, {"train_seconds": 1200.0})["try_cost"].endswith("committed book (not recorded)")


@pytest.mark.parametrize("timing", [None, 540.0, {"seconds": 30.0}, {"train_seconds": 0.0}])
def test_the_cost_is_not_invented_without_a_training_time(timing):
    assert ch08.try_facts(3, timing)["try_cost"] == ("its cost is not measured yet (the committed book has no "
                                                     "timing for this chapter)")
