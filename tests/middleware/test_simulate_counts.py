"""The simulator's two paths agree: drawing each hour's counts (``counts``, what
``make simulate`` runs by the hundred) records what sending every visitor through the
middleware (``requests``) records, and the same store, evaluator and gates decide alike."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterable
from typing import Literal

import pytest

from daypart.middleware.tools.simulate import SimulationConfig, SimulationResult, simulate
from daypart.rules import EXAMPLES_DIR
from daypart.rules.model import Gates

TRAVEL = EXAMPLES_DIR / "travel.yaml"
DAY = 86400.0
Path_ = Literal["requests", "counts"]


def run(path: Path_, seed: int, **options: object) -> SimulationResult:
    config = SimulationConfig(TRAVEL, seed=seed, path=path, **options)  # type: ignore[arg-type]
    return asyncio.run(simulate(config))


def totals(results: Iterable[SimulationResult]) -> dict[str, int]:
    """Exposures and conversions per arm and per segment, over many runs."""
    found: dict[str, int] = {}
    for result in results:
        for segment in result.segments:
            where = f"{segment['device']}/{segment['daypart']}"
            for arm, count in segment["exposures"].items():
                for key in (f"exposed {arm}", f"exposed {where}"):
                    found[key] = found.get(key, 0) + count
            for arm, count in segment["conversions"].items():
                found[f"converted {arm}"] = found.get(f"converted {arm}", 0) + count
        found["visitors"] = found.get("visitors", 0) + result.visitors
    return found


def test_both_paths_record_alike() -> None:
    # Held at stage 0 (the call-centre audience, here half the visitors) for three days:
    # who arrives, in which segment, who the stage admits, the split and the conversions.
    options = {
        "visitors_per_day": 2000,
        "max_days": 3,
        "channel_share": 0.5,
        "base_rate": 0.10,
        "uplift": 0.5,
        "gates": Gates(min_stage_seconds=400 * DAY),
    }
    requests = totals(run("requests", seed, **options) for seed in range(1, 7))
    counts = totals(run("counts", seed, **options) for seed in range(101, 107))
    assert (
        requests.keys()
        == counts.keys()
        == {
            "exposed control",
            "exposed offer",
            "exposed desktop/evening",
            "exposed tablet/evening",
            "converted control",
            "converted offer",
            "visitors",
        }
    )
    assert requests["visitors"] == counts["visitors"] == 6 * 3 * 2000
    # Six runs of 6,000 visitors, half admitted: about 18,000 exposures, 1,350 conversions
    # per arm. Counts differ by chance only: within 4.5 standard errors of their difference.
    for key in requests.keys() - {"visitors"}:
        spread = 4.5 * math.sqrt(requests[key] + counts[key])
        assert abs(requests[key] - counts[key]) < spread, (key, requests[key], counts[key])
    assert requests["exposed control"] == pytest.approx(9000, rel=0.06)
    assert counts["converted offer"] / counts["exposed offer"] == pytest.approx(0.15, rel=0.1)


def test_both_paths_decide_on_the_same_looks() -> None:
    # A doubling is clear at every look: each stage grows at its first daily look and the
    # last one ships — on the same day in both paths, as the evaluator's hours line up.
    options = {
        "visitors_per_day": 2000,
        "max_days": 10,
        "channel_share": 0.5,
        "base_rate": 0.10,
        "uplift": 1.0,
    }
    requests = run("requests", 1, **options)
    counts = run("counts", 1, **options)
    assert requests.outcome == counts.outcome == "shipped:offer"
    assert requests.days == counts.days
    assert requests.visitors == counts.visitors  # every arrival up to the last look
    assert [entry.split(":")[:2] for entry in requests.history] == [
        entry.split(":")[:2] for entry in counts.history
    ]


def test_an_unknown_path_is_refused() -> None:
    with pytest.raises(ValueError, match="expected requests or counts"):
        run("walk", 1)  # type: ignore[arg-type]
