"""Hostile input stops here, before any route: JSON nested deeper than anyone writes, numbers
Python refuses to convert, and NUL characters, which PostgreSQL cannot store in text (psycopg2
raises, which would be a 500).

One `before_request` hook covers every JSON body, form field and query parameter of every route,
so no route, schema or text field has to remember it.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, request

from api.errors import ApiError

MAX_JSON_DEPTH = 32
NUL = "\x00"
NUL_MESSAGE = "Must not contain NUL characters."


def init_app(app: Flask) -> None:
    app.before_request(refuse_hostile_input)


def refuse_hostile_input() -> None:
    problems: dict[str, list[str]] = {}
    named_values = list(request.args.items(multi=True))
    # Forms only where a route reads them (uploads): reading any other body as a form would use
    # it up before the route's JSON parser could refuse it with a 400.
    if request.mimetype == "multipart/form-data":
        named_values += request.form.items(multi=True)
        named_values += ((name, upload.filename or "") for name, upload in request.files.items(multi=True))
    for name, value in named_values:
        if NUL in name or NUL in value:
            problems[_field_name(name)] = [NUL_MESSAGE]
    if request.is_json and request.content_length != 0:
        _check_json(request.get_data(cache=True), problems)
    if problems:
        raise ApiError(422, "validation_error", "The request is invalid.", problems)


def _check_json(raw: bytes, problems: dict[str, list[str]]) -> None:
    try:
        body = json.loads(raw)
    except RecursionError as error:  # the C scanner recurses once per level of nesting
        raise _too_deep() from error
    except ValueError as error:  # not JSON, or a number of more than 4,300 digits
        raise ApiError(400, "bad_request", f"The request body is not valid JSON: {error}"[:200]) from error
    for path in _paths_with_nul(body, "", 0):
        problems[path or "_schema"] = [NUL_MESSAGE]


def _paths_with_nul(value: Any, path: str, depth: int) -> list[str]:
    """Where NULs hide in a parsed JSON value (dotted paths); refuses nesting past MAX_JSON_DEPTH."""
    if depth > MAX_JSON_DEPTH:
        raise _too_deep()
    if isinstance(value, str):
        return [path] if NUL in value else []
    if isinstance(value, dict):
        found = []
        for key, item in value.items():
            child = f"{path}.{key}" if path else key
            found += [_field_name(child)] if NUL in key else _paths_with_nul(item, child, depth + 1)
        return found
    if isinstance(value, list):
        return [p for i, item in enumerate(value) for p in _paths_with_nul(item, f"{path}.{i}", depth + 1)]
    return []


def _field_name(name: str) -> str:
    return name.replace(NUL, "\\0")


def _too_deep() -> ApiError:
    return ApiError(
        400, "bad_request", f"The JSON body is nested more than {MAX_JSON_DEPTH} levels deep.", {}
    )
