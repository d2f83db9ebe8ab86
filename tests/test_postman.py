"""The committed Postman collection and .http file are what `make postman` makes from today's spec."""

from __future__ import annotations

import json

from api import create_app
from api.postman import COLLECTION_PATH, HTTP_FILE_PATH, LOGIN_PATH, load_spec, operations, render


def test_committed_files_are_current():
    for path, text in render(load_spec(create_app())).items():
        assert path.read_text() == text, f"{path.name} is stale: run `make postman` and commit it"


def test_collection_lists_every_operation_and_stores_the_tokens_at_login():
    spec = load_spec(create_app())
    collection = json.loads(COLLECTION_PATH.read_text())
    assert collection["info"]["schema"].endswith("/v2.1.0/collection.json")
    requests = [request for folder in collection["item"] for request in folder["item"]]
    listed = {(r["request"]["method"], "/" + "/".join(r["request"]["url"]["path"])) for r in requests}
    for path, method, _ in operations(spec):
        postman_path = path.replace("{", ":").replace("}", "")
        assert (method.upper(), postman_path) in listed, (
            f"{method.upper()} {path} missing from the collection"
        )
    assert len(requests) == len(operations(spec)) and len(spec["paths"]) > 20

    variables = {v["key"] for v in collection["variable"]}
    assert {"baseUrl", "accessToken", "refreshToken"} <= variables
    assert all(r["request"]["url"]["raw"].startswith("{{baseUrl}}/") for r in requests)
    login = next(r for r in requests if r["request"]["url"]["path"] == LOGIN_PATH.strip("/").split("/"))
    script = "\n".join(login["event"][0]["script"]["exec"])
    assert 'collectionVariables.set("accessToken", body.access_token)' in script
    assert 'collectionVariables.set("refreshToken", body.refresh_token)' in script


def test_http_file_has_every_operation():
    spec = load_spec(create_app())
    text = HTTP_FILE_PATH.read_text()
    for path, method, _ in operations(spec):
        line = f"\n{method.upper()} {{{{baseUrl}}}}{path.replace('{', '{{').replace('}', '}}')}\n"
        assert line in text, f"{method.upper()} {path} missing from {HTTP_FILE_PATH.name}"
    assert "@accessToken = {{login.response.body.$.access_token}}" in text
