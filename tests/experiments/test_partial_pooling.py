"""Partial pooling of a treatment's effect across segments: exact posterior moments, the
random-effects estimate, and the pull toward the common effect that keeps small segments
from deciding on noise."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate
from scipy.special import logit
from scipy.stats import beta

from daypart.experiments.stats.inputs import ArmCounts
from daypart.experiments.stats.partial_pooling import (
    logit_moments,
    partial_pool,
    ship_threshold,
)


@pytest.mark.parametrize(("conversions", "visitors"), [(0, 0), (3, 40), (90, 3000), (29, 30)])
def test_logit_moments_are_the_beta_posteriors_own(conversions: int, visitors: int) -> None:
    posterior = beta(1 + conversions, 1 + visitors - conversions)
    mean = integrate.quad(lambda p: logit(p) * posterior.pdf(p), 0, 1, limit=200)[0]
    second = integrate.quad(lambda p: logit(p) ** 2 * posterior.pdf(p), 0, 1, limit=200)[0]
    got_mean, got_var = logit_moments(conversions, visitors)
    assert got_mean == pytest.approx(mean, abs=1e-7)
    assert got_var == pytest.approx(second - mean**2, abs=1e-6)


def _segment(
    name: str, control: tuple[int, int], treatment: tuple[int, int]
) -> tuple[str, ArmCounts, ArmCounts]:
    return (name, ArmCounts(control[1], control[0]), ArmCounts(treatment[1], treatment[0]))


def test_segments_that_agree_all_get_the_pooled_effect() -> None:
    same = [_segment(f"s{i}", (300, 10_000), (330, 10_000)) for i in range(6)]
    pooled = partial_pool(same)
    assert pooled.spread == 0.0
    for effect in pooled.segments:
        assert effect.effect == pytest.approx(pooled.mean)
        assert effect.sd == pytest.approx(pooled.mean_sd)
        # six segments' evidence, not one's: narrower than the segment alone
        assert effect.sd < effect.raw_sd / 2


def test_a_small_noisy_segment_is_pulled_toward_the_others() -> None:
    segments = [
        _segment("big-1", (300, 10_000), (300, 10_000)),
        _segment("big-2", (600, 20_000), (600, 20_000)),
        _segment("big-3", (300, 10_000), (300, 10_000)),
        _segment("tiny", (1, 60), (6, 60)),  # +500% on 60 visitors: luck, most likely
    ]
    pooled = partial_pool(segments)
    tiny = pooled.segments[-1]
    assert tiny.raw > 1.0
    assert abs(tiny.effect) < abs(tiny.raw) / 3
    assert tiny.prob_beat_control < 0.95


def test_a_segment_that_really_differs_keeps_its_own_effect() -> None:
    segments = [_segment(f"loses-{i}", (3_000, 100_000), (2_700, 100_000)) for i in range(5)]
    segments.append(_segment("wins", (3_000, 100_000), (3_600, 100_000)))
    pooled = partial_pool(segments)
    assert pooled.spread > 0.05
    wins = pooled.segments[-1]
    assert wins.effect == pytest.approx(wins.raw, rel=0.1)
    assert wins.prob_beat_control > 0.999
    assert wins.uplift == pytest.approx(0.2, abs=0.03)
    low, high = wins.uplift_interval
    assert low < wins.uplift < high
    for loses in pooled.segments[:-1]:
        assert loses.prob_worse_than_control > 0.99


def test_the_spread_is_dersimonian_laird() -> None:
    segments = [
        _segment("a", (100, 2_000), (130, 2_000)),
        _segment("b", (50, 1_000), (40, 1_000)),
        _segment("c", (200, 5_000), (260, 5_000)),
    ]
    raws = []
    for _, control, treatment in segments:
        c = logit_moments(control.conversions, control.visitors)
        t = logit_moments(treatment.conversions, treatment.visitors)
        raws.append((t[0] - c[0], t[1] + c[1]))
    d = np.array([r[0] for r in raws])
    w = 1 / np.array([r[1] for r in raws])
    fixed = (w * d).sum() / w.sum()
    q = (w * (d - fixed) ** 2).sum()
    tau2 = max(0.0, (q - 2) / (w.sum() - (w**2).sum() / w.sum()))
    assert partial_pool(segments).spread == pytest.approx(math.sqrt(tau2), rel=1e-12)


def test_impossible_counts_and_no_segments_are_refused() -> None:
    with pytest.raises(ValueError, match="at least one segment"):
        partial_pool([])
    with pytest.raises(ValueError, match="exceed"):
        partial_pool([_segment("x", (5, 3), (1, 3))])


def test_the_ship_threshold_spends_the_error_rate_across_segments() -> None:
    assert ship_threshold(0.95, 1) == pytest.approx(0.95)
    assert ship_threshold(0.95, 10) == pytest.approx(0.995)
    with pytest.raises(ValueError, match="at least one segment"):
        ship_threshold(0.95, 0)
