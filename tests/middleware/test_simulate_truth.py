"""``daypart simulate --truth``: true rates per arm and segment, checked before anything
runs, and per-segment results that say what the experiment cost where."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from daypart.middleware.tools.cli import main
from daypart.middleware.tools.simulate import SimulationConfig, simulate
from daypart.middleware.tools.truth import load_truth, uniform
from daypart.rules import EXAMPLES_DIR

TRAVEL = EXAMPLES_DIR / "travel.yaml"
ARMS = ["control", "offer"]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "truth.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("base: {control: 0.03, offer: 1.5}", "offer 1.5: expected a conversion rate from 0 to 1"),
        ("base: {control: 0.03}", "missing; the experiment's arms are control, offer"),
        ("base: {control: 0.03, offer: 0.03, video: 0.1}", "arms video unknown"),
        ("rates: {control: 0.03}", "expected a mapping with base"),
        (
            "base: {control: 0.03, offer: 0.03}\nsegments: [{device: phone, rates: {}}]",
            "device 'phone'; expected one of mobile, tablet, desktop",
        ),
        (
            "base: {control: 0.03, offer: 0.03}\n"
            "segments: [{daypart: lunch, rates: {control: 0.1, offer: 0.1}}]",
            "daypart 'lunch'; the rules define",
        ),
        ("base: {control: 0.03, offer: 0.03}\nvalues: {control: -5, offer: 1}", "values"),
        ("base: [", "cannot read the truth file"),
    ],
)
def test_a_bad_truth_file_is_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ValueError, match=message):
        load_truth(path, ARMS, ["evening", "night"])


def test_uniform_truth_refuses_impossible_settings() -> None:
    with pytest.raises(ValueError, match=r"base rate 1\.5"):
        uniform(ARMS, 1.5, 0.0)
    with pytest.raises(ValueError, match="at least -1 "):
        uniform(ARMS, 0.03, -1.5)
    with pytest.raises(ValueError, match="offer's rate"):
        uniform(ARMS, 0.9, 0.5)  # 1.35
    assert uniform(ARMS, 0.1, 0.2).base == {"control": 0.1, "offer": pytest.approx(0.12)}


def test_the_first_matching_segment_wins(tmp_path: Path) -> None:
    truth = load_truth(
        write(
            tmp_path,
            "base: {control: 0.1, offer: 0.1}\n"
            "segments:\n"
            "  - {device: desktop, daypart: evening, rates: {control: 0.1, offer: 0.2}}\n"
            "  - {device: desktop, rates: {control: 0.1, offer: 0.05}}\n",
        ),
        ARMS,
        ["evening"],
    )
    assert truth.rates("desktop", "evening")["offer"] == 0.2
    assert truth.rates("desktop", "other")["offer"] == 0.05
    assert truth.rates("tablet", "evening")["offer"] == 0.1


def test_results_per_segment_count_the_worse_arm_where_it_was_worse(tmp_path: Path) -> None:
    truth = write(
        tmp_path,
        "base: {control: 0.10, offer: 0.10}\n"
        "values: {control: 100, offer: 150}\n"
        "segments:\n"
        "  - {device: desktop, rates: {control: 0.10, offer: 0.15}}\n"
        "  - {device: tablet, rates: {control: 0.10, offer: 0.05}}\n",
    )
    config = SimulationConfig(
        TRAVEL, visitors_per_day=600, max_days=3, channel_share=1.0, truth=truth
    )
    result = asyncio.run(simulate(config))
    by_device = {segment["device"]: segment for segment in result.segments}
    assert set(by_device) == {"desktop", "tablet"}
    desktop, tablet = by_device["desktop"], by_device["tablet"]
    assert desktop["true_rates"] == {"control": 0.10, "offer": 0.15}
    assert desktop["worse_arm_exposures"] == desktop["exposures"]["control"]
    assert tablet["worse_arm_exposures"] == tablet["exposures"]["offer"]
    assert result.worse_arm_exposures() == (
        desktop["exposures"]["control"] + tablet["exposures"]["offer"]
    )
    assert sum(result.exposures.values()) == sum(
        sum(segment["exposures"].values()) for segment in result.segments
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--base-rate", "1.5"], "base rate 1.5"),
        (["--uplift", "-2"], "at least -1"),
        (["--days", "0"], "expected at least 1"),
    ],
)
def test_the_command_says_what_is_wrong(
    arguments: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["simulate", *arguments]) == 2
    assert message in capsys.readouterr().err


def test_the_same_seed_is_the_same_run() -> None:
    def run(seed: int) -> dict[str, object]:
        config = SimulationConfig(
            TRAVEL, visitors_per_day=400, max_days=4, channel_share=1.0, seed=seed
        )
        return asyncio.run(simulate(config)).to_dict()

    first = run(3)
    assert run(3) == first  # visitor ids come from the seed, not from the OS
    assert run(4) != first
