"""``site.holdout`` and a rule's ``holdout``: the share syntax of a stage's traffic, a rule
overriding the site, 0% exempting a rule, and what the linter says about holdouts that do
nothing. (Broken files: tests/rules/broken/7x-holdout-*.yaml.)"""

from __future__ import annotations

import pytest

from daypart.rules.lint import lint
from daypart.rules.loader import parse_rules

RULES = """\
version: 1
site:
  timezone: Europe/Amsterdam
  holdout: {site}
variants:
  inspiration: {{rewrite: "/inspiration{{path}}"}}
  booking: {{rewrite: "/booking{{path}}"}}
goals:
  booked: {{method: POST, path: /booking/confirm}}
rules:
  - name: commuters
    when: {{device: mobile}}
    serve: inspiration
  - name: night-owls
    when: {{device: tablet}}
    serve: inspiration
    holdout: {rule}
  - name: members
    when: {{cookie: {{member: "*"}}}}
    serve: booking
  - name: everyone-else
    serve: booking
"""


@pytest.mark.parametrize(
    ("written", "share"),
    [("5%", 0.05), ('"5%"', 0.05), ("0.05", 0.05), ("12.5%", 0.125), ("0%", 0.0), ("0", 0.0)],
)
def test_a_holdout_is_written_like_a_stage_traffic(written: str, share: float) -> None:
    ruleset = parse_rules(RULES.format(site=written, rule=written))
    assert ruleset.site.holdout == pytest.approx(share)
    night_owls = ruleset.rules[1]
    assert night_owls.holdout == pytest.approx(share)


def test_a_rule_overrides_the_site_and_zero_exempts_it() -> None:
    ruleset = parse_rules(RULES.format(site="5%", rule="0%"))
    commuters, night_owls, members, everyone = ruleset.rules
    assert commuters.holdout is None
    assert ruleset.holdout_share(commuters) == 0.05  # the site's
    assert ruleset.holdout_share(night_owls) == 0.0  # exempt
    assert ruleset.holdout_share(everyone) == 0.05  # the catch-all follows the site
    assert ruleset.prices(commuters)
    assert not ruleset.prices(night_owls)  # nobody held out
    assert not ruleset.prices(members)  # serves the default variant: nothing to compare
    assert not ruleset.prices(everyone)  # the catch-all is the default
    bigger = parse_rules(RULES.format(site="5%", rule="20%"))
    assert bigger.holdout_share(bigger.rules[1]) == 0.2


def test_without_a_holdout_nothing_is_held_out() -> None:
    text = RULES.format(site="0%", rule="0%").replace("    holdout: 0%\n", "")
    text = text.replace("  holdout: 0%\n", "")
    ruleset = parse_rules(text)
    assert ruleset.site.holdout == 0.0
    assert all(rule.holdout is None for rule in ruleset.rules)
    assert not any(ruleset.prices(rule) for rule in ruleset.rules)


def test_the_linter_names_a_holdout_that_changes_nothing() -> None:
    text = RULES.format(site="0%", rule="5%").replace(
        "    serve: booking\n  - name: everyone-else",
        "    serve: booking\n    holdout: 5%\n  - name: everyone-else",
    )
    warnings = [str(problem) for problem in lint(parse_rules(text))]
    assert any(
        "rule 'members' serves the default variant 'booking' and runs no experiment, so its "
        "holdout changes nothing" in w
        for w in warnings
    ), warnings
    assert not any("night-owls" in w for w in warnings)


def test_a_goal_counted_by_a_holdout_is_not_unused() -> None:
    # No experiment uses 'booked'; a priced holdout counts it.
    priced = [str(p) for p in lint(parse_rules(RULES.format(site="5%", rule="5%")))]
    assert not any("goal 'booked' is used by no experiment" in w for w in priced)
    unpriced = [str(p) for p in lint(parse_rules(RULES.format(site="0%", rule="0%")))]
    assert any("goal 'booked' is used by no experiment" in w for w in unpriced)
