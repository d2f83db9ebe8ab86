"""How many event streams are open, per user and in all, across every API process.

An open stream holds one member in two Redis sorted sets, scored by the time its
stream must have ended by. Members past that time are dropped before each count,
so a process killed mid-stream frees its slots within one stream lifetime.
"""

from __future__ import annotations

import logging
import time
import uuid

import redis
from flask import current_app

from api.errors import ApiError
from api.extensions.redis import get_redis

log = logging.getLogger(__name__)

ALL_STREAMS = "streams:open"

# Drop the expired members, then add this one only if both counts leave room: one atomic step,
# so two processes racing for the last slot cannot both take it.
ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[4]) then return 1 end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[5]) then return 2 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
redis.call('EXPIREAT', KEYS[2], math.ceil(tonumber(ARGV[2])))
return 0
"""
REFUSALS = {
    1: "You have too many open event streams; close one or poll the task instead.",
    2: "The server has too many open event streams; poll the task or try again shortly.",
}
# How long after its lifetime a stream may still be writing its last events.
GRACE_SECONDS = 30


class StreamSlot:
    """One open stream's place in the counts; `release()` when the stream ends."""

    def __init__(self, user_id: int) -> None:
        self.user_key = f"streams:open:user:{user_id}"
        self.member = uuid.uuid4().hex
        # Held, not looked up: the release runs as the response closes, after the app context.
        self.redis = get_redis()

    @classmethod
    def acquire(cls, user_id: int) -> StreamSlot:
        """A slot for a new stream of `user_id`; 429 `rate_limited` when either count is full."""
        config = current_app.config
        slot = cls(user_id)
        now = time.time()
        must_end_by = now + config["SSE_MAX_STREAM_SECONDS"] + GRACE_SECONDS
        refused = slot.redis.eval(
            ACQUIRE,
            2,
            ALL_STREAMS,
            slot.user_key,
            now,
            must_end_by,
            slot.member,
            config["SSE_MAX_STREAMS_PER_USER"],
            config["SSE_MAX_STREAMS"],
        )
        if refused:
            raise ApiError(429, "rate_limited", REFUSALS[refused], retry_after=10)
        return slot

    def release(self) -> None:
        pipe = self.redis.pipeline()
        pipe.zrem(ALL_STREAMS, self.member)
        pipe.zrem(self.user_key, self.member)
        try:
            pipe.execute()
        except redis.RedisError:  # the member expires with its lifetime anyway
            log.warning("could not release an event-stream slot", exc_info=True)
