"""The setup the evaluator, rollout, budget, bandit and per-segment tests share: both stores
(the memory store and the suite's private Redis), a clock the test moves by hand, and a
rule set around one experiment."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from daypart.experiments.store import MemoryStore, store_from_url
from daypart.experiments.store.base import Conversion, Exposure, Record, Segment, Store
from daypart.rules.model import Experiment, Goal, Rule, RuleSet, Site, Variant

BOOKED = Goal("booked", path="/booked")


class FakeClock:
    """Epoch seconds that move only when the test moves them (``clock.now += DAY``)."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    """Each test runs against both stores: they honour one contract."""
    if request.param == "memory":
        yield MemoryStore()
    else:
        yield store_from_url(request.getfixturevalue("redis_url"))


def ruleset_of(experiment: Experiment, goal: Goal | None = BOOKED) -> RuleSet:
    """One rule serving ``booking`` to everyone, running ``experiment`` (arms on the
    ``booking`` and ``booking-offer`` variants) on ``goal`` (None: no goals)."""
    return RuleSet(
        version=1,
        site=Site(),
        dayparts={},
        variants={"booking": Variant("booking"), "booking-offer": Variant("booking-offer")},
        goals={} if goal is None else {goal.name: goal},
        rules=(Rule("all", "booking", experiment=experiment.name),),
        experiments={experiment.name: experiment},
    )


def segment_records(
    segment: Segment,
    converted: dict[str, int],
    visitors: dict[str, int],
    day: int | None = None,
    tag: str = "",
) -> list[Record]:
    """``visitors[arm]`` exposures of evening-offer in ``segment`` on ``day``, the first
    ``converted[arm]`` of them converting on ``booked``; ``tag`` keeps batches apart."""
    made: list[Record] = []
    for arm, count in visitors.items():
        for i in range(count):
            visitor = f"{tag}{segment.device}-{arm}-{i}"
            made.append(Exposure("evening-offer", arm, segment, visitor, day))
            if i < converted[arm]:
                made.append(Conversion("evening-offer", arm, segment, visitor, "booked", None, day))
    return made
