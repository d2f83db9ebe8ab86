from flask import Flask
from flask_cors import CORS


def init_app(app: Flask) -> None:
    CORS(
        app,
        resources={r"/api/*": {"origins": app.config["CORS_ORIGINS"]}},
        expose_headers=["Retry-After", "X-RateLimit-Remaining", "X-RateLimit-Reset"],
    )
