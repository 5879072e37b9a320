"""Who is held out: a sticky, deterministic share, independent of every experiment's hash;
which rules a holdout changes and which it prices; the marks and conversions it counts."""

from __future__ import annotations

import math

import pytest
from scipy import stats

from daypart.experiments.bucketing import bucket, choose_arm, in_rollout
from daypart.experiments.holdout import (
    ADAPTIVE,
    DEFAULT,
    HoldoutPolicies,
    holdout_name,
    holdouts_of,
    is_held_out,
    parse_holdout_name,
)
from daypart.experiments.policy import Mark
from daypart.rules.loader import parse_rules

IDS = [f"visitor-{i:06d}" for i in range(100_000)]

RULES = """\
version: 1
site: {holdout: 10%}
variants:
  inspiration: {rewrite: "/inspiration{path}"}
  inspiration-video: {rewrite: "/inspiration{path}", headers: {X-Layout: video}}
  booking: {rewrite: "/booking{path}"}
  booking-offer: {rewrite: "/booking{path}", headers: {X-Offer: autumn10}}
goals:
  booked: {method: POST, path: /booking/confirm}
  shared: {beacon: true}
rules:
  - name: commuters
    when: {device: mobile}
    serve: inspiration
    experiment: commute-video
  - name: night-owls
    when: {device: tablet}
    serve: inspiration
    holdout: 0%
  - name: members
    when: {cookie: {member: "*"}}
    serve: booking
  - name: evening-planners
    when: {device: desktop}
    serve: booking
    experiment: evening-offer
  - name: everyone-else
    serve: booking
experiments:
  commute-video:
    arms: {control: inspiration, video: inspiration-video}
    goal: shared
  evening-offer:
    arms: {control: booking, offer: booking-offer}
    goal: booked
"""


def test_membership_is_sticky_and_takes_the_share() -> None:
    first = [is_held_out(visitor, 0.05) for visitor in IDS]
    assert [is_held_out(visitor, 0.05) for visitor in IDS] == first  # the same every time
    held = sum(first)
    # Binomial(100,000, 0.05): sd ≈ 69; four sd either way.
    assert abs(held - 5_000) < 4 * math.sqrt(100_000 * 0.05 * 0.95)
    # A larger share only adds visitors: the held-out group of 5% is inside that of 10%.
    assert all(is_held_out(v, 0.10) for v, held_out in zip(IDS, first, strict=True) if held_out)


def test_membership_is_independent_of_experiment_hashes() -> None:
    """Held-out visitors fall uniformly in every experiment's traffic and arm hashes:
    the holdout takes the same share from every stage and every arm."""
    held = [v for v in IDS if is_held_out(v, 0.2)]
    for salt in ("evening-offer", "commute-video-2024"):
        points = [bucket(v, salt, "traffic") for v in held]
        assert stats.kstest(points, "uniform").pvalue > 0.001
        arms = [choose_arm(v, salt, [1.0, 1.0]) for v in held]
        assert stats.binomtest(sum(arms), len(arms), 0.5).pvalue > 0.001
        # The first 5% of a rollout is held out at the holdout's rate, not emptied.
        first_stage = [v for v in IDS if in_rollout(v, salt, 0.05)]
        share = sum(is_held_out(v, 0.2) for v in first_stage) / len(first_stage)
        assert share == pytest.approx(0.2, abs=0.02)


def test_names_carry_the_rule_and_the_split() -> None:
    assert holdout_name("commuters", 0.05) == "holdout:commuters:5%"
    assert holdout_name("commuters", 0.125) == "holdout:commuters:12.5%"
    assert parse_holdout_name("holdout:commuters:12.5%") == ("commuters", 0.125)
    for other in ("evening-offer", "holdout:commuters", "holdout::5%", "holdout:x:150%"):
        assert parse_holdout_name(other) is None


def test_which_rules_are_held_out_and_which_are_priced() -> None:
    ruleset = parse_rules(RULES)
    policies = HoldoutPolicies(ruleset)
    # night-owls is exempt; members serves the default and runs nothing: nothing changes.
    assert set(policies.by_rule) == {"commuters", "evening-planners"}
    assert policies.by_rule["commuters"].priced
    # evening-planners serves the default: held-out visitors stay out of its experiment,
    # but there is nothing to price.
    assert not policies.by_rule["evening-planners"].priced
    assert [
        (h.rule, h.share, h.default_variant, h.adaptive_variant) for h in holdouts_of(ruleset)
    ] == [("commuters", 0.1, "booking", "inspiration")]
    assert set(policies.by_code) == {policies.by_rule["commuters"].code}


def test_a_side_is_the_hash_or_the_mark_and_a_mark_is_made_once() -> None:
    policy = HoldoutPolicies(parse_rules(RULES)).by_rule["commuters"]
    held = next(v for v in IDS if is_held_out(v, 0.1))
    adapted = next(v for v in IDS if not is_held_out(v, 0.1))
    assert policy.side(held, ()) == DEFAULT
    assert policy.side(adapted, ()) == ADAPTIVE
    mark = policy.new_mark(DEFAULT, (), "mobile", "train_home")
    assert mark == Mark(policy.code, DEFAULT, "mobile", "train_home")
    assert policy.new_mark(DEFAULT, (mark,), "mobile", "evening") is None  # counted once
    assert policy.side(adapted, (mark,)) == DEFAULT  # a counted visitor keeps their side


def test_a_holdout_counts_every_goal_of_its_marks_only() -> None:
    policies = HoldoutPolicies(parse_rules(RULES))
    policy = policies.by_rule["commuters"]
    mark = Mark(policy.code, ADAPTIVE, "mobile", "other")
    stranger = Mark("AAAAAAAA", ADAPTIVE, "mobile", "other")
    assert policies.conversion_targets([mark, stranger]) == [(policy.name, mark)]
    assert policies.conversion_targets([Mark(policy.code, "offer", "mobile", "other")]) == []


def test_a_new_share_is_a_new_holdout() -> None:
    five = HoldoutPolicies(parse_rules(RULES.replace("10%", "5%"))).by_rule["commuters"]
    ten = HoldoutPolicies(parse_rules(RULES)).by_rule["commuters"]
    assert (five.name, ten.name) == ("holdout:commuters:5%", "holdout:commuters:10%")
    assert five.code != ten.code  # old marks do not count in the new split
