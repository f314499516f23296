"""Every claim of the paper that the book tests, defined once.

A claim says that model `b` has `expected` ("lower" or "higher") error than model `a`, where `a` and `b`
are labels in a chapter's tidy records (`report.run_records`: one row per run, a `model` column and the
run's base `seed`). The chapters evaluate the claims of their own chapter and the summary evaluates all of
them, from this one list, with the rule of `bannb.stats`.

`central` claims are the ones the experiment is sized for (5 seeds at the cpu profile; the CI half-width
target is 0.3 points); `ours` marks the controls the paper does not have (no paper numbers, same rule).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .paper import paper_table
from .stats import MARGIN, Difference, paired_difference, unpaired_difference


@dataclass(frozen=True)
class Claim:
    key: str
    chapter: str  # the notebook that tests it, e.g. "04_born_again"
    statement: str
    a: str  # the baseline's label in the records
    b: str  # the compared model's label
    expected: str = "lower"  # the paper's direction for b against a
    table: int | None = None  # the paper's table, None for our controls
    paper_columns: tuple[str, str] | None = None  # (a, b) columns of that table
    central: bool = False
    paired: bool = True  # False where the two sides are not the same seed chain
    ours: bool = False  # a control the paper lacks
    where: dict = field(default_factory=dict)  # a filter on other record columns (chapter 8's grids)

    def paper_difference(self) -> dict:
        """The paper's own b − a per printed row: mean, range, and in how many rows it goes the claim's way."""
        if self.table is None or self.paper_columns is None:
            return dict(paper_mean=np.nan, paper_rows="—")
        col_a, col_b = self.paper_columns
        table = paper_table(self.table)
        if col_a == "Teacher" and "Teacher" not in table.columns and "Teacher err" in table.columns:
            col_a = "Teacher err"
        if col_a not in table.index and col_a in table.columns and col_b in table.columns:
            rows = table[[col_a, col_b]].dropna()
            diffs = rows[col_b] - rows[col_a]
        else:  # Table 4 is printed transposed: one "Error" row, a column per student
            diffs = pd.Series([table.loc["Error", col_b] - table.loc["Error", col_a]])
        way = diffs < 0 if self.expected == "lower" else diffs > 0
        return dict(paper_mean=float(diffs.mean()), paper_rows=f"{int(way.sum())} of {len(diffs)} rows")


def _ban_claims() -> list[Claim]:
    """Tables 1-2 and chapters 4-7: one architecture, many objectives, generations, ensembles."""
    claims = [
        # Table 1 makes the same claim on CIFAR-10 (with more exceptions); at the cpu profile it is one comparison,
        # counted once, with Table 2's numbers beside it
        Claim("ban1-vs-teacher", "04_born_again", "A born-again student (BAN-1) has lower error than its teacher",
              "Teacher", "BAN-1", table=2, paper_columns=("Teacher", "BAN-1"), central=True),
        Claim("ban2-vs-ban1", "04_born_again", "BAN-2 has lower error than BAN-1, its teacher",
              "BAN-1", "BAN-2", table=2, paper_columns=("BAN-1", "BAN-2"), central=True),
        Claim("ban3-vs-ban2", "04_born_again", "BAN-3 has lower error than BAN-2, its teacher",
              "BAN-2", "BAN-3", table=2, paper_columns=("BAN-2", "BAN-3")),
        Claim("ban3-vs-teacher", "04_born_again", "BAN-3 has lower error than the original teacher",
              "Teacher", "BAN-3", table=2, paper_columns=("Teacher", "BAN-3")),
        Claim("ban1-vs-long-teacher", "04_born_again",
              "BAN-1 has lower error than a teacher trained as long as teacher and student together (ours)",
              "Teacher (2× epochs)", "BAN-1", ours=True),
        Claim("banl-vs-teacher", "05_cwtm", "BAN+L (labels and teacher) has lower error than the teacher",
              "Teacher", "BAN+L", table=2, paper_columns=("Teacher", "BAN+L"), central=True),
        Claim("banl-vs-ban", "05_cwtm", "BAN+L has higher error than BAN (the label term does not help)",
              "BAN-1", "BAN+L", expected="higher", table=2, paper_columns=("BAN", "BAN+L"), central=True),
        Claim("cwtm-vs-teacher", "05_cwtm", "A CWTM student has lower error than its teacher",
              "Teacher", "CWTM", table=2, paper_columns=("Teacher", "CWTM")),
        Claim("cwtm-vs-ban", "05_cwtm", "A CWTM student has higher error than a BAN student",
              "BAN-1", "CWTM", expected="higher", table=2, paper_columns=("BAN", "CWTM"), central=True),
        Claim("dkpp-vs-teacher", "06_dkpp", "A DKPP student has lower error than its teacher",
              "Teacher", "DKPP", table=2, paper_columns=("Teacher", "DKPP")),
        Claim("dkpp-vs-ban", "06_dkpp", "A DKPP student has higher error than a BAN student",
              "BAN-1", "DKPP", expected="higher", table=2, paper_columns=("BAN", "DKPP"), central=True),
        Claim("ens2-vs-ban2", "07_ensembles", "Ens*2 (BAN-1 and BAN-2 averaged) has lower error than BAN-2",
              "BAN-2", "Ens*2", table=2, paper_columns=("BAN-2", "Ens*2")),
        Claim("ens3-vs-ban3", "07_ensembles", "Ens*3 (BAN-1 to BAN-3 averaged) has lower error than BAN-3",
              "BAN-3", "Ens*3", table=2, paper_columns=("BAN-3", "Ens*3")),
        Claim("ens2-vs-teacher", "07_ensembles", "Ens*2 has lower error than the teacher",
              "Teacher", "Ens*2", table=2, paper_columns=("Teacher", "Ens*2")),
        Claim("ens2-vs-teachers2", "07_ensembles",
              "Ens*2 has lower error than an ensemble of 2 independently trained teachers (ours)",
              "Teachers×2", "Ens*2", paired=False, ours=True),
        Claim("ens3-vs-teachers3", "07_ensembles",
              "Ens*3 has lower error than an ensemble of 3 independently trained teachers (ours)",
              "Teachers×3", "Ens*3", paired=False, ours=True),
    ]
    return claims


def _transfer_claims() -> list[Claim]:
    """Tables 3-5 and chapter 8: students of another architecture than their teacher."""
    return [
        Claim("wrn-ban-vs-teacher", "08_densenet_resnet", "A Wide-ResNet's born-again student beats it",
              "WRN teacher", "WRN BAN", table=3, paper_columns=("Teacher err", "BAN")),
        Claim("densenet-student-vs-wrn-teacher", "08_densenet_resnet",
              "A DenseNet student of a Wide-ResNet teacher beats the teacher",
              "WRN teacher", "DenseNet student", table=3, paper_columns=("Teacher err", "DenseNet-90-60 student")),
        Claim("densenet-student-vs-baseline", "08_densenet_resnet",
              "A DenseNet taught by a Wide-ResNet beats the same DenseNet trained on the labels (ours)",
              "DenseNet baseline", "DenseNet student", ours=True),
        Claim("deeper-densenet-vs-teacher", "08_densenet_resnet",
              "A 2×Depth DenseNet student (same hidden-state size) beats its DenseNet teacher",
              "DenseNet baseline", "2×Depth", table=4, paper_columns=("Teacher", "2×Depth")),
        Claim("compressed-densenet-vs-teacher", "08_densenet_resnet",
              "A 0.5×Compression DenseNet student has higher error than its DenseNet teacher",
              "DenseNet baseline", "0.5×Compr", expected="higher", table=4, paper_columns=("Teacher", "0.5×Compr")),
        Claim("resnet-student-vs-baseline", "08_densenet_resnet",
              "A ResNet taught by a DenseNet beats the same ResNet trained on the labels",
              "ResNet baseline", "ResNet student", table=5, paper_columns=("Baseline", "BAN")),
    ]


CLAIMS: tuple[Claim, ...] = tuple(_ban_claims() + _transfer_claims())


def seed_differences(frame: pd.DataFrame, claims: list[Claim], value: str = "test_error") -> pd.DataFrame:
    """The per-seed differences b − a behind each paired claim's interval: one row per seed, one column per paired
    claim named "b − a" (NaN where a seed lacks one side). Unpaired claims have no per-seed difference and are
    left out."""
    columns = {}
    for claim in claims:
        if not claim.paired:
            continue
        a, b = _side(frame, claim, claim.a, value), _side(frame, claim, claim.b, value)
        columns[f"{claim.b} − {claim.a}"] = (b - a).dropna()
    table = pd.DataFrame(columns)
    table.index.name = "seed"
    return table


def results_table(evaluated: pd.DataFrame, digits: int = 2) -> pd.DataFrame:
    """`evaluate`'s table as a chapter shows it: the claim, the paper's b − a (mean over its rows, and in how many
    rows it goes the claim's way), ours with its 95% CI, n, the smallest effect the comparison could detect, and
    the verdict. Differences in points of test error."""
    def number(value):
        return "—" if pd.isna(value) else f"{value:+.{digits}f}"

    def ours(row):
        if row["n"] == 0:
            return "not run"
        interval = "" if pd.isna(row["ci_low"]) else f" [{row['ci_low']:+.{digits}f}, {row['ci_high']:+.{digits}f}]"
        return f"{row['mean']:+.{digits}f}{interval}"

    return pd.DataFrame({
        "claim": evaluated["claim"],
        "paper: b − a": [number(m) if r == "—" else f"{number(m)} ({r})"
                         for m, r in zip(evaluated["paper_mean"], evaluated["paper_rows"])],
        "ours: b − a [95% CI]": [ours(row) for _, row in evaluated.iterrows()],
        "n": evaluated["n"].astype(int),
        "detectable": [("—" if pd.isna(d) else f"{d:.{digits}f}") for d in evaluated["detectable"]],
        "verdict": evaluated["verdict"],
    }).set_index("claim")


def claims_for(chapter: str | None = None) -> list[Claim]:
    """The claims a chapter tests (all of them for None)."""
    chosen = [c for c in CLAIMS if chapter is None or c.chapter == chapter]
    if chapter is not None and not chosen:
        chapters = sorted({c.chapter for c in CLAIMS})
        raise ValueError(f"no claim belongs to chapter {chapter!r}; chapters with claims: {', '.join(chapters)}")
    return chosen


def _side(frame: pd.DataFrame, claim: Claim, model: str, value: str) -> pd.Series:
    rows = frame[frame["model"] == model]
    for column, wanted in claim.where.items():
        rows = rows[rows[column] == wanted]
    return rows.groupby("seed")[value].mean()


def difference(frame: pd.DataFrame, claim: Claim, value: str = "test_error") -> Difference | None:
    """b − a for `claim` on tidy records; None where either side has no rows."""
    a, b = _side(frame, claim, claim.a, value), _side(frame, claim, claim.b, value)
    if a.empty or b.empty:
        return None
    if claim.paired:
        return paired_difference(a.to_dict(), b.to_dict())
    return unpaired_difference(a.values, b.values)


def evaluate(frame: pd.DataFrame, claims: list[Claim], value: str = "test_error",
             margin: float = MARGIN) -> pd.DataFrame:
    """One row per claim: our paired mean difference b − a with its 95% CI, n, the smallest detectable effect,
    the verdict, and the paper's own difference. A claim whose models are not in `frame` is reported as
    not run (verdict "inconclusive"), so a table never silently drops a claim."""
    rows = []
    for claim in claims:
        diff = difference(frame, claim, value)
        row = dict(claim=claim.statement, key=claim.key, chapter=claim.chapter,
                   table=f"Table {claim.table}" if claim.table else "ours", a=claim.a, b=claim.b,
                   expected=claim.expected, central=claim.central, paired=claim.paired)
        if diff is None:
            row.update(n=0, mean=np.nan, ci_low=np.nan, ci_high=np.nan, half_width=np.nan, detectable=np.nan,
                       p_value=np.nan, verdict="inconclusive", note="not run")
        else:
            row.update(n=diff.n, mean=diff.mean, ci_low=diff.low, ci_high=diff.high, half_width=diff.half_width,
                       detectable=diff.detectable, p_value=diff.p_value, verdict=diff.verdict(claim.expected, margin),
                       note="")
        row.update(claim.paper_difference())
        rows.append(row)
    return pd.DataFrame(rows)
