"""Live task events over Redis: the worker publishes tokens, any API thread relays them.

Tokens are also appended to a list, so a client that connects late (or a
reconnecting one) replays what it missed; each event carries its position in
that list, so nothing is sent twice or skipped when the replay and the live
feed overlap.
"""

from __future__ import annotations

import json
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
    """API side: subscribe first, then replay, so no event falls between the two.

    `resume_after` is the id of the last token event a reconnecting client got
    (its `Last-Event-ID`): the replay starts after it.
    """

    def __init__(self, task_id: str, resume_after: int = 0) -> None:
        self.task_id = task_id
        self.redis = get_redis()
        self.pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        self.pubsub.subscribe(_channel(task_id))
        self.sent = resume_after

    def token_events(self) -> list[str]:
        """`token` events for the tokens not sent yet; an event's id is its token's position, from 1."""
        tokens = self.redis.lrange(_tokens_key(self.task_id), self.sent, -1)
        events = [token_event(text, self.sent + n) for n, text in enumerate(tokens, start=1)]
        self.sent += len(tokens)
        return events

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


def sse(event: str, data: Any, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def token_event(text: str, position: int) -> str:
    return sse("token", {"text": text}, event_id=position)


def heartbeat() -> str:
    return ": keep-alive\n\n"


def reconnect() -> str:
    """The stream's lifetime is over: a client reconnects (with Last-Event-ID) to go on."""
    return ": stream lifetime reached, reconnect\nretry: 1000\n\n"
