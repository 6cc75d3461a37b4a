"""Prometheus metrics: what an operator watches to know the desk is working.

Two kinds, chosen for being correct however many processes run:
- Gauges of the desk's state (chats waiting and active per queue, outbox backlog and its oldest
  item's age per backend and lane, Matrix sync lag, queues whose staff side is failing) are read
  from the database at scrape time (`DeskCollector`). Every web and worker process shares the
  database, so any process answers for all of them, on one host or many.
- Events counted where they happen (request latencies, open patron streams, delivery attempts and
  failures, Slack 429s) live in the process. Under gunicorn, or with a separate `refdesk worker`,
  set `PROMETHEUS_MULTIPROC_DIR` to one empty directory for all of them: prometheus-client then keeps
  the values in files there and a scrape of any web process adds them up.

Labels carry names an operator chose (queue slugs, backends, lanes, endpoints, error kinds) and
never anything a patron typed or is identified by: no conversation ids, names, addresses or URLs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime

import sqlalchemy as sa
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from adapters.storage.tables import ConversationRow, KeyValueRow, OutboxRow, QueueRow
from router.health import PREFIX as PROBLEM_PREFIX
from router.model import Status
from router.ports import Clock

disable_created_metrics()  # `*_created` series double the output and tell an operator nothing here
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
MATRIX_SYNCED_AT = "matrix.synced_at."  # kv key prefix + bot user id: when the bot's last sync batch was processed

REQUEST_SECONDS = Histogram(
    "refdesk_http_request_duration_seconds",
    "Time to answer an HTTP request (to the first byte for patron streams), by Flask endpoint, not by URL.",
    ["endpoint", "method", "status"],
)
OPEN_STREAMS = Gauge("refdesk_open_streams", "Patron event streams (SSE) open now.", multiprocess_mode="livesum")
DELIVERY_ATTEMPTS = Counter(
    "refdesk_outbox_delivery_attempts", "Outbox delivery attempts, successful or not.", ["backend", "lane"]
)
DELIVERY_FAILURES = Counter(
    "refdesk_outbox_delivery_failures",
    "Failed outbox delivery attempts (each is retried), by kind: rate_limited, permanent, temporary.",
    ["backend", "lane", "error"],
)
SLACK_RATE_LIMITED = Counter(
    "refdesk_slack_rate_limited", "Slack Web API answers 429 (rate limited), by API method.", ["method"]
)


class DeliveryCounter:
    """The router's DeliveryObserver: counts each attempt's outcome."""

    def delivery_attempted(self, backend: str, lane: str, failure: str | None) -> None:
        DELIVERY_ATTEMPTS.labels(backend, lane).inc()
        if failure is not None:
            DELIVERY_FAILURES.labels(backend, lane, failure).inc()


def slack_rate_limited(method: str) -> None:
    SLACK_RATE_LIMITED.labels(method).inc()


class DeskCollector(Collector):
    """Gauges read from the database at scrape time, so they are right whichever process answers."""

    def __init__(self, engine: sa.Engine, clock: Clock):
        self.engine, self.clock = engine, clock

    def collect(self) -> Iterator[Metric]:
        now = self.clock.now()
        chats = GaugeMetricFamily(
            "refdesk_conversations", "Live chats per queue and status.", labels=["queue", "status"]
        )
        pending = GaugeMetricFamily(
            "refdesk_outbox_pending", "Outbox items not delivered yet.", labels=["backend", "lane"]
        )
        oldest = GaugeMetricFamily(
            "refdesk_outbox_oldest_pending_age_seconds",
            "Age of the oldest undelivered outbox item (0 when none waits).",
            labels=["backend", "lane"],
        )
        failing = GaugeMetricFamily(
            "refdesk_queue_staff_side_failing",
            "1 while the queue's last delivery failed for good (bot removed, token revoked): see /readyz.",
            labels=["queue"],
        )
        lag = GaugeMetricFamily(
            "refdesk_matrix_sync_lag_seconds",
            "Seconds since the Matrix bot last finished a sync batch (a healthy long poll stays under ~30 s).",
            labels=["bot"],
        )
        with self.engine.connect() as connection:
            queues = connection.execute(sa.select(QueueRow.slug, QueueRow.backend)).all()
            counts = dict(
                ((slug, status), count)
                for slug, status, count in connection.execute(
                    sa.select(ConversationRow.queue_slug, ConversationRow.status, sa.func.count())
                    .where(ConversationRow.status.in_([Status.WAITING.value, Status.ACTIVE.value]))
                    .group_by(ConversationRow.queue_slug, ConversationRow.status)
                )
            )
            backlog = connection.execute(
                sa.select(QueueRow.backend, OutboxRow.lane, sa.func.count(), sa.func.min(OutboxRow.created_at))
                .join(ConversationRow, ConversationRow.id == OutboxRow.conversation_id)
                .join(QueueRow, QueueRow.slug == ConversationRow.queue_slug)
                .where(OutboxRow.delivered_at.is_(None))
                .group_by(QueueRow.backend, OutboxRow.lane)
            ).all()
            kv = dict(
                connection.execute(
                    sa.select(KeyValueRow.key, KeyValueRow.value).where(
                        sa.or_(KeyValueRow.key.startswith(PROBLEM_PREFIX), KeyValueRow.key.startswith(MATRIX_SYNCED_AT))
                    )
                ).all()
            )
        for slug, _backend in queues:
            for status in (Status.WAITING.value, Status.ACTIVE.value):
                chats.add_metric([slug, status], counts.get((slug, status), 0))
            failing.add_metric([slug], 1 if PROBLEM_PREFIX + slug in kv else 0)
        lanes: dict[tuple[str, str], tuple[int, datetime | None]] = {
            (backend, "staff"): (0, None) for backend in sorted({backend for _slug, backend in queues})
        }
        lanes.setdefault(("email", "email"), (0, None))
        for backend, lane, count, first in backlog:
            key = ("email" if lane == "email" else backend, lane)
            before, earliest = lanes.get(key, (0, None))
            lanes[key] = (before + count, min(filter(None, (earliest, first)), default=None))
        for (backend, lane), (count, first) in sorted(lanes.items()):
            pending.add_metric([backend, lane], count)
            oldest.add_metric([backend, lane], max((now - first).total_seconds(), 0.0) if first else 0.0)
        for key, value in sorted(kv.items()):
            if key.startswith(MATRIX_SYNCED_AT):
                synced = datetime.fromisoformat(value)
                lag.add_metric([key[len(MATRIX_SYNCED_AT) :]], max((now - synced).total_seconds(), 0.0))
        yield from (chats, pending, oldest, failing, lag)


class _ThisProcess(Collector):
    """The metrics counted in this process (the default registry), when no multiprocess directory is set."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def exposition(engine: sa.Engine, clock: Clock) -> bytes:
    """One scrape: the counted metrics (of every process sharing the directory, if set) and the desk's gauges."""
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get(MULTIPROCESS_DIR):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ThisProcess())
    registry.register(DeskCollector(engine, clock))
    return generate_latest(registry)


def process_exited(pid: int) -> None:
    """gunicorn's child_exit hook: a dead web process's open streams no longer count."""
    if os.environ.get(MULTIPROCESS_DIR):
        multiprocess.mark_process_dead(pid)
