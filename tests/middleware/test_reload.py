"""The rule file is watched off the request path; a broken file never replaces good rules."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from daypart.middleware import AdaptiveMiddleware
from daypart.rules.errors import RulesError
from tests.middleware.conftest import IPHONE

MakeApp = Callable[..., AdaptiveMiddleware]


def rule_after_change(client: TestClient, app: AdaptiveMiddleware, before: object) -> str:
    deadline = time.monotonic() + 5
    while app.runtime.rules is before and time.monotonic() < deadline:
        time.sleep(0.02)
    rule: str = client.get("/", headers={"User-Agent": IPHONE}).json()["decision"]["rule"]
    return rule


def touch(path: Path, text: str) -> None:
    path.write_text(text)
    stat = path.stat()  # a new mtime even on filesystems with coarse timestamps
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def test_background_reload_picks_up_changes_and_keeps_good_rules(
    make_app: MakeApp, rules_file: Path
) -> None:
    app = make_app(reload_interval=0.05)
    good = rules_file.read_text()
    with TestClient(app) as client:
        assert client.get("/", headers={"User-Agent": IPHONE}).json()["decision"]["rule"] == (
            "commuters-get-inspiration"
        )
        before = app.runtime.rules
        touch(rules_file, good.replace('"17:00"', '"18:00"'))
        assert rule_after_change(client, app, before) == "everyone-else"

        before = app.runtime.rules
        touch(rules_file, good.replace("device: mobile", "device: mobil"))
        deadline = time.monotonic() + 5
        while app.runtime.rules_error is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert client.get("/", headers={"User-Agent": IPHONE}).json()["decision"]["rule"] == (
            "everyone-else"  # the last good rules keep serving
        )
        assert app.runtime.rules is before
        assert app.runtime.rules_error is not None
        assert "unknown device 'mobil'" in app.runtime.rules_error

        touch(rules_file, good)
        assert rule_after_change(client, app, before) == "commuters-get-inspiration"
        assert app.runtime.rules_error is None


def test_a_broken_file_at_start_up_fails_loudly(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("version: 1\nrules: {}\n")
    with pytest.raises(RulesError, match=r"broken\.yaml:2:"):
        AdaptiveMiddleware(lambda *a: None, rules=broken)  # type: ignore[arg-type]
