from flask import Flask, current_app
from flask_jwt_extended import get_jwt_identity
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

limiter = Limiter(key_func=get_remote_address)


def init_app(app: Flask) -> None:
    limiter.init_app(app)


def current_user_key() -> str:
    """Limit a logged-in user wherever they connect from (use below `@jwt_required()`)."""
    return f"user:{get_jwt_identity()}"


def configured_limit(config_key: str):
    """A limit read from config at request time, so tests and deployments can tune it."""
    return lambda: current_app.config[config_key]
