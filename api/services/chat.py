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
from api.services.task_events import TaskSubscription, heartbeat, iter_replayed, sse

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
        task = _fresh(task_id)
        while task.state not in FINISHED and (remaining := deadline - time.monotonic()) > 0:
            event = subscription.next_event(min(remaining, 1.0))
            if _may_have_finished(event):
                task = _fresh(task_id)
    return task


def stream_events(task_id: str, serialize: Callable[[Task], dict[str, Any]]) -> Iterator[str]:
    """Server-sent events: the tokens so far, then live ones, then `done` (or `error`) with the task.

    Correct whether the client connects before, during or after generation. The
    task row is read again only when an event or a quiet spell says it may have finished.
    """
    with TaskSubscription(task_id) as subscription:
        task = _fresh(task_id)
        while task.state not in FINISHED:
            yield from iter_replayed(subscription.new_tokens())
            event = subscription.next_event(current_app.config["SSE_HEARTBEAT_SECONDS"])
            if event is None:
                yield heartbeat()
            if _may_have_finished(event):
                task = _fresh(task_id)
        replay = subscription.new_tokens()
        yield from _finish(task, subscription.sent - len(replay), replay, serialize)


def _may_have_finished(event: dict[str, Any] | None) -> bool:
    """A finish event, or a quiet spell: then the database is asked, in case an event was lost."""
    return event is None or event["type"] in FINISHED


def _finish(
    task: Task, already_sent: int, replay: list[str], serialize: Callable[[Task], dict[str, Any]]
) -> Iterator[str]:
    if task.state == "succeeded":
        if task.kind == "chat" and already_sent == 0 and not replay:
            # Tokens have expired from Redis: the stored answer is the whole stream.
            # (An ingest task streams no tokens: its result has no answer to replay.)
            replay = [task.result["answer"]]
        yield from iter_replayed(replay)
        yield sse("done", serialize(task))
    else:
        yield from iter_replayed(replay)
        yield sse("error", serialize(task))


def _fresh(task_id: str) -> Task:
    db.session.commit()  # end the read transaction, so this read sees the worker's latest write
    return db.session.get(Task, task_id, populate_existing=True)
