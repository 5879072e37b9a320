"""Any failure of loading or compiling the rules: at start-up a ``RulesError`` that names the
file (never a raw traceback from deep inside); on reload, health says degraded with the
error while the last good rules serve, and the next change is tried again."""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from daypart.middleware import AdaptiveMiddleware
from daypart.rules.errors import RulesError
from daypart.rules.loader import parse_rules
from tests.middleware.conftest import IPHONE, RULES, echo_app

MakeApp = Callable[..., AdaptiveMiddleware]
# Deep enough to exhaust the YAML parser's recursion (a RecursionError inside ruamel.yaml,
# unless the loader limits nesting itself: either way, a RulesError that names the file).
TOO_DEEP = "version: 1\nsite: {timezone: UTC}\nrules: " + "[" * 500 + "]" * 500 + "\n"


def test_a_parser_failure_at_start_up_is_a_rules_error_naming_the_file(tmp_path: Path) -> None:
    deep = tmp_path / "deep.yaml"
    deep.write_text(TOO_DEEP)
    with pytest.raises(RulesError, match=r"deep\.yaml:\d+:\d+: "):
        AdaptiveMiddleware(echo_app(), rules=deep, secret="s" * 16)


def test_a_compile_failure_at_start_up_is_a_rules_error_naming_the_file() -> None:
    ruleset = parse_rules(RULES, source="shop-rules.yaml")
    broken = dataclasses.replace(ruleset, site=dataclasses.replace(ruleset.site, timezone="Mars/X"))
    with pytest.raises(RulesError, match=r"shop-rules\.yaml:1:1: the rules could not be compiled"):
        AdaptiveMiddleware(echo_app(), rules=broken, secret="s" * 16)


def wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 5
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)


def write(path: Path, text: str, mtime_ns: int) -> None:
    path.write_text(text)
    os.utime(path, ns=(mtime_ns, mtime_ns))


def serving(client: TestClient) -> str:
    rule: str = client.get("/", headers={"User-Agent": IPHONE}).json()["decision"]["rule"]
    return rule


def test_reload_degrades_then_recovers_on_the_next_change(
    make_app: MakeApp, rules_file: Path
) -> None:
    app = make_app(reload_interval=0.05)
    good = rules_file.read_text()
    later = good.replace('"17:00"', '"18:00"')  # the same size as ``good``
    broken = good.replace("device: mobile", "device: mobxle")  # the same size too
    stamp = rules_file.stat().st_mtime_ns + 2_000_000_000
    with TestClient(app) as client:
        assert serving(client) == "commuters-get-inspiration"
        write(rules_file, broken, stamp)
        wait_for(lambda: app.runtime.rules_error is not None)
        health = client.get("/_daypart/health").json()
        assert health["status"] == "degraded"
        assert "unknown device 'mobxle'" in health["rules"]["error"]
        assert serving(client) == "commuters-get-inspiration"  # the last good rules

        # Rewritten within the same mtime tick, at the same size: still tried again.
        write(rules_file, later, stamp)
        wait_for(lambda: app.runtime.rules_error is None)
        assert client.get("/_daypart/health").json()["status"] == "ok"
        assert serving(client) == "everyone-else"


def test_reload_survives_a_parser_failure(make_app: MakeApp, rules_file: Path) -> None:
    app = make_app(reload_interval=0.05)
    good = rules_file.read_text()
    stamp = rules_file.stat().st_mtime_ns
    with TestClient(app) as client:
        write(rules_file, TOO_DEEP, stamp + 2_000_000_000)
        wait_for(lambda: app.runtime.rules_error is not None)
        health = client.get("/_daypart/health").json()
        assert health["status"] == "degraded"
        assert str(rules_file) in health["rules"]["error"]
        assert serving(client) == "commuters-get-inspiration"
        write(rules_file, good.replace('"17:00"', '"18:00"'), stamp + 4_000_000_000)
        wait_for(lambda: app.runtime.rules_error is None)
        assert serving(client) == "everyone-else"
