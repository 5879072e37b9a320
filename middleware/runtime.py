"""What the parts of the middleware share: the request path, the background tasks, the
admin app and the beacon each get this one object, never the middleware itself.

It holds the rules in service (and the last reload's error), the rollout states as last
read from the store, the store, the recorder, the cookie signer, the one clock that
everything reading time asks (request path, evaluator, reports, admin) and the plain
counters that ``/_daypart/metrics`` exposes.
"""

from __future__ import annotations

import re
import time
from bisect import bisect_left
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from daypart.experiments.evaluator import Evaluator
from daypart.experiments.state import RolloutState
from daypart.experiments.store.base import Exposure, Record, Store
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
    admin_users: Mapping[str, str] | None = None  # name -> scrypt hash (admin/auth.py)
    admin_session_seconds: int = 12 * 3600
    admin_origins: Sequence[str] = ()  # origins besides the request's own that may act
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


# Upper bounds (seconds) of the flush-latency histogram's buckets: a local Redis answers a
# batch in about a millisecond, a distant one or a slow cluster in tens.
FLUSH_BUCKETS: tuple[float, ...] = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


@dataclass(slots=True)
class Counters:
    """What this worker counted, in plain dicts and ints: the request path and the
    background tasks bump them (no lock, no call into a metrics library), and the admin
    app's collector (``admin/metrics.py``) reads them when Prometheus scrapes."""

    # device -> segment -> variant (None: no rule) -> requests; bumped once per request in
    # ``AdaptiveMiddleware._prepare``. Nested rather than keyed by a tuple: a third fewer
    # instructions per request. Bounded: the keys come from the rules.
    requests: dict[str, dict[str, dict[str | None, int]]] = field(default_factory=dict)
    # (experiment, "exposure" | "conversion") -> records the store took
    written: dict[tuple[str, str], int] = field(default_factory=dict)
    flush_buckets: list[int] = field(default_factory=lambda: [0] * (len(FLUSH_BUCKETS) + 1))
    flush_seconds: float = 0.0
    flushes: int = 0
    reloads: int = 0
    reload_errors: int = 0
    state_read_errors: int = 0
    evaluator_runs: dict[str, int] = field(default_factory=dict)  # outcome -> runs
    decisions: dict[tuple[str, bool], int] = field(default_factory=dict)  # (verdict, applied)

    def first_request(self, device: str, segment: str, variant: str | None) -> None:
        by_variant = self.requests.setdefault(device, {}).setdefault(segment, {})
        by_variant[variant] = by_variant.get(variant, 0) + 1

    def request_counts(self) -> list[tuple[str, str, str | None, int]]:
        return [
            (device, segment, variant, count)
            for device, segments in list(self.requests.items())
            for segment, variants in list(segments.items())
            for variant, count in list(variants.items())
        ]

    def batch_written(self, batch: Sequence[Record], seconds: float) -> None:
        """The recorder wrote ``batch`` in ``seconds`` (off the request path)."""
        written = self.written
        for record in batch:
            key = (record.experiment, "exposure" if isinstance(record, Exposure) else "conversion")
            written[key] = written.get(key, 0) + 1
        self.flush_buckets[bisect_left(FLUSH_BUCKETS, seconds)] += 1
        self.flush_seconds += seconds
        self.flushes += 1

    def evaluated(self, outcome: str, decisions: Sequence[tuple[str, bool]] = ()) -> None:
        self.evaluator_runs[outcome] = self.evaluator_runs.get(outcome, 0) + 1
        for key in decisions:
            self.decisions[key] = self.decisions.get(key, 0) + 1


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
        secret: str | None = None,
    ) -> None:
        self.rules = compile_rules(ruleset)
        self.rules_path = rules_path
        self.rules_error: str | None = None  # why the file on disk is not the one serving
        self.states: dict[str, RolloutState] = {}
        self.store = store
        self.signer = signer
        # The middleware's secret; the admin app derives its session-signing key from it.
        self.secret = secret
        self.clock = clock
        self.settings = settings
        self.recorder = Recorder(
            store,
            batch_size=settings.batch_size,
            interval=settings.flush_interval,
            max_buffer=settings.max_buffer,
        )
        self.counters = Counters()
        self.recorder.on_batch = self.counters.batch_written
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
