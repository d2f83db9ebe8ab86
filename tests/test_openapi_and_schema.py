"""The published contract and the database schema stay in step with the code."""

from __future__ import annotations

import re

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from openapi_spec_validator import validate

from api.extensions.database import db

# Files and pages for browsers, not API operations.
UNDOCUMENTED = {
    "static",
    "swagger_ui.static",
    "web.chat_page",
    "api-docs.openapi_json",
    "api-docs.openapi_swagger_ui",
}


def test_openapi_spec_is_valid_and_lists_every_route(app, client):
    spec = client.get("/api/v1/openapi.json").json
    validate(spec)
    documented = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    for rule in app.url_map.iter_rules():
        if rule.endpoint in UNDOCUMENTED:
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method.lower()) in documented, f"{method} {path} is not in the spec"


def test_public_routes_need_no_token_in_the_spec(client):
    spec = client.get("/api/v1/openapi.json").json
    assert spec["paths"]["/api/v1/auth/signup"]["post"]["security"] == []
    assert "security" not in spec["paths"]["/api/v1/auth/me"]["get"]  # inherits bearerAuth
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_swagger_ui_is_served(client):
    page = client.get("/docs")
    assert page.status_code == 200
    assert "/api/v1/openapi.json" in page.get_data(as_text=True)


def test_migrations_build_exactly_the_models_schema(app):
    with app.app_context(), db.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), db.metadata)
    assert differences == []


def test_every_documented_error_has_a_json_body(client):
    spec = client.get("/api/v1/openapi.json").json
    shared = spec["components"]["responses"]
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            for status, response in operation["responses"].items():
                if status != "default" and int(status) >= 400:
                    response = shared[response["$ref"].rsplit("/", 1)[1]] if "$ref" in response else response
                    assert "application/json" in response.get("content", {}), f"{method} {path} {status}"
