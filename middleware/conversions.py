"""``await daypart.middleware.convert(request, goal, value=None)``: conversions from code."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from daypart.middleware.decision import Decision
from daypart.rules.errors import DaypartError


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
