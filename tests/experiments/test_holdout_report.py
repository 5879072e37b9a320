"""The holdout report: what adapting earns against the default, per goal, with the numbers
of the experiment statistics (not computed again), a month at the rule's traffic, the
sample-ratio check against the split, and the store read with and without rules."""

from __future__ import annotations

import asyncio
import math
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from daypart.experiments.business import DAYS_PER_MONTH
from daypart.experiments.holdout import ADAPTIVE, DEFAULT, Holdout, holdout_name
from daypart.experiments.holdout_report import (
    HoldoutInput,
    as_experiment_reports,
    build_holdout_reports,
    format_holdouts,
    holdout_reports_from_counts,
    rate_window,
)
from daypart.experiments.report import build_reports
from daypart.experiments.report_export import reports_csv
from daypart.experiments.stats import ArmCounts, analyze
from daypart.experiments.stats.revenue import analyze_revenue
from daypart.experiments.store.base import Cell, Conversion, ExperimentCounts, Exposure, Segment
from daypart.experiments.store.memory import MemoryStore
from daypart.rules.loader import parse_rules

NOW = 1_700_000_000.0
HOLDOUT = Holdout("commuters", 0.1, "booking", "inspiration", None)
NAME = HOLDOUT.name
RULES = """\
version: 1
site: {timezone: Europe/Amsterdam, holdout: 10%}
variants:
  inspiration: {rewrite: "/inspiration{path}"}
  booking: {rewrite: "/booking{path}"}
goals:
  booked: {method: POST, path: /booking/confirm, value_header: X-Order-Value}
  shared: {beacon: true}
rules:
  - name: commuters
    when: {device: mobile}
    serve: inspiration
  - name: everyone-else
    serve: booking
"""


def cell(exposures: int, booked: int, shared: int = 0, value: float = 0.0) -> Cell:
    return Cell(
        exposures=exposures,
        conversions={"booked": booked, "shared": shared},
        revenue={"booked": booked * value},
        revenue_sq={"booked": booked * value * value},
    )


COUNTS = ExperimentCounts(
    NAME,
    {
        (DEFAULT, "mobile", "morning", ""): cell(600, 30, 5, 100.0),
        (DEFAULT, "mobile", "evening", ""): cell(400, 10, 5, 100.0),
        (ADAPTIVE, "mobile", "morning", ""): cell(5_400, 330, 40, 110.0),
        (ADAPTIVE, "mobile", "evening", ""): cell(3_600, 150, 50, 110.0),
    },
)


def report(visitors_per_day: float = 300.0, counts: ExperimentCounts = COUNTS) -> dict:  # type: ignore[type-arg]
    source = HoldoutInput(
        HOLDOUT, counts, ["booked", "shared"], frozenset({"booked"}), visitors_per_day
    )
    return holdout_reports_from_counts([source], NOW)[0].to_dict()


def test_what_adapting_earns_is_the_experiment_statistics_of_the_two_arms() -> None:
    found = report()
    assert found["visitors"] == 10_000
    booked, shared = found["goals"]
    assert (booked["goal"], shared["goal"]) == ("booked", "shared")
    expected = analyze([(40, 1_000), (480, 9_000)])  # default first: it is the baseline
    default, adaptive = booked["arms"]
    assert (default["name"], default["variant"], default["weight"]) == (DEFAULT, "booking", 0.1)
    assert (adaptive["name"], adaptive["variant"]) == (ADAPTIVE, "inspiration")
    assert adaptive["weight"] == pytest.approx(0.9)
    assert booked["prob_beat_default"] == pytest.approx(expected[1].prob_beat_control, abs=1e-12)
    assert booked["uplift_interval"] == pytest.approx(list(expected[1].uplift_interval))
    assert booked["uplift"] == pytest.approx(expected[1].rate / expected[0].rate - 1)
    # Per 1,000 visitors adapted: the difference of the posterior means, × 1,000.
    a, d = (481 / 9_002), (41 / 1_002)
    assert booked["per_1000"]["conversions"][0] == pytest.approx(1000 * (a - d))
    low, high = booked["per_1000"]["conversions"][1:]
    assert low < 1000 * (a - d) < high
    # Revenue per 1,000, from the revenue analysis of the same counts.
    revenue = analyze_revenue(
        [
            ArmCounts(1_000, 40, 40 * 100.0, 40 * 100.0**2),
            ArmCounts(9_000, 480, 480 * 110.0, 480 * 110.0**2),
        ]
    )[1]
    assert booked["per_1000"]["revenue"][0] == pytest.approx(revenue.incremental_per_1000)
    assert revenue.incremental_per_1000_interval is not None
    assert booked["per_1000"]["revenue"][1:] == pytest.approx(
        list(revenue.incremental_per_1000_interval)
    )
    # A month: the visitors adapted a day × 30.44 days.
    month = booked["per_month"]
    assert month["monthly_visitors"] == pytest.approx(300 * DAYS_PER_MONTH)
    assert month["revenue"][0] == pytest.approx(
        300 * DAYS_PER_MONTH / 1000 * revenue.incremental_per_1000
    )
    # A goal without values has no revenue; its conversions are analysed all the same.
    assert shared["revenue"] is False
    assert shared["per_1000"]["revenue"] is None
    assert shared["prob_beat_default"] == pytest.approx(
        analyze([(10, 1_000), (90, 9_000)])[1].prob_beat_control
    )
    # Per segment: the same two arms, where adapting wins and where it loses.
    segments = {(s["device"], s["daypart"]): s for s in booked["segments"]}
    assert set(segments) == {("mobile", "morning"), ("mobile", "evening")}
    evening = segments[("mobile", "evening")]["arms"]
    assert [a["visitors"] for a in evening] == [400, 3_600]
    assert evening[1]["prob_beat_control"] == pytest.approx(
        analyze([(10, 400), (150, 3_600)])[1].prob_beat_control
    )


def test_a_worse_adaptation_shows_a_negative_value() -> None:
    counts = ExperimentCounts(
        NAME,
        {
            (DEFAULT, "mobile", "other", ""): cell(1_000, 80),
            (ADAPTIVE, "mobile", "other", ""): cell(9_000, 450),
        },
    )
    booked = report(counts=counts)["goals"][0]
    assert booked["uplift"] < 0
    assert booked["prob_beat_default"] < 0.05
    assert booked["per_month"]["conversions"][2] < 0  # the whole interval below zero


def test_the_sample_ratio_is_checked_against_the_split() -> None:
    assert report()["srm"]["flagged"] is False
    lopsided = ExperimentCounts(
        NAME,
        {
            (DEFAULT, "mobile", "other", ""): cell(2_000, 80),
            (ADAPTIVE, "mobile", "other", ""): cell(8_000, 450),
        },
    )
    found = report(counts=lopsided)
    assert found["srm"]["flagged"] is True
    assert found["srm"]["expected"] == pytest.approx([1_000, 9_000])
    assert any("sample ratio mismatch" in reason for reason in found["reasons"])


def test_without_traffic_there_is_no_month_and_without_visitors_it_says_so() -> None:
    assert report(visitors_per_day=0.0)["goals"][0]["per_month"] is None
    empty = report(counts=ExperimentCounts(NAME))
    assert empty["visitors"] == 0
    assert "no exposures yet" in empty["reasons"]


def test_csv_and_text_lay_a_holdout_out_like_an_experiment() -> None:
    found = report()
    rows = reports_csv(as_experiment_reports(found)).splitlines()
    assert rows[1].startswith(f"{NAME},booked,,,,all,all,all,,default,booking,0.1,1000,40,")
    assert sum(1 for row in rows if row.startswith(f"{NAME},shared,")) == 6  # 2 pooled + 2×2
    text = format_holdouts([found])
    assert "holdout of commuters: 10% see booking instead of inspiration" in text
    assert "booked: adapting +" in text
    assert "P(beat default)" in text


def _record(store: MemoryStore, day: int, arm: str, visitors: int, booked: int) -> None:
    records: list[Exposure | Conversion] = []
    for i in range(visitors):
        visitor = f"{arm}-{day}-{i}"
        records.append(Exposure(NAME, arm, Segment("mobile", "other"), visitor, day))
        if i < booked:
            records.append(
                Conversion(NAME, arm, Segment("mobile", "other"), visitor, "booked", 50.0, day)
            )
    asyncio.run(store.record(records))


def test_reports_from_the_store_with_and_without_rules() -> None:
    zone = ZoneInfo("Europe/Amsterdam")
    now = datetime(2026, 3, 10, 12, 0, tzinfo=zone).timestamp()
    today = datetime.fromtimestamp(now, zone).date().toordinal()
    store = MemoryStore()
    _record(store, today - 2, ADAPTIVE, 900, 90)
    _record(store, today - 2, DEFAULT, 100, 5)
    _record(store, today - 40, ADAPTIVE, 50, 0)  # outside the 28-day window
    ruleset = parse_rules(RULES)
    [found] = asyncio.run(build_holdout_reports(store, ruleset, now))
    assert (found.rule, found.name, found.visitors) == ("commuters", NAME, 1_050)
    # 900 adapted from the first day in the window's midnight to now: 2.5 days.
    assert found.visitors_per_day == pytest.approx(900 / 2.5)
    assert asyncio.run(rate_window(store, NAME, zone, now)) == pytest.approx(360.0)
    assert [g.goal for g in found.goals] == ["booked", "shared"]
    assert found.goals[0].revenue is True
    # Without rules: the holdouts the store knows, their split from the name; never an
    # experiment of their own.
    [stand_in] = asyncio.run(build_holdout_reports(store, None, now))
    assert (stand_in.rule, stand_in.share) == ("commuters", 0.1)
    assert [g.goal for g in stand_in.goals] == ["booked"]
    assert stand_in.srm.expected == pytest.approx((105.0, 945.0))
    assert asyncio.run(build_reports(store, None, now)) == []
    assert holdout_name("commuters", 0.1) == NAME


def test_an_interval_is_a_credible_one() -> None:
    """The reported uplift interval covers the true uplift about 95% of the time: counts
    drawn from known rates (a seeded binomial draw, no site needed)."""
    import numpy as np

    rng = np.random.default_rng(7)
    covered = 0
    runs = 200
    for _ in range(runs):
        d, a = rng.binomial(2_000, 0.05), rng.binomial(18_000, 0.06)
        counts = ExperimentCounts(
            NAME,
            {
                (DEFAULT, "mobile", "other", ""): cell(2_000, int(d)),
                (ADAPTIVE, "mobile", "other", ""): cell(18_000, int(a)),
            },
        )
        low, high = report(counts=counts)["goals"][0]["uplift_interval"]
        covered += low <= 0.2 <= high
    assert math.isclose(covered / runs, 0.95, abs_tol=0.04)
