"""The experiment page's charts over time: every day with data shows, the first one too."""

from __future__ import annotations

import re
from typing import Any

from daypart.middleware.admin.charts import timeline_charts


def _timeline(days: int) -> dict[str, Any]:
    def arm(name: str, rate: float) -> dict[str, Any]:
        return {
            "name": name,
            "visitors": [100] * days,
            "conversions": [int(rate * 100)] * days,
            "cumulative_rate": [rate] * days,
            "rate_interval": [(rate - 0.01, rate + 0.01)] * days,
            "prob_beat_control": [None if name == "control" else 0.8] * days,
        }

    return {
        "days": [f"2026-11-{24 + d}" for d in range(days)],
        "arms": [arm("control", 0.04), arm("offer", 0.05)],
    }


def test_a_single_day_draws_a_dot_per_arm_and_its_interval() -> None:
    svg = timeline_charts(_timeline(1))
    # rate (2 arms) + P(beat control) (the treatment) + visitors (2 arms)
    assert len(re.findall(r"<circle ", svg)) == 5
    assert len(re.findall(r"stroke-width='10'", svg)) == 2  # each arm's interval as a bar
    assert "2026-11-24" in svg


def test_several_days_draw_lines_and_bands() -> None:
    svg = timeline_charts(_timeline(3))
    assert "<circle " not in svg
    assert len(re.findall(r"<polygon ", svg)) == 2
    # rate (2) + the 50% guide + P(beat control) (1) + visitors (2)
    assert len(re.findall(r"<polyline ", svg)) == 6
