"""Logging for the whole process, and per request: Prometheus metrics and, with `LOG_FORMAT=json`,
one log line (method, route rule, status, duration, user id, request id).

First in `EXTENSIONS`, so its clock starts before any other extension can answer a request
(a rate limit, a bad token) and every answer is counted.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, Response, current_app, g, request
from flask_jwt_extended import get_jwt_identity

from api.logs import configure_logging, log_finished
from api.services import metrics

request_log = logging.getLogger("api.requests")
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def init_app(app: Flask) -> None:
    configure_logging(app.config["LOG_LEVEL"], app.config["LOG_FORMAT"])
    app.before_request(_start_request)
    app.after_request(_finish_request)


def _start_request() -> None:
    g.request_started = time.perf_counter()
    given = request.headers.get("X-Request-ID", "")
    g.request_id = given if REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


def _finish_request(response: Response) -> Response:
    seconds = time.perf_counter() - g.get("request_started", time.perf_counter())
    route = _route()
    metrics.observe_request(request.method, route, response.status_code, seconds)
    if current_app.config["LOG_FORMAT"] == "json":  # in text mode, gunicorn's access log is the line
        _log_request(route, response.status_code, seconds)
    if "request_id" in g:
        response.headers["X-Request-ID"] = g.request_id
    return response


def _log_request(route: str, status: int, seconds: float) -> None:
    # Never the path (it can hold a token), the query, a header or a body: only these fields.
    log_finished(
        request_log,
        "request",
        seconds,
        method=request.method,
        route=route,
        status=status,
        user_id=_user_id(),
        request_id=g.get("request_id"),
    )


def _route() -> str:
    """The URL rule that matched (`/api/v1/tasks/<task_id>`), never the raw path."""
    return request.url_rule.rule if request.url_rule else metrics.UNMATCHED_ROUTE


def _user_id() -> int | None:
    try:
        identity = get_jwt_identity()
    except RuntimeError:  # no token was checked on this request
        return None
    return int(identity) if identity is not None else None
