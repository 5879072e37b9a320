"""Holdouts: a share of visitors held out of the adaptive rules, so that what adapting
earns can be measured against the one-size-fits-all site.

``site.holdout: 5%`` (or ``holdout:`` on a rule) holds out a deterministic, sticky share
of the visitors a rule matches: they see the *default variant* (the catch-all's; with no
catch-all the request passes unchanged) instead of the rule's, and never enter the rule's
experiment. Everyone else is served as the rules say.

Who is held out is a pure function of the visitor id: ``bucket(id, HOLDOUT_SALT,
"holdout") < share``. One fixed salt for the whole site, so a visitor held out of one rule
is held out of every rule with the same or a larger share (the held-out group sees the
default site, not a patchwork). The salt and the dimension are their own, so the hash is
independent of every experiment's traffic and arm hashes: the holdout takes the same
share from every rollout stage and every arm, and an experiment's first 5% is not
emptied (or filled) by it.

Each rule whose variant differs from the default is *priced*: its holdout is counted as
a pseudo-experiment named ``holdout:<rule>:<share>`` with two arms — ``default`` (the
held-out visitors, weight ``share``) and ``adaptive`` (the rest, weight ``1 − share``,
including those who then entered an experiment) — through the same exposure marks,
recorder and store as any experiment: first exposure per visitor, per device × daypart,
and conversions on *every* goal, de-duplicated per visitor and goal. The share is part
of the name, so a new share starts a fresh count (the split the counts were made under
is always the one the sample-ratio check compares them with). A rule whose variant is the
default has nothing to price: its held-out visitors still stay out of its experiment, but
nothing is counted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from daypart.experiments.bucketing import bucket
from daypart.experiments.policy import Mark, experiment_code
from daypart.rules.model import Arm, Experiment, Rule, RuleSet

__all__ = [
    "ADAPTIVE",
    "DEFAULT",
    "HOLDOUT_PREFIX",
    "HOLDOUT_SALT",
    "Holdout",
    "HoldoutPolicies",
    "HoldoutPolicy",
    "holdout_name",
    "holdouts_of",
    "is_held_out",
    "parse_holdout_name",
]

HOLDOUT_PREFIX = "holdout:"  # rule and experiment names cannot contain ':'
HOLDOUT_SALT = "daypart-holdout"  # fixed: changing it would reshuffle every held-out visitor
HOLDOUT_DIMENSION = "holdout"
DEFAULT = "default"  # the held-out arm: the default variant
ADAPTIVE = "adaptive"  # the arm the rule adapts
ARMS = (DEFAULT, ADAPTIVE)


def share_label(share: float) -> str:
    """``0.05`` → ``5%``."""
    return f"{share * 100:.6g}%"


def holdout_name(rule: str, share: float) -> str:
    """The pseudo-experiment counting ``rule``'s holdout at ``share``."""
    return f"{HOLDOUT_PREFIX}{rule}:{share_label(share)}"


def parse_holdout_name(name: str) -> tuple[str, float] | None:
    """(rule, share) of a holdout's name; None for any other name."""
    if not name.startswith(HOLDOUT_PREFIX):
        return None
    rule, _, label = name[len(HOLDOUT_PREFIX) :].rpartition(":")
    try:
        share = float(label.removesuffix("%")) / 100
    except ValueError:
        return None
    if not rule or not label.endswith("%") or not 0 < share < 1:
        return None
    return rule, share


def is_held_out(visitor_id: str, share: float) -> bool:
    """Whether ``visitor_id`` is in a holdout of ``share``: sticky, the same on every worker."""
    return bucket(visitor_id, HOLDOUT_SALT, HOLDOUT_DIMENSION) < share


@dataclass(frozen=True, slots=True)
class Holdout:
    """A priced rule's holdout, as the reports see it."""

    rule: str
    share: float
    default_variant: str | None  # None: no catch-all, the request passes unchanged
    adaptive_variant: str  # what the rule serves
    experiment: str | None  # the rule's experiment, if it runs one

    @property
    def name(self) -> str:
        return holdout_name(self.rule, self.share)

    def experiment_for(self, goal: str) -> Experiment:
        """The pseudo-experiment on one goal: ``default`` is the control, weights are the
        split (so the sample-ratio check compares exposures with it)."""
        return Experiment(
            self.name,
            arms=(
                Arm(DEFAULT, self.default_variant or "(unchanged)", self.share),
                Arm(ADAPTIVE, self.adaptive_variant, 1.0 - self.share),
            ),
            goal=goal,
            salt=HOLDOUT_SALT,
        )


def holdouts_of(ruleset: RuleSet) -> list[Holdout]:
    """The holdouts the rules count, in rule order: every rule with a holdout share whose
    variant is not the default one."""
    default = ruleset.default_variant
    found = []
    for rule in ruleset.rules:
        if ruleset.prices(rule):
            found.append(
                Holdout(
                    rule.name,
                    ruleset.holdout_share(rule),
                    None if default is None else default.name,
                    rule.serve,
                    rule.experiment,
                )
            )
    return found


class HoldoutPolicy:
    """One rule's holdout on the request path: which side a visitor is on, and the mark
    that counts their first exposure (priced rules only)."""

    __slots__ = ("code", "default", "experiment", "name", "priced", "rule", "serve", "share")

    def __init__(self, ruleset: RuleSet, rule: Rule, share: float) -> None:
        catch_all = ruleset.catch_all
        self.rule = rule.name
        self.share = share
        self.serve = rule.serve  # what the rule serves the visitors it adapts
        self.experiment = rule.experiment
        self.default = None if catch_all is None else catch_all.serve
        self.priced = ruleset.prices(rule)
        self.name = holdout_name(rule.name, share)
        self.code = experiment_code(self.name, HOLDOUT_SALT)

    def side(self, visitor_id: str, marks: Sequence[Mark]) -> str:
        """``default`` (held out) or ``adaptive``; a visitor already counted keeps the side
        their mark says, without hashing again (the mark's code names this share)."""
        if self.priced:
            code = self.code
            for mark in marks:
                if mark.code == code and mark.arm in ARMS:
                    return mark.arm
        return DEFAULT if is_held_out(visitor_id, self.share) else ADAPTIVE

    def new_mark(
        self, side: str, marks: Sequence[Mark], device: str, segment: str, channel: str = ""
    ) -> Mark | None:
        """The mark of a first exposure to this rule's holdout: None when the rule is not
        priced or the visitor carries the mark already."""
        if not self.priced:
            return None
        code = self.code
        for mark in marks:
            if mark.code == code:
                return None
        return Mark(code, side, device, segment, channel)


class HoldoutPolicies:
    """The holdouts of a rule set on the request path, by rule name and by mark code."""

    __slots__ = ("by_code", "by_rule")

    def __init__(self, ruleset: RuleSet) -> None:
        self.by_rule: dict[str, HoldoutPolicy] = {}
        for rule in ruleset.rules:
            share = ruleset.holdout_share(rule)
            # Holding out changes something only where the rule serves another variant
            # or runs an experiment; elsewhere a hash per request would buy nothing.
            default = ruleset.catch_all
            differs = default is None or rule.serve != default.serve
            if share > 0 and (differs or rule.experiment is not None):
                self.by_rule[rule.name] = HoldoutPolicy(ruleset, rule, share)
        self.by_code = {p.code: p for p in self.by_rule.values() if p.priced}

    def __bool__(self) -> bool:
        return bool(self.by_rule)

    def conversion_targets(self, marks: Iterable[Mark]) -> list[tuple[str, Mark]]:
        """(holdout, mark) for each priced holdout the visitor was counted in: a holdout
        counts a conversion on every goal."""
        by_code = self.by_code
        return [
            (policy.name, mark)
            for mark in marks
            if (policy := by_code.get(mark.code)) is not None and mark.arm in ARMS
        ]
