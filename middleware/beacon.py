"""``POST /_daypart/convert``: conversions reported by the browser.

Body: JSON ``{"goal": "shared", "value": 12.5}`` (``value`` optional), at most 4 KiB; sent
as ``application/json`` or as ``text/plain`` (what ``navigator.sendBeacon`` sends for a
string). The visitor comes from the signed cookie; only goals declared ``beacon: true``
are accepted, so a page cannot fake a server-side goal such as a booking.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from daypart.middleware.decision import Decision

if TYPE_CHECKING:
    from daypart.middleware.asgi import AdaptiveMiddleware

MAX_BODY = 4096


def problem(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def read_bounded(request: Request, limit: int) -> bytes | None:
    """The body, or None when it exceeds ``limit`` (stops reading as soon as it does)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def parse_beacon(body: bytes) -> tuple[str, float | None] | str:
    """(goal, value), or an error message."""
    try:
        data: Any = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return f"body is not valid JSON: {exc}"
    if not isinstance(data, dict):
        return 'body must be a JSON object such as {"goal": "shared"}'
    unknown = sorted(set(data) - {"goal", "value"})
    if unknown:
        return f"unknown field {unknown[0]!r}; expected goal and optionally value"
    goal = data.get("goal")
    if not isinstance(goal, str) or not goal:
        return "field 'goal' must be a non-empty string"
    value = data.get("value")
    if value is not None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "field 'value' must be a number"
        if not math.isfinite(value) or abs(value) > 1e12:
            return "field 'value' must be a finite number below 1e12 in size"
        value = float(value)
    return goal, value


async def convert_endpoint(request: Request, middleware: AdaptiveMiddleware) -> JSONResponse:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ("application/json", "text/plain", ""):
        return problem(415, f"content type {content_type!r}; expected application/json")
    body = await read_bounded(request, MAX_BODY)
    if body is None:
        return problem(413, f"body larger than {MAX_BODY} bytes")
    parsed = parse_beacon(body)
    if isinstance(parsed, str):
        return problem(400, parsed)
    goal_name, value = parsed
    engine = middleware.engine
    goal = engine.ruleset.goals.get(goal_name)
    if goal is None:
        known = ", ".join(sorted(engine.ruleset.goals)) or "none"
        return problem(422, f"unknown goal {goal_name!r}; defined goals: {known}")
    if not goal.beacon:
        return problem(422, f"goal {goal_name!r} is not a beacon goal (beacon: true)")
    opted_out = request.headers.get("dnt") == "1" or request.headers.get("sec-gpc") == "1"
    cookie = (
        None if opted_out else middleware.cookie_from_request(request.headers.get("cookie", ""))
    )
    if cookie is None:
        return JSONResponse({"counted": 0}, status_code=202)
    decision = Decision(
        device="",
        zone=engine.site_zone,
        epoch=middleware.clock(),
        dayparts=frozenset(),
        segment="",
        visitor_id=cookie.visitor_id,
        new_visitor=False,
        tracked=True,
        cookie=cookie,
    )
    counted = middleware.record_conversion(decision, goal_name, value)
    return JSONResponse({"counted": counted}, status_code=202)
