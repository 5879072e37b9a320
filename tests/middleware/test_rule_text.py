"""Line edits of a rule file: every other line stays as written, and layouts the edits
cannot handle are refused by name instead of corrupted."""

from __future__ import annotations

import re

import pytest

from daypart.middleware.tools.rule_text import LayoutError, RuleText
from daypart.rules.loader import parse_rules
from daypart.rules.model import Rule

TEXT = """\
version: 1
variants:
  a: {}   # the page as is
  b: {rewrite: "/b{path}"}
rules:
  # Phones first.
  - name: phones
    when: {device: mobile}
    serve: a
    experiment: trial
  - name: rest
    serve: a
experiments:
  trial:
    arms: {control: a, treat: b}
    goal: g
goals:
  g: {beacon: true}
"""


def rule(text: str, name: str) -> Rule:
    return next(r for r in parse_rules(text, "rules.yaml").rules if r.name == name)


def test_a_rule_goes_above_the_comment_that_describes_the_next_one() -> None:
    edits = RuleText(TEXT, "rules.yaml")
    edits.insert_rule_before(
        rule(TEXT, "phones"), ["why", "  more"], "phones-b", "{device: mobile}", "b"
    )
    assert edits.text() == TEXT.replace(
        "  # Phones first.\n",
        "  # why\n"
        "  #   more\n"
        "  - name: phones-b\n"
        "    when: {device: mobile}\n"
        "    serve: b\n"
        "  # Phones first.\n",
    )


def test_serve_and_experiment_lines_change_and_nothing_else() -> None:
    edits = RuleText(TEXT, "rules.yaml")
    phones = rule(TEXT, "phones")
    edits.comment_above(phones, ["ended"])
    edits.set_serve(phones, "b")
    edits.end_experiment(phones, "ended, see above")
    assert edits.text() == TEXT.replace(
        "  - name: phones\n    when: {device: mobile}\n    serve: a\n    experiment: trial\n",
        "  # ended\n"
        "  - name: phones\n"
        "    when: {device: mobile}\n"
        "    serve: b\n"
        "    # experiment: trial  (ended, see above)\n",
    )
    edited = rule(edits.text(), "phones")
    assert (edited.serve, edited.experiment) == ("b", None)


def test_line_endings_and_a_missing_last_newline_are_kept() -> None:
    text = TEXT.rstrip("\n").replace("\n", "\r\n")
    edits = RuleText(text, "rules.yaml")
    edits.set_serve(rule(text, "phones"), "b")
    assert edits.text() == text.replace(
        "    serve: a\r\n    experiment", "    serve: b\r\n    experiment"
    )


def test_a_copy_keeps_its_own_edits() -> None:
    edits = RuleText(TEXT, "rules.yaml")
    trial = edits.copy()
    trial.set_serve(rule(TEXT, "phones"), "b")
    assert edits.text() == TEXT
    assert trial.text() != TEXT


@pytest.mark.parametrize(
    ("layout", "edit", "message"),
    [
        (
            "  - {name: phones, when: {device: mobile}, serve: a, experiment: trial}\n",
            "serve",
            "rule 'phones' is written as a flow mapping {...}",
        ),
        (
            "  -\n    name: phones\n    when: {device: mobile}\n    serve: a\n"
            "    experiment: trial\n",
            "insert",
            "rule 'phones' is not written as a block list item ('- name: ...')",
        ),
        (
            "  - experiment: trial\n    name: phones\n    when: {device: mobile}\n    serve: a\n",
            "end",
            "the experiment of rule 'phones' is its first key; move name: first",
        ),
        (
            "  - name: phones\n    when: {device: mobile}\n    serve:\n      a\n"
            "    experiment: trial\n",
            "serve",
            "the serve of rule 'phones' is not on the line of its key",
        ),
    ],
)
def test_layouts_the_edits_cannot_handle_are_refused_by_name(
    layout: str, edit: str, message: str
) -> None:
    text = TEXT.replace(
        "  - name: phones\n    when: {device: mobile}\n    serve: a\n    experiment: trial\n",
        layout,
    )
    edits = RuleText(text, "rules.yaml")
    phones = rule(text, "phones")
    attempts = {
        "serve": lambda: edits.set_serve(phones, "b"),
        "insert": lambda: edits.insert_rule_before(phones, [], "x", "{device: mobile}", "b"),
        "end": lambda: edits.end_experiment(phones, "ended"),
    }
    with pytest.raises(LayoutError, match=re.escape(message)):
        attempts[edit]()
    assert edits.text() == text
