"""Decisions remembered per request shape, so a request like one seen this minute skips
classifying and deciding (``AdaptiveMiddleware._prepare`` reads it inline).

The key is everything a decision depends on that comes from the request: the path, the
query string, the method and, in order, the raw name and value of every header daypart
reads (``CompiledRules.wanted_headers``: User-Agent, Sec-CH-UA-Mobile, Cookie, DNT,
Sec-GPC, the rules' headers, the zone and channel headers) — so the channel, read from
the query string, a header or a cookie, is a function of the key too. The rest it
depends on is checked, not keyed: the ``CompiledRules`` object and the rollout-states
dict in force (the cache starts afresh when either is replaced: a reload, or a state the
store changed), and the visitor-local minute (each entry holds the epochs its minute
starts and ends at).

Two kinds of entries:

- complete: a returning visitor already marked, a visitor outside any experiment, a bot
  or a visitor who opted out — a request that sets no cookie and records nothing. A hit
  rebuilds the decision with the request's own epoch (a fresh ``Decision`` each time: the
  app may change it). The visitor cookie is part of the key, so the entry is that
  visitor's alone.
- new visitor: no visitor cookie, tracked. Only what does not depend on the visitor is
  kept (device, zone, minute, dayparts, rule, goals, and the context the experiment
  policy reads); a hit draws a visitor id and asks the policy for the arm, and the rule's
  holdout for the visitor's side (the entry keeps the rule's own variant and experiment,
  whichever side the visitor who made it was on).

Anything else (a new exposure, a cookie re-signed with the current secret) takes the full
path and is not kept. Bounded in bytes like every cache keyed by request data.
"""

from __future__ import annotations

import sys
from typing import NamedTuple
from zoneinfo import ZoneInfo

from daypart.experiments.policy import ExperimentPolicy
from daypart.experiments.state import RolloutState
from daypart.middleware.bounded import ByteBudgetCache
from daypart.middleware.compiled_rules import CompiledRules
from daypart.middleware.goals import CompiledGoal
from daypart.middleware.variants import CompiledVariant
from daypart.middleware.visitor import VisitorCookie
from daypart.rules.context import Context

# Some 4,000 entries of a returning visitor with a browser's User-Agent and a cookie or
# two; an entry (key and value) larger than a real request's is never kept.
DECISION_CACHE_BYTES = 4 << 20
MAX_DECISION_ENTRY = 4096
# Bytes of an entry beyond the strings of its key: the key tuple's slots, the entry tuple,
# a visitor cookie and its marks (shared with the cookie cache, counted here too: this
# entry may keep them alive alone), a context with its headers mapping.
_ENTRY = 56 + 19 * 8
_VISITOR = 48 + 65 + 40
_PER_MARK = 8 + 80 + 5 * 64
_CONTEXT = 120
_PER_COOKIE = 2 * 49 + 8 + 56

DecisionKey = tuple[str | bytes, ...]


class Entry(NamedTuple):
    start: float  # the visitor-local minute the entry is valid in: start <= epoch < until
    until: float
    device: str
    zone: ZoneInfo
    dayparts: frozenset[str]
    segment: str
    channel: str  # read from the query, headers or cookies: all in the key
    rule: str | None
    variant: str | None  # for a new visitor in an experiment: the rule's, before the arm
    experiment: str | None
    arm: str | None
    visitor_id: str | None  # None: untracked, or (tracked) a new visitor
    tracked: bool
    cookie: VisitorCookie | None
    policy: ExperimentPolicy | None  # a new visitor's experiment: asked on every hit
    context: Context | None  # what the policy reads (only with a policy)
    goals: tuple[CompiledGoal, ...]
    compiled: CompiledVariant | None  # the variant served (complete entries)
    holdout: str | None  # the visitor's side of the rule's holdout (complete entries)


class DecisionCache(ByteBudgetCache[DecisionKey, Entry]):
    __slots__ = ("rules", "states")

    def __init__(self) -> None:
        super().__init__(DECISION_CACHE_BYTES, MAX_DECISION_ENTRY)
        self.rules: CompiledRules | None = None
        self.states: dict[str, RolloutState] | None = None

    def serve(self, rules: CompiledRules, states: dict[str, RolloutState]) -> None:
        """Forget everything decided under other rules or other rollout states."""
        self.clear()
        self.rules = rules
        self.states = states

    def keep(self, key: DecisionKey, entry: Entry) -> None:
        size = sys.getsizeof(key) + sum(sys.getsizeof(part) for part in key) + _ENTRY
        cookie = entry.cookie
        if cookie is not None:
            size += _VISITOR + _PER_MARK * len(cookie.marks)
        context = entry.context
        if context is not None:
            size += _CONTEXT + sys.getsizeof(context.headers)
            size += sum(sys.getsizeof(value) for value in context.headers.values())
            size += _PER_COOKIE * len(context.cookies)  # the parsed cookies it may keep alive
        self.remember(key, entry, size)
