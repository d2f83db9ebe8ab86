"""Prometheus metrics of the API: requests by route and status and their latency, plus, read at
scrape time, tasks by kind and state (PostgreSQL) and the messages waiting in each Celery queue.

gunicorn runs several worker processes, and a scrape reaches only one of them. Under gunicorn
the request metrics therefore live in prometheus_client's multiprocess files
(`PROMETHEUS_MULTIPROC_DIR`, which gunicorn.conf.py sets before any worker starts) and every
scrape adds up all processes; elsewhere (the Flask test client, `flask run`) they live in
this process. Labels hold route rules, methods, statuses, task kinds and queue names only:
never a raw path, a user or a text.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from itertools import product

import redis
import sqlalchemy.exc
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

from api.extensions.database import db
from api.services import queue, tasks

log = logging.getLogger(__name__)

UNMATCHED_ROUTE = "unmatched"  # the route label of a request no URL rule matched (404, 405)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Up to 60 s: `POST /chat?wait=` holds a request that long.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
UNREADABLE = (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError, redis.RedisError)

_request_registry = CollectorRegistry()
REQUESTS = Counter(
    "ragbot_http_requests",
    "HTTP requests answered, by method, route rule and status code",
    ("method", "route", "status"),
    registry=_request_registry,
)
LATENCY = Histogram(
    "ragbot_http_request_duration_seconds",
    "Seconds until the response started, by method and route rule",
    ("method", "route"),
    buckets=LATENCY_BUCKETS,
    registry=_request_registry,
)


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    method = method if method in METHODS else "other"  # any token is a valid method: keep the set bounded
    REQUESTS.labels(method, route, str(status)).inc()
    LATENCY.labels(method, route).observe(seconds)


def exposition(accept: str | None) -> tuple[bytes, str]:
    """The metrics in the format the scraper asked for (Prometheus text or OpenMetrics), and its type."""
    encode, content_type = choose_encoder(accept or "")
    return encode(_scrape_registry()), content_type


def _scrape_registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    else:
        registry.register(_request_registry)
    registry.register(StateCollector())
    return registry


class StateCollector:
    """What is true now, read once per scrape: one grouped query and one Redis round trip."""

    def collect(self) -> Iterator[Metric]:
        readable = GaugeMetricFamily(
            "ragbot_metrics_source_up", "1 when this scrape could read the source, else 0", labels=["source"]
        )
        for source, read in (("database", _tasks_by_kind_and_state), ("broker", _queue_lengths)):
            try:
                family = read()
            except UNREADABLE as error:  # the request metrics are still worth serving
                log.warning("metrics: cannot read the %s: %s", source, error)
                db.session.rollback()
                readable.add_metric([source], 0)
            else:
                readable.add_metric([source], 1)
                yield family
        yield readable


def _tasks_by_kind_and_state() -> GaugeMetricFamily:
    family = GaugeMetricFamily(
        "ragbot_tasks", "Chat and ingest tasks by kind and state (the tasks table)", labels=["kind", "state"]
    )
    counts = dict.fromkeys(product(tasks.KINDS, tasks.STATES), 0) | tasks.count_by_kind_and_state()
    for (kind, state), count in sorted(counts.items()):
        family.add_metric([kind, state], count)
    return family


def _queue_lengths() -> GaugeMetricFamily:
    family = GaugeMetricFamily(
        "ragbot_queue_length", "Messages waiting in each Celery queue on the broker", labels=["queue"]
    )
    for name, length in queue.queue_lengths().items():
        family.add_metric([name], length)
    return family
