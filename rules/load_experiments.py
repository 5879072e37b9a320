"""The ``experiments`` section: arms, goal, staged rollout and the gates that move it."""

from __future__ import annotations

import math
from dataclasses import replace

from daypart.rules.load_conditions import read_audience
from daypart.rules.model import (
    ADVANCE,
    ALLOCATIONS,
    DECIDE,
    DEFAULT_MIN_SHARE,
    GROW,
    SHIP,
    Allocation,
    Arm,
    Budget,
    Decide,
    Experiment,
    Gates,
    OnBudget,
    Stage,
    Thresholds,
    Unit,
)
from daypart.rules.parse_time import DURATION_EXPECTED, parse_duration
from daypart.rules.reading import Reader, Reference, found, once_per_node, one_of, shown
from daypart.rules.yaml_source import Map, Scalar, Seq, YNode

EXPERIMENT_KEYS = (
    "arms",
    "control",
    "goal",
    "salt",
    "rollout",
    "gates",
    "budget",
    "on_budget",
    "allocation",
    "min_share",
)
ARM_KEYS = ("variant", "weight")
STAGE_KEYS = ("traffic", "audience")
GATES_KEYS = (
    "min_visitors_per_arm",
    "grow_when",
    "ship_when",
    "advance_when",
    "rollback_when",
    "min_stage_duration",
    "decide",
)
# The thresholds each step accepts, and what a key left out defaults to.
STEP_KEYS: dict[str, tuple[tuple[str, ...], Thresholds]] = {
    "grow_when": (
        ("prob_worse_than_control_below", "expected_relative_loss_below", "expected_loss_below"),
        GROW,
    ),
    "ship_when": (
        ("prob_beat_control", "expected_relative_loss_below", "expected_loss_below"),
        SHIP,
    ),
    "advance_when": (
        ("prob_beat_control", "expected_loss_below", "expected_relative_loss_below"),
        ADVANCE,
    ),
}
ROLLBACK_KEYS = ("prob_worse_than_control",)
BUDGET_UNITS: tuple[Unit, ...] = ("conversions", "revenue")
ON_BUDGET: tuple[OnBudget, ...] = ("pause", "rollback")

_SHARE_EXPECTED = "a share above 0% and at most 100%, such as 5% or 0.05"
HOLDOUT_EXPECTED = "a share from 0% to below 100%, such as 5% or 0.05 (0% holds nobody out)"
_FRACTION_EXPECTED = "a number between 0 and 1 (exclusive), such as {example}"
# What each threshold is, for messages, and a typical value.
_THRESHOLDS = {
    "prob_beat_control": ("probability", "0.95"),
    "prob_worse_than_control": ("probability", "0.95"),
    "prob_worse_than_control_below": ("probability", "0.3"),
    "expected_loss_below": ("expected loss", "0.002"),
    "expected_relative_loss_below": ("relative expected loss", "0.01"),
}
_BUDGET_EXPECTED = "{conversions: N} or {revenue: X}"


def read_experiments(
    r: Reader, node: YNode, refs: list[Reference]
) -> tuple[dict[str, Experiment], set[str] | None]:
    """The experiments that read cleanly, and the names of all defined (None: unreadable)."""
    mapping = r.mapping(node)
    if mapping is None:
        return {}, None
    experiments: dict[str, Experiment] = {}
    for entry in mapping:
        if r.name(entry.key, "experiment"):
            experiment = _experiment(r, entry.key, entry.value, refs)
            if experiment is not None:
                experiments[entry.name] = experiment
    return experiments, {entry.name for entry in mapping}


def _experiment(r: Reader, key: Scalar, node: YNode, refs: list[Reference]) -> Experiment | None:
    mapping = r.mapping(node)
    if mapping is None:
        return None
    before = len(r.problems)
    what = f"experiment '{key.text}'"
    r.keys(mapping, EXPERIMENT_KEYS, "in experiment")
    arms_node = r.require(mapping, "arms", what, "arms such as {control: booking, offer: offer}")
    arms = None if arms_node is None else _arms(r, arms_node, refs)
    control_node = mapping.get("control")
    if arms and control_node is not None:
        arms = _control_first(r, arms, control_node)
    goal: str | None = None
    goal_node = r.require(mapping, "goal", what, "the name of the goal that counts as converted")
    if goal_node is not None:
        goal = r.string(goal_node, "a goal name")
        if goal is not None:
            refs.append(Reference("goal", goal, goal_node))
    salt = key.text
    salt_node = mapping.get("salt")
    if salt_node is not None:
        salt = r.text(salt_node, "a salt string") or salt
    rollout: tuple[Stage, ...] | None = (Stage(),)
    rollout_node = mapping.get("rollout")
    if rollout_node is not None:
        rollout = _rollout(r, rollout_node)
    gates: Gates | None = Gates()
    gates_node = mapping.get("gates")
    if gates_node is not None:
        gates = _gates(r, gates_node)
    budget = _budget(r, mapping)
    allocation, min_share = _allocation(r, mapping, len(arms) if arms else 0)
    if len(r.problems) > before or not arms or goal is None or rollout is None or gates is None:
        return None
    return Experiment(
        key.text,
        arms=tuple(arms),
        goal=goal,
        salt=salt,
        rollout=rollout,
        gates=gates,
        location=r.location(key),
        budget=budget,
        allocation=allocation,
        min_share=min_share,
    )


_MIN_SHARE_EXPECTED = "a share such as 10% or 0.1, above 0"


def _allocation(r: Reader, experiment: Map, arms: int) -> tuple[Allocation, float]:
    """``allocation: fixed | bandit`` and, for a bandit, ``min_share`` (0 < it ≤ 1/arms:
    every arm can keep it at once)."""
    allocation: Allocation = "fixed"
    node, share_node = experiment.get("allocation"), experiment.get("min_share")
    if node is not None:
        text = r.text(node, "fixed or bandit")
        if text is not None and text not in ALLOCATIONS:
            r.error(
                node, f"unknown allocation '{shown(text)}'; expected one of {one_of(ALLOCATIONS)}"
            )
        elif text == "bandit":
            allocation = "bandit"
    min_share = DEFAULT_MIN_SHARE
    if share_node is None:
        return allocation, min(min_share, 1.0 / arms) if arms else min_share
    if allocation != "bandit":
        if node is None or (allocation == "fixed" and r.text(node) == "fixed"):
            r.error(
                share_node,
                "found min_share without allocation: bandit; a fixed split keeps the arms' weights",
            )
        return allocation, min_share
    if not isinstance(share_node, Scalar) or isinstance(share_node.value, bool):
        r.error(share_node, f"expected {_MIN_SHARE_EXPECTED}, found {found(share_node)}")
        return allocation, min_share
    share = share_value(share_node.text)
    if share is None or share <= 0:
        r.error(
            share_node, f"invalid min_share '{share_node.text}'; expected {_MIN_SHARE_EXPECTED}"
        )
        return allocation, min_share
    if arms and share > 1.0 / arms + 1e-12:
        r.error(
            share_node,
            f"min_share {_percent(share)} is more than {arms} arms can each keep; expected at "
            f"most {_percent(1.0 / arms)} (1/{arms})",
        )
        return allocation, min_share
    return allocation, share


def _budget(r: Reader, experiment: Map) -> Budget | None:
    """``budget: {conversions: N}`` or ``{revenue: X}``, and ``on_budget: pause|rollback``."""
    node, on_node = experiment.get("budget"), experiment.get("on_budget")
    on_budget: OnBudget = "pause"
    if on_node is not None:
        text = r.string(on_node, f"one of {one_of(ON_BUDGET)}")
        if text is not None and text not in ON_BUDGET:
            r.error(
                on_node, f"unknown on_budget '{shown(text)}'; expected one of {one_of(ON_BUDGET)}"
            )
        elif text is not None:
            on_budget = "rollback" if text == "rollback" else "pause"
        if node is None:
            r.error(
                on_node, f"found on_budget without a budget; expected budget: {_BUDGET_EXPECTED}"
            )
    if node is None:
        return None
    if not isinstance(node, Map):
        r.error(node, f"expected a budget such as {_BUDGET_EXPECTED}, found {found(node)}")
        return None
    mapping = node
    before = len(r.problems)
    r.keys(mapping, BUDGET_UNITS, "in budget")
    given = [entry for entry in mapping if entry.name in BUDGET_UNITS]
    if len(r.problems) > before:
        return None
    if len(given) != 1:
        what = "an empty budget" if not given else "both conversions and revenue"
        r.error(node, f"found {what}; expected exactly one of {_BUDGET_EXPECTED}")
        return None
    entry = given[0]
    expected = f"a finite number above 0 ({entry.name} the experiment may give up)"
    amount = r.number(entry.value, expected)
    if amount is None:
        return None
    if not (amount > 0 and math.isfinite(amount)):
        r.error(entry.value, f"invalid budget {_text(entry.value)}; expected {expected}")
        return None
    unit: Unit = "revenue" if entry.name == "revenue" else "conversions"
    return Budget(unit, amount, on_budget, r.location(entry.key))


@once_per_node
def _arms(r: Reader, node: YNode, refs: list[Reference]) -> list[Arm] | None:
    mapping = r.mapping(node)
    if mapping is None:
        return None
    before = len(r.problems)
    if len(mapping) < 2:
        count = "1 arm" if len(mapping) == 1 else "no arms"
        r.error(node, f"found {count}; expected at least 2 (the control and a challenger)")
    arms: list[Arm] = []
    for entry in mapping:
        if not r.name(entry.key, "arm"):
            continue
        arm = _arm(r, entry.key, entry.value, refs)
        if arm is not None:
            arms.append(arm)
    if not math.isfinite(sum(arm.weight for arm in arms)):
        # Each weight is finite, but assignment divides by their sum.
        r.error(
            node, "found arm weights whose sum is too large to compute; expected smaller weights"
        )
    return None if len(r.problems) > before else arms


def _arm(r: Reader, key: Scalar, node: YNode, refs: list[Reference]) -> Arm | None:
    location = r.location(key)
    if isinstance(node, Scalar):
        variant = r.string(node, "a variant name or {variant: NAME, weight: N}")
        if variant is None:
            return None
        refs.append(Reference("variant", variant, node))
        return Arm(key.text, variant, location=location)
    mapping = r.mapping(node)
    if mapping is None:
        return None
    before = len(r.problems)
    r.keys(mapping, ARM_KEYS, "in arm")
    variant_node = r.require(mapping, "variant", f"arm '{key.text}'", "the variant it serves")
    variant = None if variant_node is None else r.string(variant_node, "a variant name")
    if variant is not None and variant_node is not None:
        refs.append(Reference("variant", variant, variant_node))
    weight = 1.0
    weight_node = mapping.get("weight")
    if weight_node is not None:
        weight = _weight(r, weight_node) or weight
    if len(r.problems) > before or variant is None:
        return None
    return Arm(key.text, variant, weight=weight, location=location)


def _weight(r: Reader, node: YNode) -> float | None:
    weight = r.number(node, "a weight above 0")
    if weight is None:
        return None
    if not (weight > 0 and math.isfinite(weight)):
        r.error(node, f"invalid weight {_text(node)}; expected a number above 0")
        return None
    return weight


def _control_first(r: Reader, arms: list[Arm], node: YNode) -> list[Arm] | None:
    # The model keeps the control at arms[0]: statistics compare every arm against it.
    name = r.string(node, "the name of an arm")
    if name is None:
        return None
    for index, arm in enumerate(arms):
        if arm.name == name:
            return [arm, *arms[:index], *arms[index + 1 :]]
    names = one_of(arm.name for arm in arms)
    r.error(node, f"unknown control arm '{name}'; defined arms: {names}")
    return None


@once_per_node
def _rollout(r: Reader, node: YNode) -> tuple[Stage, ...] | None:
    items = r.sequence(node)
    if items is None:
        return None
    if not items.items:
        r.error(node, "found an empty rollout; expected at least one stage such as {traffic: 5%}")
        return None
    before = len(r.problems)
    stages = [stage for item in items.items if (stage := _stage(r, item)) is not None]
    if len(r.problems) > before:
        return None
    _check_stage_order(r, items, stages)
    return None if len(r.problems) > before else tuple(stages)


@once_per_node
def _stage(r: Reader, node: YNode) -> Stage | None:
    mapping = r.mapping(node)
    if mapping is None:
        return None
    before = len(r.problems)
    r.keys(mapping, STAGE_KEYS, "in rollout stage")
    traffic_node, audience_node = mapping.get("traffic"), mapping.get("audience")
    if traffic_node is None and audience_node is None:
        r.error(node, f"found an empty stage; expected {one_of(STAGE_KEYS)} or both")
    traffic = 1.0 if traffic_node is None else _share(r, traffic_node)
    audience = None if audience_node is None else read_audience(r, audience_node)
    if len(r.problems) > before or traffic is None:
        return None
    return Stage(traffic=traffic, audience=audience, location=r.location(node))


def _share(r: Reader, node: YNode) -> float | None:
    """``5%``, ``"5%"`` or ``0.05``: the share of traffic, as a fraction."""
    if isinstance(node, Scalar) and not isinstance(node.value, bool):
        share = share_value(node.text)
        if share is not None and 0 < share <= 1:
            return share
        r.error(node, f"invalid traffic '{node.text}'; expected {_SHARE_EXPECTED}")
        return None
    r.error(node, f"expected {_SHARE_EXPECTED}, found {found(node)}")
    return None


def share_value(text: str) -> float | None:
    """``5%`` or ``0.05`` as the fraction 0.05; None when the text is no number."""
    text = text.strip()
    try:
        share = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        return None
    return share if math.isfinite(share) else None


def read_holdout(r: Reader, node: YNode) -> float | None:
    """A holdout share (``site.holdout`` or a rule's ``holdout``): ``5%``, ``"5%"`` or
    ``0.05``; ``0%`` holds nobody out (a rule exempt from the site's holdout)."""
    if isinstance(node, Scalar) and not isinstance(node.value, bool):
        share = share_value(node.text)
        if share is not None and 0 <= share < 1:
            return share
        r.error(node, f"invalid holdout '{node.text}'; expected {HOLDOUT_EXPECTED}")
        return None
    r.error(node, f"expected {HOLDOUT_EXPECTED}, found {found(node)}")
    return None


def _percent(share: float) -> str:
    return f"{share * 100:g}%"


def _check_stage_order(r: Reader, items: Seq, stages: list[Stage]) -> None:
    """Each stage includes everyone the previous one did: audiences come first, and the
    traffic for the same audience never shrinks (a shrinking rollout is a rollback)."""
    open_seen = False
    last_traffic: dict[object, float] = {}
    for item, stage in zip(items.items, stages, strict=True):
        audience_key = _audience_key(stage)
        if audience_key is None:
            open_seen = True
        elif open_seen:
            r.error(
                item,
                "found an audience stage after a stage open to everyone; expected audience "
                "stages first",
            )
            continue
        previous = last_traffic.get(audience_key)
        if previous is not None and stage.traffic < previous:
            at = item.get("traffic") if isinstance(item, Map) else None
            r.error(
                at or item,
                f"traffic {_percent(stage.traffic)} is below the {_percent(previous)} of an "
                "earlier stage; expected traffic that never decreases",
            )
        last_traffic[audience_key] = stage.traffic


def _audience_key(stage: Stage) -> object:
    audience = stage.audience
    if audience is None:
        return None
    return tuple(
        tuple(sorted((name, tuple(sorted(values))) for name, values in matchers.items()))
        for matchers in (audience.query, audience.header, audience.cookie)
    )


@once_per_node
def _gates(r: Reader, node: YNode) -> Gates | None:
    mapping = r.mapping(node)
    if mapping is None:
        return None
    before = len(r.problems)
    r.keys(mapping, GATES_KEYS, "in gates")
    defaults = Gates()
    min_visitors = defaults.min_visitors_per_arm
    visitors_node = mapping.get("min_visitors_per_arm")
    if visitors_node is not None:
        min_visitors = _positive_int(r, visitors_node) or min_visitors
    steps = {key: _step(r, key, mapping.get(key)) for key in STEP_KEYS}
    grow, ship = steps["grow_when"] or GROW, steps["ship_when"] or SHIP
    advance_entry = mapping.entry("advance_when")
    if advance_entry is not None:
        # The older form: one gate for every step (growing and shipping alike).
        newer = [key for key in ("grow_when", "ship_when") if mapping.entry(key) is not None]
        if newer:
            r.error(
                advance_entry.key,
                f"found advance_when with {' and '.join(newer)}; expected either advance_when "
                "(one gate for every step) or grow_when and ship_when",
            )
        grow = ship = steps["advance_when"] or ADVANCE
    rollback = defaults.rollback_prob_worse_than_control
    rollback_node = mapping.get("rollback_when")
    if rollback_node is not None:
        thresholds = r.mapping(rollback_node)
        if thresholds is not None:
            r.keys(thresholds, ROLLBACK_KEYS, "in rollback_when")
            for entry in thresholds:
                if entry.name in ROLLBACK_KEYS:
                    rollback = _threshold(r, entry.name, entry.value) or rollback
    min_stage_seconds = defaults.min_stage_seconds
    duration_node = mapping.get("min_stage_duration")
    if duration_node is not None:
        seconds = _duration(r, duration_node)
        min_stage_seconds = min_stage_seconds if seconds is None else seconds
    decide = _decide(r, mapping.get("decide"))
    if len(r.problems) > before:
        return None
    return Gates(
        min_visitors_per_arm=min_visitors,
        grow=grow,
        ship=ship,
        rollback_prob_worse_than_control=rollback,
        min_stage_seconds=min_stage_seconds,
        decide=decide,
    )


def _decide(r: Reader, node: YNode | None) -> Decide:
    """``decide: pooled | per_segment``: one decision for the rule, or one per segment."""
    if node is None:
        return "pooled"
    text = r.string(node, f"one of {one_of(DECIDE)}")
    for decide in DECIDE:
        if text == decide:
            return decide
    if text is not None:
        r.error(node, f"unknown decide '{shown(text)}'; expected one of {one_of(DECIDE)}")
    return "pooled"


def _step(r: Reader, key: str, node: YNode | None) -> Thresholds | None:
    """The thresholds of ``grow_when``, ``ship_when`` or ``advance_when``: each key given
    replaces its default; None when the step is not in the file (or unreadable)."""
    if node is None:
        return None
    allowed, defaults = STEP_KEYS[key]
    thresholds = r.mapping(node)
    if thresholds is None:
        return None
    if not len(thresholds):
        r.error(node, f"found an empty {key}; expected one or more of {one_of(allowed)}")
        return None
    r.keys(thresholds, allowed, f"in {key}")
    values = {name: getattr(defaults, name) for name in allowed}
    for entry in thresholds:
        if entry.name in allowed:
            values[entry.name] = _threshold(r, entry.name, entry.value) or values[entry.name]
    return replace(defaults, **values)


def _text(node: YNode) -> str:
    return node.text if isinstance(node, Scalar) else found(node)


def _positive_int(r: Reader, node: YNode) -> int | None:
    expected = "a whole number of at least 1"
    if not (isinstance(node, Scalar) and type(node.value) is int):
        r.error(node, f"expected {expected}, found {found(node)}")
        return None
    if node.value < 1:
        r.error(node, f"invalid count {node.text}; expected {expected}")
        return None
    return node.value


def _threshold(r: Reader, key: str, node: YNode) -> float | None:
    what, example = _THRESHOLDS[key]
    expected = _FRACTION_EXPECTED.format(example=example)
    value = r.number(node, expected)
    if value is None:
        return None
    if not 0 < value < 1:
        r.error(node, f"invalid {what} {_text(node)}; expected {expected}")
        return None
    return value


def _duration(r: Reader, node: YNode) -> float | None:
    if isinstance(node, Scalar) and isinstance(node.value, int | float | str):
        try:
            if isinstance(node.value, bool):
                raise ValueError(f"expected {DURATION_EXPECTED}, found {found(node)}")
            return parse_duration(node.text)
        except ValueError as exc:
            r.error(node, str(exc))
            return None
    r.error(node, f"expected {DURATION_EXPECTED}, found {found(node)}")
    return None
