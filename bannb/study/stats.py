"""Paired comparisons with confidence intervals, and the book's verdict rule, decided before any data.

A student is compared with its own teacher seed by seed (the same seed chain), so the unit of analysis is
the per-seed difference d_s = b_s − a_s (test error in points, lower is better). The mean difference gets
a two-sided 95% confidence interval from Student's t distribution with n − 1 degrees of freedom; where the
two sides are not paired (ensembles of independently trained teachers against born-again ensembles), the
interval is Welch's.

The rule (`VERDICT_RULE`) turns an interval into one of four words; `MARGIN` is fixed from the paper's own
effect sizes, not from ours.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
POWER = 0.80  # for the smallest detectable effect

# The smallest effect that counts as "of the paper's size", in points of test error. Table 2's born-again
# gains on CIFAR-100 are 0.46-1.3 points (BAN-1 over the teacher: 0.64-1.07; BAN+L: 0.46-0.76), and Table 1's
# largest CIFAR-10 gains are 0.2-0.3 points; 0.3 is the bottom of that range.
MARGIN = 0.3

VERDICTS = ("holds", "does not hold", "no effect of the paper's size", "inconclusive")

VERDICT_RULE = f"""\
For each claim "b has lower (or higher) error than a", take the per-seed differences d = b − a (each student
against its own teacher, seed by seed) and the 95% confidence interval of their mean (Student's t, n − 1
degrees of freedom; Welch's interval where the two sides are not paired). Then, with a margin
m = {MARGIN} points fixed in advance from the paper's effect sizes:

- the interval lies entirely on the paper's side of zero → **holds**;
- it lies entirely on the other side of zero → **does not hold**;
- it lies entirely inside (−m, +m) → **no effect of the paper's size**;
- otherwise (it straddles zero and reaches past ±m, or there are fewer than 2 pairs) → **inconclusive**.

Each comparison also reports the smallest effect it could have detected: the true difference that a paired
t-test at 5% would find with {POWER:.0%} power, given the observed spread of the differences and n."""


@dataclass(frozen=True)
class Difference:
    """Mean of b − a with its confidence interval, in points (lower error is better)."""

    mean: float
    low: float
    high: float
    n: int  # pairs (paired) or the smaller side (unpaired)
    sd: float  # of the per-seed differences (paired), or the pooled standard error × √n (unpaired)
    paired: bool
    p_value: float
    detectable: float  # the smallest true difference detectable at 5% with `POWER`

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def verdict(self, expected: str, margin: float = MARGIN) -> str:
        """The rule: `expected` is the paper's direction for b against a, "lower" or "higher"."""
        if expected not in ("lower", "higher"):
            raise ValueError(f"expected must be 'lower' or 'higher', got {expected!r}")
        if self.n < 2 or math.isnan(self.low):
            return "inconclusive"
        paper_side = (self.high < 0) if expected == "lower" else (self.low > 0)
        other_side = (self.low > 0) if expected == "lower" else (self.high < 0)
        if paper_side:
            return "holds"
        if other_side:
            return "does not hold"
        if -margin < self.low and self.high < margin:
            return "no effect of the paper's size"
        return "inconclusive"

    def interval(self, digits: int = 2) -> str:
        return f"[{self.low:+.{digits}f}, {self.high:+.{digits}f}]"

    def __str__(self) -> str:
        kind = "paired" if self.paired else "unpaired"
        return f"{self.mean:+.2f} points, 95% CI {self.interval()} (n = {self.n}, {kind})"


def _t(quantile: float, dof: int) -> float:
    return float(stats.t.ppf(quantile, dof))


def _detectable(standard_error: float, dof: int) -> float:
    """The true difference a two-sided test at 1 − CONFIDENCE finds with POWER: (t_{1−α/2} + t_{power}) · SE."""
    return (_t(1 - (1 - CONFIDENCE) / 2, dof) + _t(POWER, dof)) * standard_error


def paired_difference(a: Mapping[int, float], b: Mapping[int, float]) -> Difference:
    """b − a over the seeds both have (dicts seed → error in points)."""
    seeds = sorted(set(a) & set(b))
    d = np.array([b[s] - a[s] for s in seeds], dtype=float)
    n = len(d)
    if n == 0:
        raise ValueError(f"no seed in common between the two sides (a: {sorted(a)}, b: {sorted(b)})")
    mean = float(d.mean())
    if n < 2:
        return Difference(mean, math.nan, math.nan, n, math.nan, True, math.nan, math.nan)
    sd = float(d.std(ddof=1))
    se = sd / math.sqrt(n)
    half = _t(1 - (1 - CONFIDENCE) / 2, n - 1) * se
    p = 1.0 if sd == 0 and mean == 0 else (0.0 if sd == 0 else float(stats.ttest_1samp(d, 0).pvalue))
    return Difference(mean, mean - half, mean + half, n, sd, True, p, _detectable(se, n - 1))


def unpaired_difference(a, b) -> Difference:
    """mean(b) − mean(a) with Welch's interval (Welch–Satterthwaite degrees of freedom)."""
    a, b = np.asarray(list(a), dtype=float), np.asarray(list(b), dtype=float)
    n = min(len(a), len(b))
    mean = float(b.mean() - a.mean())
    if n < 2:
        return Difference(mean, math.nan, math.nan, n, math.nan, False, math.nan, math.nan)
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    if se == 0:
        return Difference(mean, mean, mean, n, 0.0, False, 1.0 if mean == 0 else 0.0, 0.0)
    dof = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    half = float(stats.t.ppf(1 - (1 - CONFIDENCE) / 2, dof)) * se
    p = float(stats.ttest_ind(b, a, equal_var=False).pvalue)
    return Difference(mean, mean - half, mean + half, n, se * math.sqrt(n), False, p,
                      float((stats.t.ppf(1 - (1 - CONFIDENCE) / 2, dof) + stats.t.ppf(POWER, dof)) * se))


def expected_half_width(sd: float, n: int) -> float:
    """The half-width of the 95% interval of the mean of `n` paired differences that spread by `sd` (what more
    seeds would give, if the differences keep their spread)."""
    if n < 2:
        return math.nan
    return _t(1 - (1 - CONFIDENCE) / 2, n - 1) * sd / math.sqrt(n)


def seeds_for_target(half_width: float, n: int, target: float = MARGIN) -> float:
    """The pairs a comparison of `n` pairs with a 95% interval of ± `half_width` would need for ± `target`, if its
    differences kept the spread they have (NaN where fewer than 2 pairs give no spread)."""
    if not n >= 2 or math.isnan(half_width):
        return math.nan
    return float(seeds_for_half_width(half_width / expected_half_width(1.0, int(n)), target))


def seeds_for_half_width(sd: float, half_width: float, floor: int = 2) -> int:
    """The number of pairs whose 95% interval has at most `half_width` when the differences spread by `sd`."""
    n = max(floor, 2)
    while expected_half_width(sd, n) > half_width:
        n += 1
        if n > 10_000:
            break
    return n


def holm_adjusted(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment of `p_values` (one per claim tested together), in their order: sorted
    ascending, the k-th smallest (k = 0, 1, …) becomes max over j ≤ k of min(1, (m − j)·p_(j)). A claim "holds"
    or "does not hold" at level α across the family when its adjusted p-value is below α; NaN (a claim not
    tested) stays NaN and does not count in m."""
    tested = sorted((p, i) for i, p in enumerate(p_values) if not math.isnan(p))
    adjusted, running, m = [math.nan] * len(p_values), 0.0, len(tested)
    for rank, (p, index) in enumerate(tested):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[index] = running
    return adjusted
