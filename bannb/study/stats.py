"""Paired comparisons with confidence intervals, and the book's verdict rule, decided before any data.

A student is compared with its own teacher seed by seed (the same seed chain), so the unit of analysis is
the per-seed difference d_s = b_s − a_s (test error in points, lower is better). The mean difference gets
a two-sided 95% confidence interval from Student's t distribution with n − 1 degrees of freedom; where the
two sides are not paired (ensembles of independently trained teachers against born-again ensembles), the
interval is Welch's.

The rule (`VERDICT_RULE`) turns a family of comparisons into one of four words each, with Holm's adjustment across
the family (`family_verdicts`); `MARGIN` is fixed from the paper's own effect sizes, not from ours.
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

MIN_PAIRS = 5  # a verdict other than "inconclusive" needs this many pairs (seeds), else a t interval is too wide
ALPHA = 0.05  # the family-wise error rate across the claims tested together (Holm's step-down)

VERDICT_RULE = f"""\
For each claim "b has lower (or higher) error than a", take the per-seed differences d = b − a (each student
against its own teacher, seed by seed) and the 95% confidence interval of their mean (Student's t, n − 1
degrees of freedom; Welch's interval where the two sides are not paired). Two tests go with it: the t-test of
"no difference" (two-sided), and the two one-sided tests of "the difference reaches ±m" with a margin
m = {MARGIN} points fixed in advance from the paper's effect sizes (its p-value is the larger of the two). Each
kind of p-value is adjusted across every claim the book tests (Holm's step-down, family-wise level
{ALPHA:g}); a claim that reuses another claim's runs is reported beside it and not tested again. Then:

- fewer than {MIN_PAIRS} pairs → **inconclusive**, whatever the data say (and the claim is not counted in the
  adjustment);
- the adjusted p-value of "no difference" is below {ALPHA:g} and the mean is on the paper's side → **holds**;
  on the other side → **does not hold**;
- otherwise, the adjusted p-value of the two one-sided tests is below {ALPHA:g} (the difference is shown to lie
  inside (−m, +m)) → **no effect of the paper's size**;
- otherwise → **inconclusive**.

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
    p_value: float  # two-sided, of "no difference"
    detectable: float  # the smallest true difference detectable at 5% with `POWER`
    dof: float = math.nan  # of the t distribution: n − 1 (paired) or Welch–Satterthwaite's

    @property
    def standard_error(self) -> float:
        return self.sd / math.sqrt(self.n) if self.n else math.nan

    def equivalence_p_value(self, margin: float = MARGIN) -> float:
        """The p-value of the two one-sided tests (TOST) that the true difference lies inside (−margin, +margin):
        the larger of P(t ≥ (mean + margin)/SE) and P(t ≤ (mean − margin)/SE); NaN with fewer than 2 pairs."""
        if self.n < 2 or math.isnan(self.sd):
            return math.nan
        se = self.standard_error
        if se == 0:
            return 0.0 if abs(self.mean) < margin else 1.0
        above_lower = float(stats.t.sf((self.mean + margin) / se, self.dof))
        below_upper = float(stats.t.cdf((self.mean - margin) / se, self.dof))
        return max(above_lower, below_upper)

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def verdict(self, expected: str, margin: float = MARGIN, adjusted_p: float | None = None,
                adjusted_equivalence_p: float | None = None) -> str:
        """The rule (`VERDICT_RULE`): `expected` is the paper's direction for b against a, "lower" or "higher";
        the adjusted p-values are this claim's after Holm across its family (`family_verdicts`); without them the
        claim is judged alone."""
        if expected not in ("lower", "higher"):
            raise ValueError(f"expected must be 'lower' or 'higher', got {expected!r}")
        if self.n < MIN_PAIRS or math.isnan(self.low):
            return "inconclusive"
        p = self.p_value if adjusted_p is None else adjusted_p
        if p < ALPHA:
            return "holds" if (self.mean < 0) == (expected == "lower") else "does not hold"
        equivalence = self.equivalence_p_value(margin) if adjusted_equivalence_p is None else adjusted_equivalence_p
        if equivalence < ALPHA:
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
    return Difference(mean, mean - half, mean + half, n, sd, True, p, _detectable(se, n - 1), n - 1)


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
        return Difference(mean, mean, mean, n, 0.0, False, 1.0 if mean == 0 else 0.0, 0.0, len(a) + len(b) - 2)
    dof = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    half = float(stats.t.ppf(1 - (1 - CONFIDENCE) / 2, dof)) * se
    p = float(stats.ttest_ind(b, a, equal_var=False).pvalue)
    return Difference(mean, mean - half, mean + half, n, se * math.sqrt(n), False, p,
                      float((stats.t.ppf(1 - (1 - CONFIDENCE) / 2, dof) + stats.t.ppf(POWER, dof)) * se), dof)


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


def family_verdicts(differences: Sequence[Difference | None], expected: Sequence[str],
                    margins: Sequence[float]) -> list[dict]:
    """The rule applied to claims tested together: each claim's p-values of "no difference" and of "no effect of
    the paper's size" (two one-sided tests against its margin) adjusted across the family (`holm_adjusted`; a claim
    without a difference, None, or with fewer than `MIN_PAIRS` pairs is not tested and does not count), and its
    verdict from them. One dict per claim,
    in order: verdict, p_adjusted, p_equivalence, p_equivalence_adjusted."""
    tested = [d is not None and d.n >= MIN_PAIRS and not math.isnan(d.p_value) for d in differences]
    p_values = [d.p_value if ok else math.nan for d, ok in zip(differences, tested)]
    equivalence = [d.equivalence_p_value(m) if ok else math.nan for d, m, ok in zip(differences, margins, tested)]
    p_adjusted, equivalence_adjusted = holm_adjusted(p_values), holm_adjusted(equivalence)
    return [dict(verdict=d.verdict(e, m, pa, ea) if d is not None else "inconclusive", p_adjusted=pa,
                 p_equivalence=pe, p_equivalence_adjusted=ea)
            for d, e, m, pa, pe, ea in zip(differences, expected, margins, p_adjusted, equivalence, equivalence_adjusted)]
