"""The experiment over time: per day, each arm's visitors and conversions that day, and the
cumulative conversion rate with its 95% interval and the cumulative probability to beat
control as the evidence stood at the end of that day.

A result that swings from day to day is a lucky week; one that settles is evidence. The
cumulative analyses of all days are one vectorised ``analyze_many`` call. A day whose
cumulative counts are inconsistent (more conversions than visitors after the store lost
data) has no analysis (None) rather than a wrong one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from daypart.experiments.data_quality import counts_problem
from daypart.experiments.stats import analyze_many
from daypart.experiments.store.base import DailyCounts
from daypart.rules.model import Experiment


@dataclass(frozen=True, slots=True)
class ArmSeries:
    name: str
    visitors: tuple[int, ...]  # exposed that day
    conversions: tuple[int, ...]  # on the experiment's goal that day
    cumulative_rate: tuple[float | None, ...]
    rate_interval: tuple[tuple[float, float] | None, ...]
    prob_beat_control: tuple[float | None, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "visitors": list(self.visitors),
            "conversions": list(self.conversions),
            "cumulative_rate": list(self.cumulative_rate),
            "rate_interval": [None if i is None else list(i) for i in self.rate_interval],
            "prob_beat_control": list(self.prob_beat_control),
        }


@dataclass(frozen=True, slots=True)
class Timeline:
    experiment: str
    goal: str
    days: tuple[str, ...]  # ISO dates, the site's local days, oldest first
    arms: tuple[ArmSeries, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "experiment": self.experiment,
            "goal": self.goal,
            "days": list(self.days),
            "arms": [arm.to_dict() for arm in self.arms],
        }


def build_timeline(
    experiment: Experiment, daily: DailyCounts, first_day: int, last_day: int
) -> Timeline:
    """The series of ``experiment`` over the days ``first_day``..``last_day`` (date
    ordinals, the store's ``daily`` counts)."""
    names = [arm.name for arm in experiment.arms]
    goal = experiment.goal
    days = range(first_day, last_day + 1)
    visitors = [[0] * len(days) for _ in names]
    conversions = [[0] * len(days) for _ in names]
    for d, day in enumerate(days):
        for a, name in enumerate(names):
            cell = daily.get(day, {}).get(name)
            if cell is not None:
                visitors[a][d] = cell.exposures
                conversions[a][d] = cell.conversions.get(goal, 0)
    cumulative: list[list[tuple[int, int]]] = []  # per day, (conversions, visitors) per arm
    totals = [[0, 0] for _ in names]
    for d in range(len(days)):
        for a in range(len(names)):
            totals[a][0] += conversions[a][d]
            totals[a][1] += visitors[a][d]
        cumulative.append([(c, v) for c, v in totals])
    usable = [
        d
        for d, arms in enumerate(cumulative)
        if arms and all(counts_problem(v, c) is None for c, v in arms)
    ]
    results = dict(zip(usable, analyze_many([cumulative[d] for d in usable]), strict=True))
    series = []
    for a, name in enumerate(names):
        per_day = [results.get(d) for d in range(len(days))]
        series.append(
            ArmSeries(
                name,
                tuple(visitors[a]),
                tuple(conversions[a]),
                tuple(None if r is None else r[a].rate for r in per_day),
                tuple(None if r is None else r[a].rate_interval for r in per_day),
                tuple(None if r is None or a == 0 else r[a].prob_beat_control for r in per_day),
            )
        )
    return Timeline(
        experiment.name,
        goal,
        tuple(date.fromordinal(day).isoformat() for day in days),
        tuple(series),
    )
