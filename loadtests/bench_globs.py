"""What matching a path against a glob costs: the hostile globs that made the plain
translation backtrack for seconds (``/**/**/**/x``: 9 s on a 3 KB path), next to ordinary
ones, on ordinary paths and on 8 KB paths built to hurt.

Each figure is the median of several timed calls of ``fullmatch`` on the compiled glob
(``daypart.rules.glob.compile_glob``), in microseconds. ``--naive`` adds the plain
translation on short hostile paths, to show what the normalised form saves (it is cut at
1 KB: at 8 KB the plain translation runs for minutes).

    python -m loadtests.bench_globs
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
from collections.abc import Callable

from daypart.rules.glob import compile_glob

ORDINARY = ["/booking/**", "/deals/*/offer", "/**/*.html", "/favicon.ico", "/**/x"]
HOSTILE = [
    "/**/**/**/x",
    "/**/*/**/*/**/x",
    "/**a*/x",
    "/*a*a*a*a*b",
    "**a**a**a**b",
    "/**/a*a*a*a*b/**/x",
    "**/a*b*c*d*e/**",
    "/**a*a*a*a*/**x",
    "**/*a/*a/*a/*a/**",
    "/" + "?*" * 40 + "x",
]
ORDINARY_PATHS = {
    "/booking/confirm": "/booking/confirm",
    "/deals/autumn/offer": "/deals/autumn/offer",
    "/destinations/italy/rome/hotels": "/destinations/italy/rome/hotels",
}


def hostile_paths(size: int) -> dict[str, str]:
    return {
        '"/a" repeated': "/a" * (size // 2),
        "one segment": "/" + "a" * (size - 1),
        "only slashes": "/" * size,
        '"/aa...ab" repeated': ("/" + "a" * 30 + "b") * (size // 32),
        '"/abab...ab/"': "/" + "ab" * (size // 2 - 1) + "/",
    }


def median_us(match: Callable[[str], object], path: str, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        match(path)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1e6


def naive(pattern: str) -> re.Pattern[str]:
    """The translation used before: ``**`` to ``.*``, ``*`` to ``[^/]*``."""
    parts = []
    for token in re.findall(r"\*\*|.", pattern, re.S):
        if token == "**":
            parts.append(".*")
        elif token == "*":
            parts.append("[^/]*")
        elif token == "?":
            parts.append("[^/]")
        else:
            parts.append(re.escape(token))
    return re.compile("".join(parts), re.S)


def table(globs: list[str], paths: dict[str, str], repeat: int) -> float:
    worst = 0.0
    for glob in globs:
        pattern = compile_glob(glob)
        figures = [median_us(pattern.fullmatch, path, repeat) for path in paths.values()]
        worst = max(worst, *figures)
        print(f"  {glob:28.28} " + " ".join(f"{figure:10.1f}" for figure in figures))
    return worst


def header(paths: dict[str, str]) -> None:
    print(f"  {'glob':28} " + " ".join(f"{name[:10]:>10}" for name in paths))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=8192, help="hostile path length")
    parser.add_argument("--repeat", type=int, default=21)
    parser.add_argument("--naive", action="store_true", help="also time the old translation")
    args = parser.parse_args()

    print("Ordinary paths, µs per fullmatch (median):")
    header(ORDINARY_PATHS)
    table(ORDINARY, ORDINARY_PATHS, args.repeat)
    table(HOSTILE, ORDINARY_PATHS, args.repeat)

    paths = hostile_paths(args.size)
    print(f"\n{args.size:,}-character hostile paths, µs per fullmatch (median):")
    header(paths)
    ordinary = table(ORDINARY, paths, args.repeat)
    hostile = table(HOSTILE, paths, args.repeat)
    print(f"\nworst ordinary glob {ordinary:.1f} µs, worst hostile glob {hostile:.1f} µs")

    if args.naive:
        short = hostile_paths(1024)
        print("\nThe old translation on 1,024-character paths, ms (one call):")
        header(short)
        for glob in HOSTILE[:3]:
            pattern = naive(glob)
            figures = [median_us(pattern.fullmatch, path, 1) / 1000 for path in short.values()]
            print(f"  {glob:28.28} " + " ".join(f"{figure:10.1f}" for figure in figures))


if __name__ == "__main__":
    main()
