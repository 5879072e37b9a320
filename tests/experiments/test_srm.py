"""Sample-ratio mismatch: the chi-square test of exposures against the configured split."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from daypart.experiments.stats import SRM_THRESHOLD, TOO_FEW_EXPOSURES, SrmResult, srm_check
from daypart.experiments.stats.reasons import SINGLE_ARM, ZERO_WEIGHT_EXPOSED


@pytest.mark.parametrize(
    ("exposures", "weights"),
    [
        ([5050, 4950], [1, 1]),
        ([5200, 4800], [1, 1]),
        ([9000, 1000, 1000], [8, 1, 1]),
        ([310, 290, 305, 295], [1, 1, 1, 1]),
        ([120, 380], [0.25, 0.75]),
    ],
)
def test_matches_scipy_chisquare(exposures: list[int], weights: list[float]) -> None:
    total = sum(exposures)
    expected = [total * w / sum(weights) for w in weights]
    reference = stats.chisquare(exposures, expected)
    result = srm_check(exposures, weights)
    assert result.statistic == pytest.approx(float(reference.statistic), rel=1e-12)
    assert result.p_value == pytest.approx(float(reference.pvalue), rel=1e-10, abs=1e-300)
    assert result.expected == pytest.approx(expected)
    assert result.observed == tuple(exposures)
    assert result.flagged == (float(reference.pvalue) < SRM_THRESHOLD)
    assert result.reason is None


def test_flags_a_real_mismatch_and_not_noise() -> None:
    # 5200/4800 of 10,000 at 50/50: chi² = 16, p = 6.3e-5.
    assert srm_check([5200, 4800], [1, 1]).flagged
    assert not srm_check([5050, 4950], [1, 1]).flagged
    # the split matters: 9000/1000 is what 90/10 should give
    assert not srm_check([9000, 1000], [9, 1]).flagged
    assert srm_check([9000, 1000], [1, 1]).flagged


def test_false_alarm_rate_under_the_null_and_power_under_a_mismatch() -> None:
    rng = np.random.default_rng(20240601)
    weights = [2.0, 1.0, 1.0]
    shares = np.array(weights) / sum(weights)
    null = [srm_check(list(rng.multinomial(20_000, shares)), weights) for _ in range(3000)]
    alarms = sum(result.flagged for result in null)
    assert alarms <= 12  # expected 3 at p < 0.001
    uniform_p = np.array([result.p_value for result in null])
    assert 0.45 < float(np.mean(uniform_p < 0.5)) < 0.55  # p-values are uniform
    skewed = np.array([0.5, 0.26, 0.24])  # one arm loses a point of traffic to another
    power = [srm_check(list(rng.multinomial(100_000, skewed)), weights).flagged for _ in range(200)]
    assert sum(power) >= 190


def test_too_few_exposures_is_neutral() -> None:
    result = srm_check([3, 2], [1, 1])
    assert (result.flagged, result.p_value, result.reason) == (False, 1.0, TOO_FEW_EXPOSURES)
    assert srm_check([0, 0], [1, 1]).reason == TOO_FEW_EXPOSURES
    # the smallest expected count decides: 100 exposures at 99/1 expect 1 in the small arm
    assert srm_check([99, 1], [99, 1]).reason == TOO_FEW_EXPOSURES
    assert srm_check([5, 5], [1, 1]).reason is None


def test_single_arm_and_zero_weights() -> None:
    assert srm_check([100], [1]).reason == SINGLE_ARM
    ignored = srm_check([500, 500, 0], [1, 1, 0])
    assert ignored.reason is None
    assert not ignored.flagged
    exposed = srm_check([500, 500, 3], [1, 1, 0])
    assert exposed.flagged
    assert (exposed.p_value, exposed.reason) == (0.0, ZERO_WEIGHT_EXPOSED)


@pytest.mark.parametrize(
    ("exposures", "weights", "message"),
    [
        ([1, 2], [1], "2 exposure counts for 1 weights"),
        ([], [], "no arms"),
        ([1, -2], [1, 1], "arm 1: exposures must be a non-negative integer"),
        ([1.5, 2], [1, 1], "arm 0: exposures must be a non-negative integer"),
        ([True, 2], [1, 1], "exposures must be a non-negative integer"),
        ([1, 2], [1, -1], "arm 1: weight must be finite and not negative"),
        ([1, 2], [1, float("nan")], "weight must be finite"),
        ([1, 2], [0, 0], "at least one weight must be positive"),
        ([1, 2], [1, "1"], "weight must be a number"),
    ],
)
def test_misuse_raises_value_error(
    exposures: list[int], weights: list[float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        srm_check(exposures, weights)


def test_result_is_strict_json() -> None:
    for result in (srm_check([5200, 4800], [1, 1]), srm_check([500, 500, 3], [1, 1, 0])):
        data = result.to_dict()
        json.dumps(data, allow_nan=False)
        assert set(data) == {
            "p_value", "statistic", "flagged", "observed", "expected", "threshold", "reason"
        }  # fmt: skip
    assert isinstance(srm_check([1], [1]), SrmResult)
