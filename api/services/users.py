"""Accounts: sign-up, login, profile changes, email verification and password reset."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import current_app

from api.errors import ApiError
from api.extensions.database import db
from api.models import User, login_key, utcnow
from api.services import email_tokens, passwords, queue

log = logging.getLogger(__name__)


def get_active_user(user_id: int) -> User | None:
    return db.session.get(User, user_id)


def find_by_login(login: str) -> User | None:
    """Look a user up by username or email, ignoring letter case."""
    needle = login_key(login)
    return db.session.scalar(
        sa.select(User).where(
            sa.or_(sa.func.lower(User.username) == needle, sa.func.lower(User.email) == needle)
        )
    )


def find_by_email(email: str) -> User | None:
    return db.session.scalar(sa.select(User).where(sa.func.lower(User.email) == login_key(email)))


def create_user(username: str, email: str, password: str) -> User:
    """Create an unverified account and queue its verification email."""
    _ensure_available(username=username, email=email)
    user = User(username=username, email=email.strip(), password_hash=passwords.hash_password(password))
    db.session.add(user)
    _commit_or_conflict(username=username, email=email)
    queue_verification_email(user)
    return user


def authenticate(login: str, password: str) -> User:
    user = find_by_login(login)
    if not passwords.verify_password(user.password_hash if user else None, password):
        raise ApiError(401, "invalid_credentials", "Wrong username, email or password.")
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
        db.session.commit()
    if current_app.config["REQUIRE_EMAIL_VERIFICATION"] and not user.email_verified:
        raise ApiError(403, "email_not_verified", "Verify your email address first; check your inbox.")
    return user


def update_profile(
    user: User, current_password: str, email: str | None = None, password: str | None = None
) -> User:
    if not passwords.verify_password(user.password_hash, current_password):
        raise ApiError(401, "invalid_credentials", "The current password is wrong.")
    email_changed = email is not None and login_key(email) != login_key(user.email)
    if email_changed:
        _ensure_available(email=email, exclude_user_id=user.id)
        user.email = email.strip()
        user.email_verified_at = None
    if password is not None:
        _set_password(user, password)
    _commit_or_conflict(email=email)
    if email_changed:
        queue_verification_email(user)
    return user


def verify_email(token: str) -> User:
    user = email_tokens.consume_email_token(token, email_tokens.VERIFY)
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()
    db.session.commit()
    return user


def request_verification_email(email: str) -> None:
    """Resend the link; silent when the address is unknown or verified (no enumeration)."""
    user = find_by_email(email)
    _enqueue(queue.SEND_VERIFICATION_EMAIL, user if user is not None and not user.email_verified else None)


def request_password_reset(email: str) -> None:
    """Send a reset link; silent when the address is unknown (no enumeration)."""
    _enqueue(queue.SEND_PASSWORD_RESET_EMAIL, find_by_email(email))


def reset_password(token: str, new_password: str) -> User:
    user = email_tokens.consume_email_token(token, email_tokens.RESET)
    _set_password(user, new_password)
    # The reset link reached the inbox, which proves the address.
    user.email_verified_at = user.email_verified_at or utcnow()
    email_tokens.retire_email_tokens(user, email_tokens.RESET)
    db.session.commit()
    return user


def _set_password(user: User, password: str) -> None:
    """Change the password and end every token issued before now (stolen ones included)."""
    user.password_hash = passwords.hash_password(password)
    user.tokens_valid_after = utcnow()


def queue_verification_email(user: User) -> None:
    _enqueue(queue.SEND_VERIFICATION_EMAIL, user)


def _enqueue(task_name: str, user: User | None) -> None:
    """Queue an email; a broker outage must not undo the account change that triggered it.

    With no user (an unknown address) the same task is queued with nothing to send, so the
    answer takes as long as for a known address and reveals nothing by its timing.
    """
    user_id = user.id if user is not None else None
    try:
        queue.send(task_name, user_id)
    except Exception as error:  # kombu raises several types for an unreachable broker
        log.error("could not queue %s for user %s: %s", task_name, user_id, error)


def _ensure_available(
    username: str | None = None, email: str | None = None, exclude_user_id: int | None = None
) -> None:
    checks = (
        ("username", username, User.username, "username_taken", "This username is taken."),
        ("email", email, User.email, "email_taken", "An account with this email already exists."),
    )
    for _field, value, column, code, message in checks:
        if value is None:
            continue
        query = sa.select(User.id).where(sa.func.lower(column) == login_key(value))
        if exclude_user_id is not None:
            query = query.where(User.id != exclude_user_id)
        if db.session.scalar(query) is not None:
            raise ApiError(409, code, message)


def _commit_or_conflict(username: str | None = None, email: str | None = None) -> None:
    """Commit; a unique-index race lost to a concurrent request becomes the same 409."""
    try:
        db.session.commit()
    except sa.exc.IntegrityError:
        db.session.rollback()
        _ensure_available(username=username, email=email)
        raise
