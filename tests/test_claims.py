"""The verdict rule, paired confidence intervals, and the claim list."""
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from bannb.study import claims as claims_module
from bannb.study.claims import (
    CLAIMS,
    FLOOR,
    VOID,
    Claim,
    claim_runs,
    claims_for,
    claims_table,
    evaluate,
    floor_reasons,
    judged_value,
    split_claims,
)
from bannb.study.stats import (
    MARGIN,
    family_verdicts,
    paired_difference,
    seeds_for_half_width,
    unpaired_difference,
)


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
    ([-1.0, -1.2, -0.9, -1.1], "lower", "inconclusive"),  # clear, but 4 pairs: below MIN_PAIRS, never decided
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


def test_equivalence_p_value_is_the_larger_of_two_one_sided_t_tests():
    d = np.array([0.05, -0.1, 0.12, 0.02, -0.04, 0.08])
    diff = paired_difference({s: 10.0 for s in range(6)}, {s: 10.0 + v for s, v in enumerate(d)})
    se = d.std(ddof=1) / math.sqrt(6)
    lower = scipy_stats.t.sf((d.mean() + MARGIN) / se, 5)  # H0: the difference is at most −m
    upper = scipy_stats.t.cdf((d.mean() - MARGIN) / se, 5)  # H0: at least +m
    assert diff.equivalence_p_value() == pytest.approx(max(lower, upper))
    assert scipy_stats.ttest_1samp(d, -MARGIN, alternative="greater").pvalue == pytest.approx(lower)
    assert diff.equivalence_p_value(margin=0.01) > 0.5  # a margin this small cannot be shown


def test_holm_decides_the_family_and_each_branch_of_the_rule():
    def diff(values):
        return paired_difference({s: 10.0 for s in range(len(values))},
                                 {s: 10.0 + v for s, v in enumerate(values)})
    strong = diff([-1.0, -1.2, -0.9, -1.1, -1.05])  # p ≈ 1e-5
    marginal = diff([-0.3, -0.5, -0.1, -0.45, -0.2, -0.35])  # p ≈ 0.005: alone it holds
    null = diff([0.01, -0.02, 0.03, -0.01, 0.0])  # inside ±m
    few = diff([-1.0, -1.2, -0.9])  # 3 pairs: not tested, not counted
    assert marginal.verdict("lower") == "holds" and 0.001 < marginal.p_value < 0.05
    judged = family_verdicts([strong, marginal, null, few, None], ["lower", "lower", "higher", "lower", "lower"],
                             [MARGIN] * 5)
    assert [j["verdict"] for j in judged] == ["holds", "holds", "no effect of the paper's size", "inconclusive",
                                             "inconclusive"]
    # Holm over the three tested claims: the smallest p × 3, the next × 2 (but never below the one before)
    p = [strong.p_value, marginal.p_value, null.p_value]
    order = np.argsort(p)
    expected, running = [0.0] * 3, 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (3 - rank) * p[index]))
        expected[index] = running
    assert [j["p_adjusted"] for j in judged[:3]] == pytest.approx(expected)
    assert math.isnan(judged[3]["p_adjusted"]) and math.isnan(judged[4]["p_adjusted"])
    # the same marginal claim, the smallest p among 20 claims of no effect, loses its verdict: 20 × p passes 0.05
    crowd = family_verdicts([marginal] + [null] * 19, ["lower"] * 20, [MARGIN] * 20)
    assert marginal.p_value * 20 > 0.05 and crowd[0]["verdict"] == "inconclusive"
    assert crowd[0]["p_adjusted"] == pytest.approx(min(1.0, 20 * marginal.p_value))
    # the other side of zero after adjustment: does not hold
    assert family_verdicts([strong], ["higher"], [MARGIN])[0]["verdict"] == "does not hold"


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


def test_seeds_for_target_reads_the_spread_back_from_an_interval():
    from bannb.study.stats import seeds_for_target
    differences = {0: 0.1, 1: -0.6, 2: 0.9, 3: 0.2, 4: -0.3, 5: 0.7, 6: -0.1, 7: 0.4}  # sd 0.48 over 8 pairs
    diff = paired_difference({s: 10.0 for s in differences}, {s: 10.0 + d for s, d in differences.items()})
    assert diff.n == 8 and diff.half_width > MARGIN
    # the interval's own spread, put back into seeds_for_half_width: the same count, from the half-width alone
    assert seeds_for_target(diff.half_width, diff.n) == seeds_for_half_width(diff.sd, MARGIN) > 8
    assert seeds_for_target(0.1, 8) <= 8  # a comparison already inside the target needs no more pairs
    assert math.isnan(seeds_for_target(float("nan"), 8)) and math.isnan(seeds_for_target(0.5, 1))


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
        if claim.paper_note is not None:  # the paper states the claim without numbers (Table 6's plain BAN)
            assert paper["paper_rows"] == claim.paper_note and np.isnan(paper["paper_mean"])
            continue
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
    # Table 4 (printed transposed, with a "Params (M)" row under its "Error" row): the errors only, 19.83 - 17.69
    compressed = next(c for c in CLAIMS if c.key == "compressed-densenet-vs-teacher").paper_difference()
    assert compressed == dict(paper_mean=pytest.approx(19.83 - 17.69), paper_rows="1 of 1 rows")


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
    assert table.loc["dkpp-vs-ban", "note"] == "not run" and table.loc["dkpp-vs-ban", "verdict"] == "not run"  # never "inconclusive"


def test_claims_for_a_chapter():
    assert {c.chapter for c in claims_for("05_cwtm")} == {"05_cwtm"}
    assert len(claims_for()) == len(CLAIMS)
    with pytest.raises(ValueError, match="no claim belongs"):
        claims_for("99_nothing")


def test_claims_table_states_every_claim_with_the_papers_difference_and_no_data():
    table = claims_table()
    assert table["claim"].tolist() == [claim.statement for claim in CLAIMS]
    ban1 = table.set_index("claim").loc[CLAIMS[0].statement]
    paper = pd.DataFrame({"Teacher": [18.25, 17.69, 17.16, 16.87], "BAN-1": [17.61, 16.62, 16.26, 16.13]})
    assert ban1["source"] == "Table 2" and bool(ban1["central"]) and ban1["chapter"] == "04_born_again"
    assert ban1["paper_mean"] == pytest.approx((paper["BAN-1"] - paper["Teacher"]).mean())
    assert ban1["paper_rows"] == "4 of 4 rows"
    ours = table[table["source"] == "ours"]
    assert len(ours) == sum(claim.ours for claim in CLAIMS) and ours["paper_mean"].isna().all()
    assert claims_table(claims_for("06_dkpp"))["chapter"].unique().tolist() == ["06_dkpp"]


def _transfer_frame(errors: dict, seeds=range(5), **columns) -> pd.DataFrame:
    """Records of chapter 8's models: {model: error}, + 0.1 × seed and a jitter within ±0.003 (so that no difference is
    exactly constant), with `columns` on every row."""
    return pd.DataFrame([dict(model=model, seed=s, test_error=error + 0.1 * s + 0.003 * np.sin(s + 2 * i), **columns)
                         for i, (model, error) in enumerate(errors.items()) for s in seeds])


def test_a_model_that_does_not_beat_the_floor_voids_its_claims():
    frame = _transfer_frame({"WRN teacher": 12.0, "WRN BAN": 11.0, "DenseNet student": 20.0,
                             "DenseNet baseline": 13.0, FLOOR: 16.0})
    claims = [c for c in claims_for("08_densenet_resnet")
              if c.key in ("wrn-ban-vs-teacher", "densenet-student-vs-wrn-teacher", "densenet-student-vs-baseline")]
    table = evaluate(frame, claims, floor=FLOOR).set_index("key")
    # the WRN teacher and its BAN both beat the floor: the rule's verdict stands
    assert table.loc["wrn-ban-vs-teacher", "verdict"] == "holds" and not table.loc["wrn-ban-vs-teacher", "void"]
    # the DenseNet student (20.1% on average) is worse than the linear classifier (16.1%): both its claims are void,
    # whatever the rule says (it says "does not hold"), and the note names the model and both means
    for key in ("densenet-student-vs-wrn-teacher", "densenet-student-vs-baseline"):
        assert table.loc[key, "verdict"] == VOID and table.loc[key, "void"]
        assert table.loc[key, "rule_verdict"] == "does not hold"
        assert table.loc[key, "note"] == f"DenseNet student (20.20%) does not beat {FLOOR} (16.20%)"
    # without a floor nothing is void
    assert not evaluate(frame, claims)["void"].any()


def test_a_model_level_with_the_floor_does_not_beat_it_and_the_floor_must_be_recorded():
    frame = _transfer_frame({"WRN teacher": 16.0, "WRN BAN": 15.0, FLOOR: 16.0})
    claim = next(c for c in CLAIMS if c.key == "wrn-ban-vs-teacher")
    assert floor_reasons(frame, claim) == [f"WRN teacher (16.20%) does not beat {FLOOR} (16.20%)"]
    with pytest.raises(ValueError, match="no records of the floor model 'Linear'"):
        evaluate(frame[frame["model"] != FLOOR], [claim], floor=FLOOR)


def test_a_model_exactly_level_with_the_floor_does_not_beat_it():
    """Means exactly equal (no jitter): "not below the floor" includes the tie."""
    frame = pd.DataFrame([dict(model=model, seed=s, test_error=error + 0.25 * s)
                          for model, error in (("WRN teacher", 16.0), ("WRN BAN", 15.0), (FLOOR, 16.0)) for s in range(4)])
    claim = next(c for c in CLAIMS if c.key == "wrn-ban-vs-teacher")
    assert floor_reasons(frame, claim) == [f"WRN teacher (16.38%) does not beat {FLOOR} (16.38%)"]


def test_a_void_claim_is_left_out_of_the_holm_family():
    """A void claim's adjusted p is NaN, and the claims that stand are adjusted among themselves alone."""
    frame = _transfer_frame({"WRN teacher": 12.0, "WRN BAN": 11.0, "DenseNet student": 20.0,
                             "DenseNet baseline": 13.0, FLOOR: 16.0})
    keys = ("wrn-ban-vs-teacher", "densenet-student-vs-wrn-teacher", "densenet-student-vs-baseline")
    claims = [c for c in claims_for("08_densenet_resnet") if c.key in keys]
    table = evaluate(frame, claims, floor=FLOOR).set_index("key")
    assert all(math.isnan(table.loc[key, "p_adjusted"]) for key in keys[1:])
    alone = evaluate(frame, [c for c in claims if c.key == keys[0]], floor=FLOOR).set_index("key")
    assert table.loc[keys[0], "p_adjusted"] == alone.loc[keys[0], "p_adjusted"] == table.loc[keys[0], "p_value"]


def test_claims_are_split_per_network_of_a_grid_and_read_that_networks_paper_row():
    wrns = {"wrn-28-1": 0.0, "wrn-28-10": -5.0}
    frame = pd.concat([_transfer_frame({"WRN teacher": 20.0 + shift, "WRN BAN": 19.0 + shift,
                                        "DenseNet student": 17.0 + shift}, wrn=wrn)
                       for wrn, shift in wrns.items()]
                      + [_transfer_frame({"DenseNet baseline": 18.0, FLOOR: 30.0})], ignore_index=True)
    claims = [c for c in claims_for("08_densenet_resnet")
              if c.key in ("wrn-ban-vs-teacher", "densenet-student-vs-baseline", "deeper-densenet-vs-teacher")]
    table = evaluate(frame, claims, floor=FLOOR).set_index("key")
    assert list(table.index) == ["wrn-ban-vs-teacher[wrn-28-1]", "wrn-ban-vs-teacher[wrn-28-10]",
                                 "densenet-student-vs-baseline[wrn-28-1]", "densenet-student-vs-baseline[wrn-28-10]",
                                 "deeper-densenet-vs-teacher"]
    assert table.loc["wrn-ban-vs-teacher[wrn-28-1]", "claim"].endswith("(wrn-28-1)")
    # each network against its own teacher (not the mean of both), and the baseline, which has no `wrn`, against each
    assert table.loc["wrn-ban-vs-teacher[wrn-28-10]", "mean"] == pytest.approx(-1.0, abs=0.01)
    assert table.loc["densenet-student-vs-baseline[wrn-28-1]", "mean"] == pytest.approx(-1.0, abs=0.01)
    assert table.loc["densenet-student-vs-baseline[wrn-28-10]", "mean"] == pytest.approx(-6.0, abs=0.01)
    # the paper's difference of that network's row of Table 3 (Wide-ResNet-28-1: 29.43 - 30.05), not the mean of four
    assert table.loc["wrn-ban-vs-teacher[wrn-28-1]", "paper_mean"] == pytest.approx(29.43 - 30.05)
    assert table.loc["wrn-ban-vs-teacher[wrn-28-1]", "paper_rows"] == "1 of 1 rows"
    assert table.loc["deeper-densenet-vs-teacher", "note"] == "not run"
    # one network per column: no split, the claims keep their keys (the cpu book)
    single = frame[(frame["wrn"] != "wrn-28-10")]
    assert [c.key for c in split_claims(claims, single)] == [c.key for c in claims]


def test_claim_view_shows_the_difference_its_interval_and_why_a_claim_is_void():
    from bannb.study.claims import claim_view
    frame = _transfer_frame({"WRN teacher": 12.0, "WRN BAN": 11.0, "DenseNet student": 20.0, FLOOR: 16.0})
    claims = [c for c in claims_for("08_densenet_resnet")
              if c.key in ("wrn-ban-vs-teacher", "densenet-student-vs-wrn-teacher", "resnet-student-vs-baseline")]
    table = evaluate(frame, claims, floor=FLOOR)
    view = claim_view(table)
    assert list(view.columns) == ["table", "paper: b − a", "ours: b − a [95% CI]", "n", "detectable", "verdict", "note"]
    ban = view.loc[claims[0].statement]
    row = table.set_index("key").loc["wrn-ban-vs-teacher"]
    assert ban["ours: b − a [95% CI]"] == f"{row['mean']:+.2f} [{row['ci_low']:+.2f}, {row['ci_high']:+.2f}]"
    assert ban["paper: b − a"] == f"{row['paper_mean']:+.2f} (3 of 4 rows)"  # Table 3: WRN-28-5's BAN is worse
    assert view.loc[claims[1].statement, "verdict"] == VOID
    assert view.loc[claims[1].statement, "note"].startswith("DenseNet student (20.20%) does not beat")
    not_run = view.loc[claims[2].statement]
    assert (not_run["ours: b − a [95% CI]"], not_run["n"], not_run["note"]) == ("—", 0, "not run")


def test_table_4_is_read_on_its_error_row_only():
    # Table 4 prints an "Error" row and a "Params (M)" row; only the first is a difference of errors
    claims = {c.key: c for c in CLAIMS}
    deeper = claims["deeper-densenet-vs-teacher"].paper_difference()
    assert deeper["paper_mean"] == pytest.approx(16.43 - 17.69) and deeper["paper_rows"] == "1 of 1 rows"
    compressed = claims["compressed-densenet-vs-teacher"].paper_difference()
    assert compressed["paper_mean"] == pytest.approx(19.83 - 17.69) and compressed["paper_rows"] == "1 of 1 rows"


def _records(**errors):
    """A chapter's tidy records: model -> its error per seed (seeds 0, 1, 2, …)."""
    return pd.DataFrame([dict(model=model, seed=seed, test_error=error, run_id=f"{model}-{seed}")
                         for model, values in errors.items() for seed, error in enumerate(values)])


def test_evaluate_book_covers_every_claim_once_in_the_claim_lists_order():
    from bannb.study.claims import book_chapters, evaluate_book
    table = evaluate_book({})
    assert table["key"].tolist() == [c.key for c in CLAIMS]  # each claim once, none added
    assert (table["note"] == "not run").all() and (table["verdict"] == "not run").all()  # n = 0 is never inconclusive
    # the union of the chapters' claims is every claim: the summary misses none
    union = [c.key for chapter in book_chapters() for c in claims_for(chapter)]
    assert sorted(union) == sorted(c.key for c in CLAIMS)


def test_evaluate_book_judges_each_claim_on_its_own_chapters_records():
    from bannb.study.claims import evaluate_book
    # "BAN-1" in chapter 4 and in chapter 5 are different numbers here: pooling them would mix the two
    records = {"04_born_again": _records(**{"Teacher": [10.0, 10.2, 10.1], "BAN-1": [9.0, 9.3, 9.1]}),
               "05_cwtm": _records(**{"Teacher": [10.0, 10.2, 10.1], "BAN-1": [12.0, 12.1, 12.3],
                                      "BAN+L": [11.0, 11.2, 11.1]}),
               "03_teachers": _records(Teacher=[50.0, 50.0, 50.0])}  # a chapter without claims: not used
    table = evaluate_book(records).set_index("key")
    assert table.loc["ban1-vs-teacher", "mean"] == pytest.approx((-1.0 - 0.9 - 1.0) / 3)
    assert table.loc["banl-vs-ban", "mean"] == pytest.approx(11.1 - (12.0 + 12.1 + 12.3) / 3)
    assert table.loc["banl-vs-ban", "chapter"] == "05_cwtm"
    assert table.loc["ban2-vs-ban1", "note"] == "not run"  # chapter 4 has no BAN-2 here
    assert (table.loc[[c.key for c in claims_for("08_densenet_resnet")], "note"] == "not run").all()
    # a chapter whose records are an empty frame (the language models before their chapter exists): not run
    empty = evaluate_book({"06_dkpp": pd.DataFrame(columns=["model", "seed", "test_error", "run_id"])})
    assert (empty.set_index("key").loc[[c.key for c in claims_for("06_dkpp")], "note"] == "not run").all()


def test_every_claims_chapter_has_records_and_the_summary_evaluates_them_all():
    from bannb.study.chapters import RECORD_CHAPTERS
    from bannb.study.experiments import LM_CHAPTER
    assert {c.chapter for c in CLAIMS} <= set(RECORD_CHAPTERS)
    assert LM_CHAPTER in RECORD_CHAPTERS
    summary = json.loads((Path(__file__).resolve().parents[1] / "book" / "11_summary.ipynb").read_text())
    code = "\n".join("".join(cell["source"]) for cell in summary["cells"] if cell["cell_type"] == "code")
    # the summary evaluates every claim (judged_claims: evaluate_book's default) on every chapter's records, with no
    # list of its own
    assert "judged_claims(records)" in code and "book_records_for(ctx)" in code
    assert "claims_for(" not in code and "Claim(" not in code


def test_verdict_counts_tally_the_tested_claims_only():
    from bannb.study.claims import evaluate_book, verdict_counts
    from bannb.study.stats import VERDICTS
    records = {"04_born_again": _records(**{"Teacher": [10.0, 10.2, 10.1, 10.3, 9.9],
                                            "BAN-1": [9.0, 9.3, 9.1, 9.2, 9.0],
                                            "BAN-2": [9.0, 10.3, 8.1, 9.9, 8.6]})}
    counts = verdict_counts(evaluate_book(records))
    assert counts["tested"] == 2 and counts["not_run"] == len(CLAIMS) - 2
    assert counts["holds"] == 1 and counts["inconclusive"] == 1  # BAN-2 − BAN-1: 0.0, +1.0, −1.0, +0.7, −0.4
    assert sum(counts[v] for v in VERDICTS) == counts["tested"]


def test_a_chapter_whose_teachers_are_unfinished_is_shown_but_kept_out_of_the_family_and_the_tally():
    from bannb.study.claims import OUT_OF_TALLY, evaluate_book, verdict_counts
    from bannb.study.stats import VERDICTS
    chapter4 = _records(**{"Teacher": [10.0, 10.2, 10.1, 10.3, 9.9], "BAN-1": [9.0, 9.3, 9.1, 9.2, 9.0]})
    lm = lm_frame([100.0, 101.0, 99.0, 100.5, 100.2], [95.0, 96.5, 94.0, 95.2, 95.1], [99.0, 100.0, 98.0, 99.9, 99.0])
    lm["run_id"] = [f"lm-{i}" for i in range(len(lm))]
    records = {"04_born_again": chapter4, "09_language_models": lm}
    reason = "3 of its 3 teachers are still improving"
    judged = evaluate_book(records, unfinished={"09_language_models": reason}).set_index("key")
    lm_rows = judged.loc[["lm-ban-vs-teacher", "lm-banl-vs-teacher"]]
    assert (lm_rows["verdict"] == OUT_OF_TALLY).all() and lm_rows["note"].str.contains(reason).all()
    # alone, BAN+L (1.0 points better on 5 pairs) holds; BAN ("not lower than its teacher", 4.98 lower) does not
    assert lm_rows["rule_verdict"].to_dict() == {"lm-ban-vs-teacher": "does not hold", "lm-banl-vs-teacher": "holds"}
    assert lm_rows.loc["lm-ban-vs-teacher", "mean"] == pytest.approx(-4.98)  # the numbers are still shown
    # the family is the book without those claims: chapter 4's adjustment is as if chapter 9 had not run
    without = evaluate_book({"04_born_again": chapter4}).set_index("key")
    assert judged.loc["ban1-vs-teacher", "p_adjusted"] == pytest.approx(without.loc["ban1-vs-teacher", "p_adjusted"])
    counted = evaluate_book(records).set_index("key")
    assert counted.loc["ban1-vs-teacher", "p_adjusted"] > without.loc["ban1-vs-teacher", "p_adjusted"]
    counts = verdict_counts(judged.reset_index())
    assert counts["out_of_tally"] == 2 and counts["tested"] == 1 and counts["holds"] == 1
    assert sum(counts[v] for v in VERDICTS) == counts["tested"]
    assert verdict_counts(counted.reset_index())["out_of_tally"] == 0


# ---------------------------------------------------------------- Table 6: language models, in perplexity

def lm_frame(teacher, ban, banl, corpus="fortunes"):
    """Chapter 9's records (`experiments.lm_records`' columns that matter): per-seed test perplexities."""
    rows = []
    for label, values in (("Teacher", teacher), ("BAN", ban), ("BAN+L", banl)):
        rows += [dict(model=label, seed=seed, corpus=corpus, test_ppl=value) for seed, value in enumerate(values)]
    return pd.DataFrame(rows)


def test_table6_claims_compare_perplexity_with_their_own_margin():
    from bannb.study.claims import PERPLEXITY_MARGIN
    claims = claims_for("09_language_models")
    assert {c.key for c in claims} == {"lm-banl-vs-teacher", "lm-ban-vs-teacher"}
    assert all(c.value == "test_ppl" and c.margin == PERPLEXITY_MARGIN for c in claims)
    # the paper's BAN+L gains, test perplexity: 80.05 -> 76.97 and 71.87 -> 68.56
    banl = next(c for c in claims if c.key == "lm-banl-vs-teacher").paper_difference()
    assert banl["paper_mean"] == pytest.approx(np.mean([76.97 - 80.05, 68.56 - 71.87]))
    assert banl["paper_rows"] == "2 of 2 rows"
    assert PERPLEXITY_MARGIN <= min(80.05 - 76.97, 71.87 - 68.56, 83.69 - 80.27, 75.11 - 71.19)

    # BAN+L 3.5-4 points below its teacher; BAN within a point of it, tightly
    frame = lm_frame(teacher=[110.0, 112.0, 115.0, 111.0, 113.0], ban=[110.3, 111.9, 115.2, 111.1, 112.8],
                     banl=[106.4, 108.2, 111.3, 107.2, 109.4])
    table = evaluate(frame, claims).set_index("key")
    assert table.loc["lm-banl-vs-teacher", "verdict"] == "holds"
    assert table.loc["lm-banl-vs-teacher", "mean"] == pytest.approx(np.mean([-3.6, -3.8, -3.7, -3.8, -3.6]))
    assert table.loc["lm-ban-vs-teacher", "verdict"] == "no effect of the paper's size"
    assert set(table["unit"]) == {"perplexity points"} and set(table["value"]) == {"test_ppl"}
    # with the error margin (0.3 points) the same BAN interval reaches past ±m: a margin that fits error, not
    # perplexity, would leave it undecided
    assert evaluate(frame, claims, margin=MARGIN).set_index("key").loc["lm-ban-vs-teacher", "verdict"] == "inconclusive"
    # BAN clearly better than its teacher: the paper's "BAN did not help" does not hold
    better = lm_frame(teacher=[110.0, 112.0, 115.0, 111.0, 113.0], ban=[105.0, 107.5, 110.2, 106.1, 108.3],
                      banl=[106.4, 108.2, 111.3, 107.2, 109.4])
    assert evaluate(better, claims).set_index("key").loc["lm-ban-vs-teacher", "verdict"] == "does not hold"


def test_table6_claims_read_only_language_model_rows_of_a_mixed_table():
    """The summary's table of every chapter holds image Teacher and BAN+L rows too (test error, no corpus)."""
    images = pd.DataFrame([dict(model=m, seed=s, test_error=e + 0.1 * s)
                           for m, e in (("Teacher", 10.0), ("BAN+L", 9.0), ("BAN-1", 9.2)) for s in range(3)])
    language = lm_frame(teacher=[110.0, 112.0, 115.0], ban=[110.3, 111.9, 115.2], banl=[106.4, 108.2, 111.3])
    mixed = pd.concat([images, language], ignore_index=True)
    claim = {c.key: c for c in CLAIMS}
    both = evaluate(mixed, [claim["lm-banl-vs-teacher"], claim["banl-vs-teacher"]]).set_index("key")
    alone = pd.concat([evaluate(language, [claim["lm-banl-vs-teacher"]]),
                       evaluate(images, [claim["banl-vs-teacher"]])]).set_index("key")
    for key in ("lm-banl-vs-teacher", "banl-vs-teacher"):
        assert both.loc[key, "mean"] == pytest.approx(alone.loc[key, "mean"]) and both.loc[key, "n"] == 3
    # image records alone: the language-model claims were not run on them
    assert evaluate(images, claims_for("09_language_models"))["note"].eq("not run").all()


def test_seed_differences_and_the_results_table():
    from bannb.study.claims import results_table, seed_differences
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


def test_expected_half_width_is_what_seeds_for_half_width_inverts():
    from bannb.study.stats import expected_half_width
    assert expected_half_width(0.22, 5) == pytest.approx(scipy_stats.t.ppf(0.975, 4) * 0.22 / np.sqrt(5))
    assert expected_half_width(0.22, seeds_for_half_width(0.22, 0.1)) <= 0.1 < expected_half_width(
        0.22, seeds_for_half_width(0.22, 0.1) - 1)
    assert np.isnan(expected_half_width(0.22, 1))


def test_claim_facts_name_every_result_of_a_claim_for_the_prose():
    from bannb.study.claims import claim_facts
    frame = pd.DataFrame([dict(model="Teacher", seed=s, test_error=10.0) for s in range(5)]
                         + [dict(model="CWTM", seed=s, test_error=9.0 + 0.05 * s) for s in range(5)])
    claims = [c for c in CLAIMS if c.key in ("cwtm-vs-teacher", "dkpp-vs-ban")]
    facts = claim_facts(evaluate(frame, claims))
    assert facts["cwtm_vs_teacher_mean"] == pytest.approx(-0.9) and facts["cwtm_vs_teacher_n"] == 5
    assert facts["cwtm_vs_teacher_verdict"] == "holds"
    assert facts["cwtm_vs_teacher_ci"].startswith("[-1.0") and facts["cwtm_vs_teacher_ours"].startswith("-0.90 points")
    assert facts["cwtm_vs_teacher_paper_rows"] == "2 of 4 rows" and isinstance(facts["cwtm_vs_teacher_paper"], float)
    assert facts["dkpp_vs_ban_ours"] == "not run" and facts["dkpp_vs_ban_verdict"] == "not run"
    one_seed = claim_facts(evaluate(frame[frame["seed"] == 0], claims))
    assert one_seed["cwtm_vs_teacher_ours"] == "-1.00 points, no interval with n = 1"
    assert one_seed["cwtm_vs_teacher_ci"] == "no interval"
    assert all(type(value) in (float, int, str) for value in facts.values())  # glue formats plain values only


def test_holm_adjusts_step_down_keeps_order_and_skips_untested_claims():
    from bannb.study.stats import holm_adjusted
    # m = 4: sorted 0.01, 0.02, 0.03, 0.04 -> 0.04, 0.06, 0.06 (monotone), 0.06
    found = holm_adjusted([0.03, 0.01, math.nan, 0.04, 0.02])
    assert found[1] == pytest.approx(0.04) and found[4] == pytest.approx(0.06)
    assert found[0] == pytest.approx(0.06) and found[3] == pytest.approx(0.06) and math.isnan(found[2])
    assert holm_adjusted([0.5, 0.9]) == [1.0, 1.0]  # capped at 1
    assert holm_adjusted([]) == []


def test_a_claim_is_judged_on_the_pool_where_both_sides_have_one_and_ensembles_on_the_test_set():
    ban = next(c for c in CLAIMS if c.key == "ban1-vs-teacher")
    ens = next(c for c in CLAIMS if c.key == "ens2-vs-ban2")
    rows = [dict(model=model, seed=s, test_error=10.0 + s, heldout_error=10.5 + s - 0.5 * (model == "BAN-1"),
                 run_id=f"{model}-{s}") for model in ("Teacher", "BAN-1", "BAN-2") for s in range(5)]
    rows += [dict(model="Ens*2", seed=s, test_error=9.0 + s, heldout_error=np.nan, run_id=f"BAN-1-{s} + BAN-2-{s}")
             for s in range(5)]
    frame = pd.DataFrame(rows)
    assert judged_value(frame, ban) == "heldout_error" and judged_value(frame, ens) == "test_error"
    table = evaluate(frame, [ban, ens]).set_index("key")
    assert table.loc["ban1-vs-teacher", "value"] == "heldout_error"
    assert table.loc["ban1-vs-teacher", "mean"] == pytest.approx(-0.5)  # on test ∪ pool, not on the test set (0.0)
    assert table.loc["ens2-vs-ban2", "value"] == "test_error"
    assert judged_value(frame.drop(columns="heldout_error"), ban) == "test_error"  # records without a pool


def test_a_claim_on_runs_another_claim_tested_is_reported_there_and_counted_once():
    from bannb.study.claims import evaluate_book, verdict_counts
    teacher = [10.0, 10.2, 10.1, 10.3, 9.9, 10.4, 10.0, 10.2]
    ban = [9.0, 9.3, 9.1, 9.2, 9.0, 9.4, 9.1, 9.2]
    chapter4 = _records(**{"Teacher": teacher, "BAN-1": ban})
    # the map's cell of the chapters' regime: the same runs, for seeds 0-4; another cell has its own runs
    same = chapter4[chapter4["seed"] < 5].assign(cell="clean")
    other = _records(**{"Teacher": teacher[:5], "BAN-1": teacher[:5]}).assign(cell="augmented")
    other["run_id"] = "augmented-" + other["run_id"]
    table = evaluate_book({"04_born_again": chapter4, "10_regime_map": pd.concat([same, other])}).set_index("key")
    clean, augmented = "map-ban-vs-teacher[clean]", "map-ban-vs-teacher[augmented]"
    assert table.loc[clean, "duplicate_of"] == "ban1-vs-teacher" and table.loc[augmented, "duplicate_of"] == ""
    assert table.loc[clean, "verdict"] == table.loc["ban1-vs-teacher", "verdict"] == "holds"
    assert "counted there" in table.loc[clean, "note"] and math.isnan(table.loc[clean, "p_adjusted"])
    counts = verdict_counts(table.reset_index())
    assert counts["reused"] == 1 and counts["tested"] == 2  # ban1-vs-teacher and the augmented cell
    # the realistic case: the map's clean cell on exactly chapter 4's runs (the same set, not a strict subset)
    equal = evaluate_book({"04_born_again": chapter4,
                           "10_regime_map": pd.concat([chapter4.assign(cell="clean"), other])}).set_index("key")
    assert equal.loc[clean, "duplicate_of"] == "ban1-vs-teacher" and math.isnan(equal.loc[clean, "p_adjusted"])
    # runs all among an earlier claim's only: chapter 4 after the map would count chapter 4's 8 seeds
    assert claim_runs(chapter4, next(c for c in CLAIMS if c.key == "ban1-vs-teacher")) >= claim_runs(
        same, next(c for c in CLAIMS if c.key == "map-ban-vs-teacher"))


def test_a_chapters_verdicts_are_the_books():
    from bannb.study.claims import evaluate_book, evaluate_chapter
    marginal = [10.0 - d for d in (0.3, 0.5, 0.1, 0.45, 0.2, 0.35)]  # alone it holds (p ≈ 0.004)
    records = {"04_born_again": _records(**{"Teacher": [10.0] * 6, "BAN-1": marginal}),
               "05_cwtm": _records(**{"Teacher": [10.0] * 6, "CWTM": [10.0 + 0.02 * (-1) ** s for s in range(6)],
                                      "BAN+L": [10.0 + 0.03 * (-1) ** s for s in range(6)]})}
    chapter = evaluate_chapter(records, "04_born_again").set_index("key")
    book = evaluate_book(records).set_index("key")
    assert set(chapter["chapter"]) == {"04_born_again"}
    assert chapter.loc["ban1-vs-teacher", "p_adjusted"] == book.loc["ban1-vs-teacher", "p_adjusted"]
    alone = evaluate(records["04_born_again"], claims_for("04_born_again")).set_index("key")
    assert alone.loc["ban1-vs-teacher", "p_adjusted"] < chapter.loc["ban1-vs-teacher", "p_adjusted"]
    # the chapter's own family is a reading beside the verdict, in a column of its own
    assert chapter.loc["ban1-vs-teacher", "chapter_alone"] == alone.loc["ban1-vs-teacher", "verdict"] == "holds"
    assert chapter.loc["ban1-vs-teacher", "verdict"] == book.loc["ban1-vs-teacher", "verdict"]
    shown = claims_module.results_table(chapter.reset_index()).loc[chapter.loc["ban1-vs-teacher", "claim"]]
    assert shown["verdict"] == book.loc["ban1-vs-teacher", "verdict"]
    assert shown[claims_module.CHAPTER_ALONE_LABEL] == "holds"
