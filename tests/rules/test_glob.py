from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daypart.rules.glob import (
    MAX_DEEP,
    MAX_GLOB_LENGTH,
    compile_glob,
    compile_globs,
    glob_matches,
    glob_problem,
    literal_prefix,
)
from loadtests.bench_globs import HOSTILE


def naive(pattern: str) -> re.Pattern[str]:
    """The plain translation (what the globs mean), exponential on hostile input."""
    parts: list[str] = []
    i = 0
    while i < len(pattern):
        run = len(pattern[i:]) - len(pattern[i:].lstrip("*"))
        if run >= 2:
            parts.append("(?s:.*)")
            i += run
            continue
        char = pattern[i]
        parts.append("[^/]*" if char == "*" else "[^/]" if char == "?" else re.escape(char))
        i += 1
    return re.compile("".join(parts))


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("/booking/**", "/booking/", True),
        ("/booking/**", "/booking/a/b", True),
        ("/booking/**", "/booking", False),
        ("/deals/*/offer", "/deals/x/offer", True),
        ("/deals/*/offer", "/deals/x/y/offer", False),
        ("/**/*.html", "/a/b/c.html", True),
        ("/**/*.html", "/c.html", False),
        ("/**.html", "/a/b.html", True),
        ("/a?c", "/abc", True),
        ("/a?c", "/a/c", False),
        ("**", "", True),
        ("/static/**", "/static/a\nb", True),  # "**" crosses a newline (%0A) too
        ("/x*y*z", "/xaybz", True),
        ("/x*y*z", "/xazby", False),
        ("/**/**/**/x", "/a/b/c/x", True),
        ("/**/**/**/x", "/a/b/x", False),
    ],
)
def test_glob_meaning(pattern: str, path: str, expected: bool) -> None:
    assert glob_matches(pattern, path) is expected
    assert (compile_glob(pattern).fullmatch(path) is not None) is expected


def test_ordinary_globs_compile_to_the_plain_expression() -> None:
    # The request path runs these: they must not pay for the hostile cases.
    assert compile_glob("/booking/**").pattern == "/booking/(?s:.*)"
    assert compile_glob("/deals/*/offer").pattern == "/deals/[^/]*/offer"
    assert compile_glob("/**/*.html").pattern == r"/(?s:.*)/[^/]*\.html"
    assert compile_glob("/favicon.ico").pattern == r"/favicon\.ico"


def test_globs_union_and_literal_prefix() -> None:
    union = compile_globs(["/static/**", "/favicon.ico", "/**/**/x"])
    assert union.fullmatch("/static/app.js")
    assert union.fullmatch("/favicon.ico")
    assert union.fullmatch("/a/b/x")
    assert not union.fullmatch("/robots.txt")
    assert literal_prefix("/static/*.js") == "/static/"


GLOB_CHARS = st.text(alphabet="ab/*?.", max_size=12)
PATHS = st.text(alphabet="ab//.\n", max_size=16)


@settings(max_examples=400)
@given(pattern=GLOB_CHARS, paths=st.lists(PATHS, min_size=1, max_size=6))
def test_linear_form_matches_exactly_what_the_plain_translation_matches(
    pattern: str, paths: list[str]
) -> None:
    linear, plain = compile_glob(pattern), naive(pattern)
    for path in paths:
        assert (linear.fullmatch(path) is None) == (plain.fullmatch(path) is None), (
            pattern,
            path,
            linear.pattern,
        )


# --- time: linear in the path, whatever the glob -----------------------------------------------

# Globs that made the plain translation backtrack for seconds to minutes on long paths, and
# paths built to hurt them: long runs without "/" and long runs of segments.
HOSTILE_GLOBS = HOSTILE  # the benchmark's list: what is measured is what is tested
ORDINARY_GLOBS = ["/**/x", "/**/*.html", "/deals/*/offer/**"]


def hostile_paths(size: int) -> list[str]:
    return [
        "/a" * (size // 2),
        "/" + "a" * (size - 1),
        "/" * size,
        ("/" + "a" * 30 + "b") * (size // 32),
        "/" + "ab" * (size // 2 - 1) + "/",
    ]


def fastest(match: Callable[[str], object], path: str, repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        match(path)
        best = min(best, time.perf_counter() - start)
    return best


# Linear matching costs O(path x glob): a hostile glob reads each character a few times
# more than an ordinary one. Measured on this code: at most 6x the slowest ordinary glob
# on the same path (20 µs at least). Super-linear matching is over 1000x at 1 KB already
# (the plain translation: 0.1 to 1 s). The margin absorbs a loaded machine.
FACTOR = 100


@pytest.mark.parametrize("size", [1024, 8192])
def test_hostile_globs_match_in_time_linear_in_the_path(size: int) -> None:
    # Smaller paths first: a super-linear matcher fails there in well under a second
    # instead of running for minutes at 8 KB.
    hostile = [compile_glob(glob) for glob in HOSTILE_GLOBS]
    ordinary = [compile_glob(glob) for glob in ORDINARY_GLOBS]
    for path in hostile_paths(size):
        # A floor of 20 µs: the ordinary globs reject some paths after a few characters.
        reference = max(2e-5, *(fastest(p.fullmatch, path) for p in ordinary))
        for glob, pattern in zip(HOSTILE_GLOBS, hostile, strict=True):
            took = fastest(pattern.fullmatch, path)
            assert took < FACTOR * reference, (glob, len(path), took, reference)


def test_glob_limits() -> None:
    assert glob_problem("/" + "a" * (MAX_GLOB_LENGTH - 1)) is None
    too_long = glob_problem("/" + "a" * MAX_GLOB_LENGTH)
    assert too_long == (
        f"found a glob of {MAX_GLOB_LENGTH + 1} characters, 1 over the limit of "
        f"{MAX_GLOB_LENGTH}; expected a shorter glob"
    )
    assert glob_problem("/**" * MAX_DEEP) is None
    assert glob_problem("/**" * (MAX_DEEP + 2)) == (
        f"found {MAX_DEEP + 2} '**' in the glob, 2 over the limit of {MAX_DEEP}; expected "
        "fewer ('**' already spans any number of segments)"
    )
