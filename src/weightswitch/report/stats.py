"""Confidence intervals and the wording rule of the report's conclusions (issue 28).

Pure functions of numbers (scipy for the t and normal quantiles), no pandas, no files:

- `paired_differences(a, b)`: a[seed] - b[seed] for the seeds both have (runs of the same seed
  share their data order and, for pruning, their parent: the pairing removes that variance);
- `t_interval(values)`: the mean with a Student-t confidence interval (n - 1 degrees of
  freedom); `paired_interval(a, b)` is that interval of the paired differences;
- `correlation_interval(rs)`: the mean of correlation coefficients (Fisher z, back-transformed)
  with an interval that stays inside (-1, 1);
- `wilson_interval(k, n)`: a rate (collapsed or diverged runs out of n) with its Wilson score
  interval, which stays inside [0, 1] and is not degenerate at k = 0 or k = n;
- `sign_flip_p(diffs)`: the exact two-sided sign-flip permutation p-value of a mean of paired
  differences (all 2^n sign patterns; distribution-free: with n = 5 it cannot go below
  0.0625, with n = 8 not below 0.0078); `holm(ps)`: Holm's step-down adjustment of a family;
- `claim(interval)`: the wording rule. A difference is claimed only when the interval excludes
  zero; otherwise the text says "no detectable difference (95% CI a to b)". A zero-width
  interval (all pairs equal, as two seeds can be) is no evidence of a zero spread: no claim.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    """An estimate with its confidence interval at `level`, from `n` values (or runs). The
    bounds are NaN where no interval exists (n < 2 for a mean, n = 0 for a rate)."""

    estimate: float
    low: float
    high: float
    n: int
    level: float = LEVEL

    @property
    def defined(self) -> bool:
        return not (math.isnan(self.low) or math.isnan(self.high))

    @property
    def degenerate(self) -> bool:
        """A zero-width interval: every value equal (say two seeds whose differences agree to
        the last reported digit; equal up to float rounding). Its width says nothing about the
        spread, so no claim."""
        return self.defined and math.isclose(self.low, self.high, rel_tol=1e-9, abs_tol=1e-9)

    @property
    def excludes_zero(self) -> bool:
        """Whether the interval lies entirely on one side of zero (False when undefined or
        degenerate)."""
        return self.defined and not self.degenerate and (self.low > 0 or self.high < 0)


def paired_differences(a: Mapping[int, float], b: Mapping[int, float]) -> dict[int, float]:
    """{seed: a[seed] - b[seed]} for the seeds with a number in both, in seed order; a seed
    with a NaN on either side (no result) has no pair."""
    return {
        seed: float(a[seed]) - float(b[seed])
        for seed in sorted(set(a) & set(b))
        if not (math.isnan(float(a[seed])) or math.isnan(float(b[seed])))
    }


def t_interval(values: Iterable[float], level: float = LEVEL) -> Interval:
    """Mean of `values` with the two-sided Student-t interval mean ± t(n-1) · s / √n (s: the
    sample standard deviation). n = 1: the mean, no interval; n = 0: all NaN."""
    from scipy import stats

    xs = [float(v) for v in values]
    n = len(xs)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0, level)
    mean = math.fsum(xs) / n
    if n == 1:
        return Interval(mean, math.nan, math.nan, 1, level)
    sd = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (n - 1))
    half = float(stats.t.ppf((1 + level) / 2, n - 1)) * sd / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n, level)


def correlation_interval(values: Iterable[float], level: float = LEVEL) -> Interval:
    """The mean of correlation coefficients with a Student-t interval on Fisher's z = atanh(r),
    both back-transformed (tanh): the interval stays inside (-1, 1), where a plain t interval
    of a few correlations can leave it. |r| = 1 is taken as atanh(±(1 - 1e-12))."""
    zs = [math.atanh(max(-1 + 1e-12, min(1 - 1e-12, float(r)))) for r in values]
    z = t_interval(zs, level)
    return Interval(
        math.tanh(z.estimate) if z.n else math.nan, math.tanh(z.low), math.tanh(z.high), z.n, level
    )


def paired_interval(
    a: Mapping[int, float], b: Mapping[int, float], level: float = LEVEL
) -> Interval:
    """The t interval of the per-seed differences a - b (`paired_differences`)."""
    return t_interval(paired_differences(a, b).values(), level)


def wilson_interval(k: int, n: int, level: float = LEVEL) -> Interval:
    """The rate k / n with its Wilson score interval (Wilson 1927):
    (p + z²/2n ± z √(p(1-p)/n + z²/4n²)) / (1 + z²/n), z the normal quantile of the level."""
    from scipy import stats

    if not 0 <= k <= n:
        raise ValueError(f"a rate needs 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0, level)
    z = float(stats.norm.ppf((1 + level) / 2))
    p = k / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    # clamp the float rounding at k = 0 and k = n (the exact bounds are 0 and 1 there)
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half), n, level)


def sign_flip_p(diffs: Iterable[float]) -> float:
    """Exact two-sided sign-flip permutation p-value of the mean of `diffs` under H0: each
    difference is as likely positive as negative (symmetric about zero). The share of the 2^n
    sign patterns whose |mean| is at least the observed |mean| (the observed one included);
    NaN without differences. n is at most 24 (16.8 M patterns)."""
    import itertools

    xs = [abs(float(v)) for v in diffs]
    n = len(xs)
    if n == 0:
        return math.nan
    if n > 24:
        raise ValueError(f"sign_flip_p enumerates 2^n patterns; n = {n} is too many")
    observed = abs(math.fsum(float(v) for v in diffs))
    tol = 1e-9 * max(1.0, observed)
    hits = sum(
        abs(math.fsum(x if s else -x for x, s in zip(xs, signs, strict=True))) >= observed - tol
        for signs in itertools.product((True, False), repeat=n)
    )
    return hits / 2**n


def holm(pvalues: Iterable[float]) -> list[float]:
    """Holm (1979) step-down adjusted p-values, in the input order: the k-th smallest of m
    p-values is multiplied by m - k + 1, made monotone, capped at 1. NaN entries (no test)
    stay NaN and do not count in m."""
    ps = [float(p) for p in pvalues]
    tested = sorted((p, i) for i, p in enumerate(ps) if not math.isnan(p))
    m = len(tested)
    adjusted = [math.nan] * len(ps)
    running = 0.0
    for k, (p, i) in enumerate(tested):
        running = max(running, min(1.0, (m - k) * p))
        adjusted[i] = running
    return adjusted


def ci_text(interval: Interval, digits: int = 2, unit: str = "") -> str:
    """'95% CI a to b' (with the unit after b, if any)."""
    unit = f" {unit}" if unit else ""
    return (
        f"{interval.level * 100:g}% CI {interval.low:.{digits}f} to "
        f"{interval.high:.{digits}f}{unit}"
    )


def claim(interval: Interval, digits: int = 2, unit: str = "pp") -> str:
    """The wording rule for a difference: claimed (its sign, size and interval) only when the
    interval excludes zero, else "no detectable difference (95% CI a to b)"; without an
    interval (fewer than two pairs), says so."""
    if interval.n == 0:
        return "no paired runs"
    if not interval.defined:
        return (
            f"{interval.estimate:+.{digits}f} {unit} from one pair: no confidence interval (n = 1)"
        ).replace("  ", " ")
    if interval.degenerate:
        return (
            f"{interval.estimate:+.{digits}f} {unit} in each of {interval.n} pairs: no "
            "spread to estimate an interval from, no claim"
        ).replace("  ", " ")
    ci = ci_text(interval, digits)
    if not interval.excludes_zero:
        return f"no detectable difference ({ci})"
    word = "higher" if interval.estimate > 0 else "lower"
    size = f"{interval.estimate:+.{digits}f}{f' {unit}' if unit else ''}"
    return f"{word}: {size} ({ci})"
