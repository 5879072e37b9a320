"""A bandit's weights per segment (device × daypart): derived from the partially pooled
segment estimates at a gate look, stored in the weight period (bounded, and old states
still read), served by one picker per segment, and the report's analysis and sample-ratio
check per (period, segment) — against the memory store and the suite's Redis."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from scipy.special import ndtr

from daypart.experiments.bandit import (
    MAX_PERIODS,
    MAX_SEGMENT_ENTRIES,
    MAX_SEGMENTS,
    next_period,
    spans,
    weights_on,
    with_period,
)
from daypart.experiments.evaluator import Evaluator
from daypart.experiments.policy import ExperimentPolicy, Mark
from daypart.experiments.report import Report, build_report
from daypart.experiments.rollout import Rollouts
from daypart.experiments.segment_weights import gate_pairs, prob_best_normal, segment_prob_best
from daypart.experiments.state import RolloutState, WeightPeriod
from daypart.experiments.store.base import (
    Cell,
    CellKey,
    ExperimentCounts,
    Segment,
    Store,
)
from daypart.experiments.weight_periods import (
    SEGMENT_WEIGHTS_FORGOTTEN,
    SEGMENTS_UNKNOWN,
    PeriodAnalysis,
    analyze_periods,
)
from daypart.rules.context import Context
from daypart.rules.localtime import LocalMinute
from tests.experiments.conftest import FakeClock, ruleset_of, segment_records
from tests.experiments.test_bandit import EXPERIMENT as BANDIT

DAY = 86400.0
START = datetime(2026, 1, 1).timestamp() - datetime(1970, 1, 1).timestamp()  # UTC midnight
FIRST_DAY = date(2026, 1, 1).toordinal()
# The bandit tests' experiment, with the gates' usual minimum of visitors per arm.
EXPERIMENT = replace(BANDIT, gates=replace(BANDIT.gates, min_visitors_per_arm=300))
DESKTOP = ("desktop", "evening")
TABLET = ("tablet", "evening")
MOBILE = ("mobile", "evening")


def counts(cells: dict[tuple[str, str], dict[str, tuple[int, int]]]) -> ExperimentCounts:
    """Per segment, per arm (visitors, conversions)."""
    found: dict[CellKey, Cell] = {}
    for (device, daypart), arms in cells.items():
        for arm, (visitors, converted) in arms.items():
            found[(arm, device, daypart, "")] = Cell(visitors, {"booked": converted})
    return ExperimentCounts("evening-offer", found)


# The offer wins clearly on desktop and loses clearly on tablets; mobile shows no difference.
PLANTED = counts(
    {
        DESKTOP: {"control": (3000, 90), "offer": (3000, 180)},
        TABLET: {"control": (3000, 180), "offer": (3000, 90)},
        MOBILE: {"control": (3000, 120), "offer": (3000, 123)},
    }
)
ALIKE = counts(
    {
        DESKTOP: {"control": (3000, 120), "offer": (3000, 126)},
        TABLET: {"control": (3000, 118), "offer": (3000, 121)},
        MOBILE: {"control": (3000, 122), "offer": (3000, 125)},
    }
)


def pooled(found: ExperimentCounts) -> list[tuple[int, int]]:
    """(conversions, visitors) per arm over every segment, as the evaluator gives them."""
    totals = {"control": [0, 0], "offer": [0, 0]}
    for (arm, *_), cell in found.cells.items():
        totals[arm][0] += cell.conversions["booked"]
        totals[arm][1] += cell.exposures
    return [(c, v) for c, v in totals.values()]


def period(
    day: int,
    weights: tuple[float, float],
    segments: tuple[tuple[tuple[str, ...], tuple[float, ...]], ...] = (),
    forgotten: bool = False,
) -> WeightPeriod:
    return WeightPeriod(
        day,
        START + (day - FIRST_DAY) * DAY,
        (("control", weights[0]), ("offer", weights[1])),
        segments=segments,
        forgotten=forgotten,
        decided=START + (day - FIRST_DAY - 1) * DAY,
    )


# --- the weights ---------------------------------------------------------------------------


def test_the_probability_to_be_best_of_normal_effects() -> None:
    # One treatment: P(best) is P(effect > 0), exactly.
    assert prob_best_normal([(0.3, 0.2)]) == pytest.approx([1 - ndtr(1.5), ndtr(1.5)])
    # Two alike treatments share what control leaves; a clearly better one takes it all.
    control, first, second = prob_best_normal([(0.5, 0.1), (0.5, 0.1)])
    assert first == pytest.approx(second, abs=1e-9)
    assert control + first + second == pytest.approx(1.0)
    assert prob_best_normal([(1.0, 0.1), (0.0, 0.1)])[1] == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(ValueError, match="positive sd"):
        prob_best_normal([(0.1, 0.0)])


def test_weights_differ_per_segment_where_the_planted_truth_differs() -> None:
    made = next_period(EXPERIMENT, RolloutState(), pooled(PLANTED), START, "UTC", PLANTED)
    assert made is not None
    table = dict(made.segments)
    # Desktop gets the offer, tablets get control, each at least the minimum share.
    assert table[DESKTOP] == pytest.approx((0.1, 0.9))
    assert table[TABLET] == pytest.approx((0.9, 0.1))
    # Mobile's own numbers say nothing: pulled toward the common effect, whose weights
    # are the pooled ones (within a point it is left out and gets the pooled weights).
    mobile = table.get(MOBILE, tuple(w for _, w in made.weights))
    assert mobile[1] == pytest.approx(dict(made.weights)["offer"], abs=0.15)
    assert weights_on(EXPERIMENT, with_state(made), made.day, DESKTOP) == table[DESKTOP]
    assert weights_on(EXPERIMENT, with_state(made), made.day, ("desktop", "night")) == tuple(
        w for _, w in made.weights
    )


def with_state(made: WeightPeriod) -> RolloutState:
    return RolloutState(weights=(made,))


def test_segments_alike_keep_the_pooled_weights() -> None:
    assert segment_prob_best(EXPERIMENT, ALIKE) == {}
    made = next_period(EXPERIMENT, RolloutState(), pooled(ALIKE), START, "UTC", ALIKE)
    assert made is not None
    assert made.segments == ()


def test_a_segment_with_few_visitors_and_a_decided_one_keep_the_pooled_weights() -> None:
    small = counts(
        {
            **{key: {arm: (3000, c) for arm, c in pair.items()} for key, pair in _CLEAR.items()},
            ("mobile", "night"): {"control": (200, 2), "offer": (200, 30)},  # below 300
        }
    )
    found = segment_prob_best(EXPERIMENT, small, decided={DESKTOP})
    assert set(found) == {TABLET, MOBILE}


_CLEAR = {
    DESKTOP: {"control": 90, "offer": 180},
    TABLET: {"control": 180, "offer": 90},
    MOBILE: {"control": 120, "offer": 123},
}


def test_the_same_weights_start_no_new_period() -> None:
    made = next_period(EXPERIMENT, RolloutState(), pooled(PLANTED), START, "UTC", PLANTED)
    assert made is not None
    state = RolloutState(weights=(made,))
    assert next_period(EXPERIMENT, state, pooled(PLANTED), START + DAY, "UTC", PLANTED) is None
    # A segment's weights changing alone starts one.
    moved = counts(
        {
            DESKTOP: {"control": (3000, 90), "offer": (3000, 180)},
            TABLET: {"control": (3000, 180), "offer": (3000, 90)},
            MOBILE: {"control": (3000, 100), "offer": (3000, 150)},
        }
    )
    again = next_period(EXPERIMENT, state, pooled(moved), START + DAY, "UTC", moved)
    assert again is not None
    assert dict(again.segments) != dict(made.segments)


# --- the state -------------------------------------------------------------------------


def test_the_state_round_trips_and_old_states_read() -> None:
    table = ((DESKTOP, (0.1, 0.9)), (TABLET, (0.85, 0.15)))
    state = RolloutState(
        version=3,
        weights=(
            period(FIRST_DAY + 1, (0.5, 0.5), forgotten=True),
            period(FIRST_DAY + 2, (0.4, 0.6), table),
        ),
    )
    stored = json.loads(json.dumps(state.to_dict()))
    assert stored["weights"][1]["segments"] == {
        "desktop|evening": [0.1, 0.9],
        "tablet|evening": [0.85, 0.15],
    }
    assert stored["weights"][0]["segments_forgotten"] is True
    assert RolloutState.from_dict(stored) == state
    # A period written before segments had weights: none, and the same JSON as before.
    old = {"day": FIRST_DAY, "since": START, "weights": {"control": 0.3, "offer": 0.7}}
    read = WeightPeriod.from_dict(old)
    assert (read.segments, read.forgotten) == ((), False)
    assert set(read.to_dict()) == {"day", "since", "weights", "prob_best", "decided"}


@pytest.mark.parametrize(
    ("segments", "message"),
    [
        ({"desktop": [0.5, 0.5]}, "expected device|daypart"),
        ({"desktop|evening": [0.5]}, "expected 2 weights"),
        (["desktop|evening"], "must be a mapping"),
        ({"desktop|evening": [-0.1, 1.1]}, "weights must be >= 0 with a positive sum"),
        ({"desktop|evening": [0.0, 0.0]}, "weights must be >= 0 with a positive sum"),
        ({"desktop|evening": [float("nan"), 1.0]}, "weights must be >= 0"),
    ],
)
def test_a_bad_segment_table_is_a_clear_error(segments: object, message: str) -> None:
    raw = {"day": FIRST_DAY, "weights": {"control": 0.5, "offer": 0.5}, "segments": segments}
    with pytest.raises(ValueError, match=message):
        WeightPeriod.from_dict(raw)


def test_the_state_stays_small_the_oldest_tables_go_first() -> None:
    """The worst case: a look every day for longer than the periods are kept, each with
    the most segments a period may list."""
    table = tuple((("desktop", f"daypart-{i:02d}"), (0.12, 0.88)) for i in range(MAX_SEGMENTS))
    state = RolloutState()
    for day in range(FIRST_DAY, FIRST_DAY + MAX_PERIODS + 10):
        made = replace(
            period(day, (0.123, 0.877), table), prob_best=(("control", 0.0812), ("offer", 0.9188))
        )
        state = RolloutState(weights=with_period(state, made))
    assert len(state.weights) == MAX_PERIODS
    kept = sum(len(p.segments) for p in state.weights)
    assert kept == (MAX_SEGMENT_ENTRIES // MAX_SEGMENTS) * MAX_SEGMENTS
    forgotten = [p for p in state.weights if p.forgotten]
    assert forgotten
    assert all(p.segments == () for p in forgotten)
    assert max(p.day for p in forgotten) < min(p.day for p in state.weights if p.segments)
    # What every worker reads every few seconds (docs/design.md, Bandit allocation).
    assert len(json.dumps(state.to_dict())) < 135_000
    assert RolloutState.from_dict(json.loads(json.dumps(state.to_dict()))) == state


# --- serving ---------------------------------------------------------------------------


def context(device: str) -> Context:
    return Context(device, LocalMinute(ZoneInfo("UTC"), 3, 20 * 60), frozenset({"evening"}), "/")


SERVED = RolloutState(
    version=2,
    weights=(period(FIRST_DAY, (0.5, 0.5), ((DESKTOP, (0.1, 0.9)), (TABLET, (0.9, 0.1)))),),
)


def visitors(n: int) -> list[str]:
    return [f"visitor-{i:06d}" for i in range(n)]


def test_every_worker_picks_the_same_arm_by_the_segment_weights() -> None:
    # Two workers: policies built apart, each from the state as the store hands it out.
    stored = json.loads(json.dumps(SERVED.to_dict()))
    one, two = ExperimentPolicy(EXPERIMENT), ExperimentPolicy(EXPERIMENT)
    first, second = RolloutState.from_dict(stored), RolloutState.from_dict(stored)
    for device, offer_share in (("desktop", 0.9), ("tablet", 0.1), ("mobile", 0.5)):
        picked = [
            one.assign(first, v, (), context(device), "evening", day=FIRST_DAY).arm
            for v in visitors(3000)
        ]
        again = [
            two.assign(second, v, (), context(device), "evening", day=FIRST_DAY).arm
            for v in visitors(3000)
        ]
        assert picked == again
        assert Counter(picked)["offer"] / 3000 == pytest.approx(offer_share, abs=0.03)


def test_arms_stay_sticky_whatever_the_segment_weights() -> None:
    policy = ExperimentPolicy(EXPERIMENT)
    for visitor in visitors(50):
        mark = Mark(policy.code, "control", "desktop", "evening")
        kept = policy.assign(SERVED, visitor, (mark,), context("desktop"), "evening", day=FIRST_DAY)
        assert (kept.arm, kept.new_mark) == ("control", None)
    # A new visitor's arm is the same on every request of the day.
    arms = {
        policy.assign(SERVED, "visitor-7", (), context("tablet"), "evening", day=FIRST_DAY).arm
        for _ in range(5)
    }
    assert len(arms) == 1


# --- the evaluator ------------------------------------------------------------------------


def test_a_gate_look_stores_segment_weights_with_an_audit_entry(
    store: Store, clock: FakeClock
) -> None:
    clock.now = START + 3600
    evaluator = Evaluator(store, clock=clock, owner="worker-1")
    rules = ruleset_of(EXPERIMENT)

    async def scenario() -> tuple[RolloutState, list[dict[str, str]]]:
        for key, converted in _CLEAR.items():
            segment = Segment(*key)
            await store.record(
                segment_records(
                    segment, converted, {"control": 3000, "offer": 3000}, FIRST_DAY, "a"
                )
            )
        await evaluator.run_once(rules)
        clock.now += DAY
        await evaluator.run_once(rules)
        state = await Rollouts(store, clock).state("evening-offer")
        entries = [entry for _, entry in await store.audit("evening-offer")]
        await store.close()
        return state, entries

    state, entries = asyncio.run(scenario())
    (made,) = state.weights
    assert dict(made.segments)[DESKTOP] == pytest.approx((0.1, 0.9))
    assert dict(made.segments)[TABLET] == pytest.approx((0.9, 0.1))
    entry = next(e for e in entries if e["action"] == "weights")
    assert (
        "segment(s) with their own weights: desktop × evening: control 10%, offer 90%"
        in (entry["reason"])
    )
    assert json.loads(entry["numbers"])["segments"]["tablet|evening"] == [0.9, 0.1]


# --- the report: per period and segment -----------------------------------------------------


async def record_days(
    store: Store, split: dict[tuple[str, str], tuple[int, int]], day: int
) -> None:
    """``split``: per segment, (control, offer) visitors on ``day``; 5% of each convert."""
    for key, (control, offer) in split.items():
        segment = Segment(*key)
        arms = {"control": control, "offer": offer}
        await store.record(
            segment_records(segment, {a: n // 20 for a, n in arms.items()}, arms, day, f"{day}-")
        )


# Day 1 at the rules' 50/50, then desktop 10/90 and tablets 90/10 (mobile: the pooled 50/50).
STATE = RolloutState(
    started=START,
    weights=(period(FIRST_DAY + 1, (0.5, 0.5), ((DESKTOP, (0.1, 0.9)), (TABLET, (0.9, 0.1)))),),
)


def report_srm(store: Store, split: dict[tuple[str, str], tuple[int, int]]) -> Report:
    async def scenario() -> Report:
        await store.set_state("evening-offer", STATE.to_dict(), expected_version=None)
        await record_days(store, {DESKTOP: (500, 500), TABLET: (500, 500)}, FIRST_DAY)
        await record_days(store, split, FIRST_DAY + 1)
        report = await build_report(
            store, EXPERIMENT, ruleset_of(EXPERIMENT), now=START + 1.5 * DAY
        )
        await store.close()
        return report

    return asyncio.run(scenario())


def periods_of(report: Report) -> PeriodAnalysis:
    assert report.allocation is not None
    assert report.allocation.periods is not None
    return report.allocation.periods


def test_the_sample_ratio_passes_under_segment_weights(store: Store) -> None:
    report = report_srm(store, {DESKTOP: (100, 900), TABLET: (900, 100), MOBILE: (500, 500)})
    periods = periods_of(report)
    assert not periods.srm.flagged
    second = periods.periods[1]
    assert [s.segment for s in second.segments] == [DESKTOP, MOBILE, TABLET]
    assert [s.weights for s in second.segments] == [(0.1, 0.9), (0.5, 0.5), (0.9, 0.1)]
    assert not report.srm.flagged


def test_the_sample_ratio_fails_when_a_segment_disagrees_with_its_weights(store: Store) -> None:
    # Over both segments 1000/1000 matches the pooled 50/50: only per segment is it wrong.
    report = report_srm(store, {DESKTOP: (500, 500), TABLET: (500, 500)})
    assert periods_of(report).srm.flagged
    assert report.srm.flagged
    assert any("per-period and per-segment split" in reason for reason in report.reasons)


def test_the_comparison_is_stratified_by_segment_where_the_weights_differ() -> None:
    """Simpson's paradox: desktop converts at 10% and tablets at 2% in both arms; desktop
    sends 90% to the offer, tablets 10%. Pooled, the offer looks far better; per segment
    there is no difference, and that is what the analysis says."""
    daily = {
        FIRST_DAY + 1: {"control": Cell(1000, {"booked": 28}), "offer": Cell(1000, {"booked": 92})}
    }
    cells = {
        FIRST_DAY + 1: {
            ("control", "desktop", "evening", ""): Cell(100, {"booked": 10}),
            ("offer", "desktop", "evening", ""): Cell(900, {"booked": 90}),
            ("control", "tablet", "evening", ""): Cell(900, {"booked": 18}),
            ("offer", "tablet", "evening", ""): Cell(100, {"booked": 2}),
        }
    }
    analysis = analyze_periods(EXPERIMENT, STATE, daily, FIRST_DAY + 1, FIRST_DAY + 1, cells)
    assert analysis.uplift[1] == pytest.approx(0.0, abs=1e-9)
    assert not analysis.srm.flagged
    # Without the cells such a period is compared whole, and its sample ratio is unknown.
    whole = analyze_periods(EXPERIMENT, STATE, daily, FIRST_DAY + 1, FIRST_DAY + 1)
    assert whole.uplift[1] == pytest.approx(92 / 28 - 1)
    assert whole.periods[0].srm.reason == SEGMENTS_UNKNOWN
    # A period whose table was dropped is still stratified, its ratio no longer checked.
    dropped = replace(STATE, weights=(replace(STATE.weights[0], segments=(), forgotten=True),))
    assert [s.by_segment for s in spans(EXPERIMENT, dropped, FIRST_DAY + 1, FIRST_DAY + 1)] == [
        True
    ]
    forgotten = analyze_periods(EXPERIMENT, dropped, daily, FIRST_DAY + 1, FIRST_DAY + 1, cells)
    assert forgotten.uplift[1] == pytest.approx(0.0, abs=1e-9)
    assert {s.srm.reason for s in forgotten.periods[0].segments} == {SEGMENT_WEIGHTS_FORGOTTEN}


def test_the_gates_judge_a_standardised_mix_once_weights_differed_by_segment() -> None:
    """The same Simpson's paradox as the gates see it: pooled, the offer converts 9.2%
    against control's 2.8%; on the same mix of segments both convert 6%."""
    skewed = counts(
        {
            DESKTOP: {"control": (100, 10), "offer": (900, 90)},
            TABLET: {"control": (900, 18), "offer": (100, 2)},
        }
    )
    assert gate_pairs(EXPERIMENT, RolloutState(), skewed) == [(28, 1000), (92, 1000)]
    assert gate_pairs(EXPERIMENT, STATE, skewed) == [(60, 1000), (60, 1000)]
    # A fixed split never standardises, whatever a state says.
    fixed = replace(EXPERIMENT, allocation="fixed")
    assert gate_pairs(fixed, STATE, skewed) == [(28, 1000), (92, 1000)]
