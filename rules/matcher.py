"""The compiled form of a rule set: which rule, if any, a request matches.

A rule's ``device``, ``daypart`` and ``days`` depend only on the device class and the
visitor's local minute of the week, so for each (device, weekday, minute) the matcher
remembers which rules survive those checks (at most 4 × 10,080 small tuples). A request
then runs only the checks that look at the request itself (path, method, query,
headers, cookies, new or returning), and usually none at all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from daypart.rules.context import Context
from daypart.rules.glob import compile_globs
from daypart.rules.model import DAY_NAMES, Condition, Rule, RuleSet

Check = Callable[[Context], bool]
Explain = Callable[[Context], str | None]  # None: passes; else why not

OTHER_DAYPART = "other"  # the segment of a moment no daypart contains


def _values_match(wanted: frozenset[str], actual: str | None) -> bool:
    if actual is None:
        return False
    return "*" in wanted or actual in wanted


def _describe(values: frozenset[str]) -> str:
    return " or ".join(sorted(values))


def _mapping_checks(
    kind: str, wanted: Mapping[str, frozenset[str]], source: Callable[[Context], Mapping[str, str]]
) -> list[tuple[Check, Explain]]:
    checks: list[tuple[Check, Explain]] = []
    for name, values in wanted.items():
        checks.append(
            (_mapping_check(kind, name, values), _mapping_explain(kind, name, values, source))
        )
    return checks


def _mapping_check(kind: str, name: str, values: frozenset[str]) -> Check:
    # Specialised per kind and per "any value" so that the request path runs one
    # attribute read, one dict lookup and one set test, no helper calls.
    if "*" in values:
        if kind == "header":
            return lambda ctx: name in ctx.headers
        if kind == "cookie":
            return lambda ctx: name in ctx.cookies
        return lambda ctx: bool(ctx.query_string) and name in ctx.query
    if kind == "header":
        return lambda ctx: ctx.headers.get(name) in values
    if kind == "cookie":
        return lambda ctx: ctx.cookies.get(name) in values
    # No query string, no parameter: skip parsing (most requests have none).
    return lambda ctx: bool(ctx.query_string) and ctx.query.get(name) in values


def _mapping_explain(
    kind: str, name: str, values: frozenset[str], source: Callable[[Context], Mapping[str, str]]
) -> Explain:
    def explain(ctx: Context) -> str | None:
        actual = source(ctx).get(name)
        if _values_match(values, actual):
            return None
        found = "absent" if actual is None else repr(actual)
        return f"{kind} {name} is {found}; rule wants {_describe(values)}"

    return explain


def request_checks(when: Condition) -> list[tuple[Check, Explain]]:
    """Checks of a condition that depend on the request itself, not on device and time."""
    checks: list[tuple[Check, Explain]] = []
    if when.path is not None:
        # All of a rule's globs as one alternation: one regex call per request.
        pattern = compile_globs(when.path)
        globs = when.path

        def path_check(ctx: Context) -> bool:
            return pattern.fullmatch(ctx.path) is not None

        def path_explain(ctx: Context) -> str | None:
            if path_check(ctx):
                return None
            return f"path {ctx.path} matches none of {', '.join(globs)}"

        checks.append((path_check, path_explain))
    if when.method is not None:
        methods = when.method

        def method_check(ctx: Context) -> bool:
            return ctx.method in methods

        def method_explain(ctx: Context) -> str | None:
            if ctx.method in methods:
                return None
            return f"method is {ctx.method}; rule wants {_describe(methods)}"

        checks.append((method_check, method_explain))
    checks += _mapping_checks("query parameter", when.query, lambda ctx: ctx.query)
    checks += _mapping_checks("header", when.header, lambda ctx: ctx.headers)
    checks += _mapping_checks("cookie", when.cookie, lambda ctx: ctx.cookies)
    if when.visitor is not None:
        want_new = when.visitor == "new"

        def visitor_check(ctx: Context) -> bool:
            return ctx.new_visitor is want_new

        def visitor_explain(ctx: Context) -> str | None:
            if ctx.new_visitor is want_new:
                return None
            actual = "new" if ctx.new_visitor else "returning"
            return f"visitor is {actual}; rule wants {when.visitor}"

        checks.append((visitor_check, visitor_explain))
    return checks


def moment_mismatch(
    when: Condition, device: str, weekday: int, dayparts: frozenset[str]
) -> str | None:
    """Why the device/daypart/days part of a condition fails, or None when it passes."""
    if when.device is not None and device not in when.device:
        return f"device is {device}; rule wants {_describe(when.device)}"
    if when.daypart is not None and not (when.daypart & dayparts):
        now = _describe(dayparts) if dayparts else "no daypart"
        return f"local time is in {now}; rule wants {_describe(when.daypart)}"
    if when.days is not None and weekday not in when.days:
        wanted = ", ".join(DAY_NAMES[d] for d in sorted(when.days))
        return f"day is {DAY_NAMES[weekday]}; rule wants {wanted}"
    return None


@dataclass(frozen=True, slots=True)
class CompiledRule:
    rule: Rule
    checks: tuple[Check, ...]
    explains: tuple[Explain, ...]


@dataclass(frozen=True, slots=True)
class Verdict:
    """One rule's outcome for one request, for ``explain``."""

    rule: Rule
    matched: bool
    reason: str | None  # why it did not match


class Matcher:
    def __init__(self, ruleset: RuleSet) -> None:
        self.ruleset = ruleset
        self._daypart_order = tuple(ruleset.dayparts.values())
        self._compiled = tuple(
            CompiledRule(
                rule,
                tuple(check for check, _ in request_checks(rule.when)),
                tuple(explain for _, explain in request_checks(rule.when)),
            )
            for rule in ruleset.rules
        )
        self._times: dict[tuple[int, int], tuple[frozenset[str], str]] = {}
        self._candidates: dict[tuple[str, int, int], tuple[CompiledRule, ...]] = {}
        headers = {source.name for source in ruleset.site.timezone_from if source.kind == "header"}
        cookies = {source.name for source in ruleset.site.timezone_from if source.kind == "cookie"}
        for rule in ruleset.rules:
            headers.update(rule.when.header)
            cookies.update(rule.when.cookie)
        for experiment in ruleset.experiments.values():
            for stage in experiment.rollout:
                if stage.audience is not None:
                    headers.update(stage.audience.header)
                    cookies.update(stage.audience.cookie)
        self.rule_headers = frozenset(headers)
        self.rule_cookies = frozenset(cookies)

    def dayparts_at(self, weekday: int, minute: int) -> tuple[frozenset[str], str]:
        """The dayparts containing a local minute, and the segment it is counted in (the
        first of them in file order, or ``other``)."""
        key = (weekday, minute)
        found = self._times.get(key)
        if found is None:
            active = [d.name for d in self._daypart_order if d.contains(weekday, minute)]
            found = (frozenset(active), active[0] if active else OTHER_DAYPART)
            self._times[key] = found
        return found

    def _candidates_for(
        self, device: str, weekday: int, minute: int, dayparts: frozenset[str]
    ) -> tuple[CompiledRule, ...]:
        key = (device, weekday, minute)
        found = self._candidates.get(key)
        if found is None:
            found = tuple(
                compiled
                for compiled in self._compiled
                if moment_mismatch(compiled.rule.when, device, weekday, dayparts) is None
            )
            self._candidates[key] = found
        return found

    def match(self, ctx: Context) -> Rule | None:
        local = ctx.local
        for compiled in self._candidates_for(ctx.device, local.weekday, local.minute, ctx.dayparts):
            for check in compiled.checks:
                if not check(ctx):
                    break
            else:
                return compiled.rule
        return None

    def explain(self, ctx: Context) -> list[Verdict]:
        """Every rule up to and including the match, each with why it did or did not match."""
        verdicts: list[Verdict] = []
        for compiled in self._compiled:
            reason = moment_mismatch(
                compiled.rule.when, ctx.device, ctx.local.weekday, ctx.dayparts
            )
            if reason is None:
                reason = next((r for r in (e(ctx) for e in compiled.explains) if r), None)
            verdicts.append(Verdict(compiled.rule, reason is None, reason))
            if reason is None:
                break
        return verdicts
