"""The business case: the projection of shipping the leader and the spend so far."""

from __future__ import annotations

import math

import pytest

from daypart.experiments.business import DAYS_PER_MONTH, business_case
from daypart.experiments.stats import ArmCounts, analyze, analyze_revenue
from daypart.rules.model import Audience, Stage

DAY = 86400.0


def test_projection_scales_the_observed_traffic_to_the_segment_and_a_month() -> None:
    results = analyze([(100, 2000), (160, 2000)])
    revenues = analyze_revenue(
        [ArmCounts(2000, 100, 10_000.0, 1_100_000.0), ArmCounts(2000, 160, 16_000.0, 1_700_000.0)]
    )
    case = business_case(
        results, revenues, ["control", "offer"], Stage(traffic=0.25), 0.0, 10 * DAY
    )
    assert case.days_running == 10.0
    assert case.visitors_per_day == 400.0
    projection = case.projection
    assert projection is not None
    assert projection.leader == "offer"
    assert projection.monthly_visitors == pytest.approx(400.0 * DAYS_PER_MONTH / 0.25)
    mean, low, high = projection.conversions
    diff = results[1].rate - results[0].rate
    assert mean == pytest.approx(projection.monthly_visitors * diff)
    assert low < mean < high
    assert low > 0  # 5% against 8% on 2,000 each: clearly better
    assert projection.revenue is not None
    per_1000 = revenues[1].incremental_per_1000
    assert projection.revenue[0] == pytest.approx(projection.monthly_visitors / 1000 * per_1000)


def test_an_audience_stage_is_projected_at_its_own_traffic() -> None:
    results = analyze([(10, 200), (20, 200)])
    stage = Stage(audience=Audience(header={"x-channel": frozenset({"callcenter"})}))
    case = business_case(results, None, ["control", "offer"], stage, 0.0, 4 * DAY)
    assert case.projection is not None
    assert case.projection.monthly_visitors == pytest.approx(100.0 * DAYS_PER_MONTH)
    assert case.projection.revenue is None
    assert case.spent_revenue is None


def test_spend_is_visitors_times_expected_loss() -> None:
    results = analyze([(100, 2000), (60, 2000)])
    revenues = analyze_revenue(
        [ArmCounts(2000, 100, 5_000.0, 260_000.0), ArmCounts(2000, 60, 3_000.0, 156_000.0)]
    )
    case = business_case(results, revenues, ["control", "worse"], Stage(), 0.0, 2 * DAY)
    expected = sum(r.visitors * r.expected_loss for r in results)
    assert case.spent_conversions == pytest.approx(expected)
    assert case.spent_conversions == pytest.approx(
        2000 * (results[0].rate - results[1].rate), rel=0.05
    )
    assert case.spent_revenue == pytest.approx(expected * 8_000.0 / 160)
    assert case.projection is None  # control leads: nothing to ship


def test_no_data_no_projection() -> None:
    case = business_case(analyze([(0, 0), (0, 0)]), None, ["a", "b"], None, 0.0, 0.0)
    assert case.projection is None
    assert case.spent_conversions == 0.0
    assert math.isclose(case.visitors_per_day, 0.0)
