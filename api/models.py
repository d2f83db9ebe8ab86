"""The system of record (PostgreSQL). Every timestamp is timezone-aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from api.extensions.database import db


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(sa.TypeDecorator):
    """Stores aware datetimes in UTC; returns aware datetimes even from SQLite."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: use timezone-aware UTC")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def login_key(login: str) -> str:
    """A username or email as accounts are told apart: letter case and surrounding spaces ignored."""
    return login.strip().lower()


def clip(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, at a word boundary where there is one, with "…"."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    at_space = cut.rsplit(" ", 1)[0]
    return (at_space if len(at_space) > limit // 2 else cut).rstrip() + "…"


def clipped_to_column(*names: str):
    """A validator that cuts these String columns' values to the column length: titles come from
    headings and file names of any length, and a too-long value must not fail the whole write."""

    @validates(*names)
    def clip_to_column(self, name: str, value: str | None) -> str | None:
        limit = self.__table__.c[name].type.length
        return clip(value, limit) if value is not None else None

    return clip_to_column


JsonType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow, nullable=False)


class User(TimestampMixin, db.Model):
    __tablename__ = "users"
    __table_args__ = (
        sa.Index("uq_users_username_lower", sa.func.lower(sa.text("username")), unique=True),
        sa.Index("uq_users_email_lower", sa.func.lower(sa.text("email")), unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(32), nullable=False)
    email: Mapped[str] = mapped_column(sa.String(254), nullable=False)
    password_hash: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    email_verified_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    is_admin: Mapped[bool] = mapped_column(default=False, nullable=False)
    # Tokens issued before this instant are refused (set by a password change or reset).
    tokens_valid_after: Mapped[datetime | None] = mapped_column(UtcDateTime)

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None


class EmailToken(db.Model):
    """A one-time link token (email verification or password reset); only its hash is kept."""

    __tablename__ = "email_tokens"
    __table_args__ = (sa.CheckConstraint("purpose IN ('verify', 'reset')", name="purpose"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), index=True, nullable=False
    )
    purpose: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True, nullable=False)
    # SHA-256 of the address the link was sent to: the link proves that address, no other.
    address_hash: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True, nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    user: Mapped[User] = relationship()


class RevokedToken(db.Model):
    """A revoked JWT id, or a revoked token family (every token of one login)."""

    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True, nullable=False)
    revoked_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, nullable=False)


class ChatSession(TimestampMixin, db.Model):
    __tablename__ = "chat_sessions"
    __table_args__ = (sa.Index("ix_chat_sessions_user_updated", "user_id", "updated_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    title: Mapped[str] = mapped_column(sa.String(200), nullable=False)

    clip_title = clipped_to_column("title")


class Message(db.Model):
    __tablename__ = "messages"
    __table_args__ = (
        sa.CheckConstraint("role IN ('user', 'assistant')", name="role"),
        sa.Index("ix_messages_user_created", "user_id", "created_at", "id"),
        sa.Index("ix_messages_session_created", "session_id", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(
        sa.ForeignKey("chat_sessions.id", ondelete="CASCADE"), nullable=False
    )
    # Denormalised owner: history pages and isolation checks need no join.
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    role: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    content: Mapped[str] = mapped_column(sa.Text, nullable=False)
    sources: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, default=list, nullable=False)
    # When the documents do not answer: the closest passages, kept so that a redelivered task shows them.
    related: Mapped[list[dict[str, Any]]] = mapped_column(
        JsonType, default=list, server_default="[]", nullable=False
    )
    # The chat task that wrote an assistant message: unique, so a redelivered task cannot add a second.
    task_id: Mapped[str | None] = mapped_column(sa.String(36), unique=True)
    # The 30-day cleanup scans by age alone.
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True, nullable=False)

    session: Mapped[ChatSession] = relationship()


class Document(TimestampMixin, db.Model):
    __tablename__ = "documents"
    __table_args__ = (
        sa.CheckConstraint("scope IN ('global', 'private')", name="scope"),
        sa.CheckConstraint("status IN ('queued', 'indexing', 'ready', 'failed')", name="status"),
        sa.Index("ix_documents_owner_created", "owner_id", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # NULL for documents loaded by operators (the shipped corpus).
    owner_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(sa.String(300), nullable=False)
    scope: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    status: Mapped[str] = mapped_column(sa.String(16), default="queued", nullable=False)
    source_name: Mapped[str | None] = mapped_column(sa.String(500))
    media_type: Mapped[str | None] = mapped_column(sa.String(100))
    storage_path: Mapped[str | None] = mapped_column(sa.String(1000))
    content_hash: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    # The chunker's signature (rag.chunking) the chunks were cut with: an ingest under another one
    # re-chunks the document even when its content is unchanged.
    chunking: Mapped[str | None] = mapped_column(sa.String(64))
    chunk_count: Mapped[int] = mapped_column(default=0, nullable=False)
    error: Mapped[str | None] = mapped_column(sa.Text)

    clip_title = clipped_to_column("title")


class Chunk(db.Model):
    __tablename__ = "chunks"
    __table_args__ = (sa.UniqueConstraint("document_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(
        sa.ForeignKey("documents.id", ondelete="CASCADE"), nullable=False
    )
    position: Mapped[int] = mapped_column(nullable=False)
    heading_path: Mapped[str] = mapped_column(sa.String(1000), default="", nullable=False)
    text: Mapped[str] = mapped_column(sa.Text, nullable=False)
    token_count: Mapped[int] = mapped_column(nullable=False)
    # float32 vector bytes; the FAISS index is derived from these.
    embedding: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    embedding_model: Mapped[str | None] = mapped_column(sa.String(200))

    clip_heading_path = clipped_to_column("heading_path")


class Task(TimestampMixin, db.Model):
    """A user-visible background task (chat, ingest); `/tasks/<id>` reads it, so it survives Redis."""

    __tablename__ = "tasks"
    __table_args__ = (
        sa.CheckConstraint("kind IN ('chat', 'ingest')", name="kind"),
        sa.CheckConstraint("state IN ('queued', 'running', 'succeeded', 'failed')", name="state"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)  # the Celery task id
    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), index=True, nullable=False
    )
    # A chat task holds the answer text in its result: it goes with its session.
    session_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("chat_sessions.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    state: Mapped[str] = mapped_column(sa.String(16), default="queued", nullable=False)
    result: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    error: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
