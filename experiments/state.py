"""The rollout state of one experiment, as every worker reads it from the store."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from daypart.experiments.segments import (
    DEVICE_DAYPART,
    SegmentKey,
    segment_fields,
    segment_from_fields,
)

Status = Literal["running", "paused", "rolled_back", "completed"]
STATUSES: tuple[Status, ...] = ("running", "paused", "rolled_back", "completed")
SegmentOutcome = Literal["shipped", "rolled_back"]
SEGMENT_OUTCOMES: tuple[SegmentOutcome, ...] = ("shipped", "rolled_back")


@dataclass(frozen=True, slots=True)
class SegmentDecision:
    """What the gates decided for one segment of a ``decide: per_segment`` experiment:
    ``shipped`` serves ``arm`` (the winner) there, ``rolled_back`` serves ``arm`` (control)."""

    decision: SegmentOutcome
    arm: str
    at: float  # epoch seconds
    reason: str

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SegmentDecision:
        decision = data.get("decision")
        if decision not in SEGMENT_OUTCOMES:
            raise ValueError(f"unknown segment decision {decision!r}")
        return cls(
            decision, str(data["arm"]), float(data.get("at", 0.0)), str(data.get("reason", ""))
        )


@dataclass(frozen=True, slots=True)
class WeightPeriod:
    """Weights a bandit gives new visitors from local day ``day`` on (until the next
    period's day). Set by the evaluator at a gate look, for the next whole local day, so
    every day of the daily counts has one set of weights (``experiments.bandit``)."""

    day: int  # the site's local date (``date.toordinal()``) the weights start on
    since: float  # that day's local midnight, epoch seconds
    weights: tuple[tuple[str, float], ...]  # (arm, share of new visitors), the rules' order
    prob_best: tuple[tuple[str, float], ...] = ()  # what the weights were derived from
    decided: float = 0.0  # when the evaluator computed them, epoch seconds
    # Per segment (device, daypart), its own shares in ``weights``' arm order, where they
    # differ from ``weights`` (``experiments.segment_weights``); a segment not listed gets
    # ``weights``. Sorted by segment. Left out of the hash (the request path hashes a period
    # to find its pickers) but not of equality.
    segments: tuple[tuple[SegmentKey, tuple[float, ...]], ...] = field(default=(), hash=False)
    # The per-segment table was dropped to keep the state small (``bandit.with_period``):
    # the weights differed by segment on these days, but by how much is no longer known.
    forgotten: bool = field(default=False, hash=False)

    def segment_weights(self, segment: SegmentKey) -> tuple[float, ...] | None:
        """``segment``'s own shares in ``weights``' arm order; None: it gets ``weights``."""
        for key, shares in self.segments:
            if key == segment:
                return shares
        return None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "day": self.day,
            "since": self.since,
            "weights": dict(self.weights),
            "prob_best": dict(self.prob_best),
            "decided": self.decided,
        }
        # Left out when empty: a period without segment weights reads as it always did.
        if self.segments:
            data["segments"] = {
                SEGMENT_SEPARATOR.join(key): list(shares) for key, shares in self.segments
            }
        if self.forgotten:
            data["segments_forgotten"] = True
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WeightPeriod:
        weights = data.get("weights")
        if not isinstance(weights, Mapping) or not weights:
            raise ValueError(f"a weight period needs weights per arm, got {weights!r}")
        prob_best = data.get("prob_best") or {}
        return cls(
            day=int(data["day"]),
            since=float(data.get("since", 0.0)),
            weights=tuple((str(arm), float(w)) for arm, w in weights.items()),
            prob_best=tuple((str(arm), float(p)) for arm, p in prob_best.items()),
            decided=float(data.get("decided", 0.0)),
            segments=_segment_table(data.get("segments") or {}, len(weights)),
            forgotten=bool(data.get("segments_forgotten", False)),
        )


SEGMENT_SEPARATOR = "|"  # "desktop|evening": a segment in a weight period's table


def _segment_table(raw: Any, arms: int) -> tuple[tuple[SegmentKey, tuple[float, ...]], ...]:
    if not isinstance(raw, Mapping):
        raise ValueError(f"a weight period's segments must be a mapping, got {raw!r}")
    table = []
    for name, shares in raw.items():
        key = tuple(str(name).split(SEGMENT_SEPARATOR))
        if len(key) != len(DEVICE_DAYPART):  # a bandit's weights: per device × daypart
            raise ValueError(f"segment {name!r}: expected {SEGMENT_SEPARATOR.join(DEVICE_DAYPART)}")
        if not isinstance(shares, list) or len(shares) != arms:
            raise ValueError(f"segment {name!r}: expected {arms} weights, got {shares!r}")
        values = tuple(float(share) for share in shares)
        # Checked here, not per request: a picker refuses these, and a worker ignores a
        # state that does not read.
        if not all(0.0 <= v < math.inf for v in values) or not sum(values) > 0.0:
            raise ValueError(f"segment {name!r}: weights must be >= 0 with a positive sum")
        table.append((key, values))
    return tuple(sorted(table))


@dataclass(frozen=True, slots=True)
class RolloutState:
    """``running``: visitors enter per the current stage. ``paused``: no one new enters;
    visitors already in keep their arm and their conversions count. ``rolled_back``:
    everyone sees control, nothing is counted. ``completed``: everyone in the rule's
    segment sees ``winner``, nothing is counted."""

    stage: int = 0
    status: Status = "running"
    winner: str | None = None
    since: float = 0.0  # when the current stage (or status) began, epoch seconds
    version: int = 0  # bumped by every write; the store compares it (compare-and-set)
    checked: int = 0  # whole periods of this stage the gates have already decided on
    started: float = 0.0  # when the experiment first ran (its first state), epoch seconds
    # A bandit's weight periods, oldest first; none: the rules' fixed weights throughout.
    weights: tuple[WeightPeriod, ...] = ()
    # (device, daypart) or, where the rules declare channels, (device, daypart, channel)
    # -> what was decided there (``segments.decision_in``: a device × daypart's decision
    # holds for its channels); empty for pooled experiments and in states written before
    # segments could be decided. Not hashed: a dict.
    segments: Mapping[SegmentKey, SegmentDecision] = field(default_factory=dict, hash=False)

    @property
    def enrolling(self) -> bool:
        return self.status == "running"

    @property
    def counting(self) -> bool:
        return self.status in ("running", "paused")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if self.weights:
            data["weights"] = [period.to_dict() for period in self.weights]
        else:
            del data["weights"]  # states without a bandit read as they always did
        del data["segments"]
        if self.segments:  # left out when empty: a pooled experiment's state is as before
            data["segments"] = [
                {**segment_fields(key), **asdict(decided)}
                for key, decided in sorted(self.segments.items())
            ]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RolloutState:
        status = data.get("status", "running")
        if status not in STATUSES:
            raise ValueError(f"unknown rollout status {status!r}")
        winner = data.get("winner")
        return cls(
            stage=int(data.get("stage", 0)),
            status=status,
            winner=None if winner is None else str(winner),
            since=float(data.get("since", 0.0)),
            version=int(data.get("version", 0)),
            checked=int(data.get("checked", 0)),
            # States written before ``started`` existed: the current stage's start.
            started=float(data.get("started", data.get("since", 0.0))),
            weights=tuple(WeightPeriod.from_dict(period) for period in data.get("weights") or ()),
            segments={
                segment_from_fields(entry): SegmentDecision.from_dict(entry)
                for entry in data.get("segments", ())
            },
        )

    def next(self, **changes: Any) -> RolloutState:
        """The state after a write. A new stage or status starts its periods afresh."""
        if "since" in changes:
            changes.setdefault("checked", 0)
        return replace(self, version=self.version + 1, **changes)


NOT_STARTED = RolloutState()
"""The state of an experiment the store has no state for yet: stage 0, running."""
