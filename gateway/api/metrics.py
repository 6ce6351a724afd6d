"""Prometheus metrics: HTTP traffic of this process, and the state of the queue as the database sees it.

Queue figures are read from the database at scrape time, so every API process reports the same truth
whichever process or machine runs the workers:

* ``xgw_messages{state,direction}`` -- messages per state (a gauge over the whole table);
* ``xgw_queue_oldest_due_seconds`` -- how long the oldest message that is due for work (any
  non-final state, lease free or expired) has been waiting since it became due; 0 when none waits;
* ``xgw_processing_seconds`` -- a histogram of the time from a message's arrival to the end of the
  gateway's part of the work (outbound: ``queued``; inbound: ``delivered``). It is fed from the event
  table: each scrape reads the events written since the last one (by id), so the histogram grows like a
  counter and costs little per scrape.

Counted in this process:

* ``xgw_http_requests_total{method,route,status}`` and ``xgw_http_request_duration_seconds`` by route
  template (``/api/v1/messages/{message_id}``), never by raw path, to keep the label set small;
* ``xgw_validation_failures_total{rule}`` -- error findings of messages refused at submission or
  checked with ``POST /api/v1/validate`` through this process, by rule id.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator
from datetime import datetime

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.engine import Connection, Engine
from sqlmodel import col

from gateway.store.models import Direction, Message, MessageEvent, MessageState
from gateway.store.types import utcnow

log = logging.getLogger(__name__)

PROCESSING_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600)
FINAL_STATES = (
    MessageState.ACKNOWLEDGED,
    MessageState.CONFIRMED,
    MessageState.FAILED,
    MessageState.DEAD_LETTERED,
    MessageState.CANCELLED,
)
_DONE = {Direction.OUTBOUND: MessageState.QUEUED, Direction.INBOUND: MessageState.DELIVERED}
_EVENT_BATCH = 5000


class _QueueCollector(Collector):
    """Reads the message table at scrape time; a database error yields no queue metrics, not a failed scrape."""

    def __init__(self, engine: Engine, processing: Histogram) -> None:
        self.engine = engine
        self.processing = processing
        self._last_event_id = 0
        self._lock = threading.Lock()

    def describe(self) -> Iterable[Metric]:
        return []  # values are read from the database only when scraped

    def collect(self) -> Iterator[Metric]:
        try:
            with self.engine.connect() as connection:
                by_state = connection.execute(
                    sa.select(col(Message.state), col(Message.direction), sa.func.count()).group_by(
                        col(Message.state), col(Message.direction)
                    )
                ).all()
                now = utcnow()
                oldest = connection.execute(
                    sa.select(sa.func.min(col(Message.next_attempt_at))).where(
                        col(Message.state).not_in(list(FINAL_STATES)),
                        col(Message.next_attempt_at) <= now,
                        sa.or_(col(Message.lease_expires_at).is_(None), col(Message.lease_expires_at) <= now),
                    )
                ).scalar_one()
                self._feed_processing(connection)
        except sa.exc.SQLAlchemyError as exc:
            log.warning("metrics: database not readable: %s", exc.__class__.__name__)
            return
        states = GaugeMetricFamily("xgw_messages", "Messages by state and direction.", labels=["state", "direction"])
        counts = {(str(s), str(d)): n for s, d, n in by_state}
        for state in MessageState:
            for direction in Direction:
                states.add_metric([state.value, direction.value], counts.get((state.value, direction.value), 0))
        yield states
        age = GaugeMetricFamily(
            "xgw_queue_oldest_due_seconds",
            "Seconds the oldest message due for work has been waiting since it became due.",
        )
        age.add_metric([], _seconds_since(oldest, now))
        yield age

    def _feed_processing(self, connection: Connection) -> None:
        with self._lock:
            while True:
                rows = connection.execute(
                    sa.select(
                        col(MessageEvent.id),
                        col(MessageEvent.to_state),
                        col(MessageEvent.created_at),
                        col(Message.direction),
                        col(Message.created_at),
                    )
                    .where(
                        col(MessageEvent.id) > self._last_event_id,
                        col(MessageEvent.message_id) == col(Message.id),
                    )
                    .order_by(col(MessageEvent.id))
                    .limit(_EVENT_BATCH)
                ).all()
                for event_id, to_state, done_at, direction, arrived_at in rows:
                    self._last_event_id = max(self._last_event_id, int(event_id or 0))
                    if to_state == _DONE.get(Direction(direction)):
                        self.processing.observe(max((done_at - arrived_at).total_seconds(), 0.0))
                if len(rows) < _EVENT_BATCH:
                    return


def _seconds_since(when: datetime | None, now: datetime) -> float:
    if when is None:
        return 0.0
    return max((now - when).total_seconds(), 0.0)


class ApiMetrics:
    """The metrics of one app; its own registry, so that several apps (tests) never share counters."""

    def __init__(self, engine: Engine | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.http_requests = Counter(
            "xgw_http_requests",
            "HTTP requests by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.http_duration = Histogram(
            "xgw_http_request_duration_seconds",
            "Time to answer HTTP requests, by method and route template.",
            ["method", "route"],
            registry=self.registry,
        )
        self.validation_failures = Counter(
            "xgw_validation_failures",
            "Error findings of messages refused or checked through the API, by rule id.",
            ["rule"],
            registry=self.registry,
        )
        self.processing = Histogram(
            "xgw_processing_seconds",
            "Time from a message's arrival to queued (outbound) or delivered (inbound).",
            buckets=PROCESSING_BUCKETS,
            registry=None,
        )
        # the queue collector feeds the histogram while it is collected, so it must come first
        if engine is not None:
            self.registry.register(_QueueCollector(engine, self.processing))
        self.registry.register(self.processing)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.http_requests.labels(method, route, str(status)).inc()
        self.http_duration.labels(method, route).observe(seconds)

    def count_failures(self, rules: Iterable[str]) -> None:
        for rule in rules:
            self.validation_failures.labels(rule).inc()
