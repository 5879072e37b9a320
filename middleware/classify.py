"""Classifying a request: everything daypart knows about it before any rule is asked —
device, the visitor's zone and local time, the dayparts it falls in, the visitor (signed
cookie) and consent. No side effects; what it caches depends only on the request."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Literal
from urllib.parse import unquote
from zoneinfo import ZoneInfo

from starlette.requests import cookie_parser
from starlette.types import Scope

from daypart.middleware.bounded import ByteBudgetCache, str_bytes
from daypart.middleware.compiled_rules import CompiledRules
from daypart.middleware.consent import opted_out
from daypart.middleware.decision import Converter, Decision
from daypart.middleware.visitor import CookieSigner, VisitorCookie, new_visitor_id
from daypart.rules.context import Context
from daypart.rules.device import device_class
from daypart.rules.localtime import Clock, MinuteCache, zone_named

_NO_COOKIES: Mapping[str, str] = MappingProxyType({})
# Verified Cookie headers kept, in bytes (header, parsed cookies, visitor cookie): some
# 8,000 returning visitors with a few cookies each. Longer headers are parsed each time.
COOKIE_CACHE_BYTES = 16 << 20
_MAX_CACHED_COOKIE_HEADER = 1024
# IANA zone names are at most 32 characters; a longer value is no zone, and is neither
# unquoted, looked up nor kept. The values seen (as sent: a cookie may be URL-encoded)
# are remembered, 2,048 at most of at most 64 characters: some 350 KiB.
_MAX_ZONE_VALUE = 64
_ZONE_VALUES = 2048
# Bytes of a parsed Cookie header beyond its strings: the mapping proxy and the tuple
# cached, per cookie its two str headers, and per exposure mark its object and strings.
_PARSED = 40 + 56
_PER_COOKIE = 2 * 49 + 8
_VISITOR = 48 + 65 + 40
_PER_MARK = 8 + 80 + 5 * 64


class Classifier:
    def __init__(
        self, signer: CookieSigner, cookie_name: str, clock: Clock, convert: Converter
    ) -> None:
        self.signer = signer
        self.cookie_name = cookie_name
        self.clock = clock
        self.convert = convert  # what Decision.convert calls
        # Where new visitors' ids come from: random (96 bits from the OS); the simulator
        # puts a seeded source here, so that a run with the same seed is the same run.
        self.new_id: Callable[[], str] = new_visitor_id
        self.minutes = MinuteCache()
        # zone cookie or header value -> its zone, or False for a value that names none
        self._zones: dict[str, ZoneInfo | Literal[False]] = {}
        self._cookie_cache: ByteBudgetCache[str, tuple[Mapping[str, str], VisitorCookie | None]] = (
            ByteBudgetCache(COOKIE_CACHE_BYTES, 8 * _MAX_CACHED_COOKIE_HEADER)
        )

    def classify(
        self, scope: Scope, rules: CompiledRules, epoch: float | None = None
    ) -> tuple[Decision, Context]:
        """``epoch``: the request's time if the caller read the clock already."""
        headers: dict[str, str] = {}
        wanted = rules.wanted_headers  # raw name -> str name
        for raw_name, raw_value in scope["headers"]:
            name = wanted.get(raw_name)
            if name is None:
                continue
            if name in headers:  # repeated: HTTP/2 may split cookies; otherwise first wins
                if name == "cookie":
                    headers[name] += "; " + raw_value.decode("latin-1")
                continue
            headers[name] = raw_value.decode("latin-1")
        user_agent = headers.get("user-agent", "")
        cookie_header = headers.get("cookie")
        mobile_hint = headers.get("sec-ch-ua-mobile")
        hints = None if mobile_hint is None else {"sec-ch-ua-mobile": mobile_hint}
        device = device_class(user_agent, hints)
        cookies, visitor_cookie = (
            self.cookies(cookie_header) if cookie_header else (_NO_COOKIES, None)
        )
        zone = rules.site_zone
        zones = self._zones
        for from_cookie, source_name in rules.zone_sources:
            name = (cookies if from_cookie else headers).get(source_name)
            if name is not None:
                found = zones.get(name)  # no call, no unquoting for a value seen before
                if found is None:
                    found = self._zone(name)
                if found:
                    zone = found
                    break
        if epoch is None:
            epoch = self.clock()
        local = self.minutes.minute(epoch, zone)
        dayparts, segment = rules.matcher.dayparts_at(local.weekday, local.minute)
        dnt, gpc = headers.get("dnt"), headers.get("sec-gpc")
        # The call only when a consent header is there: most requests carry neither.
        tracked = device != "bot" and not ((dnt or gpc) and opted_out(dnt, gpc))
        cookie = visitor_cookie if tracked else None
        new_visitor = cookie is None
        context = Context(
            device,
            local,
            dayparts,
            scope["path"],
            scope["method"],
            scope.get("query_string", b""),
            headers,
            cookies,
            new_visitor,
        )
        channels = rules.channels  # None unless the rules declare channels: no work then
        # Positional arguments: this runs on every request (see the field order).
        decision = Decision(
            device,
            zone,
            epoch,
            dayparts,
            segment,
            None,
            None,
            None,
            None,
            cookie.visitor_id if cookie else (self.new_id() if tracked else None),
            new_visitor,
            tracked,
            cookie,
            self.convert,
            None,  # the holdout side: decide() sets it
            "" if channels is None else channels.channel(context),
        )
        return decision, context

    def _zone(self, value: str) -> ZoneInfo | Literal[False]:
        found: ZoneInfo | Literal[False] = False
        if len(value) <= _MAX_ZONE_VALUE:
            found = zone_named(unquote(value) if "%" in value else value) or False
            if len(self._zones) >= _ZONE_VALUES:
                self._zones.clear()
            self._zones[value] = found
        return found

    def cookies(self, header: str) -> tuple[Mapping[str, str], VisitorCookie | None]:
        """The cookies of a Cookie header and the verified visitor cookie among them.

        A returning visitor sends the same Cookie header on every request: parse it and
        verify the visitor cookie's signature once. The parsed mapping is shared, so it is
        read-only (MappingProxyType)."""
        found = self._cookie_cache.get(header)
        if found is None:
            parsed = cookie_parser(header)
            cookies = MappingProxyType(parsed)
            visitor = self.signer.load(cookies.get(self.cookie_name))
            found = (cookies, visitor)
            if len(header) <= _MAX_CACHED_COOKIE_HEADER:
                size = 2 * str_bytes(header) + sys.getsizeof(parsed) + _PARSED
                size += _PER_COOKIE * len(parsed)
                if visitor is not None:
                    size += _VISITOR + _PER_MARK * len(visitor.marks)
                self._cookie_cache.remember(header, found, size)
        return found
