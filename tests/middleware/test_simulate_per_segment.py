"""``daypart simulate`` on a per-segment experiment reports, per segment, what the gates
decided, on which simulated day and why, what it spent, and counts nothing in a segment
once it is decided (as the middleware serves it)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Any

from daypart.middleware.tools.simulate import SimulationConfig, simulate

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "loadtests" / "per_segment.yaml"
TRUTH = """\
base: {control: 0.10, offer: 0.10}
segments:
  - {device: desktop, daypart: evening, rates: {control: 0.10, offer: 0.15}}
  - {device: mobile, rates: {control: 0.10, offer: 0.07}}
"""


def simulated(truth: str, tmp_path: Path, **changes: Any) -> dict[str, Any]:
    """``daypart simulate``'s result (the counts path, seed 1) on ``truth``."""
    planted = tmp_path / "truth.yaml"
    planted.write_text(truth)
    config = SimulationConfig(
        RULES, experiment="offer-per-segment", truth=planted, seed=1, path="counts"
    )
    return asyncio.run(simulate(replace(config, **changes))).to_dict()


def test_each_segment_says_what_was_decided_when_and_what_it_spent(tmp_path: Path) -> None:
    result = simulated(TRUTH, tmp_path, visitors_per_day=24_000, max_days=10)
    by_segment = {(s["device"], s["daypart"]): s for s in result["segments"]}
    winner = by_segment[("desktop", "evening")]
    assert winner["decision"]["decision"] == "shipped"
    assert winner["decision"]["arm"] == "offer"
    assert 0 < winner["decision"]["day"] <= 10
    assert "beats control on desktop in the evening" in winner["decision"]["reason"]
    losers = [s for (device, _), s in by_segment.items() if device == "mobile"]
    assert losers
    assert all(s["decision"]["decision"] == "rolled_back" for s in losers)
    alike = by_segment[("tablet", "afternoon")]  # the truth plants nothing here
    assert alike["decision"] is None
    # Decided on day two or so, the winner's segment stopped counting: far fewer exposures
    # than a segment of the same traffic still learning after ten days.
    assert sum(winner["exposures"].values()) < sum(alike["exposures"].values()) / 2
    assert all(s["spent_conversions"] >= 0 for s in result["segments"])


def test_a_bandit_sends_each_segment_toward_its_own_better_arm(tmp_path: Path) -> None:
    """With ``allocation: bandit`` each segment's new visitors follow its own weights: the
    offer wins on desktop in the evening and loses on mobile, so the first gets more offer
    visitors than control and the mobile segments more control visitors than offer."""
    result = simulated(
        TRUTH.replace("0.15", "0.13"),
        tmp_path,
        visitors_per_day=12_000,
        max_days=6,
        allocation="bandit",
    )
    exposures = {(s["device"], s["daypart"]): s["exposures"] for s in result["segments"]}
    winner = exposures[("desktop", "evening")]
    assert winner["offer"] > 1.3 * winner["control"]
    losers = [shown for (device, _), shown in exposures.items() if device == "mobile"]
    assert len(losers) == 4
    assert all(shown["control"] > 1.3 * shown["offer"] for shown in losers)
