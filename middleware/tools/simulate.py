"""``daypart simulate``: synthetic visitors with known true conversion rates, driven through
the real middleware, recorder, store and evaluator in-process on a fake clock.

Visitors arrive in the segment of the rule that runs the experiment (its devices and
dayparts), spread over each daypart's window, and — when the rules declare channels and
the truth gives their shares — through a channel; a visitor converts with the true rate
of the arm it was served in its segment; the evaluator runs every simulated hour. The
result says what the gates decided, when, and what it cost: how many visitors saw the
worse arm.

When the rules hold visitors out of that rule (``site.holdout``), every visitor counted
in the holdout converts too — a held-out one at the truth's ``default`` rate, one the rule
adapted at the rate of what they were served — and the result compares what the
holdout's report says adapting earns with what was planted.

Two paths, one store, evaluator and gates. ``requests`` (the default) sends every visitor
through the middleware, as a site would. ``counts`` draws what those visitors would have
added in each simulated hour — arrivals per daypart, device, audience and channel, who the
stage admits, the arm split by weight, conversions at the true rates, all binomial — and
records exactly those exposures and conversions in the same kind of store, for the same
hourly evaluator: 12 to 17 times faster, for runs by the hundred (``make simulate``). The two
agree in distribution (``tests/middleware/test_simulate_counts.py``). Holdouts need the
``requests`` path.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Mapping, MutableMapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

import numpy as np

from daypart.experiments.bandit import weights_on
from daypart.experiments.bucketing import audience_matches
from daypart.experiments.business import spend_of
from daypart.experiments.errors import ExperimentMisuse
from daypart.experiments.evaluator import Evaluation, Evaluator
from daypart.experiments.holdout import ADAPTIVE, DEFAULT, holdouts_of
from daypart.experiments.holdout_report import build_holdout_reports
from daypart.experiments.pooling import (
    arm_totals,
    channel_segments_of,
    channels_of,
    segments_of,
)
from daypart.experiments.rollout import Rollouts
from daypart.experiments.segments import decision_in
from daypart.experiments.state import RolloutState
from daypart.experiments.store.base import Conversion, Exposure, Record, Segment
from daypart.experiments.store.memory import MemoryStore
from daypart.middleware.asgi import AdaptiveMiddleware
from daypart.middleware.tools.truth import Truth, load_truth, uniform
from daypart.rules.channels import ChannelReader
from daypart.rules.context import Context
from daypart.rules.loader import load_rules
from daypart.rules.localtime import LocalMinute
from daypart.rules.matcher import Matcher
from daypart.rules.model import (
    ALLOCATIONS,
    Allocation,
    Experiment,
    Gates,
    Goal,
    Rule,
    RuleSet,
    Site,
)

AGENTS = {
    "mobile": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "tablet": "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "desktop": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
    "Gecko) Chrome/124.0.0.0 Safari/537.36",
}
START = "2026-01-05T00:00"  # a Monday


@dataclass(frozen=True, slots=True)
class SimulationConfig:
    rules: Path
    experiment: str = "evening-offer"
    base_rate: float = 0.10
    uplift: float = 0.20  # relative uplift of every non-control arm; 0 for an A/A test
    visitors_per_day: int = 4000  # arriving in the rule's segment
    max_days: int = 60
    seed: int = 1
    channel_share: float = 0.05  # visitors carrying an audience stage's header/cookie/query
    gates: Gates | None = None  # override the rule file's gates (for tuning)
    truth: Path | None = None  # true rates per arm and segment (a file); else base × uplift
    path: Literal["requests", "counts"] = "requests"  # every visitor, or drawn counts
    allocation: Allocation | None = None  # override the rule file's (fixed or bandit)


@dataclass(slots=True)
class SimulationResult:
    experiment: str
    outcome: str  # shipped:<arm> | rolled_back | paused | undecided
    days: float
    visitors: int  # all visitors simulated in the segment
    exposures: dict[str, int] = field(default_factory=dict)
    conversions: dict[str, int] = field(default_factory=dict)
    true_rates: dict[str, float] = field(default_factory=dict)  # the truth's base rates
    history: list[str] = field(default_factory=list)
    # per device × daypart (× channel, when the rules declare channels)
    segments: list[dict[str, Any]] = field(default_factory=list)
    holdout: dict[str, Any] | None = None  # planted and reported, when the rule has one
    # What the board shows as spent at the end: the expected conversions given up on arms
    # that may be worse (``business.spend``), the figure a budget caps.
    spent_conversions: float = 0.0

    @property
    def shipped(self) -> str | None:
        return (
            self.outcome.removeprefix("shipped:") if self.outcome.startswith("shipped:") else None
        )

    def worse_arm_exposures(self) -> int:
        """Visitors the experiment showed an arm with a lower true rate than the best, in
        the segment they were shown it in."""
        if self.segments:
            return sum(int(segment["worse_arm_exposures"]) for segment in self.segments)
        best = max(self.true_rates.values())
        return sum(n for arm, n in self.exposures.items() if self.true_rates[arm] < best)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "worse_arm_exposures": self.worse_arm_exposures()}

    def summary(self) -> str:
        lines = [
            f"{self.experiment}: {self.outcome} after {self.days:.1f} days, "
            f"{self.visitors} visitors in the segment",
        ]
        for arm, exposed in self.exposures.items():
            lines.append(
                f"  {arm:<12} true rate {self.true_rates[arm]:.4f}  exposed {exposed:>7}  "
                f"converted {self.conversions.get(arm, 0):>6}"
            )
        lines.append(f"  visitors shown a worse arm: {self.worse_arm_exposures()}")
        lines.append(
            f"  spent: {self.spent_conversions:,.1f} conversions (expected, on worse arms)"
        )
        lines += [f"  {entry}" for entry in self.history]
        for segment in self.segments:
            decision = segment.get("decision")
            if decision is not None:  # decide: per_segment
                where = " × ".join(
                    str(segment[name])
                    for name in ("device", "daypart", "channel")
                    if name in segment
                )
                lines.append(
                    f"  {where}: {decision['decision']} "
                    f"{decision['arm']} on day {decision['day']:.1f} — {decision['reason']}"
                )
        holdout = self.holdout
        if holdout is not None:
            planted, reported = holdout["planted"], holdout["reported"]
            low, high = reported["uplift_interval"]
            lines.append(
                f"  holdout of {holdout['rule']} ({holdout['share'] * 100:g}%): planted "
                f"uplift {planted['uplift'] * 100:+.1f}%, reported "
                + (
                    "–"
                    if reported["uplift"] is None
                    else f"{reported['uplift'] * 100:+.1f}% "
                    f"({low * 100:+.1f}% … {high * 100:+.1f}%)"
                )
                + f", P(beat default) {reported['prob_beat_default'] * 100:.1f}%; planted "
                f"{'within' if holdout['within_interval'] else 'OUTSIDE'} the interval"
            )
        return "\n".join(lines)


def _rule_for(ruleset: RuleSet, experiment: str) -> Rule:
    for rule in ruleset.rules:
        if rule.experiment == experiment:
            return rule
    raise ExperimentMisuse(f"no rule runs experiment {experiment!r}")


class _App:
    """The cheapest possible site: the simulation measures decisions, not pages."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        status = 200
        headers = [(b"content-type", b"text/plain")]
        if scope["method"] == "POST":
            value = next((v for n, v in scope["headers"] if n == b"x-sim-value"), b"100")
            headers.append((b"x-order-value", value))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b""})


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


class _Capture:
    __slots__ = ("cookie",)

    def __init__(self) -> None:
        self.cookie: bytes | None = None

    async def __call__(self, message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            for name, value in message["headers"]:
                if name == b"set-cookie":
                    self.cookie = value.split(b";", 1)[0]


def _scope(
    method: str, path: str, headers: list[tuple[bytes, bytes]], query: bytes = b""
) -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "scheme": "https",
        "headers": headers,
    }


@dataclass(frozen=True, slots=True)
class _Setup:
    ruleset: RuleSet
    experiment: Experiment
    rule: Rule
    goal: Goal
    truth: Truth


def _setup(config: SimulationConfig) -> _Setup:
    ruleset = load_rules(config.rules)
    experiment: Experiment | None = ruleset.experiments.get(config.experiment)
    if experiment is None:
        raise ExperimentMisuse(f"unknown experiment {config.experiment!r}")
    if config.gates is not None:
        experiment = _with_gates(experiment, config.gates)
        ruleset = _with_experiment(ruleset, experiment)
    if config.allocation is not None and config.allocation != experiment.allocation:
        if config.allocation not in ALLOCATIONS:
            raise ValueError(f"allocation {config.allocation!r}: expected fixed or bandit")
        experiment = replace(experiment, allocation=config.allocation)
        ruleset = _with_experiment(ruleset, experiment)
    rule = _rule_for(ruleset, experiment.name)
    goal = ruleset.goals[experiment.goal]
    if config.max_days < 1 or config.visitors_per_day < 1:
        raise ValueError(
            f"days {config.max_days} and visitors per day {config.visitors_per_day}: "
            "expected at least 1 of each"
        )
    if not 0.0 <= config.channel_share <= 1.0:
        raise ValueError(f"channel share {config.channel_share!r}: expected a share from 0 to 1")
    if config.path not in ("requests", "counts"):
        raise ValueError(f"path {config.path!r}: expected requests or counts")
    names = [arm.name for arm in experiment.arms]
    truth = (
        uniform(names, config.base_rate, config.uplift)
        if config.truth is None
        else load_truth(
            config.truth,
            names,
            list(ruleset.dayparts),
            ChannelReader(ruleset.site).names if ruleset.site.channel_from else (),
        )
    )
    return _Setup(ruleset, experiment, rule, goal, truth)


async def simulate(config: SimulationConfig) -> SimulationResult:
    setup = _setup(config)
    if config.path == "counts":
        return await _simulate_counts(config, setup)
    ruleset, experiment, rule, goal, truth = (
        setup.ruleset,
        setup.experiment,
        setup.rule,
        setup.goal,
        setup.truth,
    )
    names = [arm.name for arm in experiment.arms]
    rng = random.Random(config.seed)
    zone = ZoneInfo(ruleset.site.timezone)
    clock = [datetime.fromisoformat(START).replace(tzinfo=zone).timestamp()]
    store = MemoryStore(clock=lambda: clock[0])
    app = AdaptiveMiddleware(
        _App(),
        rules=ruleset,
        store=store,
        secret=f"simulation-secret-{config.seed:08d}",
        clock=lambda: clock[0],
        evaluate_interval=None,
    )
    # Visitor ids from the seed (not the OS): the same seed is the same run, visitor by
    # visitor, arm by arm. 96 bits, as on a site.
    ids = random.Random(f"visitor-ids-{config.seed}")
    app.classifier.new_id = lambda: base64.urlsafe_b64encode(ids.randbytes(12)).decode()
    rates = dict(truth.base)
    devices = _devices(rule)
    windows = _windows(ruleset, rule)
    channel = _channel_headers(experiment)
    # Channels from a generator of their own: a truth without channels draws exactly what
    # it drew before channels existed.
    channels = _ChannelSender(ruleset.site, truth.channels, config.seed)
    start = datetime.fromtimestamp(clock[0], zone)
    result = SimulationResult(experiment.name, "undecided", 0.0, 0, true_rates=rates)
    path = _page(rule)
    priced = any(h.rule == rule.name for h in holdouts_of(ruleset))
    planted = _Planted()

    async def done() -> SimulationResult:
        finished = await _finish(result, store, experiment, truth, clock[0] - start.timestamp())
        if priced:
            finished.holdout = await _holdout_result(app, rule, goal.name, planted, clock[0])
        return finished

    await app.background.start()
    try:
        for day in range(config.max_days):
            midnight = start + timedelta(days=day)
            arrivals = sorted(
                _arrival(rng, midnight, windows) for _ in range(config.visitors_per_day)
            )
            next_hour = midnight.timestamp() + 3600
            for arrival in arrivals:
                while arrival >= next_hour:
                    clock[0] = next_hour
                    if await _evaluate(app, result):
                        return await done()
                    next_hour += 3600
                clock[0] = arrival
                result.visitors += 1
                device = rng.choice(devices)
                headers = [(b"user-agent", AGENTS[device].encode())]
                if channel and rng.random() < config.channel_share:
                    headers.append(channel)
                capture = _Capture()
                page = _scope("GET", path, headers, channels.query(headers))
                await app(page, _receive, capture)
                decision = page["state"]["daypart"]
                arm = decision.arm
                side = decision.holdout if priced else None
                if capture.cookie is None or (arm is None and side is None):
                    continue
                # Held out: the default variant; else the arm, or the rule's (the control's).
                if side == DEFAULT:
                    rate = truth.default_rate(decision.device, decision.segment, decision.channel)
                    value = truth.default_value()
                else:
                    served = arm or names[0]
                    rate = truth.rates(decision.device, decision.segment, decision.channel)[served]
                    value = truth.values.get(served)
                if side is not None:
                    planted.add(side, rate, value)
                if rng.random() < rate:
                    cookie = [*headers, (b"cookie", capture.cookie)]
                    if value is not None:  # the order's value, as the site's header says
                        cookie.append((b"x-sim-value", repr(value).encode()))
                    if goal.path is not None:
                        await app(
                            _scope(goal.method or "POST", goal.path, cookie), _receive, _Capture()
                        )
                    else:
                        page["state"]["daypart"].convert(goal.name)
            clock[0] = (midnight + timedelta(days=1)).timestamp()
            if await _evaluate(app, result):
                break
        return await done()
    finally:
        await app.background.stop()


async def _evaluate(app: AdaptiveMiddleware, result: SimulationResult) -> bool:
    """Flush, run the gates; True when the experiment reached a final state."""
    runtime = app.runtime
    await runtime.recorder.flush()
    evaluations = await runtime.evaluator.run_once(runtime.rules.ruleset) or []
    start = datetime.fromisoformat(START).replace(tzinfo=runtime.rules.site_zone).timestamp()
    _note(result, evaluations, runtime.clock() - start)
    await app.background.refresh_states()
    state = runtime.states.get(result.experiment)
    return state is not None and _final(state, result)


async def _finish(
    result: SimulationResult,
    store: MemoryStore,
    experiment: Experiment,
    truth: Truth,
    seconds: float,
) -> SimulationResult:
    counts = await store.counts(experiment.name)
    arms = [arm.name for arm in experiment.arms]
    pooled_totals = arm_totals(counts, arms, experiment.goal)
    for arm, pooled in zip(arms, pooled_totals, strict=True):
        result.exposures[arm] = pooled.visitors
        result.conversions[arm] = pooled.conversions
    result.spent_conversions = spend_of(pooled_totals, values=False).conversions
    with_channels = bool(channels_of(counts))
    cells = (
        channel_segments_of(counts)
        if with_channels
        else [(device, daypart, None) for device, daypart in segments_of(counts)]
    )
    # A per-segment experiment's decisions, with the simulated day each was taken on.
    decided = (await Rollouts(store).state(experiment.name)).segments
    started = store.clock() - seconds
    for device, daypart, channel in cells:
        rates = truth.rates(device, daypart, channel or "")
        best = max(rates.values())
        totals = arm_totals(counts, arms, experiment.goal, (device, daypart), channel)
        decision = decision_in(
            decided, (device, daypart) if channel is None else (device, daypart, channel)
        )
        result.segments.append(
            {
                "device": device,
                "daypart": daypart,
                **({} if channel is None else {"channel": channel}),
                "true_rates": dict(rates),
                "exposures": {arm: t.visitors for arm, t in zip(arms, totals, strict=True)},
                "conversions": {arm: t.conversions for arm, t in zip(arms, totals, strict=True)},
                "worse_arm_exposures": sum(
                    t.visitors for arm, t in zip(arms, totals, strict=True) if rates[arm] < best
                ),
                "spent_conversions": spend_of(totals, values=False).conversions,
                "decision": None
                if decision is None
                else {
                    "decision": decision.decision,
                    "arm": decision.arm,
                    "day": round((decision.at - started) / 86400, 2),
                    "reason": decision.reason,
                },
            }
        )
    result.days = seconds / 86400
    return result


class _Planted:
    """What the visitors counted in the holdout were shown, in truth: per side, how many,
    their summed true rates and (with order values) their summed expected revenue."""

    def __init__(self) -> None:
        self.visitors: dict[str, int] = {}
        self.rates: dict[str, float] = {}
        self.revenue: dict[str, float] = {}
        self.valued = True

    def add(self, side: str, rate: float, value: float | None) -> None:
        self.visitors[side] = self.visitors.get(side, 0) + 1
        self.rates[side] = self.rates.get(side, 0.0) + rate
        if value is None:
            self.valued = False
        else:
            self.revenue[side] = self.revenue.get(side, 0.0) + rate * value

    def mean(self, totals: dict[str, float], side: str) -> float:
        return totals.get(side, 0.0) / max(self.visitors.get(side, 0), 1)

    def to_dict(self) -> dict[str, Any]:
        default, adaptive = self.mean(self.rates, DEFAULT), self.mean(self.rates, ADAPTIVE)
        planted: dict[str, Any] = {
            "default_rate": default,
            "adaptive_rate": adaptive,
            "uplift": adaptive / default - 1.0 if default > 0 else None,
            "incremental_revenue_per_1000": None,
        }
        if self.valued:
            planted["incremental_revenue_per_1000"] = 1000.0 * (
                self.mean(self.revenue, ADAPTIVE) - self.mean(self.revenue, DEFAULT)
            )
        return planted


async def _holdout_result(
    app: AdaptiveMiddleware, rule: Rule, goal: str, planted: _Planted, now: float
) -> dict[str, Any]:
    """The rule's holdout on the experiment's goal: what was planted between the adaptive
    variants and the default, what the report says, and whether its interval holds it."""
    runtime = app.runtime
    await runtime.recorder.flush()
    reports = await build_holdout_reports(runtime.store, runtime.rules.ruleset, now)
    report = next(r for r in reports if r.rule == rule.name)
    found = next(g for g in report.goals if g.goal == goal)
    adaptive = found.arms[1]
    truth = planted.to_dict()
    low, high = found.uplift_interval
    reported: dict[str, Any] = {
        "uplift": found.uplift,
        "uplift_interval": [low, high],
        "prob_beat_default": found.prob_beat_default,
        "incremental_revenue_per_1000": None,
        "incremental_revenue_per_1000_interval": None,
    }
    if adaptive.revenue is not None:
        interval = adaptive.revenue.incremental_per_1000_interval
        reported["incremental_revenue_per_1000"] = adaptive.revenue.incremental_per_1000
        reported["incremental_revenue_per_1000_interval"] = (
            None if interval is None else list(interval)
        )
    return {
        "rule": rule.name,
        "name": report.name,
        "share": report.share,
        "goal": goal,
        "exposures": {arm.name: arm.result.visitors for arm in found.arms},
        "conversions": {arm.name: arm.result.conversions for arm in found.arms},
        "planted": truth,
        "reported": reported,
        "within_interval": truth["uplift"] is not None and low <= truth["uplift"] <= high,
    }


async def _simulate_counts(config: SimulationConfig, setup: _Setup) -> SimulationResult:
    """The ``counts`` path: each simulated hour's exposures and conversions drawn as counts
    (what the ``requests`` path's visitors would add), recorded in the same kind of store
    and evaluated by the same ``Evaluator`` at the same hours."""
    ruleset, experiment, rule, goal, truth = (
        setup.ruleset,
        setup.experiment,
        setup.rule,
        setup.goal,
        setup.truth,
    )
    if any(h.rule == rule.name for h in holdouts_of(ruleset)):
        raise ValueError(
            f"rule {rule.name!r} has a holdout, which the counts path does not draw; "
            "simulate it with --path requests"
        )
    rng = np.random.default_rng(config.seed)
    zone = ZoneInfo(ruleset.site.timezone)
    start = datetime.fromisoformat(START).replace(tzinfo=zone)
    clock = [start.timestamp()]
    store = MemoryStore(clock=lambda: clock[0])
    evaluator = Evaluator(store, clock=lambda: clock[0])
    rollouts = Rollouts(store)
    visitors = _Visitors(ruleset, rule, experiment, truth, config.channel_share, zone)
    arms = [arm.name for arm in experiment.arms]
    result = SimulationResult(experiment.name, "undecided", 0.0, 0, true_rates=dict(truth.base))
    # A conversion's value, as the simulated site's header says (the requests path: _App).
    value_of: dict[str, float | None] = {
        arm: (truth.values.get(arm, 100.0) if goal.value_header is not None else None)
        for arm in arms
    }
    serial = 0
    state = RolloutState()
    for day in range(config.max_days):
        midnight = start + timedelta(days=day)
        cells = visitors.day(midnight.weekday())
        drawn = rng.multinomial(config.visitors_per_day, [cell.share for cell in cells])
        arrivals: dict[int, list[tuple[_Cell, int]]] = {}
        for cell, count in zip(cells, drawn, strict=True):
            if count:
                arrivals.setdefault(cell.hour, []).append((cell, int(count)))
        for hour in range(max([24, *(hour + 1 for hour in arrivals)])):
            records: list[Record] = []
            moment = midnight + timedelta(hours=hour)
            local_day = moment.date().toordinal()
            for cell, count in arrivals.get(hour, ()):
                result.visitors += count
                if not cell.served:  # another rule serves them: never in the experiment
                    continue
                kind = cell.kind
                if state.segments and (
                    decision_in(
                        state.segments,
                        (cell.device, cell.daypart, kind.channel)
                        if kind.channel
                        else (cell.device, cell.daypart),
                    )
                    is not None
                ):
                    continue  # a decided segment serves its decision and counts nothing
                admitted = rng.binomial(count, kind.admitted(experiment, state))
                if not admitted:
                    continue
                segment = Segment(cell.device, cell.daypart, kind.channel)
                rates = truth.rates(cell.device, cell.daypart, kind.channel)
                # The weights new visitors get here today: the rules' split, or a bandit's
                # (its segment's own, where it has them).
                weights = weights_on(experiment, state, local_day, (cell.device, cell.daypart))
                total = sum(weights)  # rounded weights may sum to a hair off 1
                per_arm = rng.multinomial(admitted, [w / total for w in weights])
                for arm, exposed in zip(arms, per_arm, strict=True):
                    converted = rng.binomial(exposed, rates[arm])
                    for i in range(int(exposed)):
                        serial += 1
                        visitor = f"v{serial}"
                        records.append(Exposure(experiment.name, arm, segment, visitor, local_day))
                        if i < converted:
                            records.append(
                                Conversion(
                                    experiment.name,
                                    arm,
                                    segment,
                                    visitor,
                                    goal.name,
                                    value_of[arm],
                                    local_day,
                                )
                            )
            clock[0] = (moment + timedelta(hours=1)).timestamp()
            if records:
                await store.record(records)
            _note(result, await evaluator.run_once(ruleset) or [], clock[0] - start.timestamp())
            state = await rollouts.state(experiment.name)
            if _final(state, result):
                return await _finish(result, store, experiment, truth, clock[0] - start.timestamp())
    return await _finish(result, store, experiment, truth, clock[0] - start.timestamp())


@dataclass(frozen=True, slots=True)
class _Kind:
    """Visitors alike to the counts path: whether they carry the audience stage's header,
    which channel the truth sent them through, as the request shows it, and the channel
    they are counted in."""

    share: float  # of the visitors arriving
    query: bytes  # the query string
    fields: dict[str, str]  # ... parsed
    headers: dict[str, str]  # lower-case names
    cookies: dict[str, str]
    channel: str = ""  # "" without channels in the rules

    def admitted(self, experiment: Experiment, state: RolloutState) -> float:
        """The share the current stage admits. Stages are cumulative and share one traffic
        bucket, so a visitor is in when the bucket is below the largest share of a stage
        up to the current one whose audience (if any) they match."""
        if not state.enrolling:
            return 0.0
        last = min(state.stage, len(experiment.rollout) - 1)
        return max(
            (
                stage.traffic
                for stage in experiment.rollout[: last + 1]
                if stage.audience is None
                or audience_matches(stage.audience, self.fields, self.headers, self.cookies)
            ),
            default=0.0,
        )


@dataclass(frozen=True, slots=True)
class _Cell:
    """Arrivals alike within one hour of a day: their segment and kind, their share of the
    day's visitors, and whether the experiment's rule is the one that serves them."""

    hour: int  # since midnight; 24 and on for a window that crosses it
    daypart: str  # the segment's daypart
    device: str
    kind: _Kind
    share: float
    served: bool


class _Visitors:
    """Who arrives in the counts path, and where the request path would put them: the
    devices and windows ``_arrival`` draws from, the audience header and the truth's
    channels (``_ChannelSender``); each kind of request asked of the real matcher (which
    rule serves it) and channel reader (which channel counts it), per minute of the week."""

    def __init__(
        self,
        ruleset: RuleSet,
        rule: Rule,
        experiment: Experiment,
        truth: Truth,
        audience_share: float,
        zone: ZoneInfo,
    ) -> None:
        self.rule = rule
        self.zone = zone
        self.devices = _devices(rule)
        self.windows = _windows(ruleset, rule)
        self.matcher = Matcher(ruleset)
        self.path = _page(rule)
        self.kinds = self._kinds(ruleset, experiment, truth, audience_share)
        self._days: dict[int, list[_Cell]] = {}

    def _context(self, kind: _Kind, device: str, weekday: int, minute: int) -> Context:
        dayparts, _ = self.matcher.dayparts_at(weekday, minute)
        local = LocalMinute(self.zone, weekday, minute)
        return Context(
            device, local, dayparts, self.path, "GET", kind.query, kind.headers, kind.cookies
        )

    def _kinds(
        self, ruleset: RuleSet, experiment: Experiment, truth: Truth, audience_share: float
    ) -> list[_Kind]:
        audience = _channel_headers(experiment)
        carriers = [(False, 1.0)]
        if audience is not None:
            carriers = [(True, audience_share), (False, 1.0 - audience_share)]
        sender = _ChannelSender(ruleset.site, truth.channels, 0)
        drawn: list[tuple[str | None, float]] = [(None, 1.0)]
        if sender.source is not None:
            total = sum(sender.weights)
            names: list[str | None] = [*sender.names, None]
            drawn = [(n, w / total) for n, w in zip(names, sender.weights, strict=True)]
        reader = ChannelReader(ruleset.site) if ruleset.site.channel_from else None
        kinds = []
        for carries, carried in carriers:
            for name, share in drawn:
                if carried * share <= 0:
                    continue
                headers = []
                if carries and audience is not None:
                    headers.append(audience)
                query = sender.send(name, headers)  # the request as the requests path sends it
                first: dict[str, str] = {}
                cookies: dict[str, str] = {}
                for key, value in headers:
                    if key == b"cookie":
                        cookie, _, content = value.decode("latin-1").partition("=")
                        cookies.setdefault(cookie, content)
                    else:  # the first of a repeated header wins, as in classify
                        first.setdefault(key.decode("latin-1").lower(), value.decode("latin-1"))
                fields = dict(parse_qsl(query.decode("latin-1")))
                kind = _Kind(carried * share, query, fields, first, cookies)
                if reader is not None:
                    channel = reader.channel(self._context(kind, self.devices[0], 0, 0))
                    kind = replace(kind, channel=channel)
                kinds.append(kind)
        return kinds

    def day(self, weekday: int) -> list[_Cell]:
        """The cells of a day: what ``_arrival`` draws from — a window weighted by its
        length, a uniform minute in it — and a device and kind as the requests path does."""
        cells = self._days.get(weekday)
        if cells is None:
            cells = self._days[weekday] = self._day(weekday)
        return cells

    def _day(self, weekday: int) -> list[_Cell]:
        usable = [w for w in self.windows if weekday in w[2]] or self.windows
        total = sum(length for _, length, _ in usable)
        per_device = 1.0 / len(self.devices)
        shares: dict[tuple[int, str, int, int, bool], float] = {}
        for first, length, _ in usable:
            for offset in range(first, first + length):
                day, minute = (weekday + offset // (24 * 60)) % 7, offset % (24 * 60)
                _, segment = self.matcher.dayparts_at(day, minute)
                for d, device in enumerate(self.devices):
                    for k, kind in enumerate(self.kinds):
                        context = self._context(kind, device, day, minute)
                        served = self.matcher.match(context) is self.rule
                        key = (offset // 60, segment, d, k, served)
                        shares[key] = shares.get(key, 0.0) + per_device * kind.share / total
        return [
            _Cell(hour, segment, self.devices[d], self.kinds[k], share, served)
            for (hour, segment, d, k, served), share in sorted(shares.items())
        ]


def _note(result: SimulationResult, evaluations: list[Evaluation], seconds: float) -> None:
    """The transitions the evaluator applied, in the result's history."""
    for evaluation in evaluations:
        if evaluation.applied:
            decision = evaluation.decision
            result.history.append(
                f"day {seconds / 86400:5.1f}: {decision.verdict}: {decision.reason}"
            )


def _final(state: RolloutState, result: SimulationResult) -> bool:
    """Whether the experiment reached a state the simulation ends in (``result.outcome``)."""
    if state.status == "completed":
        result.outcome = f"shipped:{state.winner}"
        return True
    if state.status in ("rolled_back", "paused"):
        # Paused: only by the budget here, and it waits for a person.
        result.outcome = state.status
        return True
    return False


def _page(rule: Rule) -> str:
    """A page the rule applies to: its first path glob made concrete, or the home page."""
    return (rule.when.path or ("/",))[0].replace("**", "x").replace("*", "x").replace("?", "x")


def _devices(rule: Rule) -> list[str]:
    devices = sorted(rule.when.device or {"desktop"} - {"bot"})
    return [d for d in devices if d in AGENTS] or ["desktop"]


def _windows(ruleset: RuleSet, rule: Rule) -> list[tuple[int, int, frozenset[int]]]:
    """(start minute, length in minutes, days) of each daypart the rule accepts."""
    names = rule.when.daypart or frozenset(ruleset.dayparts) or frozenset()
    windows = []
    for name in sorted(names):
        part = ruleset.dayparts[name]
        length = (part.end - part.start) % (24 * 60) or 24 * 60
        days = part.days if rule.when.days is None else part.days & rule.when.days
        windows.append((part.start, length, days))
    return windows or [(0, 24 * 60, frozenset(range(7)))]


def _arrival(
    rng: random.Random, midnight: datetime, windows: list[tuple[int, int, frozenset[int]]]
) -> float:
    weekday = midnight.weekday()
    usable = [w for w in windows if weekday in w[2]] or windows
    start, length, _ = rng.choices(usable, weights=[w[1] for w in usable])[0]
    local = midnight + timedelta(minutes=start + rng.random() * length)
    return local.timestamp()


def _channel_headers(experiment: Experiment) -> tuple[bytes, bytes] | None:
    for stage in experiment.rollout:
        if stage.audience is not None:
            for name, values in stage.audience.header.items():
                value = next(iter(sorted(values)))
                return (name.encode(), (value if value != "*" else "yes").encode())
    return None


class _ChannelSender:
    """Sends each visitor through a channel drawn from the truth's shares (the rest come
    without one: direct), the way a site would see it: in the first of the site's
    ``channel_from`` sources."""

    def __init__(self, site: Site, shares: Mapping[str, float], seed: int) -> None:
        self.rng = random.Random(f"channels-{seed}")
        self.names = list(shares)
        self.weights = [*shares.values(), max(0.0, 1.0 - sum(shares.values()))]
        self.source = site.channel_from[0] if site.channel_from and shares else None

    def query(self, headers: list[tuple[bytes, bytes]]) -> bytes:
        """Draw this visitor's channel: add its header or cookie to ``headers``, or return
        the query string that carries it."""
        if self.source is None:
            return b""
        drawn = self.rng.choices([*self.names, None], weights=self.weights)[0]
        return self.send(drawn, headers)

    def send(self, drawn: str | None, headers: list[tuple[bytes, bytes]]) -> bytes:
        """Put channel ``drawn`` (None: none) on the request as ``query`` does."""
        source = self.source
        if source is None or drawn is None or drawn == "direct":
            return b""
        # A value no listed channel has, for visitors the truth puts in "other".
        value = ("elsewhere" if drawn == "other" else drawn).encode()
        if source.kind == "query":
            return source.name.encode() + b"=" + value
        if source.kind == "header":
            headers.append((source.name.encode(), value))
        else:
            headers.append((b"cookie", source.name.encode() + b"=" + value))
        return b""


def _with_gates(experiment: Experiment, gates: Gates) -> Experiment:
    return replace(experiment, gates=gates)


def _with_experiment(ruleset: RuleSet, experiment: Experiment) -> RuleSet:
    return replace(ruleset, experiments={**ruleset.experiments, experiment.name: experiment})
