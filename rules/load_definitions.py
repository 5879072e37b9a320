"""The named building blocks of a rule file: the site, dayparts, variants and goals."""

from __future__ import annotations

import difflib
import re

from daypart.rules.channels import MAX_CHANNEL_NAME, MAX_CHANNELS, RESERVED_CHANNELS
from daypart.rules.load_conditions import read_days, read_method, read_path_glob, read_path_globs
from daypart.rules.load_experiments import read_holdout
from daypart.rules.localtime import zone_named, zone_names
from daypart.rules.matcher import OTHER_DAYPART
from daypart.rules.model import (
    MINUTES_PER_DAY,
    ChannelSource,
    Daypart,
    Goal,
    Site,
    TimezoneSource,
    Variant,
)
from daypart.rules.parse_time import minutes_text, parse_clock
from daypart.rules.reading import (
    NAME,
    NAME_RULE,
    TOKEN,
    TOKEN_RULE,
    Reader,
    found,
    latin1_problem,
    once_per_node,
    shown,
)
from daypart.rules.yaml_source import Map, Scalar, YNode

SITE_KEYS = ("timezone", "timezone_from", "paths", "holdout", "channel_from", "channels")
DAYPART_KEYS = ("days", "from", "to")
VARIANT_KEYS = ("rewrite", "headers")
GOAL_KEYS = ("method", "path", "status", "value_header", "beacon")

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_STATUS = re.compile(r"[1-5](?:xx|[0-9][0-9])")
_STATUS_EXPECTED = "a class 1xx to 5xx or a code from 100 to 599"
_EXAMPLE_ZONE = "Europe/Amsterdam"
_MAX_SUGGESTED = 64


def read_site(r: Reader, node: YNode) -> Site | None:
    mapping = r.mapping(node)
    if mapping is None:
        return None
    before = len(r.problems)
    r.keys(mapping, SITE_KEYS, "in site")
    timezone = "UTC"
    zone_node = mapping.get("timezone")
    if zone_node is not None:
        timezone = _timezone(r, zone_node) or timezone
    sources: list[TimezoneSource] = []
    sources_node = mapping.get("timezone_from")
    if sources_node is not None:
        for item in r.items(sources_node, "timezone source"):
            source = _timezone_source(r, item)
            if source is not None:
                sources.append(source)
    paths_node = mapping.get("paths")
    paths = None if paths_node is None else read_path_globs(r, paths_node)
    holdout_node = mapping.get("holdout")
    holdout = None if holdout_node is None else read_holdout(r, holdout_node)
    channel_from, channels = _channels(r, mapping)
    if len(r.problems) > before:
        return None
    return Site(
        timezone=timezone,
        timezone_from=tuple(sources),
        paths=paths,
        holdout=holdout or 0.0,
        channel_from=channel_from,
        channels=channels,
    )


def _timezone(r: Reader, node: YNode) -> str | None:
    name = r.string(node, f"an IANA timezone name such as {_EXAMPLE_ZONE}")
    if name is None:
        return None
    if zone_named(name) is None:
        r.error(node, f"unknown timezone '{shown(name)}'; expected {_zone_expected(name)}")
        return None
    return name


def _zone_expected(name: str) -> str:
    # tzdata's leap-second and POSIX copies read like the zone they copy; say which one.
    for variant in ("right/", "posix/"):
        if name.startswith(variant) and name.removeprefix(variant) in zone_names():
            return f"the canonical name {name.removeprefix(variant)}"
    # Suggest the nearest real zone: a typo is the usual cause. (difflib is quadratic in
    # the name's length, and no zone name is long.)
    close = (
        difflib.get_close_matches(name, sorted(zone_names()), n=1)
        if len(name) <= _MAX_SUGGESTED
        else []
    )
    return f"an IANA name such as {close[0] if close else _EXAMPLE_ZONE}"


def _timezone_source(r: Reader, node: YNode) -> TimezoneSource | None:
    expected = "cookie:NAME or header:NAME"
    text = r.string(node, expected)
    if text is None:
        return None
    kind, _, name = text.partition(":")
    kind, name = kind.strip().lower(), name.strip()
    if kind not in ("cookie", "header") or not TOKEN.fullmatch(name):
        r.error(node, f"invalid timezone source '{text}'; expected {expected}")
        return None
    if kind == "header":
        return TimezoneSource("header", name.lower())
    return TimezoneSource("cookie", name)


def _channels(r: Reader, site: Map) -> tuple[tuple[ChannelSource, ...], tuple[str, ...]]:
    """``channel_from`` and ``channels``: given together, or neither."""
    from_entry, names_entry = site.entry("channel_from"), site.entry("channels")
    if from_entry is not None and names_entry is None:
        r.error(
            from_entry.key,
            "found channel_from without channels; expected channels: [...] beside it, the "
            "channels to count (every other value counts as other)",
        )
    if names_entry is not None and from_entry is None:
        r.error(
            names_entry.key,
            "found channels without channel_from; expected channel_from: [...] beside it, "
            "where to read a request's channel (such as query:utm_source, header:X-Channel)",
        )
    sources: list[ChannelSource] = []
    if from_entry is not None:
        seen: dict[ChannelSource, int] = {}
        for item in r.items(from_entry.value, "channel source"):
            source = _channel_source(r, item)
            if source is None:
                continue
            if source in seen:
                text = f"{source.kind}:{source.name}"
                r.error(item, f"duplicate channel source '{text}'; first on line {seen[source]}")
                continue
            seen[source] = item.line
            sources.append(source)
    names: list[str] = []
    if names_entry is not None:
        lines: dict[str, int] = {}
        items = r.items(names_entry.value, "channel")
        if len(items) > MAX_CHANNELS:
            r.error(
                names_entry.value,
                f"found {len(items)} channels; expected at most {MAX_CHANNELS} (each is a "
                "counter per arm, device and daypart: group the rest, they count as other)",
            )
        for item in items:
            name = _channel_name(r, item)
            if name is None:
                continue
            if name in lines:
                r.error(item, f"duplicate channel '{name}'; first on line {lines[name]}")
                continue
            lines[name] = item.line
            names.append(name)
    return tuple(sources), tuple(names)


def _channel_source(r: Reader, node: YNode) -> ChannelSource | None:
    expected = "query:NAME, header:NAME or cookie:NAME"
    text = r.string(node, expected)
    if text is None:
        return None
    kind, _, name = text.partition(":")
    kind, name = kind.strip().lower(), name.strip()
    if kind not in ("query", "header", "cookie") or not TOKEN.fullmatch(name):
        r.error(node, f"invalid channel source '{shown(text)}'; expected {expected}")
        return None
    if kind == "header":
        return ChannelSource("header", name.lower())
    return ChannelSource("query" if kind == "query" else "cookie", name)


def _channel_name(r: Reader, node: YNode) -> str | None:
    name = r.string(node, "a channel name")
    if name is None:
        return None
    if name in RESERVED_CHANNELS:
        r.error(
            node,
            f"channel name '{name}' is reserved (other: a value not in the list; direct: no "
            "source present); expected another name",
        )
        return None
    if not NAME.fullmatch(name):
        # Requests' values are lower-cased before they are compared: say so.
        hint = (
            f" (values are compared lower-cased: write {name.lower()})"
            if NAME.fullmatch(name.lower())
            else ""
        )
        r.error(node, f"invalid channel name '{shown(name)}'; expected {NAME_RULE}{hint}")
        return None
    if len(name) > MAX_CHANNEL_NAME:
        r.error(
            node,
            f"channel name '{shown(name)}' is {len(name)} characters long; expected at most "
            f"{MAX_CHANNEL_NAME}",
        )
        return None
    return name


def read_daypart(r: Reader, key: Scalar, node: YNode) -> Daypart | None:
    if key.text == OTHER_DAYPART:
        r.error(
            key,
            f"daypart name '{OTHER_DAYPART}' is reserved for times no daypart covers; "
            "expected another name",
        )
        return None
    mapping = r.mapping(node)
    if mapping is None:
        return None
    before = len(r.problems)
    r.keys(mapping, DAYPART_KEYS, "in daypart")
    days_node = mapping.get("days")
    days = None if days_node is None else read_days(r, days_node)
    window = _window(r, mapping)
    if len(r.problems) > before or window is None:
        return None
    start, end = window
    location = r.location(key)
    if days is None:
        return Daypart(key.text, start=start, end=end, location=location)
    return Daypart(key.text, days=days, start=start, end=end, location=location)


def _window(r: Reader, mapping: Map) -> tuple[int, int] | None:
    start_entry, end_entry = mapping.entry("from"), mapping.entry("to")
    if start_entry is None and end_entry is None:
        return 0, MINUTES_PER_DAY
    if start_entry is None or end_entry is None:
        given = start_entry or end_entry
        missing = "to" if end_entry is None else "from"
        if given is not None:
            r.error(
                given.key,
                f"found '{given.name}' without '{missing}'; expected both (a window) or "
                "neither (the whole day)",
            )
        return None
    start = _clock(r, start_entry.value, allow_end_of_day=False)
    end = _clock(r, end_entry.value, allow_end_of_day=True)
    if start is None or end is None:
        return None
    if start == end:
        r.error(
            end_entry.value,
            f"found from and to both {minutes_text(start)}, an empty window; expected "
            'different times (from "00:00" to "24:00" is the whole day)',
        )
        return None
    return start, end


def _clock(r: Reader, node: YNode, *, allow_end_of_day: bool) -> int | None:
    text = r.string(node, 'a time "HH:MM" from 00:00 to 24:00')
    if text is None:
        return None
    try:
        minute = parse_clock(text)
    except ValueError as exc:
        r.error(node, str(exc))
        return None
    if minute == MINUTES_PER_DAY and not allow_end_of_day:
        r.error(node, f"invalid start '{text}'; expected HH:MM from 00:00 to 23:59")
        return None
    return minute


def read_variant(r: Reader, key: Scalar, node: YNode) -> Variant | None:
    mapping = r.mapping(node)
    if mapping is None:
        return None
    before = len(r.problems)
    r.keys(mapping, VARIANT_KEYS, "in variant")
    rewrite_node = mapping.get("rewrite")
    rewrite = None if rewrite_node is None else _rewrite(r, rewrite_node)
    headers: dict[str, str] = {}
    headers_node = mapping.get("headers")
    if headers_node is not None:
        headers = _request_headers(r, headers_node)
    if len(r.problems) > before:
        return None
    return Variant(key.text, rewrite=rewrite, headers=headers, location=r.location(key))


def _rewrite(r: Reader, node: YNode) -> str | None:
    text = r.string(node, 'a path template such as "/booking{path}"')
    if text is None:
        return None
    if not text.startswith("/"):
        r.error(
            node,
            f"invalid rewrite '{text}'; expected a path starting with '/' such as /booking{{path}}",
        )
        return None
    for match in _PLACEHOLDER.finditer(text):
        if match[1] != "path":
            r.error(node, f"unknown placeholder '{match[0]}' in rewrite; expected only {{path}}")
            return None
    if "{" in _PLACEHOLDER.sub("", text) or "}" in _PLACEHOLDER.sub("", text):
        r.error(node, f"unbalanced brace in rewrite '{text}'; expected {{path}} or none")
        return None
    return text


@once_per_node
def _request_headers(r: Reader, node: YNode) -> dict[str, str]:
    mapping = r.mapping(node)
    if mapping is None:
        return {}
    headers: dict[str, str] = {}
    for entry in mapping:
        if not TOKEN.fullmatch(entry.name):
            r.error(entry.key, f"invalid header name '{entry.name}'; expected {TOKEN_RULE}")
            continue
        value = r.text(entry.value, "a header value")
        if value is None:
            continue
        if any((ord(char) < 32 and char != "\t") or char == "\x7f" for char in value):
            r.error(
                entry.value,
                "found a control character in a header value; expected one line of text",
            )
            continue
        problem = latin1_problem(value)
        if problem is not None:
            # The server sends header values as Latin-1 bytes (HTTP has no other encoding).
            r.error(
                entry.value,
                f"{problem}; expected a header value in Latin-1 (percent-encode other text)",
            )
            continue
        # ASGI carries header names in lower case; HTTP does not care.
        headers[entry.name.lower()] = value
    return headers


def read_goal(r: Reader, key: Scalar, node: YNode) -> Goal | None:
    mapping = r.mapping(node)
    if mapping is None:
        return None
    before = len(r.problems)
    r.keys(mapping, GOAL_KEYS, "in goal")
    method_node = mapping.get("method")
    method = None if method_node is None else read_method(r, method_node)
    path_node = mapping.get("path")
    path = None if path_node is None else read_path_glob(r, path_node)
    status_node = mapping.get("status")
    status = None if status_node is None else _status(r, status_node)
    header_node = mapping.get("value_header")
    value_header = None if header_node is None else _header_name(r, header_node)
    beacon_node = mapping.get("beacon")
    beacon = False if beacon_node is None else bool(r.boolean(beacon_node))
    if path_node is None and not beacon:
        r.error(key, f"goal '{key.text}' has neither path nor beacon: true; expected at least one")
    if len(r.problems) > before:
        return None
    return Goal(
        key.text,
        method=method,
        path=path,
        status=status,
        value_header=value_header,
        beacon=beacon,
        location=r.location(key),
    )


def _status(r: Reader, node: YNode) -> str | None:
    if isinstance(node, Scalar) and isinstance(node.value, int | str) and node.value is not True:
        text = node.text.lower()
        if _STATUS.fullmatch(text):
            return text
        r.error(node, f"invalid status '{node.text}'; expected {_STATUS_EXPECTED}")
        return None
    r.error(node, f"expected {_STATUS_EXPECTED}, found {found(node)}")
    return None


def _header_name(r: Reader, node: YNode) -> str | None:
    name = r.string(node, "a response header name")
    if name is None:
        return None
    if not TOKEN.fullmatch(name):
        r.error(node, f"invalid header name '{name}'; expected {TOKEN_RULE}")
        return None
    return name.lower()
