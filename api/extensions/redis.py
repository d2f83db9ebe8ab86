import redis
from flask import Flask, current_app

CLIENT_OPTIONS = {
    "decode_responses": True,
    "socket_connect_timeout": 2,
    "socket_timeout": 5,
    "health_check_interval": 30,
}


# Connections beside the event streams' (each open stream holds one for its subscription).
OTHER_CONNECTIONS = 100


def init_app(app: Flask) -> None:
    # Room for every stream the deployment allows, were they all on this process.
    pool_size = app.config["SSE_MAX_STREAMS"] + OTHER_CONNECTIONS
    app.extensions["redis"] = redis.Redis.from_url(
        app.config["REDIS_URL"], max_connections=pool_size, **CLIENT_OPTIONS
    )


def get_redis() -> redis.Redis:
    """The app's Redis client (blocklist, rate limits, pub/sub)."""
    return current_app.extensions["redis"]


def get_broker_redis() -> redis.Redis:
    """A client for the Celery broker, which may be another Redis than REDIS_URL (queue lengths).

    Made on first use, from Celery's settings as they are by then.
    """
    if "broker_redis" not in current_app.extensions:
        url = current_app.extensions["celery"].conf.broker_url
        current_app.extensions["broker_redis"] = redis.Redis.from_url(url, **CLIENT_OPTIONS)
    return current_app.extensions["broker_redis"]
