"""flask-jwt-extended, with its errors in the API's JSON shape and revocation checked per request."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response
from flask_jwt_extended import JWTManager

from api.errors import error_response
from api.models import User
from api.services import auth_tokens, users

jwt = JWTManager()


def init_app(app: Flask) -> None:
    jwt.init_app(app)


@jwt.user_lookup_loader
def load_user(_header: dict, payload: dict[str, Any]) -> User | None:
    return users.get_active_user(int(payload["sub"]))


@jwt.token_in_blocklist_loader
def is_token_revoked(_header: dict, payload: dict[str, Any]) -> bool:
    return auth_tokens.is_revoked(payload)


@jwt.expired_token_loader
def expired_token(_header: dict, _payload: dict) -> Response:
    return error_response(401, "token_expired", "The token has expired.")


@jwt.revoked_token_loader
def revoked_token(_header: dict, _payload: dict) -> Response:
    return error_response(401, "token_revoked", "The token has been revoked.")


@jwt.invalid_token_loader
def invalid_token(reason: str) -> Response:
    # Also covers a refresh token sent where an access token is expected, and vice versa.
    return error_response(401, "unauthorized", f"Invalid token: {reason}.")


@jwt.unauthorized_loader
def missing_token(reason: str) -> Response:
    return error_response(401, "unauthorized", f"Authentication required: {reason}.")


@jwt.user_lookup_error_loader
def unknown_user(_header: dict, _payload: dict) -> Response:
    return error_response(401, "unauthorized", "The token's user no longer exists.")
