"""OpenAPI 3 spec at /api/v1/openapi.json and Swagger UI at /docs (flask-smorest).

Swagger UI's own files are served from the `flask-swagger-ui` package at
/docs/assets/, so the page needs no CDN and renders on a network with no way out.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

import flask_smorest
from apispec.ext.marshmallow import MarshmallowPlugin
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


class SchemaKeywordsPlugin(MarshmallowPlugin):
    """Adds a schema's `OPENAPI_KEYWORDS` to its component: JSON Schema its fields cannot say
    (e.g. `anyOf` for "one of these fields is required"), so the spec is as strict as the code."""

    def schema_helper(self, name: str, definition: dict, schema: Any = None, **kwargs: Any) -> dict | None:
        json_schema = super().schema_helper(name, definition, schema=schema, **kwargs)
        keywords = getattr(schema, "OPENAPI_KEYWORDS", None)
        if json_schema is not None and keywords:
            json_schema.update(keywords)
        return json_schema


def init_app(app: Flask) -> None:
    app.extensions["api"] = Api(
        app, spec_kwargs={**SPEC_KWARGS, "marshmallow_plugin": SchemaKeywordsPlugin()}
    )
    assets = Blueprint(
        "swagger_ui", __name__, static_folder=str(SWAGGER_UI_DIST), static_url_path="/docs/assets"
    )
    app.register_blueprint(assets)


def get_api() -> Api:
    return current_app.extensions["api"]
