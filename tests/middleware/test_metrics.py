"""``/_daypart/metrics``: what a scrape says equals what was sent and what the store holds,
per worker and across workers."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import prometheus_client
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from daypart.experiments.store.errors import StoreError
from daypart.middleware import AdaptiveMiddleware
from tests.middleware.conftest import GOOGLEBOT, IPHONE, LAPTOP, RULES, TUESDAY_2100, Clock
from tests.middleware.test_redis_end_to_end import evening_zones
from tests.redis_server import free_port
from tests.servers import uvicorn_server

MakeApp = Callable[..., AdaptiveMiddleware]
TOKEN = "metrics-token-0123456789"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
Labels = tuple[tuple[str, str], ...]


def scrape(client: TestClient | httpx.Client) -> dict[str, dict[Labels, float]]:
    """sample name -> labels -> value, parsed as Prometheus itself would."""
    response = client.get("/_daypart/metrics", headers=BEARER)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples: dict[str, dict[Labels, float]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            labels = tuple(sorted(sample.labels.items()))
            samples.setdefault(sample.name, {})[labels] = sample.value
    return samples


def by(samples: dict[Labels, float], *names: str) -> Counter[tuple[str, ...]]:
    """Values summed by the given labels."""
    found: Counter[tuple[str, ...]] = Counter()
    for labels, value in samples.items():
        as_dict = dict(labels)
        found[tuple(as_dict[name] for name in names)] += int(value)
    return +found


def wait_until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def test_a_burst_of_requests_is_counted_as_sent_and_as_stored(make_app: MakeApp) -> None:
    app = make_app(admin_token=TOKEN, clock=Clock(TUESDAY_2100))
    sent: Counter[tuple[str, str, str]] = Counter()
    exposures: Counter[tuple[str, str]] = Counter()
    conversions: Counter[tuple[str, str]] = Counter()
    with TestClient(app) as client:
        for i in range(60):
            client.cookies.clear()
            agent = [LAPTOP, LAPTOP, IPHONE, GOOGLEBOT][i % 4]
            decision = client.get(f"/trips/{i}", headers={"User-Agent": agent}).json()["decision"]
            key = (decision["device"], decision["segment"], decision["variant"] or "none")
            sent[key] += 1
            if decision["arm"] is not None:
                exposures["evening-offer", decision["arm"]] += 1
                if i % 3 == 0:  # a booking: one more request, counted in the arm
                    booked = client.post("/checkout/confirm", headers={"User-Agent": agent})
                    assert booked.status_code == 200
                    sent[key] += 1
                    conversions["evening-offer", decision["arm"]] += 1
        client.get("/static/app.css")  # excluded paths and the admin app are not counted
        records = sum(exposures.values()) + sum(conversions.values())
        wait_until(lambda: app.runtime.recorder.stats.written == records)
        metrics = scrape(client)
        store = client.portal
        assert store is not None
        counts = store.call(app.runtime.store.counts, "evening-offer")

    assert sum(exposures.values()) == 30
    assert sum(conversions.values()) == 10
    assert by(metrics["daypart_requests_total"], "device", "segment", "variant") == sent
    written = by(metrics["daypart_records_written_total"], "experiment", "kind")
    assert written == {
        ("evening-offer", "exposure"): 30,
        ("evening-offer", "conversion"): 10,
    }
    # the store's own totals, as the store holds them
    stored_exposures: Counter[tuple[str, str]] = Counter()
    stored_conversions: Counter[tuple[str, str]] = Counter()
    for (arm, *_segment), cell in counts.cells.items():
        stored_exposures["evening-offer", arm] += cell.exposures
        stored_conversions["evening-offer", arm] += cell.conversions.get("booked", 0)
    assert by(metrics["daypart_store_exposures"], "experiment", "arm") == +stored_exposures
    assert by(metrics["daypart_store_exposures"], "experiment", "arm") == exposures
    assert by(metrics["daypart_store_conversions"], "experiment", "arm") == conversions
    assert +stored_conversions == conversions
    assert metrics["daypart_store_up"][()] == 1
    # the recorder's side
    stats = app.runtime.recorder.stats
    (flushes,) = metrics["daypart_flush_seconds_count"].values()
    assert flushes == stats.batches > 0
    (inf,) = (v for k, v in metrics["daypart_flush_seconds_bucket"].items() if ("le", "+Inf") in k)
    assert inf == flushes
    assert next(iter(metrics["daypart_flush_seconds_sum"].values())) > 0
    assert next(iter(metrics["daypart_records_dropped_total"].values())) == 0
    assert next(iter(metrics["daypart_records_pending"].values())) == 0


def test_each_middleware_has_its_own_registry(make_app: MakeApp) -> None:
    first, second = make_app(admin_token=TOKEN), make_app(admin_token=TOKEN)
    with TestClient(first) as one, TestClient(second) as two:
        for _ in range(3):
            one.get("/", headers={"User-Agent": LAPTOP})
        two.get("/", headers={"User-Agent": LAPTOP})
        assert sum(scrape(one)["daypart_requests_total"].values()) == 3
        assert sum(scrape(two)["daypart_requests_total"].values()) == 1
    exposed = prometheus_client.generate_latest(prometheus_client.REGISTRY).decode()
    assert "daypart_" not in exposed  # never the process-wide default registry


def test_metrics_read_like_the_api(make_app: MakeApp) -> None:
    with TestClient(make_app(admin_token=TOKEN), follow_redirects=False) as client:
        assert client.get("/_daypart/metrics").status_code == 401
        basic = client.get("/_daypart/metrics", auth=("prometheus", TOKEN))
        assert basic.status_code == 200
        assert "daypart_store_up 1.0" in basic.text
        assert basic.headers["cache-control"] == "no-store"
        assert client.post("/_daypart/metrics", headers=BEARER).status_code == 405


def test_rule_reloads_and_load_errors_are_counted(make_app: MakeApp, rules_file: Path) -> None:
    app = make_app(admin_token=TOKEN, reload_interval=0)
    with TestClient(app) as client:
        assert client.post("/_daypart/api/rules/reload", headers=BEARER).json()["reloaded"]
        rules_file.write_text(RULES + "  broken: [\n")
        assert client.post("/_daypart/api/rules/reload", headers=BEARER).json()["error"]
        metrics = scrape(client)
    assert next(iter(metrics["daypart_rule_reloads_total"].values())) == 1
    assert next(iter(metrics["daypart_rule_load_errors_total"].values())) == 1
    assert next(iter(metrics["daypart_rules_failing"].values())) == 1


def test_evaluator_runs_and_decisions_are_counted(make_app: MakeApp) -> None:
    app = make_app(admin_token=TOKEN)
    with TestClient(app) as client:
        portal = client.portal
        assert portal is not None
        portal.call(app.background.evaluate)
        portal.call(app.background.evaluate)
        metrics = scrape(client)
    runs = by(metrics["daypart_evaluator_runs_total"], "outcome")
    assert runs == {("ran",): 2}
    decisions = by(metrics["daypart_evaluator_decisions_total"], "verdict", "applied")
    assert decisions == {("hold", "false"): 2}  # one experiment, too early twice


def test_store_errors_are_counted_and_the_store_totals_left_out(make_app: MakeApp) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0?socket_connect_timeout=0.2"
    app = make_app(admin_token=TOKEN, store=dead, clock=Clock(TUESDAY_2100))
    with TestClient(app) as client:
        client.get("/", headers={"User-Agent": LAPTOP})  # one exposure to write
        portal = client.portal
        assert portal is not None
        with pytest.raises(StoreError):
            portal.call(app.runtime.recorder.flush)
        metrics = scrape(client)
        failures = app.runtime.recorder.stats.failures
    errors = by(metrics["daypart_store_errors_total"], "operation")
    assert errors[("record",)] == failures >= 1
    assert errors[("read_state",)] >= 1  # the start-up read of the rollout states
    assert metrics["daypart_store_up"][()] == 0
    assert "daypart_store_exposures" not in metrics


@pytest.mark.slow
def test_two_workers_each_count_their_own_and_the_store_totals_agree(
    redis_url: str, tmp_path: Path
) -> None:
    """uvicorn --workers 2 on one port: a scrape reaches either worker. Each worker's
    counters equal what that worker served; the store's totals equal everything, whichever
    worker answers."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    env = {
        "DAYPART_TEST_RULES": str(rules),
        "DAYPART_STORE": redis_url,
        "DAYPART_SECRET": "shared-secret-of-both-workers-0123",
        "DAYPART_ADMIN_TOKEN": TOKEN,
    }
    zone = evening_zones()[0]
    served: dict[int, Counter[tuple[str, str, str]]] = {}
    exposures: Counter[tuple[str, str]] = Counter()
    with uvicorn_server("tests.middleware.site:app", env, workers=2) as url:
        # No keep-alive: every request is a new connection, which either worker may accept.
        limits = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(base_url=url, limits=limits, timeout=10) as client:

            async def burst() -> list[httpx.Response]:
                async with httpx.AsyncClient(base_url=url, limits=limits, timeout=10) as many:
                    return await asyncio.gather(
                        *(
                            many.get("/", headers={"User-Agent": agent, "Cookie": f"tz={zone}"})
                            for agent in [LAPTOP, IPHONE] * 100
                        )
                    )

            for response in asyncio.run(burst()):
                body = response.json()
                decision = body["decision"]
                key = (decision["device"], decision["segment"], decision["variant"] or "none")
                served.setdefault(body["pid"], Counter())[key] += 1
                if decision["arm"] is not None:
                    exposures["evening-offer", decision["arm"]] += 1

            def store_caught_up() -> bool:
                found = by(scrape(client)["daypart_store_exposures"], "experiment", "arm")
                return found == exposures

            wait_until(store_caught_up, seconds=15)
            seen: set[str] = set()
            for _ in range(12):
                metrics = scrape(client)
                assert by(metrics["daypart_store_exposures"], "experiment", "arm") == exposures
                (worker,) = {dict(labels)["worker"] for labels in metrics["daypart_requests_total"]}
                seen.add(worker)
                pid = int(worker.rpartition(":")[2])
                mine = by(metrics["daypart_requests_total"], "device", "segment", "variant")
                assert mine == served.get(pid, Counter())
    assert sum(exposures.values()) == 100  # every laptop entered the experiment
    assert len(served) == 2  # both workers served
    assert seen  # and each scrape told which worker answered
