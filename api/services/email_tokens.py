"""One-time tokens for email links: random, stored only as a SHA-256 hash, single-use, expiring,
and good only while the account still has the address the link was sent to."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from api.errors import ApiError
from api.extensions.database import db
from api.models import EmailToken, User, login_key, utcnow

VERIFY = "verify"
RESET = "reset"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _address_hash(email: str) -> str:
    return _hash(login_key(email))


def _lifetime(purpose: str) -> timedelta:
    if purpose == VERIFY:
        return timedelta(hours=current_app.config["VERIFY_TOKEN_HOURS"])
    return timedelta(minutes=current_app.config["RESET_TOKEN_MINUTES"])


def issue_email_token(user: User, purpose: str) -> str:
    """Create a token for `user` and return its plain text (which is never stored)."""
    token = secrets.token_urlsafe(32)
    db.session.add(
        EmailToken(
            user_id=user.id,
            purpose=purpose,
            token_hash=_hash(token),
            address_hash=_address_hash(user.email),
            expires_at=utcnow() + _lifetime(purpose),
        )
    )
    db.session.commit()
    return token


def consume_email_token(token: str, purpose: str) -> User:
    """Mark the token used and return its user; 400 if unknown, used, expired, or sent to an
    address the account no longer has (a link proves the inbox it reached, not the account)."""
    row = db.session.scalar(
        sa.select(EmailToken).where(EmailToken.token_hash == _hash(token), EmailToken.purpose == purpose)
    )
    if row is None or row.used_at is not None:
        raise ApiError(400, "invalid_token", "This link is invalid or has already been used.")
    if row.expires_at <= utcnow():
        raise ApiError(400, "token_expired", "This link has expired; request a new one.")
    if row.address_hash != _address_hash(row.user.email):
        raise ApiError(
            400,
            "invalid_token",
            "This link was sent to an address the account no longer uses; request a new one.",
        )
    # Conditional update: of two concurrent uses, exactly one wins.
    claimed = db.session.execute(
        sa.update(EmailToken)
        .where(EmailToken.id == row.id, EmailToken.used_at.is_(None))
        .values(used_at=utcnow())
    ).rowcount
    if claimed != 1:
        db.session.rollback()
        raise ApiError(400, "invalid_token", "This link is invalid or has already been used.")
    return row.user


def retire_email_tokens(user: User, purpose: str) -> None:
    """Invalidate every outstanding token of this purpose (after a successful reset)."""
    db.session.execute(
        sa.update(EmailToken)
        .where(
            EmailToken.user_id == user.id,
            EmailToken.purpose == purpose,
            EmailToken.used_at.is_(None),
        )
        .values(used_at=utcnow())
    )
