"""What chapter 11_summary concludes (bannb.facts.summary), on small synthetic frames."""
import math

import pandas as pd
import pytest

from bannb.facts import summary as ch10
from bannb.study.stats import MARGIN

NAN = float("nan")
COLUMNS = ["key", "claim", "central", "mean", "ci_low", "ci_high", "half_width", "detectable", "n", "verdict",
           "note", "paper_mean"]


def evaluated(rows):
    return pd.DataFrame(rows, columns=COLUMNS)


CLAIMS = evaluated([
    ("ban1-vs-teacher", "BAN-1 beats its teacher", True, 0.25, -0.25, 0.75, 0.5, 0.9, 8, "inconclusive", "", -0.84),
    ("ban2-vs-ban1", "BAN-2 beats BAN-1", True, -0.5, -0.7, -0.3, 0.2, 0.4, 8, "holds", "", -0.3),
    ("banl-vs-teacher", "BAN+L beats its teacher", True, 0.5, 0.25, 0.75, 0.25, 0.5, 4, "does not hold", "", -0.6),
    ("cwtm-vs-ban", "CWTM beats BAN", True, NAN, NAN, NAN, NAN, NAN, 0, "inconclusive", "not run", 0.1),
    ("ban1-vs-long-teacher", "BAN-1 beats a long teacher", False, 0.9, -2.125, 3.875, 3.0, 5.0, 3, "inconclusive",
     "", NAN),
    ("ens2-vs-teachers2", "Two generations beat two teachers", False, 0.1, NAN, NAN, NAN, NAN, 1, "inconclusive", "",
     NAN),
    ("ens3-vs-teachers3", "Three generations beat three teachers", False, NAN, NAN, NAN, NAN, NAN, 0, "inconclusive",
     "not run", NAN),
    ("lm-ban-vs-teacher", "BAN is no better", False, 0.1, -0.2, 0.2, 0.2, 0.3, 3, "no effect of the paper's size", "",
     NAN)])


def test_the_tally_counts_tested_claims_only():
    facts = ch10.verdict_facts(CLAIMS)
    assert {name: facts[name] for name in ("summary_holds", "summary_does_not_hold", "summary_no_effect",
                                           "summary_inconclusive", "summary_claims", "summary_claims_tested",
                                           "summary_not_run")} == \
        {"summary_holds": 1, "summary_does_not_hold": 1, "summary_no_effect": 1, "summary_inconclusive": 3,
         "summary_claims": 8, "summary_claims_tested": 6, "summary_not_run": 2}


def test_claims_kept_out_of_the_tally_are_counted_apart_with_their_reason():
    from bannb.study.claims import OUT_OF_TALLY
    lm = CLAIMS.assign(chapter="04_born_again")
    lm.loc[lm["key"] == "lm-ban-vs-teacher", ["verdict", "note", "chapter"]] = [
        OUT_OF_TALLY, "3 of its 3 teachers are still improving", "09_language_models"]
    facts = ch10.verdict_facts(lm)
    assert facts["summary_out_of_tally"] == 1 and facts["summary_claims_tested"] == 5
    assert facts["summary_no_effect"] == 0  # its verdict is not counted
    assert facts["summary_out_of_tally_why"] == "09_language_models: 3 of its 3 teachers are still improving"
    assert ch10.verdict_facts(CLAIMS)["summary_out_of_tally_why"] == "none"


def test_the_headline_claim():
    facts = ch10.verdict_facts(CLAIMS)
    assert (facts["summary_ban1_mean"], facts["summary_ban1_ci_low"], facts["summary_ban1_ci_high"]) == \
        (0.25, -0.25, 0.75)
    assert facts["summary_ban1_n"] == 8 and type(facts["summary_ban1_n"]) is int
    assert facts["summary_ban1_verdict"] == "inconclusive" and facts["summary_ban1_paper"] == -0.84


def test_central_claims_within_the_margin_and_the_seeds_they_need():
    central = ch10.central_claims(CLAIMS)
    assert list(central["key"]) == ["ban1-vs-teacher", "ban2-vs-ban1", "banl-vs-teacher", "cwtm-vs-ban"]
    assert list(central["within target"]) == [False, True, True, False]
    needed = central["seeds for the target"]
    assert needed.iloc[0] > 8 and needed.iloc[1] <= 8 and math.isnan(needed.iloc[3])
    facts = ch10.central_facts(central, None, None, [])
    assert facts["summary_margin"] == MARGIN and facts["summary_central"] == 4 and facts["summary_central_ok"] == 2
    assert facts["summary_seeds_most"] == int(needed.iloc[0]) and facts["summary_seeds_now"] == 8
    assert facts["summary_target_cost"] == ("What those seeds would cost is not measured yet (the committed book's "
                                            "timings are not recorded).")


def test_no_central_claim_with_two_pairs_needs_no_seed():
    central = ch10.central_claims(CLAIMS[CLAIMS["key"] == "cwtm-vs-ban"])
    facts = ch10.central_facts(central, 60.0, 3600.0, ["CPU"])
    assert facts["summary_seeds_most"] == 0 and facts["summary_seeds_now"] == 0
    assert facts["summary_target_cost"] == "No central claim needs more seeds than the profile trains."


def test_the_target_against_the_budget():
    from bannb.book.timings import COLD_BOOK_BUDGET_SECONDS
    assert COLD_BOOK_BUDGET_SECONDS == 18 * 3600  # the cold cpu book's budget on its 2-core machine
    over = ch10.target_cost(10, 648.0, 60_000.0, ["CPU A", "CPU B"])
    assert over == ("Those 10 more seeds of chapters 3 to 6 would add about 1.8 h of training to a cold book that "
                    "takes 16.7 h (CPU A; CPU B), against a budget of 18.0 h: at this scale the target and the budget "
                    "cannot both be met.")
    within = ch10.target_cost(2, 600.0, 3600.0, [])
    assert within == ("Those 2 more seeds of chapters 3 to 6 would add about 20 min of training to a cold book that "
                      "takes 60 min (machine not recorded), against a budget of 18.0 h: the target fits the budget.")
    assert ch10.target_cost(0, None, None, []) == "No central claim needs more seeds than the profile trains."
    assert ch10.target_cost(3, 600.0, None, []).startswith("What those seeds would cost is not measured yet")


def test_the_controls_interval_in_words():
    facts = ch10.control_facts(CLAIMS)
    assert facts["summary_long_ci"] == "[-2.12, +3.88]" and facts["summary_long_n"] == 3
    assert facts["summary_long_verdict"] == "inconclusive" and facts["summary_long_mean"] == 0.9
    assert facts["summary_ens2_ci"] == "no interval with one seed" and facts["summary_ens2_verdict"] == "inconclusive"
    assert facts["summary_ens3_ci"] == "not run" and facts["summary_ens3_verdict"] == "not run"
    assert math.isnan(facts["summary_ens3_mean"]) and facts["summary_ens3_n"] == 0
    assert list(ch10.controls(CLAIMS).index) == ["ban1-vs-long-teacher", "ens2-vs-teachers2", "ens3-vs-teachers3"]


def test_how_well_the_teachers_fit():
    fit = pd.DataFrame({"run_id": ["t0", "t1", "s0", "s1", "s2", "u"], "teacher": [NAN, NAN, "t0", "t0", "t1", NAN],
                        "train_accuracy": [99.0, 97.5, 90.0, 90.0, 90.0, 50.0]})
    pairs = pd.DataFrame({"teacher_train_targets_wrong": [1.0, 1.0, 4.0], "test_agreement_with_teacher": [90, 91, 95]})
    facts = ch10.fit_facts(fit, pairs)
    # "u" taught nobody: it is not one of the teachers, however badly it fits
    assert facts == {"why_teachers": 2, "why_teachers_fit": 1, "why_min_train_accuracy": 98.0, "why_lowest_fit": 97.5,
                     "why_targets_wrong": 2.0, "why_targets_wrong_max": 4.0, "why_agreement": 92.0}


def test_our_teachers_scale_against_the_paper():
    teachers = pd.DataFrame({"dataset": ["fashion-mnist"] * 2, "test_error": [13.0, 14.0], "params": [174778] * 2})
    facts = ch10.scale_facts(teachers, 3000)
    assert facts["why_classes"] == 10 and facts["why_paper_classes"] == 100
    assert facts["why_wrong_classes"] == 9 and facts["why_paper_wrong_classes"] == 99
    assert facts["why_teacher_accuracy"] == 86.5 and facts["why_paper_teacher_accuracy"] == pytest.approx(82.5075)
    assert facts["why_train_images"] == "3,000" and facts["why_params"] == "174,778"
    assert facts["why_paper_params"] == "6.3 to 50.4"
    assert facts["why_params_ratio"] == pytest.approx(6.3e6 / 174778)
    assert facts["why_params_ratio_max"] == pytest.approx(50.4e6 / 174778)


def test_more_seeds_priced_from_the_committed_book():
    facts = ch10.try_facts([0, 1, 2, 3, 4, 5, 6, 7], 6, 648.0, ["CPU A"])
    assert facts == {"try_runs_per_seed": 6, "try_runs": 12,
                     "try_cost": "about 22 min at the 1.8 minutes a run of those chapters took in the committed book "
                                 "(CPU A)"}
    assert ch10.try_facts([0, 11], 6, 648.0, [])["try_cost"].endswith("(machine not recorded)")
    assert ch10.try_facts([0, 11], 6, 648.0, [])["try_runs"] == 54


@pytest.mark.parametrize("per_seed", [None, 0.0])
def test_more_seeds_not_priced_without_timings(per_seed):
    assert ch10.try_facts([0], 6, per_seed, [])["try_cost"] == ("not measured yet (the committed book's timings are "
                                                                "not recorded)")
