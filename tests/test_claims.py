"""The verdict rule, paired confidence intervals, and the claim list."""
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from bannb.claims import CLAIMS, Claim, claims_for, evaluate
from bannb.stats import MARGIN, paired_difference, seeds_for_half_width, unpaired_difference


def test_paired_interval_matches_the_t_formula():
    a = {0: 10.0, 1: 11.0, 2: 9.5, 3: 10.2, 4: 10.8}
    b = {0: 9.6, 1: 10.9, 2: 9.4, 3: 9.7, 4: 10.5}
    d = np.array([b[s] - a[s] for s in range(5)])
    diff = paired_difference(a, b)
    half = scipy_stats.t.ppf(0.975, 4) * d.std(ddof=1) / math.sqrt(5)
    assert diff.n == 5 and diff.paired
    assert diff.mean == pytest.approx(d.mean())
    assert (diff.low, diff.high) == pytest.approx((d.mean() - half, d.mean() + half))
    assert diff.p_value == pytest.approx(scipy_stats.ttest_rel(list(b.values()), list(a.values())).pvalue)
    # the detectable effect at 80% power exceeds the half-width (t_0.975 + t_0.8 > t_0.975)
    assert diff.detectable > diff.half_width


def test_pairing_uses_only_common_seeds_and_ignores_order():
    diff = paired_difference({2: 5.0, 0: 1.0, 7: 3.0}, {0: 2.0, 2: 7.0, 9: 100.0})
    assert diff.n == 2 and diff.mean == pytest.approx(1.5)
    with pytest.raises(ValueError, match="no seed in common"):
        paired_difference({0: 1.0}, {1: 1.0})


@pytest.mark.parametrize("values, expected, verdict", [
    ([-1.0, -1.2, -0.9, -1.1, -1.05], "lower", "holds"),  # clearly lower, as the paper says
    ([-1.0, -1.2, -0.9, -1.1, -1.05], "higher", "does not hold"),
    ([1.0, 1.2, 0.9, 1.1, 1.05], "lower", "does not hold"),
    ([0.01, -0.02, 0.03, -0.01, 0.0], "lower", "no effect of the paper's size"),  # tight around zero
    ([0.8, -0.9, 0.7, -0.6, 0.1], "lower", "inconclusive"),  # straddles zero, reaches past ±m
    ([-0.5], "lower", "inconclusive"),  # one pair: no interval
])
def test_verdict_rule(values, expected, verdict):
    a = {s: 10.0 for s in range(len(values))}
    b = {s: 10.0 + v for s, v in enumerate(values)}
    assert paired_difference(a, b).verdict(expected) == verdict


def test_a_tight_interval_beyond_the_margin_is_not_no_effect():
    a = {s: 10.0 for s in range(5)}
    b = {s: 10.0 + 0.2 + 0.01 * (s - 2) for s in range(5)}  # significantly higher, but small
    assert paired_difference(a, b).verdict("lower") == "does not hold"
    assert paired_difference(a, b).verdict("lower", margin=0.1) == "does not hold"


def test_unpaired_difference_is_welch():
    a, b = [10.0, 10.5, 9.8, 10.2], [9.0, 9.6, 9.1]
    diff = unpaired_difference(a, b)
    welch = scipy_stats.ttest_ind(b, a, equal_var=False)
    assert not diff.paired and diff.n == 3
    assert diff.mean == pytest.approx(np.mean(b) - np.mean(a))
    assert diff.p_value == pytest.approx(welch.pvalue)
    ci = welch.confidence_interval(0.95)
    assert (diff.low, diff.high) == pytest.approx((ci.low, ci.high))


def test_seeds_for_half_width():
    # sd 0.22 (the 10k-image probe's paired differences): 5 pairs give 2.776 * 0.22 / sqrt(5) = 0.273 <= 0.3
    assert seeds_for_half_width(0.22, 0.3) == 5
    assert seeds_for_half_width(0.5, 0.3) > 10


def test_claim_keys_are_unique_and_chapters_exist():
    keys = [c.key for c in CLAIMS]
    assert len(keys) == len(set(keys))
    book = Path(__file__).resolve().parents[1] / "book"
    for claim in CLAIMS:
        assert (book / f"{claim.chapter}.ipynb").exists(), claim
        assert claim.expected in ("lower", "higher")
        assert (claim.table is None) == claim.ours


def test_every_paper_claim_reads_its_table():
    for claim in CLAIMS:
        if claim.ours:
            assert claim.paper_difference()["paper_rows"] == "—"
            continue
        paper = claim.paper_difference()
        assert np.isfinite(paper["paper_mean"]), claim.key
    # Table 2, BAN-1 against the teacher: 17.61-18.25, 16.62-17.69, 16.26-17.16, 16.13-16.87
    ban1 = next(c for c in CLAIMS if c.key == "ban1-vs-teacher").paper_difference()
    assert ban1["paper_mean"] == pytest.approx(np.mean([-0.64, -1.07, -0.90, -0.74]))
    assert ban1["paper_rows"] == "4 of 4 rows"
    # Table 1 is the student "systematically lower or equal": 5 of 8 rows lower (its "Teacher err" column is
    # read for "Teacher"); the book counts this claim once, under Table 2, since at the cpu profile it is the
    # same comparison
    table1 = Claim("table1", "04_born_again", "", "Teacher", "BAN-1", table=1, paper_columns=("Teacher", "BAN"))
    assert table1.paper_difference()["paper_rows"] == "5 of 8 rows"
    assert not any(c.table == 1 for c in CLAIMS)


def test_central_claims_are_the_ones_the_issue_names():
    central = {c.key for c in CLAIMS if c.central}
    assert central == {"ban1-vs-teacher", "ban2-vs-ban1", "banl-vs-teacher", "banl-vs-ban", "cwtm-vs-ban", "dkpp-vs-ban"}


def test_evaluate_pairs_by_seed_and_reports_missing_models():
    frame = pd.DataFrame([
        dict(model="Teacher", seed=s, test_error=10.0 + 0.1 * s) for s in range(5)
    ] + [dict(model="BAN-1", seed=s, test_error=9.0 + 0.1 * s + 0.01 * (-1) ** s) for s in range(5)])
    claims = [c for c in CLAIMS if c.key in ("ban1-vs-teacher", "dkpp-vs-ban")]
    table = evaluate(frame, claims).set_index("key")
    assert table.loc["ban1-vs-teacher", "verdict"] == "holds"
    assert table.loc["ban1-vs-teacher", "n"] == 5
    assert table.loc["ban1-vs-teacher", "mean"] == pytest.approx(-1.0 + 0.01 * np.mean([(-1) ** s for s in range(5)]))
    assert table.loc["dkpp-vs-ban", "note"] == "not run" and table.loc["dkpp-vs-ban", "verdict"] == "inconclusive"


def test_claims_for_a_chapter():
    assert {c.chapter for c in claims_for("05_cwtm")} == {"05_cwtm"}
    assert len(claims_for()) == len(CLAIMS)
    with pytest.raises(ValueError, match="no claim belongs"):
        claims_for("99_nothing")


def test_seed_differences_and_the_results_table():
    from bannb.claims import results_table, seed_differences
    frame = pd.DataFrame([dict(model="Teacher", seed=s, test_error=10.0 + s) for s in range(3)]
                         + [dict(model="CWTM", seed=s, test_error=9.5 + s + 0.1 * s) for s in range(2)]
                         + [dict(model="Ens*2", seed=s, test_error=8.0) for s in range(3)]
                         + [dict(model="Teachers×2", seed=s, test_error=8.5) for s in range(3)])
    claims = [c for c in CLAIMS if c.key in ("cwtm-vs-teacher", "ens2-vs-teachers2", "dkpp-vs-ban")]
    diffs = seed_differences(frame, claims)
    assert diffs.columns.tolist() == ["CWTM − Teacher", "DKPP − BAN-1"]  # the unpaired claim has no pairs
    assert diffs.index.name == "seed" and diffs["CWTM − Teacher"].tolist() == pytest.approx([-0.5, -0.4])
    assert diffs["DKPP − BAN-1"].isna().all()
    shown = results_table(evaluate(frame, claims))
    assert shown.columns.tolist() == ["paper: b − a", "ours: b − a [95% CI]", "n", "detectable", "verdict"]
    cwtm = shown.loc[next(c.statement for c in claims if c.key == "cwtm-vs-teacher")]
    assert cwtm["ours: b − a [95% CI]"].startswith("-0.45 [") and cwtm["n"] == 2
    assert cwtm["paper: b − a"].endswith("(2 of 4 rows)")  # Table 2: lower in 2 rows, equal in one, higher in one
    assert shown.loc[next(c.statement for c in claims if c.key == "dkpp-vs-ban"), "ours: b − a [95% CI]"] == "not run"
    ours = shown.loc[next(c.statement for c in claims if c.key == "ens2-vs-teachers2")]
    assert ours["paper: b − a"] == "—" and ours["ours: b − a [95% CI]"] == "-0.50 [-0.50, -0.50]"
