"""``analyze``: per-arm results of a conversion experiment, ready for the API.

Input: ``(conversions, visitors)`` per arm, the control's index. Output: one frozen
``ArmResult`` per arm, in input order, that serialises straight to JSON (``to_dict``).

Conventions:

- The control's ``prob_beat_control`` is 0.5: compared with an independent copy of
  itself it wins half the time. It is never the arm a gate advances (the gates look at
  treatments), and a threshold such as 0.95 can never fire on it.
- The control's ``uplift_interval`` is (0, 0): its uplift over itself is exactly zero.
- ``expected_loss`` is in conversion-rate units (0.002 = 0.2 percentage points).

Degenerate data returns valid, neutral numbers with a ``reason`` code rather than
raising: an arm without visitors reports the prior (rate 0.5, interval 0.025–0.975) with
``"no_data"``; zero or all conversions are analysed normally but flagged
(``"no_conversions"``, ``"all_converted"``); a lone arm is best with probability 1,
loses nothing, and says ``"single_arm"``. Misuse — negative counts, more conversions
than visitors, non-integer counts, no arms, a control index out of range — raises
``ValueError`` naming the arm.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from daypart.experiments.stats._grid import arm_edges, unique_rows
from daypart.experiments.stats.beta import CREDIBLE_LEVEL, credible_interval, posterior
from daypart.experiments.stats.compare import compare, uplift_interval
from daypart.experiments.stats.reasons import (
    ALL_CONVERTED,
    NO_CONVERSIONS,
    NO_DATA,
    SINGLE_ARM,
)


@dataclass(frozen=True, slots=True)
class ArmResult:
    """One arm of one analysis. Probabilities are in [0, 1]; intervals are
    ``(low, high)`` at ``CREDIBLE_LEVEL``; ``reason`` is None unless the data is
    degenerate (see the module docstring)."""

    conversions: int
    visitors: int
    rate: float
    rate_interval: tuple[float, float]
    prob_beat_control: float
    prob_best: float
    expected_loss: float
    uplift_interval: tuple[float, float]
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "conversions": self.conversions,
            "visitors": self.visitors,
            "rate": self.rate,
            "rate_interval": list(self.rate_interval),
            "prob_beat_control": self.prob_beat_control,
            "prob_best": self.prob_best,
            "expected_loss": self.expected_loss,
            "uplift_interval": list(self.uplift_interval),
            "reason": self.reason,
        }


CACHE_SIZE = 4096
"""Analyses remembered (least recently used out). Results are immutable and depend only
on the counts, so a dashboard refresh, or the gates asked about the counts a report just
analysed, costs a dictionary lookup."""

_Key = tuple[tuple[tuple[int, int], ...], int]
_cache: OrderedDict[_Key, tuple[ArmResult, ...]] = OrderedDict()
_cache_lock = threading.Lock()


def clear_cache() -> None:
    """Forget every remembered analysis (benchmarks measure the computation itself)."""
    with _cache_lock:
        _cache.clear()


def _count(value: object, what: str, arm: int) -> int:
    # bool is an int to Python, never a count to an analyst.
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"arm {arm}: {what} must be an integer, got {value!r}")
    count = int(value)
    if count < 0:
        raise ValueError(f"arm {arm}: {what} must not be negative, got {count}")
    return count


def _items(value: object, what: str) -> list[Any]:
    if isinstance(value, np.ndarray):
        return list(value)
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise ValueError(f"{what}, got {value!r}")
    return list(value)


def validate_arms(arms: Sequence[tuple[int, int]], control: int = 0) -> list[tuple[int, int]]:
    """The arms as ``(conversions, visitors)`` int pairs; ``ValueError`` on misuse."""
    items = _items(arms, "arms must be a sequence of (conversions, visitors) pairs")
    if not items:
        raise ValueError("no arms given")
    if isinstance(control, bool) or not isinstance(control, int | np.integer):
        raise ValueError(f"control must be an arm index, got {control!r}")
    if not 0 <= control < len(items):
        raise ValueError(f"control index {control} out of range for {len(items)} arm(s)")
    checked = []
    for i, pair in enumerate(items):
        if type(pair) is tuple and len(pair) == 2:
            conversions, visitors = pair
            # The common case, decided without the checks below.
            if type(conversions) is int and type(visitors) is int and 0 <= conversions <= visitors:
                checked.append((conversions, visitors))
                continue
        values = _items(pair, f"arm {i}: expected a (conversions, visitors) pair")
        if len(values) != 2:
            raise ValueError(f"arm {i}: expected a (conversions, visitors) pair, got {pair!r}")
        conversions = _count(values[0], "conversions", i)
        visitors = _count(values[1], "visitors", i)
        if conversions > visitors:
            raise ValueError(f"arm {i}: {conversions} conversions exceed {visitors} visitors")
        checked.append((conversions, visitors))
    return checked


def _reason(conversions: int, visitors: int) -> str | None:
    if visitors == 0:
        return NO_DATA
    if conversions == 0:
        return NO_CONVERSIONS
    if conversions == visitors:
        return ALL_CONVERTED
    return None


def analyze(arms: Sequence[tuple[int, int]], control: int = 0) -> list[ArmResult]:
    """Analyse one experiment: ``arms`` are ``(conversions, visitors)``; ``control`` is
    the index of the control arm. Returns one ``ArmResult`` per arm, in order."""
    return analyze_many([arms], control)[0]


def analyze_many(
    experiments: Sequence[Sequence[tuple[int, int]]], control: int = 0
) -> list[list[ArmResult]]:
    """``analyze`` for many experiments (or segments) at once; identical to calling it on
    each, but vectorised across them — a full report is one call."""
    keys = [(tuple(validate_arms(arms, control)), int(control)) for arms in experiments]
    found: dict[_Key, tuple[ArmResult, ...]] = {}
    with _cache_lock:
        for key in keys:
            hit = _cache.get(key)
            if hit is not None:
                _cache.move_to_end(key)
                found[key] = hit
    by_size: dict[int, list[_Key]] = defaultdict(list)
    for key in dict.fromkeys(keys):
        if key not in found:
            by_size[len(key[0])].append(key)
    for size, missing in by_size.items():
        counts = np.array([key[0] for key in missing], dtype=float).reshape(len(missing), size, 2)
        for key, arm_results in zip(missing, _analyze_block(counts, control), strict=True):
            found[key] = tuple(arm_results)
        with _cache_lock:
            for key in missing:
                _cache[key] = found[key]
            while len(_cache) > CACHE_SIZE:
                _cache.popitem(last=False)
    return [list(found[key]) for key in keys]


def _analyze_block(
    counts: np.ndarray[Any, np.dtype[np.float64]], control: int
) -> list[list[ArmResult]]:
    """Problems with the same number of arms: counts (B, k, 2) → results."""
    unique, inverse = unique_rows(counts.reshape(len(counts), -1))
    unique = unique.reshape(len(unique), -1, 2)
    a, b = posterior(unique[..., 0], unique[..., 1])
    arms = a.shape[1]
    low, high = credible_interval(a, b, CREDIBLE_LEVEL)
    rate = a / (a + b)
    if arms > 1:
        # Each distinct posterior's breakpoints, once for both integrals.
        posteriors, index = unique_rows(np.stack([a.ravel(), b.ravel()], axis=-1))
        edges, fine_edges = arm_edges(posteriors[:, 0], posteriors[:, 1])
        edges = edges[index].reshape(*a.shape, -1)
        fine_edges = fine_edges[index].reshape(*a.shape, -1)
        beat, best, loss, log_norm = compare(a, b, control, edges)
        up_low, up_high = uplift_interval(a, b, control, CREDIBLE_LEVEL, log_norm, fine_edges)
    else:
        beat = np.full_like(a, 0.5)
        best = np.ones_like(a)
        loss = np.zeros_like(a)
        up_low = up_high = np.zeros_like(a)
    # Python floats in bulk: one tolist() per array instead of a float() per number.
    columns = zip(
        rate.tolist(),
        low.tolist(),
        high.tolist(),
        beat.tolist(),
        best.tolist(),
        loss.tolist(),
        up_low.tolist(),
        up_high.tolist(),
        strict=True,
    )
    solved = []
    for rates, lows, highs, beats, bests, losses, up_lows, up_highs in columns:
        solved.append(
            [
                (
                    rates[j],
                    (lows[j], highs[j]),
                    beats[j],
                    bests[j],
                    losses[j],
                    (up_lows[j], up_highs[j]),
                )
                for j in range(arms)
            ]
        )
    results = []
    for problem, row in zip(counts.astype(np.int64).tolist(), inverse.tolist(), strict=True):
        arm_results = []
        for j, (conversions, visitors) in enumerate(problem):
            r, interval, b_, best_, loss_, uplift = solved[row][j]
            arm_results.append(
                ArmResult(
                    conversions,
                    visitors,
                    r,
                    interval,
                    b_,
                    best_,
                    loss_,
                    uplift,
                    SINGLE_ARM if arms == 1 else _reason(conversions, visitors),
                )
            )
        results.append(arm_results)
    return results
