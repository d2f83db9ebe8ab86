"""Readiness: can this deployment serve? Database, Redis, a worker, a worker that loaded its models,
and a search index built with the workers' embedding model.

Workers record whether their models and index loaded, and which models
(`record_worker_models`, called from `workers/celery.py`), so a worker that answers pings
but cannot answer questions shows as `degraded` instead of `ok`.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import redis
import sqlalchemy as sa
from flask import current_app

from api.extensions.database import db
from api.extensions.redis import get_redis
from api.models import Document, utcnow
from api.services.index_manifest import read_manifest, summary

# One key per worker hostname: {"ok", "error", "at", "llm": {...}, "embedding_model"}
WORKER_REPORT_PREFIX = "workers:models:"
REPORT_SECONDS = 60  # a report lives this long unless renewed...
RENEW_SECONDS = 15  # ...and its worker renews it this often
ESSENTIAL = ("database", "redis")
# What /readyz says when a check fails: the probe is public, so it names the failing part and no
# more; the exception itself (host names, driver messages, paths) goes to the log.
GENERIC_REASONS = {
    "database": "the database did not answer",
    "redis": "Redis did not answer",
    "workers": "no worker answered a ping",
    "models": "no running worker has loaded its models and index",
    "index": "the search index is not usable",
}


class NotReadyError(RuntimeError):
    """A failed check whose message was written for the public probe (no exception text in it)."""


log = logging.getLogger(__name__)


def readiness() -> tuple[str, dict[str, dict[str, Any]]]:
    """("ok" | "degraded" | "unavailable", the checks); degraded: up, but chats cannot be answered."""
    checks = {
        "database": _timed("database", lambda: db.session.execute(sa.text("SELECT 1"))),
        "redis": _timed("redis", lambda: get_redis().ping()),
    }
    reports = worker_reports() if checks["redis"]["ok"] else {}
    checks["workers"] = _timed("workers", lambda: _ping_workers(reports))
    answering = checks["workers"].get("answered", [])
    checks["models"] = _timed("models", lambda: _models_loaded(answering, reports))
    checks["index"] = _timed("index", lambda: _index_current([reports[n] for n in answering if n in reports]))
    if all(check["ok"] for check in checks.values()):
        return "ok", checks
    return ("degraded" if all(checks[name]["ok"] for name in ESSENTIAL) else "unavailable"), checks


def record_worker_models(
    hostname: str, error: str | None = None, models: dict[str, Any] | None = None
) -> None:
    """A worker process says whether it loaded its models and index (`error` when it could not),
    and which: `models` = {"llm": {"backend", "model", "context_size", "loaded"}, "embedding_model"}.

    The record expires unless renewed, so a worker killed outright drops out of /readyz and a
    flushed Redis is filled again: the reporting process renews it from a background thread.
    """
    report = json.dumps({"ok": error is None, "error": error, "at": utcnow().isoformat(), **(models or {})})
    client, key = get_redis(), WORKER_REPORT_PREFIX + hostname
    client.set(key, report, ex=REPORT_SECONDS)
    threading.Thread(target=_renew, args=(client, key, report), name="readiness-report", daemon=True).start()


def forget_worker(hostname: str) -> None:
    get_redis().delete(WORKER_REPORT_PREFIX + hostname)


def worker_reports() -> dict[str, dict[str, Any]]:
    """What each running worker recorded about its models, by hostname."""
    client = get_redis()
    keys = list(client.scan_iter(match=WORKER_REPORT_PREFIX + "*", count=100))
    reports = zip(keys, client.mget(keys), strict=True) if keys else ()
    return {key.removeprefix(WORKER_REPORT_PREFIX): json.loads(value) for key, value in reports if value}


def _renew(client: redis.Redis, key: str, report: str) -> None:
    while True:
        time.sleep(RENEW_SECONDS)
        try:
            client.set(key, report, ex=REPORT_SECONDS)
        except redis.RedisError as error:  # Redis is down; the next round tries again
            log.warning("could not renew the readiness report %s: %s", key, error)


def _ping_workers(reports: dict[str, dict[str, Any]]) -> dict[str, Any]:
    celery = current_app.extensions["celery"]
    # Stop waiting once as many workers answered as say they are loaded (one at least).
    expected = max(1, sum(bool(report["ok"]) for report in reports.values()))
    replies = celery.control.ping(timeout=current_app.config["READYZ_WORKER_TIMEOUT"], limit=expected)
    if not replies:
        raise NotReadyError(GENERIC_REASONS["workers"])
    return {"answered": sorted(name for reply in replies for name in reply)}


def _models_loaded(answering: list[str], reports: dict[str, dict[str, Any]]) -> dict[str, Any]:
    loaded = [name for name in answering if reports.get(name, {}).get("ok")]
    if not loaded:
        errors = {name: reports[name]["error"] for name in answering if name in reports}
        log.warning("readiness: no worker has loaded its models: %s", errors or "not yet")
        raise NotReadyError(GENERIC_REASONS["models"] + ("" if errors else " yet"))
    return {"loaded": loaded}


def _index_current(running_workers: list[dict[str, Any]]) -> dict[str, Any]:
    """The index exists and was built with the running workers' embedding model; or nothing is indexed."""
    manifest = read_manifest(current_app.config["INDEX_DIR"])
    if manifest is None:
        if _has_documents():
            raise NotReadyError("there are documents but no search index yet (a worker builds it on start)")
        return summary(manifest)
    embedders = {w["embedding_model"] for w in running_workers if w.get("embedding_model")}
    if embedders and manifest["model_id"] not in embedders and _has_documents():
        workers_use = ", ".join(sorted(embedders))
        log.warning(
            "readiness: index built with %s; the workers embed with %s", manifest["model_id"], workers_use
        )
        raise NotReadyError("the index was built with another embedding model than the workers use")
    return summary(manifest)


def _has_documents() -> bool:
    return bool(db.session.scalar(sa.select(sa.select(Document.id).exists())))


def _timed(name: str, check: Callable[[], Any]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        outcome = check()
    except NotReadyError as error:
        db.session.rollback()
        return {"ok": False, "error": str(error)}
    except Exception as error:  # any failure means "not ready": the detail goes to the log only
        db.session.rollback()
        log.warning("readiness check %s failed: %s: %s", name, type(error).__name__, error)
        return {"ok": False, "error": GENERIC_REASONS[name]}
    result = {"ok": True, "latency_ms": round((time.perf_counter() - started) * 1000, 1)}
    if isinstance(outcome, dict):
        result.update(outcome)
    return result
