"""OpenAPI 3 spec at /api/v1/openapi.json and Swagger UI at /docs (flask-smorest)."""

from __future__ import annotations

import flask_smorest
from flask import Flask, current_app

from api.schemas.common import ErrorEnvelope

SPEC_KWARGS = {
    "components": {
        "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}
    },
    "security": [{"bearerAuth": []}],
}


class Api(flask_smorest.Api):
    ERROR_SCHEMA = ErrorEnvelope


def init_app(app: Flask) -> None:
    app.extensions["api"] = Api(app, spec_kwargs=SPEC_KWARGS)


def get_api() -> Api:
    return current_app.extensions["api"]
