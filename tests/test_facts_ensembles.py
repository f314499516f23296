"""bannb.facts.ensembles: chapter 7's ensemble sizes, diversity and "more secondary seeds" box."""
import math

import pandas as pd
import pytest

from bannb.facts import ensembles
from bannb.study.stats import expected_half_width, paired_difference

SINGLE = 1000


def records():
    rows = []
    for model, members in zip(ensembles.ORDER, [1, 1, 1, 1, 2, 3, 2, 3]):
        for seed, error in ((0, 10.0), (1, 12.0)):
            rows.append(dict(model=model, seed=seed, test_error=error, params=members * SINGLE,
                             members=math.nan if members == 1 else members))
    return pd.DataFrame(rows)


def test_pool_facts():
    assert ensembles.pool_facts([0, 1, 2], [0, 1], pool_seeds=[3, 4, 5, 6, 7, 8, 9], pairs=3, triples=2) == {
        "central_count": 3, "secondary_count": 2, "pool_count": 7, "pool_first_seed": 3, "pool_last_seed": 9,
        "pair_count": 3, "triple_count": 2}


def test_size_table_and_facts():
    sizes = ensembles.size_table(records())
    assert list(sizes.index) == ensembles.ORDER
    assert list(sizes.columns) == ["members", "parameters (total)", "mean ± std", "n"]
    assert sizes.loc["Teacher", "members"] == 1 and sizes.loc["Ens*3", "members"] == 3
    assert ensembles.size_facts(sizes) == {"single_params": 1000, "ens3_params": 3000, "teachers3_params": 3000}


def diversity(*pairs):
    rows = {ensembles.BORN_AGAIN_PAIR: [(4.0, 0.5), (6.0, 0.7)], ensembles.TEACHER_STUDENT_PAIR: [(3.0, 0.2)],
            ensembles.INDEPENDENT_PAIR: [(10.0, 1.5), (12.0, 1.7), (14.0, 1.9)]}
    return pd.DataFrame([dict(pair=pair, disagreement=d, gain=g) for pair in pairs for d, g in rows[pair]])


def test_diversity_facts_per_kind_of_pair():
    facts = ensembles.diversity_facts(diversity(ensembles.BORN_AGAIN_PAIR, ensembles.TEACHER_STUDENT_PAIR,
                                                ensembles.INDEPENDENT_PAIR))
    assert facts == pytest.approx({"disagree_born_again": 5.0, "disagree_teacher_student": 3.0,
                                   "disagree_independent": 12.0, "gain_born_again": 0.6, "gain_independent": 1.7})


def test_diversity_facts_of_a_kind_without_pairs_are_missing():
    facts = ensembles.diversity_facts(diversity(ensembles.BORN_AGAIN_PAIR, ensembles.TEACHER_STUDENT_PAIR))
    assert math.isnan(facts["disagree_independent"]) and math.isnan(facts["gain_independent"])
    assert facts["disagree_born_again"] == 5.0


def test_diversity_table_counts_the_ensembles():
    shown = ensembles.diversity_table(diversity(ensembles.BORN_AGAIN_PAIR, ensembles.INDEPENDENT_PAIR))
    assert shown["ensembles"].tolist() == [2, 3]
    assert shown.columns[1] == "members disagree on (% of test images)"


def test_more_secondary_seeds_adds_the_central_ones_else_doubles():
    assert ensembles.more_secondary_seeds([0, 1, 2, 3], [0, 1]) == [0, 1, 2, 3]
    assert ensembles.more_secondary_seeds([0, 1], [0, 1, 5]) == [0, 1, 2, 3, 4, 5]


def test_more_secondary_facts_count_the_chains_a_new_seed_needs(tmp_path):
    ens3 = paired_difference({0: 10.0, 1: 11.0}, {0: 9.5, 1: 10.0})
    facts = ensembles.more_secondary_facts(ens3, [0, 1, 2], [0, 4], root=tmp_path)
    # proposed [0, 1, 2, 4]: 1 and 2 are central (a BAN-3 each)
    assert facts["more_secondary_count"] == 4 and facts["new_runs"] == 2
    assert facts["ens3_half_width"] == pytest.approx(ens3.half_width)
    assert facts["ens3_projected"] == pytest.approx(expected_half_width(ens3.sd, 4))
    assert facts["more_secondary_command"].data == \
        '```bash\npapermill book/07_ensembles.ipynb out.ipynb -y "secondary_seeds: [0, 1, 2, 4]"\n```'
    assert facts["new_runs_cost"].startswith("a cost not measured yet")
    doubled = ensembles.more_secondary_facts(ens3, [0, 1], [0, 1], root=tmp_path)
    assert doubled["new_runs"] == 2 * ensembles.RUNS_PER_OTHER_SEED  # seeds 2 and 3 need whole chains


def test_more_secondary_facts_without_ens3_are_missing(tmp_path):
    facts = ensembles.more_secondary_facts(None, [0], [0], root=tmp_path)
    assert math.isnan(facts["ens3_half_width"]) and math.isnan(facts["ens3_projected"])
