"""A Postman v2.1 collection and an `.http` file (VS Code REST Client) made from the OpenAPI spec.

`make postman` (`python -m api.postman`) writes both under docs/; a test regenerates them in
memory and compares, so the output is deterministic: operations sorted, ids derived from them.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path
from typing import Any

from flask import Flask

from api.config import PROJECT_ROOT

DOCS_DIR = PROJECT_ROOT / "docs"
COLLECTION_PATH = DOCS_DIR / "ragbot.postman_collection.json"
HTTP_FILE_PATH = DOCS_DIR / "ragbot.http"
SPEC_PATH = "/api/v1/openapi.json"
BASE_URL = "http://localhost:8000"
POSTMAN_SCHEMA = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
METHOD_ORDER = ("get", "post", "put", "patch", "delete")
LOGIN_PATH = "/api/v1/auth/login"
REFRESH_PATH = "/api/v1/auth/refresh"

# Body fields filled from variables, so logging in needs them set once.
FIELD_VARIABLES = {
    "login": "username",
    "username": "username",
    "email": "email",
    "password": "password",
    "current_password": "password",
    "refresh_token": "refreshToken",
}
ALTERNATIVE = "instead of"
"""In a field's description: the field is an alias of another, so examples leave it out."""
VARIABLES = {
    "baseUrl": BASE_URL,
    "username": "alice",
    "email": "alice@example.com",
    "password": "correct horse battery",
    "accessToken": "",
    "refreshToken": "",
}
SPEC_ONLY_URLS = {"DATABASE_URL": "postgresql://127.0.0.1:1/unused", "REDIS_URL": "redis://127.0.0.1:1/0"}
STORE_TOKENS = [
    "// Keep the new tokens for the other requests.",
    "const body = pm.response.json();",
    "if (body.access_token) {",
    '    pm.collectionVariables.set("accessToken", body.access_token);',
    '    pm.collectionVariables.set("refreshToken", body.refresh_token);',
    "}",
]


def load_spec(app: Flask) -> dict[str, Any]:
    """The spec as the app serves it, from its test client: no server needed."""
    response = app.test_client().get(SPEC_PATH)
    assert response.status_code == 200, response.status_code
    return response.get_json()


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(path, method, operation) for every operation of the spec, in a stable order."""
    found = [
        (path, method, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in METHOD_ORDER
    ]
    return sorted(found, key=lambda op: (op[0], METHOD_ORDER.index(op[1])))


def _stable_id(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "ragbot:" + " ".join(parts)))


def _name(path: str, method: str, operation: dict[str, Any]) -> str:
    return operation.get("summary") or f"{method.upper()} {path}"


def _is_public(spec: dict[str, Any], operation: dict[str, Any]) -> bool:
    return operation.get("security", spec.get("security")) == []


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    return schema


def _example(spec: dict[str, Any], schema: dict[str, Any], field: str = "") -> Any:
    """A small example value for a schema: its own example, a variable, or a value of its type."""
    schema = _resolve(spec, schema)
    if "example" in schema:
        return schema["example"]
    if field in FIELD_VARIABLES:
        return _variable(FIELD_VARIABLES[field])
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type", "object")
    if kind == "object":
        properties = schema.get("properties", {})
        return {
            name: _example(spec, sub, name)
            for name, sub in properties.items()
            if not sub.get("readOnly") and ALTERNATIVE not in sub.get("description", "")
        }
    if kind == "array":
        return [_example(spec, schema.get("items", {}))]
    return {"integer": 1, "number": 1, "boolean": True}.get(kind, "")


def _variable(name: str) -> str:
    return "{{" + name + "}}"


def _json_body(spec: dict[str, Any], operation: dict[str, Any]) -> Any | None:
    content = operation.get("requestBody", {}).get("content", {})
    if "application/json" not in content:
        return None
    return _example(spec, content["application/json"]["schema"])


def _form_fields(spec: dict[str, Any], operation: dict[str, Any]) -> dict[str, dict[str, Any]] | None:
    content = operation.get("requestBody", {}).get("content", {})
    if "multipart/form-data" not in content:
        return None
    return _resolve(spec, content["multipart/form-data"]["schema"]).get("properties", {})


def _path_parameters(operation: dict[str, Any], item: dict[str, Any]) -> dict[str, str]:
    """Path parameter names and example values: 1 for integer ids, a placeholder for others."""
    parameters = item.get("parameters", []) + operation.get("parameters", [])
    return {
        p["name"]: "1" if p.get("schema", {}).get("type") == "integer" else p["name"].upper()
        for p in parameters
        if p.get("in") == "path"
    }


def _query_parameters(operation: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in operation.get("parameters", []) if p.get("in") == "query"]


def _auth(spec: dict[str, Any], path: str, operation: dict[str, Any]) -> dict[str, Any] | None:
    if _is_public(spec, operation):
        return {"type": "noauth"}
    if path == REFRESH_PATH:
        return {"type": "bearer", "bearer": [{"key": "token", "value": "{{refreshToken}}", "type": "string"}]}
    return None  # the collection's bearer {{accessToken}}


def _postman_request(
    spec: dict[str, Any], path: str, method: str, operation: dict[str, Any]
) -> dict[str, Any]:
    segments = [f":{s[1:-1]}" if s.startswith("{") else s for s in path.strip("/").split("/")]
    query = [
        {"key": p["name"], "value": str(_example(spec, p.get("schema", {}), p["name"])), "disabled": True}
        for p in _query_parameters(operation)
    ]
    url: dict[str, Any] = {
        "raw": "{{baseUrl}}/" + "/".join(segments),
        "host": ["{{baseUrl}}"],
        "path": segments,
    }
    if query:
        url["query"] = query
    variables = _path_parameters(operation, spec["paths"][path])
    if variables:
        url["variable"] = [{"key": name, "value": value} for name, value in variables.items()]
    request: dict[str, Any] = {"method": method.upper(), "header": [], "url": url}
    if operation.get("description"):
        request["description"] = operation["description"]
    body, form = _json_body(spec, operation), _form_fields(spec, operation)
    if form is not None:
        request["body"] = {
            "mode": "formdata",
            "formdata": [
                {"key": name, "type": "file", "src": []}
                if field.get("format") == "binary"
                else {"key": name, "type": "text", "value": str(_example(spec, field, name))}
                for name, field in form.items()
            ],
        }
    elif body is not None:
        request["header"].append({"key": "Content-Type", "value": "application/json"})
        request["body"] = {
            "mode": "raw",
            "raw": json.dumps(body, indent=2),
            "options": {"raw": {"language": "json"}},
        }
    auth = _auth(spec, path, operation)
    if auth:
        request["auth"] = auth
    return request


def postman_collection(spec: dict[str, Any]) -> dict[str, Any]:
    folders: dict[str, list[dict[str, Any]]] = {}
    for path, method, operation in operations(spec):
        item: dict[str, Any] = {
            "id": _stable_id(method, path),
            "name": _name(path, method, operation),
            "request": _postman_request(spec, path, method, operation),
        }
        if path in (LOGIN_PATH, REFRESH_PATH) and method == "post":
            item["event"] = [{"listen": "test", "script": {"type": "text/javascript", "exec": STORE_TOKENS}}]
        folders.setdefault((operation.get("tags") or ["Other"])[0], []).append(item)
    info = spec["info"]
    return {
        "info": {
            "_postman_id": _stable_id("collection", info["title"]),
            "name": info["title"],
            "description": f"Generated from {SPEC_PATH} (version {info['version']}) by `make postman`. "
            "Set username, email and password, run 'Log in': it stores the tokens.",
            "schema": POSTMAN_SCHEMA,
        },
        "auth": {
            "type": "bearer",
            "bearer": [{"key": "token", "value": "{{accessToken}}", "type": "string"}],
        },
        "variable": [{"key": key, "value": value, "type": "string"} for key, value in VARIABLES.items()],
        "item": [
            {"id": _stable_id("folder", tag), "name": tag, "item": items}
            for tag, items in sorted(folders.items())
        ],
    }


def http_file(spec: dict[str, Any]) -> str:
    """Requests for the VS Code REST Client: the tokens come from the named login request."""
    path_variables = {
        name: value
        for path, method, op in operations(spec)
        for name, value in _path_parameters(op, spec["paths"][path]).items()
    }
    lines = [
        f"# {spec['info']['title']}: every operation of {SPEC_PATH}, generated by `make postman`.",
        "# Run 'login' first (VS Code REST Client); the other requests use its tokens.",
        f"@baseUrl = {BASE_URL}",
        *(f"@{key} = {VARIABLES[key]}" for key in ("username", "email", "password")),
        "@accessToken = {{login.response.body.$.access_token}}",
        "@refreshToken = {{login.response.body.$.refresh_token}}",
        *(f"@{name} = {value}" for name, value in sorted(path_variables.items())),
        "",
    ]
    for path, method, operation in operations(spec):
        lines.append(f"### {method.upper()} {path}: {_name(path, method, operation)}")
        if path == LOGIN_PATH and method == "post":
            lines.append("# @name login")
        lines.append(f"{method.upper()} {{{{baseUrl}}}}{path.replace('{', '{{').replace('}', '}}')}")
        if not _is_public(spec, operation):
            token = "refreshToken" if path == REFRESH_PATH else "accessToken"
            lines.append(f"Authorization: Bearer {{{{{token}}}}}")
        body = _json_body(spec, operation)
        if _form_fields(spec, operation) is not None:
            lines += [
                "Content-Type: multipart/form-data; boundary=boundary",
                "",
                "--boundary",
                'Content-Disposition: form-data; name="file"; filename="notes.md"',
                "Content-Type: text/markdown",
                "",
                "# Notes",
                "--boundary--",
            ]
        elif body is not None:
            lines += ["Content-Type: application/json", "", json.dumps(body, indent=2)]
        lines.append("")
    return "\n".join(lines)


def render(spec: dict[str, Any]) -> dict[Path, str]:
    """The files' contents, by path."""
    return {
        COLLECTION_PATH: json.dumps(postman_collection(spec), indent=2, ensure_ascii=False) + "\n",
        HTTP_FILE_PATH: http_file(spec),
    }


def main() -> None:
    from api import create_app

    # Building the spec connects to nothing; the app only insists that these are named.
    for name in ("DATABASE_URL", "REDIS_URL"):
        os.environ.setdefault(name, SPEC_ONLY_URLS[name])
    DOCS_DIR.mkdir(exist_ok=True)
    for path, text in render(load_spec(create_app())).items():
        path.write_text(text)
        print(f"wrote {path.relative_to(PROJECT_ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
