"""Chat data backups: accounts, sessions and messages as gzip JSON lines, and their restore.

One line per row, `{"table": ..., "row": {...}}`, parents before children, so a
restore into an empty database inserts in file order. Accounts are included
(sessions belong to them); the file is as sensitive as the database: it is
written readable by its owner only.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from api.extensions.database import db
from api.models import ChatSession, Message, User, UtcDateTime, utcnow

TABLES = (User.__table__, ChatSession.__table__, Message.__table__)  # parents first
PATTERN = "chat-backup-*.jsonl.gz"
BATCH = 1000


class RestoreRefusedError(Exception):
    """The target database already holds chat data: a restore would mix two histories."""


def write_backup(folder: Path) -> tuple[Path, int]:
    """Write a new backup file into `folder`; returns its path and the number of rows."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"chat-backup-{utcnow():%Y%m%dT%H%M%S%fZ}.jsonl.gz"
    partial = path.with_suffix(".partial")
    rows = 0
    with (
        open(partial, "wb", opener=lambda name, flags: os.open(name, flags, 0o600)) as raw,
        gzip.open(raw, "wt", encoding="utf-8") as out,
    ):
        for table in TABLES:
            for row in _rows(table):
                out.write(json.dumps({"table": table.name, "row": row}, ensure_ascii=False) + "\n")
                rows += 1
    partial.rename(path)  # a reader never sees half a backup
    return path, rows


def prune(folder: Path, keep: int) -> int:
    """Delete all but the newest `keep` backups; returns how many went."""
    doomed = sorted(folder.glob(PATTERN))[:-keep] if keep > 0 else []
    for path in doomed:
        path.unlink()
    return len(doomed)


def restore(path: Path) -> dict[str, int]:
    """Load a backup into a database holding no accounts, sessions or messages; counts per table."""
    if any(db.session.scalar(sa.select(sa.func.count()).select_from(table)) for table in TABLES):
        raise RestoreRefusedError("the database already has accounts, sessions or messages")
    counts = {table.name: 0 for table in TABLES}
    tables = {table.name: table for table in TABLES}
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            entry = json.loads(line)
            table = tables[entry["table"]]
            db.session.execute(sa.insert(table).values(_from_json(table, entry["row"])))
            counts[table.name] += 1
    for table in TABLES:  # new rows must not collide with the restored ids
        db.session.execute(
            sa.text(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), COALESCE(MAX(id), 1)) "
                f"FROM {table.name}"
            )
        )
    db.session.commit()
    return counts


def _rows(table: sa.Table) -> Iterator[dict[str, Any]]:
    query = sa.select(table).order_by(table.c.id).execution_options(yield_per=BATCH)
    for row in db.session.execute(query).mappings():
        yield {
            name: value.isoformat() if isinstance(value, datetime) else value for name, value in row.items()
        }


def _from_json(table: sa.Table, row: dict[str, Any]) -> dict[str, Any]:
    return {
        name: datetime.fromisoformat(value)
        if value is not None and isinstance(table.c[name].type, UtcDateTime)
        else value
        for name, value in row.items()
    }
