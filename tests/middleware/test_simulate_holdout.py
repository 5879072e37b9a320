"""The simulator proves the holdout: what the report says adapting earns holds, within its
credible interval, the uplift planted between the adaptive variants and the default."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from daypart.middleware.tools.cli import main
from daypart.middleware.tools.simulate import SimulationConfig, simulate
from daypart.middleware.tools.truth import load_truth

LOADTESTS = Path(__file__).resolve().parents[2] / "loadtests"
RULES = LOADTESTS / "holdout_rules.yaml"
TRUTH = LOADTESTS / "holdout_truth.yaml"


@pytest.mark.parametrize(
    ("truth", "planted"),
    [
        (TRUTH.read_text(), 0.20),
        ("base: {control: 0.05, video: 0.05}\ndefault: 0.0625\n", -0.20),
        ("base: {control: 0.05, video: 0.05}\n", 0.0),  # no default: it converts as the control
    ],
    ids=["plus-20", "minus-20", "nothing"],
)
def test_the_holdout_reports_the_planted_uplift(tmp_path: Path, truth: str, planted: float) -> None:
    path = tmp_path / "truth.yaml"
    path.write_text(truth)
    config = SimulationConfig(
        RULES, experiment="commute-video", visitors_per_day=3000, max_days=14, seed=1, truth=path
    )
    result = asyncio.run(simulate(config)).to_dict()
    holdout = result["holdout"]
    assert holdout["rule"] == "commuters-get-inspiration"
    assert holdout["planted"]["uplift"] == pytest.approx(planted)
    low, high = holdout["reported"]["uplift_interval"]
    assert low <= planted <= high
    assert holdout["within_interval"] is True
    exposures = holdout["exposures"]
    share = exposures["default"] / (exposures["default"] + exposures["adaptive"])
    assert share == pytest.approx(0.2, abs=0.02)
    # The experiment counts only the adapted visitors who entered it.
    assert sum(result["exposures"].values()) < exposures["adaptive"]
    if planted:  # a real difference, found: the interval excludes no difference at all
        assert (low > 0) == (planted > 0)
        assert (high < 0) == (planted < 0)


def test_the_revenue_planted_is_within_the_reported_interval(tmp_path: Path) -> None:
    config = SimulationConfig(
        RULES, experiment="commute-video", visitors_per_day=3000, max_days=14, seed=2, truth=TRUTH
    )
    holdout = asyncio.run(simulate(config)).to_dict()["holdout"]
    planted = holdout["planted"]["incremental_revenue_per_1000"]
    assert planted == pytest.approx(1000.0)
    low, high = holdout["reported"]["incremental_revenue_per_1000_interval"]
    assert low <= planted <= high


def test_the_command_prints_planted_and_reported(capsys: pytest.CaptureFixture[str]) -> None:
    arguments = ["simulate", "--rules", str(RULES), "--experiment", "commute-video"]
    arguments += ["--truth", str(TRUTH), "--visitors-per-day", "500", "--days", "3"]
    assert main(arguments) == 0
    out = capsys.readouterr().out
    assert "holdout of commuters-get-inspiration (20%): planted uplift +20.0%, reported" in out


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "base: {control: 0.05, video: 0.05}\ndefault: 1.5\n",
            "default 1.5: expected a conversion",
        ),
        (
            "base: {control: 0.05, video: 0.05}\nsegments: [{device: mobile, "
            "rates: {control: 0.05, video: 0.05}, default: -1}]\n",
            "segment 1: default -1",
        ),
        ("base: {control: 0.05, video: 0.05}\nvalues: {default: 100}\n", "values"),
    ],
)
def test_a_bad_default_is_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "truth.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_truth(path, ["control", "video"], ["train_home"])


def test_the_default_rate_falls_back_from_segment_to_file_to_control(tmp_path: Path) -> None:
    path = tmp_path / "truth.yaml"
    path.write_text(
        "base: {control: 0.05, video: 0.07}\ndefault: 0.04\nvalues: {control: 90, video: 90}\n"
        "segments:\n"
        "  - {device: mobile, daypart: train_home, default: 0.03,\n"
        "     rates: {control: 0.06, video: 0.06}}\n"
        "  - {device: tablet, rates: {control: 0.08, video: 0.08}}\n"
    )
    truth = load_truth(path, ["control", "video"], ["train_home"])
    assert truth.default_rate("mobile", "train_home") == 0.03
    assert truth.default_rate("tablet", "other") == 0.04
    assert truth.default_value() == 90  # the control's, none given
    path.write_text("base: {control: 0.05, video: 0.07}\n")
    assert (
        load_truth(path, ["control", "video"], ["train_home"]).default_rate("mobile", "x") == 0.05
    )
