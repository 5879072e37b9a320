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

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from daypart.experiments.stats.beta import CREDIBLE_LEVEL, credible_interval, posterior
from daypart.experiments.stats.compare import compare, uplift_interval

NO_DATA = "no_data"
SINGLE_ARM = "single_arm"
NO_CONVERSIONS = "no_conversions"
ALL_CONVERTED = "all_converted"
REASONS = (NO_DATA, SINGLE_ARM, NO_CONVERSIONS, ALL_CONVERTED)


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


def _count(value: object, what: str, arm: int) -> int:
    # bool is an int to Python, never a count to an analyst.
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"arm {arm}: {what} must be an integer, got {value!r}")
    count = int(value)
    if count < 0:
        raise ValueError(f"arm {arm}: {what} must not be negative, got {count}")
    return count


def validate_arms(arms: Sequence[tuple[int, int]], control: int = 0) -> list[tuple[int, int]]:
    """The arms as ``(conversions, visitors)`` int pairs; ``ValueError`` on misuse."""
    if isinstance(arms, str | bytes) or not isinstance(arms, Sequence):
        raise ValueError(f"arms must be a sequence of (conversions, visitors) pairs, got {arms!r}")
    if len(arms) == 0:
        raise ValueError("no arms given")
    if isinstance(control, bool) or not isinstance(control, int | np.integer):
        raise ValueError(f"control must be an arm index, got {control!r}")
    if not 0 <= control < len(arms):
        raise ValueError(f"control index {control} out of range for {len(arms)} arm(s)")
    checked = []
    for i, pair in enumerate(arms):
        if isinstance(pair, str | bytes) or not isinstance(pair, Sequence) or len(pair) != 2:
            raise ValueError(f"arm {i}: expected a (conversions, visitors) pair, got {pair!r}")
        conversions = _count(pair[0], "conversions", i)
        visitors = _count(pair[1], "visitors", i)
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
    checked = [validate_arms(arms, control) for arms in experiments]
    results: list[list[ArmResult]] = [[] for _ in checked]
    by_size: dict[int, list[int]] = defaultdict(list)
    for index, arms in enumerate(checked):
        by_size[len(arms)].append(index)
    for size, indices in by_size.items():
        counts = np.array([checked[i] for i in indices], dtype=float).reshape(len(indices), size, 2)
        for index, arm_results in zip(indices, _analyze_block(counts, control), strict=True):
            results[index] = arm_results
    return results


def _analyze_block(counts: np.ndarray[Any, np.dtype[np.float64]], control: int) -> list[list[ArmResult]]:
    """Problems with the same number of arms: counts (B, k, 2) → results."""
    unique, inverse = np.unique(counts.reshape(len(counts), -1), axis=0, return_inverse=True)
    unique = unique.reshape(len(unique), -1, 2)
    a, b = posterior(unique[..., 0], unique[..., 1])
    arms = a.shape[1]
    low, high = credible_interval(a, b, CREDIBLE_LEVEL)
    rate = a / (a + b)
    if arms > 1:
        beat, best, loss = compare(a, b, control)
        up_low, up_high = uplift_interval(a, b, control, CREDIBLE_LEVEL)
    else:
        beat = np.full_like(a, 0.5)
        best = np.ones_like(a)
        loss = np.zeros_like(a)
        up_low = up_high = np.zeros_like(a)
    results = []
    for problem, row in zip(counts, inverse.reshape(-1), strict=True):
        arm_results = []
        for j in range(arms):
            conversions, visitors = int(problem[j, 0]), int(problem[j, 1])
            arm_results.append(
                ArmResult(
                    conversions=conversions,
                    visitors=visitors,
                    rate=float(rate[row, j]),
                    rate_interval=(float(low[row, j]), float(high[row, j])),
                    prob_beat_control=float(beat[row, j]),
                    prob_best=float(best[row, j]),
                    expected_loss=float(loss[row, j]),
                    uplift_interval=(float(up_low[row, j]), float(up_high[row, j])),
                    reason=SINGLE_ARM if arms == 1 else _reason(conversions, visitors),
                )
            )
        results.append(arm_results)
    return results
