"""`search` queue: ranked chunks for POST /api/v1/search, on its own queue so a search never
waits behind long generations. The caller waits on a Redis list for the reply
(`api.services.queue.ask`), not on Celery's result backend."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from celery import shared_task

from api.extensions.redis import get_redis
from workers.failures import ends_failed_on_error
from workers.knowledge.queries import search

REPLY_KEEP_SECONDS = 60  # a caller that gave up leaves its reply behind this long


@shared_task(ignore_result=True)
@ends_failed_on_error
def search_task(query: str, owner_id: int, k: int, reply_to: str) -> None:
    with replying(reply_to) as reply:
        reply["results"] = [
            {
                "document_id": hit.record.document_id,
                "title": hit.record.title,
                "chunk_id": hit.record.chunk_id,
                "snippet": hit.record.text[:300],
                "score": round(hit.similarity, 4),
            }
            for hit in search(query, owner_id=owner_id, k=k)
        ]


@contextmanager
def replying(reply_to: str) -> Iterator[dict[str, Any]]:
    """Push the reply the block fills in, or `{"ok": false}` when the block raises (then re-raise)."""
    reply: dict[str, Any] = {}
    try:
        yield reply
        reply["ok"] = True
    except BaseException:
        reply = {"ok": False}
        raise
    finally:
        pipe = get_redis().pipeline()
        pipe.rpush(reply_to, json.dumps(reply))
        pipe.expire(reply_to, REPLY_KEEP_SECONDS)
        pipe.execute()
