"""``AdaptiveMiddleware``: the pure ASGI middleware (Starlette style, no BaseHTTPMiddleware).

Per request it classifies the visitor (``classify``), decides rule, variant and arm
(``decide``, asking the experiment policy), buffers a new exposure, applies the variant to
the request and serves the decision on the response (``serve``), and counts goals that
match the response (``conversions``). All expensive work (parsing rules, compiling
matchers, connecting the store) happens in ``__init__`` or in background tasks; the
request path does no I/O.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from daypart.experiments.holdout import DEFAULT
from daypart.experiments.policy import Mark
from daypart.experiments.state import NOT_STARTED
from daypart.experiments.store import SCHEMES, MemoryStore, store_from_url
from daypart.experiments.store.base import Exposure, Store
from daypart.middleware.background import Background
from daypart.middleware.classify import Classifier
from daypart.middleware.compiled_rules import CompiledRules
from daypart.middleware.conversions import converter, record_response_goals
from daypart.middleware.decide import decide
from daypart.middleware.decision import Decision
from daypart.middleware.decision_cache import DecisionCache, DecisionKey, Entry
from daypart.middleware.goals import CompiledGoal
from daypart.middleware.runtime import Rate, Runtime, Settings
from daypart.middleware.serve import ResponseHook, Serving
from daypart.middleware.variants import CompiledVariant
from daypart.middleware.visitor import CookieSigner, VisitorCookie, secret_list
from daypart.rules.context import Context
from daypart.rules.errors import Problem, RulesError
from daypart.rules.glob import compile_globs, literal_prefix
from daypart.rules.loader import load_rules
from daypart.rules.localtime import Clock, minute_at
from daypart.rules.model import RuleSet

logger = logging.getLogger("daypart")

DEFAULTS = Settings()
DEFAULT_EXCLUDE = DEFAULTS.exclude


class AdaptiveMiddleware:
    """Mount in front of any ASGI app: ``AdaptiveMiddleware(app, rules="rules.yaml")``.

    ``rules``: a rule file (reloaded when it changes) or a ``RuleSet``. ``store``: a store
    or its URL (default ``$DAYPART_STORE`` or ``memory://``). ``secret``: signs the visitor
    cookie and the admin sessions (default ``$DAYPART_SECRET``); a list, or a
    comma-separated string, rotates: the first signs, the others still verify. Required
    with a store shared by several workers. ``clock``: epoch seconds, for tests and replays;
    everything that reads time asks it. ``admin_users``: named admin users, a mapping of
    name to password hash or the path of a ``name:hash`` file (default
    ``$DAYPART_ADMIN_USERS``). The other keywords are ``Settings``.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        rules: str | os.PathLike[str] | RuleSet,
        store: str | Store | None = None,
        secret: str | Sequence[str] | None = None,
        clock: Clock = time.time,
        cookie_name: str = DEFAULTS.cookie_name,
        cookie_max_age: int = DEFAULTS.cookie_max_age,
        exclude: Iterable[str] = DEFAULT_EXCLUDE,
        admin_prefix: str = DEFAULTS.admin_prefix,
        admin_token: str | None = None,
        admin_users: Mapping[str, str] | str | os.PathLike[str] | None = None,
        admin_session_seconds: int = DEFAULTS.admin_session_seconds,
        admin_origins: Iterable[str] = DEFAULTS.admin_origins,
        vary: Iterable[str] = DEFAULTS.vary,
        reload_interval: float = DEFAULTS.reload_interval,
        state_interval: float = DEFAULTS.state_interval,
        evaluate_interval: float | None = DEFAULTS.evaluate_interval,
        flush_interval: float = DEFAULTS.flush_interval,
        batch_size: int = DEFAULTS.batch_size,
        max_buffer: int = DEFAULTS.max_buffer,
        beacon_origins: str | Sequence[str] | None = DEFAULTS.beacon_origins,
        beacon_visitor_rate: Rate | None = DEFAULTS.beacon_visitor_rate,
        beacon_client_rate: Rate | None = DEFAULTS.beacon_client_rate,
    ) -> None:
        self.app = app
        users = admin_users if admin_users is not None else os.environ.get("DAYPART_ADMIN_USERS")
        if users is not None:
            from daypart.middleware.admin.auth import load_users  # the admin app, only if used

            users = load_users(users)  # a bad file or hash must fail at start-up
        settings = Settings(
            cookie_name=cookie_name,
            cookie_max_age=cookie_max_age,
            exclude=tuple(exclude),
            admin_prefix=admin_prefix.rstrip("/"),
            admin_token=admin_token or os.environ.get("DAYPART_ADMIN_TOKEN"),
            admin_users=users,
            admin_session_seconds=admin_session_seconds,
            admin_origins=tuple(admin_origins),
            vary=tuple(vary),
            reload_interval=reload_interval,
            state_interval=state_interval,
            evaluate_interval=evaluate_interval,
            flush_interval=flush_interval,
            batch_size=batch_size,
            max_buffer=max_buffer,
            beacon_origins=beacon_origins,
            beacon_visitor_rate=beacon_visitor_rate,
            beacon_client_rate=beacon_client_rate,
        )
        if isinstance(rules, RuleSet):
            rules_path: Path | None = None
            ruleset = rules
        else:
            rules_path = Path(rules)
            ruleset = _load_at_start_up(rules_path)  # a broken file must fail loudly
        if store is None:
            store = os.environ.get("DAYPART_STORE", "memory://")
        keys = secret_list(secret) or secret_list(os.environ.get("DAYPART_SECRET"))
        if not keys:
            if _shared(store):
                raise ValueError(
                    "daypart: no secret for the visitor cookie, and the store is shared by "
                    "workers: each worker would sign with its own random secret, and a "
                    "visitor moving between workers would be counted again as a new one. "
                    "Set DAYPART_SECRET (or pass secret=...) to the same random value of at "
                    "least 16 bytes on every worker and host, e.g. the output of "
                    "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
                )
            logger.warning(
                "daypart: no secret configured (DAYPART_SECRET); using a random one, so "
                "visitor cookies will not survive a restart"
            )
            keys = [secrets.token_urlsafe(32).encode()]
        self.runtime = runtime = Runtime(
            ruleset,
            rules_path=rules_path,
            store=store_from_url(store) if isinstance(store, str) else store,
            signer=CookieSigner(keys),
            clock=clock,
            settings=settings,
            secret=keys[0].decode(),  # admin sessions: signed with the current secret
        )
        self.background = Background(runtime)
        self.classifier = Classifier(
            runtime.signer, settings.cookie_name, clock, converter(runtime)
        )
        self.serving = Serving(settings.cookie_name, settings.cookie_max_age, settings.vary)
        self.admin_prefix = settings.admin_prefix
        # One regex for all globs, run only for paths that start like one of them (a
        # single str.startswith call rules out most requests).
        self._exclude = compile_globs(settings.exclude) if settings.exclude else None
        self._exclude_prefixes = tuple(literal_prefix(glob) for glob in settings.exclude)
        self._admin: ASGIApp | None = None
        self._requests = runtime.counters.requests  # bumped once per request in _prepare
        self._decisions = DecisionCache()
        self.clock = clock
        self._convert = self.classifier.convert  # what Decision.convert calls

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
        prefix = self.admin_prefix
        if path.startswith(prefix) and (len(path) == len(prefix) or path[len(prefix)] == "/"):
            self.background.ensure_started()  # the beacon records, so the flusher must run
            await self.admin_app(scope, receive, send)
            return
        if (
            self._exclude is not None
            and path.startswith(self._exclude_prefixes)
            and self._exclude.fullmatch(path)
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

            self._admin = build_admin_app(self.runtime, self.background)
        return self._admin

    # -- the request path -----------------------------------------------------------------

    def _prepare(self, scope: Scope, send: Send) -> tuple[Scope, Send]:
        """Decide, record, and return the scope and ``send`` the app is called with (a plain
        function, not a coroutine: one frame less on every request).

        A request shaped like one seen this minute under the same rules and rollout states
        reuses that decision (``decision_cache``); the rest classify and decide."""
        runtime = self.runtime
        rules = runtime.rules
        states = runtime.states
        decisions = self._decisions
        if decisions.rules is not rules or decisions.states is not states:
            decisions.serve(rules, states)
        # The key: everything the decision reads from the request (see decision_cache).
        parts: list[str | bytes] = [scope["path"], scope.get("query_string", b""), scope["method"]]
        wanted = rules.wanted_headers
        for pair in scope["headers"]:
            if pair[0] in wanted:
                parts += pair
        key = tuple(parts)
        epoch = self.clock()
        entry = decisions.get(key)
        new_mark: Mark | None = None
        holdout_mark: Mark | None = None  # a first exposure to a rule's holdout
        holdout_mark_of = ""  # that holdout's name (its pseudo-experiment in the store)
        day = -1  # the site's local day, asked of the rules once, only when something counts
        if entry is not None and entry[0] <= epoch < entry[1]:
            (
                _,
                _,
                device,
                zone,
                dayparts,
                segment,
                channel,
                rule,
                served,
                experiment,
                arm,
                visitor_id,
                tracked,
                cookie,
                policy,
                context,
                goals,
                variant,
                side,
            ) = entry
            if visitor_id is None and tracked:  # a new visitor: their own id, and arm
                visitor_id = self.classifier.new_id()
                holdouts = rules.holdouts
                if holdouts and rule is not None and rule in holdouts:
                    holdout = holdouts[rule]
                    side = holdout.side(visitor_id, ())
                    holdout_mark = holdout.new_mark(side, (), device, segment, channel)
                    holdout_mark_of = holdout.name
                    if side == DEFAULT:  # held out: the default variant, no experiment
                        served, experiment, policy = holdout.default, None, None
                        variant = rules.variants[served] if served else rules.unchanged
                    elif policy is None:
                        variant = rules.variants.get(served) if served else None
                if policy is not None:
                    assert context is not None  # kept with every policy
                    day = rules.site_day(epoch)
                    arm, served, new_mark = policy.assign(
                        states.get(policy.name, NOT_STARTED),
                        visitor_id,
                        (),
                        context,
                        segment,
                        channel,
                        day,
                    )
                    variant = rules.variants.get(served)
            # Positional arguments: this runs on most requests (see the field order).
            decision = Decision(
                device,
                zone,
                epoch,
                dayparts,
                segment,
                rule,
                served,
                experiment,
                arm,
                visitor_id,
                cookie is None,
                tracked,
                cookie,
                self._convert,
                side,
                channel,
            )
        else:
            decision, context = self.classifier.classify(scope, rules, epoch)
            pages = rules.pages  # site.paths: the pages the rules adapt (None: every page)
            new_mark = (
                decide(decision, context, rules, states)
                if pages is None or pages.fullmatch(context.path) is not None
                else None
            )
            goals = (
                rules.goals_for_request(context.method, context.path)
                if decision.tracked and rules.may_match_goal(context.method)
                else ()
            )
            variant = rules.variants.get(decision.variant) if decision.variant else None
            if decision.holdout is not None:  # only where a holdout is declared
                assert decision.rule is not None  # a holdout is a rule's
                holdout = rules.holdouts[decision.rule]
                cookie = decision.cookie
                holdout_mark = holdout.new_mark(
                    decision.holdout,
                    cookie.marks if cookie is not None else (),
                    decision.device,
                    decision.segment,
                    decision.channel,
                )
                holdout_mark_of = holdout.name
                if variant is None:  # held out, and no catch-all: the request unchanged
                    variant = rules.unchanged
            self._remember(key, decision, context, rules, new_mark or holdout_mark, goals, variant)
        # The metrics' one per-request cost, read when Prometheus scrapes: nested dicts keyed
        # by strings whose hashes are cached, so no key tuple is built or hashed.
        try:
            self._requests[decision.device][decision.segment][decision.variant] += 1
        except KeyError:  # the first request of its kind
            self.runtime.counters.first_request(decision.device, decision.segment, decision.variant)
        visitor_id = decision.visitor_id
        known = decision.cookie  # None for new visitors; resign: signed with an older secret
        set_cookie = decision.tracked and (known is None or new_mark is not None or known.resign)
        if (new_mark is not None or holdout_mark is not None) and day < 0:
            day = rules.site_day(epoch)
        if new_mark is not None and visitor_id is not None and decision.experiment is not None:
            runtime.recorder.add(
                Exposure(
                    decision.experiment,
                    new_mark.arm,
                    new_mark.segment,
                    visitor_id,
                    day,
                )
            )
        if holdout_mark is not None:
            set_cookie = True  # only tracked visitors are held out or counted
            assert visitor_id is not None
            runtime.recorder.add(
                Exposure(
                    holdout_mark_of,
                    holdout_mark.arm,
                    holdout_mark.segment,
                    visitor_id,
                    day,
                )
            )
        if set_cookie:
            assert visitor_id is not None  # tracked visitors always have one
            if known is None:  # one cookie made, with its marks, not one per mark
                marks = (new_mark,) if new_mark else ()
                if holdout_mark is not None:
                    marks = (*marks, holdout_mark)
                decision.cookie = VisitorCookie(visitor_id, marks)
            else:
                if new_mark is not None:
                    known = known.with_mark(new_mark)
                if holdout_mark is not None:
                    known = known.with_mark(holdout_mark)
                decision.cookie = known

        state = scope.get("state")
        if state is None:
            scope["state"] = state = {}
        state["daypart"] = decision

        inner_scope: Scope = scope
        if variant is not None and variant.changes_request:
            inner_scope = variant.apply(dict(scope))
        if variant is None and not set_cookie and not goals:
            return inner_scope, send

        on_response: ResponseHook | None = None
        if goals:

            def on_response(status: int, headers: list[tuple[bytes, bytes]]) -> None:
                record_response_goals(runtime, decision, goals, status, headers)

        cookie_value = (
            runtime.signer.dump(decision.cookie) if set_cookie and decision.cookie else None
        )
        # A response that sets the visitor cookie is that visitor's alone, as is a variant:
        # no shared cache may keep it (and hand one visitor's id to everyone).
        private = variant is not None or cookie_value is not None
        secure = scope.get("scheme") == "https"
        return inner_scope, self.serving.wrap(send, private, cookie_value, secure, on_response)

    def _remember(
        self,
        key: DecisionKey,
        decision: Decision,
        context: Context,
        rules: CompiledRules,
        new_mark: Mark | None,
        goals: tuple[CompiledGoal, ...],
        variant: CompiledVariant | None,
    ) -> None:
        """Keep what a request decided for the next one of its shape (see decision_cache):
        in full when it sets no cookie and records nothing; for a new visitor, all but the
        visitor's id and arm."""
        tracked, cookie = decision.tracked, decision.cookie
        policy = None
        arm = decision.arm
        served, experiment, side = decision.variant, decision.experiment, decision.holdout
        if tracked and cookie is None:  # a new visitor: the policy is asked on every hit
            if side is not None:  # the rule's own, whichever side this visitor was on
                holdout = rules.holdouts[decision.rule or ""]
                served, experiment, side = holdout.serve, holdout.experiment, None
            if experiment is not None:
                policy = rules.policies[experiment]
            arm = None
        elif new_mark is not None or (cookie is not None and cookie.resign):
            return  # a new exposure, or a cookie to re-sign: the next request differs
        until = minute_at(decision.epoch, decision.zone)[1]
        self._decisions.keep(
            key,
            Entry(
                until - 60.0,
                until,
                decision.device,
                decision.zone,
                decision.dayparts,
                decision.segment,
                decision.channel,
                decision.rule,
                served,  # a new visitor's in an experiment or a holdout is replaced on a hit
                experiment,
                arm,
                None if cookie is None else decision.visitor_id,
                tracked,
                cookie,
                policy,
                context if policy is not None else None,
                goals,
                variant if policy is None and served == decision.variant else None,
                side,
            ),
        )


def _shared(store: str | Store) -> bool:
    """Whether several workers share the store (anything but ``memory://``)."""
    if isinstance(store, str):
        scheme = store.partition("://")[0].lower()
        return SCHEMES.get(scheme, MemoryStore) is not MemoryStore  # unknown: StoreError later
    return not isinstance(store, MemoryStore)


def _load_at_start_up(path: Path) -> RuleSet:
    """``load_rules``, with anything it raises beyond ``RulesError`` (a bug, a file that
    exhausts the parser) turned into one that names the file."""
    try:
        return load_rules(path)
    except RulesError:
        raise
    except Exception as exc:
        message = f"the rule file could not be loaded: {type(exc).__name__}: {exc}"
        raise RulesError([Problem(str(path), 1, 1, message)]) from exc
