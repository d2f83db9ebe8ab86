"""Every task ends. Whatever a task raises, the task record ends `failed` with a code and a
message fit for users (the details go to the log), and a message that keeps coming back
(its worker died on it each time) is given up after a bounded number of deliveries.

The Celery task id is the task record's id (`api/services/queue.py` sends it so);
tasks with no record (search) are bounded and logged the same way.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from celery import current_task
from celery.exceptions import SoftTimeLimitExceeded
from flask import current_app

from api.extensions.database import db
from api.extensions.redis import get_redis
from api.services import tasks
from rag.llm.base import LLMUnavailable
from rag.parsing import UnreadableDocument

log = logging.getLogger(__name__)

INTERNAL_ERROR = "Something went wrong on our side while running this task; it has been logged. Try again."
DELIVERY_COUNT_SECONDS = 24 * 3600

Run = TypeVar("Run", bound=Callable[..., Any])


def failure_of(error: BaseException) -> tuple[str, str]:
    """The (code, user message) that a task's record shows for `error`."""
    if isinstance(error, SoftTimeLimitExceeded):
        return "timeout", "The task took too long and was stopped."
    if isinstance(error, LLMUnavailable):
        return "llm_unavailable", str(error)
    if isinstance(error, UnreadableDocument):
        return "unreadable_document", str(error)
    return "internal_error", INTERNAL_ERROR


def ends_failed_on_error(run: Run) -> Run:
    """Wrap a task's body (below `@shared_task`): every way out leaves the record finished."""

    @functools.wraps(run)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        request = current_task.request
        deliveries = count_delivery(request.id, request.retries)
        limit = current_app.config["TASK_MAX_DELIVERIES"]
        if deliveries > limit:
            log.error("task %s (%s) delivered %d times; giving up", request.id, current_task.name, deliveries)
            tasks.mark_failed(
                request.id, "too_many_attempts", f"The task failed {limit} times in a row and was stopped."
            )
            return None
        try:
            return run(*args, **kwargs)
        except Exception as error:
            db.session.rollback()
            code, message = failure_of(error)
            report = log.exception if code == "internal_error" else log.warning
            report("task %s (%s) failed: %s: %s", request.id, current_task.name, code, error)
            tasks.mark_failed(request.id, code, message)
            raise

    return wrapper  # type: ignore[return-value]


def count_delivery(task_id: str, retries: int) -> int:
    """How many times this message (this retry of it) has been delivered, this time included."""
    key = f"task:{task_id}:deliveries:{retries}"
    pipe = get_redis().pipeline()
    pipe.incr(key)
    pipe.expire(key, DELIVERY_COUNT_SECONDS)
    return pipe.execute()[0]
