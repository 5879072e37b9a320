"""The gates per segment: each segment's verdict for each treatment, on partially pooled
evidence, with the experiment-wide error rate spent across the comparisons."""

from __future__ import annotations

import pytest

from daypart.experiments.segment_gates import judge_segments, percent, probability
from daypart.experiments.segments import segment_fields, segment_name, segment_of, segment_words
from daypart.experiments.stats import ArmCounts, analyze
from daypart.experiments.stats.partial_pooling import partial_pool, ship_threshold
from daypart.experiments.store.base import Cell, ExperimentCounts
from daypart.rules.model import Arm, Experiment, Gates, Thresholds

GATES = Gates(
    min_visitors_per_arm=300,
    ship=Thresholds(prob_beat_control=0.99),
    rollback_prob_worse_than_control=0.95,
)
OFFER = Experiment(
    "evening-offer",
    (Arm("control", "booking"), Arm("offer", "booking-offer")),
    goal="booked",
    gates=GATES,
)

Counts = dict[tuple[str, str, str], tuple[int, int]]  # (arm, device, daypart) -> (visitors, conv.)


def counts(cells: Counts, experiment: str = "evening-offer") -> ExperimentCounts:
    return ExperimentCounts(
        experiment,
        {
            (*key, ""): Cell(visitors, {"booked": conversions})
            for key, (visitors, conversions) in cells.items()
        },
    )


# Desktop evenings: +25% on 20,000 visitors an arm. Tablet evenings: the offer loses a
# third. Desktop lunch: no difference. Mobile evenings: 200 visitors an arm.
MIXED: Counts = {
    ("control", "desktop", "evening"): (20_000, 600),
    ("offer", "desktop", "evening"): (20_000, 750),
    ("control", "tablet", "evening"): (8_000, 240),
    ("offer", "tablet", "evening"): (8_000, 150),
    ("control", "desktop", "lunch"): (6_000, 180),
    ("offer", "desktop", "lunch"): (6_000, 182),
    ("control", "mobile", "evening"): (200, 6),
    ("offer", "mobile", "evening"): (200, 12),
}


def test_each_segment_gets_its_verdict_with_the_numbers_behind_it() -> None:
    judgement = judge_segments(OFFER, counts(MIXED))
    assert judgement.comparisons == 4
    assert judgement.ship_threshold == pytest.approx(ship_threshold(0.99, 4))  # 0.9975
    assert judgement.rollback_threshold == pytest.approx(ship_threshold(0.95, 4))  # 0.9875
    verdicts = {s.segment: s.arm("offer").verdict for s in judgement.segments}
    assert verdicts == {
        ("desktop", "evening"): "ship",
        ("tablet", "evening"): "rollback",
        ("desktop", "lunch"): "inconclusive",
        ("mobile", "evening"): "too_few_visitors",
    }
    desktop = judgement.segment(("desktop", "evening"))
    assert desktop is not None
    assert desktop.visitors == 40_000
    assert desktop.winner is not None
    assert desktop.winner.arm == "offer"
    offer = desktop.arm("offer")
    assert offer.prob_beat_control >= judgement.ship_threshold
    assert offer.reason.startswith("offer beats control on desktop in the evening: P(beat)=")
    assert "(gate 0.99 over 4 comparison(s))" in offer.reason
    tablet = judgement.segment(("tablet", "evening"))
    assert tablet is not None
    assert tablet.control_wins
    assert tablet.winner is None
    assert tablet.arm("offer").reason.startswith("offer is worse than control on tablet")
    mobile = judgement.segment(("mobile", "evening"))
    assert mobile is not None
    assert mobile.arm("offer").reason == (
        "200 visitors in the smaller of offer and control on mobile in the evening; the gates "
        "need 300 per arm"
    )


def test_raw_numbers_are_the_segments_own_and_pooled_ones_come_from_partial_pooling() -> None:
    judgement = judge_segments(OFFER, counts(MIXED))
    keys = sorted({key[1:] for key in MIXED})
    pooled = partial_pool(
        [
            (
                segment_name(key),
                ArmCounts(*MIXED[("control", *key)]),
                ArmCounts(*MIXED[("offer", *key)]),
            )
            for key in keys
        ]
    )
    assert [s.segment for s in judgement.segments] == keys
    for segment, effect in zip(judgement.segments, pooled.segments, strict=True):
        device, daypart = segment.segment
        control, offer = MIXED[("control", device, daypart)], MIXED[("offer", device, daypart)]
        own = analyze([(control[1], control[0]), (offer[1], offer[0])])
        arm = segment.arm("offer")
        assert arm.raw_prob_beat_control == own[1].prob_beat_control
        assert arm.raw_uplift_interval == own[1].uplift_interval
        assert arm.raw_uplift == pytest.approx(own[1].rate / own[0].rate - 1)
        assert arm.prob_beat_control == effect.prob_beat_control
        assert arm.uplift == effect.uplift
        assert arm.uplift_interval == effect.uplift_interval
        assert (arm.visitors, arm.conversions) == offer
        assert (segment.control_visitors, segment.control_conversions) == control
    assert judgement.spread == {"offer": pooled.spread}


def test_the_correction_holds_back_a_win_that_one_segment_alone_would_ship() -> None:
    # Every segment gains +15%: pooled, the effect is shared; alone, each is borderline.
    alone: Counts = {
        ("control", "desktop", "evening"): (10_000, 500),
        ("offer", "desktop", "evening"): (10_000, 580),
    }
    one = judge_segments(OFFER, counts(alone)).segments[0].arm("offer")
    assert one.prob_beat_control >= 0.99
    assert one.verdict == "ship"
    # The same evidence among eleven segments where nothing happens: the comparisons
    # multiply, and pooling pulls the lone gain toward the others' zero.
    many = dict(alone)
    for i in range(11):
        many[("control", "desktop", f"part{i}")] = (10_000, 500)
        many[("offer", "desktop", f"part{i}")] = (10_000, 500)
    judgement = judge_segments(OFFER, counts(many))
    assert judgement.comparisons == 12
    lone = judgement.segment(("desktop", "evening"))
    assert lone is not None
    assert lone.arm("offer").verdict == "inconclusive"
    assert all(s.arm("offer").verdict == "inconclusive" for s in judgement.segments)


def test_an_a_a_test_ships_nothing_anywhere() -> None:
    same: Counts = {}
    for device in ("mobile", "tablet", "desktop"):
        for daypart in ("morning", "lunch", "evening", "other"):
            same[("control", device, daypart)] = (3_000, 90)
            same[("offer", device, daypart)] = (3_000, 90)
    judgement = judge_segments(OFFER, counts(same))
    assert judgement.comparisons == 12
    assert {s.arm("offer").verdict for s in judgement.segments} == {"inconclusive"}
    assert all(s.arm("offer").prob_beat_control == pytest.approx(0.5) for s in judgement.segments)


def test_several_treatments_count_as_more_comparisons_and_each_has_its_verdict() -> None:
    three = Experiment(
        "hero",
        (Arm("control", "a"), Arm("bold", "b"), Arm("calm", "c")),
        goal="booked",
        gates=GATES,
    )
    cells: Counts = {
        ("control", "desktop", "evening"): (20_000, 600),
        ("bold", "desktop", "evening"): (20_000, 760),
        ("calm", "desktop", "evening"): (20_000, 800),
        ("control", "mobile", "evening"): (20_000, 600),
        ("bold", "mobile", "evening"): (20_000, 610),
        ("calm", "mobile", "evening"): (20_000, 420),
    }
    judgement = judge_segments(three, counts(cells, "hero"))
    assert judgement.comparisons == 4  # two segments × two treatments
    desktop = judgement.segment(("desktop", "evening"))
    mobile = judgement.segment(("mobile", "evening"))
    assert desktop is not None
    assert mobile is not None
    assert [a.verdict for a in desktop.arms] == ["ship", "ship"]
    assert desktop.winner is not None
    assert desktop.winner.arm == "calm"
    assert mobile.arm("calm").verdict == "rollback"
    assert mobile.arm("bold").verdict == "inconclusive"
    assert not mobile.control_wins  # bold may still win there


def test_inconsistent_cells_are_left_out_and_named() -> None:
    broken = dict(MIXED)
    broken[("offer", "desktop", "lunch")] = (10, 40)  # the store lost its exposures
    judgement = judge_segments(OFFER, counts(broken))
    assert len(judgement.warnings) == 1
    assert "inconsistent data in offer on desktop × lunch" in judgement.warnings[0]
    lunch = judgement.segment(("desktop", "lunch"))
    assert lunch is not None
    assert lunch.arm("offer").visitors == 0  # left out: the control's cell alone remains
    assert lunch.arm("offer").verdict == "too_few_visitors"
    desktop = judgement.segment(("desktop", "evening"))
    assert desktop is not None
    assert desktop.arm("offer").verdict == "ship"


def test_the_goal_can_be_chosen_and_unknown_arms_are_ignored() -> None:
    cells = counts(MIXED)
    cells.cells[("retired", "desktop", "evening", "")] = Cell(500, {"booked": 400})
    cells.cells[("offer", "desktop", "night", "")] = Cell(0, {"shared": 0})
    judgement = judge_segments(OFFER, cells, goal="shared")
    assert judgement.goal == "shared"
    assert [s.segment for s in judgement.segments] == sorted({key[1:] for key in MIXED})
    assert all(a.conversions == 0 for s in judgement.segments for a in s.arms)


def test_no_counts_and_a_single_arm_judge_nothing() -> None:
    assert judge_segments(OFFER, counts({})).segments == ()
    lone = Experiment("lone", (Arm("control", "a"),), goal="booked", gates=GATES)
    assert judge_segments(lone, counts(MIXED, "lone")).segments == ()


def test_the_judgement_serialises_with_every_number() -> None:
    data = judge_segments(OFFER, counts(MIXED)).to_dict()
    assert data["segment_fields"] == ["device", "daypart"]
    assert data["comparisons"] == 4
    first = data["segments"][0]
    assert {"device", "daypart", "segment", "visitors", "arms"} <= first.keys()
    assert {
        "raw_uplift",
        "raw_uplift_interval",
        "raw_prob_beat_control",
        "uplift",
        "uplift_interval",
        "prob_beat_control",
        "prob_worse_than_control",
        "verdict",
        "reason",
    } <= first["arms"][0].keys()


def test_segments_are_named_and_put_in_words_in_one_place() -> None:
    key = segment_of(("offer", "desktop", "evening", ""))
    assert key == ("desktop", "evening")
    assert segment_fields(key) == {"device": "desktop", "daypart": "evening"}
    assert segment_name(key) == "desktop × evening"
    assert segment_words(key) == "on desktop in the evening"
    assert segment_words(("mobile", "other")) == "on mobile outside every daypart"


def test_numbers_are_written_so_they_never_round_to_certainty() -> None:
    assert probability("P(beat)", 0.99812) == "P(beat)=0.998"
    assert probability("P(beat)", 0.99996) == "P(beat)=0.99996"
    assert probability("P(beat)", 1.0) == "P(beat)>0.999999"
    assert probability("P(worse)", 0.0) == "P(worse)<0.000001"
    assert percent(0.1912) == "+19%"
    assert percent(-0.042) == "-4.2%"
