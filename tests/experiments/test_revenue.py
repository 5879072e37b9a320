"""Revenue per visitor: the stated model, checked by independent computation and simulation."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from daypart.experiments.stats import (
    TOO_FEW_CONVERSIONS,
    ArmCounts,
    analyze_revenue,
    analyze_revenue_many,
)
from daypart.experiments.stats.revenue import revenue_table

Z = float(stats.norm.ppf(0.975))


def sums(values: np.ndarray) -> tuple[float, float]:
    return float(values.sum()), float((values * values).sum())


def arm(visitors: int, values: np.ndarray) -> ArmCounts:
    total, squares = sums(values)
    return ArmCounts(visitors, len(values), total, squares)


def independent_posterior(data: ArmCounts) -> tuple[float, float]:
    """Mean and variance of p·m from scipy's own Beta and Student-t distributions."""
    rate = stats.beta(1 + data.conversions, 1 + data.visitors - data.conversions)
    c = data.conversions
    mean_value = data.revenue / c
    sample_var = (data.revenue_sq - c * mean_value**2) / (c - 1)
    value = stats.t(df=c - 1, loc=mean_value, scale=math.sqrt(sample_var / c))
    mean = float(rate.mean() * value.mean())
    second = float((rate.var() + rate.mean() ** 2) * (value.var() + value.mean() ** 2))
    return mean, second - mean**2


def test_golden_numbers_match_an_independent_computation() -> None:
    rng = np.random.default_rng(5)
    control = arm(10_000, rng.lognormal(3.5, 0.8, 480))
    treatment = arm(10_000, rng.lognormal(3.55, 0.8, 520))
    base, other = analyze_revenue([control, treatment])
    for data, result in ((control, base), (treatment, other)):
        mean, variance = independent_posterior(data)
        assert result.revenue_per_visitor == pytest.approx(mean, rel=1e-12)
        assert result.revenue_per_visitor_interval == pytest.approx(
            (mean - Z * math.sqrt(variance), mean + Z * math.sqrt(variance)), rel=1e-10
        )
        assert result.value_per_conversion == pytest.approx(data.revenue / data.conversions)
    (m0, v0), (m1, v1) = independent_posterior(control), independent_posterior(treatment)
    assert other.prob_beat_control == pytest.approx(
        float(stats.norm.cdf((m1 - m0) / math.sqrt(v0 + v1))), rel=1e-10
    )
    assert other.incremental_per_1000 == pytest.approx(1000 * (m1 - m0), rel=1e-12)
    low, high = other.incremental_per_1000_interval or (math.nan, math.nan)
    assert (high - low) / 2 == pytest.approx(1000 * Z * math.sqrt(v0 + v1), rel=1e-10)
    assert base.prob_beat_control == 0.5
    assert base.incremental_per_1000_interval == (0.0, 0.0)


def test_normal_combination_matches_a_monte_carlo_of_the_exact_model() -> None:
    # The delta method's only approximation is the normality of μ_t − μ_c; with a few
    # hundred conversions per arm it is within half a percentage point of the exact model.
    rng = np.random.default_rng(11)
    control = arm(4000, rng.lognormal(3.5, 0.9, 200))
    treatment = arm(4000, rng.lognormal(3.6, 0.9, 215))
    draws = 400_000

    def sample(data: ArmCounts) -> np.ndarray:
        c = data.conversions
        p = rng.beta(1 + c, 1 + data.visitors - c, draws)
        mean_value = data.revenue / c
        scale = math.sqrt((data.revenue_sq - c * mean_value**2) / (c - 1) / c)
        return p * (mean_value + scale * rng.standard_t(c - 1, draws))

    difference = sample(treatment) - sample(control)
    result = analyze_revenue([control, treatment])[1]
    assert result.prob_beat_control == pytest.approx(float(np.mean(difference > 0)), abs=0.005)
    low, high = result.incremental_per_1000_interval or (math.nan, math.nan)
    reference = 1000 * np.quantile(difference, [0.025, 0.975])
    assert low == pytest.approx(reference[0], abs=0.05 * (high - low))
    assert high == pytest.approx(reference[1], abs=0.05 * (high - low))


def test_a_higher_order_value_means_a_higher_probability() -> None:
    rng = np.random.default_rng(3)
    base_values = rng.lognormal(3.5, 0.6, 300)
    control = arm(6000, base_values)
    probabilities = []
    for lift in (0.9, 1.0, 1.05, 1.1, 1.2):
        treatment = arm(6000, base_values * lift)  # same conversions, scaled values
        probabilities.append(analyze_revenue([control, treatment])[1].prob_beat_control)
    assert probabilities == sorted(probabilities)
    assert probabilities[0] < 0.5 < probabilities[-1]
    assert probabilities[1] == pytest.approx(0.5, abs=1e-12)
    assert probabilities[-1] > 0.9


def test_intervals_cover_the_truth_in_a_seeded_simulation() -> None:
    rng = np.random.default_rng(2024)
    p0, p1, mu, sigma, visitors = 0.05, 0.056, 3.5, 0.8, 5000
    value_mean = math.exp(mu + sigma**2 / 2)
    true_rpv0, true_rpv1 = p0 * value_mean, p1 * value_mean
    true_increment = 1000 * (true_rpv1 - true_rpv0)
    runs = 400
    covered_increment = covered_rpv = 0
    for _ in range(runs):
        control = arm(visitors, rng.lognormal(mu, sigma, rng.binomial(visitors, p0)))
        treatment = arm(visitors, rng.lognormal(mu, sigma, rng.binomial(visitors, p1)))
        base, other = analyze_revenue([control, treatment])
        low, high = other.incremental_per_1000_interval or (math.nan, math.nan)
        covered_increment += low <= true_increment <= high
        low, high = base.revenue_per_visitor_interval or (math.nan, math.nan)
        covered_rpv += low <= true_rpv0 <= high
    assert 0.92 <= covered_increment / runs <= 0.98
    assert 0.92 <= covered_rpv / runs <= 0.98


def test_too_few_conversions_is_neutral_with_a_reason() -> None:
    values = np.array([40.0, 60.0, 55.0])
    few, many = arm(1000, values), arm(1000, np.full(50, 50.0) + np.arange(50))
    base, other = analyze_revenue([many, few])
    assert other.reason == TOO_FEW_CONVERSIONS
    assert other.revenue_per_visitor_interval is None
    assert other.incremental_per_1000_interval is None
    assert (other.prob_beat_control, other.incremental_per_1000) == (0.5, 0.0)
    assert other.revenue_per_visitor == pytest.approx(4 / 1002 * values.mean())
    assert base.reason is None
    # a control that cannot be compared makes every comparison neutral
    for result in analyze_revenue([few, many]):
        assert result.reason == TOO_FEW_CONVERSIONS


def test_no_data_and_single_arm() -> None:
    empty = ArmCounts(0, 0, 0.0, 0.0)
    results = analyze_revenue([empty, empty])
    assert [r.reason for r in results] == ["no_data", "no_data"]
    assert results[0].revenue_per_visitor == 0.0
    assert results[0].value_per_conversion is None
    (alone,) = analyze_revenue([ArmCounts(100, 10, 500.0, 26000.0)])
    assert alone.reason == "single_arm"


def test_identical_values_have_no_value_uncertainty() -> None:
    flat = ArmCounts(1000, 100, 5000.0, 250000.0)  # every order exactly 50
    result = analyze_revenue([flat, flat])[1]
    rate = stats.beta(101, 901)
    assert result.revenue_per_visitor_interval == pytest.approx(
        (50 * (rate.mean() - Z * rate.std()), 50 * (rate.mean() + Z * rate.std())), rel=1e-10
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"visitors": -1, "conversions": 0, "revenue": 0.0, "revenue_sq": 0.0},
            "visitors must not",
        ),
        (
            {"visitors": 5, "conversions": 6, "revenue": 1.0, "revenue_sq": 1.0},
            "6 conversions exceed 5",
        ),
        (
            {"visitors": 5, "conversions": 2, "revenue": 10.0, "revenue_sq": 20.0},
            "inconsistent sums",
        ),
        (
            {"visitors": 5, "conversions": 0, "revenue": 3.0, "revenue_sq": 9.0},
            "without conversions",
        ),
        ({"visitors": 5, "conversions": 2, "revenue": 3.0, "revenue_sq": -1.0}, "sum of squares"),
        ({"visitors": 5, "conversions": 2, "revenue": math.nan, "revenue_sq": 1.0}, "finite"),
        ({"visitors": 5.0, "conversions": 2, "revenue": 3.0, "revenue_sq": 9.0}, "integer"),
        ({"visitors": True, "conversions": 0, "revenue": 0.0, "revenue_sq": 0.0}, "integer"),
        ({"visitors": 5, "conversions": 2, "revenue": "3", "revenue_sq": 9.0}, "number"),
    ],
)
def test_misuse_raises_value_error(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        analyze_revenue([ArmCounts(**kwargs)])  # type: ignore[arg-type]


def test_misuse_of_the_analysis_raises_value_error() -> None:
    good = ArmCounts(10, 5, 50.0, 600.0)
    with pytest.raises(ValueError, match="non-empty"):
        analyze_revenue([])
    with pytest.raises(ValueError, match="control index 2 out of range"):
        analyze_revenue([good, good], control=2)
    with pytest.raises(ValueError, match="expected an ArmCounts"):
        analyze_revenue([good, (10, 5, 50.0, 600.0)])  # type: ignore[list-item]


def test_many_equals_one_at_a_time_and_bad_rows_of_a_table_are_left_out() -> None:
    rng = np.random.default_rng(9)
    experiments = [
        [arm(900, rng.lognormal(3, 0.5, 40)), arm(950, rng.lognormal(3.1, 0.5, 45))],
        [arm(500, rng.lognormal(3, 0.5, 20)), arm(520, rng.lognormal(3, 0.5, 22))],
    ]
    assert analyze_revenue_many(experiments) == [analyze_revenue(e) for e in experiments]
    table = np.array(
        [[(a.visitors, a.conversions, a.revenue, a.revenue_sq) for a in e] for e in experiments]
    )
    broken = table.copy()
    broken[1, 0, 2] = 1e9  # revenue no set of 20 values with those squares can have
    results = revenue_table(broken)
    assert results[0] == analyze_revenue(experiments[0])
    assert results[1] is None


def test_results_are_strict_json() -> None:
    results = analyze_revenue([ArmCounts(100, 2, 80.0, 3300.0), ArmCounts(100, 9, 400.0, 18000.0)])
    data = json.loads(json.dumps([r.to_dict() for r in results], allow_nan=False))
    assert data[1]["revenue_per_visitor_interval"] is not None
    assert data[0]["revenue_per_visitor_interval"] is None
