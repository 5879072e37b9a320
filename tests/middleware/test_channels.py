"""Channels end to end, through the middleware and a real Redis: a visitor is counted in
the channel of their first exposure — read from the query, a header or a cookie — and
their conversions follow them there; cookies and counts from before channels still work;
no value a visitor sends makes a cell of its own; the API, the CSV and the page show it."""

from __future__ import annotations

import asyncio
import csv
import io
import random
import string
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from daypart.experiments.policy import Mark, experiment_code
from daypart.experiments.store import store_from_url
from daypart.experiments.store.base import CellKey, ExperimentCounts
from daypart.middleware import AdaptiveMiddleware
from daypart.middleware.admin.openapi import openapi_document
from daypart.middleware.visitor import VisitorCookie
from tests.middleware.conftest import LAPTOP, RULES, TUESDAY_2100, Clock, echo_app
from tests.middleware.test_openapi import Checker

# The conftest rules with channels; nothing else in them reads X-Channel or the cookie,
# so only the channel sources bring them into a decision.
CHANNEL_RULES = RULES.replace(
    "  timezone_from: [cookie:tz, header:CF-Timezone]\n",
    "  timezone_from: [cookie:tz, header:CF-Timezone]\n"
    "  channel_from: [query:utm_source, header:X-Channel, cookie:channel]\n"
    "  channels: [newsletter, callcenter, ads]\n",
)
TOKEN = "channels-token-0123456789"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
CHANNELS = {"newsletter", "callcenter", "ads", "other", "direct"}


@pytest.fixture
def app(tmp_path: Path, redis_url: str) -> AdaptiveMiddleware:
    path = tmp_path / "rules.yaml"
    path.write_text(CHANNEL_RULES)
    return AdaptiveMiddleware(
        echo_app(),
        rules=path,
        store=redis_url,
        secret="channels-secret-0123456789",
        clock=Clock(TUESDAY_2100),  # evening: desktops are in the experiment
        admin_token=TOKEN,
        evaluate_interval=None,
        flush_interval=0.05,
    )


def stored(url: str) -> ExperimentCounts:
    async def read() -> ExperimentCounts:
        store = store_from_url(url)
        try:
            return await store.counts("evening-offer")
        finally:
            await store.close()

    return asyncio.run(read())


def exposures(counts: ExperimentCounts) -> dict[CellKey, int]:
    return {key: cell.exposures for key, cell in counts.cells.items() if cell.exposures}


def conversions(counts: ExperimentCounts) -> dict[CellKey, int]:
    return {k: c.conversions["booked"] for k, c in counts.cells.items() if c.conversions}


def visit(client: TestClient, url: str = "/", **headers: str) -> dict[str, Any]:
    """A new visitor's first page: their decision, with the cookie kept in the client."""
    client.cookies.clear()
    decision: dict[str, Any] = client.get(url, headers={"User-Agent": LAPTOP, **headers}).json()[
        "decision"
    ]
    return decision


def book(client: TestClient, headers: dict[str, str] | None = None) -> None:
    answer = client.post(
        "/checkout/confirm?v=120", headers={"User-Agent": LAPTOP, **(headers or {})}
    )
    assert answer.status_code == 200


def test_each_source_lands_in_its_channel_and_conversions_follow_the_first_exposure(
    app: AdaptiveMiddleware, redis_url: str
) -> None:
    seen: dict[CellKey, int] = {}
    booked: dict[CellKey, int] = {}
    with TestClient(app) as client:
        for url, headers, channel in [
            ("/?utm_source=NewsLetter", {}, "newsletter"),  # any case
            ("/", {"X-Channel": "callcenter"}, "callcenter"),
            ("/", {"Cookie": "channel=ads"}, "ads"),
            ("/?utm_source=facebook", {}, "other"),  # not listed
            ("/", {}, "direct"),  # no source
            ("/?utm_source=newsletter", {"X-Channel": "callcenter"}, "newsletter"),  # first wins
        ]:
            decision = visit(client, url, **headers)
            assert decision["channel"] == channel
            key = (decision["arm"], "desktop", "evening", channel)
            seen[key] = seen.get(key, 0) + 1
            # Back through another channel to book: counted where the exposure was.
            client.get("/?utm_source=ads", headers={"User-Agent": LAPTOP})
            book(client, {"X-Channel": "ads"})
            booked[key] = booked.get(key, 0) + 1
    counts = stored(redis_url)
    assert exposures(counts) == seen
    assert conversions(counts) == booked
    assert {key[3] for key in counts.cells} == CHANNELS


def test_cached_decisions_keep_each_requests_channel(
    app: AdaptiveMiddleware, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # New visitors of the same shape reuse one cached decision; a channel header must be
    # part of that shape, or the second header's visitors would take the first's channel.
    classified = 0
    classify = app.classifier.classify

    def counting(*args: Any) -> Any:
        nonlocal classified
        classified += 1
        return classify(*args)

    monkeypatch.setattr(app.classifier, "classify", counting)
    with TestClient(app) as client:
        for _ in range(20):
            for headers in ({"X-Channel": "callcenter"}, {"X-Channel": "ads"}, {}):
                visit(client, "/", **headers)
    assert classified == 3  # one per shape: the cache served the other 57
    by_channel: dict[str, int] = {}
    for (_, _, _, channel), count in exposures(stored(redis_url)).items():
        by_channel[channel] = by_channel.get(channel, 0) + count
    assert by_channel == {"callcenter": 20, "ads": 20, "direct": 20}


def test_a_mark_set_before_channels_keeps_counting_without_one(
    app: AdaptiveMiddleware, redis_url: str
) -> None:
    code = experiment_code("evening-offer", "evening-offer")
    before = VisitorCookie("AAAAAAAAAAAAAAAA", (Mark(code, "offer", "desktop", "evening"),))
    value = app.runtime.signer.dump(before)
    assert value.count(":") == 3  # code:arm:device:daypart, the format before channels
    cookie = f"{app.runtime.settings.cookie_name}={value}"
    with TestClient(app) as client:
        page = client.get(
            "/?utm_source=newsletter", headers={"User-Agent": LAPTOP, "Cookie": cookie}
        )
        decision = page.json()["decision"]
        assert (decision["arm"], decision["new_visitor"]) == ("offer", False)
        assert "set-cookie" not in page.headers  # a returning visitor: no new mark
        book(client, {"Cookie": cookie})
    counts = stored(redis_url)
    assert exposures(counts) == {}  # exposed before: not counted again
    assert conversions(counts) == {("offer", "desktop", "evening", ""): 1}


def test_a_flood_of_distinct_values_makes_no_new_cells(
    app: AdaptiveMiddleware, redis_url: str
) -> None:
    rng = random.Random(8)
    sent = 400
    with TestClient(app) as client:
        for _ in range(sent):
            value = "".join(rng.choices(string.ascii_letters + string.digits, k=rng.randint(1, 90)))
            cookie = f"channel={value}"
            visit(client, f"/?utm_source={value}", **{"X-Channel": value, "Cookie": cookie})
    counts = stored(redis_url)
    assert {key[3] for key in counts.cells} == {"other"}
    assert sum(exposures(counts).values()) == sent
    assert len(counts.cells) <= 2  # one per arm


def test_the_api_csv_and_page_show_the_channels(app: AdaptiveMiddleware) -> None:
    check = Checker(openapi_document("/_daypart"))
    with TestClient(app) as client:
        for url, headers in [
            ("/?utm_source=newsletter", {}),
            ("/?utm_source=newsletter", {}),
            ("/", {"X-Channel": "callcenter"}),
            ("/", {}),
        ]:
            visit(client, url, **headers)
            book(client)
        client.cookies.clear()
        deadline = time.monotonic() + 5
        while app.runtime.recorder.stats.written < 8 and time.monotonic() < deadline:
            time.sleep(0.02)
        report = check(client.get("/_daypart/api/experiments/evening-offer", headers=BEARER))
        listed = check(client.get("/_daypart/api/experiments", headers=BEARER))
        exported = client.get("/_daypart/export.csv", headers=BEARER).text
        page = client.get("/_daypart/experiments/evening-offer", headers=BEARER).text
        one = client.get("/_daypart/experiments/evening-offer?channel=newsletter", headers=BEARER)
        unknown = client.get("/_daypart/experiments/evening-offer?channel=<x>", headers=BEARER)
    data = report.json()
    assert listed.json()[0]["channels"] == data["channels"]
    assert {c["channel"]: c["visitors"] for c in data["channels"]} == {
        "callcenter": 1,
        "direct": 1,
        "newsletter": 2,
    }
    assert {s["channel"] for s in data["channel_segments"]} == {
        "callcenter",
        "direct",
        "newsletter",
    }
    assert [s["visitors"] for s in data["segments"]] == [4]  # device × daypart, every channel
    rows = list(csv.DictReader(io.StringIO(exported)))
    newsletter = [r for r in rows if r["segment"] == "all/all/newsletter"]
    assert sum(int(r["visitors"]) for r in newsletter) == 2
    assert sum(int(r["conversions"]) for r in newsletter) == 2
    assert {r["channel"] for r in rows} == {"all", "newsletter", "callcenter", "direct"}
    # The page: a channel table, a link per channel to its grid, every channel the rules
    # count in even without visitors yet.
    assert "<th>channel</th><th>control</th><th>leader</th>" in page
    for channel in ("newsletter", "callcenter", "ads", "other", "direct"):
        assert f"?channel={channel}#grid" in page
    assert "<b aria-current='true'>all channels</b>" in page
    assert "per device × daypart in channel newsletter" in one.text
    assert "<b aria-current='true'>newsletter</b>" in one.text
    assert unknown.status_code == 200  # an unknown channel shows every channel
    assert "<b aria-current='true'>all channels</b>" in unknown.text
    assert "&lt;x&gt;" not in unknown.text


def test_without_channels_nothing_of_them_shows(
    make_app: Callable[..., AdaptiveMiddleware],
) -> None:
    app = make_app(admin_token=TOKEN, clock=Clock(TUESDAY_2100))
    with TestClient(app) as client:
        for _ in range(3):
            decision = visit(client, "/?utm_source=newsletter", **{"X-Channel": "ads"})
            assert "channel" not in decision
            book(client)
        client.cookies.clear()
        deadline = time.monotonic() + 5
        while app.runtime.recorder.stats.written < 6 and time.monotonic() < deadline:
            time.sleep(0.02)
        data = client.get("/_daypart/api/experiments/evening-offer", headers=BEARER).json()
        page = client.get("/_daypart/experiments/evening-offer", headers=BEARER).text
        exported = client.get("/_daypart/export.csv", headers=BEARER).text
    assert (data["channels"], data["channel_segments"]) == ([], [])
    assert data["visitors"] == 3
    assert "channel" not in page.lower()
    assert {r["channel"] for r in csv.DictReader(io.StringIO(exported))} == {""}
    counts = asyncio.run(app.runtime.store.counts("evening-offer"))
    assert {key[3] for key in counts.cells} == {""}
