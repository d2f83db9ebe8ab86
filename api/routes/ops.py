"""Liveness and readiness probes for load balancers and orchestrators; metrics for Prometheus."""

from __future__ import annotations

import marshmallow as ma
from flask import Response, request

from api.routes.base import PUBLIC, Blueprint
from api.services import health, metrics

blp = Blueprint("ops", __name__, description="Operations")


class HealthSchema(ma.Schema):
    status = ma.fields.String(metadata={"example": "ok", "description": "ok | degraded | unavailable"})


class ReadinessSchema(HealthSchema):
    checks = ma.fields.Dict(
        metadata={"description": "database, redis, workers, models, index: {ok, latency_ms | error, ...}"}
    )


@blp.route("/healthz", methods=["GET"])
@blp.doc(**PUBLIC)
@blp.response(200, HealthSchema)
def healthz() -> dict:
    """The process is up (touches no dependency)."""
    return {"status": "ok"}


@blp.route("/readyz", methods=["GET"])
@blp.doc(**PUBLIC)
@blp.response(200, ReadinessSchema)
@blp.alt_response(
    503,
    schema=ReadinessSchema,
    description="`unavailable`: the database or Redis is down; `degraded`: no worker can answer yet, "
    "or there are documents but no index built with the workers' embedding model",
)
def readyz() -> tuple[dict, int]:
    """Database, Redis and a worker that has loaded its models answer, and the index is current."""
    status, checks = health.readiness()
    return {"status": status, "checks": checks}, 200 if status == "ok" else 503


@blp.route("/metrics", methods=["GET"])
@blp.doc(**PUBLIC)
@blp.response(
    200,
    content_type="text/plain",
    description="Prometheus text format (OpenMetrics when asked): requests by route and status, "
    "latency histograms, tasks by kind and state, queue lengths",
)
def prometheus_metrics() -> Response:
    """Metrics for Prometheus to scrape; they name routes, statuses, queues and counts, no user or text."""
    body, content_type = metrics.exposition(request.headers.get("Accept"))
    return Response(body, content_type=content_type)
