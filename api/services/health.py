"""Readiness: can this instance serve? Database, Redis and at least one worker must answer."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from flask import current_app

from api.extensions.database import db
from api.extensions.redis import get_redis


def readiness() -> tuple[bool, dict[str, dict[str, Any]]]:
    checks = {
        "database": _timed(lambda: db.session.execute(sa.text("SELECT 1"))),
        "redis": _timed(lambda: get_redis().ping()),
        "workers": _timed(_ping_workers),
    }
    return all(check["ok"] for check in checks.values()), checks


def _ping_workers() -> dict[str, Any]:
    celery = current_app.extensions["celery"]
    replies = celery.control.ping(timeout=current_app.config["READYZ_WORKER_TIMEOUT"], limit=1)
    if not replies:
        raise RuntimeError("no worker answered a ping")
    return {"answered": [name for reply in replies for name in reply]}


def _timed(check: Callable[[], Any]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        outcome = check()
    except Exception as error:  # any failure means "not ready", reported with its reason
        db.session.rollback()
        return {"ok": False, "error": f"{type(error).__name__}: {error}"[:300]}
    result = {"ok": True, "latency_ms": round((time.perf_counter() - started) * 1000, 1)}
    if isinstance(outcome, dict):
        result.update(outcome)
    return result
