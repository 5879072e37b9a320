"""``make accuracy``: how well ``device_class`` agrees with hand-labelled User-Agents, and
what a never-seen User-Agent costs it.

The corpus (``label<TAB>user_agent`` per line, labels mobile/tablet/desktop/bot) is not
shipped with daypart: ``--corpus PATH``, ``$DAYPART_UA_CORPUS`` or, by default,
``../shared/data/ua/devices.tsv`` beside the checkout (``loadtests/ua_corpus.py``). Its rows
are split once and for all into a *development* half and a *held-out* half by a stable
hash of the UA string (BLAKE2b, even → development, odd → held-out), so the split never
depends on file order or on Python's per-process string hashing. Rules are tuned by reading
development mistakes only (``--mistakes``); the held-out figures are the ones to quote.

Every figure is shown side by side with plain ``user-agents`` (is_bot → bot, is_tablet →
tablet, is_mobile → mobile, anything else → desktop), the package daypart's semantics
come from. Per class, precision is the share of the rows called that class that carry its
label, recall the share of the rows labelled that class that are called it. The cold cost
of a UA is timed with the cache cleared: each UA's median over ``--passes`` passes, then
the mean and the 99th percentile over UAs.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import user_agents
from ua_parser import user_agent_parser

from daypart.rules.device import DEVICE_CLASSES, device_class
from loadtests.ua_corpus import Row, add_corpus_argument, corpus_path, load, missing

BROWSERS = ("mobile", "tablet", "desktop")
# What the held-out half must reach; printed beside the figures, not enforced (timings on a
# shared machine are noisy, and a benchmark reports rather than fails).
TARGET_AGREEMENT = 0.95
TARGET_COLD_P99_US = 100.0

Classifier = Callable[[str], str]


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


def _clear_ours() -> None:
    device_class.cache_clear()  # type: ignore[attr-defined]


def _clear_baseline_cache() -> None:
    user_agent_parser._PARSE_CACHE.clear()


def _share(hits: int, total: int) -> float:
    return hits / total if total else float("nan")


@dataclass(frozen=True)
class Score:
    confusion: dict[tuple[str, str], int]  # (label, predicted) -> rows
    cold_us: list[float]  # per UA, median over passes, cache cleared

    def _row(self, label: str) -> int:
        return sum(self.confusion[label, guess] for guess in DEVICE_CLASSES)

    def _column(self, guess: str) -> int:
        return sum(self.confusion[label, guess] for label in DEVICE_CLASSES)

    @property
    def agreement(self) -> float:
        """Exact class on mobile/tablet/desktop rows."""
        hits = sum(self.confusion[label, label] for label in BROWSERS)
        return _share(hits, sum(self._row(label) for label in BROWSERS))

    @property
    def browsers_as_bot(self) -> float:
        called_bot = sum(self.confusion[label, "bot"] for label in BROWSERS)
        return _share(called_bot, sum(self._row(label) for label in BROWSERS))

    def precision(self, cls: str) -> float:
        return _share(self.confusion[cls, cls], self._column(cls))

    def recall(self, cls: str) -> float:
        return _share(self.confusion[cls, cls], self._row(cls))

    @property
    def cold_mean_us(self) -> float:
        return statistics.fmean(self.cold_us)

    @property
    def cold_p99_us(self) -> float:
        return statistics.quantiles(self.cold_us, n=100)[98]

    def figures(self) -> dict[str, float]:
        figures = {
            "agreement": self.agreement,
            "bots_recognised": self.recall("bot"),
            "browsers_as_bot": self.browsers_as_bot,
            "cold_us": self.cold_mean_us,
            "cold_p99_us": self.cold_p99_us,
        }
        for cls in DEVICE_CLASSES:
            figures[f"{cls}_precision"] = self.precision(cls)
            figures[f"{cls}_recall"] = self.recall(cls)
        return figures


def _timed_pass(rows: Sequence[Row], classify: Classifier) -> tuple[list[str], list[float]]:
    clock = time.perf_counter_ns
    predicted, costs = [], []
    for _, agent in rows:
        started = clock()
        predicted.append(classify(agent))
        costs.append((clock() - started) / 1000)
    return predicted, costs


def score(
    rows: Sequence[Row], classify: Classifier, clear: Callable[[], None], passes: int = 1
) -> Score:
    runs = []
    for _ in range(max(passes, 1)):
        clear()
        predicted, costs = _timed_pass(rows, classify)
        runs.append(costs)
    confusion = {(label, guess): 0 for label in DEVICE_CLASSES for guess in DEVICE_CLASSES}
    for (label, _), guess in zip(rows, predicted, strict=True):
        confusion[label, guess] += 1
    return Score(confusion, [statistics.median(costs) for costs in zip(*runs, strict=True)])


def _warm_up() -> None:
    # The first call builds the compiled resolver (a one-off ~0.2 s at start-up); that is
    # not the per-UA cost we want to report.
    device_class("Mozilla/5.0 (warm-up)")
    baseline("Mozilla/5.0 (warm-up)")


def measure(path: Path | None = None, passes: int = 3) -> dict[str, float]:
    """Held-out figures for ``device_class`` and plain user-agents (``baseline_*``)."""
    _warm_up()
    _, held_out = split(load(corpus_path(path)))
    figures = score(held_out, ours, _clear_ours, passes).figures()
    base = score(held_out, baseline, _clear_baseline_cache).figures()
    figures.update({f"baseline_{name}": value for name, value in base.items()})
    figures["rows"] = float(len(held_out))
    return figures


def _table(results: dict[str, Score]) -> str:
    names = list(results)
    width = max(len(name) for name in names) + 2
    lines = ["".ljust(34) + "".join(name.rjust(width) for name in names)]
    rows: list[tuple[str, Callable[[Score], str]]] = [
        ("agreement, mobile/tablet/desktop", lambda s: f"{s.agreement:.1%}"),
        ("bots recognised as bot", lambda s: f"{s.recall('bot'):.1%}"),
        ("real browsers called bot", lambda s: f"{s.browsers_as_bot:.1%}"),
        ("cold cost per UA, mean", lambda s: f"{s.cold_mean_us:.1f} µs"),
        ("cold cost per UA, p99", lambda s: f"{s.cold_p99_us:.1f} µs"),
    ]
    for title, fmt in rows:
        lines.append(title.ljust(34) + "".join(fmt(results[n]).rjust(width) for n in names))
    return "\n".join(lines)


def _per_class(results: dict[str, Score]) -> str:
    names = list(results)
    width = max(len(name) for name in names) + 2
    head = "per class: precision / recall".ljust(34)
    lines = [head + "".join(name.rjust(width) for name in names)]
    for cls in DEVICE_CLASSES:
        cells = "".join(
            f"{results[n].precision(cls):.1%} / {results[n].recall(cls):.1%}".rjust(width)
            for n in names
        )
        lines.append(cls.ljust(34) + cells)
    return "\n".join(lines)


def _confusion(title: str, result: Score) -> str:
    head = f"{title} (rows: label, columns: predicted)"
    lines = [head, "".ljust(10) + "".join(c.rjust(9) for c in DEVICE_CLASSES)]
    for label in DEVICE_CLASSES:
        cells = "".join(str(result.confusion[label, guess]).rjust(9) for guess in DEVICE_CLASSES)
        lines.append(label.ljust(10) + cells)
    return "\n".join(lines)


def _targets(held_out: Score) -> str:
    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT MET"

    agreement, p99 = held_out.agreement, held_out.cold_p99_us
    return (
        f"targets: held-out agreement ≥ {TARGET_AGREEMENT:.0%}: "
        f"{verdict(agreement >= TARGET_AGREEMENT)} ({agreement:.1%}); "
        f"cold p99 ≤ {TARGET_COLD_P99_US:.0f} µs: "
        f"{verdict(p99 <= TARGET_COLD_P99_US)} ({p99:.1f} µs)"
    )


def _mistakes(rows: Sequence[Row], limit: int) -> str:
    wrong = [
        f"{label:>7} -> {guess:<7} {agent}"
        for label, agent in rows
        if (guess := ours(agent)) != label
    ]
    return "\n".join([f"development mistakes ({len(wrong)}):", *wrong[:limit]])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.device_accuracy")
    add_corpus_argument(parser)
    parser.add_argument(
        "--passes", type=int, default=3, help="cold-cost passes per UA (default: 3)"
    )
    parser.add_argument(
        "--mistakes",
        type=int,
        default=0,
        metavar="N",
        help="also list up to N mistakes from the development half (never held-out)",
    )
    args = parser.parse_args(argv)
    path = corpus_path(args.corpus)
    if not path.is_file():
        print(f"device_accuracy: {missing(path)}", file=sys.stderr)
        return 2
    try:
        development, held_out = split(load(path))
    except ValueError as exc:
        print(f"device_accuracy: {exc}", file=sys.stderr)
        return 2
    _warm_up()
    results: dict[str, Score] = {}
    for half, rows in (("held-out", held_out), ("dev", development)):
        results[f"{half} daypart"] = score(rows, ours, _clear_ours, args.passes)
        # user-agents costs ~0.7 ms per UA: one pass is enough to compare.
        results[f"{half} user-agents"] = score(rows, baseline, _clear_baseline_cache)
    print(f"device_class accuracy on {path}")
    print(f"rows: held-out {len(held_out)}, dev {len(development)}")
    print(_table(results))
    print()
    print(_per_class(results))
    print()
    print(_targets(results["held-out daypart"]))
    for name, result in results.items():
        print()
        print(_confusion(name, result))
    if args.mistakes:
        print()
        print(_mistakes(development, args.mistakes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
