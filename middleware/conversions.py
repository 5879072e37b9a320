"""Conversions: from goal matchers on responses, from the browser beacon, and from code
(``await daypart.middleware.convert(request, goal, value=None)``). Every path ends in
``record_conversion``, which asks the experiment policy where the conversion counts."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from daypart.experiments.errors import ExperimentMisuse
from daypart.experiments.policy import Mark
from daypart.experiments.store.base import Conversion
from daypart.middleware.decision import Decision
from daypart.middleware.goals import CompiledGoal, checked_value
from daypart.middleware.runtime import Runtime
from daypart.rules.errors import DaypartError


def record_conversion(
    runtime: Runtime,
    visitor_id: str,
    marks: Sequence[Mark],
    goal: str,
    value: float | None,
) -> int:
    """Count ``goal`` in every experiment the visitor was exposed to (``marks``) whose goal
    it is and that still counts, in the arm and segment of the exposure; and in every
    rule's holdout they were counted in (a holdout counts every goal). Returns how many.
    Raises ``ExperimentMisuse`` for a goal the rules do not define."""
    rules = runtime.rules
    targets = rules.policies.conversion_targets(goal, marks, runtime.states)
    if rules.holdouts:
        targets += rules.holdout_policies.conversion_targets(marks)
    if targets:
        day = rules.site_day(runtime.clock())
        recorder = runtime.recorder
        for experiment, mark in targets:
            segment = mark.segment
            recorder.add(Conversion(experiment, mark.arm, segment, visitor_id, goal, value, day))
    return len(targets)


def converter(runtime: Runtime) -> Callable[[Decision, str, float | None], int]:
    """What ``Decision.convert`` calls: the decision's visitor converts on a goal."""

    def convert(decision: Decision, goal: str, value: float | None) -> int:
        if value is not None:
            checked = checked_value(value)
            if isinstance(checked, str):
                raise ExperimentMisuse(f"a conversion value {checked}", operation="convert")
            value = checked
        if not decision.tracked or decision.cookie is None or decision.visitor_id is None:
            runtime.rules.policies.check_goal(goal)  # misuse is misuse for every visitor
            return 0
        return record_conversion(runtime, decision.visitor_id, decision.cookie.marks, goal, value)

    return convert


def record_response_goals(
    runtime: Runtime,
    decision: Decision,
    goals: tuple[CompiledGoal, ...],
    status: int,
    headers: list[tuple[bytes, bytes]],
) -> None:
    """Goals whose request matched, counted once the response status is known."""
    cookie = decision.cookie
    if cookie is None or decision.visitor_id is None:
        return
    for goal in goals:
        if goal.matches_status(status):
            record_conversion(
                runtime, decision.visitor_id, cookie.marks, goal.goal.name, goal.value(headers)
            )


class HasScope(Protocol):
    @property
    def scope(self) -> Mapping[str, Any]: ...


def decision_of(request: HasScope | Mapping[str, Any]) -> Decision | None:
    """The decision daypart made for a request (Starlette/FastAPI request or ASGI scope)."""
    scope = request if isinstance(request, Mapping) else request.scope
    state = scope.get("state")
    found = state.get("daypart") if isinstance(state, Mapping) else None
    return found if isinstance(found, Decision) else None


async def convert(
    request: HasScope | Mapping[str, Any], goal: str, value: float | None = None
) -> int:
    """Count ``goal`` for the requesting visitor in every running experiment they were
    exposed to whose goal it is. Returns how many experiments it was recorded in (0 for
    bots, opted-out visitors and visitors in no such experiment). Buffered: never waits
    for the store."""
    decision = decision_of(request)
    if decision is None:
        raise DaypartError(
            "this request has no daypart decision: is AdaptiveMiddleware mounted, and is the "
            "path excluded or under the admin prefix?"
        )
    return decision.convert(goal, value)
