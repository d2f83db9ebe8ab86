"""flask-limiter, counting in Redis. Fail-open: while Redis is down no request fails because of
the limiter; each API process counts in memory instead (RATELIMIT_IN_MEMORY_FALLBACK_ENABLED), so
limits hold per process until Redis is back (see README, "Security and limits")."""

from flask import Flask, current_app, request
from flask_jwt_extended import get_jwt_identity
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from api.models import login_key

limiter = Limiter(key_func=get_remote_address)


def init_app(app: Flask) -> None:
    limiter.init_app(app)


def current_user_key() -> str:
    """Limit a logged-in user wherever they connect from (use below `@jwt_required()`)."""
    return f"user:{get_jwt_identity()}"


def account_key() -> str:
    """The account a login names, normalised as the lookup normalises it: guessing one account's
    password is limited however many addresses the guesses come from."""
    body = request.get_json(silent=True)
    body = body if isinstance(body, dict) else {}
    login = body.get("login") or body.get("username") or body.get("email")
    if not isinstance(login, str) or not login.strip():
        return f"ip:{get_remote_address()}"
    return f"account:{login_key(login)}"


def configured_limit(config_key: str):
    """A limit read from config at request time, so tests and deployments can tune it."""
    return lambda: current_app.config[config_key]
