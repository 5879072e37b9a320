"""``POST /_daypart/convert``: conversions reported by the browser.

Body: JSON ``{"goal": "shared", "value": 12.5}`` (``value`` optional), at most 4 KiB; sent
as ``application/json`` or as ``text/plain`` (what ``navigator.sendBeacon`` sends for a
string). The visitor comes from the signed cookie; only goals declared ``beacon: true``
are accepted, so a page cannot fake a server-side goal such as a booking.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request, cookie_parser
from starlette.responses import JSONResponse

from daypart.experiments.errors import ExperimentMisuse
from daypart.middleware.consent import opted_out
from daypart.middleware.conversions import record_conversion
from daypart.middleware.goals import checked_value
from daypart.middleware.runtime import Runtime

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
    if value is None:
        return goal, None
    checked = checked_value(value)
    if isinstance(checked, str):
        return f"field 'value' {checked}"
    return goal, checked


async def convert_endpoint(request: Request, runtime: Runtime) -> JSONResponse:
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
    rules = runtime.rules
    try:
        rules.policies.check_goal(goal_name)
    except ExperimentMisuse as exc:
        return problem(422, str(exc))
    if not rules.ruleset.goals[goal_name].beacon:
        return problem(422, f"goal {goal_name!r} is not a beacon goal (beacon: true)")
    headers = request.headers
    if opted_out(headers.get("dnt"), headers.get("sec-gpc")):
        return JSONResponse({"counted": 0}, status_code=202)
    cookies = cookie_parser(headers.get("cookie", ""))
    cookie = runtime.signer.load(cookies.get(runtime.settings.cookie_name))
    if cookie is None:
        return JSONResponse({"counted": 0}, status_code=202)
    counted = record_conversion(runtime, cookie.visitor_id, cookie.marks, goal_name, value)
    return JSONResponse({"counted": counted}, status_code=202)
