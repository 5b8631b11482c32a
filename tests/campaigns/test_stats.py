"""Welch's interval, checked against known figures."""

from __future__ import annotations

import pytest

from campaigns.stats import GroupSummary, summary, t_cdf, t_quantile, welch

# Wikipedia, "Welch's t-test", example 1 ... the two samples and their published result:
# t = -2.46, degrees of freedom 24.9, p = 0.021 (so the 95 % interval excludes 0).
A1 = [27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4]
A2 = [27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4]


@pytest.mark.parametrize(("df", "expected"), [(1, 12.7062), (10, 2.2281), (30, 2.0423), (1000, 1.9623)])
def test_t_quantiles_match_the_tables(df: float, expected: float) -> None:
    assert t_quantile(0.975, df) == pytest.approx(expected, abs=1e-4)


def test_welch_matches_the_published_example() -> None:
    result = welch(summary(A1), summary(A2))
    assert result.t == pytest.approx(-2.46, abs=0.005)
    assert result.degrees_of_freedom == pytest.approx(24.9, abs=0.1)  # 24.99, shown truncated
    assert 2 * t_cdf(result.t, result.degrees_of_freedom) == pytest.approx(0.021, abs=0.0005)
    assert result.difference == pytest.approx(20.82 - 22.99, abs=0.01)
    assert result.high is not None and result.high < 0
    assert result.significant
    margin = t_quantile(0.975, result.degrees_of_freedom) * abs(result.difference / result.t)
    assert result.low == pytest.approx(result.difference - margin)


def test_too_few_members_give_no_interval() -> None:
    result = welch(GroupSummary(1, 5.0, 0.0), GroupSummary(10, 3.0, 1.0))
    assert result.low is None and not result.significant
