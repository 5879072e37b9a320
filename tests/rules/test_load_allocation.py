"""``allocation: fixed | bandit`` and a bandit's ``min_share`` in the rule language (bad
values: ``broken/95-*`` to ``98-*``)."""

from __future__ import annotations

import textwrap

import pytest

from daypart.rules.errors import RulesError
from daypart.rules.loader import parse_rules
from daypart.rules.model import Experiment

HEAD = """\
version: 1
variants:
  booking: {}
  offer: {}
  other: {}
goals:
  booked: {method: POST, path: /booking/confirm}
rules:
  - {name: everyone, serve: booking, experiment: e}
experiments:
  e:
    goal: booked
"""


def experiment(body: str) -> Experiment:
    text = HEAD + textwrap.indent(textwrap.dedent(body), "    ")
    return parse_rules(text, source="rules.yaml").experiments["e"]


def test_experiments_split_by_fixed_weights_unless_told_otherwise() -> None:
    e = experiment("arms: {control: booking, offer: offer}\n")
    assert (e.allocation, e.min_share) == ("fixed", 0.1)
    assert experiment("arms: {control: booking, offer: offer}\nallocation: fixed\n").allocation == (
        "fixed"
    )


@pytest.mark.parametrize(("text", "share"), [("5%", 0.05), ("0.2", 0.2), ('"50%"', 0.5)])
def test_a_bandit_with_its_minimum_share(text: str, share: float) -> None:
    e = experiment(
        f"arms: {{control: booking, offer: offer}}\nallocation: bandit\nmin_share: {text}\n"
    )
    assert (e.allocation, e.min_share) == ("bandit", share)


def test_the_default_minimum_share_fits_every_arm() -> None:
    three = experiment("arms: {control: booking, offer: offer, other: other}\nallocation: bandit\n")
    assert three.min_share == 0.1
    with pytest.raises(RulesError) as caught:
        experiment(
            "arms: {control: booking, offer: offer, other: other}\n"
            "allocation: bandit\nmin_share: 34%\n"
        )
    assert "min_share 34% is more than 3 arms can each keep; expected at most 33.3333" in str(
        caught.value.problems[0]
    )
