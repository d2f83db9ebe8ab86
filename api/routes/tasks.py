"""Status of background tasks, readable by their owner only."""

from __future__ import annotations

from flask_jwt_extended import current_user, jwt_required

from api.models import Task
from api.routes.base import Blueprint
from api.schemas.tasks import TaskSchema
from api.services import tasks

blp = Blueprint("tasks", __name__, url_prefix="/api/v1/tasks", description="Background tasks")


@blp.route("/<task_id>", methods=["GET"])
@jwt_required()
@blp.response(200, TaskSchema)
@blp.alt_response(404, description="unknown, or another user's task")
def get_task(task_id: str) -> Task:
    """A task's state and, once finished, its result or error."""
    return tasks.get_user_task(task_id, current_user.id)
