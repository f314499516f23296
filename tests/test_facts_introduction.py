"""bannb.facts.introduction: what chapter 1 counts and says about the book's cost."""
from types import SimpleNamespace

from bannb.facts import introduction


def claim(ours=False, central=False):
    return SimpleNamespace(ours=ours, central=central)


def test_claim_counts_count_ours_and_central_separately():
    claims = [claim(), claim(ours=True), claim(central=True), claim(ours=True, central=True)]
    assert introduction.claim_counts(claims) == {"n_claims": 4, "n_ours": 2, "n_central": 2}


def test_book_cost_names_the_machines_in_order():
    assert introduction.book_cost(9000, ["A (avx2), 2 cores", "B (avx512), 2 cores"]) == \
        "2.5 h on A (avx2), 2 cores, then B (avx512), 2 cores"


def test_book_cost_without_machines_is_the_time_alone():
    assert introduction.book_cost(600, []) == "10 min"


def test_book_cost_not_measured():
    assert introduction.book_cost(None, []) == "not measured yet"


def test_facts_are_the_chapters_glue_names():
    config = SimpleNamespace(arch="wrn-16-1", train_size=3000, epochs=20)
    facts = introduction.facts([claim(central=True), claim()], "cpu", config, [0, 1, 2], "smoke", 0.2, 40, ["M"])
    assert facts == {"n_claims": 2, "n_ours": 0, "n_central": 1, "committed_profile": "cpu",
                     "committed_arch": "wrn-16-1", "committed_train_size": 3000, "committed_epochs": 20,
                     "central_seeds": 3, "profile_name": "smoke", "margin": 0.2, "book_cost": "40 s on M"}
