import redis
from flask import Flask, current_app


def init_app(app: Flask) -> None:
    app.extensions["redis"] = redis.Redis.from_url(
        app.config["REDIS_URL"],
        decode_responses=True,
        socket_connect_timeout=2,
        socket_timeout=5,
        health_check_interval=30,
    )


def get_redis() -> redis.Redis:
    """The app's Redis client (blocklist, rate limits, pub/sub)."""
    return current_app.extensions["redis"]
