"""What chapter 10_regime_map concludes (bannb.facts.regime_map): its cells, the decision's sentence in each
branch, the regression's sentence in each direction, and the table a reader scans."""
import math

import pandas as pd
import pytest

from bannb.facts import MISSING, regime_map
from bannb.study.profiles import get_profile


def test_the_cpu_maps_cells_are_described_from_their_configs():
    cells = regime_map.cells(get_profile("cpu")).set_index("cell")
    assert list(cells.index) == ["fashion-3k-clean", "fashion-3k-augmented", "fashion-1k-augmented",
                                 "cifar10-2k-augmented"]
    assert cells.loc["fashion-3k-clean", "views"] == "clean images" and cells.loc["fashion-3k-clean", "epochs"] == 20
    assert cells.loc["cifar10-2k-augmented", "dataset"] == "cifar10-jpeg"
    assert cells.loc["fashion-1k-augmented", "train_images"] == 1000
    assert (cells["longer_epochs"] == 2 * cells["epochs"]).all() and (cells["pool"] == 10_000).all()
    assert "JPEG" in regime_map.data_notes(get_profile("cpu"))  # the CIFAR-10 copy is said to be the JPEG one
    assert regime_map.data_notes(get_profile("smoke")) == ""


def verdicts(*words, alone=None):
    """Per cell c0, c1, … the book's verdict (`words`) and the map's own family's (`alone`, the same by default)."""
    return pd.DataFrame({"cell": [f"c{i}" for i in range(len(words))], "verdict": list(words),
                         "map_alone": list(alone or words)})


def costs(count):
    """A cell table's measured seconds: c0 the cheapest."""
    return pd.DataFrame({"cell": [f"c{i}" for i in range(count)], "seconds": [100.0 * (i + 1) for i in range(count)]})


def test_the_decision_sentence_in_both_branches():
    stay = regime_map.decision_facts(costs(2), verdicts("inconclusive", "does not hold"), None)
    assert stay["map_chosen"] == "none" and stay["map_winners"] == 0 and stay["map_cells"] == 2
    assert stay["map_decision"].startswith("In no cell does BAN-1 beat its teacher")
    assert stay["map_alone_decision"].endswith("the decision is the same.")
    move = regime_map.decision_facts(costs(3), verdicts("holds", "inconclusive", "holds"), "c2")
    assert move["map_winners"] == 2 and move["map_chosen"] == "c2"
    assert move["map_decision"] == ("BAN-1 beats its teacher in 2 of 3 cells (c0, c2); the cheapest of them, c2, is "
                                    "the regime of chapters 3-8.")


@pytest.mark.parametrize("low, high, word", [(0.01, 0.05, "grows"), (-0.05, -0.01, "shrinks"),
                                             (-0.01, 0.05, "shows no clear trend")])
def test_the_regression_sentence_reads_the_interval(low, high, word):
    fit = dict(slope=(low + high) / 2, low=low, high=high, intercept=0.0, r=0.5, n=20)
    facts = regime_map.regression_facts(fit)
    assert f"teacher {word} with" in facts["slope_sentence"]
    assert f"{10 * fit['slope']:+.2f} points of gain per 10 points of mass" in facts["slope_sentence"]
    assert facts["slope_n"] == 20


def test_no_line_without_points():
    facts = regime_map.regression_facts(dict(slope=math.nan, low=math.nan, high=math.nan, intercept=math.nan,
                                             r=math.nan, n=2))
    assert facts["slope_sentence"] == "With 2 points there is no line to fit."


def test_the_cell_view_formats_intervals_and_missing_values():
    row = dict(cell="c", seeds=5, teacher_error=12.345, teacher_train_fit=99.0, mass_seen=2.5, mass_clean=2.4,
               entropy_seen=0.1, targets_wrong_seen=0.2, agreement=90.0, agreement_others=89.0,
               ban_minus_teacher_mean=-0.5, ban_minus_teacher_low=-0.9, ban_minus_teacher_high=-0.1,
               over_smoothing_mean=0.2, over_smoothing_low=math.nan,
               over_smoothing_high=math.nan, longer_mean=math.nan, longer_low=math.nan, longer_high=math.nan,
               converged=False)
    table = pd.DataFrame([row])
    view = regime_map.cell_view(table).loc["c"]
    assert view["BAN-1 − teacher"] == "-0.50 [-0.90, -0.10]"
    assert view["BAN-1 − label smoothing"] == "+0.20"  # one pair: no interval
    assert view["2× teacher − teacher"] == MISSING and view["converged"] == "no"
    assert view["teacher error (%)"] == "12.35" and view["agreement: own teacher / others (%)"] == "90.0 / 89.0"
    facts = regime_map.span_facts(table.assign(converged=[True]))
    assert facts == dict(mass_low=2.5, mass_high=2.5, converged_cells=1, cells_total=1)


def test_why_sentence_names_the_worse_and_unfinished_cells_from_the_table():
    table = pd.DataFrame(dict(cell=["clean", "aug", "small"], mass_seen=[3.04, 11.3, 18.5],
                              ban_minus_teacher_mean=[-0.16, 0.57, 1.12], ban_minus_teacher_low=[-0.31, 0.24, -0.1],
                              ban_minus_teacher_high=[-0.003, 0.89, 2.3], ban_minus_teacher_n=[5, 5, 5],
                              longer_mean=[-0.29, -1.45, -4.08], converged=[True, False, False]))
    facts = regime_map.why_facts(table, verdicts("inconclusive", "does not hold", "inconclusive").assign(
        cell=table["cell"]))
    assert facts["map_worse_cells"] == 1 and facts["map_unfinished_cells"] == 2
    why = facts["map_why"]
    assert why.startswith("Of the map's 3 verdicts on BAN-1 against its teacher (the book's rule, Holm's adjustment "
                          "across every claim of the book): 2 “inconclusive”, 1 “does not hold”.")
    assert "In aug, where the teacher puts 11.3% of its probability" in why
    assert "worse than its teacher by 0.57 points (its 95% interval above zero). " in why
    # a whole interval above zero that the book's verdict leaves undecided is said to be so, not called a verdict
    undecided = regime_map.why_facts(table, verdicts("inconclusive", "inconclusive", "inconclusive",
                                                     alone=["inconclusive", "does not hold", "inconclusive"]
                                                     ).assign(cell=table["cell"]))
    assert undecided["map_why"].startswith("Of the map's 3 verdicts on BAN-1 against its teacher (the book's rule, "
                                           "Holm's adjustment across every claim of the book): 3 “inconclusive”.")
    assert ("worse than its teacher by 0.57 points (its 95% interval above zero), which the book's adjustment "
            "across all its claims does not count as decided.") in undecided["map_why"]
    assert "does not hold" not in undecided["map_why"]
    assert ("The teachers of aug, small were not finished: one trained twice as long is 1.45 to 4.08 points better, "
            "more than any born-again student differs from its teacher.") in why
    assert why.endswith("In clean, the regime closest to chapters 3-8, the teacher has 3.0% of its probability to "
                        "teach outside its top class, and BAN-1 − teacher is -0.16 points (95% CI -0.31 to -0.00, "
                        "n = 5).")
    # a 2× teacher that gains less than the student's largest difference is not called bigger than it
    calm = regime_map.why_facts(table.assign(longer_mean=[-0.29, -0.5, -4.08]), verdicts("a", "b", "c"))
    assert "0.50 to 4.08 points better." in calm["map_why"]

