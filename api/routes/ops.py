"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

import marshmallow as ma

from api.routes.base import PUBLIC, Blueprint
from api.services import health

blp = Blueprint("ops", __name__, description="Operations")


class HealthSchema(ma.Schema):
    status = ma.fields.String(metadata={"example": "ok"})


class ReadinessSchema(HealthSchema):
    checks = ma.fields.Dict(metadata={"description": "database, redis, workers: {ok, latency_ms | error}"})


@blp.route("/healthz", methods=["GET"])
@blp.doc(**PUBLIC)
@blp.response(200, HealthSchema)
def healthz() -> dict:
    """The process is up (touches no dependency)."""
    return {"status": "ok"}


@blp.route("/readyz", methods=["GET"])
@blp.doc(**PUBLIC)
@blp.response(200, ReadinessSchema)
@blp.alt_response(503, schema=ReadinessSchema, description="a dependency is down")
def readyz() -> tuple[dict, int]:
    """Database, Redis and at least one worker answer."""
    ready, checks = health.readiness()
    return {"status": "ok" if ready else "unavailable", "checks": checks}, 200 if ready else 503
