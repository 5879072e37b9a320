"""Warnings about rule sets that load but do not do what their author likely meant.

The main question is reachability: rules are tried in order and the first match wins, so
a rule is dead when an earlier rule matches every request it matches. "Matches
everything it matches" is decided field by field and errs towards silence: when the
linter cannot prove a rule is covered (path globs it cannot compare, say), it says
nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping

from daypart.rules.channels import OTHER_CHANNEL
from daypart.rules.errors import Problem, RulesError
from daypart.rules.glob import glob_matches
from daypart.rules.loader import load_rules
from daypart.rules.model import (
    DEVICES,
    MINUTES_PER_DAY,
    Audience,
    Condition,
    Daypart,
    Location,
    RuleSet,
)

_WEEK = 7 * MINUTES_PER_DAY
_WHOLE_WEEK = (1 << _WEEK) - 1
_UNIVERSAL_GLOBS = frozenset({"**", "/**"})  # every request path starts with "/"
_WILDCARDS = frozenset("*?")
_ALL_DEVICES = frozenset(DEVICES)
# The shadowing check compares each rule with every rule above it: 2,000 rules make 2 million
# pairs (about 2 s); beyond that, `daypart check` says it stopped rather than run for hours.
_MAX_PAIRS = 2_000_000


def check_file(path: str | os.PathLike[str]) -> list[Problem]:
    """What ``daypart check`` prints: the load errors if any, else the lint warnings."""
    try:
        ruleset = load_rules(path)
    except RulesError as exc:
        return list(exc.problems)
    return lint(ruleset)


def lint(ruleset: RuleSet) -> list[Problem]:
    """Warnings about ``ruleset``, in file order."""
    found = [
        *_reachability(ruleset),
        *_unused(ruleset),
        *_holdouts(ruleset),
        *_unlisted_channels(ruleset),
    ]
    return sorted(found, key=lambda p: (p.line, p.column))


def _warning(ruleset: RuleSet, location: Location | None, message: str) -> Problem:
    at = location or Location(ruleset.source, 1, 1)
    return Problem(at.file, at.line, at.column, message, severity="warning")


def _line(location: Location | None) -> str:
    return "" if location is None else f" (line {location.line})"


# --- time as sets of minutes of the week -----------------------------------------------------


def _span(start: int, end: int) -> int:
    """Minutes [start, end) of the week as bits of an int (bit n = minute n from Monday 0:00)."""
    return ((1 << (end - start)) - 1) << start


def daypart_minutes(daypart: Daypart) -> int:
    """The minutes of the week ``daypart.contains`` accepts, as a bit set."""
    bits = 0
    for day in daypart.days:
        today = day * MINUTES_PER_DAY
        if not daypart.crosses_midnight:
            bits |= _span(today + daypart.start, today + daypart.end)
        else:
            tomorrow = (day + 1) % 7 * MINUTES_PER_DAY
            bits |= _span(today + daypart.start, today + MINUTES_PER_DAY)
            bits |= _span(tomorrow, tomorrow + daypart.end)
    return bits


def _days_minutes(days: Iterable[int]) -> int:
    bits = 0
    for day in days:
        bits |= _span(day * MINUTES_PER_DAY, (day + 1) * MINUTES_PER_DAY)
    return bits


def condition_minutes(when: Condition, dayparts: Mapping[str, int]) -> int:
    """The minutes of the week ``when``'s daypart and days allow, as a bit set;
    ``dayparts`` maps names to their minutes (``daypart_minutes``)."""
    return _condition_minutes(when, dayparts)


def _condition_minutes(when: Condition, dayparts: Mapping[str, int]) -> int:
    bits = _WHOLE_WEEK
    if when.daypart is not None:
        bits &= _union(dayparts.get(name, 0) for name in when.daypart)
    if when.days is not None:
        bits &= _days_minutes(when.days)
    return bits


def _union(parts: Iterable[int]) -> int:
    bits = 0
    for part in parts:
        bits |= part
    return bits


# --- does condition a match every request condition b matches? ------------------------------


def _set_covers(
    wide: frozenset[str] | None, narrow: frozenset[str] | None, every: frozenset[str] | None
) -> bool:
    if wide is None:
        return True
    if narrow is None:
        return every is not None and every <= wide
    return narrow <= wide


def _glob_covers(wide: str, narrow: str) -> bool:
    if wide == narrow or wide in _UNIVERSAL_GLOBS:
        return True
    if not _WILDCARDS & set(narrow):
        return glob_matches(wide, narrow)
    prefix = wide.removesuffix("**")
    # "/booking/**" covers any glob that starts with "/booking/": whatever follows, "**"
    # matches it.
    return prefix != wide and not _WILDCARDS & set(prefix) and narrow.startswith(prefix)


def _paths_cover(wide: tuple[str, ...] | None, narrow: tuple[str, ...] | None) -> bool:
    if wide is None:
        return True
    if narrow is None:
        return bool(_UNIVERSAL_GLOBS.intersection(wide))
    return all(any(_glob_covers(w, n) for w in wide) for n in narrow)


def _matchers_cover(
    wide: Mapping[str, frozenset[str]], narrow: Mapping[str, frozenset[str]]
) -> bool:
    for name, values in wide.items():
        wanted = narrow.get(name)
        if wanted is None:
            return False
        if "*" not in values and ("*" in wanted or not wanted <= values):
            return False
    return True


def covers(wide: Condition, narrow: Condition, dayparts: Mapping[str, int]) -> bool:
    """Whether every request matching ``narrow`` also matches ``wide``.

    ``dayparts`` maps daypart names to their minutes (``daypart_minutes``).
    """
    return _covers(
        wide, narrow, _condition_minutes(wide, dayparts), _condition_minutes(narrow, dayparts)
    )


def _covers(wide: Condition, narrow: Condition, wide_minutes: int, narrow_minutes: int) -> bool:
    return (
        _set_covers(wide.device, narrow.device, _ALL_DEVICES)
        and narrow_minutes & ~wide_minutes == 0
        and _paths_cover(wide.path, narrow.path)
        and _set_covers(wide.method, narrow.method, None)
        and _matchers_cover(wide.query, narrow.query)
        and _matchers_cover(wide.header, narrow.header)
        and _matchers_cover(wide.cookie, narrow.cookie)
        and (wide.visitor is None or wide.visitor == narrow.visitor)
    )


# --- the checks --------------------------------------------------------------------------------


def _reachability(ruleset: RuleSet) -> Iterator[Problem]:
    minutes = {name: daypart_minutes(daypart) for name, daypart in ruleset.dayparts.items()}
    # Each rule's minutes once: the shadowing check compares every pair of rules.
    rule_minutes = [_condition_minutes(rule.when, minutes) for rule in ruleset.rules]
    catch_all = ruleset.catch_all
    catch_all_index = len(ruleset.rules) if catch_all is None else ruleset.rules.index(catch_all)
    pairs = 0
    for index, rule in enumerate(ruleset.rules):
        if catch_all is not None and index > catch_all_index:
            yield _warning(
                ruleset,
                rule.location,
                f"rule '{rule.name}' is unreachable: it comes after the catch-all rule "
                f"'{catch_all.name}'{_line(catch_all.location)}; expected the catch-all last",
            )
            continue
        if rule_minutes[index] == 0:
            yield _warning(
                ruleset,
                rule.location,
                f"rule '{rule.name}' never matches: its daypart and days have no minute in "
                "common; expected a daypart on one of its days",
            )
            continue
        if pairs > _MAX_PAIRS:
            continue
        earlier = None
        narrow, narrow_minutes = rule.when, rule_minutes[index]
        for wide, wide_minutes in zip(ruleset.rules[:index], rule_minutes, strict=False):
            pairs += 1
            if _covers(wide.when, narrow, wide_minutes, narrow_minutes):
                earlier = wide
                break
        if pairs > _MAX_PAIRS:
            yield _warning(
                ruleset,
                rule.location,
                f"shadowed rules are not looked for from rule '{rule.name}' on: comparing "
                f"each rule with those above it reached the limit of {_MAX_PAIRS:,} "
                "comparisons; expected fewer rules",
            )
            continue
        if earlier is not None:
            yield _warning(
                ruleset,
                rule.location,
                f"rule '{rule.name}' is shadowed by rule '{earlier.name}'"
                f"{_line(earlier.location)}, which matches every request it matches; expected "
                f"it above '{earlier.name}', or a narrower '{earlier.name}'",
            )
    if catch_all is None:
        last = ruleset.rules[-1].location if ruleset.rules else None
        yield _warning(
            ruleset,
            last,
            "no catch-all rule: requests no rule matches pass through unchanged; expected a "
            "last rule without when, serving the default variant",
        )


def _unused(ruleset: RuleSet) -> Iterator[Problem]:
    first_use: dict[str, str] = {}
    for rule in ruleset.rules:
        if rule.experiment is None:
            continue
        other = first_use.setdefault(rule.experiment, rule.name)
        if other != rule.name:
            first = next(r for r in ruleset.rules if r.name == other)
            yield _warning(
                ruleset,
                rule.location,
                f"experiment '{rule.experiment}' is also run by rule '{other}'"
                f"{_line(first.location)}; expected one rule per experiment, so that its "
                "visitors are one population",
            )
    for name, experiment in ruleset.experiments.items():
        if name not in first_use:
            yield _warning(
                ruleset,
                experiment.location,
                f"experiment '{name}' is run by no rule; expected a rule with experiment: {name}",
            )
    used_goals = {experiment.goal for experiment in ruleset.experiments.values()}
    priced = any(ruleset.prices(rule) for rule in ruleset.rules)  # a holdout counts every goal
    for name, goal in ruleset.goals.items():
        if name not in used_goals and not priced:
            yield _warning(
                ruleset,
                goal.location,
                f"goal '{name}' is used by no experiment, so its conversions count nowhere; "
                f"expected an experiment with goal: {name}",
            )
    used_dayparts = {name for rule in ruleset.rules for name in rule.when.daypart or ()}
    for name, daypart in ruleset.dayparts.items():
        if name not in used_dayparts:
            yield _warning(
                ruleset,
                daypart.location,
                f"daypart '{name}' is used by no rule; expected a rule with daypart: {name} "
                "(unused, it only labels report segments)",
            )


def _holdouts(ruleset: RuleSet) -> Iterator[Problem]:
    default = ruleset.catch_all
    for rule in ruleset.rules:
        if (
            rule.holdout
            and default is not None
            and rule.serve == default.serve
            and rule.experiment is None
        ):
            yield _warning(
                ruleset,
                rule.location,
                f"rule '{rule.name}' serves the default variant '{rule.serve}' and runs no "
                "experiment, so its holdout changes nothing and prices nothing; expected a "
                "holdout on a rule that adapts",
            )


def _unlisted_channels(ruleset: RuleSet) -> Iterator[Problem]:
    """A rule or audience that picks visitors by a channel source's value which
    ``site.channels`` does not list: those visitors are counted in channel ``other``, most
    likely not what its author meant."""
    site = ruleset.site
    if not site.channel_from:
        return
    sources = {(source.kind, source.name) for source in site.channel_from}
    listed = set(site.channels)

    def unlisted(matchers: Condition | Audience) -> Iterator[str]:
        for kind, tests in (
            ("query", matchers.query),
            ("header", matchers.header),
            ("cookie", matchers.cookie),
        ):
            if not any(source[0] == kind for source in sources):
                continue
            for name, values in tests.items():
                if (kind, name) in sources:
                    for value in sorted(values):
                        if value != "*" and value.strip().lower() not in listed:
                            yield f"{kind} {name}={value}"

    def message(who: str, test: str) -> str:
        value = test.partition("=")[2]
        return (
            f"{who} picks visitors by {test}, a channel source, but site.channels does not "
            f"list '{value.strip().lower()}': they are counted in channel {OTHER_CHANNEL}; "
            "expected it in channels to see them apart"
        )

    for rule in ruleset.rules:
        for test in unlisted(rule.when):
            yield _warning(ruleset, rule.location, message(f"rule '{rule.name}'", test))
    for name, experiment in ruleset.experiments.items():
        for number, stage in enumerate(experiment.rollout, 1):
            if stage.audience is not None:
                for test in unlisted(stage.audience):
                    who = f"experiment '{name}' stage {number}"
                    yield _warning(
                        ruleset, stage.location or experiment.location, message(who, test)
                    )
