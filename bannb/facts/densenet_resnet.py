"""What chapter 08_densenet_resnet (Tables 3-5: knowledge passed between DenseNets, Wide-ResNets and ResNets)
concludes, computed from the frames the chapter builds: one function per section of the chapter, each returning
the glue names and values that section's prose cites."""
from __future__ import annotations

import pandas as pd

from bannb.study import claims, convergence
from bannb.study.stats import expected_half_width

# The claim families of Tables 3-5, by key (a family has one row per network the grid trained it for), and the
# prefix of their glue names.
CLAIM_FAMILIES = {"densenet-student-vs-wrn-teacher": "t3", "densenet-student-vs-baseline": "t3_base",
                  "wrn-ban-vs-teacher": "t3_ban", "deeper-densenet-vs-teacher": "t4_deep",
                  "compressed-densenet-vs-teacher": "t4_compr", "resnet-student-vs-baseline": "t5"}
# The paper's tables that only some profiles train (the profile's `transfer`), and the claim families they test.
OPTIONAL_TABLES = {4: ["deeper-densenet-vs-teacher", "compressed-densenet-vs-teacher"],
                   5: ["resnet-student-vs-baseline"]}
# The verdict counts the chapter cites, by glue name.
VERDICT_NAMES = {"n_holds": "holds", "n_not": "does not hold", "n_none": "no effect of the paper's size",
                 "n_inconclusive": "inconclusive", "n_void": claims.VOID}
NOT_RUN = "not run"  # `claims.evaluate`'s note for a claim whose models have no records


def grid_facts(records: pd.DataFrame) -> dict:
    """How many models (labels), runs and seeds the chapter's grid has."""
    return {"n_models": int(records["label"].nunique()), "n_runs": len(records),
            "n_seeds": int(records["seed"].nunique())}


def parameter_facts(table4_counts: pd.DataFrame, table5_comparison: pd.DataFrame) -> dict:
    """Whether our builds of Table 4's students follow the paper's parameter counts. `table4_counts`: one row per
    network (labels ending in "Depth" or "Compr"), columns "paper (M)" and "ours (M)"; `table5_comparison`:
    `paper.parameter_comparison(5)` (its "ours / paper" column)."""
    depth = table4_counts[table4_counts.index.str.endswith("Depth")]
    compression = table4_counts[table4_counts.index.str.endswith("Compr")]
    falls_together = depth["ours (M)"].is_monotonic_decreasing and depth["paper (M)"].is_monotonic_decreasing
    paper_span = compression["paper (M)"].max() / compression["paper (M)"].min()
    our_span = compression["ours (M)"].max() / compression["ours (M)"].min()
    # a span more than twice ours cannot come from the transition widths, which are all a compression changes
    span_reading = ("so the paper's cannot come from changing the transition widths alone, and the paper does not "
                    "say how they were built" if paper_span > 2 * our_span else "in line with the paper's")
    return {"depth_trend": "fall with depth as Table 4's do" if falls_together else "do not follow Table 4's",
            "depth_gap": float((depth["ours (M)"] / depth["paper (M)"] - 1).abs().max()),
            "paper_span": float(paper_span), "our_span": float(our_span), "span_reading": span_reading,
            "res_gap": float((table5_comparison["ours / paper"] - 1).abs().max())}


def convergence_facts(fits: pd.DataFrame) -> dict:
    """Whether the chapter's teachers converged and its other runs ended flat. `fits`: one row per run
    (`convergence.fit_records`'s columns: model, seed, train_accuracy, flat, converged) and "teacher", true for a
    run another run of the grid learned from."""
    teacher_fits = fits[fits["teacher"]]
    short = teacher_fits[~teacher_fits["converged"]]
    students = fits[~fits["teacher"]]
    return {"min_train_accuracy": 100 * convergence.MIN_TRAIN_ACCURACY,
            "teachers_converged": int(teacher_fits["converged"].sum()), "teacher_runs": len(teacher_fits),
            "teachers_short": "every one does" if short.empty else "these do not: " + "; ".join(
                f"{model} seed {seed} ({accuracy:.2f}% clean training accuracy{'' if flat else ', still improving'})"
                for model, seed, accuracy, flat in short[["model", "seed", "train_accuracy", "flat"]].itertuples(
                    index=False)),
            "others_flat": int(students["flat"].sum()), "other_runs": len(students)}


def floor_facts(records: pd.DataFrame, floor: str = claims.FLOOR) -> dict:
    """How many models beat the linear classifier (`floor`, a model of `records`) on mean test error, and which
    do not."""
    floor_runs = records.loc[records["model"] == floor, "test_error"]
    floor_error = floor_runs.mean()
    model_means = records[records["model"] != floor].groupby("label", sort=False)["test_error"].mean()
    above = model_means[model_means >= floor_error]
    if floor_runs.empty:
        failures = "none was compared with it, as it was not run"
    else:
        failures = "none fails it" if above.empty else "these do not: " + ", ".join(above.index)
    return {"floor_error": float(floor_error), "n_beat_floor": int((model_means < floor_error).sum()),
            "n_compared": len(model_means), "floor_failures": failures}


def _here(rows: pd.DataFrame) -> str:
    """A claim family's difference and verdicts as measured here, or why it is not."""
    tested = rows[rows["note"] != NOT_RUN]
    if tested.empty:
        return "not measured here (this profile does not train it)"
    return f"{tested['mean'].mean():+.2f} here ({', '.join(dict.fromkeys(tested['verdict']))})"


def _status(number: int, trained: bool) -> str:
    if trained:
        return f"Our networks of Table {number} under the paper's rows:"
    return (f"This profile does not train Table {number}'s students (its note says why): the table below has only "
            "what other tables trained under the paper's rows, and the claim is not tested here.")


def verdict_facts(table: pd.DataFrame) -> dict:
    """The verdict counts of `claims.evaluate`'s table for the chapter, and per claim family of Tables 3-5 (a
    family's rows are keys "key" or "key[network]"): our mean difference over its rows (`_ours`), its verdicts,
    the paper's mean (`_paper`), what was measured here (`_here`), and per optional table whether it was
    trained (`t4_status`, `t5_status`)."""
    facts = {name: int((table["verdict"] == verdict).sum()) for name, verdict in VERDICT_NAMES.items()}
    facts["n_claims"] = len(table)
    family = table["key"].str.split("[", regex=False).str[0]
    for key, name in CLAIM_FAMILIES.items():
        rows = table[family == key]
        facts.update({f"{name}_ours": float(rows["mean"].mean()),
                      f"{name}_verdict": ", ".join(dict.fromkeys(rows["verdict"])),
                      f"{name}_paper": float(rows["paper_mean"].mean()), f"{name}_here": _here(rows)})
    for number, keys in OPTIONAL_TABLES.items():
        facts[f"t{number}_status"] = _status(number, bool((table[family.isin(keys)]["note"] != NOT_RUN).any()))
    return facts


def try_facts(seeds_now: int, timing, seeds_then: int = 5) -> dict:
    """The "try it yourself" box: training every model on `seeds_then` seeds instead of the committed book's
    `seeds_now`. The narrowing of an interval at the same spread is the ratio of the two half-widths (Student's t
    over more pairs); the cost scales the committed book's training time for the chapter (`timing`: its entry
    of `timings.read_timings()`, None where there is none) by the new seeds over the old."""
    facts = {"try_seeds_now": seeds_now,
             "try_narrowing": expected_half_width(1.0, seeds_now) / expected_half_width(1.0, seeds_then)}
    if isinstance(timing, dict) and timing.get("train_seconds"):
        minutes = timing["train_seconds"] * (seeds_then - seeds_now) / seeds_now / 60
        machines = "; ".join(timing.get("machines", [])) or "not recorded"
        facts["try_cost"] = (f"about {minutes:.0f} minutes of training on the machine that timed the committed book "
                             f"({machines})")
    else:
        facts["try_cost"] = "its cost is not measured yet (the committed book has no timing for this chapter)"
    return facts
