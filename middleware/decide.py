"""Deciding: the first matching rule picks the variant; if it runs an experiment, the
experiment policy picks the arm. Bots get the default variant (the catch-all rule). A
visitor held out of the rule (``experiments.holdout``) gets the default variant and no
experiment."""

from __future__ import annotations

from collections.abc import Mapping

from daypart.experiments.holdout import DEFAULT
from daypart.experiments.policy import Mark
from daypart.experiments.state import NOT_STARTED, RolloutState
from daypart.middleware.compiled_rules import CompiledRules
from daypart.middleware.decision import Decision
from daypart.rules.context import Context


def decide(
    decision: Decision,
    context: Context,
    rules: CompiledRules,
    states: Mapping[str, RolloutState],
) -> Mark | None:
    """Fill in rule, variant and arm; returns a new exposure mark when the visitor just
    entered an experiment (its exposure is to be counted)."""
    rule = rules.catch_all if decision.device == "bot" else rules.matcher.match(context)
    if rule is None:
        return None
    decision.rule = rule.name
    decision.variant = rule.serve
    holdouts = rules.holdouts
    if holdouts and decision.tracked:
        holdout = holdouts.get(rule.name)
        if holdout is not None:
            cookie = decision.cookie
            assert decision.visitor_id is not None  # tracked visitors always have one
            side = holdout.side(decision.visitor_id, cookie.marks if cookie is not None else ())
            decision.holdout = side
            if side == DEFAULT:  # held out: the default variant, and no experiment
                decision.variant = holdout.default
                return None
    if rule.experiment is None:
        return None
    policy = rules.policies[rule.experiment]
    decision.experiment = policy.name
    cookie = decision.cookie
    assignment = policy.assign(
        states.get(policy.name, NOT_STARTED),
        decision.visitor_id if decision.tracked else None,
        cookie.marks if cookie is not None else (),
        context,
        decision.segment,
        decision.channel,
        rules.site_day(decision.epoch),
    )
    decision.arm = assignment.arm
    decision.variant = assignment.variant
    return assignment.new_mark
