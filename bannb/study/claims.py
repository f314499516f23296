"""Every claim of the paper that the book tests, defined once.

A claim says that model `b` has `expected` ("lower" or "higher") error than model `a`, where `a` and `b`
are labels in a chapter's tidy records (`report.run_records`: one row per run, a `model` column and the
run's base `seed`). The chapters evaluate the claims of their own chapter and the summary evaluates all of
them, from this one list, with the rule of `bannb.study.stats`.

A claim compares its own value column (`value`: test error in points for the image claims, test perplexity
for Table 6's language models) with its own margin (`margin`, in the value's `unit`; `stats.MARGIN` for
test error), both fixed in advance from the paper's effect sizes.

`central` claims are the ones the experiment is sized for (the profile's central seeds; the CI half-width
target is 0.3 points); `ours` marks the controls the paper does not have (no paper numbers, same rule).

Two rules come on top of the verdict rule, both applied by `evaluate`:

- **one row per network of a grid**: where a claim's models were trained for several networks of a grid column
  (`GRID_COLUMNS`: chapter 8's Wide-ResNet teachers `wrn`, its residual students `res`), the claim is tested once
  per network (`split_claims`), beside that network's row of the paper's table;
- **the floor** (`FLOOR_RULE`): a model whose mean test error is not below the floor's (chapter 8's linear
  classifier on the pixels, `FLOOR`) voids every claim it is part of.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Mapping

import numpy as np
import pandas as pd

from bannb.study.paper import PAPER_ARCHS, paper_table
from bannb.study.stats import MARGIN, VERDICTS, Difference, family_verdicts, paired_difference, unpaired_difference

# The margin for perplexity, in perplexity points. Table 6's BAN+L gains are 3.08 and 3.31 points of test
# perplexity (CNN-LSTM, LSTM) and 3.42 and 3.92 of validation perplexity, 4-5% of the teachers'; 3.0 is the
# bottom of that range, in the paper's own units. Our perplexities are higher than PTB's (a smaller model on
# another corpus), so the same relative gain would be larger in points here: a 3-point margin makes "no effect
# of the paper's size" harder to reach, not easier. (stats.MARGIN, 0.3 points of error, means nothing for
# perplexity: it would call a 0.3-point change on a perplexity near 100 an effect of the paper's size.)
PERPLEXITY_MARGIN = 3.0


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
    paper_row: str | None = None  # the one row of the paper's table this claim stands for (None: every row)

    @property
    def source(self) -> str:
        """Where the claim comes from: "Table 2", or "ours" for a control the paper lacks."""
        return f"Table {self.table}" if self.table else "ours"
    value: str = "test_error"  # the records' column compared (lower is better)
    unit: str = "points of error"  # of `value`, in tables and sentences
    margin: float = MARGIN  # "of the paper's size" (the verdict rule's m), in `unit`
    paper_note: str | None = None  # what the paper says where it prints no numbers for the claim

    def paper_difference(self) -> dict:
        """The paper's own b − a per printed row: mean, range, and in how many rows it goes the claim's way."""
        if self.table is None or self.paper_columns is None:
            return dict(paper_mean=np.nan, paper_rows=self.paper_note or "—")
        col_a, col_b = self.paper_columns
        table = paper_table(self.table)
        if "Error" in table.index:  # Table 4 is printed transposed: an "Error" row, a "Params (M)" row
            table = table.loc[["Error"]]
        if col_a == "Teacher" and "Teacher" not in table.columns and "Teacher err" in table.columns:
            col_a = "Teacher err"
        if "Error" in table.index:  # Table 4 is printed transposed: an "Error" row, a column per student
            diffs = pd.Series([table.loc["Error", col_b] - table.loc["Error", col_a]])
        elif col_a in table.columns and col_b in table.columns:
            rows = table[[col_a, col_b]]
            if self.paper_row is not None:
                rows = rows.loc[[self.paper_row]]
            rows = rows.dropna()
            diffs = rows[col_b] - rows[col_a]
        else:
            raise ValueError(f"claim {self.key}: Table {self.table} has no columns {col_a!r} and {col_b!r}")
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


def _language_model_claims() -> list[Claim]:
    """Table 6 and chapter 9: born-again LSTM language models, compared on test perplexity. The records carry a
    `corpus` column (chapter 9's records, `chapters.chapter_records`), which keeps these claims apart from the image
    chapters' Teacher and BAN+L rows in a table of every chapter's records."""
    perplexity = dict(value="test_ppl", unit="perplexity points", margin=PERPLEXITY_MARGIN,
                      where={"corpus": "fortunes"})
    return [
        Claim("lm-banl-vs-teacher", "09_language_models",
              "A born-again LSTM language model trained on labels and teacher (BAN+L) has lower test perplexity "
              "than its teacher", "Teacher", "BAN+L", table=6, paper_columns=("Teacher test", "BAN+L test"),
              **perplexity),
        Claim("lm-ban-vs-teacher", "09_language_models",
              "A born-again LSTM language model trained on the teacher alone (BAN) does not have lower test "
              "perplexity than its teacher", "Teacher", "BAN", expected="higher", table=6,
              paper_note="no numbers (the paper: plain BAN did not help)", **perplexity),
    ]


def _regime_map_claims() -> list[Claim]:
    """Chapter 10_regime_map: Table 2's central claim in every regime of the map (one claim per cell, `split_claims`
    on the `cell` column), and our control of whether the teacher's structure matters beyond its softness."""
    return [
        Claim("map-ban-vs-teacher", "10_regime_map", "In each regime of the map, BAN-1 has lower error than its teacher",
              "Teacher", "BAN-1", table=2, paper_columns=("Teacher", "BAN-1")),
        Claim("map-ban-vs-smoothing", "10_regime_map",
              "BAN-1 has lower error than a student of the same teacher trained on labels smoothed by the teacher's "
              "mass outside its top class (ours)", "Label smoothing", "BAN-1", ours=True),
    ]


CLAIMS: tuple[Claim, ...] = tuple(_ban_claims() + _transfer_claims() + _language_model_claims()
                                  + _regime_map_claims())


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
        **_alone_column(evaluated),
    }).set_index("claim")


# The column of `evaluate_chapter` that reads a chapter's claims as a family of their own, and how a table labels it:
# shown beside the verdict, never as the verdict.
CHAPTER_ALONE = "chapter_alone"
CHAPTER_ALONE_LABEL = "Holm across this chapter's claims only (not the verdict)"


def _alone_column(evaluated: pd.DataFrame) -> dict:
    """The labelled column of the chapter's own family's reading, where `evaluated` has it (`evaluate_chapter`)."""
    return {CHAPTER_ALONE_LABEL: evaluated[CHAPTER_ALONE]} if CHAPTER_ALONE in evaluated else {}


def claim_facts(evaluated: pd.DataFrame, digits: int = 2) -> dict:
    """`evaluate`'s results as named values for a chapter's prose (myst-nb `glue`), per claim, with the claim's key
    (hyphens as underscores) as prefix: `<key>_paper` (the paper's mean b − a, points), `<key>_paper_rows`,
    `<key>_mean`, `<key>_ci` ("[low, high]"), `<key>_n`, `<key>_verdict` and `<key>_ours` (all of ours in a
    phrase: "+0.12 points, 95% CI [−0.20, +0.44], n = 5", or "…, no interval with n = 1"). Plain Python values,
    so that glue formats them."""
    facts = {}
    for _, row in evaluated.iterrows():
        key = row["key"].replace("-", "_")
        no_interval = pd.isna(row["ci_low"])
        interval = "no interval" if no_interval else f"[{row['ci_low']:+.{digits}f}, {row['ci_high']:+.{digits}f}]"
        ours = "not run" if row["n"] == 0 else f"{row['mean']:+.{digits}f} points, " + (
            f"no interval with n = {int(row['n'])}" if no_interval else f"95% CI {interval}, n = {int(row['n'])}")
        facts.update({f"{key}_paper": float(row["paper_mean"]), f"{key}_paper_rows": str(row["paper_rows"]),
                      f"{key}_mean": float(row["mean"]), f"{key}_ci": interval, f"{key}_n": int(row["n"]),
                      f"{key}_verdict": str(row["verdict"]), f"{key}_ours": ours})
    return facts


def claims_for(chapter: str | None = None) -> list[Claim]:
    """The claims a chapter tests (all of them for None)."""
    chosen = [c for c in CLAIMS if chapter is None or c.chapter == chapter]
    if chapter is not None and not chosen:
        chapters = sorted({c.chapter for c in CLAIMS})
        raise ValueError(f"no claim belongs to chapter {chapter!r}; chapters with claims: {', '.join(chapters)}")
    return chosen


def claims_table(claims: list[Claim] | None = None) -> pd.DataFrame:
    """The claims as stated before any data (all of them for None): one row each, the chapter that tests it, its
    source, whether the experiment is sized for it (central), and the paper's own difference b − a in points (mean
    over the table's rows, and in how many rows it goes the claim's way)."""
    rows = [dict(claim=claim.statement, chapter=claim.chapter, source=claim.source, central=claim.central,
                 **claim.paper_difference())
            for claim in (CLAIMS if claims is None else claims)]
    return pd.DataFrame(rows, columns=["claim", "chapter", "source", "central", "paper_mean", "paper_rows"])


def _side(frame: pd.DataFrame, claim: Claim, model: str, value: str) -> pd.Series:
    """Per seed, `model`'s mean `value`. `claim.where` filters only the columns this model's rows have: the
    DenseNet baseline has no Wide-ResNet teacher, so it is the baseline of every `wrn` network. Records without
    the value or a filtered column are another chapter's: the claim was not run on them (empty)."""
    if value not in frame.columns or any(column not in frame.columns for column in claim.where):
        return pd.Series(dtype=float)
    return _rows(frame, claim, model).dropna(subset=[value]).groupby("seed")[value].mean()


HELDOUT = "heldout_error"  # the records' error on the test set and the held-out pool together (%)


def every_run_has_pool(rows: pd.DataFrame) -> bool:
    """Whether `rows` are some runs and every one of them records its error on the held-out pool (`HELDOUT`): only
    then are they judged on it (`judged_value`, `regimes.judged_value`)."""
    return HELDOUT in rows.columns and len(rows) > 0 and bool(rows[HELDOUT].notna().all())


def _rows(frame: pd.DataFrame, claim: Claim, model: str) -> pd.DataFrame:
    """`model`'s records, filtered by `claim.where` on the columns its rows have (as `_side`)."""
    rows = frame[frame["model"] == model]
    for column, wanted in claim.where.items():
        if column in rows and rows[column].notna().any():
            rows = rows[rows[column] == wanted]
    return rows


def judged_value(frame: pd.DataFrame, claim: Claim) -> str:
    """What `claim` is judged on: its own value, except that a claim on test error is judged on the test set and the
    held-out pool together (`HELDOUT`) where every run of both its sides has a pool. Ensembles are not (a run keeps
    only its top class on the pool, which does not make an ensemble's average): they stay on the test set."""
    if claim.value != "test_error" or HELDOUT not in frame.columns or "model" not in frame.columns:
        return claim.value
    rows = pd.concat([_rows(frame, claim, claim.a), _rows(frame, claim, claim.b)])
    return HELDOUT if every_run_has_pool(rows) else claim.value


def claim_runs(frame: pd.DataFrame, claim: Claim) -> frozenset:
    """The runs behind `claim` on `frame`: for a paired claim the (a, b) run-id pairs of its seeds, else every run
    id of both sides. Two claims of which one's runs are all among the other's test the same thing once."""
    if "run_id" not in frame.columns or "model" not in frame.columns:
        return frozenset()
    a, b = (_rows(frame, claim, model).groupby("seed")["run_id"].first() for model in (claim.a, claim.b))
    if claim.paired:
        return frozenset((a[seed], b[seed]) for seed in a.index.intersection(b.index))
    return frozenset([*a, *b])


# Record columns that name one network of a grid (chapter 8's Wide-ResNet teachers and residual students) or one
# regime of the map: a claim about models recorded for several of them is tested once per network or regime.
GRID_COLUMNS = ("wrn", "res", "cell")  # and the map's cells (chapter 10_regime_map)


def _paper_row(claim: Claim, arch: str) -> str | None:
    """The row of the claim's paper table that names `arch` (e.g. "Wide-ResNet-28-1" for wrn-28-1), if any."""
    if claim.table is None:
        return None
    index = paper_table(claim.table).index
    return next((name for name, registered in PAPER_ARCHS.items() if registered == arch and name in index), None)


def split_claims(claims: list[Claim], frame: pd.DataFrame, columns: tuple[str, ...] = GRID_COLUMNS) -> list[Claim]:
    """Each claim once per network of a grid column where its models were recorded for several: key
    "<key>[<arch>]", the statement followed by the network, `where` set, and the paper's row of that network
    where its table has one. A claim whose models have one network or none stays as it is."""
    if "model" not in frame.columns:  # no records (a chapter not run yet): nothing to split
        return list(claims)
    chosen = []
    for claim in claims:
        rows = frame[frame["model"].isin([claim.a, claim.b])]
        column = next((c for c in columns if c not in claim.where and c in rows and rows[c].nunique() > 1), None)
        if column is None:
            chosen.append(claim)
            continue
        chosen += split_claims([replace(claim, key=f"{claim.key}[{value}]", statement=f"{claim.statement} ({value})",
                                        where={**claim.where, column: value},
                                        paper_row=_paper_row(claim, value) or claim.paper_row)
                                for value in dict.fromkeys(rows[column].dropna())], frame, columns)
    return chosen


# Chapter 8's floor: the label of the linear classifier on the pixels in the records.
FLOOR = "Linear"
VOID = "void"  # the verdict of a claim one of whose models does not beat the floor
NOT_RUN = "not run"  # the verdict (and note) of a claim whose models have no records: never "inconclusive"
# The chapters whose claims the floor rule applies to, and their floor model: every judgement of the book applies it
# (`evaluate_book`), so that a chapter and the summary void the same claims.
CHAPTER_FLOORS = {"08_densenet_resnet": FLOOR}
# the verdict of a claim whose chapter's teachers are not finished (`evaluate_book`'s `unfinished`): reported with
# its numbers and the rule's verdict on it alone (`rule_verdict`), kept out of the family and the tally
OUT_OF_TALLY = "out of the tally"

FLOOR_RULE = f"""\
A network that does not beat a linear classifier on the pixels, trained with the same recipe on the same images,
has not learned the task, and a comparison with it says nothing about teaching. So a model whose mean test error
(over its seeds) is not below the linear classifier's mean test error **voids** every claim it is part of: the
claim's verdict is **{VOID}**, whatever the verdict rule would have said, and its note names the model and the two
means."""


def floor_reasons(frame: pd.DataFrame, claim: Claim, floor: str = FLOOR, value: str = "test_error") -> list[str]:
    """Why `claim` is void under `FLOOR_RULE`: one line per model of the claim whose mean `value` is not below
    `floor`'s mean (none: the claim stands). Raises if `frame` has no record of `floor`."""
    floor_side = frame[frame["model"] == floor].groupby("seed")[value].mean()
    if floor_side.empty:
        raise ValueError(f"no records of the floor model {floor!r}; the records' models: "
                         f"{', '.join(map(str, frame['model'].unique()))}")
    reasons = []
    for model in dict.fromkeys((claim.a, claim.b)):
        side = _side(frame, claim, model, value)
        if not side.empty and side.mean() >= floor_side.mean():
            reasons.append(f"{model} ({side.mean():.2f}%) does not beat {floor} ({floor_side.mean():.2f}%)")
    return reasons


def difference(frame: pd.DataFrame, claim: Claim, value: str | None = None) -> Difference | None:
    """b − a for `claim` on tidy records (in `value`, by default the claim's own column); None where either side
    has no rows."""
    value = value or claim.value
    a, b = _side(frame, claim, claim.a, value), _side(frame, claim, claim.b, value)
    if a.empty or b.empty:
        return None
    if claim.paired:
        return paired_difference(a.to_dict(), b.to_dict())
    return unpaired_difference(a.values, b.values)


def _claim_rows(frame: pd.DataFrame, claims: list[Claim], value: str | None, margin: float | None,
                floor: str | None, split: tuple[str, ...]) -> tuple[list[dict], list[Difference | None]]:
    """`evaluate`'s rows before the verdicts, and each row's difference (None for a claim not run or void: those
    are not tested, so they do not count in the family's adjustment)."""
    rows, differences = [], []
    for claim in split_claims(claims, frame, split) if split else claims:
        claim_value = value or judged_value(frame, claim)
        diff = difference(frame, claim, claim_value)
        claim_margin = claim.margin if margin is None else margin
        row = dict(claim=claim.statement, key=claim.key, chapter=claim.chapter,
                   table=claim.source, a=claim.a, b=claim.b,
                   expected=claim.expected, central=claim.central, paired=claim.paired,
                   value=claim_value, unit=claim.unit, margin=claim_margin, runs=claim_runs(frame, claim),
                   duplicate_of="")
        if diff is None:
            row.update(n=0, mean=np.nan, ci_low=np.nan, ci_high=np.nan, half_width=np.nan, detectable=np.nan,
                       p_value=np.nan, note=NOT_RUN)
        else:
            row.update(n=diff.n, mean=diff.mean, ci_low=diff.low, ci_high=diff.high, half_width=diff.half_width,
                       detectable=diff.detectable, p_value=diff.p_value, note="")
        reasons = floor_reasons(frame, claim, floor, claim_value) if floor is not None else []
        row.update(void=bool(reasons), alone=diff.verdict(claim.expected, claim_margin) if diff else NOT_RUN)
        if reasons:
            row.update(note="; ".join(reasons))
        row.update(claim.paper_difference())
        rows.append(row)
        differences.append(None if reasons else diff)
    return rows, differences


def _judged(rows: list[dict], differences: list[Difference | None]) -> pd.DataFrame:
    """The rows with the family's verdicts (`stats.family_verdicts`: Holm across every claim in `rows`): a void
    claim gets `VOID`, the rule's verdict on it alone kept in `rule_verdict`."""
    judged = family_verdicts(differences, [row["expected"] for row in rows], [row["margin"] for row in rows])
    for row, verdicts in zip(rows, judged):
        alone = row.pop("alone")
        row.update(verdicts)
        if row["n"] == 0:  # nothing was measured: no rule can call that inconclusive
            row["verdict"] = NOT_RUN
        row["rule_verdict"] = alone if row["void"] else row["verdict"]
        if row["void"]:
            row["verdict"] = VOID
    return pd.DataFrame(rows)


def evaluate(frame: pd.DataFrame, claims: list[Claim], value: str | None = None, margin: float | None = None,
             floor: str | None = None, split: tuple[str, ...] = GRID_COLUMNS) -> pd.DataFrame:
    """One row per claim: our paired mean difference b − a with its 95% CI, n, the smallest detectable effect,
    its p-values (of "no difference", and of the two one-sided tests of "no effect of the paper's size"), each
    adjusted across `claims` (Holm), the verdict (`stats.VERDICT_RULE`), and the paper's own difference. Each claim
    is judged on its own value column with its own margin (`Claim.value`, `Claim.margin`) unless `value` or
    `margin` is given. A claim whose models are not in `frame` is reported as not run (verdict and note `NOT_RUN`),
    so a table never silently drops a claim. The book's verdicts adjust across all its claims (`evaluate_book`).

    A claim whose models were recorded for several networks of a `split` column gets one row per network
    (`split_claims`). With `floor` (a model label, e.g. `FLOOR`), a claim one of whose models does not beat the
    floor's mean error is void (`FLOOR_RULE`): verdict `VOID`, not counted in the adjustment, the rule's verdict on
    it alone kept in `rule_verdict`, the reason in `note`, and `void` true."""
    return _judged(*_claim_rows(frame, claims, value, margin, floor, split))


def claim_view(table: pd.DataFrame, digits: int = 2) -> pd.DataFrame:
    """`evaluate`'s table as a chapter shows it, one row per claim: the claim and its table, the paper's difference
    b − a (its mean, and in how many of its rows it goes the claim's way), ours with its 95% CI, n, the smallest
    effect it could have detected, the verdict, and why a claim is void or not run."""
    def ours(row) -> str:
        if row["n"] == 0 or pd.isna(row["mean"]):
            return "—"
        interval = "" if pd.isna(row["ci_low"]) else f" [{row['ci_low']:+.{digits}f}, {row['ci_high']:+.{digits}f}]"
        return f"{row['mean']:+.{digits}f}{interval}"

    paper = ["—" if pd.isna(mean) else f"{mean:+.{digits}f} ({rows})"
             for mean, rows in zip(table["paper_mean"], table["paper_rows"])]
    return pd.DataFrame({
        "claim": table["claim"], "table": table["table"], "paper: b − a": paper,
        "ours: b − a [95% CI]": [ours(row) for _, row in table.iterrows()], "n": table["n"],
        "detectable": [("—" if pd.isna(d) else f"{d:.{digits}f}") for d in table["detectable"]],
        "verdict": table["verdict"], **_alone_column(table), "note": table["note"]}).set_index("claim")


def book_chapters(claims: list[Claim] | None = None) -> list[str]:
    """The chapters that test `claims` (all of them for None), in the order of the claim list."""
    return list(dict.fromkeys(claim.chapter for claim in (CLAIMS if claims is None else claims)))


def evaluate_book(records_by_chapter: Mapping[str, pd.DataFrame], claims: list[Claim] | None = None,
                  unfinished: Mapping[str, str] | None = None, **evaluate_options) -> pd.DataFrame:
    """Every claim (or `claims`) evaluated on the records of its own chapter, one row per claim in the claim list's
    order: the summary's table. Chapters label different things alike ("Teacher" is chapter 4's teachers and also
    the same runs in chapters 5-7), so the chapters' records are never pooled; a chapter missing from
    `records_by_chapter`, or with an empty frame, has its claims reported as not run (`evaluate`); records of a
    chapter without claims (chapter 3's teachers) are not used. The verdicts adjust across every claim of the book
    (one Holm family, `stats.family_verdicts`); a claim whose runs are all among an earlier claim's (chapter 8's
    Wide-ResNet BAN, the map's cell of the chapters' regime) takes that claim's verdict, with `duplicate_of` set,
    and is not counted in the family or the tally (`verdict_counts`). `unfinished` (chapter -> why its teachers are
    not finished, e.g. `convergence.unfinished_lm_teachers`) keeps that chapter's claims out of the family and the
    tally: verdict `OUT_OF_TALLY`, the rule's verdict on the claim alone in `rule_verdict`, the reason in `note`.
    `evaluate_options` go to `evaluate` (value, margin, split; `floor`, where given, for every chapter, else each
    chapter's own floor, `CHAPTER_FLOORS`, where it has records)."""
    claims = list(CLAIMS if claims is None else claims)
    options = dict(value=None, margin=None, split=GRID_COLUMNS) | evaluate_options
    given = "floor" in options
    given_floor = options.pop("floor", None)
    rows, differences = [], []
    for chapter in book_chapters(claims):
        frame = records_by_chapter.get(chapter, pd.DataFrame())
        floor = given_floor if given else CHAPTER_FLOORS.get(chapter) if len(frame) else None
        chapter_rows, chapter_differences = _claim_rows(frame, [c for c in claims if c.chapter == chapter],
                                                        floor=floor, **options)
        rows += chapter_rows
        differences += chapter_differences
    # a claim whose runs are all among an earlier claim's tests nothing new: reported beside it, not counted again
    counted = []
    for position, row in enumerate(rows):
        earlier = next((other for other in counted if row["runs"] and row["runs"] <= other["runs"]), None)
        if earlier is None:
            if differences[position] is not None:
                counted.append(row)
            continue
        differences[position] = None
        row.update(duplicate_of=earlier["key"], note=f"the runs of “{earlier['claim']}” ({earlier['chapter']}): "
                                                     f"counted there")
    # a claim whose teachers are not finished cannot decide anything about teaching: shown, not judged in the family
    unfinished = unfinished or {}
    alone = {}
    for position, row in enumerate(rows):
        if row["chapter"] in unfinished and differences[position] is not None:
            alone[position], differences[position] = row["alone"], None
            row["note"] = "; ".join(filter(None, [row["note"], unfinished[row["chapter"]]]))
    table = _judged(rows, differences)  # one family: every claim of the book, each tested once
    for position, verdict in alone.items():
        table.loc[position, ["verdict", "rule_verdict"]] = [OUT_OF_TALLY, verdict]
    verdicts = dict(zip(table["key"], table["verdict"]))
    duplicates = table["duplicate_of"] != ""
    table.loc[duplicates, "verdict"] = table.loc[duplicates, "duplicate_of"].map(verdicts)
    order = {claim.key: position for position, claim in enumerate(claims)}
    return table.sort_values("key", key=lambda keys: keys.map(order)).reset_index(drop=True)


def evaluate_chapter(records_by_chapter: Mapping[str, pd.DataFrame], chapter: str, **book_options) -> pd.DataFrame:
    """`chapter`'s rows of `evaluate_book` on every chapter's records (Holm across the book's claims, a claim on
    another's runs counted there, the floor and the unfinished chapters as `evaluate_book` applies them): the verdict
    the chapter shows is the summary's. Beside it, `CHAPTER_ALONE`: the rule with Holm across this chapter's claims
    only (`evaluate` on its own records), a reading the chapter may show in a column of its own, never as the
    verdict. `book_options` go to `evaluate_book` (`unfinished`, value, margin, floor, split)."""
    table = evaluate_book(records_by_chapter, **book_options)
    rows = table[table["chapter"] == chapter].reset_index(drop=True)
    if rows.empty:
        raise ValueError(f"no claim belongs to chapter {chapter!r}; chapters with claims: {', '.join(book_chapters())}")
    options = {key: value for key, value in book_options.items() if key != "unfinished"}
    options.setdefault("floor", CHAPTER_FLOORS.get(chapter) if len(records_by_chapter.get(chapter, ())) else None)
    alone = evaluate(records_by_chapter.get(chapter, pd.DataFrame()), claims_for(chapter), **options)
    return rows.assign(**{CHAPTER_ALONE: rows["key"].map(dict(zip(alone["key"], alone["verdict"])))})


def _tally_masks(evaluated: pd.DataFrame) -> dict[str, pd.Series]:
    """Which rows of `evaluate`'s table were not run, reuse an earlier claim's runs, are kept out of the tally, and
    were tested (none of these): `verdict_counts` and `tested_claims` read the same masks."""
    not_run = evaluated["note"] == NOT_RUN
    reused = evaluated.get("duplicate_of", pd.Series("", index=evaluated.index)).fillna("") != ""
    out = (evaluated["verdict"] == OUT_OF_TALLY) & ~reused
    return dict(not_run=not_run, reused=reused, out=out, tested=~not_run & ~reused & ~out)


def tested_claims(evaluated: pd.DataFrame) -> pd.DataFrame:
    """The rows of `evaluate`'s table that the tally counts (`verdict_counts`' tested claims), in their order."""
    return evaluated[_tally_masks(evaluated)["tested"]]


def verdict_counts(evaluated: pd.DataFrame) -> dict:
    """How many claims of `evaluate`'s table were tested (had runs, and are not another claim's runs again), how many
    were not run, how many reuse an earlier claim's runs (`reused`, counted there), how many were kept out of the
    tally because their teachers are not finished (`out_of_tally`), and how many of the tested ones got each verdict
    of `stats.VERDICTS` (zeros included): the tally the summary gives."""
    masks = _tally_masks(evaluated)
    not_run, reused, out, tested = masks["not_run"], masks["reused"], masks["out"], masks["tested"]
    counts = evaluated[tested]["verdict"].value_counts()
    return dict(tested=int(tested.sum()), not_run=int(not_run.sum()), reused=int(reused.sum()),
                out_of_tally=int(out.sum()), **{verdict: int(counts.get(verdict, 0)) for verdict in VERDICTS})
