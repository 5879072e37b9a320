"""The ``when`` of a rule, and the header/cookie/query matchers it shares with rollout
audiences."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar, cast

from daypart.rules.glob import compile_glob, glob_problem
from daypart.rules.model import DEVICES, Audience, Condition, VisitorKind
from daypart.rules.parse_time import parse_days
from daypart.rules.reading import (
    TOKEN,
    TOKEN_RULE,
    Reader,
    Reference,
    latin1_problem,
    once_per_node,
    one_of,
    shown,
)
from daypart.rules.yaml_source import Map, YNode

WHEN_KEYS = ("device", "daypart", "days", "path", "method", "query", "header", "cookie", "visitor")
MATCHER_KINDS = ("header", "cookie", "query")
VISITOR_KINDS = ("new", "returning")
ANY_VALUE = "*"

T = TypeVar("T")


@once_per_node
def read_days(r: Reader, node: YNode) -> frozenset[int] | None:
    days: set[int] = set()
    ok = True
    for item in r.items(node, "day"):
        text = r.string(item, "a day such as mon, a range such as mon-fri, or weekdays")
        if text is None:
            ok = False
            continue
        try:
            days |= parse_days(text)
        except ValueError as exc:
            r.error(item, str(exc))
            ok = False
    return frozenset(days) if ok and days else None


def _strings(r: Reader, node: YNode, what: str) -> list[tuple[str, YNode]] | None:
    """Each string of a one-or-list value with its node; None if any is unusable."""
    values: list[tuple[str, YNode]] = []
    ok = True
    for item in r.items(node, what):
        text = r.string(item, f"a {what}")
        if text is None:
            ok = False
        else:
            values.append((text, item))
    return values if ok and values else None


def read_path_glob(r: Reader, node: YNode) -> str | None:
    glob = r.string(node, "a path glob such as /booking/**")
    if glob is None:
        return None
    if not glob.startswith(("/", "*")):
        r.error(
            node,
            f"invalid path '{shown(glob)}'; expected a glob starting with '/' such as /booking/**",
        )
        return None
    problem = glob_problem(glob)
    if problem is not None:
        r.error(node, problem)
        return None
    # Globs compile to escaped text and fixed constructs, so this cannot fail short of
    # running out of memory; compiled here all the same (and cached for the server), since
    # the server must not meet an error the loader did not. A list of globs is their
    # alternation, which compiles when each does.
    try:
        compile_glob(glob)
    except (re.error, RecursionError, OverflowError, MemoryError) as exc:
        r.error(node, f"cannot compile the path glob: {exc}")
        return None
    return glob


@once_per_node
def read_path_globs(r: Reader, node: YNode) -> tuple[str, ...] | None:
    globs = [read_path_glob(r, item) for item in r.items(node, "path glob")]
    return tuple(glob for glob in globs if glob is not None) or None


def read_method(r: Reader, node: YNode) -> str | None:
    text = r.string(node, "an HTTP method such as GET or POST")
    if text is None:
        return None
    if not text.isascii() or not text.isalpha():
        r.error(node, f"invalid method '{text}'; expected an HTTP method such as GET or POST")
        return None
    return text.upper()


@once_per_node
def read_matchers(r: Reader, node: YNode, kind: str) -> dict[str, frozenset[str]] | None:
    """``{name: value or [values]}``; ``"*"`` matches any value that is present."""
    mapping = r.mapping(node)
    if mapping is None:
        return None
    if not mapping:
        r.error(node, f"found an empty mapping; expected at least one {kind} name with its values")
        return None
    matchers: dict[str, frozenset[str]] = {}
    ok = True
    for entry in mapping:
        name = entry.name
        if not name or (kind != "query" and not TOKEN.fullmatch(name)):
            r.error(entry.key, f"invalid {kind} name '{name}'; expected {TOKEN_RULE}")
            ok = False
            continue
        if kind == "header":
            name = name.lower()  # HTTP header names are case-insensitive; ASGI lower-cases them
            if name in matchers:
                r.error(entry.key, f"duplicate header '{entry.name}'; header names ignore case")
                ok = False
                continue
        values: set[str] = set()
        for item in r.items(entry.value, "value"):
            text = r.text(item, f'a {kind} value, or "*" for any value')
            # Header and cookie values arrive as Latin-1 bytes: other text never matches.
            problem = None if text is None or kind == "query" else latin1_problem(text)
            if problem is not None:
                r.error(item, f"{problem}; no {kind} value can contain it, so this never matches")
            if text is None or problem is not None:
                ok = False
            else:
                values.add(text)
        if values:
            matchers[name] = frozenset(values)
    return matchers if ok else None


@once_per_node
def read_audience(r: Reader, node: YNode) -> Audience | None:
    mapping = r.mapping(node)
    if mapping is None:
        return None
    before = len(r.problems)
    r.keys(mapping, MATCHER_KINDS, "in audience")
    given = {kind: value for kind in MATCHER_KINDS if (value := mapping.get(kind)) is not None}
    if not given:
        r.error(node, f"found no matcher in audience; expected one of {one_of(MATCHER_KINDS)}")
    matchers = {kind: read_matchers(r, value, kind) or {} for kind, value in given.items()}
    if len(r.problems) > before:
        return None
    return Audience(
        query=matchers.get("query", {}),
        header=matchers.get("header", {}),
        cookie=matchers.get("cookie", {}),
    )


@once_per_node
def _devices(r: Reader, node: YNode) -> frozenset[str] | None:
    devices: set[str] = set()
    ok = True
    for item in r.items(node, "device"):
        text = r.string(item, f"a device ({one_of(DEVICES)})")
        if text is None:
            ok = False
        elif text.lower() not in DEVICES:
            r.error(item, f"unknown device '{text}'; expected one of {one_of(DEVICES)}")
            ok = False
        else:
            devices.add(text.lower())
    return frozenset(devices) if ok and devices else None


def _visitor(r: Reader, node: YNode) -> VisitorKind | None:
    text = r.string(node, f"{' or '.join(VISITOR_KINDS)}")
    if text is None:
        return None
    if text.lower() not in VISITOR_KINDS:
        r.error(node, f"unknown visitor kind '{text}'; expected {' or '.join(VISITOR_KINDS)}")
        return None
    return cast(VisitorKind, text.lower())


@once_per_node
def _methods(r: Reader, node: YNode) -> frozenset[str] | None:
    methods = [read_method(r, item) for item in r.items(node, "HTTP method")]
    return frozenset(m for m in methods if m is not None) or None


@once_per_node
def _dayparts(r: Reader, node: YNode, refs: list[Reference]) -> frozenset[str] | None:
    names = _strings(r, node, "daypart name")
    if names is None:
        return None
    refs.extend(Reference("daypart", name, item) for name, item in names)
    return frozenset(name for name, _ in names)


def _given(mapping: Map, key: str, read: Callable[[YNode], T | None]) -> T | None:
    value = mapping.get(key)
    return None if value is None else read(value)


@once_per_node
def read_when(r: Reader, node: YNode, refs: list[Reference]) -> Condition | None:
    """The condition, or None if any part is wrong. Dayparts named go to ``refs``."""
    mapping = r.mapping(node)
    if mapping is None:
        return None
    before = len(r.problems)
    r.keys(mapping, WHEN_KEYS, "in when")
    condition = Condition(
        device=_given(mapping, "device", lambda v: _devices(r, v)),
        daypart=_given(mapping, "daypart", lambda v: _dayparts(r, v, refs)),
        days=_given(mapping, "days", lambda v: read_days(r, v)),
        path=_given(mapping, "path", lambda v: read_path_globs(r, v)),
        method=_given(mapping, "method", lambda v: _methods(r, v)),
        query=_given(mapping, "query", lambda v: read_matchers(r, v, "query")) or {},
        header=_given(mapping, "header", lambda v: read_matchers(r, v, "header")) or {},
        cookie=_given(mapping, "cookie", lambda v: read_matchers(r, v, "cookie")) or {},
        visitor=_given(mapping, "visitor", lambda v: _visitor(r, v)),
    )
    return None if len(r.problems) > before else condition
