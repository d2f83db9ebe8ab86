"""Status of background tasks, readable by their owner only."""

from __future__ import annotations

from flask import Response, stream_with_context
from flask_jwt_extended import current_user, jwt_required

from api.models import Task
from api.routes.base import Blueprint
from api.schemas.tasks import ResumeHeaders, TaskSchema
from api.services import chat, tasks
from api.services.stream_slots import StreamSlot

blp = Blueprint("tasks", __name__, url_prefix="/api/v1/tasks", description="Background tasks")


@blp.route("/<task_id>", methods=["GET"])
@jwt_required()
@blp.response(200, TaskSchema)
@blp.alt_response(404, description="unknown, or another user's task")
def get_task(task_id: str) -> Task:
    """A task's state and, once finished, its result or error."""
    return tasks.get_user_task(task_id, current_user.id)


# What a client parses from each event of the stream (heartbeats are comments, without data).
SERVER_SENT_EVENT = {
    "type": "object",
    "required": ["event", "data"],
    "properties": {
        "event": {"type": "string", "enum": ["token", "done", "error"]},
        "data": {
            "type": "string",
            "description": 'JSON: `{"text": "..."}` for a token; the task body for `done` and `error`',
        },
    },
}


@blp.route("/<task_id>/events", methods=["GET"])
@jwt_required()
@blp.arguments(ResumeHeaders, location="headers", as_kwargs=True)
@blp.response(
    200,
    SERVER_SENT_EVENT,
    content_type="text/event-stream",
    description="`token` events, then `done` (or `error`) with the task",
)
@blp.alt_response(404, description="unknown, or another user's task")
@blp.alt_response(429, description="too many open streams: the caller's, or the server's")
def task_events(task_id: str, last_event_id: int) -> Response:
    """Stream a chat answer as server-sent events, whenever the client connects."""
    tasks.get_user_task(task_id, current_user.id)  # 404 unless it is the caller's
    slot = StreamSlot.acquire(current_user.id)
    events = chat.stream_events(task_id, TaskSchema().dump, resume_after=last_event_id)
    response = Response(
        stream_with_context(events),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
    # Runs when the stream ends or its client leaves, whether or not an event was sent yet.
    response.call_on_close(slot.release)
    return response
