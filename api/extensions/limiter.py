from flask import Flask, current_app
from flask_jwt_extended import get_jwt_identity, verify_jwt_in_request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

limiter = Limiter(key_func=get_remote_address)


def init_app(app: Flask) -> None:
    limiter.init_app(app)


def user_or_ip() -> str:
    """Limit a logged-in user wherever they connect from; others by address."""
    verify_jwt_in_request(optional=True)
    identity = get_jwt_identity()
    return f"user:{identity}" if identity else get_remote_address()


def configured_limit(config_key: str):
    """A limit read from config at request time, so tests and deployments can tune it."""
    return lambda: current_app.config[config_key]
