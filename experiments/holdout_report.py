"""The holdout report: what each adaptive rule earns against the default variant.

A priced rule's holdout (``experiments.holdout``) is counted as a pseudo-experiment with
the arms ``default`` (held-out visitors) and ``adaptive`` (the rest), so its report is an
experiment report: the same statistics per arm and per device × daypart segment, the
same revenue analysis, the same sample-ratio check against the split — computed by
``report.reports_from_counts``, not again here. A holdout counts every goal, so it has
one analysis per goal of the rules, each with what adapting earns on it:

- ``uplift``: the adaptive arm's rate over the default's, minus 1 (posterior means), with
  its 95% credible interval, and ``prob_beat_default``;
- ``per_1000``: extra conversions (and revenue, on goals with values) per 1,000 visitors
  adapted, with 95% intervals;
- ``per_month``: the same for the visitors the rule adapts in a month — the adaptive arm's
  newly counted visitors per day over the last 28 days (from its first day, if later),
  times 30.44 (``business.project``, as an experiment's business case).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from daypart.experiments.business import DAY, DAYS_PER_MONTH, Projection, project
from daypart.experiments.holdout import (
    ADAPTIVE,
    ARMS,
    DEFAULT,
    Holdout,
    holdouts_of,
    parse_holdout_name,
    share_label,
)
from daypart.experiments.report import ArmReport, ReportInput, SegmentReport, reports_from_counts
from daypart.experiments.report_export import _arm_rows, _table, srm_label
from daypart.experiments.state import RolloutState
from daypart.experiments.stats import SrmResult, srm_check
from daypart.experiments.store.base import ExperimentCounts, Store
from daypart.rules.localtime import zone_named
from daypart.rules.model import RuleSet

__all__ = [
    "HoldoutGoal",
    "HoldoutInput",
    "HoldoutReport",
    "as_experiment_reports",
    "build_holdout_reports",
    "format_holdouts",
    "holdout_reports_from_counts",
    "rate_window",
]

RATE_WINDOW_DAYS = 28  # whole weeks: every weekday (and daypart) weighs the same
# The reports are experiment reports of a state that never runs gates; the one reason that
# state adds is not the holdout's.
_STATE = RolloutState(status="completed")
_NOT_THE_HOLDOUTS = "experiment is completed"


@dataclass(frozen=True, slots=True)
class HoldoutGoal:
    """A holdout on one goal: the two arms, pooled and per segment, and what adapting earns."""

    goal: str
    revenue: bool  # whether the arms carry revenue fields
    arms: tuple[ArmReport, ...]  # default, adaptive
    segments: tuple[SegmentReport, ...]
    uplift: float | None  # relative; None without conversions in the default arm
    uplift_interval: tuple[float, float]
    prob_beat_default: float
    per_1000: Projection  # extra per 1,000 adapted visitors: conversions (and revenue)
    per_month: Projection | None  # extra per month at the rule's traffic; None without any
    reasons: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "goal": self.goal,
            "revenue": self.revenue,
            "uplift": self.uplift,
            "uplift_interval": list(self.uplift_interval),
            "prob_beat_default": self.prob_beat_default,
            "per_1000": self.per_1000.to_dict(),
            "per_month": None if self.per_month is None else self.per_month.to_dict(),
            "reasons": list(self.reasons),
            "arms": [arm.to_dict() for arm in self.arms],
            "segments": [segment.to_dict() for segment in self.segments],
        }


@dataclass(frozen=True, slots=True)
class HoldoutReport:
    rule: str
    name: str  # the pseudo-experiment's name in the store
    share: float
    default_variant: str | None
    adaptive_variant: str
    experiment: str | None  # the rule's experiment
    visitors: int  # both arms
    visitors_per_day: float  # the adaptive arm's, over the recent window
    srm: SrmResult
    reasons: tuple[str, ...]
    goals: tuple[HoldoutGoal, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "name": self.name,
            "share": self.share,
            "default_variant": self.default_variant,
            "adaptive_variant": self.adaptive_variant,
            "experiment": self.experiment,
            "visitors": self.visitors,
            "visitors_per_day": self.visitors_per_day,
            "srm": self.srm.to_dict(),
            "reasons": list(self.reasons),
            "goals": [goal.to_dict() for goal in self.goals],
        }


def as_experiment_reports(holdout: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A ``HoldoutReport.to_dict()`` as experiment-report dicts, one per goal, so that the
    CSV export and ``daypart report`` lay holdouts out as they lay out experiments."""
    name = str(holdout["name"])
    return [
        {
            "experiment": name,
            "goal": goal["goal"],
            "state": {},
            "stage_label": f"holdout {share_label(float(holdout['share']))}",
            "light": "",
            "visitors": holdout["visitors"],
            "revenue": goal["revenue"],
            "srm": holdout["srm"],
            "arms": goal["arms"],
            "segments": goal["segments"],
            "reasons": goal["reasons"],
        }
        for goal in holdout["goals"]
    ]


@dataclass(frozen=True, slots=True)
class HoldoutInput:
    """What one holdout report is computed from (see ``holdout_reports_from_counts``)."""

    holdout: Holdout
    counts: ExperimentCounts
    goals: Sequence[str]
    revenue_goals: frozenset[str] | None = None  # None: decide from the data
    visitors_per_day: float = 0.0  # the adaptive arm's newly counted visitors per day


def holdout_reports_from_counts(sources: Sequence[HoldoutInput], now: float) -> list[HoldoutReport]:
    """The holdout reports, with every analysis (pooled and per segment, per goal,
    conversion and revenue) computed in one vectorised call."""
    inputs = [
        ReportInput(
            source.holdout.experiment_for(goal),
            source.counts,
            _STATE,
            None if source.revenue_goals is None else goal in source.revenue_goals,
        )
        for source in sources
        for goal in source.goals
    ]
    reports = iter(reports_from_counts(inputs, now))
    found = []
    for source in sources:
        holdout = source.holdout
        goals = []
        srm: SrmResult | None = None
        visitors = 0
        for _ in source.goals:
            report = next(reports)
            srm, visitors = report.srm, report.visitors
            reasons = tuple(r for r in report.reasons if r != _NOT_THE_HOLDOUTS)
            goals.append(
                _goal_report(
                    report.goal, report.revenue, report.arms, report.segments, reasons, source
                )
            )
        if srm is None:  # no goals: the split alone
            totals = [0, 0]
            for (arm, *_), cell in source.counts.cells.items():
                if arm in ARMS:
                    totals[ARMS.index(arm)] += cell.exposures
            srm, visitors = srm_check(totals, [holdout.share, 1 - holdout.share]), sum(totals)
        found.append(
            HoldoutReport(
                rule=holdout.rule,
                name=holdout.name,
                share=holdout.share,
                default_variant=holdout.default_variant,
                adaptive_variant=holdout.adaptive_variant,
                experiment=holdout.experiment,
                visitors=visitors,
                visitors_per_day=source.visitors_per_day,
                srm=srm,
                reasons=_shared_reasons(goals, visitors),
                goals=tuple(goals),
            )
        )
    return found


def _goal_report(
    goal: str,
    revenue: bool,
    arms: tuple[ArmReport, ...],
    segments: tuple[SegmentReport, ...],
    reasons: tuple[str, ...],
    source: HoldoutInput,
) -> HoldoutGoal:
    results = [arm.result for arm in arms]
    revenues = [arm.revenue for arm in arms if arm.revenue is not None]
    by_arm = revenues if revenue and len(revenues) == len(arms) else None
    default, adaptive = results
    uplift = adaptive.rate / default.rate - 1.0 if default.conversions and default.rate else None
    monthly = source.visitors_per_day * DAYS_PER_MONTH
    return HoldoutGoal(
        goal=goal,
        revenue=by_arm is not None,
        arms=arms,
        segments=segments,
        uplift=uplift,
        uplift_interval=adaptive.uplift_interval,
        prob_beat_default=adaptive.prob_beat_control,
        per_1000=project(results, by_arm, ARMS, 1, 1000.0),
        per_month=project(results, by_arm, ARMS, 1, monthly) if monthly > 0 else None,
        reasons=reasons,
    )


def _shared_reasons(goals: Sequence[HoldoutGoal], visitors: int) -> tuple[str, ...]:
    """The reasons of every goal, once; those of only some goals name the goal."""
    if not goals:
        return () if visitors else ("no exposures yet",)
    everywhere = set(goals[0].reasons).intersection(*(g.reasons for g in goals[1:]))
    found: dict[str, None] = {}
    for goal in goals:
        for reason in goal.reasons:
            found[reason if reason in everywhere else f"{goal.goal}: {reason}"] = None
    return tuple(found)


# -- reading the store ------------------------------------------------------------------


async def rate_window(store: Store, name: str, zone: ZoneInfo, now: float) -> float:
    """The adaptive arm's newly counted visitors per day over the last ``RATE_WINDOW_DAYS``
    site-local days (from the first day with any, if later; at least one day)."""
    today = datetime.fromtimestamp(now, zone).date().toordinal()
    daily = await store.daily(name, today - RATE_WINDOW_DAYS + 1, today)
    days = [day for day, arms in daily.items() if any(cell.exposures for cell in arms.values())]
    if not days:
        return 0.0
    first = date.fromordinal(min(days))
    start = datetime(first.year, first.month, first.day, tzinfo=zone).timestamp()
    adapted = sum(arms[ADAPTIVE].exposures for arms in daily.values() if ADAPTIVE in arms)
    return adapted / max((now - start) / DAY, 1.0)


def _stand_in(name: str, counts: ExperimentCounts) -> tuple[Holdout, list[str]] | None:
    """A holdout the rules no longer (or never) describe, from its name and counts: its
    goals are those with conversions, most first."""
    parsed = parse_holdout_name(name)
    if parsed is None:
        return None
    conversions: dict[str, int] = {}
    for cell in counts.cells.values():
        for goal, count in cell.conversions.items():
            conversions[goal] = conversions.get(goal, 0) + count
    goals = sorted(conversions, key=lambda g: (-conversions[g], g))
    return Holdout(parsed[0], parsed[1], DEFAULT, ADAPTIVE, None), goals


async def build_holdout_reports(
    store: Store, ruleset: RuleSet | None, now: float | None = None
) -> list[HoldoutReport]:
    """Reports on every holdout the rules count (in rule order), on every goal of the
    rules; without rules, on every holdout the store has counts of."""
    now = time.time() if now is None else now
    zone = (zone_named(ruleset.site.timezone) if ruleset else None) or ZoneInfo("UTC")
    sources = []
    if ruleset is not None:
        goals = list(ruleset.goals)
        valued = frozenset(n for n, g in ruleset.goals.items() if g.value_header is not None)
        for holdout in holdouts_of(ruleset):
            counts = await store.counts(holdout.name)
            per_day = await rate_window(store, holdout.name, zone, now)
            sources.append(HoldoutInput(holdout, counts, goals, valued, per_day))
    else:
        for name in await store.experiments():
            if parse_holdout_name(name) is None:
                continue
            counts = await store.counts(name)
            found = _stand_in(name, counts)
            if found is not None:
                per_day = await rate_window(store, name, zone, now)
                sources.append(HoldoutInput(found[0], counts, found[1], None, per_day))
    return holdout_reports_from_counts(sources, now)


# -- as text ----------------------------------------------------------------------------


def _signed(triple: object, digits: int = 0) -> str:
    if not isinstance(triple, list | tuple) or len(triple) != 3:
        return "–"
    mean, low, high = (float(v) for v in triple)
    return f"{mean:+,.{digits}f} ({low:+,.{digits}f} … {high:+,.{digits}f})"


def format_holdouts(holdouts: Sequence[Mapping[str, Any]]) -> str:
    """A plain-text rendering of ``HoldoutReport.to_dict()`` reports for ``daypart report``."""
    if not holdouts:
        return "no holdouts"
    blocks = []
    for holdout in holdouts:
        srm_text = srm_label(holdout.get("srm"))
        lines = [
            f"holdout of {holdout.get('rule')}: {share_label(float(holdout.get('share', 0)))} "
            f"see {holdout.get('default_variant') or 'the unchanged page'} instead of "
            f"{holdout.get('adaptive_variant')} · {holdout.get('visitors', 0)} visitors · "
            f"{float(holdout.get('visitors_per_day') or 0):,.0f} adapted a day · {srm_text}"
        ]
        for goal in holdout.get("goals", []):
            revenue = bool(goal.get("revenue"))
            uplift = goal.get("uplift")
            low, high = (goal.get("uplift_interval") or (None, None))[:2]
            month = goal.get("per_month") or {}
            per_1000 = goal.get("per_1000") or {}
            lines.append(
                f"  {goal.get('goal')}: adapting "
                + ("–" if not isinstance(uplift, float) else f"{uplift * 100:+.1f}%")
                + f" ({_pct(low)} … {_pct(high)}), P(beat default) "
                f"{_pct(goal.get('prob_beat_default'))}"
            )
            lines.append(
                f"    per 1,000 visitors: {_signed(per_1000.get('conversions'), 1)} conversions"
                + (f", {_signed(per_1000.get('revenue'))} revenue" if revenue else "")
            )
            lines.append(
                f"    a month: {_signed(month.get('conversions'))} conversions"
                + (f", {_signed(month.get('revenue'))} revenue" if revenue else "")
            )
            header = ["arm", "visitors", "conv", "rate", "rate 95%", "uplift 95%", "P(beat)",
                      "P(best)", "exp. loss"]  # fmt: skip
            if revenue:
                header += ["rev/visitor", "Δrev/1000"]
            rows = [header, *_arm_rows(goal.get("arms", []), revenue)]
            lines += ["    " + line for line in _table(rows)]
        lines += [f"  ! {reason}" for reason in holdout.get("reasons", [])]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _pct(value: object) -> str:
    return "–" if not isinstance(value, int | float) else f"{value * 100:.1f}%"
