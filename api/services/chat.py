"""Chat requests on the API side: store the question, queue the answer, wait for it or stream it.

Nothing here touches a model: generation runs in the `chat` worker
(`workers/knowledge/answers.py`).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from flask import current_app

from api.extensions.database import db
from api.models import Task, User
from api.services import chat_sessions, queue, tasks
from api.services.task_events import TaskSubscription, heartbeat, reconnect, sse, token_event

FINISHED = ("succeeded", "failed")


@dataclass(frozen=True)
class Submitted:
    task_id: str
    session_id: int
    message_id: int


def submit(user: User, message: str, session_id: int | None = None) -> Submitted:
    """Store the user's message (in a new session when none is given) and queue the answer."""
    if session_id is None:
        session = chat_sessions.create_session(user, chat_sessions.title_from(message), commit=False)
    else:
        session = chat_sessions.get_session(user, session_id)
    # One transaction for session, question and task: the request's only round of writes.
    question = chat_sessions.add_message(session, "user", message, commit=False)
    db.session.flush()
    # Read the ids before the commit expires the objects (each read after it is a SELECT).
    submitted = Submitted(str(uuid.uuid4()), session.id, question.id)
    tasks.create_task(user.id, "chat", task_id=submitted.task_id, session_id=submitted.session_id)
    try:
        queue.send(queue.GENERATE_ANSWER, submitted.task_id, submitted.message_id, task_id=submitted.task_id)
    except Exception:  # the broker is down: say so now rather than leave a task queued forever
        tasks.mark_failed(submitted.task_id, "queue_unavailable", "The task queue is unavailable; try again.")
        raise
    return submitted


def wait_for(task_id: str, timeout: float) -> Task:
    """The task once finished, or as it is when `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    with TaskSubscription(task_id) as subscription:
        watched = WatchedTask(task_id)
        while not watched.finished and (remaining := deadline - time.monotonic()) > 0:
            watched.after(subscription.next_event(remaining))
    return watched.task


def stream_events(
    task_id: str, serialize: Callable[[Task], dict[str, Any]], resume_after: int = 0
) -> Iterator[str]:
    """Server-sent events: the tokens so far, then live ones, then `done` (or `error`) with the task.

    Correct whether the client connects before, during or after generation, and when it
    reconnects: `resume_after` (its Last-Event-ID) skips the tokens it has. The task row is
    read again only when an event or a quiet spell says it may have finished. A stream lasts
    at most SSE_MAX_STREAM_SECONDS; then the client is told to reconnect.
    """
    # Subscribed now, before the response starts: a Redis failure is still a 503, not a broken stream.
    return _events(TaskSubscription(task_id, resume_after), serialize)


def _events(subscription: TaskSubscription, serialize: Callable[[Task], dict[str, Any]]) -> Iterator[str]:
    config, task_id = current_app.config, subscription.task_id
    ends_at = time.monotonic() + config["SSE_MAX_STREAM_SECONDS"]
    with subscription:
        watched = WatchedTask(task_id)
        while not watched.finished:
            yield from subscription.token_events()
            if (remaining := ends_at - time.monotonic()) <= 0:
                yield reconnect()
                return
            event = subscription.next_event(min(config["SSE_HEARTBEAT_SECONDS"], remaining))
            if event is None:
                yield heartbeat()
            watched.after(event)
        yield from _finish(watched.task, subscription, serialize)


class WatchedTask:
    """A task row, read again when a finish event says so, or after a quiet spell in case an event
    was lost (a Redis reconnect): not on every heartbeat, which thousands of streams would make
    a steady load on the database."""

    QUIET_RECHECK_SECONDS = 30.0

    def __init__(self, task_id: str) -> None:
        self.task_id = task_id
        self._read()

    @property
    def finished(self) -> bool:
        return self.task.state in FINISHED

    def after(self, event: dict[str, Any] | None) -> None:
        if event is None:
            quiet_long_enough = time.monotonic() - self.read_at >= self.QUIET_RECHECK_SECONDS
            if quiet_long_enough:
                self._read()
        elif event["type"] in FINISHED:
            self._read()

    def _read(self) -> None:
        self.task = _fresh(self.task_id)
        self.read_at = time.monotonic()


def _finish(
    task: Task, subscription: TaskSubscription, serialize: Callable[[Task], dict[str, Any]]
) -> Iterator[str]:
    nothing_sent_before = subscription.sent == 0
    replay = subscription.token_events()
    if task.state == "succeeded":
        if task.kind == "chat" and nothing_sent_before and not replay:
            # Tokens have expired from Redis: the stored answer is the whole stream.
            # (An ingest task streams no tokens: its result has no answer to replay.)
            replay = [token_event(task.result["answer"], 1)]
        yield from replay
        yield sse("done", serialize(task))
    else:
        yield from replay
        yield sse("error", serialize(task))


def _fresh(task_id: str) -> Task:
    """The task as the worker last wrote it, holding no database connection afterwards.

    Streams and waits are many and long, connections few: between reads the connection
    goes back to the pool (the task's columns stay loaded on the detached object).
    """
    db.session.commit()  # end the read transaction, so this read sees the worker's latest write
    task = db.session.get(Task, task_id, populate_existing=True)
    db.session.close()
    return task
