"""The dashboard's figures as Prometheus metrics, in the app's one registry (:class:`gateway.api.metrics.ApiMetrics`).

* ``xgw_queue_messages{queue}``, ``xgw_queue_oldest_seconds{queue}``, ``xgw_queue_throughput_last_hour{queue}``,
  ``xgw_queue_retrying{queue}`` -- read from the database's rollups at scrape time through
  :func:`gateway.console.stats.collect` (after :func:`gateway.pipeline.rollups.refresh`);
* ``xgw_processes_overdue`` -- processes whose awaited answer is past its deadline;
* ``xgw_failures{fault}`` -- messages failed or dead-lettered in the last week by rule id or fault;
* ``xgw_xta_peer_open{peer}`` -- 1 while a peer's circuit breaker is open (peers this process talked to);
* ``xgw_console_sign_in_failures_total`` and ``xgw_console_actions_total{action,result}`` -- counted here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine

from gateway.console.stats import collect
from gateway.pipeline.rollups import refresh
from gateway.transport.xta_client.breaker import BreakerSnapshot, BreakerState

log = logging.getLogger(__name__)


class _DashboardCollector(Collector):
    def __init__(self, engine: Engine, peers: Callable[[], list[BreakerSnapshot]]) -> None:
        self.engine = engine
        self.peers = peers

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        try:
            refresh(self.engine)
            with self.engine.connect() as connection:
                stats = collect(connection)
        except sa.exc.SQLAlchemyError as exc:
            log.warning("metrics: database not readable: %s", exc.__class__.__name__)
            return
        count = GaugeMetricFamily("xgw_queue_messages", "Messages in each console queue.", labels=["queue"])
        oldest = GaugeMetricFamily(
            "xgw_queue_oldest_seconds", "Age of the oldest message in each queue (0 when empty).", labels=["queue"]
        )
        hour = GaugeMetricFamily(
            "xgw_queue_throughput_last_hour", "Messages that left each queue in the last hour.", labels=["queue"]
        )
        retrying = GaugeMetricFamily(
            "xgw_queue_retrying", "Messages of each queue waiting for their next try.", labels=["queue"]
        )
        for queue in stats.queues:
            count.add_metric([queue.name], queue.count)
            oldest.add_metric([queue.name], queue.oldest_seconds(stats.at))
            hour.add_metric([queue.name], queue.last_hour)
            retrying.add_metric([queue.name], queue.retrying)
        overdue = GaugeMetricFamily("xgw_processes_overdue", "Processes whose awaited answer is past its deadline.")
        overdue.add_metric([], stats.overdue)
        failures = GaugeMetricFamily(
            "xgw_failures", "Messages failed or dead-lettered in the last week by rule id or fault.", labels=["fault"]
        )
        for fault, n in stats.failures:
            failures.add_metric([fault], n)
        peers = GaugeMetricFamily(
            "xgw_xta_peer_open", "1 while the XTA peer's circuit breaker is open.", labels=["peer"]
        )
        for snapshot in self.peers():
            peers.add_metric([snapshot.peer], 1.0 if snapshot.state is BreakerState.OPEN else 0.0)
        yield from (count, oldest, hour, retrying, overdue, failures, peers)


class ConsoleMetrics:
    def __init__(self, registry: CollectorRegistry, engine: Engine, peers: Callable[[], list[BreakerSnapshot]]) -> None:
        registry.register(_DashboardCollector(engine, peers))
        self.sign_in_failures = Counter(
            "xgw_console_sign_in_failures",
            "Failed console sign-ins (wrong name or password, throttled).",
            registry=registry,
        )
        self.actions = Counter(
            "xgw_console_actions",
            "Admin actions in the console by action and result.",
            ["action", "result"],
            registry=registry,
        )
