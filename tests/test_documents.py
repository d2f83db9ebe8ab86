"""Documents over HTTP with a real worker: upload, index, ask, delete; limits; isolation."""

from __future__ import annotations

import io
import time

import pytest

pytestmark = pytest.mark.usefixtures("knowledge_base", "worker")

FACT = "The Zorblatt calibration constant of the Quillfeather sensor is 7.3412 millivolts."
SECRET = "The vault passphrase for project Nightjar is violet-harbor-1187."


def wait_until_ready(client, user, document_id: int, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while (doc := client.get(f"/api/v1/documents/{document_id}", headers=user["headers"]).json)["status"] in (
        "queued",
        "indexing",
    ):
        assert time.monotonic() < deadline, doc
        time.sleep(0.3)
    return doc


def upload_file(client, user, name: str, data: bytes, media_type: str | None = None):
    return client.post(
        "/api/v1/documents",
        headers=user["headers"],
        data={"file": (io.BytesIO(data), name, media_type)},
        content_type="multipart/form-data",
    )


def upload_text(client, user, title: str, content: str, **extra):
    return client.post(
        "/api/v1/documents", headers=user["headers"], json={"title": title, "content": content, **extra}
    )


def ask(client, user, message: str) -> dict:
    response = client.post("/api/v1/chat?wait=60", headers=user["headers"], json={"message": message})
    assert response.status_code == 200, response.json
    return response.json["result"]


def test_upload_ask_delete_ask_again(client, make_user):
    alice = make_user()
    response = upload_file(client, alice, "quillfeather.md", f"# Quillfeather sensor\n\n{FACT}\n".encode())
    assert response.status_code == 202, response.json
    document = response.json["document"]
    assert document["scope"] == "private" and document["status"] in ("queued", "indexing", "ready")
    ready = wait_until_ready(client, alice, document["id"])
    assert ready["status"] == "ready" and ready["chunk_count"] >= 1
    task = client.get(f"/api/v1/tasks/{response.json['task_id']}", headers=alice["headers"]).json
    assert task["kind"] == "ingest" and task["state"] == "succeeded"

    question = "What is the Zorblatt calibration constant of the Quillfeather sensor?"
    answer = ask(client, alice, question)
    assert answer["grounded"] is True
    assert any(s["document_id"] == document["id"] for s in answer["sources"]), answer

    assert client.delete(f"/api/v1/documents/{document['id']}", headers=alice["headers"]).status_code == 204
    assert client.get(f"/api/v1/documents/{document['id']}", headers=alice["headers"]).status_code == 404
    again = ask(client, alice, question)
    assert all(s["document_id"] != document["id"] for s in again["sources"])
    assert again["grounded"] is False


def test_private_documents_never_reach_another_user(client, make_user):
    alice, bob = make_user("alice"), make_user("bob")
    document = upload_text(client, alice, "Nightjar", f"# Project Nightjar\n\n{SECRET}\n").json["document"]
    assert wait_until_ready(client, alice, document["id"])["status"] == "ready"
    question = "What is the vault passphrase for project Nightjar?"

    own = client.post("/api/v1/search", headers=alice["headers"], json={"query": question, "k": 3}).json
    assert "violet-harbor-1187" in own["results"][0]["snippet"]

    for path in (f"/api/v1/documents/{document['id']}",):
        assert client.get(path, headers=bob["headers"]).status_code == 404
        assert client.delete(path, headers=bob["headers"]).status_code == 404
    listed = client.get("/api/v1/documents?limit=100", headers=bob["headers"]).json["items"]
    assert document["id"] not in {d["id"] for d in listed}
    found = client.post("/api/v1/search", headers=bob["headers"], json={"query": question, "k": 20}).json
    assert all("violet-harbor" not in r["snippet"] for r in found["results"])
    answer = ask(client, bob, question)
    assert "violet-harbor" not in answer["answer"]
    assert all(s["document_id"] != document["id"] for s in answer["sources"])


def test_upload_limits_and_validation(client, make_user):
    alice = make_user()
    exe = upload_file(client, alice, "tool.exe", b"MZ\x90\x00")
    assert exe.status_code == 415 and exe.json["error"]["code"] == "unsupported_media_type"
    big = upload_file(client, alice, "big.txt", b"a" * (11 * 1024 * 1024))
    assert big.status_code == 413 and big.json["error"]["code"] == "payload_too_large"
    empty = upload_text(client, alice, "Empty", "   ")
    assert empty.status_code == 422
    blank = upload_text(client, alice, "Blank", "\u2003\u00a0")  # spaces beyond ASCII are blank too
    assert blank.status_code == 422 and blank.json["error"]["details"] == {"content": ["Must not be blank."]}
    missing = client.post(
        "/api/v1/documents", headers=alice["headers"], data={}, content_type="multipart/form-data"
    )
    assert missing.status_code == 422 and "file" in missing.json["error"]["details"]
    assert upload_text(client, alice, "Mine", "text", scope="global").status_code == 403


def test_a_file_named_without_an_extension_is_read_by_its_media_type(client, make_user):
    alice = make_user()
    response = upload_file(client, alice, "blob", f"# Sensor notes\n\n{FACT}\n".encode(), "text/markdown")
    assert response.status_code == 202, response.json
    doc = wait_until_ready(client, alice, response.json["document"]["id"])
    assert doc["status"] == "ready" and doc["chunk_count"] >= 1
    assert doc["source_name"] == "blob.md"
    unknown = upload_file(client, alice, "blob", b"\x89PNG\r\n", "image/png")
    assert unknown.status_code == 415


def test_an_unreadable_file_fails_with_a_reason(client, make_user):
    alice = make_user()
    response = upload_file(client, alice, "broken.pdf", b"%PDF-1.4 not really a pdf")
    doc = wait_until_ready(client, alice, response.json["document"]["id"])
    assert doc["status"] == "failed"
    assert "broken.pdf" in doc["error"]
    task = client.get(f"/api/v1/tasks/{response.json['task_id']}", headers=alice["headers"]).json
    assert task["state"] == "failed" and task["error"]["code"] == "unreadable_document"


def test_admins_manage_global_documents(client, make_user):
    admin, alice = make_user("admin", is_admin=True), make_user("alice")
    document = upload_text(
        client, admin, "Holiday hours", "# Holiday hours\n\nClosed on Midsummer Day.", scope="global"
    )
    assert document.status_code == 202
    doc_id = document.json["document"]["id"]
    assert client.get(f"/api/v1/documents/{doc_id}", headers=alice["headers"]).json["scope"] == "global"
    assert client.delete(f"/api/v1/documents/{doc_id}", headers=alice["headers"]).status_code == 403
    wait_until_ready(client, admin, doc_id)
    assert client.delete(f"/api/v1/documents/{doc_id}", headers=admin["headers"]).status_code == 204


def test_search_validates_its_input(client, make_user):
    alice = make_user()
    assert client.post("/api/v1/search", headers=alice["headers"], json={"query": ""}).status_code == 422
    assert (
        client.post("/api/v1/search", headers=alice["headers"], json={"query": "x", "k": 21}).status_code
        == 422
    )
