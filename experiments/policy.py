"""The experiment policy: which arm a visitor gets, and which experiments a conversion
counts in. The one owner of these decisions; the middleware, ``daypart explain``, the
simulator and the beacon all ask it, and it needs no HTTP to be asked.

A visitor's arm, given the experiment's rollout state:

- a ``decide: per_segment`` experiment, in a segment (device, daypart, and channel where
  the rules declare channels) the gates decided: its winner if it shipped there, control
  if it rolled back; nobody is counted there. A device × daypart decided without a
  channel holds for every channel of it; a channel's decision, once the rules no longer
  declare channels, matches no request (the device × daypart learns again);
- ``completed``: everyone in the rule's segment sees the winner; nobody is counted;
- ``running`` or ``paused`` and the visitor can be counted (a visitor id, no opt-out, no
  bot): a visitor who was exposed before keeps that arm (their ``Mark``); otherwise
  ``Enrollment`` decides whether they enter now (a running experiment at its current
  stage) and in which arm — by the rules' weights or a bandit's in force on the day, its
  segment's own where the weight period has them — and a new ``Mark`` says "count this
  exposure";
- anything else (rolled back, not enrolled, not countable): the control's variant,
  outside the experiment (``arm`` None).

A ``Mark`` is the memory of an exposure that travels with the visitor (the middleware
keeps it in the signed cookie): the experiment's ``code`` and the arm and segment (device,
daypart, channel) of the exposure, so a later conversion counts where the exposure was
counted.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

from daypart.experiments.bandit import MAX_PERIODS, period_on, period_weights
from daypart.experiments.bucketing import ArmPicker
from daypart.experiments.enrollment import Enrollment
from daypart.experiments.errors import ExperimentMisuse
from daypart.experiments.segments import (
    SegmentKey,
    decision_in,
    served_decisions,
)
from daypart.experiments.state import NOT_STARTED, RolloutState, SegmentDecision, WeightPeriod
from daypart.experiments.store.base import Segment
from daypart.rules.channels import ChannelReader
from daypart.rules.context import Context
from daypart.rules.model import Arm, Experiment, RuleSet


def experiment_code(name: str, salt: str) -> str:
    """Eight url-safe characters naming an experiment and its salt: a new salt starts a
    fresh experiment, so marks of the old one must not match it."""
    digest = hashlib.blake2b(f"{name}\0{salt}".encode(), digest_size=6).digest()
    return base64.urlsafe_b64encode(digest).decode()


class Mark(NamedTuple):
    """An exposure, remembered with the visitor. A tuple, not a frozen dataclass: one is
    made for every new visitor in an experiment, and a frozen dataclass's __init__ sets
    each field through object.__setattr__."""

    code: str  # experiment_code(...)
    arm: str
    device: str  # mobile | tablet | desktop
    daypart: str
    channel: str = ""  # "" when the rules declare no channels (and in older cookies)

    @property
    def segment(self) -> Segment:
        """Where the exposure was counted: its conversions are counted there too."""
        return Segment(self.device, self.daypart, self.channel)


class Assignment(NamedTuple):
    # A tuple, not a frozen dataclass: made for every new visitor, and a frozen
    # dataclass's __init__ sets each field through object.__setattr__.
    arm: str | None  # None: outside the experiment
    variant: str  # what the visitor is served
    new_mark: Mark | None = None  # the visitor entered just now: count this exposure


_Pickers = tuple[ArmPicker | None, dict[SegmentKey, ArmPicker]]
_NO_PICKERS: _Pickers = (None, {})
# A state's segment decisions, and the same as the request path looks them up.
_Served = tuple[Mapping[SegmentKey, SegmentDecision], Mapping[SegmentKey, SegmentDecision]]
_NONE_SERVED: _Served = ({}, {})


class ExperimentPolicy:
    """One experiment's policy, built once per rule set."""

    __slots__ = (
        "_bandit",
        "_channels",
        "_control",
        "_enrollment",
        "_kept",
        "_per_segment",
        "_pickers",
        "_served",
        "arms",
        "code",
        "experiment",
        "name",
        "salt",
    )

    def __init__(self, experiment: Experiment, channels: tuple[str, ...] = ()) -> None:
        """``channels``: every channel a request can be counted in (the rules' listed
        ones, other and direct); none without channels."""
        self.experiment = experiment
        self._channels = channels
        self.name = experiment.name
        self.salt = experiment.salt or experiment.name
        self.code = experiment_code(self.name, self.salt)
        self.arms: Mapping[str, Arm] = {arm.name: arm for arm in experiment.arms}
        self._enrollment = Enrollment(experiment, self.salt)
        self._control = Assignment(None, experiment.control.variant)
        # A returning visitor's assignment: made once per arm, not once per request.
        self._kept = {arm.name: Assignment(arm.name, arm.variant) for arm in experiment.arms}
        self._per_segment = experiment.gates.decide == "per_segment"
        self._bandit = experiment.allocation == "bandit"
        # Per weight period seen: the pooled weights' picker (None: the rules' weights) and
        # one per segment with its own weights. At most MAX_PERIODS periods (the state
        # holds no more), each with at most bandit.MAX_SEGMENTS segments.
        self._pickers: dict[WeightPeriod, _Pickers] = {}
        # The last state's decisions as served (``segments.served_decisions``): rebuilt
        # when the state is read anew, not per request. One attribute, set at once.
        self._served = _NONE_SERVED

    def _picker(self, state: RolloutState, day: int | None) -> _Pickers:
        """The bandit's pickers for new visitors on ``day``: the pooled weights' (None: the
        rules' weights) and those of the segments with their own."""
        period = period_on(state, day)
        if period is None:
            return _NO_PICKERS
        pickers = self._pickers.get(period)
        if pickers is not None:
            return pickers
        weights = period_weights(self.experiment, period)
        if weights is None:  # the arms changed since: the rules' weights everywhere
            pickers = _NO_PICKERS
        else:
            pickers = (
                ArmPicker(self.salt, weights),
                {key: ArmPicker(self.salt, shares) for key, shares in period.segments},
            )
        if len(self._pickers) >= MAX_PERIODS:
            self._pickers.clear()
        self._pickers[period] = pickers
        return pickers

    def assign(
        self,
        state: RolloutState,
        visitor_id: str | None,
        marks: Sequence[Mark],
        context: Context,
        segment: str,
        channel: str = "",
        day: int | None = None,
    ) -> Assignment:
        """The arm of ``visitor_id`` (None: a visitor who is never counted) with the
        exposure ``marks`` they carry, in ``context`` (device, audience headers...)
        counted in daypart ``segment`` and ``channel`` ("" without channels), on the
        site's local ``day`` (a date ordinal; picks a bandit's weights)."""
        kept = self._kept
        decisions = state.segments
        if self._per_segment and decisions:
            # A decided segment serves its decision to everyone in it, returning or new.
            source, served = self._served
            if source is not decisions:
                served = served_decisions(decisions, self._channels)
                self._served = (decisions, served)
            decided = served.get(
                (context.device, segment, channel) if channel else (context.device, segment)
            )
            if decided is not None:
                if decided.decision == "shipped":
                    return kept.get(decided.arm, self._control)
                return self._control
        if state.status == "completed":
            winner = kept.get(state.winner or "")
            if winner is not None:
                return winner
        if visitor_id is None or not state.counting:
            return self._control
        code = self.code
        for mark in marks:
            if mark.code == code:
                returning = kept.get(mark.arm)
                if returning is not None:
                    return returning
                break  # an arm no longer in the rules: enrol afresh
        picker = None
        if self._bandit and state.weights:
            picker, by_segment = self._picker(state, day)
            if by_segment:  # one dict lookup: this segment's own weights, if it has them
                picker = by_segment.get((context.device, segment), picker)
        arm = self._enrollment.enroll(visitor_id, state, context, picker)
        if arm is None:
            return self._control
        return Assignment(
            arm.name, arm.variant, Mark(code, arm.name, context.device, segment, channel)
        )

    def counts_conversion(self, mark: Mark, goal: str, state: RolloutState) -> bool:
        """Whether a conversion on ``goal`` by a visitor with ``mark`` counts here."""
        return (
            mark.code == self.code
            and self.experiment.goal == goal
            and state.counting
            and mark.arm in self.arms
            # Exposures in a segment decided since are no longer compared.
            and not (
                state.segments
                and decision_in(
                    state.segments,
                    (mark.device, mark.daypart, mark.channel)
                    if mark.channel
                    else (mark.device, mark.daypart),
                )
                is not None
            )
        )


class ExperimentPolicies:
    """Every experiment of a rule set, by name and by code."""

    __slots__ = ("by_code", "by_name", "goals")

    def __init__(self, ruleset: RuleSet) -> None:
        channels = ChannelReader(ruleset.site).names if ruleset.site.channels else ()
        self.by_name = {
            name: ExperimentPolicy(e, channels) for name, e in ruleset.experiments.items()
        }
        self.by_code = {policy.code: policy for policy in self.by_name.values()}
        self.goals = frozenset(ruleset.goals)

    def __getitem__(self, name: str) -> ExperimentPolicy:
        return self.by_name[name]

    def check_goal(self, goal: str) -> None:
        if goal not in self.goals:
            known = ", ".join(sorted(self.goals)) or "none"
            raise ExperimentMisuse(
                f"unknown goal {goal!r}; defined goals: {known}", operation="convert"
            )

    def conversion_targets(
        self, goal: str, marks: Iterable[Mark], states: Mapping[str, RolloutState]
    ) -> list[tuple[str, Mark]]:
        """(experiment, mark) for each experiment a conversion on ``goal`` counts in: those
        the visitor was exposed to (``marks``) whose goal it is and that still count.
        Raises ``ExperimentMisuse`` for a goal the rules do not define."""
        self.check_goal(goal)
        targets = []
        for mark in marks:
            policy = self.by_code.get(mark.code)
            if policy is not None and policy.counts_conversion(
                mark, goal, states.get(policy.name, NOT_STARTED)
            ):
                targets.append((policy.name, mark))
        return targets
