"""The labelled User-Agent corpus the device benchmarks read: where it is, and how to load it.

The corpus (``label<TAB>user agent`` per line, labels mobile/tablet/desktop/bot) is not
shipped with daypart. It is looked for, in order, at ``--corpus PATH``, at the path in
``$DAYPART_UA_CORPUS``, and at ``../shared/data/ua/devices.tsv`` beside the checkout.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from daypart.rules.device import DEVICE_CLASSES

ENV = "DAYPART_UA_CORPUS"
BESIDE_CHECKOUT = Path(__file__).resolve().parents[2] / "shared" / "data" / "ua" / "devices.tsv"

Row = tuple[str, str]  # (label, user agent)


def corpus_path(given: Path | None = None) -> Path:
    """The path asked for (argument, then environment), else the one beside the checkout."""
    if given is not None:
        return given
    from_env = os.environ.get(ENV)
    return Path(from_env) if from_env else BESIDE_CHECKOUT


def missing(path: Path) -> str:
    """What to tell someone whose corpus is not at ``path``."""
    return (
        f"no User-Agent corpus at {path}\n"
        "The labelled corpus is not shipped with daypart. Pass --corpus PATH or set "
        f"{ENV}=PATH to a file of 'label<TAB>user agent' lines "
        f"(labels: {', '.join(DEVICE_CLASSES)})."
    )


def load(path: Path) -> list[Row]:
    rows: list[Row] = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            line = line.rstrip("\r\n")
            if not line or line.startswith("#"):
                continue
            label, sep, agent = line.partition("\t")
            if not sep or label not in DEVICE_CLASSES:
                raise ValueError(
                    f"{path}:{number}: expected 'label<TAB>user agent' with a label among "
                    f"{', '.join(DEVICE_CLASSES)}, found {line[:60]!r}"
                )
            rows.append((label, agent))
    return rows


def add_corpus_argument(parser: argparse.ArgumentParser) -> None:
    """``--corpus PATH`` (old name ``--data``), as every corpus-reading tool takes it."""
    parser.add_argument(
        "--corpus",
        "--data",
        type=Path,
        default=None,
        metavar="PATH",
        help=f"labelled UAs, 'label<TAB>user agent' per line (default: ${ENV}, else "
        "../shared/data/ua/devices.tsv beside the checkout)",
    )
