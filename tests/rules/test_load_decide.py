"""``gates.decide``: pooled (the default) or per_segment (bad values: ``broken/90``, ``91``)."""

from __future__ import annotations

import textwrap

from daypart.rules.loader import parse_rules
from daypart.rules.model import Experiment

HEAD = """\
version: 1
variants:
  booking: {}
  offer: {}
goals:
  booked: {method: POST, path: /booking/confirm}
rules:
  - {name: everyone, serve: booking, experiment: e}
experiments:
  e:
    arms: {control: booking, offer: offer}
    goal: booked
"""


def experiment(body: str = "") -> Experiment:
    text = HEAD + textwrap.indent(textwrap.dedent(body), "    ")
    return parse_rules(text, source="rules.yaml").experiments["e"]


def test_gates_decide_pooled_unless_told_per_segment() -> None:
    assert experiment().gates.decide == "pooled"
    assert experiment("gates: {min_visitors_per_arm: 50}").gates.decide == "pooled"
    assert experiment("gates: {decide: pooled}").gates.decide == "pooled"
    per_segment = experiment("gates: {decide: per_segment, min_visitors_per_arm: 50}").gates
    assert per_segment.decide == "per_segment"
    assert per_segment.min_visitors_per_arm == 50
