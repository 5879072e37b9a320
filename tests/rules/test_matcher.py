from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from daypart.rules.context import Context
from daypart.rules.localtime import LocalMinute
from daypart.rules.matcher import OTHER_DAYPART, Matcher
from daypart.rules.model import (
    WEEKDAYS,
    Condition,
    Daypart,
    Rule,
    RuleSet,
    Site,
    Variant,
)

ZONE = ZoneInfo("Europe/Amsterdam")
DAYPARTS = {
    "train_home": Daypart("train_home", WEEKDAYS, 17 * 60, 18 * 60 + 30),
    "evening": Daypart("evening", start=19 * 60, end=23 * 60 + 30),
    "night": Daypart("night", start=23 * 60 + 30, end=6 * 60),
}
RULES = (
    Rule(
        "commuters",
        "inspiration",
        Condition(device=frozenset({"mobile"}), daypart=frozenset({"train_home"})),
    ),
    Rule("newsletter", "booking-offer", Condition(query={"utm_source": frozenset({"news"})})),
    Rule("channel", "booking", Condition(header={"x-channel": frozenset({"*"})})),
    Rule(
        "returning-planners",
        "booking",
        Condition(
            device=frozenset({"desktop"}), daypart=frozenset({"evening"}), visitor="returning"
        ),
    ),
    Rule("trips", "inspiration", Condition(path=("/trips/**",), method=frozenset({"GET"}))),
    Rule("weekend", "inspiration", Condition(days=frozenset({5, 6}))),
    Rule("everyone", "booking"),
)
RULESET = RuleSet(
    version=1,
    site=Site("Europe/Amsterdam"),
    dayparts=DAYPARTS,
    variants={n: Variant(n) for n in ("inspiration", "booking", "booking-offer")},
    goals={},
    rules=RULES,
    experiments={},
)


def context(
    matcher: Matcher,
    device: str = "desktop",
    weekday: int = 1,
    hhmm: str = "12:00",
    **fields: object,
) -> Context:
    hours, minutes = map(int, hhmm.split(":"))
    minute = hours * 60 + minutes
    dayparts, _ = matcher.dayparts_at(weekday, minute)
    return Context(
        device=device,
        local=LocalMinute(ZONE, weekday, minute),
        dayparts=dayparts,
        path=str(fields.pop("path", "/")),
        **fields,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("kwargs", "rule"),
    [
        ({"device": "mobile", "hhmm": "17:30"}, "commuters"),
        ({"device": "mobile", "hhmm": "17:30", "weekday": 5}, "weekend"),  # no train on Saturday
        ({"device": "desktop", "hhmm": "17:30"}, "everyone"),
        ({"query_string": b"utm_source=news&x=1"}, "newsletter"),
        ({"headers": {"x-channel": "callcenter"}}, "channel"),
        ({"hhmm": "21:00", "new_visitor": False}, "returning-planners"),
        ({"hhmm": "21:00", "new_visitor": True}, "everyone"),
        ({"path": "/trips/lisbon/photos"}, "trips"),
        ({"path": "/trips/lisbon", "method": "POST"}, "everyone"),
    ],
)
def test_first_matching_rule_wins(kwargs: dict[str, object], rule: str) -> None:
    matcher = Matcher(RULESET)
    matched = matcher.match(context(matcher, **kwargs))  # type: ignore[arg-type]
    assert matched is not None
    assert matched.name == rule


def test_night_crosses_midnight_and_belongs_to_the_day_it_starts() -> None:
    matcher = Matcher(RULESET)
    assert matcher.dayparts_at(4, 23 * 60 + 45)[0] == frozenset({"night"})
    assert matcher.dayparts_at(5, 3 * 60)[0] == frozenset({"night"})
    assert matcher.dayparts_at(5, 6 * 60) == (frozenset(), OTHER_DAYPART)


def test_segment_is_first_daypart_in_file_order() -> None:
    overlapping = dict(DAYPARTS, late=Daypart("late", start=22 * 60, end=24 * 60))
    ruleset = RuleSet(1, Site(), overlapping, {}, {}, (), {})
    assert Matcher(ruleset).dayparts_at(2, 22 * 60 + 30) == (
        frozenset({"evening", "late"}),
        "evening",
    )


def test_explain_says_why_each_earlier_rule_failed() -> None:
    matcher = Matcher(RULESET)
    verdicts = matcher.explain(context(matcher, device="desktop", hhmm="21:00", new_visitor=True))
    reasons = {v.rule.name: v.reason for v in verdicts}
    assert reasons["commuters"] == "device is desktop; rule wants mobile"
    assert reasons["newsletter"] == "query parameter utm_source is absent; rule wants news"
    assert reasons["returning-planners"] == "visitor is new; rule wants returning"
    assert reasons["trips"] == "path / matches none of /trips/**"
    assert reasons["weekend"] == "day is tue; rule wants sat, sun"
    assert verdicts[-1].rule.name == "everyone"
    assert verdicts[-1].matched


def test_no_catch_all_means_no_match() -> None:
    ruleset = RuleSet(1, Site(), DAYPARTS, RULESET.variants, {}, RULES[:1], {})
    matcher = Matcher(ruleset)
    assert matcher.match(context(matcher)) is None
