"""``AdaptiveMiddleware``: the pure ASGI middleware (Starlette style, no BaseHTTPMiddleware).

Per request it classifies the visitor, finds the first matching rule, picks the arm if
the rule runs an experiment, applies the variant, and buffers what must be counted. All
expensive work (parsing rules, compiling matchers, connecting the store) happens in
``__init__`` or in background tasks; the request path does no I/O.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import unquote

from starlette.requests import cookie_parser

from daypart.experiments.evaluator import Evaluator
from daypart.experiments.state import RolloutState
from daypart.experiments.store import store_from_url
from daypart.experiments.store.base import Conversion, Exposure, Segment, Store
from daypart.middleware.background import Background
from daypart.middleware.decision import Decision
from daypart.middleware.engine import CompiledGoal, Engine
from daypart.middleware.headers import make_private, merge_vary
from daypart.middleware.recorder import Recorder
from daypart.middleware.visitor import CookieSigner, Mark, VisitorCookie, new_visitor_id
from daypart.rules.context import Context
from daypart.rules.device import device_class
from daypart.rules.errors import ExperimentError
from daypart.rules.glob import compile_globs, literal_prefix
from daypart.rules.loader import load_rules
from daypart.rules.localtime import Clock, MinuteCache, zone_named
from daypart.rules.model import Arm, RuleSet

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

logger = logging.getLogger("daypart")

DEFAULT_EXCLUDE = ("/static/**", "/favicon.ico", "/robots.txt")
_NO_COOKIES: Mapping[str, str] = MappingProxyType({})
_COOKIE_CACHE_SIZE = 8192
_MAX_CACHED_COOKIE_HEADER = 1024
_HEADER_CACHE_SIZE = 256
NOT_STARTED = RolloutState()


class AdaptiveMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        rules: str | os.PathLike[str] | RuleSet,
        store: str | Store | None = None,
        secret: str | None = None,
        cookie_name: str = "daypart",
        cookie_max_age: int = 400 * 24 * 3600,
        exclude: Iterable[str] = DEFAULT_EXCLUDE,
        admin_prefix: str = "/_daypart",
        admin_token: str | None = None,
        vary: Iterable[str] = ("User-Agent", "Sec-CH-UA-Mobile", "Cookie"),
        clock: Clock = time.time,
        reload_interval: float = 1.0,
        state_interval: float = 2.0,
        evaluate_interval: float | None = 60.0,
        flush_interval: float = 0.5,
        batch_size: int = 500,
        max_buffer: int = 200_000,
    ) -> None:
        self.app = app
        if isinstance(rules, RuleSet):
            self.rules_path: Path | None = None
            ruleset = rules
        else:
            self.rules_path = Path(rules)
            ruleset = load_rules(self.rules_path)  # a broken file at start-up must fail loudly
        self.engine = Engine(ruleset)
        self.rules_error: str | None = None
        if store is None:
            store = os.environ.get("DAYPART_STORE", "memory://")
        self.store = store_from_url(store) if isinstance(store, str) else store
        secret = secret or os.environ.get("DAYPART_SECRET")
        if not secret:
            logger.warning(
                "daypart: no secret configured (DAYPART_SECRET); using a random one, so "
                "visitor cookies will not survive a restart or work across workers"
            )
            secret = secrets.token_urlsafe(32)
        self.signer = CookieSigner(secret)
        self.cookie_name = cookie_name
        self.cookie_max_age = cookie_max_age
        self._cookie_key = cookie_name
        # One regex for all globs, run only for paths that start like one of them (a
        # single str.startswith call rules out most requests).
        excluded = tuple(exclude)
        self.exclude = compile_globs(excluded) if excluded else None
        self._exclude_prefixes = tuple(literal_prefix(glob) for glob in excluded)
        self.admin_prefix = admin_prefix.rstrip("/")
        self.admin_token = admin_token or os.environ.get("DAYPART_ADMIN_TOKEN")
        self.vary = tuple(vary)
        self.clock = clock
        self.minutes = MinuteCache()
        self._record_conversion = self.record_conversion  # bound once, not per request
        self._cookie_cache: dict[str, tuple[Mapping[str, str], VisitorCookie | None]] = {}
        self._vary_cache: dict[bytes, bytes] = {}
        self._private_cache: dict[bytes, bytes] = {}
        self.states: dict[str, RolloutState] = {}
        self.recorder = Recorder(
            self.store, batch_size=batch_size, interval=flush_interval, max_buffer=max_buffer
        )
        self.background = Background(
            self,
            reload_interval=reload_interval,
            state_interval=state_interval,
            evaluate_interval=evaluate_interval,
        )
        self.evaluator = Evaluator(self.store, clock=clock)
        self.background.evaluator = self.evaluate
        self._admin: ASGIApp | None = None

    # -- ASGI -------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http":
            if kind == "lifespan":
                await self._lifespan(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path.startswith(self.admin_prefix) and (
            len(path) == len(self.admin_prefix) or path[len(self.admin_prefix)] == "/"
        ):
            self.background.ensure_started()  # the beacon records, so the flusher must run
            await self.admin_app(scope, receive, send)
            return
        if (
            self.exclude is not None
            and path.startswith(self._exclude_prefixes)
            and self.exclude.fullmatch(path)
        ):
            await self.app(scope, receive, send)
            return
        self.background.ensure_started()
        inner_scope, wrapped = self._prepare(scope, send)
        await self.app(inner_scope, receive, wrapped)

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def receive_wrapper() -> Message:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.background.start()
            elif message["type"] == "lifespan.shutdown":
                await self.background.stop()
            return message

        await self.app(scope, receive_wrapper, send)

    @property
    def admin_app(self) -> ASGIApp:
        if self._admin is None:
            from daypart.middleware.admin import build_admin_app

            self._admin = build_admin_app(self)
        return self._admin

    # -- the request path -----------------------------------------------------------------

    def classify(self, scope: Scope, engine: Engine) -> tuple[Decision, Context]:
        """Everything daypart knows about a request; no side effects."""
        headers: dict[str, str] = {}
        wanted = engine.wanted_headers  # raw name -> str name
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
        opted_out = (
            headers.get("dnt", "").strip() == "1" or headers.get("sec-gpc", "").strip() == "1"
        )
        device = device_class(user_agent, hints)
        cookies, visitor_cookie = (
            self._cookies(cookie_header) if cookie_header else (_NO_COOKIES, None)
        )
        zone = engine.site_zone
        for from_cookie, source_name in engine.zone_sources:
            name = (cookies if from_cookie else headers).get(source_name)
            if name:
                found = zone_named(unquote(name) if "%" in name else name)
                if found is not None:
                    zone = found
                    break
        epoch = self.clock()
        local = self.minutes.minute(epoch, zone)
        dayparts, segment = engine.matcher.dayparts_at(local.weekday, local.minute)
        tracked = device != "bot" and not opted_out
        cookie = visitor_cookie if tracked else None
        new_visitor = cookie is None
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
            cookie.visitor_id if cookie else (new_visitor_id() if tracked else None),
            new_visitor,
            tracked,
            cookie,
            self._record_conversion,
        )
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
        return decision, context

    def _cookies(self, header: str) -> tuple[Mapping[str, str], VisitorCookie | None]:
        # A returning visitor sends the same Cookie header on every request: parse it and
        # verify the visitor cookie's signature once. The parsed mapping is shared, so it
        # is read-only (MappingProxyType).
        found = self._cookie_cache.get(header)
        if found is None:
            cookies = MappingProxyType(cookie_parser(header))
            found = (cookies, self.signer.load(cookies.get(self._cookie_key)))
            if len(header) <= _MAX_CACHED_COOKIE_HEADER:
                if len(self._cookie_cache) >= _COOKIE_CACHE_SIZE:
                    self._cookie_cache.clear()
                self._cookie_cache[header] = found
        return found

    def decide(self, decision: Decision, context: Context, engine: Engine) -> Mark | None:
        """Fill in rule, variant and arm; returns a new exposure mark when the visitor just
        entered an experiment."""
        rule = engine.catch_all if decision.device == "bot" else engine.matcher.match(context)
        if rule is None:
            return None
        decision.rule = rule.name
        decision.variant = rule.serve
        if rule.experiment is None:
            return None
        name = rule.experiment
        experiment = engine.experiments[name]
        allocator = engine.allocators[name]
        state = self.states.get(name, NOT_STARTED)
        decision.experiment = name
        arm: Arm | None = None
        new_mark: Mark | None = None
        if state.status == "completed" and state.winner in allocator.by_name:
            arm = allocator.by_name[state.winner]
        elif decision.tracked and state.counting and decision.visitor_id is not None:
            code = engine.codes[name]
            mark = decision.cookie.mark_for(code) if decision.cookie else None
            if mark is not None and mark.arm in allocator.by_name:
                arm = allocator.by_name[mark.arm]
            else:
                arm = allocator.enroll(decision.visitor_id, state, context)
                if arm is not None:
                    new_mark = Mark(code, arm.name, decision.device, decision.segment)
        if arm is None:
            arm = experiment.control  # out of the experiment: sees what control sees
            decision.arm = None
        else:
            decision.arm = arm.name
        decision.variant = arm.variant
        return new_mark

    def _prepare(self, scope: Scope, send: Send) -> tuple[Scope, Send]:
        """Decide, record, and return the scope and ``send`` the app is called with (a plain
        function, not a coroutine: one frame less on every request)."""
        engine = self.engine
        decision, context = self.classify(scope, engine)
        new_mark = self.decide(decision, context, engine) if engine.adapts(context.path) else None
        visitor_id = decision.visitor_id
        set_cookie = decision.tracked and (decision.new_visitor or new_mark is not None)
        if new_mark is not None and visitor_id is not None and decision.experiment is not None:
            self.recorder.add(
                Exposure(
                    decision.experiment,
                    new_mark.arm,
                    Segment(new_mark.device, new_mark.daypart),
                    visitor_id,
                )
            )
        if set_cookie:
            assert visitor_id is not None  # tracked visitors always have one
            base = decision.cookie or VisitorCookie(visitor_id)
            decision.cookie = base.with_mark(new_mark) if new_mark else base

        state = scope.get("state")
        if state is None:
            scope["state"] = state = {}
        state["daypart"] = decision
        goals = engine.goals_for_request(context.method, context.path) if decision.tracked else ()

        variant = engine.variants.get(decision.variant) if decision.variant else None
        inner_scope: Scope = scope
        if variant is not None and variant.changes_request:
            inner_scope = variant.apply(dict(scope))
        if variant is None and not set_cookie and not goals:
            return inner_scope, send

        cookie_value = self.signer.dump(decision.cookie) if set_cookie and decision.cookie else None
        secure = scope.get("scheme") == "https"

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                if variant is not None:
                    self._make_private(headers)
                if cookie_value is not None:
                    headers.append((b"set-cookie", self._cookie_header(cookie_value, secure)))
                if goals:
                    self._response_goals(decision, goals, message["status"], headers)
                message["headers"] = headers
            await send(message)

        return inner_scope, send_wrapper

    def _make_private(self, headers: list[tuple[bytes, bytes]]) -> None:
        """Add our Vary names and ``private`` to the app's own headers, in place. Both merges
        depend only on the app's value, so they are remembered (a site sends few values)."""
        vary_at = cache_at = -1
        for index, (name, _) in enumerate(headers):  # ASGI: names are lower-case
            if name == b"vary" and vary_at < 0:
                vary_at = index
            elif name == b"cache-control" and cache_at < 0:
                cache_at = index
        self._merge_into(headers, vary_at, b"vary", self._vary_cache, self._merged_vary)
        self._merge_into(
            headers, cache_at, b"cache-control", self._private_cache, self._merged_private
        )

    @staticmethod
    def _merge_into(
        headers: list[tuple[bytes, bytes]],
        index: int,
        name: bytes,
        cache: dict[bytes, bytes],
        merge: Callable[[bytes], bytes],
    ) -> None:
        existing = headers[index][1] if index >= 0 else b""
        merged = cache.get(existing)
        if merged is None:
            merged = merge(existing)
            if len(cache) >= _HEADER_CACHE_SIZE:
                cache.clear()
            cache[existing] = merged
        if index >= 0:
            headers[index] = (name, merged)
        else:
            headers.append((name, merged))

    def _merged_vary(self, existing: bytes) -> bytes:
        return merge_vary(existing.decode("latin-1"), self.vary).encode("latin-1")

    @staticmethod
    def _merged_private(existing: bytes) -> bytes:
        return make_private(existing.decode("latin-1")).encode("latin-1")

    def _cookie_header(self, value: str, secure: bool) -> bytes:
        attributes = f"Path=/; Max-Age={self.cookie_max_age}; HttpOnly; SameSite=Lax"
        cookie = f"{self.cookie_name}={value}; {attributes}{'; Secure' if secure else ''}"
        return cookie.encode("latin-1")

    def _response_goals(
        self,
        decision: Decision,
        goals: tuple[CompiledGoal, ...],
        status: int,
        headers: list[tuple[bytes, bytes]],
    ) -> None:
        for goal in goals:
            if not goal.matches_status(status):
                continue
            value: float | None = None
            if goal.value_header is not None:
                raw = next((v for n, v in headers if n == goal.value_header), None)
                value = None if raw is None else parse_value(raw.decode("latin-1"))
            self.record_conversion(decision, goal.goal.name, value)

    # -- conversions ----------------------------------------------------------------------

    def record_conversion(self, decision: Decision, goal: str, value: float | None) -> int:
        """Count ``goal`` in every counting experiment the visitor was exposed to whose goal
        it is, in the arm and segment of the exposure. Returns how many."""
        engine = self.engine
        if goal not in engine.ruleset.goals:
            known = ", ".join(sorted(engine.ruleset.goals)) or "none"
            raise ExperimentError(f"unknown goal {goal!r}; defined goals: {known}")
        if not decision.tracked or decision.cookie is None or decision.visitor_id is None:
            return 0
        counted = 0
        for mark in decision.cookie.marks:
            name = engine.by_code.get(mark.code)
            if name is None or engine.experiments[name].goal != goal:
                continue
            if not self.states.get(name, NOT_STARTED).counting:
                continue
            if mark.arm not in engine.allocators[name].by_name:
                continue
            self.recorder.add(
                Conversion(
                    name,
                    mark.arm,
                    Segment(mark.device, mark.daypart),
                    decision.visitor_id,
                    goal,
                    value,
                )
            )
            counted += 1
        return counted

    def cookie_from_request(self, cookie_header: str) -> VisitorCookie | None:
        return self.signer.load(cookie_parser(cookie_header).get(self._cookie_key))

    async def evaluate(self) -> None:
        """Run the gates once (if this worker holds the evaluator lock) and follow them."""
        evaluations = await self.evaluator.run_once(self.engine.ruleset)
        if evaluations and any(e.applied for e in evaluations):
            await self.background.refresh_states()

    # -- rules ----------------------------------------------------------------------------

    def swap_rules(self, ruleset: RuleSet) -> None:
        self.engine = Engine(ruleset)
        self.rules_error = None


_MAX_VALUE = 1e12


def parse_value(raw: str | None) -> float | None:
    """A conversion value from a header; garbage, NaN and absurd values count as no value."""
    if raw is None:
        return None
    try:
        value = float(raw.strip()[:32])
    except ValueError:
        return None
    if value != value or abs(value) > _MAX_VALUE:
        return None
    return value
