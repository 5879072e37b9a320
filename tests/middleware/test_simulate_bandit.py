"""The simulator with ``allocation: bandit``: both paths send new visitors by the weights
the evaluator stored, so a true winner gets most of them."""

from __future__ import annotations

import asyncio
from typing import Literal

import pytest

from daypart.middleware.tools.simulate import SimulationConfig, SimulationResult, simulate
from daypart.rules import EXAMPLES_DIR

TRAVEL = EXAMPLES_DIR / "travel.yaml"


def run(
    path: Literal["requests", "counts"], allocation: Literal["fixed", "bandit"]
) -> SimulationResult:
    config = SimulationConfig(
        TRAVEL,
        seed=2,
        path=path,
        base_rate=0.10,
        uplift=0.20,
        visitors_per_day=2000,
        max_days=12,
        allocation=allocation,
    )
    return asyncio.run(simulate(config))


@pytest.mark.parametrize("path", ["counts", "requests"])
def test_a_bandit_shows_the_worse_arm_to_fewer_visitors(
    path: Literal["requests", "counts"],
) -> None:
    fixed, bandit = run(path, "fixed"), run(path, "bandit")
    # The fixed split shows both arms alike; the bandit, once it has looked, mostly the
    # better one, never less than the minimum share of 10% the worse one.
    assert fixed.exposures["control"] == pytest.approx(fixed.exposures["offer"], rel=0.15)
    assert bandit.exposures["control"] < 0.6 * bandit.exposures["offer"]
    assert bandit.exposures["control"] > 0.05 * bandit.exposures["offer"]


def test_an_unknown_allocation_is_a_clear_error() -> None:
    config = SimulationConfig(TRAVEL, path="counts", allocation="greedy")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="allocation 'greedy': expected fixed or bandit"):
        asyncio.run(simulate(config))
