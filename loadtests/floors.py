"""The least any middleware can do to serve daypart's decisions, for ``make
bench-instructions``: how far below daypart's own cost a Python middleware could go at all.

``ReturningFloor`` does only what serving a remembered decision to a returning visitor
cannot do without: read the decision's key from the request (path, query, method and the
headers decisions read), look it up in a dict, hand it to the app in ``scope["state"]``,
and add ``Vary`` and ``Cache-Control: private`` to the response. ``NewFloor`` adds what a
new visitor cannot do without: a random id (drawn from the OS 256 at a time, as daypart
does), an arm from a keyed hash of the id, the exposure appended to a buffer, and an
HMAC-SHA256-signed cookie in a ``Set-Cookie`` header. Neither classifies, checks rollout
states, honours consent, expires its decisions or bounds its memory: they are floors to
measure against, not middlewares to run.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from loadtests.harness import ASGIApp, Scope

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

PRIVATE = ((b"vary", b"User-Agent, Sec-CH-UA-Mobile, Cookie"), (b"cache-control", b"private"))
WANTED = frozenset({b"user-agent", b"sec-ch-ua-mobile", b"cookie"})
_COOKIE_END = b"; Path=/; Max-Age=31536000; HttpOnly; SameSite=Lax"


def _key(scope: Scope) -> tuple[Any, ...]:
    parts: list[Any] = [scope["path"], scope["query_string"], scope["method"]]
    for pair in scope["headers"]:
        if pair[0] in WANTED:
            parts += pair
    return tuple(parts)


class ReturningFloor:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.decisions: dict[tuple[Any, ...], object] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        key = _key(scope)
        decision = self.decisions.get(key)
        if decision is None:
            decision = self.decisions[key] = ("mobile", "evening", "inspiration")
        scope.setdefault("state", {})["daypart"] = decision

        def sender(message: Message) -> Awaitable[None]:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *PRIVATE]
            return send(message)

        await self.app(scope, receive, sender)


class NewFloor:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.mac = hmac.new(b"benchmark-secret-0123456789", digestmod=hashlib.sha256)
        self.arm_hash = hashlib.blake2b(key=b"experiment-salt", digest_size=8)
        self.records: deque[tuple[str, str]] = deque()
        self._ids = ""
        self._at = 0

    def _new_id(self) -> str:
        if self._at >= len(self._ids):
            self._ids = base64.urlsafe_b64encode(os.urandom(12 * 256)).decode("ascii")
            self._at = 0
        at = self._at
        self._at = at + 16
        return self._ids[at : at + 16]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        _key(scope)  # a new visitor's request is keyed too, to find its rule
        visitor = self._new_id()
        hashed = self.arm_hash.copy()
        hashed.update(visitor.encode())
        arm = "offer" if hashed.digest()[0] & 1 else "control"
        self.records.append((visitor, arm))
        if len(self.records) > 10_000:
            self.records.clear()  # written to the store in the background, in daypart
        scope.setdefault("state", {})["daypart"] = (visitor, arm)
        payload = f"{visitor}.{arm}".encode()
        signer = self.mac.copy()
        signer.update(payload)
        signature = base64.urlsafe_b64encode(signer.digest()).rstrip(b"=")
        cookie = (b"set-cookie", b"dp=" + payload + b"." + signature + _COOKIE_END)

        def sender(message: Message) -> Awaitable[None]:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *PRIVATE, cookie]
            return send(message)

        await self.app(scope, receive, sender)
