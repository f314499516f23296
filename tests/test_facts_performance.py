"""bannb.facts.performance: what the Performance appendix reads off the benchmark's tables."""
import math

import pandas as pd

from bannb.bench import cpu as bench
from bannb.facts import performance

NAN = math.nan


def steps(*rows):
    columns = ["CPU", "case", "plain fp32 loop", "auto picks", "auto vs fastest (%)", "within tolerance",
               "% of its matmul peak", "% of memory bandwidth", "plain loop: % of fp32 peak"]
    return pd.DataFrame([dict(zip(columns, row)) for row in rows], columns=columns)


STEPS = steps(("A", "wrn-16-1 1×28×28", 10.0, "fp32", 2.0, True, 50.0, 10.0, 40.0),
              ("A", "densenet-bc-40-12 1×28×28", 30.0, "bf16", 8.0, False, 5.0, 60.0, 3.0),
              ("B", "wrn-28-1 1×28×28", 12.0, "fp32", NAN, None, 55.0, 12.0, 45.0),
              ("B", "wrn-16-2 1×28×28", 20.0, "fp32", NAN, None, 70.0, 8.0, 60.0),
              ("B", "densenet-bc-40-12 1×28×28", 35.0, "bf16", NAN, None, 6.0, 65.0, 4.0))


def test_machine_facts():
    assert performance.machine_facts(pd.DataFrame({"CPU": ["A", "B"]})) == {"perf_cpus": 2, "perf_cpu_names": "A; B"}
    assert performance.machine_facts(pd.DataFrame()) == {"perf_cpus": 0, "perf_cpu_names": performance.NO_MACHINES}


def test_step_facts_compare_where_every_candidate_was_timed():
    facts = performance.step_facts(STEPS)
    assert facts == {"perf_tolerance": 100 * bench.AUTO_TOLERANCE, "perf_compared": 2, "perf_within": 1,
                     "perf_auto_only": 3, "perf_max_gap": 8.0, "perf_max_gap_where": "densenet-bc-40-12 1×28×28 on A"}


def test_step_facts_where_only_auto_was_timed():
    facts = performance.step_facts(STEPS[STEPS["CPU"] == "B"])
    assert facts["perf_compared"] == 0 and facts["perf_within"] == 0 and facts["perf_auto_only"] == 3
    assert math.isnan(facts["perf_max_gap"]) and facts["perf_max_gap_where"] == "no CPU timed every candidate"
    assert performance.step_facts(pd.DataFrame())["perf_compared"] == 0


def test_limits_facts_prefer_the_last_cpu_with_a_bandwidth_and_wrn_16_2():
    facts = performance.limits_facts(STEPS)
    assert facts == {"perf_limits_cpu": "B", "perf_wrn_case": "wrn-16-2 1×28×28", "perf_wrn_peak": 70.0,
                     "perf_wrn_bandwidth": 8.0, "perf_dense_peak": 6.0, "perf_dense_bandwidth": 65.0}


def test_limits_facts_fall_back_to_another_wrn_and_the_last_cpu():
    on_a = STEPS[STEPS["CPU"] == "A"].copy()
    on_a["% of memory bandwidth"] = NAN  # no bandwidth measured: the last CPU all the same
    facts = performance.limits_facts(on_a)
    assert facts["perf_limits_cpu"] == "A" and facts["perf_wrn_case"] == "wrn-16-1 1×28×28"
    assert facts["perf_wrn_peak"] == 50.0 and math.isnan(facts["perf_wrn_bandwidth"])


def test_limits_facts_without_steps():
    facts = performance.limits_facts(pd.DataFrame())
    assert facts["perf_limits_cpu"] == "no CPU" and facts["perf_wrn_case"] == "not measured"
    assert all(math.isnan(facts[k]) for k in ("perf_wrn_peak", "perf_dense_peak", "perf_dense_bandwidth"))


def variants(rows):
    columns = ["CPU", "case", "dense block", "ms per step", "change (%)", "% of matmul peak", "% of memory bandwidth"]
    return pd.DataFrame([dict(zip(columns, row)) for row in rows], columns=columns)


CONCAT, BUFFER, COMPILED = bench.VARIANTS
DENSE = "densenet-bc-40-12 1×28×28"


def test_variant_facts_a_variant_faster_everywhere_is_kept():
    tried = variants([("A", DENSE, CONCAT, 100.0, 0.0, 4.0, 50.0), ("A", DENSE, BUFFER, 80.0, -20.0, 5.0, 60.0),
                      ("A", DENSE, COMPILED, 90.0, -10.0, 4.5, 55.0),
                      ("B", DENSE, CONCAT, 100.0, 0.0, 4.0, NAN), ("B", DENSE, BUFFER, 90.0, -10.0, 5.0, NAN),
                      ("B", DENSE, COMPILED, 99.0, -1.0, 4.1, NAN)])
    facts = performance.variant_facts(tried, STEPS, buffered_default=True)
    assert facts == {"perf_dense_cpu": "A", "perf_dense_plain_peak": 3.0, "perf_dense_before_peak": 4.0,
                     "perf_dense_before_bandwidth": 50.0, "perf_dense_best_peak": 5.0,
                     "perf_dense_best_bandwidth": 60.0, "perf_dense_best": BUFFER, "perf_dense_best_change": -20.0,
                     "perf_dense_kept": f"Yes: {BUFFER}", "perf_dense_default": "a preallocated buffer"}


def test_variant_facts_a_variant_not_tried_everywhere_is_not_kept():
    tried = variants([("A", DENSE, CONCAT, 100.0, 0.0, 4.0, NAN), ("A", DENSE, BUFFER, 80.0, -20.0, 5.0, NAN),
                      ("B", DENSE, CONCAT, 100.0, 0.0, 4.0, NAN), ("B", DENSE, BUFFER, NAN, NAN, NAN, NAN)])
    facts = performance.variant_facts(tried, STEPS, buffered_default=False)
    assert facts["perf_dense_cpu"] == "B"  # the last CPU that tried any: there only concatenating finished
    assert facts["perf_dense_best"] == CONCAT and facts["perf_dense_best_change"] == 0.0
    assert facts["perf_dense_kept"] == "No" and facts["perf_dense_default"] == "concatenation"


def test_variant_facts_without_variants():
    facts = performance.variant_facts(pd.DataFrame(), pd.DataFrame(), buffered_default=False)
    assert facts["perf_dense_cpu"] == "no CPU" and facts["perf_dense_best"] == "none tried"
    assert facts["perf_dense_kept"] == "No"
    assert all(math.isnan(facts[k]) for k in ("perf_dense_plain_peak", "perf_dense_before_peak",
                                              "perf_dense_best_bandwidth", "perf_dense_best_change"))


def accuracy_report(bf16_offset):
    runs = [dict(seed=s, precision=p, test_error=10.0 + s + (bf16_offset if p == "bf16" else 0.0))
            for s in range(3) for p in ("fp32", "bf16")]
    return {"accuracy": {"runs": runs}}


def test_accuracy_facts_one_phrase_per_cpu_with_an_accuracy_section():
    facts = performance.accuracy_facts({"A": accuracy_report(0.5), "B": {}})
    assert facts == {"perf_accuracy": "+0.50 points, 95% CI [+0.50, +0.50] (n = 3, paired) on A"}
    assert performance.accuracy_facts({"B": {}}) == {"perf_accuracy": "not measured yet"}


def test_cost_table_and_facts():
    cost = performance.cost_table({"01": 60.0, "03": {"seconds": 120.0, "train_seconds": 600.0,
                                                     "plan_runs_trained": 5, "machines": ["M2", "M1"]},
                                   "04": {"seconds": 60.0, "machines": ["M1"]}})
    assert cost["total (min)"].tolist() == [1.0, 12.0, 1.0]
    assert math.isnan(cost.loc[0, "training (min)"]) and cost.loc[1, "runs trained"] == 5
    assert performance.cost_facts(cost) == {"perf_book_minutes": 14.0, "perf_book_machines": "M1; M2"}


def test_cost_facts_before_any_timing():
    facts = performance.cost_facts(performance.cost_table({}))
    assert math.isnan(facts["perf_book_minutes"])
    assert facts["perf_book_machines"] == "no machine recorded yet (`make book` records them)"
