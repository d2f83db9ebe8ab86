"""The Blueprint every resource uses: flask-smorest's, with a stricter JSON body parser."""

from __future__ import annotations

import flask_smorest
from webargs.flaskparser import FlaskParser, abort, is_json_request

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
