"""``GET /_daypart/metrics``: Prometheus text format, through prometheus-client.

The request path and the background tasks count in plain dicts and ints
(``runtime.Counters``); this collector turns them into metric families only when
Prometheus scrapes, so a request pays one dict bump and never a metrics library call.
Each middleware has its own ``CollectorRegistry`` (never the process-wide default), so
several apps in one process, or in one test run, never mix their numbers.

Two kinds of numbers:

- **this worker's** (``worker`` label ``host:pid``): requests, records written, dropped
  and pending, store errors, flush latency, rule reloads, evaluator runs and decisions.
  With several workers, each counts what it saw; Prometheus must reach every worker to
  add them up (docs/operators.md, "Metrics").
- **the store's totals** (``daypart_store_*``, no ``worker`` label): exposures and
  conversions per experiment and arm, read from the store at scrape time. Every worker
  answers the same numbers, so one scrape of any worker is the cross-worker truth.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable, Mapping

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from daypart.experiments.store.errors import StoreError
from daypart.middleware.runtime import FLUSH_BUCKETS, Runtime
from daypart.rules.model import Experiment

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]

# (experiment, arm) -> exposures; (experiment, arm, goal) -> conversions
StoreTotals = tuple[dict[tuple[str, str], int], dict[tuple[str, str, str], int]]


class DaypartCollector(Collector):
    def __init__(self, runtime: Runtime, worker: str) -> None:
        self.runtime = runtime
        self.worker = worker
        self.store_totals: StoreTotals | None = None  # set by Metrics just before a scrape

    def collect(self) -> Iterable[Metric]:
        yield from self._worker_metrics()
        yield from self._store_metrics()

    def _worker_metrics(self) -> Iterable[Metric]:
        runtime = self.runtime
        counters = runtime.counters
        stats = runtime.recorder.stats
        w = self.worker

        requests = CounterMetricFamily(
            "daypart_requests",
            "Requests daypart decided on, by device, segment (daypart) and variant served",
            labels=["device", "segment", "variant", "worker"],
        )
        for device, segment, variant, count in counters.request_counts():
            requests.add_metric([device, segment, variant or "none", w], count)
        yield requests

        written = CounterMetricFamily(
            "daypart_records_written",
            "Exposure and conversion records the store took (duplicates included)",
            labels=["experiment", "kind", "worker"],
        )
        for (experiment, kind), count in list(counters.written.items()):
            written.add_metric([experiment, kind, w], count)
        yield written

        yield _single(
            CounterMetricFamily,
            "daypart_records_dropped",
            "Records that did not fit in the buffer (lost, and counted)",
            stats.dropped,
            w,
        )
        yield _single(
            GaugeMetricFamily,
            "daypart_records_pending",
            "Records waiting in the buffer for the store",
            runtime.recorder.pending,
            w,
        )
        errors = CounterMetricFamily(
            "daypart_store_errors",
            "Store round trips that failed, by operation",
            labels=["operation", "worker"],
        )
        errors.add_metric(["record", w], stats.failures)
        errors.add_metric(["read_state", w], counters.state_read_errors)
        yield errors

        flush = HistogramMetricFamily(
            "daypart_flush_seconds",
            "Time the store took to write one batch of records",
            labels=["worker"],
        )
        cumulative, buckets = 0, []
        for bound, count in zip(
            (*FLUSH_BUCKETS, float("inf")), counters.flush_buckets, strict=True
        ):
            cumulative += count
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
        flush.add_metric([w], buckets, counters.flush_seconds)
        yield flush

        yield _single(
            CounterMetricFamily,
            "daypart_rule_reloads",
            "Rule files loaded after a change",
            counters.reloads,
            w,
        )
        yield _single(
            CounterMetricFamily,
            "daypart_rule_load_errors",
            "Rule files that failed to load (the last good rules kept serving)",
            counters.reload_errors,
            w,
        )
        yield _single(
            GaugeMetricFamily,
            "daypart_rules_failing",
            "1 while the rule file on disk is broken and older rules serve",
            int(runtime.rules_error is not None),
            w,
        )
        runs = CounterMetricFamily(
            "daypart_evaluator_runs",
            "Evaluator runs: ran (this worker held the lock), skipped (another did), failed",
            labels=["outcome", "worker"],
        )
        for outcome in ("ran", "skipped", "failed"):
            runs.add_metric([outcome, w], counters.evaluator_runs.get(outcome, 0))
        yield runs
        decisions = CounterMetricFamily(
            "daypart_evaluator_decisions",
            "Gate decisions per experiment look, by verdict, and whether they were applied",
            labels=["verdict", "applied", "worker"],
        )
        for (verdict, applied), count in list(counters.decisions.items()):
            decisions.add_metric([verdict, str(applied).lower(), w], count)
        yield decisions

    def _store_metrics(self) -> Iterable[Metric]:
        totals = self.store_totals
        yield GaugeMetricFamily(
            "daypart_store_up", "1 if the store answered this scrape", value=int(totals is not None)
        )
        if totals is None:
            return
        exposures, conversions = totals
        visitors = GaugeMetricFamily(
            "daypart_store_exposures",
            "Visitors exposed per experiment and arm, as the store counts them (all workers)",
            labels=["experiment", "arm"],
        )
        for (experiment, arm), count in sorted(exposures.items()):
            visitors.add_metric([experiment, arm], count)
        yield visitors
        converted = GaugeMetricFamily(
            "daypart_store_conversions",
            "Visitors converted per experiment, arm and goal, as the store counts them",
            labels=["experiment", "arm", "goal"],
        )
        for (experiment, arm, goal), count in sorted(conversions.items()):
            converted.add_metric([experiment, arm, goal], count)
        yield converted


def _single(
    family: type[CounterMetricFamily] | type[GaugeMetricFamily],
    name: str,
    documentation: str,
    value: float,
    worker: str,
) -> Metric:
    metric = family(name, documentation, labels=["worker"])
    metric.add_metric([worker], value)
    return metric


class Metrics:
    """One per middleware: its private registry and the collector reading its counters."""

    def __init__(self, runtime: Runtime, worker: str | None = None) -> None:
        self.runtime = runtime
        self.registry = CollectorRegistry(auto_describe=False)
        self.collector = DaypartCollector(
            runtime, worker or f"{socket.gethostname()}:{os.getpid()}"
        )
        self.registry.register(self.collector)

    async def store_totals(self, experiments: Mapping[str, Experiment]) -> StoreTotals | None:
        """Every arm of every experiment in the rules (0 before any visitor), summed over
        the segments; None when the store does not answer."""
        exposures = {(name, arm.name): 0 for name, e in experiments.items() for arm in e.arms}
        conversions: dict[tuple[str, str, str], int] = {}
        try:
            for name in sorted(experiments):
                counts = await self.runtime.store.counts(name)
                for (arm, *_segment), cell in counts.cells.items():
                    exposures[name, arm] = exposures.get((name, arm), 0) + cell.exposures
                    for goal, count in cell.conversions.items():
                        key = (name, arm, goal)
                        conversions[key] = conversions.get(key, 0) + count
        except StoreError:
            return None
        return exposures, conversions

    async def exposition(self) -> bytes:
        """The text format for one scrape: the store's totals read now, this worker's
        counters as they stand."""
        experiments = self.runtime.rules.ruleset.experiments
        # No await between setting the totals and rendering them: scrapes cannot interleave.
        self.collector.store_totals = await self.store_totals(experiments)
        return generate_latest(self.registry)
