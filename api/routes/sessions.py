"""Chat sessions, their export, and the message history across sessions."""

from __future__ import annotations

from flask import Response
from flask_jwt_extended import current_user, jwt_required

from api.routes.base import Blueprint
from api.schemas.chat import (
    CreateSessionRequest,
    ExportQuery,
    HistoryQuery,
    MessagePage,
    PageQuery,
    RenameSessionRequest,
    SessionDetailSchema,
    SessionPage,
    SessionSchema,
)
from api.services import chat_sessions

blp = Blueprint("sessions", __name__, url_prefix="/api/v1", description="Chat sessions and history")


def _with_counts(sessions: list) -> list[dict]:
    counts = chat_sessions.message_counts(sessions)
    fields = ("id", "title", "created_at", "updated_at")
    return [{**{f: getattr(s, f) for f in fields}, "message_count": counts.get(s.id, 0)} for s in sessions]


@blp.route("/sessions", methods=["GET"])
@jwt_required()
@blp.arguments(PageQuery, location="query")
@blp.response(200, SessionPage)
def list_sessions(query: dict) -> dict:
    """The caller's sessions, most recently active first."""
    sessions, next_cursor = chat_sessions.list_sessions(current_user, query["limit"], query["cursor"])
    return {"items": _with_counts(sessions), "next_cursor": next_cursor}


@blp.route("/sessions", methods=["POST"])
@jwt_required()
@blp.arguments(CreateSessionRequest, required=False)
@blp.response(201, SessionSchema)
def create_session(body: dict) -> dict:
    """Start an empty session."""
    return _with_counts([chat_sessions.create_session(current_user, body.get("title"))])[0]


@blp.route("/sessions/<int:session_id>", methods=["GET"])
@jwt_required()
@blp.response(200, SessionDetailSchema)
@blp.alt_response(404, description="unknown, or another user's session")
def get_session(session_id: int) -> dict:
    """A session with its messages, oldest first."""
    session = chat_sessions.get_session(current_user, session_id)
    messages = chat_sessions.messages_of(session)
    return {**_with_counts([session])[0], "messages": messages}


@blp.route("/sessions/<int:session_id>", methods=["PATCH"])
@jwt_required()
@blp.arguments(RenameSessionRequest)
@blp.response(200, SessionSchema)
@blp.alt_response(404, description="unknown, or another user's session")
def rename_session(body: dict, session_id: int) -> dict:
    """Rename a session."""
    return _with_counts([chat_sessions.rename_session(current_user, session_id, body["title"])])[0]


@blp.route("/sessions/<int:session_id>", methods=["DELETE"])
@jwt_required()
@blp.response(204)
@blp.alt_response(404, description="unknown, or another user's session")
def delete_session(session_id: int) -> None:
    """Delete a session and its messages."""
    chat_sessions.delete_session(current_user, session_id)


@blp.route("/sessions/<int:session_id>/export", methods=["GET"])
@jwt_required()
@blp.arguments(ExportQuery, location="query")
@blp.response(200, description="a JSON or Markdown file")
@blp.alt_response(404, description="unknown, or another user's session")
def export_session(query: dict, session_id: int) -> Response:
    """Download a session as JSON or Markdown."""
    body, media_type, filename = chat_sessions.export(current_user, session_id, query["format"])
    return Response(
        body,
        mimetype=media_type.split(";")[0],
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Content-Type": media_type,
        },
    )


@blp.route("/chat-history", methods=["GET"])
@jwt_required()
@blp.arguments(HistoryQuery, location="query")
@blp.response(200, MessagePage)
@blp.alt_response(404, description="`session_id` unknown, or another user's")
def chat_history(query: dict) -> dict:
    """The caller's messages, newest first, across sessions or in one."""
    messages, next_cursor = chat_sessions.history(
        current_user, query["session_id"], query["limit"], query["cursor"]
    )
    return {"items": messages, "next_cursor": next_cursor}


@blp.route("/chat-history", methods=["DELETE"])
@jwt_required()
@blp.response(204)
def delete_chat_history() -> None:
    """Delete all of the caller's sessions and messages."""
    chat_sessions.delete_history(current_user)
