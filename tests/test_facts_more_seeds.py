"""bannb.facts.more_seeds: the "Try it yourself" box of chapters 5 and 6."""
import json
import math

import pandas as pd
import pytest

from bannb.facts import more_seeds
from bannb.study.stats import expected_half_width, paired_difference


def records(seeds, runs_per_seed):
    return pd.DataFrame([{"seed": s, "run_id": f"{s}-{r}"} for s in seeds for r in range(runs_per_seed)])


def write_timings(root, chapter, train_seconds, runs, machines):
    folder = root / "book" / "results"
    folder.mkdir(parents=True)
    (folder / "book-timings-cpu.json").write_text(json.dumps(
        {chapter: {"train_seconds": train_seconds, "plan_runs_trained": runs, "machines": machines}}))


NARROW = paired_difference({0: 1.0, 1: 2.0, 2: 3.0}, {0: 1.1, 1: 2.1, 2: 3.3})
WIDE = paired_difference({0: 1.0, 1: 2.0, 2: 3.0}, {0: 0.0, 1: 3.0, 2: 2.0})
SINGLE = paired_difference({0: 1.0}, {0: 2.0})  # one pair: no interval


def test_widest_skips_missing_and_single_pairs():
    assert more_seeds.widest([None, NARROW, SINGLE, WIDE]) is WIDE
    assert more_seeds.widest([None, SINGLE]) is None


def test_facts_price_twice_the_seeds(tmp_path):
    write_timings(tmp_path, "05_cwtm", train_seconds=600.0, runs=5, machines=["M (avx2), 2 cores"])
    facts = more_seeds.facts(records([0, 1, 2], 5), [NARROW, WIDE, None], [0, 1, 2], "05_cwtm", root=tmp_path)
    assert facts["widest_half_width"] == pytest.approx(WIDE.half_width)
    assert facts["seed_count"] == 3
    assert facts["projected_half_width"] == pytest.approx(expected_half_width(WIDE.sd, 6))
    assert facts["more_seeds_command"].data == \
        '```bash\npapermill book/05_cwtm.ipynb out.ipynb -y "seeds: [0, 1, 2, 3, 4, 5]"\n```'
    assert facts["runs_per_seed"] == 5 and facts["new_runs"] == 15
    assert facts["new_runs_cost"] == "about 30 minutes on M (avx2), 2 cores (2.0 minutes per run, as the cpu book " \
                                     "trained them)"


def test_facts_without_an_interval_or_timings(tmp_path):
    facts = more_seeds.facts(records([0], 4), [SINGLE], [0], "06_dkpp", root=tmp_path)
    assert math.isnan(facts["widest_half_width"]) and math.isnan(facts["projected_half_width"])
    assert facts["new_runs"] == 4  # seeds [0, 1]: seed 1 is new
    assert facts["new_runs_cost"] == "a cost not measured yet (the cpu book's timings have no training time for " \
                                     "06_dkpp)"
