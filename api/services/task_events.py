"""Live task events over Redis: the worker publishes tokens, any API thread relays them.

Tokens are also appended to a list, so a client that connects late (or a
reconnecting one) replays what it missed; each event carries its position in
that list, so nothing is sent twice or skipped when the replay and the live
feed overlap.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from api.extensions.redis import get_redis

KEEP_SECONDS = 3600  # how long a finished task's tokens stay replayable


def _channel(task_id: str) -> str:
    return f"task:{task_id}:events"


def _tokens_key(task_id: str) -> str:
    return f"task:{task_id}:tokens"


class TokenPublisher:
    """Worker side: one per generation run."""

    def __init__(self, task_id: str) -> None:
        self.task_id = task_id
        self.redis = get_redis()
        # A redelivered task starts its answer again from the first token.
        self.redis.delete(_tokens_key(task_id))
        self.count = 0

    def token(self, text: str) -> None:
        pipe = self.redis.pipeline()
        pipe.rpush(_tokens_key(self.task_id), text)
        pipe.expire(_tokens_key(self.task_id), KEEP_SECONDS)
        pipe.publish(_channel(self.task_id), json.dumps({"type": "token", "seq": self.count}))
        pipe.execute()
        self.count += 1


def publish_finished(task_id: str, state: str) -> None:
    get_redis().publish(_channel(task_id), json.dumps({"type": state}))


class TaskSubscription:
    """API side: subscribe first, then replay, so no event falls between the two."""

    def __init__(self, task_id: str) -> None:
        self.task_id = task_id
        self.redis = get_redis()
        self.pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        self.pubsub.subscribe(_channel(task_id))
        self.sent = 0

    def new_tokens(self) -> list[str]:
        tokens = self.redis.lrange(_tokens_key(self.task_id), self.sent, -1)
        self.sent += len(tokens)
        return tokens

    def next_event(self, timeout: float) -> dict[str, Any] | None:
        """The next event, or None when `timeout` passes quietly."""
        message = self.pubsub.get_message(timeout=timeout)
        return json.loads(message["data"]) if message else None

    def close(self) -> None:
        self.pubsub.close()

    def __enter__(self) -> TaskSubscription:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def heartbeat() -> str:
    return ": keep-alive\n\n"


def iter_replayed(tokens: list[str]) -> Iterator[str]:
    for text in tokens:
        yield sse("token", {"text": text})
