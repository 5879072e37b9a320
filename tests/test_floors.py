"""The floors ``make bench-served`` and ``make bench-instructions`` measure daypart against
do the work they stand for: a floor that skipped some of it would make daypart look worse
than any middleware must be."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac

from loadtests.bench import DESKTOP, request, site
from loadtests.floors import NewFloor, ReturningFloor
from loadtests.harness import ASGIApp, Collector, Scope


async def _receive() -> dict[str, object]:
    return {"type": "http.request", "body": b"", "more_body": False}


def _call(app: ASGIApp, scope: Scope) -> tuple[int, dict[bytes, bytes]]:
    sent = Collector()

    async def run() -> None:
        await app(scope, _receive, sent)

    asyncio.run(run())
    return sent.status, dict(sent.headers)


def test_the_returning_floor_hands_a_decision_and_marks_the_page_private() -> None:
    floor = ReturningFloor(site())
    scope = request(DESKTOP, "daypart=abc")
    status, headers = _call(floor, scope)
    assert status == 200
    assert headers[b"cache-control"] == b"private"
    assert b"Cookie" in headers[b"vary"]
    assert scope["state"]["daypart"] is not None
    assert len(floor.decisions) == 1  # remembered: the next request is one lookup


def test_the_new_floor_enrols_records_and_signs_a_fresh_visitor_each_time() -> None:
    floor = NewFloor(site())
    cookies = []
    for _ in range(300):  # past one draw of 256 ids
        _, headers = _call(floor, request(DESKTOP))
        cookies.append(headers[b"set-cookie"].split(b";")[0].removeprefix(b"dp="))
    assert len(set(cookies)) == 300
    assert len(floor.records) == 300
    for cookie in cookies:
        payload, signature = cookie.rsplit(b".", 1)
        expected = hmac.new(b"benchmark-secret-0123456789", payload, hashlib.sha256).digest()
        assert base64.urlsafe_b64decode(signature + b"=" * (-len(signature) % 4)) == expected
