"""The facts of appendix_performance: which CPUs were measured, how close `auto` comes to the fastest precision,
how far the steps are from the machine's limits, which dense-block variant wins, what bf16 costs in accuracy and
what the book costs. The tables are those of `bannb.bench` (`machines_table`, `steps_table`, `variants_table`)."""
from __future__ import annotations

import math
from typing import Mapping

import pandas as pd

from bannb.bench import cpu as bench
from bannb.book.timings import chapter_seconds

NO_MACHINES = "none yet (run `make bench`)"
LIMIT_COLUMNS = ["CPU", "case", "auto picks", "% of its matmul peak", "% of memory bandwidth",
                 "plain loop: % of fp32 peak"]
SHARE_COLUMNS = ["% of its matmul peak", "% of memory bandwidth", "plain loop: % of fp32 peak"]
DENSE_CASE = "densenet-bc-40-12"


def machine_facts(machines: pd.DataFrame) -> dict:
    """How many CPU types were measured, and their names ("none yet …" before any)."""
    return {"perf_cpus": len(machines), "perf_cpu_names": "; ".join(machines["CPU"]) if len(machines) else NO_MACHINES}


def step_facts(steps: pd.DataFrame, tolerance: float = bench.AUTO_TOLERANCE) -> dict:
    """`auto` against the fastest candidate: the tolerance (%), the (CPU, network) pairs where every candidate was
    timed, in how many `auto` is within the tolerance, its largest gap (%) and where, and the pairs where only
    `auto`'s choice was timed."""
    compared = steps[steps["within tolerance"].notna()] if len(steps) else steps
    worst = compared.loc[compared["auto vs fastest (%)"].idxmax()] if len(compared) else None
    return {"perf_tolerance": 100 * tolerance, "perf_compared": len(compared),
            "perf_within": int(compared["within tolerance"].astype(bool).sum()) if len(compared) else 0,
            "perf_auto_only": len(steps) - len(compared),
            "perf_max_gap": float(worst["auto vs fastest (%)"]) if worst is not None else math.nan,
            "perf_max_gap_where": f"{worst['case']} on {worst['CPU']}" if worst is not None
            else "no CPU timed every candidate"}


def steps_view(steps: pd.DataFrame) -> pd.DataFrame:
    """The step table as the appendix shows it: without the shares of the limits (their own table)."""
    return steps.drop(columns=SHARE_COLUMNS).set_index(["CPU", "case"])


def limits_view(steps: pd.DataFrame) -> pd.DataFrame:
    """`auto`'s choice per CPU and network with its shares of the matmul peak and of the memory bandwidth."""
    return steps[LIMIT_COLUMNS]


def _first_case(cases, *prefixes: str) -> str | None:
    """The first case that starts with the first prefix any case starts with."""
    for prefix in prefixes:
        found = next((case for case in cases if case.startswith(prefix)), None)
        if found:
            return found
    return None


def limits_facts(steps: pd.DataFrame) -> dict:
    """On the last CPU whose bandwidth was measured (else the last CPU, else "no CPU"): the Wide-ResNet case drawn
    (WRN-16-2 if measured, else the first Wide-ResNet) and DenseNet-BC-40-12's shares (%) of the peak and of the
    bandwidth; NaN for a case not measured."""
    limits = limits_view(steps) if len(steps) else pd.DataFrame(columns=LIMIT_COLUMNS)
    measured = limits.dropna(subset=["% of memory bandwidth"])
    limits_cpu = measured["CPU"].iloc[-1] if len(measured) else (limits["CPU"].iloc[-1] if len(limits) else "no CPU")
    on_cpu = limits[limits["CPU"] == limits_cpu].set_index("case")
    cases = {"wrn": _first_case(on_cpu.index, "wrn-16-2", "wrn"), "dense": _first_case(on_cpu.index, DENSE_CASE)}
    facts = {"perf_limits_cpu": limits_cpu, "perf_wrn_case": cases["wrn"] or "not measured"}
    for name, case in cases.items():
        facts[f"perf_{name}_peak"] = float(on_cpu.loc[case, "% of its matmul peak"]) if case else math.nan
        facts[f"perf_{name}_bandwidth"] = float(on_cpu.loc[case, "% of memory bandwidth"]) if case else math.nan
    return facts


def faster_variants(tried: pd.DataFrame, tolerance: float = bench.AUTO_TOLERANCE) -> list[str]:
    """The dense-block variants faster than concatenating by more than `tolerance`, on every CPU measured (a CPU
    where a variant was not tried counts against it)."""
    if not len(tried):
        return []
    changes = tried.pivot_table(index="dense block", columns="CPU", values="change (%)")  # NaN: not tried there
    return [v for v in changes.index if v != bench.VARIANTS[0]
            and (changes.loc[v].reindex(tried["CPU"].unique()) < -100 * tolerance).all()]


def variant_facts(variants: pd.DataFrame, steps: pd.DataFrame, buffered_default: bool,
                  tolerance: float = bench.AUTO_TOLERANCE) -> dict:
    """The dense-block variants on the last CPU that tried them (its bandwidth measured, if any was): the plain
    loop's share of the fp32 peak there, concatenating's and the fastest variant's shares, the fastest variant
    and its change (%) in time per step, whether any variant is faster on every CPU ("Yes: …" or "No"), and
    what bannb's dense blocks use by default."""
    tried = variants.dropna(subset=["ms per step"]) if len(variants) else pd.DataFrame(
        columns=["CPU", "dense block", "ms per step", "change (%)", "% of matmul peak", "% of memory bandwidth"])
    with_bandwidth = tried.dropna(subset=["% of memory bandwidth"])
    dense_cpu = (with_bandwidth if len(with_bandwidth) else tried)["CPU"].iloc[-1] if len(tried) else None
    plain = steps[(steps["CPU"] == dense_cpu) & steps["case"].str.startswith(DENSE_CASE)] if len(steps) else steps
    on_cpu = tried[tried["CPU"] == dense_cpu].set_index("dense block")
    best = on_cpu["ms per step"].idxmin() if len(on_cpu) else "none tried"
    facts = {"perf_dense_cpu": dense_cpu or "no CPU",
             "perf_dense_plain_peak": float(plain["plain loop: % of fp32 peak"].iloc[0]) if len(plain) else math.nan}
    for name, variant in (("before", bench.VARIANTS[0]), ("best", best)):
        found = variant in on_cpu.index
        facts[f"perf_dense_{name}_peak"] = float(on_cpu.loc[variant, "% of matmul peak"]) if found else math.nan
        facts[f"perf_dense_{name}_bandwidth"] = float(on_cpu.loc[variant, "% of memory bandwidth"]) if found \
            else math.nan
    faster = faster_variants(tried, tolerance)
    facts.update({"perf_dense_best": best,
                  "perf_dense_best_change": float(on_cpu.loc[best, "change (%)"]) if best in on_cpu.index else math.nan,
                  "perf_dense_kept": f"Yes: {', '.join(faster)}" if faster else "No",
                  "perf_dense_default": "a preallocated buffer" if buffered_default else "concatenation"})
    return facts


def accuracy_facts(reports: Mapping[str, dict]) -> dict:
    """bf16 − fp32 in test error with its paired interval, per CPU whose report has an accuracy section."""
    phrases = []
    for name, report in reports.items():
        difference = bench.accuracy_difference(report)
        if difference is not None:
            phrases.append(f"{difference} on {name}")
    return {"perf_accuracy": "; ".join(phrases) or "not measured yet"}


COST_COLUMNS = ["chapter", "training (min)", "notebook (min)", "total (min)", "runs trained", "machines"]


def cost_table(timings: Mapping[str, object]) -> pd.DataFrame:
    """The book's timings file (`timings.read_timings`) per chapter, in minutes: training, notebook, total; the runs
    trained and the machines. An entry written before training was timed is its notebook's seconds alone."""
    return pd.DataFrame([{
        "chapter": name,
        "training (min)": entry.get("train_seconds", math.nan) / 60 if isinstance(entry, dict) else math.nan,
        "notebook (min)": entry.get("seconds", math.nan) / 60 if isinstance(entry, dict) else entry / 60,
        "total (min)": chapter_seconds(entry) / 60,
        "runs trained": entry.get("plan_runs_trained") if isinstance(entry, dict) else None,
        "machines": "; ".join(entry.get("machines", [])) if isinstance(entry, dict) else "",
    } for name, entry in timings.items()], columns=COST_COLUMNS)


def cost_facts(cost: pd.DataFrame) -> dict:
    """The whole book's minutes (NaN before any timing) and the machines that trained it."""
    return {"perf_book_minutes": float(cost["total (min)"].sum()) if len(cost) else math.nan,
            "perf_book_machines": "; ".join(sorted({m for text in cost["machines"] for m in text.split("; ") if m}))
            or "no machine recorded yet (`make book` records them)"}
