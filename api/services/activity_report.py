"""The daily activity report for administrators: what happened in the last 24 hours."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from api.extensions.database import db
from api.models import Document, Task, User, utcnow
from api.services import queue


def last_day() -> dict[str, Any]:
    """Signups, chats, documents, failures and answer latency since this time yesterday."""
    until = utcnow()
    since = until - timedelta(days=1)
    latencies = sorted(
        task.result["timings"]["total_ms"]
        for task in db.session.scalars(
            sa.select(Task).where(Task.kind == "chat", Task.state == "succeeded", Task.created_at >= since)
        )
    )
    return {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "signups": _count(User, User.created_at >= since),
        "chats": _count(Task, Task.kind == "chat", Task.created_at >= since),
        "documents": _count(Document, Document.created_at >= since),
        "failed_chats": _count(Task, Task.kind == "chat", Task.state == "failed", Task.created_at >= since),
        "failed_ingests": _count(
            Task, Task.kind == "ingest", Task.state == "failed", Task.created_at >= since
        ),
        "answer_ms_p50": _percentile(latencies, 50),
        "answer_ms_p95": _percentile(latencies, 95),
    }


def send_to_admins(report: dict[str, Any]) -> int:
    """Queue the report to every administrator (the email queue retries while SMTP is down)."""
    admins = db.session.scalars(sa.select(User.id).where(User.is_admin)).all()
    for admin_id in admins:
        queue.send(queue.SEND_ACTIVITY_REPORT, admin_id, report)
    return len(admins)


def _count(model: type, *conditions: sa.ColumnElement[bool]) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*conditions))


def _percentile(sorted_values: list[float], percent: int) -> float | None:
    """Nearest-rank percentile; None when there is nothing to rank."""
    if not sorted_values:
        return None
    rank = max(1, -(-percent * len(sorted_values) // 100))  # ceil(p/100 * n)
    return round(sorted_values[rank - 1], 1)
