"""Sessions, history and export: paginated, newest first, and invisible to anyone but their owner."""

from __future__ import annotations

import json

from api.extensions.database import db
from api.models import ChatSession, User
from api.services import chat_sessions


def add_exchange(app, user_id: int, session_id: int, question: str, answer: str) -> None:
    with app.app_context():
        session = db.session.get(ChatSession, session_id)
        chat_sessions.add_message(session, "user", question)
        sources = [
            {
                "n": 1,
                "document_id": 1,
                "title": "Returns Policy",
                "chunk_id": 1,
                "snippet": "45 days",
                "score": 0.8,
            }
        ]
        chat_sessions.add_message(session, "assistant", answer, sources=sources)


def test_session_lifecycle_and_export(app, client, make_user):
    alice = make_user()
    created = client.post("/api/v1/sessions", headers=alice["headers"], json={"title": "Returns"})
    assert created.status_code == 201
    session_id = created.json["id"]
    assert created.json["message_count"] == 0
    add_exchange(app, alice["id"], session_id, "How long can I return?", "45 days [1].")

    detail = client.get(f"/api/v1/sessions/{session_id}", headers=alice["headers"]).json
    assert [m["role"] for m in detail["messages"]] == ["user", "assistant"]
    assert detail["message_count"] == 2
    assert detail["messages"][1]["sources"][0]["title"] == "Returns Policy"

    renamed = client.patch(
        f"/api/v1/sessions/{session_id}", headers=alice["headers"], json={"title": "Refunds"}
    )
    assert renamed.json["title"] == "Refunds"

    as_json = client.get(f"/api/v1/sessions/{session_id}/export?format=json", headers=alice["headers"])
    assert as_json.status_code == 200
    assert "attachment" in as_json.headers["Content-Disposition"]
    assert [m["content"] for m in json.loads(as_json.data)["messages"]] == [
        "How long can I return?",
        "45 days [1].",
    ]
    as_markdown = client.get(
        f"/api/v1/sessions/{session_id}/export?format=markdown", headers=alice["headers"]
    )
    assert as_markdown.headers["Content-Type"].startswith("text/markdown")
    text = as_markdown.get_data(as_text=True)
    assert text.startswith("# Refunds") and "45 days [1]." in text and "Returns Policy" in text
    bad_format = client.get(f"/api/v1/sessions/{session_id}/export?format=pdf", headers=alice["headers"])
    assert bad_format.status_code == 422

    assert client.delete(f"/api/v1/sessions/{session_id}", headers=alice["headers"]).status_code == 204
    assert client.get(f"/api/v1/sessions/{session_id}", headers=alice["headers"]).status_code == 404


def test_sessions_and_history_paginate_newest_first(app, client, make_user):
    alice = make_user()
    ids = [
        client.post("/api/v1/sessions", headers=alice["headers"], json={"title": f"s{i}"}).json["id"]
        for i in range(3)
    ]
    for i, session_id in enumerate(ids):
        add_exchange(app, alice["id"], session_id, f"q{i}", f"a{i}")

    first = client.get("/api/v1/sessions?limit=2", headers=alice["headers"]).json
    assert [s["title"] for s in first["items"]] == ["s2", "s1"]
    second = client.get(
        f"/api/v1/sessions?limit=2&cursor={first['next_cursor']}", headers=alice["headers"]
    ).json
    assert [s["title"] for s in second["items"]] == ["s0"]
    assert second["next_cursor"] is None

    contents, cursor = [], None
    while True:
        url = "/api/v1/chat-history?limit=4" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(url, headers=alice["headers"]).json
        contents += [m["content"] for m in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert contents == ["a2", "q2", "a1", "q1", "a0", "q0"]
    one = client.get(f"/api/v1/chat-history?session_id={ids[1]}", headers=alice["headers"]).json
    assert [m["content"] for m in one["items"]] == ["a1", "q1"]

    assert client.delete("/api/v1/chat-history", headers=alice["headers"]).status_code == 204
    assert client.get("/api/v1/chat-history", headers=alice["headers"]).json["items"] == []
    assert client.get("/api/v1/sessions", headers=alice["headers"]).json["items"] == []


def test_another_users_sessions_are_404(app, client, make_user):
    alice, bob = make_user("alice"), make_user("bob")
    session_id = client.post("/api/v1/sessions", headers=alice["headers"], json={}).json["id"]
    add_exchange(app, alice["id"], session_id, "secret question", "secret answer")
    for method, path in [
        ("get", f"/api/v1/sessions/{session_id}"),
        ("patch", f"/api/v1/sessions/{session_id}"),
        ("delete", f"/api/v1/sessions/{session_id}"),
        ("get", f"/api/v1/sessions/{session_id}/export"),
        ("get", f"/api/v1/chat-history?session_id={session_id}"),
    ]:
        kwargs = {"json": {"title": "mine now"}} if method == "patch" else {}
        response = getattr(client, method)(path, headers=bob["headers"], **kwargs)
        assert response.status_code == 404, (method, path)
    assert client.get("/api/v1/chat-history", headers=bob["headers"]).json["items"] == []
    client.delete("/api/v1/chat-history", headers=bob["headers"])
    with app.app_context():
        alice_user = db.session.get(User, alice["id"])
        assert len(chat_sessions.messages_of(chat_sessions.get_session(alice_user, session_id))) == 2


def test_bad_paging_parameters_are_422(client, make_user):
    alice = make_user()
    for query in ("limit=0", "limit=101", "limit=abc", "cursor=not-a-cursor"):
        response = client.get(f"/api/v1/sessions?{query}", headers=alice["headers"])
        assert response.status_code == 422, query
        assert response.json["error"]["code"] == "validation_error"


def test_title_from_first_message():
    assert chat_sessions.title_from("  How long\nis the return window?  ") == "How long is the return window?"
    long = "word " * 40
    title = chat_sessions.title_from(long)
    assert len(title) <= 81 and title.endswith("…")
