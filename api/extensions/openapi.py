"""OpenAPI 3 spec at /api/v1/openapi.json and Swagger UI at /docs (flask-smorest).

Swagger UI's own files are served from the `flask-swagger-ui` package at
/docs/assets/, so the page needs no CDN and renders on a network with no way out.
"""

from __future__ import annotations

from importlib.resources import files

import flask_smorest
from flask import Blueprint, Flask, current_app

from api.schemas.common import ErrorEnvelope

SPEC_KWARGS = {
    "components": {
        "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}
    },
    "security": [{"bearerAuth": []}],
}

SWAGGER_UI_DIST = files("flask_swagger_ui") / "dist"
"""swagger-ui-bundle.js, swagger-ui-standalone-preset.js and swagger-ui.css, updated with Swagger UI."""


class Api(flask_smorest.Api):
    ERROR_SCHEMA = ErrorEnvelope


def init_app(app: Flask) -> None:
    app.extensions["api"] = Api(app, spec_kwargs=SPEC_KWARGS)
    assets = Blueprint(
        "swagger_ui", __name__, static_folder=str(SWAGGER_UI_DIST), static_url_path="/docs/assets"
    )
    app.register_blueprint(assets)


def get_api() -> Api:
    return current_app.extensions["api"]
