"""Where a profiled server's time goes, from py-spy's raw output (``--format raw``: one
line per distinct stack, ``frame;frame;...;frame count``, outermost frame first).

Every sample is charged to one *part* of the serving path: walking its stack from the
innermost frame outwards, the first frame that belongs to a part takes it (so the app's
time is not counted again in the middleware around it). py-spy samples only while the
process is running, so a part's share times the server's CPU time per request is that
part's CPU time per request. C code (uvloop, httptools, the kernel's socket calls) is
charged to the Python frame that called it: ``transport.write`` to uvicorn's ``send``.

Trust the parts more than single functions: now and then py-spy charges C time to a frame
that has just returned (with uvloop, ``Background.ensure_started`` shows ~4 µs per request
that a timer around it puts at 0.3 µs). Before acting on one function's figure, check it by
taking the function out and measuring again.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

# "name (path/to/file.py:123)"
_FRAME = re.compile(r"^(?P<name>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")

# (part, test on "name (file)"), innermost first.
PARTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("uvicorn send: headers + socket write", re.compile(r"^RequestResponseCycle\.send ")),
    ("daypart send_wrapper (response headers)", re.compile(r"send_wrapper \(middleware/")),
    (
        "daypart recorder + store (background)",
        re.compile(r"\(middleware/recorder|experiments/store"),
    ),
    ("the app (Starlette, route, response)", re.compile(r"^Starlette\.__call__ ")),
    ("daypart request path (classify, decide)", re.compile(r"\((?:middleware|experiments|rules)/")),
    ("pass-through middleware", re.compile(r"^PassThrough\.__call__ ")),
    ("uvicorn: parse, scope, task per request", re.compile(r"\(uvicorn/")),
    ("event loop, sockets, rest", re.compile(r"$^")),  # what no other part claims
)
_DAYPART = re.compile(r"\((?:middleware|experiments|rules)/")


def _parse(raw: str) -> Iterable[tuple[list[str], int]]:
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            yield stack.split(";"), int(count)


def _short(frame: str) -> str:
    match = _FRAME.match(frame)
    return f"{match['name']} ({match['file']})" if match else frame


def _part_of(stack: Sequence[str]) -> str:
    for frame in reversed(stack):
        for name, test in PARTS[:-1]:
            if test.search(frame):
                return name
    return PARTS[-1][0]


def parts(raw: str) -> tuple[dict[str, float], dict[str, float], int]:
    """(share of samples per part, self share per daypart function, samples)."""
    by_part: Counter[str] = Counter()
    daypart_self: Counter[str] = Counter()
    total = 0
    for frames, count in _parse(raw):
        total += count
        short = [_short(frame) for frame in frames]
        part = _part_of(short)
        by_part[part] += count
        if part.startswith("daypart"):
            daypart_self[next(f for f in reversed(short) if _DAYPART.search(f))] += count
    if not total:
        return {}, {}, 0
    return (
        {name: by_part[name] / total for name, _ in PARTS},
        {name: n / total for name, n in daypart_self.most_common()},
        total,
    )


def table(profiles: Mapping[str, tuple[str, float]], top: int = 12) -> str:
    """Side by side, in CPU µs per request: ``profiles`` maps a case's label to its raw
    profile and its server CPU µs per request."""
    labels: Sequence[str] = list(profiles)
    parsed = {label: parts(raw) for label, (raw, _) in profiles.items()}
    per_request = {label: cpu_us for label, (_, cpu_us) in profiles.items()}
    width = max(len(label) for label in labels) + 2
    lines = [
        "CPU µs per request by part (py-spy samples × server CPU µs/req)".ljust(44)
        + "".join(label.rjust(width) for label in labels)
    ]
    for name, _ in PARTS:
        cells = "".join(
            f"{parsed[label][0].get(name, 0.0) * per_request[label]:.1f}".rjust(width)
            for label in labels
        )
        lines.append(f"  {name:<42}{cells}")
    lines.append(
        "  total".ljust(44) + "".join(f"{per_request[label]:.1f}".rjust(width) for label in labels)
    )
    lines.append(
        "  samples".ljust(44) + "".join(str(parsed[label][2]).rjust(width) for label in labels)
    )
    for label in labels:
        functions = parsed[label][1]
        if not functions:
            continue
        lines.append(f"daypart functions, self CPU µs/req (innermost daypart frame), {label}:")
        for function, share in list(functions.items())[:top]:
            lines.append(f"  {share * per_request[label]:6.2f}  {function}")
    return "\n".join(lines)
