"""Scheduled clean-ups: idempotent, batched, and locked so two beats never run one job at once."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from api.extensions.database import db
from api.extensions.redis import get_redis
from api.models import ChatSession, EmailToken, Message, RevokedToken, utcnow

log = logging.getLogger(__name__)

BATCH_SIZE = 1000
LOCK_SECONDS = 600


def run_locked(job_name: str, job: Callable[[], dict[str, int]]) -> dict[str, int]:
    """Run `job` unless another process holds its lock; returns what it deleted."""
    lock = get_redis().lock(f"lock:housekeeping:{job_name}", timeout=LOCK_SECONDS, blocking=False)
    if not lock.acquire():
        log.info("%s is already running elsewhere; skipped", job_name)
        return {"skipped": 1}
    try:
        counts = job()
        log.info("%s: %s", job_name, counts)
        return counts
    finally:
        lock.release()


def purge_expired_tokens() -> dict[str, int]:
    now = utcnow()
    # Used tokens are kept a day for support questions ("my link did not work").
    email_tokens = _delete_in_batches(
        EmailToken.id,
        sa.or_(EmailToken.expires_at <= now, EmailToken.used_at <= now - timedelta(days=1)),
    )
    revoked = _delete_in_batches(RevokedToken.jti, RevokedToken.expires_at <= now)
    return {"email_tokens": email_tokens, "revoked_tokens": revoked}


def purge_old_chat_history() -> dict[str, int]:
    cutoff = utcnow() - timedelta(days=current_app.config["HISTORY_RETENTION_DAYS"])
    messages = _delete_in_batches(Message.id, Message.created_at < cutoff)
    has_messages = sa.exists().where(Message.session_id == ChatSession.id)
    sessions = _delete_in_batches(ChatSession.id, ChatSession.updated_at < cutoff, ~has_messages)
    return {"messages": messages, "sessions": sessions}


def _delete_in_batches(key: sa.Column, *conditions: sa.ColumnElement[bool]) -> int:
    """Delete matching rows a batch at a time, so no long lock blocks the API."""
    table = key.table
    total = 0
    while True:
        batch = sa.select(key).where(*conditions).limit(BATCH_SIZE).scalar_subquery()
        deleted = db.session.execute(sa.delete(table).where(key.in_(batch))).rowcount
        db.session.commit()
        total += deleted
        if deleted < BATCH_SIZE:
            return total
