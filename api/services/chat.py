"""Chat requests on the API side: store the question, queue the answer, wait for it or stream it.

Nothing here touches a model: generation runs in the `chat` worker
(`api/services/chat_generation.py`).
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
from api.services import chat_sessions, tasks
from api.services.task_events import TaskSubscription, heartbeat, iter_replayed, sse
from workers.chat import generate_answer_task

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
    tasks.create_task(user.id, "chat", task_id=submitted.task_id)
    try:
        generate_answer_task.apply_async(
            args=[submitted.task_id, submitted.message_id], task_id=submitted.task_id
        )
    except Exception:  # the broker is down: say so now rather than leave a task queued forever
        tasks.mark_failed(submitted.task_id, "queue_unavailable", "The task queue is unavailable; try again.")
        raise
    return submitted


def wait_for(task_id: str, timeout: float) -> Task:
    """The task once finished, or as it is when `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    with TaskSubscription(task_id) as subscription:
        while _fresh(task_id).state not in FINISHED:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            event = subscription.next_event(min(remaining, 1.0))
            if event and event["type"] in FINISHED:
                break
    return _fresh(task_id)


def stream_events(task_id: str, serialize: Callable[[Task], dict[str, Any]]) -> Iterator[str]:
    """Server-sent events: the tokens so far, then live ones, then `done` (or `error`) with the task.

    Correct whether the client connects before, during or after generation. The
    task is read afresh each time: the worker is changing it meanwhile.
    """
    with TaskSubscription(task_id) as subscription:
        while True:
            task = _fresh(task_id)
            replay = subscription.new_tokens()
            if task.state in FINISHED:
                yield from _finish(task, subscription.sent - len(replay), replay, serialize)
                return
            yield from iter_replayed(replay)
            event = subscription.next_event(current_app.config["SSE_HEARTBEAT_SECONDS"])
            if event is None:
                yield heartbeat()


def _finish(
    task: Task, already_sent: int, replay: list[str], serialize: Callable[[Task], dict[str, Any]]
) -> Iterator[str]:
    if task.state == "succeeded":
        if already_sent == 0 and not replay:
            # Tokens have expired from Redis: the stored answer is the whole stream.
            replay = [task.result["answer"]]
        yield from iter_replayed(replay)
        yield sse("done", serialize(task))
    else:
        yield from iter_replayed(replay)
        yield sse("error", serialize(task))


def _fresh(task_id: str) -> Task:
    db.session.commit()  # end the read transaction, so this read sees the worker's latest write
    return db.session.get(Task, task_id, populate_existing=True)
