"""Treatment against control: Welch's difference of means with its 95 % confidence interval.

Pure arithmetic on summary figures (count, mean, variance per group), so the admin reads them
with one aggregate query and never loops over members. Welch, not Student: the two groups'
sizes and spreads differ (a 10 % holdout is a tenth of the treatment group). The t quantile is
computed here (the regularized incomplete beta function by its continued fraction, then
bisection), as no statistics library is installed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class GroupSummary:
    count: int
    mean: float
    variance: float  # sample variance (n − 1)


@dataclass(frozen=True)
class Difference:
    """``treatment − control`` with its 95 % interval (``None`` bounds: too few members)."""

    difference: float
    low: float | None
    high: float | None
    t: float | None
    degrees_of_freedom: float | None

    @property
    def significant(self) -> bool:
        return self.low is not None and self.high is not None and (self.low > 0 or self.high < 0)


def summary(values: list[float]) -> GroupSummary:
    n = len(values)
    mean = sum(values) / n if n else 0.0
    variance = sum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else 0.0
    return GroupSummary(n, mean, variance)


def _beta_continued_fraction(a: float, b: float, x: float) -> float:
    tiny, qab, qap, qam = 1e-300, a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c if abs(1.0 + aa / c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c if abs(1.0 + aa / c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-14:
            break
    return h


def incomplete_beta(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1) / (a + b + 2):
        return front * _beta_continued_fraction(a, b, x) / a
    return 1.0 - front * _beta_continued_fraction(b, a, 1 - x) / b


def t_cdf(t: float, df: float) -> float:
    tail = 0.5 * incomplete_beta(df / 2, 0.5, df / (df + t * t))
    return 1 - tail if t >= 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t with ``df`` degrees of freedom (0.5 < p < 1)."""
    low, high = 0.0, 1.0
    while t_cdf(high, df) < p:
        high *= 2
    for _ in range(200):
        mid = (low + high) / 2
        if t_cdf(mid, df) < p:
            low = mid
        else:
            high = mid
    return (low + high) / 2


def welch(treatment: GroupSummary, control: GroupSummary, confidence: float = 0.95) -> Difference:
    """Welch's interval for ``treatment.mean − control.mean``."""
    difference = treatment.mean - control.mean
    if treatment.count < 2 or control.count < 2:
        return Difference(difference, None, None, None, None)
    a, b = treatment.variance / treatment.count, control.variance / control.count
    error = math.sqrt(a + b)
    if error == 0:
        return Difference(difference, difference, difference, None, None)
    df = (a + b) ** 2 / (a * a / (treatment.count - 1) + b * b / (control.count - 1))
    margin = t_quantile(1 - (1 - confidence) / 2, df) * error
    return Difference(difference, difference - margin, difference + margin, difference / error, df)
