"""The Blueprint every resource uses: flask-smorest's, with a stricter JSON body parser."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import flask_smorest
from flask_jwt_extended import current_user, jwt_required
from webargs.flaskparser import FlaskParser, abort, is_json_request

from api.errors import ApiError
from api.schemas.common import ErrorEnvelope

PUBLIC = {"security": []}
"""`@blp.doc(**PUBLIC)` marks a route that needs no bearer token in the spec."""


class JsonOnlyParser(FlaskParser):
    """Refuses a body that is not JSON with 400 instead of reading it as empty."""

    def _raw_load_json(self, req):  # type: ignore[no-untyped-def]
        if req.get_data(cache=True) and not is_json_request(req):
            abort(400, messages={"json": ["Expected a JSON body (Content-Type: application/json)."]})
        return super()._raw_load_json(req)


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = JsonOnlyParser()

    def alt_response(self, status_code: int, response: Any = None, **kwargs: Any) -> Callable:
        """As flask-smorest's, but an error documented without a body gets the error envelope:
        every error answers with it (api/errors.py), and the spec says so."""
        if response is None and kwargs.get("schema") is None and int(status_code) >= 400:
            kwargs["schema"] = ErrorEnvelope
        return super().alt_response(status_code, response, **kwargs)


def admin_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """`@jwt_required()` for administrators only: 401 without a valid token, 403 for other users."""

    @functools.wraps(view)
    @jwt_required()
    def for_admins(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_admin:
            raise ApiError(403, "forbidden", "Administrators only.")
        return view(*args, **kwargs)

    return for_admins
