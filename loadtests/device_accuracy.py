"""``make accuracy``: how well ``device_class`` agrees with hand-labelled User-Agents.

The data file (``label<TAB>user_agent`` per line, labels mobile/tablet/desktop/bot) lives
outside the repository, in ``../shared/data/ua/devices.tsv``. Its rows are split once and
for all into a *development* half and a *held-out* half by a stable hash of the UA string
(BLAKE2b, even → development, odd → held-out), so the split never depends on file order
or on Python's per-process string hashing. Rules are tuned by reading development
mistakes only (``--mistakes``); the held-out figures are the ones to quote.

Every figure is shown side by side with plain ``user-agents`` (is_bot → bot, is_tablet →
tablet, is_mobile → mobile, anything else → desktop), the package daypart's semantics
come from.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import user_agents
from ua_parser import user_agent_parser

from daypart.rules.device import DEVICE_CLASSES, device_class

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ua" / "devices.tsv"
BROWSERS = ("mobile", "tablet", "desktop")

Row = tuple[str, str]  # (label, user agent)
Classifier = Callable[[str], str]


def load(path: Path = DATA) -> list[Row]:
    rows: list[Row] = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            line = line.rstrip("\r\n")
            if not line or line.startswith("#"):
                continue
            label, sep, agent = line.partition("\t")
            if not sep or label not in DEVICE_CLASSES:
                raise ValueError(f"{path}:{number}: expected 'label<TAB>user agent'")
            rows.append((label, agent))
    return rows


def is_held_out(agent: str) -> bool:
    return hashlib.blake2b(agent.encode("utf-8"), digest_size=8).digest()[-1] & 1 == 1


def split(rows: Sequence[Row]) -> tuple[list[Row], list[Row]]:
    """(development, held-out)."""
    development = [row for row in rows if not is_held_out(row[1])]
    held_out = [row for row in rows if is_held_out(row[1])]
    return development, held_out


def baseline(agent: str) -> str:
    parsed = user_agents.parse(agent)
    if parsed.is_bot:
        return "bot"
    if parsed.is_tablet:
        return "tablet"
    if parsed.is_mobile:
        return "mobile"
    return "desktop"


def ours(agent: str) -> str:
    return device_class(agent)


def _clear_baseline_cache() -> None:
    user_agent_parser._PARSE_CACHE.clear()


@dataclass(frozen=True)
class Score:
    agreement: float  # exact class on mobile/tablet/desktop rows
    bots_recognised: float  # bot rows called bot
    browsers_as_bot: float  # mobile/tablet/desktop rows called bot
    cold_us: float  # mean cost of a never-seen UA
    confusion: dict[tuple[str, str], int]  # (label, predicted) -> rows

    def figures(self) -> dict[str, float]:
        return {
            "agreement": self.agreement,
            "bots_recognised": self.bots_recognised,
            "browsers_as_bot": self.browsers_as_bot,
            "cold_us": self.cold_us,
        }


def _share(hits: int, total: int) -> float:
    return hits / total if total else float("nan")


def score(rows: Sequence[Row], classify: Classifier, clear: Callable[[], None]) -> Score:
    clear()
    started = time.perf_counter()
    predicted = [classify(agent) for _, agent in rows]
    cold_us = (time.perf_counter() - started) / max(len(rows), 1) * 1e6
    confusion = {(label, guess): 0 for label in DEVICE_CLASSES for guess in DEVICE_CLASSES}
    for (label, _), guess in zip(rows, predicted, strict=True):
        confusion[label, guess] += 1
    browsers = sum(confusion[label, guess] for label in BROWSERS for guess in DEVICE_CLASSES)
    bots = sum(confusion["bot", guess] for guess in DEVICE_CLASSES)
    return Score(
        agreement=_share(sum(confusion[label, label] for label in BROWSERS), browsers),
        bots_recognised=_share(confusion["bot", "bot"], bots),
        browsers_as_bot=_share(sum(confusion[label, "bot"] for label in BROWSERS), browsers),
        cold_us=cold_us,
        confusion=confusion,
    )


def _warm_up() -> None:
    # The first call builds the compiled resolver (a one-off ~0.2 s at start-up); that is
    # not the per-UA cost we want to report.
    device_class("Mozilla/5.0 (warm-up)")
    baseline("Mozilla/5.0 (warm-up)")


def measure(path: Path = DATA) -> dict[str, float]:
    """Held-out figures for ``device_class`` and plain user-agents (``baseline_*``)."""
    _warm_up()
    _, held_out = split(load(path))
    figures = score(held_out, ours, device_class.cache_clear).figures()  # type: ignore[attr-defined]
    base = score(held_out, baseline, _clear_baseline_cache).figures()
    figures.update({f"baseline_{name}": value for name, value in base.items()})
    figures["rows"] = float(len(held_out))
    return figures


def _table(results: dict[str, Score], counts: dict[str, int]) -> str:
    names = list(results)
    width = max(len(name) for name in names) + 2
    lines = ["".ljust(34) + "".join(name.rjust(width) for name in names)]
    rows: list[tuple[str, Callable[[Score], str]]] = [
        ("agreement, mobile/tablet/desktop", lambda s: f"{s.agreement:.1%}"),
        ("bots recognised as bot", lambda s: f"{s.bots_recognised:.1%}"),
        ("real browsers called bot", lambda s: f"{s.browsers_as_bot:.1%}"),
        ("mean cold cost per UA", lambda s: f"{s.cold_us:.1f} µs"),
    ]
    for title, fmt in rows:
        lines.append(title.ljust(34) + "".join(fmt(results[n]).rjust(width) for n in names))
    lines.append("rows: " + ", ".join(f"{half} {count}" for half, count in counts.items()))
    return "\n".join(lines)


def _confusion(title: str, result: Score) -> str:
    head = f"{title} (rows: label, columns: predicted)"
    lines = [head, "".ljust(10) + "".join(c.rjust(9) for c in DEVICE_CLASSES)]
    for label in DEVICE_CLASSES:
        cells = "".join(str(result.confusion[label, guess]).rjust(9) for guess in DEVICE_CLASSES)
        lines.append(label.ljust(10) + cells)
    return "\n".join(lines)


def _mistakes(rows: Sequence[Row], limit: int) -> str:
    wrong = [
        f"{label:>7} -> {guess:<7} {agent}"
        for label, agent in rows
        if (guess := ours(agent)) != label
    ]
    return "\n".join([f"development mistakes ({len(wrong)}):", *wrong[:limit]])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.device_accuracy")
    parser.add_argument("--data", type=Path, default=DATA, help=f"default: {DATA}")
    parser.add_argument(
        "--mistakes",
        type=int,
        default=0,
        metavar="N",
        help="also list up to N mistakes from the development half (never held-out)",
    )
    args = parser.parse_args(argv)
    if not args.data.is_file():
        print(
            f"device_accuracy: data file not found: {args.data}\n"
            "expected lines 'label<TAB>user agent'; pass --data PATH to use another file",
            file=sys.stderr,
        )
        return 2
    development, held_out = split(load(args.data))
    _warm_up()
    clear_ours = device_class.cache_clear  # type: ignore[attr-defined]
    results: dict[str, Score] = {}
    for half, rows in (("dev", development), ("held-out", held_out)):
        results[f"{half} daypart"] = score(rows, ours, clear_ours)
        results[f"{half} user-agents"] = score(rows, baseline, _clear_baseline_cache)
    print(f"device_class accuracy on {args.data}")
    print(_table(results, {"dev": len(development), "held-out": len(held_out)}))
    for name, result in results.items():
        print()
        print(_confusion(name, result))
    if args.mistakes:
        print()
        print(_mistakes(development, args.mistakes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
