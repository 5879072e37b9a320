"""Per-segment decisions by channel where the rules declare channels: a segment is device ×
daypart × channel (decided, stored, served and honoured by conversions per channel); without
channels it is device × daypart as before; and a state written under the other setting
reads and does what docs/rules.md says (a device × daypart decision holds for each of its
channels; a channel's decision is not served without channels)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from zoneinfo import ZoneInfo

from daypart.experiments.evaluator import Evaluator
from daypart.experiments.policy import ExperimentPolicies, Mark
from daypart.experiments.rollout import Rollouts
from daypart.experiments.segment_decisions import decided_rows, undecided_counts
from daypart.experiments.segment_weights import segment_prob_best
from daypart.experiments.segments import segment_name, segment_of, segment_words
from daypart.experiments.state import RolloutState, SegmentDecision
from daypart.experiments.store.base import Cell, ExperimentCounts, Segment, Store
from daypart.rules.context import Context
from daypart.rules.localtime import LocalMinute
from daypart.rules.model import ChannelSource, RuleSet, Site
from tests.experiments.conftest import FakeClock
from tests.experiments.test_segment_decisions import EXPERIMENT, RULES, records

DAY = 86400.0
CHANNELS = replace(
    RULES,
    site=Site(channel_from=(ChannelSource("query", "utm_source"),), channels=("newsletter",)),
)
NEWSLETTER = Segment("desktop", "evening", "newsletter")
DIRECT = Segment("desktop", "evening", "direct")
SHIPPED = SegmentDecision("shipped", "offer", 5.0, "offer beats control")


def test_a_segment_has_a_channel_only_where_it_was_counted_with_one() -> None:
    assert segment_of(("offer", "desktop", "evening", "")) == ("desktop", "evening")
    assert segment_of(("offer", "desktop", "evening", "newsletter")) == (
        "desktop",
        "evening",
        "newsletter",
    )
    key = ("desktop", "evening", "newsletter")
    assert segment_name(key) == "desktop × evening × newsletter"
    assert segment_words(key) == "on desktop in the evening from newsletter"


def test_the_state_keeps_a_channels_decision_with_its_channel() -> None:
    state = RolloutState(
        version=2,
        segments={("desktop", "evening", "newsletter"): SHIPPED, ("tablet", "night"): SHIPPED},
    )
    stored = state.to_dict()
    assert [(e["device"], e["daypart"], e.get("channel")) for e in stored["segments"]] == [
        ("desktop", "evening", "newsletter"),
        ("tablet", "night", None),
    ]
    assert RolloutState.from_dict(stored).segments == state.segments
    rows = decided_rows(state)
    assert rows[0]["channel"] == "newsletter"
    assert rows[0]["segment"] == "desktop × evening × newsletter"
    assert "channel" not in rows[1]


def test_the_evaluator_decides_each_channel_on_its_own_evidence(
    store: Store, clock: FakeClock
) -> None:
    evaluator = Evaluator(store, clock=clock, owner="worker-1")

    async def scenario() -> RolloutState:
        await store.record(records(NEWSLETTER, {"control": 90, "offer": 180}))  # offer wins
        await store.record(records(DIRECT, {"control": 120, "offer": 123}, batch="d-"))
        await evaluator.run_once(CHANNELS)
        clock.now += DAY + 60
        await evaluator.run_once(CHANNELS)
        state = await Rollouts(store, clock).state("evening-offer")
        await store.close()
        return state

    state = asyncio.run(scenario())
    assert list(state.segments) == [("desktop", "evening", "newsletter")]
    decided = state.segments[("desktop", "evening", "newsletter")]
    assert decided.decision == "shipped"
    assert "on desktop in the evening from newsletter" in decided.reason


def context() -> Context:
    return Context("desktop", LocalMinute(ZoneInfo("UTC"), 1, 1260), frozenset(), "/")


def served(rules: RuleSet, state: RolloutState, channel: str) -> tuple[str | None, bool]:
    """The arm a new visitor gets in the desktop evening through ``channel``, and whether
    they enter the experiment (are counted)."""
    policy = ExperimentPolicies(rules)["evening-offer"]
    shown = policy.assign(state, "visitor-1", (), context(), "evening", channel)
    return shown.arm, shown.new_mark is not None


def counts(rules: RuleSet, state: RolloutState, channel: str) -> bool:
    """Whether a conversion of a visitor exposed in the desktop evening through
    ``channel`` ("" for a mark from before channels) counts."""
    policy = ExperimentPolicies(rules)["evening-offer"]
    mark = Mark(policy.code, "offer", "desktop", "evening", channel)
    return policy.counts_conversion(mark, "booked", state)


def test_a_channels_decision_is_served_and_honoured_in_that_channel_only() -> None:
    state = RolloutState(segments={("desktop", "evening", "newsletter"): SHIPPED})
    assert served(CHANNELS, state, "newsletter") == ("offer", False)
    arm, entered = served(CHANNELS, state, "direct")
    assert entered  # still learning there
    assert arm is not None
    assert not counts(CHANNELS, state, "newsletter")
    assert counts(CHANNELS, state, "direct")


def test_a_device_daypart_decision_holds_for_every_channel_of_it() -> None:
    """A state written before the rules declared channels (or a decision on what was
    counted before them) serves its decision through every channel."""
    state = RolloutState(segments={("desktop", "evening"): SHIPPED})
    for channel in ("newsletter", "other", "direct"):
        assert served(CHANNELS, state, channel) == ("offer", False)
        assert not counts(CHANNELS, state, channel)
    assert not counts(CHANNELS, state, "")
    # A channel's own decision wins over its device × daypart's.
    rolled_back = SegmentDecision("rolled_back", "control", 6.0, "worse")
    both = RolloutState(
        segments={("desktop", "evening"): SHIPPED, ("desktop", "evening", "direct"): rolled_back}
    )
    assert served(CHANNELS, both, "direct") == (None, False)
    assert served(CHANNELS, both, "newsletter") == ("offer", False)
    # The evaluator counts the channels of a decided device × daypart as decided.
    cells = {
        ("offer", "desktop", "evening", "newsletter"): Cell(exposures=5),
        ("offer", "mobile", "evening", "newsletter"): Cell(exposures=7),
    }
    left = undecided_counts(ExperimentCounts("evening-offer", cells), state)
    assert list(left.cells) == [("offer", "mobile", "evening", "newsletter")]


def test_a_channels_decision_is_not_served_once_the_rules_drop_channels() -> None:
    """Without channels a request has no channel: the device × daypart learns again,
    pooled over channels; a mark counted in the decided channel still does not count."""
    state = RolloutState(segments={("desktop", "evening", "newsletter"): SHIPPED})
    arm, entered = served(RULES, state, "")
    assert entered
    assert arm is not None
    assert counts(RULES, state, "")
    assert not counts(RULES, state, "newsletter")


def test_without_channels_nothing_changes() -> None:
    state = RolloutState(segments={("desktop", "evening"): SHIPPED})
    assert served(RULES, state, "") == ("offer", False)
    assert not counts(RULES, state, "")
    assert "channel" not in state.to_dict()["segments"][0]


def test_a_bandits_segment_weights_stay_per_device_and_daypart() -> None:
    """Channels pooled: the weights' segments are device × daypart however the cells are
    split by channel."""
    cells = {}
    for channel in ("newsletter", "direct"):
        for device, offer in (("desktop", 300), ("mobile", 60)):
            cells[("control", device, "evening", channel)] = Cell(1500, {"booked": 150})
            cells[("offer", device, "evening", channel)] = Cell(1500, {"booked": offer})
    bandit = replace(EXPERIMENT, allocation="bandit")
    found = segment_prob_best(bandit, ExperimentCounts("evening-offer", cells))
    assert sorted(found) == [("desktop", "evening"), ("mobile", "evening")]
