"""A rule's ``when`` written back as YAML loads as the same condition."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daypart.rules import EXAMPLES_DIR
from daypart.rules.condition_text import condition_text, scalar_text
from daypart.rules.loader import load_rules, parse_rules
from daypart.rules.model import DEVICES, Condition, RuleSet

DAYPARTS = ("lunch", "evening", "yes")  # "yes" must be quoted, or YAML 1.1 reads true

HEADER = """\
version: 1
dayparts:
  lunch: {from: "12:00", to: "13:30"}
  evening: {from: "19:00", to: "23:30"}
  "yes": {from: "06:00", to: "07:00"}
variants:
  a: {}
rules:
  - name: r
    when: """


def reloaded(when: Condition) -> Condition:
    ruleset: RuleSet = parse_rules(HEADER + condition_text(when, DAYPARTS) + "\n    serve: a\n")
    return ruleset.rules[0].when


EVERYTHING = Condition(
    device=frozenset({"desktop", "tablet"}),
    daypart=frozenset({"evening", "yes"}),
    days=frozenset({0, 2, 6}),
    path=("/", "/deals/**", "/a b/*"),
    method=frozenset({"GET", "POST"}),
    query={"utm_source": frozenset({"news letter", "*"}), "q#": frozenset({"1"})},
    header={"x-channel": frozenset({"callcenter"}), "x-on": frozenset({"on", "null"})},
    cookie={"member": frozenset({"*"})},
    visitor="returning",
)


def test_every_field_of_a_condition_survives_the_round_trip() -> None:
    # A field added to Condition must be written too: this one sets them all.
    defaults = Condition()
    for field in dataclasses.fields(Condition):
        assert getattr(EVERYTHING, field.name) != getattr(defaults, field.name), field.name
    assert reloaded(EVERYTHING) == EVERYTHING


def test_the_examples_conditions_survive_the_round_trip() -> None:
    for path in sorted(EXAMPLES_DIR.glob("*.yaml")):
        ruleset = load_rules(path)
        for rule in ruleset.rules:
            if rule.when.is_empty:
                continue
            text = condition_text(rule.when, tuple(ruleset.dayparts))
            assert with_travel_dayparts(text) == rule.when, (path.name, rule.name, text)


def with_travel_dayparts(when: str) -> Condition:
    """``when`` loaded in a file with the travel example's dayparts."""
    travel = (EXAMPLES_DIR / "travel.yaml").read_text()
    dayparts = travel[travel.index("dayparts:") : travel.index("variants:")]
    text = (
        "version: 1\n" + dayparts + "variants:\n  a: {}\n"
        f"rules:\n  - name: r\n    when: {when}\n    serve: a\n"
    )
    return parse_rules(text).rules[0].when


def test_it_reads_as_the_examples_write_conditions() -> None:
    when = Condition(device=frozenset({"tablet", "desktop"}), daypart=frozenset({"evening"}))
    assert condition_text(when, DAYPARTS) == "{device: [tablet, desktop], daypart: evening}"
    weekdays = Condition(days=frozenset(range(5)), path=("/deals/**",))
    assert condition_text(weekdays) == '{days: weekdays, path: "/deals/**"}'


@pytest.mark.parametrize(
    ("value", "text"),
    [("evening", "evening"), ("yes", '"yes"'), ("*", '"*"'), ("a: b", '"a: b"'), ("12", '"12"')],
)
def test_scalars_are_quoted_when_yaml_would_read_them_otherwise(value: str, text: str) -> None:
    assert scalar_text(value) == text


@given(
    devices=st.sets(st.sampled_from(DEVICES), min_size=1),
    dayparts=st.sets(st.sampled_from(DAYPARTS), min_size=1),
    anything=st.sets(
        st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=8),
        min_size=1,
        max_size=3,
    ),
    latin1=st.sets(
        st.text(st.characters(max_codepoint=0xFF), min_size=1, max_size=8), min_size=1, max_size=3
    ),
)
def test_any_matcher_value_survives(
    devices: set[str], dayparts: set[str], anything: set[str], latin1: set[str]
) -> None:
    when = Condition(
        device=frozenset(devices),
        daypart=frozenset(dayparts),
        query={"k": frozenset(anything)},
        cookie={"c": frozenset(latin1)},  # header and cookie values are Latin-1
    )
    assert reloaded(when) == when
