"""The business case of an experiment, in conversions and money: what shipping the leading
arm would bring per month, and what the experiment has spent so far.

**Projection.** If the leading arm (the arm most likely best) ships, the expected extra
conversions per visitor are ``E[p_leader] − E[p_control]`` from the Beta posteriors, with a
95% interval from their variances (normal approximation of the difference, accurate once
each arm has a few dozen conversions); revenue uses the revenue analysis' incremental
revenue per 1,000 visitors and its interval. Both are scaled to a month (30.44 days) of the
rule's traffic: the visitors exposed per day so far, divided by the current stage's share
of traffic when the stage is a plain share (5% of the segment exposed → the segment is 20×
that); an audience stage (the call-centre channel) is projected at its own traffic.

**Spend.** What the experiment has given up so far by showing arms that may be worse: each
arm's visitors times its expected loss, ``E[max_j p_j − p_i]`` (the posterior expected
regret), summed over arms, in conversions; in money, those conversions at the observed
value per conversion. Early on it is mostly uncertainty; as evidence grows it converges to
what the worse arms really cost. ``spend`` is that one computation; a ``budget`` in the
rules caps it (the gates compare, ``gates.judge_budget``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from daypart.experiments.stats import ArmCounts, ArmResult, RevenueResult, analyze
from daypart.rules.model import Stage

DAYS_PER_MONTH = 30.44
DAY = 86400.0
Z95 = 1.959963984540054


@dataclass(frozen=True, slots=True)
class Projection:
    leader: str
    monthly_visitors: float
    conversions: tuple[float, float, float]  # extra per month: mean, low, high
    revenue: tuple[float, float, float] | None  # extra per month, when goals carry values

    def to_dict(self) -> dict[str, Any]:
        return {
            "leader": self.leader,
            "monthly_visitors": self.monthly_visitors,
            "conversions": list(self.conversions),
            "revenue": None if self.revenue is None else list(self.revenue),
        }


@dataclass(frozen=True, slots=True)
class BusinessCase:
    days_running: float
    visitors_per_day: float
    projection: Projection | None  # None while control leads or there is no data
    spent_conversions: float
    spent_revenue: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "days_running": self.days_running,
            "visitors_per_day": self.visitors_per_day,
            "projection": None if self.projection is None else self.projection.to_dict(),
            "spent_conversions": self.spent_conversions,
            "spent_revenue": self.spent_revenue,
        }


@dataclass(frozen=True, slots=True)
class Spend:
    """What an experiment has given up so far on arms that may be worse."""

    conversions: float
    revenue: float | None  # None: the goal carries no values, or nothing converted yet

    def of(self, unit: str) -> float | None:
        """The spend in ``unit`` (``conversions`` or ``revenue``); None when unknown."""
        return self.conversions if unit == "conversions" else self.revenue


def spend(results: Sequence[ArmResult], revenue: float | None) -> Spend:
    """Each arm's visitors times its expected loss, summed (the posterior expected regret),
    in conversions; in money at the observed value per conversion. ``results``: the pooled
    analysis per arm; ``revenue``: the goal's recorded value over every arm, None when the
    goal carries no values."""
    conversions = sum(r.visitors * r.expected_loss for r in results)
    converted = sum(r.conversions for r in results)
    money = None
    if revenue is not None and converted > 0:
        money = conversions * revenue / converted
    return Spend(conversions, money)


def spend_of(totals: Sequence[ArmCounts], values: bool) -> Spend:
    """``spend`` from the pooled counts per arm (the evaluator's input); ``values``: whether
    the goal carries values (the report's rule: a value header, or values recorded)."""
    results = analyze([t.pair for t in totals], control=0)
    return spend(results, sum(t.revenue for t in totals) if values else None)


def _beta_moments(result: ArmResult) -> tuple[float, float]:
    a = 1.0 + result.conversions
    b = 1.0 + result.visitors - result.conversions
    return a / (a + b), a * b / ((a + b) ** 2 * (a + b + 1.0))


def business_case(
    results: Sequence[ArmResult],
    revenues: Sequence[RevenueResult] | None,
    names: Sequence[str],
    stage: Stage | None,
    started: float,
    now: float,
) -> BusinessCase:
    """``results`` (and ``revenues``): the pooled analysis per arm, control first."""
    visitors = sum(r.visitors for r in results)
    days = max((now - started) / DAY, 0.0)
    per_day = visitors / max(days, 1.0)
    spent = spend(results, None if revenues is None else sum(r.revenue for r in revenues))
    projection = None
    if visitors > 0 and len(results) > 1:
        leader = max(range(len(results)), key=lambda i: results[i].prob_best)
        if leader != 0:
            share = 1.0
            if stage is not None and stage.audience is None and 0.0 < stage.traffic < 1.0:
                share = stage.traffic
            monthly = per_day * DAYS_PER_MONTH / share
            projection = project(results, revenues, names, leader, monthly)
    return BusinessCase(days, per_day, projection, spent.conversions, spent.revenue)


def project(
    results: Sequence[ArmResult],
    revenues: Sequence[RevenueResult] | None,
    names: Sequence[str],
    arm: int,
    monthly_visitors: float,
) -> Projection:
    """What ``monthly_visitors`` a month seeing arm ``arm`` rather than the control
    (``results[0]``) bring in extra conversions (and revenue, with ``revenues``): the mean
    and 95% interval, negative when the arm is worse."""
    mean_l, var_l = _beta_moments(results[arm])
    mean_c, var_c = _beta_moments(results[0])
    diff, spread = mean_l - mean_c, Z95 * math.sqrt(var_l + var_c)
    monthly = monthly_visitors
    conversions = (monthly * diff, monthly * (diff - spread), monthly * (diff + spread))
    revenue = None
    if revenues is not None:
        found = revenues[arm]
        interval = found.incremental_per_1000_interval
        if interval is not None:
            scale = monthly / 1000.0
            revenue = (
                scale * found.incremental_per_1000,
                scale * interval[0],
                scale * interval[1],
            )
    return Projection(names[arm], monthly, conversions, revenue)
