"""What the adaptive rules earn, where people and scripts read it: the JSON API (valid
against its OpenAPI schema), the board's holdout value, a page per rule, the CSV export,
``daypart report`` and ``daypart explain``."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from daypart.experiments.holdout import ADAPTIVE, DEFAULT, holdout_name, is_held_out
from daypart.experiments.store.base import Conversion, Exposure, Segment
from daypart.middleware import AdaptiveMiddleware
from daypart.middleware.admin.openapi import openapi_document
from daypart.middleware.tools.cli import main
from tests.middleware.conftest import IPHONE, TUESDAY_1730, Clock, echo_app
from tests.middleware.test_holdout_serving import RULES
from tests.middleware.test_openapi import Checker

TOKEN = "holdout-admin-token-0123456789"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
RULE = "commuters-get-inspiration"
NAME = holdout_name(RULE, 0.3)
DAY = 86400.0


def seeded(tmp_path: Path, store: str = "memory://") -> tuple[AdaptiveMiddleware, Path]:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES)
    clock = Clock(TUESDAY_1730)
    app = AdaptiveMiddleware(
        echo_app(),
        rules=path,
        store=store,
        secret="holdout-secret-0123456789",
        clock=clock,
        admin_token=TOKEN,
        evaluate_interval=None,
    )
    return app, path


def records(day: int) -> list[Exposure | Conversion]:
    """3,000 held out converting at 4%, 7,000 adapted at 5%, every order worth 100."""
    found: list[Exposure | Conversion] = []
    segment = Segment("mobile", "train_home")
    for arm, visitors, booked in ((DEFAULT, 3_000, 120), (ADAPTIVE, 7_000, 350)):
        for i in range(visitors):
            visitor = f"{arm}-{i}"
            found.append(Exposure(NAME, arm, segment, visitor, day))
            if i < booked:
                found.append(Conversion(NAME, arm, segment, visitor, "booked", 100.0, day))
    return found


def test_the_api_the_board_the_page_and_the_csv(tmp_path: Path) -> None:
    app, _ = seeded(tmp_path)
    check = Checker(openapi_document("/_daypart"))
    with TestClient(app) as client:
        portal = client.portal
        assert portal is not None
        day = app.runtime.rules.site_day(TUESDAY_1730)
        portal.call(app.runtime.store.record, records(day))
        listed = check(client.get("/_daypart/api/holdouts", headers=BEARER)).json()
        one = check(client.get(f"/_daypart/api/holdouts/{RULE}", headers=BEARER)).json()
        missing = check(client.get("/_daypart/api/holdouts/everyone-else", headers=BEARER))
        board = client.get("/_daypart/", headers=BEARER).text
        page = client.get(f"/_daypart/holdouts/{RULE}", headers=BEARER).text
        experiment_page = client.get("/_daypart/experiments/commute-video", headers=BEARER).text
        exported = client.get("/_daypart/export.csv", headers=BEARER).text

    assert listed == [one]
    assert (one["rule"], one["name"], one["share"], one["visitors"]) == (RULE, NAME, 0.3, 10_000)
    booked = next(goal for goal in one["goals"] if goal["goal"] == "booked")
    assert booked["uplift"] == pytest.approx((351 / 7002) / (121 / 3002) - 1)
    assert booked["prob_beat_default"] > 0.95
    # 7,000 adapted in 17.5 hours of the first day: one day's worth, a month of them.
    assert booked["per_month"]["monthly_visitors"] == pytest.approx(7_000 * 30.44)
    assert missing.status_code == 404
    assert f"no holdout prices rule 'everyone-else'; rules with one: {RULE}" in missing.text

    # The board answers "do the adaptive rules pay off?" first, in money with its interval.
    assert "What the adaptive rules earn" in board
    assert "holdout value, a month (booked)" in board
    low, high = booked["per_month"]["revenue"][1:]
    assert f"{low:,.0f} to {high:,.0f}" in board
    assert f"href='/_daypart/holdouts/{RULE}'" in board
    # The page: both arms, what adapting earns on each goal, per segment.
    assert f"Holdout of {RULE}" in page
    assert "P(beat default)" in page
    assert "extra revenue a month" in page
    assert "mobile × train_home" in page
    # The page of the experiment the rule runs says what the rule earns, and links to it.
    assert "What its rule earns against the default" in experiment_page
    assert f"<a href='/_daypart/holdouts/{RULE}'>{RULE}</a> against booking" in experiment_page
    # The CSV: the holdout's rows after the experiments', in the same columns.
    rows = list(csv.DictReader(io.StringIO(exported)))
    mine = [r for r in rows if r["experiment"] == NAME and r["segment"] == "all"]
    assert [(r["goal"], r["arm"], r["visitors"]) for r in mine] == [
        ("booked", DEFAULT, "3000"),
        ("booked", ADAPTIVE, "7000"),
        ("shared", DEFAULT, "3000"),
        ("shared", ADAPTIVE, "7000"),
    ]


def test_no_holdout_declared_leaves_the_board_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "plain.yaml"
    path.write_text(RULES.replace("  holdout: 30%\n", ""))
    app = AdaptiveMiddleware(
        echo_app(), rules=path, secret="holdout-secret-0123456789", admin_token=TOKEN,
        evaluate_interval=None,
    )  # fmt: skip
    with TestClient(app) as client:
        assert client.get("/_daypart/api/holdouts", headers=BEARER).json() == []
        assert "What the adaptive rules earn" not in client.get("/_daypart/", headers=BEARER).text


def test_daypart_report_shows_the_holdouts(
    tmp_path: Path, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    app, path = seeded(tmp_path, redis_url)
    with TestClient(app) as client:
        portal = client.portal
        assert portal is not None
        portal.call(app.runtime.store.record, records(app.runtime.rules.site_day(TUESDAY_1730)))

    assert main(["report", "--store", redis_url, "--rules", str(path)]) == 0
    text = capsys.readouterr().out
    assert "holdout of commuters-get-inspiration: 30% see booking instead of inspiration" in text
    assert "booked: adapting +" in text
    assert main(["report", "--store", redis_url, "--rules", str(path), "--json"]) == 0
    experiments = json.loads(capsys.readouterr().out)
    assert [r["experiment"] for r in experiments] == ["commute-video"]  # as before
    assert main(["report", "--store", redis_url, "--json", "--holdouts"]) == 0
    [holdout] = json.loads(capsys.readouterr().out)  # without rules: from the store
    assert (holdout["rule"], holdout["share"], holdout["visitors"]) == (RULE, 0.3, 10_000)
    assert main(["report", "--store", redis_url, "--rules", str(path), "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert {r["experiment"] for r in rows} == {"commute-video", NAME}


def test_daypart_explain_says_who_is_held_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES)
    held = next(f"v{i:016d}" for i in range(1000) if is_held_out(f"v{i:016d}", 0.3))
    adapted = next(f"v{i:016d}" for i in range(1000) if not is_held_out(f"v{i:016d}", 0.3))
    base = ["explain", str(path), "--ua", IPHONE, "--at", "2026-11-24T17:30"]
    assert main([*base, "--visitor", held]) == 0
    out = capsys.readouterr().out
    assert "variant:    booking" in out
    assert "holdout:    held out (the default variant, no experiment)" in out
    assert "experiment:" not in out
    assert main([*base, "--visitor", adapted, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["holdout"], result["experiment"]) == ("adaptive", "commute-video")
