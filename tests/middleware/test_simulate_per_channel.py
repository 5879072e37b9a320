"""Where the rules declare channels, per-segment decisions are taken per device × daypart ×
channel: ``daypart simulate`` plants a winner in one channel of one device × daypart and
the gates ship it there only, not in the same device × daypart's other channel."""

from __future__ import annotations

import asyncio
from pathlib import Path

from daypart.middleware.tools.simulate import SimulationConfig, simulate

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "loadtests" / "per_segment.yaml"
CHANNELS = "site:\n  channel_from: [query:utm_source]\n  channels: [newsletter]\n"
TRUTH = """\
base: {control: 0.10, offer: 0.10}
channels: {newsletter: 0.5}
segments:
  - {device: desktop, daypart: evening, channel: newsletter, rates: {control: 0.10, offer: 0.15}}
"""


def test_a_winner_planted_in_one_channel_ships_in_that_channel_only(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES.read_text().replace("site:\n", CHANNELS, 1))
    truth = tmp_path / "truth.yaml"
    truth.write_text(TRUTH)
    config = SimulationConfig(
        rules,
        experiment="offer-per-segment",
        truth=truth,
        seed=1,
        path="counts",
        visitors_per_day=24_000,
        max_days=8,
    )
    result = asyncio.run(simulate(config)).to_dict()
    by_segment = {(s["device"], s["daypart"], s.get("channel")): s for s in result["segments"]}
    winner = by_segment[("desktop", "evening", "newsletter")]
    assert winner["decision"] is not None
    assert winner["decision"]["decision"] == "shipped"
    assert winner["decision"]["arm"] == "offer"
    assert "from newsletter" in winner["decision"]["reason"]
    # The same device × daypart through another channel converts alike on both arms.
    direct = by_segment[("desktop", "evening", "direct")]
    assert direct["decision"] is None or direct["decision"]["decision"] != "shipped"
    shipped = [
        key for key, s in by_segment.items() if (s["decision"] or {}).get("decision") == "shipped"
    ]
    assert shipped == [("desktop", "evening", "newsletter")]
