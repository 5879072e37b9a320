"""The experiment over time: daily counts in, cumulative analyses per day out."""

from __future__ import annotations

from datetime import date

import pytest

from daypart.experiments.stats import analyze
from daypart.experiments.store.base import Cell
from daypart.experiments.timeline import build_timeline
from daypart.rules.model import Arm, Experiment

OFFER = Experiment("offer", (Arm("control", "a"), Arm("offer", "b")), goal="booked")
MONDAY = date(2026, 11, 23).toordinal()


def test_cumulative_analysis_per_day_equals_analyzing_the_running_totals() -> None:
    daily = {
        MONDAY: {"control": Cell(100, {"booked": 5}), "offer": Cell(100, {"booked": 9})},
        # Tuesday: no data at all
        MONDAY + 2: {
            "control": Cell(50, {"booked": 2, "shared": 7}),
            "offer": Cell(40, {"booked": 6}),
        },
    }
    timeline = build_timeline(OFFER, daily, MONDAY, MONDAY + 2)
    assert timeline.days == ("2026-11-23", "2026-11-24", "2026-11-25")
    control, offer = timeline.arms
    assert control.visitors == (100, 0, 50)
    assert control.conversions == (5, 0, 2)  # the experiment's goal only
    assert offer.visitors == (100, 0, 40)
    expected = analyze([(7, 150), (15, 140)])
    assert control.cumulative_rate[2] == pytest.approx(expected[0].rate)
    assert offer.rate_interval[2] == pytest.approx(expected[1].rate_interval)
    assert offer.prob_beat_control[2] == pytest.approx(expected[1].prob_beat_control)
    assert offer.prob_beat_control[0] == pytest.approx(
        analyze([(5, 100), (9, 100)])[1].prob_beat_control
    )
    assert offer.cumulative_rate[1] == offer.cumulative_rate[0]  # no new data on Tuesday
    assert control.prob_beat_control == (None, None, None)  # control against itself: none
    assert timeline.to_dict()["arms"][1]["visitors"] == [100, 0, 40]


def test_a_day_with_inconsistent_totals_has_no_analysis() -> None:
    daily = {
        MONDAY: {"control": Cell(0, {"booked": 3}), "offer": Cell(10, {"booked": 1})},
        MONDAY + 1: {"control": Cell(20, {"booked": 1}), "offer": Cell(10, {"booked": 1})},
    }
    control, offer = build_timeline(OFFER, daily, MONDAY, MONDAY + 1).arms
    assert control.cumulative_rate[0] is None
    assert offer.prob_beat_control[0] is None
    assert control.cumulative_rate[1] is not None  # 4 of 20: consistent again


def test_no_data_gives_the_prior_for_every_day() -> None:
    control, _ = build_timeline(OFFER, {}, MONDAY, MONDAY + 6).arms
    assert control.visitors == (0,) * 7
    assert control.cumulative_rate == (0.5,) * 7
