"""The Flask application factory."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from api.commands import register_commands
from api.config import DEV_SECRET, PROJECT_ROOT, load_config
from api.errors import register_error_handlers
from api.extensions import celery_app, cors, database, jwt, limiter, mail, openapi, redis

EXTENSIONS = (database, redis, celery_app, jwt, mail, limiter, cors, openapi)


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.from_mapping(load_config())
    app.config["PROJECT_ROOT"] = PROJECT_ROOT
    app.config.update(overrides or {})
    _refuse_dev_secret_in_production(app)
    logging.basicConfig(
        level=app.config["LOG_LEVEL"], format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for chatty in ("bm25s", "faiss.loader", "sentence_transformers"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    if app.config["PROXY_FIX_X_FOR"]:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config["PROXY_FIX_X_FOR"], x_proto=1)

    for extension in EXTENSIONS:
        extension.init_app(app)
    _register_blueprints(app)
    register_error_handlers(app)
    register_commands(app)
    return app


def _register_blueprints(app: Flask) -> None:
    from api.routes import BLUEPRINTS

    for blueprint in BLUEPRINTS:
        app.extensions["api"].register_blueprint(blueprint)


def _refuse_dev_secret_in_production(app: Flask) -> None:
    if app.config["ENV_NAME"] == "production" and DEV_SECRET in (
        app.config["SECRET_KEY"],
        app.config["JWT_SECRET_KEY"],
    ):
        raise RuntimeError("Set SECRET_KEY (and JWT_SECRET_KEY) before running in production.")
