"""Scheduled housekeeping: idempotent, batched, and locked so two beats never run one job at once.

Each job is a function returning counts; `run(name)` runs one under its Redis lock.
Beat schedules them (celery_config.beat_schedule, `MAINTENANCE_JOBS` picks which);
`flask maintenance run NAME` runs one on demand.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from flask import current_app

from api.extensions.database import db
from api.extensions.redis import get_redis
from api.models import ChatSession, EmailToken, Message, RevokedToken, Task, utcnow
from api.services import activity_report, backups, tasks

log = logging.getLogger(__name__)

BATCH_SIZE = 1000
LOCK_SECONDS = 600
STALE_MARGIN = timedelta(minutes=2)


def run(job_name: str) -> dict[str, int]:
    """Run job `job_name` unless another process holds its lock; returns its counts."""
    job = JOBS[job_name]
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


def fail_stale_tasks() -> dict[str, int]:
    """Fail tasks no worker finished within the hard time limit plus a margin (lost or dead)."""
    return tasks.fail_stale_tasks(timedelta(seconds=current_app.config["TASK_TIME_LIMIT"]) + STALE_MARGIN)


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
    """Messages past retention, sessions left empty, and the chat tasks holding their answers' text."""
    cutoff = utcnow() - timedelta(days=current_app.config["HISTORY_RETENTION_DAYS"])
    answers = _delete_in_batches(Task.id, Task.kind == "chat", Task.created_at < cutoff)
    messages = _delete_in_batches(Message.id, Message.created_at < cutoff)
    has_messages = sa.exists().where(Message.session_id == ChatSession.id)
    sessions = _delete_in_batches(ChatSession.id, ChatSession.updated_at < cutoff, ~has_messages)
    return {"messages": messages, "sessions": sessions, "chat_tasks": answers}


def purge_task_records() -> dict[str, int]:
    """Finished task records (and their stored results) past `TASK_RETENTION_DAYS`."""
    cutoff = utcnow() - timedelta(days=current_app.config["TASK_RETENTION_DAYS"])
    finished = Task.state.in_(("succeeded", "failed"))
    return {"tasks": _delete_in_batches(Task.id, finished, Task.created_at < cutoff)}


def send_activity_report() -> dict[str, int]:
    return {"emails": activity_report.send_to_admins(activity_report.last_day())}


def backup_chat_data() -> dict[str, int]:
    folder = Path(current_app.config["BACKUP_DIR"])
    path, rows = backups.write_backup(folder)
    removed = backups.prune(folder, current_app.config["BACKUP_KEEP"])
    log.info("backup written to %s", path)
    return {"rows": rows, "old_backups_removed": removed}


JOBS: dict[str, Callable[[], dict[str, int]]] = {
    "fail_stale_tasks": fail_stale_tasks,
    "purge_expired_tokens": purge_expired_tokens,
    "purge_old_chat_history": purge_old_chat_history,
    "purge_task_records": purge_task_records,
    "activity_report": send_activity_report,
    "backup_chat_data": backup_chat_data,
}


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
