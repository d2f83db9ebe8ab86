"""Service statistics for administrators, and the language model in use for every user."""

from __future__ import annotations

from flask_jwt_extended import jwt_required

from api.routes.base import Blueprint, admin_required
from api.schemas.system import LlmSchema, StatsSchema
from api.services import system

blp = Blueprint("admin", __name__, url_prefix="/api/v1", description="Administration and system information")


@blp.route("/admin/stats", methods=["GET"])
@admin_required
@blp.response(200, StatsSchema)
@blp.alt_response(403, description="the caller is not an administrator")
def admin_stats() -> dict:
    """Counts of users, sessions, messages, documents and chunks; queue lengths; the index version."""
    return system.service_stats()


@blp.route("/system/llm", methods=["GET"])
@jwt_required()
@blp.response(200, LlmSchema)
def system_llm() -> dict:
    """The LLM backend, model and context size the workers use, and whether a worker has it loaded."""
    return system.llm_status()
