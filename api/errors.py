"""Uniform JSON errors: `{"error": {"code", "message", "details"}}` for every failure.

Routes raise `ApiError`; everything else (HTTP errors from Flask and extensions,
validation errors, dependency outages, bugs) is mapped here so a client never
sees an HTML page or a traceback.
"""

from __future__ import annotations

import logging
from typing import Any

import marshmallow
import redis
import sqlalchemy.exc
from flask import Flask, Response, jsonify
from kombu.exceptions import OperationalError as BrokerError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

HTTP_ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    503: "service_unavailable",
}


class ApiError(Exception):
    """An error with a status code and a stable machine-readable code (API.md)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        *,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}
        self.retry_after = retry_after


def not_found(what: str = "Resource") -> ApiError:
    return ApiError(404, "not_found", f"{what} not found.")


def validation_error(field: str, message: str) -> ApiError:
    return ApiError(422, "validation_error", "The request is invalid.", {field: [message]})


def error_response(status: int, code: str, message: str, details: dict[str, Any] | None = None) -> Response:
    response = jsonify({"error": {"code": code, "message": message, "details": details or {}}})
    response.status_code = status
    return response


def http_error_response(error: HTTPException) -> Response:
    status = error.code or 500
    code = HTTP_ERROR_CODES.get(status, "http_error")
    message = error.description or "Request failed."
    details: dict[str, Any] = {}
    data = getattr(error, "data", None) or {}
    if status == 422 and "messages" in data:
        details = _flatten_locations(data["messages"])
        message = "The request is invalid."
    elif status == 400 and "messages" in data:
        first = next(iter(_flatten_locations(data["messages"]).values()), None)
        message = first[0] if isinstance(first, list) and first else "The request body is not valid JSON."
    elif status == 429:
        message = f"Too many requests: limit is {error.description}."
    response = error_response(status, code, message, details)
    for name, value in getattr(error, "get_headers", lambda: [])() or []:
        if name.lower() != "content-type":
            response.headers[name] = value
    if status == 429 and "Retry-After" not in response.headers:
        response.headers["Retry-After"] = "60"
    return response


def _flatten_locations(messages: dict[str, Any]) -> dict[str, Any]:
    """webargs nests errors by location (`json`, `query`...); clients want field -> messages."""
    flat: dict[str, Any] = {}
    for location_errors in messages.values():
        if isinstance(location_errors, dict):
            flat.update(location_errors)
        else:
            flat.setdefault("_schema", []).extend(location_errors)
    return flat


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def handle_api_error(error: ApiError) -> Response:
        response = error_response(error.status, error.code, error.message, error.details)
        if error.retry_after is not None:
            response.headers["Retry-After"] = str(error.retry_after)
        return response

    @app.errorhandler(marshmallow.ValidationError)
    def handle_schema_error(error: marshmallow.ValidationError) -> Response:
        # Schemas loaded by hand in a route (multipart forms) fail like webargs-parsed ones.
        details = error.messages if isinstance(error.messages, dict) else {"_schema": error.messages}
        return error_response(422, "validation_error", "The request is invalid.", details)

    @app.errorhandler(HTTPException)
    def handle_http_error(error: HTTPException) -> Response:
        return http_error_response(error)

    @app.errorhandler(sqlalchemy.exc.OperationalError)
    @app.errorhandler(sqlalchemy.exc.InterfaceError)
    @app.errorhandler(redis.ConnectionError)
    @app.errorhandler(redis.TimeoutError)
    @app.errorhandler(BrokerError)
    def handle_dependency_down(error: Exception) -> Response:
        log.error("dependency unavailable: %s", error)
        return error_response(
            503, "service_unavailable", "A backing service is unavailable; try again shortly."
        )

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception) -> Response:
        log.exception("unhandled error")
        return error_response(500, "internal_error", "An unexpected error occurred.")
