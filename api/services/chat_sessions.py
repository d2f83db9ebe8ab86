"""Chat sessions and message history, always scoped to their owner (anyone else gets 404)."""

from __future__ import annotations

import json

import sqlalchemy as sa

from api.errors import not_found
from api.extensions.database import db
from api.models import ChatSession, Message, User, clip, utcnow
from api.services.pagination import newest_first_page

TITLE_CHARS = 80


def title_from(message: str) -> str:
    """A session title from its first message: one line, cut at a word boundary."""
    return clip(" ".join(message.split()), TITLE_CHARS) or "New chat"


def create_session(user: User, title: str | None = None, commit: bool = True) -> ChatSession:
    session = ChatSession(user_id=user.id, title=(title or "").strip() or "New chat")
    db.session.add(session)
    _save(commit)
    return session


def get_session(user: User, session_id: int) -> ChatSession:
    session = db.session.get(ChatSession, session_id)
    if session is None or session.user_id != user.id:
        raise not_found("Session")
    return session


def list_sessions(user: User, limit: int, cursor: str | None) -> tuple[list[ChatSession], str | None]:
    query = sa.select(ChatSession).where(ChatSession.user_id == user.id)
    return newest_first_page(query, ChatSession.updated_at, ChatSession.id, limit, cursor)


def message_counts(sessions: list[ChatSession]) -> dict[int, int]:
    ids = [s.id for s in sessions]
    rows = db.session.execute(
        sa.select(Message.session_id, sa.func.count())
        .where(Message.session_id.in_(ids))
        .group_by(Message.session_id)
    )
    return {session_id: count for session_id, count in rows}


def messages_of(session: ChatSession) -> list[Message]:
    """The session's messages, oldest first."""
    return list(
        db.session.scalars(
            sa.select(Message)
            .where(Message.session_id == session.id)
            .order_by(Message.created_at, Message.id)
        )
    )


def rename_session(user: User, session_id: int, title: str) -> ChatSession:
    session = get_session(user, session_id)
    session.title = title.strip()
    db.session.commit()
    return session


def delete_session(user: User, session_id: int) -> None:
    db.session.delete(get_session(user, session_id))
    db.session.commit()


def history(
    user: User, session_id: int | None, limit: int, cursor: str | None
) -> tuple[list[Message], str | None]:
    """The user's messages across sessions (or one session), newest first."""
    query = sa.select(Message).where(Message.user_id == user.id)
    if session_id is not None:
        query = query.where(Message.session_id == get_session(user, session_id).id)
    return newest_first_page(query, Message.created_at, Message.id, limit, cursor)


def delete_history(user: User) -> None:
    """Every session and message of the user."""
    db.session.execute(sa.delete(ChatSession).where(ChatSession.user_id == user.id))
    db.session.commit()


def add_message(
    session: ChatSession, role: str, content: str, commit: bool = True, **fields: object
) -> Message:
    message = Message(session=session, user_id=session.user_id, role=role, content=content, **fields)
    db.session.add(message)
    session.updated_at = utcnow()
    _save(commit)
    return message


def _save(commit: bool) -> None:
    """Commit, unless the caller commits a larger unit of work itself."""
    if commit:
        db.session.commit()


def export(user: User, session_id: int, fmt: str) -> tuple[str, str, str]:
    """(body, media type, file name) of a session as JSON or Markdown."""
    session = get_session(user, session_id)
    messages = messages_of(session)
    stem = f"session-{session.id}"
    if fmt == "json":
        body = {
            "id": session.id,
            "title": session.title,
            "created_at": session.created_at.isoformat(),
            "messages": [
                {
                    "role": m.role,
                    "content": m.content,
                    "sources": m.sources,
                    "created_at": m.created_at.isoformat(),
                }
                for m in messages
            ],
        }
        return json.dumps(body, indent=2, ensure_ascii=False), "application/json", f"{stem}.json"
    lines = [f"# {session.title}", "", f"_Exported {utcnow():%Y-%m-%d %H:%M} UTC_", ""]
    for m in messages:
        lines += [
            f"## {'You' if m.role == 'user' else 'Assistant'} ({m.created_at:%Y-%m-%d %H:%M} UTC)",
            "",
            m.content,
            "",
        ]
        for source in m.sources or []:
            lines.append(f"- [{source.get('n')}] {source.get('title', '')}")
        if m.sources:
            lines.append("")
    return "\n".join(lines), "text/markdown; charset=utf-8", f"{stem}.md"
