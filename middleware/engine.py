"""A rule set compiled for the request path. Rebuilt as a whole on every reload and
swapped in one assignment, so a request always sees one consistent rule set."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import quote

from daypart.experiments.allocation import Allocator
from daypart.middleware.visitor import experiment_code
from daypart.rules.glob import compile_glob, compile_globs
from daypart.rules.localtime import zone_named
from daypart.rules.matcher import Matcher
from daypart.rules.model import Experiment, Goal, RuleSet, Variant

_REWRITE_CACHE_SIZE = 4096

# Headers every request is looked at for, whatever the rules say.
BASE_HEADERS = frozenset({b"user-agent", b"cookie", b"sec-ch-ua-mobile", b"dnt", b"sec-gpc"})


@dataclass(frozen=True, slots=True)
class CompiledVariant:
    variant: Variant
    rewrite: tuple[str, ...] | None  # the template split at "{path}"
    headers: tuple[tuple[bytes, bytes], ...]
    header_names: frozenset[bytes]
    # path -> (rewritten path, raw_path); the rule set's lifetime, bounded
    rewrites: dict[str, tuple[str, bytes]] = field(default_factory=dict, compare=False)

    @classmethod
    def build(cls, variant: Variant) -> CompiledVariant:
        headers = tuple(
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in variant.headers.items()
        )
        return cls(
            variant,
            None if variant.rewrite is None else tuple(variant.rewrite.split("{path}")),
            headers,
            frozenset(name for name, _ in headers),
        )

    @property
    def changes_request(self) -> bool:
        return self.rewrite is not None or bool(self.headers)

    def _rewrite(self, path: str) -> tuple[str, bytes]:
        # Sites have few distinct paths per variant: remember them (bounded).
        cache = self.rewrites
        found = cache.get(path)
        if found is None:
            rewritten = self.rewritten_path(path)
            found = (rewritten, quote(rewritten).encode("ascii"))
            if len(cache) >= _REWRITE_CACHE_SIZE:
                cache.clear()
            cache[path] = found
        return found

    def rewritten_path(self, path: str) -> str:
        assert self.rewrite is not None  # callers check changes_request first
        rewritten = path.join(self.rewrite)
        # "/booking{path}" on "/" must give "/booking/", and never "//x".
        return re.sub(r"/{2,}", "/", rewritten)

    def apply(self, scope: dict[str, object]) -> dict[str, object]:
        """The scope the app sees; ``scope`` is the caller's own copy, changed in place."""
        if self.rewrite is not None:
            scope["path"], scope["raw_path"] = self._rewrite(str(scope["path"]))
        if self.headers:
            original = scope["headers"]
            assert isinstance(original, list | tuple)
            scope["headers"] = [
                (name, value) for name, value in original if name not in self.header_names
            ] + list(self.headers)
        return scope


@dataclass(frozen=True, slots=True)
class CompiledGoal:
    goal: Goal
    method: str | None
    path: re.Pattern[str] | None
    status_class: int | None  # 2 for "2xx"
    status_code: int | None
    value_header: bytes | None  # lower-case, as raw response headers are compared

    @classmethod
    def build(cls, goal: Goal) -> CompiledGoal:
        status_class = status_code = None
        if goal.status is not None:
            if goal.status.endswith("xx"):
                status_class = int(goal.status[0])
            else:
                status_code = int(goal.status)
        return cls(
            goal,
            goal.method,
            None if goal.path is None else compile_glob(goal.path),
            status_class,
            status_code,
            None if goal.value_header is None else goal.value_header.lower().encode("latin-1"),
        )

    def matches_request(self, method: str, path: str) -> bool:
        if self.path is None:
            return False  # beacon-only goals never match responses
        if self.method is not None and method != self.method:
            return False
        return self.path.fullmatch(path) is not None

    def matches_status(self, status: int) -> bool:
        if self.status_code is not None:
            return status == self.status_code
        if self.status_class is not None:
            return status // 100 == self.status_class
        return 200 <= status < 400  # no status given: any success or redirect


class Engine:
    def __init__(self, ruleset: RuleSet) -> None:
        self.ruleset = ruleset
        self.matcher = Matcher(ruleset)
        zone = zone_named(ruleset.site.timezone)
        if zone is None:  # the loader validated it; only a hand-built RuleSet gets here
            raise ValueError(f"unknown timezone {ruleset.site.timezone!r}")
        self.site_zone = zone
        self.zone_sources = tuple((s.kind == "cookie", s.name) for s in ruleset.site.timezone_from)
        self.variants = {name: CompiledVariant.build(v) for name, v in ruleset.variants.items()}
        self.catch_all = ruleset.catch_all
        self.experiments: dict[str, Experiment] = dict(ruleset.experiments)
        self.allocators = {name: Allocator(e) for name, e in ruleset.experiments.items()}
        self.codes = {
            name: experiment_code(name, e.salt or name) for name, e in ruleset.experiments.items()
        }
        self.by_code = {code: name for name, code in self.codes.items()}
        paths = ruleset.site.paths
        self.pages = None if paths is None else compile_globs(paths)
        self.goals = tuple(CompiledGoal.build(g) for g in ruleset.goals.values())
        self.response_goals = tuple(g for g in self.goals if g.path is not None)
        # Most requests are GETs and most goals are POSTs: skip the path globs early.
        self._goal_methods = (
            None
            if any(g.method is None for g in self.response_goals)
            else frozenset(g.method for g in self.response_goals)
        )
        self.wanted_headers = {
            raw: raw.decode("latin-1")
            for raw in BASE_HEADERS
            | frozenset(name.encode("latin-1") for name in self.matcher.rule_headers)
        }
        self.needs_cookies = bool(self.matcher.rule_cookies) or any(
            s.kind == "cookie" for s in ruleset.site.timezone_from
        )

    def adapts(self, path: str) -> bool:
        """Whether rules apply to this path (``site.paths``)."""
        return self.pages is None or self.pages.fullmatch(path) is not None

    def goals_for_request(self, method: str, path: str) -> tuple[CompiledGoal, ...]:
        if not self.response_goals or (
            self._goal_methods is not None and method not in self._goal_methods
        ):
            return ()
        return tuple(g for g in self.response_goals if g.matches_request(method, path))

    def experiments_with_goal(self, goal: str) -> list[str]:
        return [name for name, e in self.experiments.items() if e.goal == goal]
