"""``POST /_daypart/convert``: conversions reported by the browser.

Body: JSON ``{"goal": "shared", "value": 12.5}`` (``value`` optional), at most 4 KiB; sent
as ``application/json`` or as ``text/plain`` (what ``navigator.sendBeacon`` sends for a
string). The visitor comes from the signed cookie; only goals declared ``beacon: true``
are accepted, so a page cannot fake a server-side goal such as a booking.

The endpoint is public, so every answer to a bad request is a 4xx that says what was
wrong, never a 5xx: nested JSON that exhausts the parser, numbers of thousands of digits,
odd ``Content-Length`` values. It is rate-limited per client address and per visitor
(429 with ``Retry-After``), may be restricted to the site's own pages (``Origin``), and a
conversion the worker already counted is not written again (``Recorder``).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import math
from typing import Any

from starlette.requests import ClientDisconnect, Request, cookie_parser
from starlette.responses import JSONResponse

from daypart.experiments.errors import ExperimentMisuse
from daypart.middleware.consent import opted_out
from daypart.middleware.conversions import record_conversion
from daypart.middleware.goals import checked_value
from daypart.middleware.ratelimit import RateLimit
from daypart.middleware.runtime import SAME_ORIGIN, Runtime

logger = logging.getLogger("daypart")

MAX_BODY = 4096


def problem(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


async def read_bounded(request: Request, limit: int) -> bytes | None:
    """The body, or None when it exceeds ``limit`` (stops reading as soon as it does)."""
    declared = request.headers.get("content-length", "").strip()
    # ASCII digits only ("²".isdigit() is true), and never int() of thousands of digits
    if declared.isascii() and declared.isdigit() and (len(declared) > 12 or int(declared) > limit):
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
    except RecursionError:
        return "body is not valid JSON: nested too deeply"
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, an int of >4300 digits
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


def origin_refused(request: Request, runtime: Runtime) -> str | None:
    """Why the page that sent the beacon may not, or None (``beacon_origins``)."""
    allowed = runtime.settings.beacon_origins
    if allowed is None:
        return None
    origin = request.headers.get("origin", "").lower()
    if allowed == SAME_ORIGIN:
        host = request.headers.get("host", "").lower()
        own = f"{request.scope.get('scheme', 'http')}://{host}"  # not request.url: it parses
        if origin == own:
            return None
        if not origin:
            return f"an Origin header is required, from this site's own pages ({own})"
        return (
            f"Origin {origin!r} is not this site's {own!r} (behind a proxy that ends TLS, "
            f"run the server with its proxy headers on, e.g. uvicorn --proxy-headers)"
        )
    if origin in allowed:
        return None
    expected = ", ".join(allowed)
    if not origin:
        return f"an Origin header is required, one of: {expected}"
    return f"Origin {origin!r} may not send beacons; allowed: {expected}"


def client_key(request: Request) -> str:
    """The client address the per-client limit counts under: an IPv6 address by its /64
    (one subscriber's whole network), anything else as given."""
    client = request.scope.get("client")
    host = str(client[0]) if client else ""
    if ":" in host:
        try:
            network = ipaddress.IPv6Network(f"{host}/64", strict=False)
        except ValueError:
            return host
        return str(network.network_address)
    return host


def too_many(limit: RateLimit | None, key: str, now: float, who: str) -> JSONResponse | None:
    if limit is None:
        return None
    wait = limit.wait(key, now)
    if not wait:
        return None
    seconds = max(1, math.ceil(wait))
    if limit.refused % 1000 == 1:  # the first, then every 1,000th: a flood is one line
        if who == "client":
            logger.warning(
                "daypart: beacon rate limit per client reached by %s (%d beacons refused so "
                "far); if that is a proxy's address, see --forwarded-allow-ips",
                key,
                limit.refused,
            )
        else:
            logger.warning(
                "daypart: beacon rate limit per visitor reached (%d refused so far)",
                limit.refused,
            )
    return problem(
        429,
        f"too many beacons from this {who}; try again in {seconds} s",
        {"Retry-After": str(seconds)},
    )


async def convert_endpoint(request: Request, runtime: Runtime) -> JSONResponse:
    refused = origin_refused(request, runtime)
    if refused is not None:
        return problem(403, refused)
    # Before any work on the body: a flood from one address costs a dict lookup each.
    now = runtime.monotonic()
    limited = too_many(runtime.beacon_client_limit, client_key(request), now, "client")
    if limited is not None:
        return limited
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ("application/json", "text/plain", ""):
        return problem(415, f"content type {content_type!r}; expected application/json")
    try:
        body = await read_bounded(request, MAX_BODY)
    except ClientDisconnect:
        return problem(400, "the client went away before sending the body")
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
    limited = too_many(runtime.beacon_visitor_limit, cookie.visitor_id, now, "visitor")
    if limited is not None:
        return limited
    counted = record_conversion(runtime, cookie.visitor_id, cookie.marks, goal_name, value)
    return JSONResponse({"counted": counted}, status_code=202)
