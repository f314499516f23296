"""What chapter 09_language_models concludes (bannb.facts.language_models), on small synthetic frames."""
from types import SimpleNamespace

import pandas as pd
import pytest

from bannb.facts import language_models as ch09

TABLE6 = pd.DataFrame({"Params (M)": [52.0, 19.0], "Teacher val": [80.0, 75.0], "BAN+L val": [77.0, 73.0],
                       "Teacher test": [80.0, 50.0], "BAN+L test": [76.0, 49.0]}, index=["LSTM", "CNN-LSTM"])


def test_the_paper_gain_ranges_over_table_6():
    facts = ch09.paper_facts(TABLE6, SimpleNamespace(arch="lstm-1x1500", dropout=0.65, epochs=40))
    assert facts == {"paper_units": 1500, "paper_dropout": 0.65, "paper_epochs": 40, "paper_gain_min": 1.0,
                     "paper_gain_max": 4.0, "paper_rel_min": pytest.approx(2.0), "paper_rel_max": pytest.approx(5.0)}


DESCRIPTION = {"words": 1234, "splits": {
    "train": {"documents": 90, "tokens": 9000, "unk_rate": 0.05},
    "valid": {"documents": 5, "tokens": 500, "unk_rate": 0.1},
    "test": {"documents": 5, "tokens": 600, "unk_rate": 0.125}}}


def test_the_corpus_splits_beside_penn_treebank():
    splits = ch09.corpus_splits(DESCRIPTION)
    assert list(splits.index) == ["train", "valid", "test"]
    assert list(splits.columns) == ["documents", "tokens", "<unk> (%)", "Penn Treebank tokens"]
    assert splits.loc["test", "<unk> (%)"] == 12.5 and splits.loc["train", "Penn Treebank tokens"] == 929589


def test_the_corpus_against_penn_treebank():
    facts = ch09.corpus_facts(DESCRIPTION, 300, 4000)
    assert facts == {"corpus_words": 1234, "corpus_documents": 100, "corpus_vocab": 300, "corpus_train_tokens": 9000,
                     "ptb_train_tokens": 929589, "ptb_vocab": 10000, "size_ratio": 9000 / 929589,
                     "read_tokens": 4000, "test_unk": 12.5}


@pytest.mark.parametrize("cap", [None, 0, 20000])
def test_without_a_cap_below_the_split_every_training_token_is_read(cap):
    assert ch09.corpus_facts(DESCRIPTION, 300, cap)["read_tokens"] == 9000


def test_sizes():
    facts = ch09.size_facts(0.5, 33.0, TABLE6, 0.25)
    assert facts == {"ours_millions": 0.5, "paper_arch_millions": 33.0, "paper_lstm_millions": 52.0,
                     "paper_cnn_millions": 19.0, "lr_factor": 4.0, "size_factor": 104.0}


def test_the_cpu_plan_is_priced_from_the_profile_epoch_costs():
    from bannb.study.experiments import lm_chain_configs
    facts = ch09.plan_facts(lm_chain_configs("smoke", 0, epochs=2))
    # two workers: the teacher first (2 epochs of 29 s), then its two students side by side (2 epochs of 47 s)
    assert facts == {"cpu_runs": 3, "expected_minutes": pytest.approx((2 * 29 + 2 * 47) / 60), "teacher_epoch": 29.0,
                     "student_epoch": 47.0, "budget_minutes": 45, "label_weight": 0.5}


def perplexities(rows):
    return pd.DataFrame(rows, columns=["model", "seed", "valid_ppl", "test_ppl"])


RECORDS = perplexities([("Teacher", 0, 110.0, 100.0), ("BAN", 0, 121.0, 110.0), ("BAN+L", 0, 104.0, 95.0),
                        ("Teacher", 1, 210.0, 200.0), ("BAN", 1, 230.0, 220.0), ("BAN+L", 1, 200.0, 190.0)])


def test_perplexities_and_each_student_against_its_own_teacher():
    facts = ch09.perplexity_facts(RECORDS)
    assert facts["teacher_test"] == 150.0 and facts["ban_test"] == 165.0 and facts["banl_test"] == 142.5
    # the mean of per-seed changes (+10%, +10%; -5%, -5%), not the change of the means
    assert facts["ban_relative"] == pytest.approx(10.0) and facts["banl_relative"] == pytest.approx(-5.0)


def test_ours_beside_the_paper_leaves_its_missing_ban_column_missing():
    beside = ch09.beside_paper(RECORDS, TABLE6, "ours")
    assert list(beside.index) == ["ours", "paper: LSTM, PTB", "paper: CNN-LSTM, PTB"]
    assert list(beside.columns) == ["Teacher val", "BAN val", "BAN+L val", "Teacher test", "BAN test", "BAN+L test",
                                    "BAN+L test vs teacher (%)", "BAN test vs teacher (%)"]
    assert beside.loc["ours", "BAN val"] == 175.5
    assert beside.loc["paper: LSTM, PTB", "BAN+L test vs teacher (%)"] == pytest.approx(-5)
    assert beside.loc["paper: LSTM, PTB", ["BAN val", "BAN test", "BAN test vs teacher (%)"]].isna().all()


def verdicts(banl, ban):
    rows = [dict(key=key, verdict=verdict, mean=1.5, ci_low=0.5, ci_high=2.5, n=3, detectable=2.0)
            for key, verdict in (("lm-banl-vs-teacher", banl), ("lm-ban-vs-teacher", ban))]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("verdict, banl, ban", [
    ("holds", "agrees with the paper", "agrees with the paper"),
    ("does not hold", "contradicts the paper", "contradicts the paper"),
    ("no effect of the paper's size", "finds no gain of the size the paper reports", "agrees with the paper"),
    ("inconclusive", "cannot tell the paper's gain from noise", "cannot tell either way")])
def test_what_each_verdict_says_about_the_paper(verdict, banl, ban):
    facts = ch09.verdict_facts(verdicts(verdict, verdict))
    assert (facts["banl_verdict"], facts["banl_agreement"]) == (verdict, banl)
    assert (facts["ban_verdict"], facts["ban_agreement"]) == (verdict, ban)


def test_a_claim_out_of_the_tally_says_so_with_the_rules_verdict_on_it_alone():
    from bannb.study.claims import OUT_OF_TALLY
    facts = ch09.verdict_facts(verdicts(OUT_OF_TALLY, "not run").assign(rule_verdict=["holds", "not run"]))
    assert facts["banl_verdict"] == OUT_OF_TALLY
    assert facts["banl_agreement"] == ("cannot decide it while its teachers are still improving (the book keeps it out "
                                       "of its tally); judged alone the rule says “holds”, which agrees with the paper")
    assert (facts["ban_verdict"], facts["ban_agreement"]) == ("not run", "has no runs to judge it on")


def test_each_claim_numbers_and_the_margin():
    facts = ch09.verdict_facts(verdicts("holds", "inconclusive"))
    assert {name: facts[f"ban_{name}"] for name in ("mean", "ci_low", "ci_high", "n", "detectable")} == \
        {"mean": 1.5, "ci_low": 0.5, "ci_high": 2.5, "n": 3, "detectable": 2.0}
    assert facts["ppl_margin"] == 3.0


def fits(flat):
    rows = [dict(model="Teacher", flat=f, last_fifth_change=change, allowed_drop=allowed, train_ppl=train,
                 valid_ppl=valid) for f, change, allowed, train, valid in zip(flat, [-1.0, -5.0], [1.0, 3.0],
                                                                             [40.0, 60.0], [90.0, 110.0])]
    return pd.DataFrame(rows + [dict(model="BAN", flat=False, last_fifth_change=-50.0, allowed_drop=1.0,
                                     train_ppl=1.0, valid_ppl=1.0)])


def test_finished_teachers():
    facts = ch09.teacher_fit_facts(fits([True, True]))
    assert facts["teachers_flat"] == 2 and facts["teachers"] == 2
    assert facts["teachers_reading"] == "So the verdicts above compare students with finished teachers."
    assert facts["teacher_steepest"] == -5.0 and facts["teacher_allowed"] == 2.0
    assert facts["teacher_train_ppl"] == 50.0 and facts["teacher_valid_ppl"] == 100.0
    assert facts["teacher_word_probability"] == 2.0 and facts["min_train_accuracy"] == 98.0


def test_teachers_still_improving():
    facts = ch09.teacher_fit_facts(fits([True, False]))
    assert facts["teachers_flat"] == 1
    assert facts["teachers_reading"].startswith("So the verdicts above compare students with teachers that were "
                                                "still improving when training stopped")


def test_the_chapter_cost_from_the_committed_timings():
    assert ch09.chapter_cost({"seconds": 120.0, "train_seconds": 1500.0, "machines": ["A", "B"]}) == \
        "27 minutes on A, B"
    assert ch09.chapter_cost({"seconds": 600.0}) == "10 minutes on this machine"
    assert ch09.chapter_cost(None) == "not measured yet (make book records it)"


METRICS = pd.DataFrame({"model": ["Teacher", "Teacher", "BAN", "BAN+L"], "seconds": [10.0, 20.0, 30.0, 30.0]})


def test_more_seeds_and_longer_training_at_this_chapter_epoch_times():
    facts = ch09.try_facts("smoke", [0, 1, 2], 2, METRICS, None, epochs=2)
    # seeds 3 and 4 on two workers: their teachers side by side (2 epochs of 15 s), then four students two at a
    # time (2 epochs of 30 s each)
    assert facts["more_seeds_minutes"] == pytest.approx((30 + 2 * 60) / 60)
    assert facts["longer_epochs"] == 4
    # seed 0 alone, twice as long: its teacher (4 × 15 s), then its two students side by side (4 × 30 s)
    assert ch09.try_facts("smoke", [0], 2, METRICS, None)["longer_minutes"] == pytest.approx((60 + 120) / 60)
    assert facts["chapter_cost"] == "not measured yet (make book records it)"


def test_no_new_seed_costs_nothing():
    assert ch09.try_facts("smoke", [0, 1, 2, 3, 4], 2, METRICS, None)["more_seeds_minutes"] == 0.0
