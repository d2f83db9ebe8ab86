"""Input that used to reach the database or the parser and come back as a 500: NUL characters,
JSON nested thousands deep, titles longer than their column, a knowledge base of stop words.
Every one gets a clear 4xx JSON error (or simply works), never a 500."""

from __future__ import annotations

import io

import numpy as np
import pytest

from rag.index import ChunkRecord, IndexStore, KnowledgeIndex
from tests.conftest import PASSWORD
from tests.test_documents import upload_file, wait_until_ready

NUL = "\x00"


def assert_validation_error(response, field: str) -> None:
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.json["error"]["code"] == "validation_error"
    assert field in response.json["error"]["details"]


def test_nul_in_a_chat_message_or_session_title_is_422(client, make_user):
    alice = make_user()
    headers = alice["headers"]
    assert_validation_error(
        client.post("/api/v1/chat", headers=headers, json={"message": f"hi{NUL}"}), "message"
    )
    assert_validation_error(
        client.post("/api/v1/sessions", headers=headers, json={"title": f"a{NUL}b"}), "title"
    )
    session = client.post("/api/v1/sessions", headers=headers, json={"title": "Fine"}).json
    renamed = client.patch(f"/api/v1/sessions/{session['id']}", headers=headers, json={"title": NUL})
    assert_validation_error(renamed, "title")
    assert client.get(f"/api/v1/sessions/{session['id']}", headers=headers).json["title"] == "Fine"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"username": f"ann{NUL}", "email": "ann@example.com", "password": PASSWORD}, "username"),
        ({"username": "ann", "email": f"ann{NUL}@example.com", "password": PASSWORD}, "email"),
        ({"username": "ann", "email": "ann@example.com", "password": f"{PASSWORD}{NUL}"}, "password"),
    ],
)
def test_nul_in_any_account_field_is_422(client, body, field):
    assert_validation_error(client.post("/api/v1/auth/signup", json=body), field)


def test_nul_in_login_reset_documents_search_and_queries_is_422(client, make_user):
    alice = make_user()
    headers = alice["headers"]
    login = client.post("/api/v1/auth/login", json={"login": f"alice{NUL}", "password": PASSWORD})
    assert_validation_error(login, "login")
    reset = client.post("/api/v1/auth/password-reset", json={"email": f"{NUL}a@example.com"})
    assert_validation_error(reset, "email")
    text = client.post("/api/v1/documents", headers=headers, json={"title": "T", "content": f"x{NUL}y"})
    assert_validation_error(text, "content")
    search = client.post("/api/v1/search", headers=headers, json={"query": f"x{NUL}"})
    assert_validation_error(search, "query")
    nested = client.post("/api/v1/search", headers=headers, json={"query": "x", "extra": [{"deep": NUL}]})
    assert_validation_error(nested, "extra.0.deep")
    listed = client.get("/api/v1/sessions?cursor=%00", headers=headers)
    assert_validation_error(listed, "cursor")
    form = client.post(
        "/api/v1/documents",
        headers=headers,
        data={"title": f"T{NUL}", "file": (io.BytesIO(b"text"), "notes.txt")},
        content_type="multipart/form-data",
    )
    assert_validation_error(form, "title")
    filename = client.post(
        "/api/v1/documents",
        headers=headers,
        data={"file": (io.BytesIO(b"text"), f"no{NUL}tes.txt")},
        content_type="multipart/form-data",
    )
    assert_validation_error(filename, "file")


@pytest.mark.parametrize("opening, closing", [("[", "]"), ('{"a":', "}")])
def test_deeply_nested_json_is_a_400_json_error(client, make_user, opening, closing):
    alice = make_user()
    deep = opening * 100_000 + "1" + closing * 100_000
    for path, headers in (("/api/v1/auth/login", {}), ("/api/v1/chat", alice["headers"])):
        response = client.post(path, headers=headers, data=deep, content_type="application/json")
        assert response.status_code == 400, response.get_data(as_text=True)[:300]
        assert response.json["error"]["code"] == "bad_request"
    huge = client.post(
        "/api/v1/search",
        headers=alice["headers"],
        data='{"query": "x", "k": 1' + "0" * 5000 + "}",
        content_type="application/json",
    )
    assert huge.status_code == 400 and huge.json["error"]["code"] == "bad_request"
    # Nesting a client might really send still works.
    fine = client.post("/api/v1/search", headers=alice["headers"], json={"query": "", "x": [[[[1]]]]})
    assert fine.status_code == 422 and "query" in fine.json["error"]["details"]


def test_stop_words_alone_make_a_searchable_index(tmp_path):
    """A fresh knowledge base whose only document says "the and of": BM25 has no vocabulary."""
    index = KnowledgeIndex("test-model", 4)
    record = ChunkRecord(
        chunk_id=1, document_id=1, owner_id=0, title="The", heading_path="", text="the and of"
    )
    index.add([record], np.ones((1, 4), dtype=np.float32))
    everyone = index.allowed_rows(None)
    assert index.bm25_search("the and of", 5, everyone) == []
    assert index.bm25_search("calibration", 5, everyone) == []
    assert index.document_frequencies(["calibr"]) == ({}, 1)

    store = IndexStore(tmp_path)
    store.save(index)
    loaded = store.load("test-model", 4)
    assert len(loaded) == 1 and loaded.bm25_search("the", 5, loaded.allowed_rows(None)) == []
    # The next real document brings a vocabulary, and keyword search works again.
    loaded.add(
        [ChunkRecord(2, 2, 0, "Sensors", "", "The calibration constant is 7.3 millivolts.")],
        np.ones((1, 4), dtype=np.float32),
    )
    assert [row for row, _ in loaded.bm25_search("calibration", 5, loaded.allowed_rows(None))] == [1]


@pytest.mark.usefixtures("knowledge_base", "worker")
def test_long_file_names_and_headings_make_clipped_titles(client, make_user):
    alice = make_user()
    too_long = upload_file(client, alice, "q" * 300 + ".md", b"Plain words.")
    assert_validation_error(too_long, "file")
    long_name = "quarterly-report-" + "x" * 230 + ".md"  # 250 characters: file systems allow 255
    by_name = upload_file(client, alice, long_name, b"Plain words about sensors and calibration.")
    assert by_name.status_code == 202, by_name.json
    heading = "Calibration " + " ".join(f"step{i}" for i in range(60))  # ~430 characters
    by_heading = upload_file(client, alice, "notes.md", f"# {heading}\n\nThe sensor is calibrated.".encode())
    assert by_heading.status_code == 202, by_heading.json

    named = wait_until_ready(client, alice, by_name.json["document"]["id"])
    headed = wait_until_ready(client, alice, by_heading.json["document"]["id"])
    assert named["status"] == "ready", named
    assert headed["status"] == "ready", headed
    assert named["title"].lower().replace("-", " ").startswith("quarterly report x")
    assert headed["title"].startswith("Calibration step0 step1") and headed["title"].endswith("…")
    assert len(headed["title"]) <= 300
