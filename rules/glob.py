"""Path globs as marketers write them: ``*`` stays within one path segment, ``**`` crosses
segments, ``?`` is one character. Compiled once to a regular expression that matches in
time linear in the path's length, whatever the glob.

Why not the plain translation
-----------------------------
Translated naively (``**`` to ``.*``, ``*`` to ``[^/]*``), a glob becomes a regular
expression that Python's backtracking ``re`` can take polynomial time on: every star is a
choice point, and nested choice points multiply. ``/**/**/**/x`` took 9 s on a 3 KB path,
on the event loop. Globs come from rule files (``when.path``, ``site.paths``, goal paths) and
from the middleware's ``exclude`` list, and paths come from visitors, so neither side can be
trusted to be small.

What we do instead
------------------
We keep Python's ``re`` (one C-speed ``fullmatch`` per request, as before, and the very same
expression as before for ordinary globs such as ``/booking/**`` or ``/deals/*/offer``) but
emit expressions in a normalised form in which no choice point can be re-tried against
another's alternatives. A linear engine such as RE2 (``google-re2``) was the alternative; it
would add a compiled dependency and a slower call (the path is encoded to UTF-8 on every
call), and ordinary globs would still want ``re``. The normalised form needs neither.

The glob is cut at each ``**`` into pieces ``P0 ** P1 ** ... ** Pk``, each piece at each
``/`` into segments, each segment at each ``*`` into fixed-width chunks (characters and
``?``). Because ``**`` matches anything, a match exists if and only if the greedy one
exists: ``P0`` matches at the start with its shortest end, each middle piece at its leftmost
place with its shortest end after the previous one, and ``Pk`` at the end of the path.
Within a segment, where ``*`` cannot cross ``/``, placing each chunk at its leftmost
occurrence is likewise enough (the classic wildcard argument; the text skipped between two
chunks is then a sub-range of a slash-free range). So the expression only ever needs:

(a) ``[^/]*`` followed by a fixed-width chunk and then ``/`` or the end of the path: one
    length can succeed, so re-trying costs O(segment length x chunk width), once;
(b) ``(?>[^/]*?c)``: the leftmost ``c`` in the segment, then committed (atomic group);
(c) in the last piece, ``(?s:.*)`` followed by a tail that starts at a ``/`` (or is fixed
    width): each attempt starts at a different slash and reads only the few segments
    the tail spans;
(d) in a middle piece, a lazy skip over whole segments (``(?:[^/]*+/)*?``) or characters
    (``(?s:.*?)`` before a fixed chunk) inside an atomic group: attempts at successive
    segments, each reading the segments the piece spans, and once the piece matches,
    nothing after it can send the engine back into it.

Every character of the path is thus read O(glob length) times: O(n x m) for a path of n
characters and a glob of m, and the loader caps m (``MAX_GLOB_LENGTH``, ``MAX_DEEP``).
``loadtests/bench_globs.py`` prints the figures: on 8 KB paths built to hurt, the worst
of its hostile globs takes about 150 µs and the worst ordinary one (``/**/*.html``) 60 µs;
the plain translation of ``/**/**/**/x`` took 0.9 s on a 1 KB path, growing with the cube
of the length.

``**`` matches any character, newlines included (a percent-encoded ``%0A`` in a path),
which the plain ``.*`` did not; otherwise the expressions match exactly what the plain
ones do (``tests/rules/test_glob.py`` checks it on generated globs and paths).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

# Limits the loader enforces on globs in rule files (messages name them): matching costs
# O(path length x glob length), so the glob length bounds the per-request cost.
MAX_GLOB_LENGTH = 256
MAX_DEEP = 4  # "**" per glob; real globs use one or two

_DEEP = "**"
_STAR = "*"
_ANY_RUN = "[^/]*"
_ANY_TEXT = "(?s:.*)"
_ANY_TEXT_LAZY = "(?s:.*?)"
_SKIP_RUNS_LAZY = "(?:[^/]*+/)*?"

Chunk = str  # a fixed-width piece of regular expression: escaped characters and [^/]
Segment = list[Chunk]  # the chunks of one segment, with one "*" between each two


def _chunk(text: str) -> Chunk:
    return "".join("[^/]" if char == "?" else re.escape(char) for char in text)


def _pieces(pattern: str) -> list[list[Segment]]:
    """``pattern`` cut at every ``**`` (any run of two or more stars), each piece at every
    ``/``, each segment at every single ``*``."""
    pieces: list[list[Segment]] = []
    for piece in re.split(r"\*{2,}", pattern):
        pieces.append([[_chunk(text) for text in part.split(_STAR)] for part in piece.split("/")])
    return pieces


def _full(segment: Segment) -> str:
    """The segment from a fixed start to a fixed end (a following "/" or the path's end)."""
    if len(segment) == 1:
        return segment[0]
    first, *middle, last = segment
    return first + "".join(f"(?>{_ANY_RUN}?{chunk})" for chunk in middle) + _ANY_RUN + last


def _shortest(segment: Segment) -> str:
    """The segment from a fixed start, ending as early as possible (a ``**`` follows)."""
    first, *rest = segment
    return first + "".join(f"(?>{_ANY_RUN}?{chunk})" for chunk in rest)


def _joined(segments: list[Segment], last: str) -> str:
    return "/".join([*(_full(s) for s in segments[:-1]), last])


def _first(segments: list[Segment]) -> str:
    """The first piece: at the start of the path, ending as early as possible."""
    return _joined(segments, _shortest(segments[-1]))


def _middle(segments: list[Segment]) -> str:
    """A middle piece: at its leftmost place, ending as early as possible, then committed."""
    if len(segments) == 1:
        (segment,) = segments
        if len(segment) == 1:
            return f"(?>{_ANY_TEXT_LAZY}{segment[0]})"
        # Within one segment: the leftmost chunks, or the next segment if they are not all there.
        return f"(?>{_SKIP_RUNS_LAZY}{_shortest(['', *segment])})"
    head, *rest = segments
    # A fixed first segment: try each place (the "/" after it fails fast); else skip whole
    # segments, trying the first segment's chunks at the leftmost place in each.
    start = _ANY_TEXT_LAZY + head[0] if len(head) == 1 else _SKIP_RUNS_LAZY + _full(["", *head])
    return f"(?>{start}/{_joined(rest, _shortest(rest[-1]))})"


def _last(segments: list[Segment]) -> str:
    """The last piece: ending at the end of the path."""
    head = segments[0]
    if len(head) == 1:
        # A fixed start: "(?s:.*)" tries each place once, and the tail is fixed-width or
        # starts at a "/" (one attempt per slash).
        return _ANY_TEXT + _joined(segments, _full(segments[-1]))
    start = f"(?:{_ANY_TEXT}/)?" + _full(["", *head])
    if len(segments) == 1:
        return start
    return start + "/" + _joined(segments[1:], _full(segments[-1]))


@lru_cache(maxsize=512)
def compile_glob(pattern: str) -> re.Pattern[str]:
    """The glob as a regular expression for ``fullmatch``, linear in the path's length."""
    pieces = _pieces(pattern)
    if len(pieces) == 1:
        return re.compile(_joined(pieces[0], _full(pieces[0][-1])))
    first, *middle, last = pieces
    parts = [_first(first), *(_middle(piece) for piece in middle)]
    if last == [[""]]:
        parts.append(_ANY_TEXT)  # a trailing "**": the rest of the path, whatever it is
    else:
        parts.append(_last(last))
    return re.compile("".join(parts))


def compile_globs(patterns: Iterable[str]) -> re.Pattern[str]:
    """Any of ``patterns`` as one regular expression: one regex call per path, however
    many globs a rule or a setting lists. Each alternative is linear, so their union is."""
    return re.compile("|".join(f"(?:{compile_glob(p).pattern})" for p in patterns))


def literal_prefix(pattern: str) -> str:
    """What every path the glob matches starts with (the text before its first wildcard)."""
    return re.split(r"[*?]", pattern, maxsplit=1)[0]


def glob_matches(pattern: str, path: str) -> bool:
    return compile_glob(pattern).fullmatch(path) is not None


def glob_problem(pattern: str) -> str | None:
    """Why a rule file may not use this glob (a limit it exceeds), or None."""
    if len(pattern) > MAX_GLOB_LENGTH:
        over = len(pattern) - MAX_GLOB_LENGTH
        return (
            f"found a glob of {len(pattern)} characters, {over} over the limit of "
            f"{MAX_GLOB_LENGTH}; expected a shorter glob"
        )
    deep = len(re.findall(r"\*{2,}", pattern))
    if deep > MAX_DEEP:
        return (
            f"found {deep} '**' in the glob, {deep - MAX_DEEP} over the limit of {MAX_DEEP}; "
            "expected fewer ('**' already spans any number of segments)"
        )
    return None
