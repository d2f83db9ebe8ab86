"""Keyset pagination: `{"items": [...], "next_cursor": ...}`, newest first, stable under inserts.

A cursor encodes the (timestamp, id) of the last item served; the next page
starts strictly after it, so a row added meanwhile never shifts a page.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from api.errors import validation_error
from api.extensions.database import db


def encode_cursor(moment: datetime, row_id: int) -> str:
    return base64.urlsafe_b64encode(f"{moment.isoformat()}|{row_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, row_id = raw.rsplit("|", 1)
        return datetime.fromisoformat(moment), int(row_id)
    except (ValueError, UnicodeDecodeError) as error:
        raise validation_error("cursor", "Not a cursor this API returned.") from error


def newest_first_page(
    query: sa.Select, timestamp: sa.Column, key: sa.Column, limit: int, cursor: str | None
) -> tuple[list[Any], str | None]:
    """One page of `query` ordered by (timestamp, key) descending, and the cursor of the next one."""
    if cursor:
        moment, row_id = decode_cursor(cursor)
        query = query.where(sa.tuple_(timestamp, key) < sa.tuple_(moment, row_id))
    rows = list(db.session.scalars(query.order_by(timestamp.desc(), key.desc()).limit(limit + 1)))
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], encode_cursor(getattr(last, timestamp.key), getattr(last, key.key))
