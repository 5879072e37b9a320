"""What the parts of the middleware share: the request path, the background tasks, the
admin app and the beacon each get this one object, never the middleware itself.

It holds the rules in service (and the last reload's error), the rollout states as last
read from the store, the store, the recorder, the cookie signer and the one clock that
everything reading time asks (request path, evaluator, reports, admin).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from daypart.experiments.evaluator import Evaluator
from daypart.experiments.state import RolloutState
from daypart.experiments.store.base import Store
from daypart.middleware.compiled_rules import CompiledRules
from daypart.middleware.ratelimit import RateLimit
from daypart.middleware.recorder import Recorder
from daypart.middleware.visitor import CookieSigner
from daypart.rules.errors import Problem, RulesError
from daypart.rules.localtime import Clock
from daypart.rules.model import RuleSet

Rate = tuple[int, float]  # (count, seconds): at most count per seconds
SAME_ORIGIN = "same-origin"
# What browsers send in ``Origin``: scheme, host, optional port; no path, no slash.
_ORIGIN = re.compile(r"https?://[a-z0-9.-]+(:[0-9]{1,5})?|https?://\[[0-9a-f:.]+\](:[0-9]{1,5})?")


@dataclass(frozen=True, slots=True)
class Settings:
    """The middleware's options other than the rules, the store, the secret and the clock
    (see ``AdaptiveMiddleware`` for what each means)."""

    cookie_name: str = "daypart"
    cookie_max_age: int = 400 * 24 * 3600
    exclude: Sequence[str] = ("/static/**", "/favicon.ico", "/robots.txt")
    admin_prefix: str = "/_daypart"
    admin_token: str | None = None
    vary: Sequence[str] = ("User-Agent", "Sec-CH-UA-Mobile", "Cookie")
    reload_interval: float = 1.0
    state_interval: float = 2.0
    evaluate_interval: float | None = 60.0
    flush_interval: float = 0.5
    batch_size: int = 500
    max_buffer: int = 200_000
    # The public beacon: which pages may send it (None: any; "same-origin"; or origins
    # such as "https://shop.example"), and at most how many per visitor and per client.
    beacon_origins: str | Sequence[str] | None = None
    beacon_visitor_rate: Rate | None = (30, 60.0)
    beacon_client_rate: Rate | None = (600, 60.0)

    def __post_init__(self) -> None:
        # Refused at start-up with what is wrong, not discovered on the first beacon.
        origins = self.beacon_origins
        if origins is not None and origins != SAME_ORIGIN:
            given = (origins,) if isinstance(origins, str) else tuple(origins)
            normal = tuple(origin.strip().rstrip("/").lower() for origin in given)
            for origin, raw in zip(normal, given, strict=True):
                if not _ORIGIN.fullmatch(origin):
                    raise ValueError(
                        f"beacon_origins: {raw!r} is not an origin such as "
                        f"'https://shop.example' (scheme and host, no path), nor {SAME_ORIGIN!r}"
                    )
            object.__setattr__(self, "beacon_origins", normal)
        for name in ("beacon_visitor_rate", "beacon_client_rate"):
            rate = getattr(self, name)
            if rate is not None and not (len(rate) == 2 and rate[0] >= 1 and rate[1] > 0):
                raise ValueError(
                    f"{name}: expected (count, seconds) such as (30, 60.0), or None; got {rate!r}"
                )


def compile_rules(ruleset: RuleSet) -> CompiledRules:
    """The rule set compiled for the request path. Any failure is a ``RulesError`` that
    names the file, never a traceback from deep inside (the loader checks what it can;
    a hand-built ``RuleSet`` or a compiler bug still gets here)."""
    try:
        return CompiledRules(ruleset)
    except RulesError:
        raise
    except Exception as exc:
        message = f"the rules could not be compiled: {type(exc).__name__}: {exc}"
        raise RulesError([Problem(ruleset.source, 1, 1, message)]) from exc


class Runtime:
    def __init__(
        self,
        ruleset: RuleSet,
        *,
        rules_path: Path | None,
        store: Store,
        signer: CookieSigner,
        clock: Clock,
        settings: Settings,
    ) -> None:
        self.rules = compile_rules(ruleset)
        self.rules_path = rules_path
        self.rules_error: str | None = None  # why the file on disk is not the one serving
        self.states: dict[str, RolloutState] = {}
        self.store = store
        self.signer = signer
        self.clock = clock
        self.settings = settings
        self.recorder = Recorder(
            store,
            batch_size=settings.batch_size,
            interval=settings.flush_interval,
            max_buffer=settings.max_buffer,
        )
        self.evaluator = Evaluator(store, clock=clock)
        visitor_rate, client_rate = settings.beacon_visitor_rate, settings.beacon_client_rate
        self.beacon_visitor_limit = None if visitor_rate is None else RateLimit(*visitor_rate)
        self.beacon_client_limit = None if client_rate is None else RateLimit(*client_rate)
        # Rate limits run on real elapsed time, not ``clock``: a demo's frozen clock or a
        # replay's must not stop the buckets from refilling (nor is a limit business time).
        self.monotonic: Callable[[], float] = time.monotonic

    def serve(self, ruleset: RuleSet) -> None:
        """Swap in a new rule set (compiled first: a failure leaves the old one serving)."""
        self.rules = compile_rules(ruleset)
        self.rules_error = None
