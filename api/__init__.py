"""The Flask application factory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from api.commands import register_commands
from api.config import PROJECT_ROOT, insecure_settings, load_config
from api.errors import register_error_handlers
from api.extensions import (
    celery_app,
    cors,
    database,
    jwt,
    limiter,
    mail,
    openapi,
    redis,
    request_guard,
    security_headers,
    telemetry,
)

# telemetry first: it configures logging and times every request, whoever answers it; then the
# hooks every response and every request body go through.
EXTENSIONS = (
    telemetry,
    security_headers,
    request_guard,
    database,
    redis,
    celery_app,
    jwt,
    mail,
    limiter,
    cors,
    openapi,
)


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.from_mapping(load_config())
    app.config["PROJECT_ROOT"] = PROJECT_ROOT
    app.config.update(overrides or {})
    _refuse_insecure_settings(app)
    # As in Flask's tutorial: local state (beat schedule, outbox, index, uploads) needs its folder.
    Path(app.config["INSTANCE_DIR"]).mkdir(parents=True, exist_ok=True)
    if app.config["PROXY_FIX_X_FOR"]:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config["PROXY_FIX_X_FOR"], x_proto=1)

    for extension in EXTENSIONS:
        extension.init_app(app)
    _register_blueprints(app)
    register_error_handlers(app)
    register_commands(app)
    return app


def _register_blueprints(app: Flask) -> None:
    from api.routes import BLUEPRINTS, web

    for blueprint in BLUEPRINTS:
        app.extensions["api"].register_blueprint(blueprint)
    # The chat page is not part of the API contract, so it stays out of the spec.
    app.register_blueprint(web.bp)


def _refuse_insecure_settings(app: Flask) -> None:
    problems = insecure_settings(app.config)
    if problems:
        raise RuntimeError(
            f"Refusing to start with APP_ENV={app.config['ENV_NAME']}: {'; '.join(problems)}. "
            "Set random values (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`)."
        )
