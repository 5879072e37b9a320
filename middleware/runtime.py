"""What the parts of the middleware share: the request path, the background tasks, the
admin app and the beacon each get this one object, never the middleware itself.

It holds the rules in service (and the last reload's error), the rollout states as last
read from the store, the store, the recorder, the cookie signer and the one clock that
everything reading time asks (request path, evaluator, reports, admin).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from daypart.experiments.evaluator import Evaluator
from daypart.experiments.state import RolloutState
from daypart.experiments.store.base import Store
from daypart.middleware.compiled_rules import CompiledRules
from daypart.middleware.recorder import Recorder
from daypart.middleware.visitor import CookieSigner
from daypart.rules.localtime import Clock
from daypart.rules.model import RuleSet


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
        self.rules = CompiledRules(ruleset)
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

    def serve(self, ruleset: RuleSet) -> None:
        """Swap in a new rule set (compiled first: a failure leaves the old one serving)."""
        self.rules = CompiledRules(ruleset)
        self.rules_error = None
