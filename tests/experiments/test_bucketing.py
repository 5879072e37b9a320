"""Assignment: deterministic, uniform, and ramps that only ever add visitors.

The statistical tests use fixed ids, so they are exact regressions, not chances to flake:
a failure means the hash or its encoding changed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from daypart.experiments.bucketing import (
    ARM,
    TRAFFIC,
    ArmPicker,
    audience_matches,
    bucket,
    choose_arm,
    in_rollout,
)
from daypart.experiments.enrollment import Enrollment
from daypart.experiments.state import RolloutState
from daypart.rules.context import Context
from daypart.rules.localtime import LocalMinute
from daypart.rules.model import Arm, Audience, Experiment, Stage

IDS = [f"visitor-{i:06d}" for i in range(100_000)]
SALT = "evening-offer"

visitors = st.text(min_size=1, max_size=40)
salts = st.text(max_size=30)
shares = st.floats(min_value=0.0, max_value=1.0)
weights = st.lists(st.floats(min_value=0.0, max_value=100.0), min_size=1, max_size=6).filter(
    lambda ws: sum(ws) > 0
)


# -- properties --------------------------------------------------------------------------


@given(visitors, salts, shares, shares)
def test_ramps_only_add_visitors(visitor: str, salt: str, a: float, b: float) -> None:
    low, high = sorted((a, b))
    if in_rollout(visitor, salt, low):
        assert in_rollout(visitor, salt, high)


@given(visitors, salts, st.sampled_from([ARM, TRAFFIC, "other"]))
def test_bucket_is_a_deterministic_point_in_the_unit_interval(
    visitor: str, salt: str, dimension: str
) -> None:
    point = bucket(visitor, salt, dimension)
    assert 0.0 <= point < 1.0
    assert bucket(visitor, salt, dimension) == point


@given(visitors, salts, weights)
def test_choose_arm_picks_an_arm_with_weight(visitor: str, salt: str, ws: list[float]) -> None:
    index = choose_arm(visitor, salt, ws)
    assert 0 <= index < len(ws)
    assert ws[index] > 0
    assert choose_arm(visitor, salt, ws) == index


@given(visitors, salts)
def test_everyone_at_full_traffic_and_no_one_at_zero(visitor: str, salt: str) -> None:
    assert in_rollout(visitor, salt, 1.0)
    assert not in_rollout(visitor, salt, 0.0)


@given(visitors, st.integers(min_value=1, max_value=3))
def test_the_arm_never_changes_when_traffic_grows(visitor: str, stage: int) -> None:
    # Through the enrollment the policy uses: a visitor who entered at an earlier,
    # smaller stage is still in at a later one, in the same arm.
    experiment = Experiment(
        name="evening-offer",
        arms=(Arm("control", "booking"), Arm("offer", "booking-offer", weight=3.0)),
        goal="booked",
        salt=SALT,
        rollout=(Stage(traffic=0.01), Stage(traffic=0.05), Stage(traffic=0.25), Stage()),
    )
    enrollment = Enrollment(experiment, SALT)
    context = Context("desktop", LocalMinute(ZoneInfo("UTC"), 0, 0), frozenset(), "/")
    earlier = enrollment.enroll(visitor, RolloutState(stage=stage - 1), context)
    later = enrollment.enroll(visitor, RolloutState(stage=stage), context)
    if earlier is not None:
        assert later == earlier


def test_the_same_everywhere() -> None:
    # Pinned values: another process (own hash seed) and every host must agree, and a
    # change of hash or encoding would silently move every running visitor.
    assert bucket("visitor-1", SALT, ARM) == 0.6450616450554515
    assert bucket("visitor-1", SALT, TRAFFIC) == 0.9030400143147219
    assert bucket("é✓", "", ARM) == 0.11623538667663869
    assert choose_arm("visitor-1", SALT, (7, 2, 1)) == 0
    code = (
        "from daypart.experiments.bucketing import bucket;"
        "print(repr(bucket('Xk3_pQ9aZ0bC1dE2', 'checkout', 'arm')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
    ).stdout
    assert float(out) == bucket("Xk3_pQ9aZ0bC1dE2", "checkout", ARM) == 0.10117132380855975


def test_bad_weights_are_refused() -> None:
    for bad in ([], [0.0, 0.0], [1.0, -1.0], [float("nan")], [float("inf"), 1.0]):
        with pytest.raises(ValueError, match="weights"):
            choose_arm("v", SALT, bad)


# -- distribution over 100,000 fixed ids --------------------------------------------------


@pytest.mark.parametrize("split", [(50, 50), (70, 20, 10), (1, 1, 1, 1)])
def test_split_matches_the_weights(split: tuple[int, ...]) -> None:
    counts = Counter(choose_arm(visitor, SALT, split) for visitor in IDS)
    observed = [counts[i] for i in range(len(split))]
    expected = [len(IDS) * w / sum(split) for w in split]
    assert stats.chisquare(observed, expected).pvalue > 0.001


@pytest.mark.parametrize("share", [0.05, 0.25])
def test_traffic_share(share: float) -> None:
    inside = sum(in_rollout(visitor, SALT, share) for visitor in IDS)
    # 5 standard deviations of a binomial share: 0.0035 at 5%, 0.0068 at 25%
    tolerance = 5 * (share * (1 - share) / len(IDS)) ** 0.5
    assert abs(inside / len(IDS) - share) < tolerance


def test_traffic_and_arm_are_independent() -> None:
    table = [[0, 0], [0, 0]]
    for visitor in IDS:
        table[in_rollout(visitor, SALT, 0.25)][choose_arm(visitor, SALT, (1, 1))] += 1
    assert stats.chi2_contingency(table).pvalue > 0.001


def test_salts_reshuffle() -> None:
    # Two experiments with different salts must not put the same visitors in the same arm.
    table = [[0, 0], [0, 0]]
    for visitor in IDS[:20_000]:
        table[choose_arm(visitor, "a", (1, 1))][choose_arm(visitor, "b", (1, 1))] += 1
    assert stats.chi2_contingency(table).pvalue > 0.001


# -- audiences --------------------------------------------------------------------------


def audience(**parts: dict[str, set[str]]) -> Audience:
    def freeze(values: dict[str, set[str]]) -> dict[str, frozenset[str]]:
        return {name: frozenset(v) for name, v in values.items()}

    return Audience(
        query=freeze(parts.get("query", {})),
        header=freeze(parts.get("header", {})),
        cookie=freeze(parts.get("cookie", {})),
    )


@pytest.mark.parametrize(
    ("given_audience", "query", "headers", "cookies", "expected"),
    [
        (audience(), {}, {}, {}, True),  # no matcher: everyone
        (audience(header={"x-channel": {"callcenter"}}), {}, {"x-channel": "callcenter"}, {}, True),
        (audience(header={"x-channel": {"callcenter"}}), {}, {"x-channel": "web"}, {}, False),
        (audience(header={"x-channel": {"callcenter"}}), {}, {}, {}, False),
        (audience(header={"x-channel": {"*"}}), {}, {"x-channel": ""}, {}, True),
        (audience(header={"x-channel": {"*"}}), {}, {}, {}, False),
        (audience(query={"utm_source": {"news", "mail"}}), {"utm_source": "mail"}, {}, {}, True),
        (audience(query={"utm_source": {"news"}}), {"utm_source": "News"}, {}, {}, False),
        (audience(cookie={"staff": {"1"}}), {}, {}, {"staff": "1"}, True),
        (audience(cookie={"staff": {"1"}}), {"staff": "1"}, {"staff": "1"}, {}, False),
        (
            audience(cookie={"staff": {"1"}}, header={"x-channel": {"*"}}),
            {},
            {"x-channel": "callcenter"},
            {"staff": "0"},
            False,  # every matcher must match
        ),
        (
            audience(cookie={"staff": {"1"}}, header={"x-channel": {"*"}}),
            {},
            {"x-channel": "callcenter"},
            {"staff": "1"},
            True,
        ),
    ],
)
def test_audience_matches(
    given_audience: Audience,
    query: dict[str, str],
    headers: dict[str, str],
    cookies: dict[str, str],
    expected: bool,
) -> None:
    assert audience_matches(given_audience, query, headers, cookies) is expected


def _choose_arm_as_first_released(visitor: str, salt: str, weights: Sequence[float]) -> int:
    """The arm algorithm as daypart first shipped it: a visitor's arm must never change."""
    total = sum(weights)
    point = bucket(visitor, salt, "arm") * total
    cumulative = 0.0
    last = 0
    for index, weight in enumerate(weights):
        if weight > 0.0:
            cumulative += weight
            last = index
            if point < cumulative:
                return index
    return last


@settings(max_examples=300)
@given(
    st.text(min_size=1, max_size=40),
    st.text(max_size=20),
    st.lists(st.floats(min_value=0.0, max_value=1e6), min_size=1, max_size=6).filter(
        lambda ws: sum(ws) > 0
    ),
)
def test_the_kept_arm_picker_picks_as_daypart_always_did(
    visitor: str, salt: str, weights: list[float]
) -> None:
    assert ArmPicker(salt, weights).pick(visitor) == _choose_arm_as_first_released(
        visitor, salt, weights
    )
