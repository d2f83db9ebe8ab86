"""JWT pairs, refresh rotation with reuse detection, and revocation.

Every token of one login shares a family id (`fam` claim). Logout revokes the
family, so the refresh token dies with the access token. Refreshing revokes the
used refresh token; presenting it again is a replay, which revokes the family
(the thief's and the owner's tokens alike).

Revocations are written to PostgreSQL (the record) and to Redis with a TTL
(the per-request check). After a Redis flush the cache is reloaded from the
table; while Redis is down the table is asked directly.

A password change or reset sets the user's `tokens_valid_after`: every token
issued before it, of every login, is refused from then on. Tokens carry their
issue time to the microsecond (`iat_us`), as JWT's own `iat` has whole seconds only
and a token issued in the same second as the change must not survive it.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
import sqlalchemy as sa
from flask import current_app
from flask_jwt_extended import create_access_token, create_refresh_token, decode_token

from api.errors import ApiError
from api.extensions.database import db
from api.extensions.redis import get_redis
from api.models import RevokedToken, User, utcnow

log = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
KEY_PREFIX = "auth:revoked:"
CACHE_LOADED_KEY = "auth:revoked:loaded"


def issue_token_pair(user: User, family: str | None = None) -> dict[str, Any]:
    claims = {"fam": family or uuid.uuid4().hex, "iat_us": time.time_ns() // 1000}
    identity = str(user.id)
    lifetime = current_app.config["JWT_ACCESS_TOKEN_EXPIRES"]
    return {
        "access_token": create_access_token(identity=identity, additional_claims=claims),
        "refresh_token": create_refresh_token(identity=identity, additional_claims=claims),
        "token_type": "Bearer",
        "expires_in": int(lifetime.total_seconds()),
        "user": user,
    }


def rotate_refresh_token(user: User, refresh_payload: dict[str, Any]) -> dict[str, Any]:
    """Spend a refresh token for a new pair; a token spent twice revokes its family."""
    if not revoke(refresh_payload["jti"], _expiry(refresh_payload)):
        revoke_family(refresh_payload)
        raise ApiError(401, "token_revoked", "The token has been revoked.")
    return issue_token_pair(user, family=refresh_payload.get("fam"))


def logout(user: User, access_payload: dict[str, Any], refresh_token: str | None) -> None:
    revoke(access_payload["jti"], _expiry(access_payload))
    revoke_family(access_payload)
    if refresh_token:
        try:
            refresh_payload = decode_token(refresh_token, allow_expired=True)
        except Exception:  # an unreadable token cannot be used anyway
            return
        if refresh_payload.get("sub") == str(user.id):
            revoke(refresh_payload["jti"], _expiry(refresh_payload))
            revoke_family(refresh_payload)


def revoke_family(payload: dict[str, Any]) -> None:
    """Revoke every token of the login `payload` belongs to."""
    family = payload.get("fam")
    if family:
        # A family lives as long as the longest refresh token issued in it from now.
        revoke(family, utcnow() + current_app.config["JWT_REFRESH_TOKEN_EXPIRES"])


def revoke(identifier: str, expires_at: datetime) -> bool:
    """Revoke a token id or family id. Returns False when it was already revoked."""
    try:
        with db.session.begin_nested():
            db.session.add(RevokedToken(jti=identifier, expires_at=expires_at))
        newly_revoked = True
    except sa.exc.IntegrityError:
        newly_revoked = False
    db.session.commit()
    ttl = int((expires_at - utcnow()).total_seconds())
    if ttl > 0:
        try:
            get_redis().set(KEY_PREFIX + identifier, "1", ex=ttl)
        except redis.RedisError as error:  # the table still has it
            log.warning("revocation not cached in Redis: %s", error)
    return newly_revoked


def is_revoked(payload: dict[str, Any]) -> bool:
    if _issued_before_cutoff(payload):
        return True
    identifiers = [payload["jti"]] + ([payload["fam"]] if payload.get("fam") else [])
    try:
        revoked = _is_revoked_in_cache(identifiers)
    except redis.RedisError:
        revoked = _is_revoked_in_table(identifiers)
    if revoked and payload.get("type") == "refresh":
        revoke_family(payload)  # a spent refresh token came back: treat it as stolen
    return revoked


def _issued_before_cutoff(payload: dict[str, Any]) -> bool:
    """Issued before the user's last password change (the user is loaded once per request anyway)."""
    user = db.session.get(User, int(payload["sub"]))
    if user is None or user.tokens_valid_after is None:
        return False
    issued_us = payload.get("iat_us", payload["iat"] * 1_000_000)
    return issued_us < (user.tokens_valid_after - EPOCH) // timedelta(microseconds=1)


def _is_revoked_in_cache(identifiers: list[str]) -> bool:
    client = get_redis()
    cache_loaded, hits = (
        client.pipeline().exists(CACHE_LOADED_KEY).exists(*(KEY_PREFIX + i for i in identifiers))
    ).execute()
    if not cache_loaded:
        _load_cache(client)
        hits = client.exists(*(KEY_PREFIX + i for i in identifiers))
    return hits > 0


def _is_revoked_in_table(identifiers: list[str]) -> bool:
    return db.session.scalar(
        sa.select(sa.exists().where(RevokedToken.jti.in_(identifiers), RevokedToken.expires_at > utcnow()))
    )


def _load_cache(client: redis.Redis) -> None:
    """Refill Redis from the table (first start, or after Redis lost its data)."""
    now = utcnow()
    rows = db.session.execute(
        sa.select(RevokedToken.jti, RevokedToken.expires_at).where(RevokedToken.expires_at > now)
    )
    pipe = client.pipeline()
    for jti, expires_at in rows:
        pipe.set(KEY_PREFIX + jti, "1", ex=max(1, int((expires_at - now).total_seconds())))
    pipe.set(CACHE_LOADED_KEY, "1")
    pipe.execute()


def purge_expired_revocations() -> int:
    """Delete revocations of tokens that have expired anyway; returns the count."""
    deleted = db.session.execute(sa.delete(RevokedToken).where(RevokedToken.expires_at <= utcnow()))
    db.session.commit()
    return deleted.rowcount


def _expiry(payload: dict[str, Any]) -> datetime:
    return datetime.fromtimestamp(payload["exp"], UTC)
