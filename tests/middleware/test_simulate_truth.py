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


CHANNELS = ["newsletter", "instagram", "pinterest", "callcenter", "other", "direct"]


@pytest.mark.parametrize(
    ("text", "channels", "message"),
    [
        (
            "base: {control: 0.1, offer: 0.1}\nchannels: {newsletter: 0.5}",
            [],
            "channel 'newsletter', but the rules declare no channels",
        ),
        (
            "base: {control: 0.1, offer: 0.1}\n"
            "segments: [{channel: email, rates: {control: 0.1, offer: 0.1}}]",
            CHANNELS,
            "channel 'email'; the rules count in newsletter, instagram",
        ),
        (
            "base: {control: 0.1, offer: 0.1}\nchannels: {newsletter: 0.7, instagram: 0.5}",
            CHANNELS,
            "the shares add up to more than 1",
        ),
        (
            "base: {control: 0.1, offer: 0.1}\nchannels: {newsletter: 2}",
            CHANNELS,
            "newsletter 2; expected a share from 0 to 1",
        ),
    ],
)
def test_a_bad_channel_in_the_truth_is_a_clear_error(
    tmp_path: Path, text: str, channels: list[str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        load_truth(write(tmp_path, text), ARMS, ["evening"], channels)


def test_visitors_arrive_through_channels_and_are_judged_per_channel(tmp_path: Path) -> None:
    truth = write(
        tmp_path,
        "base: {control: 0.10, offer: 0.10}\n"
        "channels: {instagram: 0.5, other: 0.2}\n"
        "segments:\n"
        "  - {channel: instagram, rates: {control: 0.10, offer: 0.20}}\n"
        "  - {channel: other, rates: {control: 0.10, offer: 0.02}}\n",
    )
    # (Newsletter readers have a rule of their own in the travel rules, outside the
    # experiment.) Every visitor carries the first stage's audience header (X-Channel:
    # callcenter), a channel source too but after utm_source: the rest are callcenter.
    config = SimulationConfig(
        TRAVEL, visitors_per_day=600, max_days=2, channel_share=1.0, truth=truth
    )
    result = asyncio.run(simulate(config))
    segments = {(s["device"], s["channel"]): s for s in result.segments}
    assert {channel for _, channel in segments} == {"instagram", "other", "callcenter"}
    instagram = segments["desktop", "instagram"]
    assert instagram["true_rates"] == {"control": 0.10, "offer": 0.20}
    assert instagram["worse_arm_exposures"] == instagram["exposures"]["control"]
    other = segments["desktop", "other"]
    assert other["worse_arm_exposures"] == other["exposures"]["offer"]
    callcenter = segments["desktop", "callcenter"]
    assert callcenter["worse_arm_exposures"] == 0  # the same rate in both arms
    by_channel: dict[str, int] = {}
    for segment in result.segments:
        by_channel[segment["channel"]] = by_channel.get(segment["channel"], 0) + sum(
            segment["exposures"].values()
        )
    total = sum(by_channel.values())
    assert total == sum(result.exposures.values()) > 300
    assert 0.4 < by_channel["instagram"] / total < 0.6  # the truth's shares
    assert 0.1 < by_channel["other"] / total < 0.3


def test_channels_in_the_rules_change_no_draw_of_a_run(tmp_path: Path) -> None:
    # The same seed, the same visitors and arms with or without channels in the rules:
    # a visitor's channel comes from a generator of its own.
    without = tmp_path / "no-channels.yaml"
    without.write_text(
        "\n".join(
            line
            for line in TRAVEL.read_text().splitlines()
            if not line.lstrip().startswith(("channel_from:", "channels:", "# value is"))
        )
    )
    runs = [
        asyncio.run(
            simulate(SimulationConfig(rules, visitors_per_day=300, max_days=2, channel_share=0.5))
        )
        for rules in (TRAVEL, without)
    ]
    assert runs[0].exposures == runs[1].exposures
    assert runs[0].conversions == runs[1].conversions
    assert runs[0].exposures["offer"] > 0
    assert {s["channel"] for s in runs[0].segments} == {"callcenter"}  # stage 1: its audience
    assert all("channel" not in s for s in runs[1].segments)
