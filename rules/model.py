"""The rule language as typed, immutable Python objects.

The loader (``daypart.rules.loader``) turns YAML into these; everything downstream
(matcher, experiments, middleware) reads only these, never YAML. Every object keeps the
``Location`` it came from so later checks (lint, explain) can point at the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Device = Literal["mobile", "tablet", "desktop", "bot"]
DEVICES: tuple[Device, ...] = ("mobile", "tablet", "desktop", "bot")

# Monday is 0, as ``datetime.weekday()`` counts.
DAY_NAMES: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKDAYS: frozenset[int] = frozenset(range(5))
WEEKEND: frozenset[int] = frozenset({5, 6})
ALL_DAYS: frozenset[int] = frozenset(range(7))
MINUTES_PER_DAY = 24 * 60

VisitorKind = Literal["new", "returning"]


@dataclass(frozen=True, slots=True)
class Location:
    file: str
    line: int  # 1-based
    column: int  # 1-based

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True)
class TimezoneSource:
    kind: Literal["cookie", "header"]
    name: str  # header names are stored lower-case


@dataclass(frozen=True, slots=True)
class ChannelSource:
    kind: Literal["query", "header", "cookie"]
    name: str  # header names are stored lower-case


@dataclass(frozen=True, slots=True)
class Site:
    timezone: str = "UTC"  # an IANA name, validated by the loader
    timezone_from: tuple[TimezoneSource, ...] = ()
    # The pages daypart adapts (path globs); None: every path. Requests outside still have
    # their goals counted, but are never rewritten, so a catch-all "/booking{path}" rule
    # cannot swallow the booking form's own POST.
    paths: tuple[str, ...] | None = None
    # The share of visitors (0..1) held out of the adaptive rules: they see the default
    # variant and enter no experiment, so that what adapting earns can be measured.
    holdout: float = 0.0
    # Where a request's channel is read, first source present wins; and the channels
    # counted (lower-case names). Both empty: no channel dimension (``daypart.rules.channels``).
    channel_from: tuple[ChannelSource, ...] = ()
    channels: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Daypart:
    """A weekly window in the visitor's local time.

    ``start``/``end`` are minutes since local midnight, ``end`` exclusive, ``end`` may be
    1440 ("24:00"). A window with ``end <= start`` crosses midnight and belongs to the day
    it starts on: ``night: {days: [fri], from: "23:00", to: "02:00"}`` covers Friday 23:00
    to Saturday 02:00.
    """

    name: str
    days: frozenset[int] = ALL_DAYS
    start: int = 0
    end: int = MINUTES_PER_DAY
    location: Location | None = None

    @property
    def crosses_midnight(self) -> bool:
        return self.end <= self.start

    def contains(self, weekday: int, minute: int) -> bool:
        if not self.crosses_midnight:
            return weekday in self.days and self.start <= minute < self.end
        if minute >= self.start:
            return weekday in self.days
        return minute < self.end and (weekday - 1) % 7 in self.days


@dataclass(frozen=True, slots=True)
class Variant:
    name: str
    rewrite: str | None = None  # template; "{path}" is the original path
    headers: Mapping[str, str] = field(default_factory=dict)  # request headers to set
    location: Location | None = None


StatusClass = str  # "2xx" / "3xx" / ... or an exact code such as "201"


@dataclass(frozen=True, slots=True)
class Goal:
    name: str
    method: str | None = None  # upper-case
    path: str | None = None  # glob: "*" within one segment, "**" across segments
    status: StatusClass | None = None
    value_header: str | None = None  # lower-case response header carrying a value
    beacon: bool = False  # may be reported by POST /_daypart/convert
    location: Location | None = None


@dataclass(frozen=True, slots=True)
class Condition:
    """The ``when`` of a rule. ``None`` means "any"; every given field must match.

    Value sets hold exact strings; the single value ``"*"`` means "present, any value".
    """

    device: frozenset[str] | None = None
    daypart: frozenset[str] | None = None  # any of these dayparts
    days: frozenset[int] | None = None
    path: tuple[str, ...] | None = None  # globs, any of them
    method: frozenset[str] | None = None  # upper-case
    query: Mapping[str, frozenset[str]] = field(default_factory=dict)
    header: Mapping[str, frozenset[str]] = field(default_factory=dict)  # lower-case names
    cookie: Mapping[str, frozenset[str]] = field(default_factory=dict)
    visitor: VisitorKind | None = None

    @property
    def is_empty(self) -> bool:
        return (
            self.device is None
            and self.daypart is None
            and self.days is None
            and self.path is None
            and self.method is None
            and not self.query
            and not self.header
            and not self.cookie
            and self.visitor is None
        )


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    serve: str  # variant name
    when: Condition = field(default_factory=Condition)
    experiment: str | None = None
    location: Location | None = None
    holdout: float | None = None  # this rule's holdout share; None: the site's

    @property
    def is_catch_all(self) -> bool:
        return self.when.is_empty


@dataclass(frozen=True, slots=True)
class Audience:
    """Who an audience stage includes: every given matcher must match."""

    query: Mapping[str, frozenset[str]] = field(default_factory=dict)
    header: Mapping[str, frozenset[str]] = field(default_factory=dict)
    cookie: Mapping[str, frozenset[str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Stage:
    """One rollout stage: the audience (if any) and the share of traffic (0..1) included."""

    traffic: float = 1.0
    audience: Audience | None = None
    location: Location | None = None


@dataclass(frozen=True, slots=True)
class Arm:
    name: str
    variant: str
    weight: float = 1.0  # relative; normalised by the experiment
    location: Location | None = None


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The evidence one step of a rollout needs (every threshold given must hold); None:
    not asked for. The best treatment (highest probability to beat control) is judged."""

    prob_beat_control: float | None = None  # at least this
    prob_worse_than_control_below: float | None = None
    expected_loss_below: float | None = None  # absolute: in conversion rate
    # The expected loss as a share of control's rate: the same gate at any base rate.
    expected_relative_loss_below: float | None = None


# Stages are about risk, shipping is about evidence: a stage grows once the treatment is
# unlikely to be worse at a small expected loss; the last step (to everyone) needs the
# evidence that it is better. Tuned by ``make simulate`` (docs/design.md, The tuned gates).
GROW = Thresholds(prob_worse_than_control_below=0.2, expected_relative_loss_below=0.05)
SHIP = Thresholds(prob_beat_control=0.997, expected_relative_loss_below=0.01)
# ``advance_when`` (one threshold for every step, the older form) without values.
ADVANCE = Thresholds(prob_beat_control=0.95, expected_loss_below=0.001)


Decide = Literal["pooled", "per_segment"]
DECIDE: tuple[Decide, ...] = ("pooled", "per_segment")


@dataclass(frozen=True, slots=True)
class Gates:
    min_visitors_per_arm: int = 300
    grow: Thresholds = GROW  # to the next stage
    ship: Thresholds = SHIP  # past the last stage: complete, the winner for everyone
    rollback_prob_worse_than_control: float = 0.95
    min_stage_seconds: float = 24 * 3600.0  # a stage should see every daypart once
    # per_segment: each device × daypart ships or rolls back on its own (partially pooled)
    # evidence (experiments/segment_decisions.py); pooled: one decision for the whole rule.
    decide: Decide = "pooled"


Unit = Literal["conversions", "revenue"]
OnBudget = Literal["pause", "rollback"]
Allocation = Literal["fixed", "bandit"]
ALLOCATIONS: tuple[Allocation, ...] = ("fixed", "bandit")
DEFAULT_MIN_SHARE = 0.10  # the least share of new visitors a bandit gives any arm


@dataclass(frozen=True, slots=True)
class Budget:
    """What an experiment may spend: the expected conversions (or revenue) given up on
    arms that may be worse. Past it the evaluator pauses or rolls back the experiment."""

    unit: Unit
    amount: float  # positive, finite
    on_budget: OnBudget = "pause"
    location: Location | None = None


@dataclass(frozen=True, slots=True)
class Experiment:
    name: str
    arms: tuple[Arm, ...]  # arms[0] is the control
    goal: str
    salt: str = ""  # defaults to the experiment name (set by the loader)
    rollout: tuple[Stage, ...] = (Stage(),)
    gates: Gates = field(default_factory=Gates)
    location: Location | None = None
    budget: Budget | None = None
    # ``bandit``: new visitors split by weights the evaluator recomputes at each gate look
    # (stored in the rollout state), each arm keeping at least ``min_share``.
    allocation: Allocation = "fixed"
    min_share: float = DEFAULT_MIN_SHARE

    @property
    def control(self) -> Arm:
        return self.arms[0]


@dataclass(frozen=True, slots=True)
class RuleSet:
    version: int
    site: Site
    dayparts: Mapping[str, Daypart]
    variants: Mapping[str, Variant]
    goals: Mapping[str, Goal]
    rules: tuple[Rule, ...]
    experiments: Mapping[str, Experiment]
    source: str = "<rules>"  # file name used in messages

    @property
    def catch_all(self) -> Rule | None:
        return next((rule for rule in self.rules if rule.is_catch_all), None)

    @property
    def default_variant(self) -> Variant | None:
        rule = self.catch_all
        return None if rule is None else self.variants[rule.serve]

    def holdout_share(self, rule: Rule) -> float:
        """The share of visitors held out of ``rule``: its own ``holdout``, else the
        site's (the catch-all cannot set its own)."""
        return self.site.holdout if rule.holdout is None else rule.holdout

    def prices(self, rule: Rule) -> bool:
        """Whether ``rule``'s holdout is counted: it holds visitors out, and what it serves
        them otherwise is not the default variant (else there is nothing to compare)."""
        default = self.catch_all
        return (
            self.holdout_share(rule) > 0
            and not rule.is_catch_all
            and (default is None or rule.serve != default.serve)
        )
