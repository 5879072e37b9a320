"""The experiment report: from counts, rules and rollout state to what the board shows."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import Iterable
from typing import Any

import pytest

from daypart.experiments.gates import evaluate_gates
from daypart.experiments.report import (
    Report,
    ReportInput,
    build_report,
    build_reports,
    experiment_from_counts,
    report_from_counts,
    reports_from_counts,
    stage_label,
)
from daypart.experiments.report_export import format_reports, reports_csv
from daypart.experiments.state import RolloutState
from daypart.experiments.stats import analyze
from daypart.experiments.store.base import Cell, Conversion, ExperimentCounts, Exposure, Segment
from daypart.rules.model import (
    Arm,
    Audience,
    Experiment,
    Gates,
    Goal,
    RuleSet,
    Site,
    Stage,
    Thresholds,
)

DAY = 86400.0
LEGACY = Thresholds(prob_beat_control=0.90, expected_loss_below=0.002)  # advance_when
NOW = 1_700_000_000.0
GOAL = "booked"
EXPERIMENT = Experiment(
    name="evening-offer",
    arms=(Arm("control", "booking", weight=1.0), Arm("offer", "booking-offer", weight=1.0)),
    goal=GOAL,
    rollout=(
        Stage(audience=Audience(header={"x-channel": frozenset({"callcenter"})})),
        Stage(traffic=0.05),
        Stage(traffic=0.25),
        Stage(traffic=0.5),
    ),
    gates=Gates(
        min_visitors_per_arm=300,
        grow=LEGACY,
        ship=LEGACY,
        rollback_prob_worse_than_control=0.95,
        min_stage_seconds=DAY,
    ),
)
RUNNING = RolloutState(stage=2, status="running", since=NOW - 2 * DAY, version=3)

CellSpec = tuple[str, str, str, int, int]  # arm, device, daypart, exposures, conversions


def counts_of(cells: Iterable[CellSpec], value: float | None = None) -> ExperimentCounts:
    built: dict[tuple[str, str, str, str], Cell] = {}
    for arm, device, daypart, exposures, conversions in cells:
        cell = Cell(exposures=exposures, conversions={GOAL: conversions})
        if value is not None and conversions:
            # values value, value + 10, value, value + 10, ...
            values = [value + 10 * (i % 2) for i in range(conversions)]
            cell.revenue[GOAL] = float(sum(values))
            cell.revenue_sq[GOAL] = float(sum(v * v for v in values))
        built[(arm, device, daypart, "")] = cell
    return ExperimentCounts(EXPERIMENT.name, built)


WINNING = [
    ("control", "desktop", "evening", 1500, 150),
    ("control", "mobile", "train_home", 1000, 50),
    ("offer", "desktop", "evening", 1500, 210),
    ("offer", "mobile", "train_home", 1000, 80),
]


def report(
    cells: Iterable[CellSpec] = WINNING,
    state: RolloutState = RUNNING,
    revenue: bool | None = None,
) -> Report:
    return report_from_counts(EXPERIMENT, counts_of(cells), state, NOW, revenue=revenue)


def test_pooled_and_segment_numbers_are_the_analyses_of_those_counts() -> None:
    result = report()
    pooled = analyze([(200, 2500), (290, 2500)])
    assert [arm.result for arm in result.arms] == pooled
    assert [(s.device, s.daypart) for s in result.segments] == [
        ("desktop", "evening"),
        ("mobile", "train_home"),
    ]
    assert [a.result for a in result.segments[0].arms] == analyze([(150, 1500), (210, 1500)])
    assert [a.result for a in result.segments[1].arms] == analyze([(50, 1000), (80, 1000)])
    assert result.visitors == 5000
    assert result.segments[1].visitors == 2000
    assert [(a.name, a.variant) for a in result.arms] == [
        ("control", "booking"),
        ("offer", "booking-offer"),
    ]


def test_to_dict_has_what_the_dashboard_reads_and_is_strict_json() -> None:
    data = report().to_dict()
    assert set(data) >= {
        "experiment", "goal", "state", "stage_label", "visitors", "best_arm",
        "best_prob_beat_control", "light", "reasons", "srm", "arms", "segments", "gate",
    }  # fmt: skip
    assert data["state"] == RUNNING.to_dict()
    arm = data["arms"][1]
    assert set(arm) >= {
        "name", "variant", "visitors", "conversions", "rate", "rate_interval",
        "prob_beat_control", "prob_best", "expected_loss", "uplift_interval",
    }  # fmt: skip
    assert set(data["segments"][0]) >= {"device", "daypart", "arms"}
    assert set(data["srm"]) >= {"p_value", "flagged"}
    assert set(data["gate"]) >= {"verdict", "reason"}
    assert json.loads(json.dumps(data, allow_nan=False)) == data


def test_a_clear_winner_is_green_with_the_gate_verdict_of_the_evaluator() -> None:
    result = report()
    assert result.light == "green"
    assert result.best_arm == "offer"
    assert result.best_prob_beat_control == result.arms[1].result.prob_beat_control > 0.99
    expected = evaluate_gates(EXPERIMENT, RUNNING, [(200, 2500), (290, 2500)], NOW)
    assert result.gate == expected
    assert result.gate.verdict == "advance"
    assert any(reason.startswith("the gates would advance") for reason in result.reasons)


def test_a_clear_loser_is_red_and_the_control_leads() -> None:
    losing = [
        (arm, d, p, n, c)
        for (arm, d, p, n, _), (_, _, _, _, c) in zip(WINNING, reversed(WINNING), strict=True)
    ]
    result = report(losing)
    assert result.light == "red"
    assert result.gate.verdict == "rollback"
    assert result.best_arm == "control"
    assert result.best_prob_beat_control is None


def test_inconclusive_or_too_small_is_amber_with_the_reason() -> None:
    close = report(
        [("control", "desktop", "evening", 2000, 200), ("offer", "desktop", "evening", 2000, 205)]
    )
    assert close.light == "amber"
    assert any("not yet conclusive" in r for r in close.reasons)
    small = report(
        [("control", "desktop", "evening", 100, 5), ("offer", "desktop", "evening", 100, 30)]
    )
    assert small.light == "amber"
    assert any("100 visitors in the smallest arm; the gates need 300" in r for r in small.reasons)


def test_young_stage_holds_but_the_evidence_still_shows() -> None:
    young = RolloutState(stage=2, status="running", since=NOW - 3600, version=3)
    result = report(state=young)
    assert result.gate.verdict == "hold"
    assert result.light == "green"
    assert any("minimum" in r for r in result.reasons)


def test_sample_ratio_mismatch_is_red_and_explained() -> None:
    skewed = [
        ("control", "desktop", "evening", 5600, 560),
        ("offer", "desktop", "evening", 4400, 445),
    ]
    result = report(skewed)
    assert result.srm.flagged
    assert result.srm.p_value < 1e-9
    assert result.light == "red"
    assert any(
        r.startswith("sample ratio mismatch: exposures 5600/4400 against a 1/1 split")
        for r in result.reasons
    )
    assert report().srm.flagged is False


def test_weights_set_the_expected_split() -> None:
    weighted = Experiment(
        name="weighted",
        arms=(Arm("control", "a", weight=3.0), Arm("offer", "b", weight=1.0)),
        goal=GOAL,
    )
    counts = ExperimentCounts(
        "weighted",
        {
            ("control", "desktop", "day", ""): Cell(7500, {GOAL: 750}),
            ("offer", "desktop", "day", ""): Cell(2500, {GOAL: 250}),
        },
    )
    result = report_from_counts(weighted, counts, RUNNING, NOW)
    assert not result.srm.flagged
    assert result.srm.expected == pytest.approx((7500.0, 2500.0))


@pytest.mark.parametrize(
    ("state", "light", "reason"),
    [
        (
            RolloutState(stage=2, status="paused", since=NOW, version=4),
            "grey",
            "experiment is paused",
        ),
        (
            RolloutState(stage=2, status="rolled_back", since=NOW, version=4),
            "grey",
            "experiment is rolled back",
        ),
        (
            RolloutState(stage=3, status="completed", winner="offer", since=NOW, version=4),
            "grey",
            "experiment is completed",
        ),
    ],
)
def test_not_running_is_grey(state: RolloutState, light: str, reason: str) -> None:
    result = report(state=state)
    assert result.light == light
    assert reason in result.reasons
    assert result.gate.verdict == "hold"


def test_no_data_is_grey_and_neutral() -> None:
    result = report([])
    assert result.light == "grey"
    assert result.visitors == 0
    assert result.best_arm is None
    assert result.segments == ()
    assert "no exposures yet" in result.reasons
    assert [a.result.reason for a in result.arms] == ["no_data", "no_data"]
    json.dumps(result.to_dict(), allow_nan=False)


def test_stage_labels() -> None:
    assert stage_label(EXPERIMENT, RolloutState(stage=0)) == (
        "stage 1 of 4: audience header x-channel=callcenter"
    )
    assert stage_label(EXPERIMENT, RUNNING) == "stage 3 of 4: 25% of traffic"
    assert stage_label(EXPERIMENT, RolloutState(stage=1, status="paused")) == (
        "stage 2 of 4 (paused): 5% of traffic"
    )
    assert stage_label(EXPERIMENT, RolloutState(stage=3, status="completed", winner="offer")) == (
        "completed: offer for everyone"
    )
    assert stage_label(EXPERIMENT, RolloutState(stage=1, status="rolled_back")) == (
        "rolled back at stage 2 of 4: everyone sees control"
    )
    partial = Experiment("p", EXPERIMENT.arms, GOAL, rollout=(
        Stage(traffic=0.1, audience=Audience(cookie={"beta": frozenset({"*"})})),
    ))  # fmt: skip
    assert (
        stage_label(partial, RolloutState())
        == "stage 1 of 1: audience cookie beta present, 10% of it"
    )


def test_revenue_fields_when_the_goal_carries_values() -> None:
    with_values = report_from_counts(EXPERIMENT, counts_of(WINNING, value=50.0), RUNNING, NOW)
    assert with_values.revenue
    arm = with_values.to_dict()["arms"][1]
    assert arm["value_per_conversion"] == pytest.approx(55.0)
    assert arm["revenue_per_visitor"] == pytest.approx(291 / 2502 * 55.0)
    assert arm["revenue_prob_beat_control"] > 0.99
    assert arm["incremental_revenue_per_1000"] > 0
    assert "revenue_per_visitor" in with_values.to_dict()["segments"][0]["arms"][0]
    without = report().to_dict()
    assert not without["revenue"]
    assert "revenue_per_visitor" not in without["arms"][0]
    forced = report(revenue=True).to_dict()  # the rules say the goal has values: show zeros
    assert forced["arms"][0]["revenue_per_visitor"] == 0.0


def test_arms_no_longer_in_the_rules_are_left_out_and_said_so() -> None:
    result = report([*WINNING, ("retired", "desktop", "evening", 900, 10)])
    assert [a.name for a in result.arms] == ["control", "offer"]
    assert result.visitors == 5000
    assert "counts of arms no longer in the rules are left out: retired" in result.reasons


def test_batch_equals_one_at_a_time() -> None:
    other = [("control", "tablet", "night", 400, 20), ("offer", "tablet", "night", 410, 25)]
    sources = [ReportInput(EXPERIMENT, counts_of(c), RUNNING) for c in (WINNING, other, [])]
    batch = reports_from_counts(sources, NOW)
    single = [report_from_counts(s.experiment, s.counts, s.state, NOW) for s in sources]
    assert [r.to_dict() for r in batch] == [r.to_dict() for r in single]


def test_csv_has_a_row_per_experiment_segment_and_arm() -> None:
    reports = [report().to_dict(), report([("control", "tablet", "night", 400, 20)]).to_dict()]
    rows = list(csv.DictReader(io.StringIO(reports_csv(reports))))
    assert len(rows) == (1 + 2) * 2 + (1 + 1) * 2
    first = rows[0]
    assert (first["experiment"], first["segment"], first["arm"]) == (
        "evening-offer",
        "all",
        "control",
    )
    assert float(first["rate"]) == reports[0]["arms"][0]["rate"]
    assert float(rows[1]["uplift_low"]) == reports[0]["arms"][1]["uplift_interval"][0]
    segment_rows = [r for r in rows[:6] if r["segment"] == "mobile/train_home"]
    assert [r["visitors"] for r in segment_rows] == ["1000", "1000"]
    assert rows[0]["revenue_per_visitor"] == ""


def test_plain_text_report_names_everything() -> None:
    text = format_reports([report().to_dict()])
    for word in (
        "evening-offer",
        "[GREEN]",
        "control",
        "offer",
        "desktop × evening",
        "SRM p",
        "gate: advance",
    ):
        assert word in text
    control_row = next(line for line in text.splitlines() if line.strip().startswith("control"))
    assert "0.0% … 0.0%" not in control_row  # control against itself: no uplift shown
    assert control_row.count("–") >= 2
    assert format_reports([]) == "no experiments"


def test_experiment_from_counts_guesses_control_and_goal() -> None:
    counts = ExperimentCounts(
        "legacy",
        {
            ("b-arm", "mobile", "other", ""): Cell(10, {"signup": 2, "booked": 1}),
            ("control", "mobile", "other", ""): Cell(10, {"signup": 3}),
        },
    )
    experiment = experiment_from_counts(counts)
    assert [arm.name for arm in experiment.arms] == ["control", "b-arm"]
    assert experiment.goal == "signup"


def test_build_report_reads_the_memory_store() -> None:
    memory = pytest.importorskip("daypart.experiments.store.memory")

    async def scenario() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        store = memory.MemoryStore()
        segment = Segment("desktop", "evening")
        records: list[Exposure | Conversion] = []
        for i in range(400):
            arm = "control" if i % 2 else "offer"
            records.append(Exposure(EXPERIMENT.name, arm, segment, f"v{i}"))
            if i % 4 == 0 or i % 10 == 1:  # offer: half its visitors; control: a fifth
                records.append(
                    Conversion(EXPERIMENT.name, arm, segment, f"v{i}", GOAL, 40.0 + i % 3)
                )
        await store.record(records)
        ruleset = RuleSet(
            version=1,
            site=Site(),
            dayparts={},
            variants={},
            goals={GOAL: Goal(GOAL, value_header="x-order-value")},
            rules=(),
            experiments={EXPERIMENT.name: EXPERIMENT},
        )
        one = await build_report(store, EXPERIMENT, ruleset, now=NOW)
        without_rules = await build_reports(store, None)
        return one.to_dict(), [r.to_dict() for r in without_rules]

    one, without_rules = asyncio.run(scenario())
    assert one["visitors"] == 400
    assert [(a["visitors"], a["conversions"]) for a in one["arms"]] == [(200, 40), (200, 100)]
    assert one["revenue"] is True
    # no state stored: the evaluator would start the stage now and hold for its minimum time
    assert one["gate"]["verdict"] == "hold"
    assert one["state"]["since"] == NOW
    (guessed,) = without_rules
    assert guessed["srm"]["reason"] == "weights_unknown"
    assert [a["name"] for a in guessed["arms"]] == ["control", "offer"]


# --- channels -------------------------------------------------------------------------------

ChannelCell = tuple[str, str, str, str, int, int]  # arm, device, daypart, channel, exp., conv.

WITH_CHANNELS: list[ChannelCell] = [
    ("control", "desktop", "evening", "email", 600, 60),
    ("control", "desktop", "evening", "direct", 900, 90),
    ("control", "mobile", "train_home", "email", 1000, 50),
    ("offer", "desktop", "evening", "email", 600, 90),
    ("offer", "desktop", "evening", "direct", 900, 120),
    ("offer", "mobile", "train_home", "email", 1000, 80),
    ("offer", "mobile", "train_home", "", 50, 5),  # counted before the rules had channels
]


def channel_counts(cells: Iterable[ChannelCell]) -> ExperimentCounts:
    return ExperimentCounts(
        EXPERIMENT.name,
        {(a, d, p, c): Cell(exposures=n, conversions={GOAL: k}) for a, d, p, c, n, k in cells},
    )


def test_channels_are_reported_per_channel_and_per_device_daypart_and_channel() -> None:
    result = report_from_counts(EXPERIMENT, channel_counts(WITH_CHANNELS), RUNNING, NOW)
    # Segments are device × daypart over every channel, as without channels.
    assert [(s.device, s.daypart, s.channel) for s in result.segments] == [
        ("desktop", "evening", None),
        ("mobile", "train_home", None),
    ]
    evening = [(150, 1500), (210, 1500)]
    assert [a.result for a in result.segments[0].arms] == analyze(evening)
    assert [(c.channel, c.visitors) for c in result.channels] == [
        ("", 50),
        ("direct", 1800),
        ("email", 3200),
    ]
    email = [(110, 1600), (170, 1600)]
    assert [a.result for a in result.channels[2].arms] == analyze(email)
    assert [(s.device, s.daypart, s.channel) for s in result.channel_segments] == [
        ("desktop", "evening", "direct"),
        ("desktop", "evening", "email"),
        ("mobile", "train_home", ""),
        ("mobile", "train_home", "email"),
    ]
    cell = result.channel_segments[1]
    assert [a.result for a in cell.arms] == analyze([(60, 600), (90, 600)])
    # the pooled numbers and the gates do not change with the split
    assert [a.result for a in result.arms] == analyze([(200, 2500), (295, 2550)])
    data = result.to_dict()
    assert data["segments"][0] == result.segments[0].to_dict()
    assert "channel" not in data["segments"][0]
    assert data["channel_segments"][1]["channel"] == "email"
    assert data["channels"][2]["channel"] == "email"
    assert json.loads(json.dumps(data, allow_nan=False)) == data


def test_without_channels_the_report_has_none() -> None:
    data = report().to_dict()
    assert (data["channels"], data["channel_segments"]) == ([], [])
    assert all("channel" not in segment for segment in data["segments"])


def test_an_inconsistent_channel_cell_is_named_with_its_channel() -> None:
    cells = [*WITH_CHANNELS, ("control", "tablet", "night", "ads", 0, 3)]
    result = report_from_counts(EXPERIMENT, channel_counts(cells), RUNNING, NOW)
    assert result.data_quality == (
        "inconsistent data in control on tablet × night × ads: 3 conversions exceed 0 "
        "visitors; left out of the analysis, and the gates hold (did the store lose data? "
        "returning visitors' conversions were counted without their exposures)",
    )
    assert "ads" not in [c.channel for c in result.channels]


def test_csv_and_text_show_the_channels() -> None:
    data = report_from_counts(EXPERIMENT, channel_counts(WITH_CHANNELS), RUNNING, NOW).to_dict()
    rows = list(csv.DictReader(io.StringIO(reports_csv([data]))))
    kinds = [(r["segment"], r["device"], r["daypart"], r["channel"]) for r in rows[::2]]
    assert kinds == [
        ("all", "all", "all", "all"),
        ("desktop/evening", "desktop", "evening", "all"),
        ("mobile/train_home", "mobile", "train_home", "all"),
        ("all/all/-", "all", "all", "-"),
        ("all/all/direct", "all", "all", "direct"),
        ("all/all/email", "all", "all", "email"),
        ("desktop/evening/direct", "desktop", "evening", "direct"),
        ("desktop/evening/email", "desktop", "evening", "email"),
        ("mobile/train_home/-", "mobile", "train_home", "-"),
        ("mobile/train_home/email", "mobile", "train_home", "email"),
    ]
    email = [r for r in rows if r["segment"] == "all/all/email"]
    assert [(r["arm"], r["visitors"], r["conversions"]) for r in email] == [
        ("control", "1600", "110"),
        ("offer", "1600", "170"),
    ]
    # without channels the column is there, and empty
    plain = list(csv.DictReader(io.StringIO(reports_csv([report().to_dict()]))))
    assert {r["channel"] for r in plain} == {""}
    assert all(r["segment"].count("/") <= 1 for r in plain)
    text = format_reports([data])
    assert "channels (every device and daypart" in text
    assert "before channels: offer" in text
    assert "email: control" in text
    assert "channels (" not in format_reports([report().to_dict()])


def test_a_reader_that_shows_no_channel_can_leave_their_analyses_out() -> None:
    counts = channel_counts(WITH_CHANNELS)
    full = reports_from_counts([ReportInput(EXPERIMENT, counts, RUNNING)], NOW)[0]
    lean = reports_from_counts([ReportInput(EXPERIMENT, counts, RUNNING, channels=False)], NOW)[0]
    assert (lean.channels, lean.channel_segments) == ((), ())
    assert full.channels
    assert lean.segments == full.segments
    assert lean.arms == full.arms
    assert lean.gate == full.gate


def test_the_text_report_names_each_decided_segment() -> None:
    data = report().to_dict()
    data["per_segment"] = {
        "summary": "per segment: 1 shipped, 1 rolled back, 10 learning",
        "decisions": [
            {"segment": "desktop × evening", "decision": "shipped", "arm": "offer",
             "reason": "offer beats control on desktop in the evening"},
            {"segment": "tablet × morning", "decision": "rolled_back", "arm": "control",
             "reason": "offer is worse than control on tablet in the morning"},
        ],
    }  # fmt: skip
    text = format_reports([data])
    assert "  per segment: 1 shipped, 1 rolled back, 10 learning" in text
    assert "    desktop × evening: shipped offer — offer beats control" in text
    assert "    tablet × morning: rolled back — offer is worse" in text
    assert "per segment" not in format_reports([report().to_dict()])
