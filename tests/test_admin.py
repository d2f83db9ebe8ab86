"""GET /api/v1/admin/stats for administrators only, and GET /api/v1/system/llm for every user."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

import celery_config
from api import create_app
from api.extensions.database import db
from api.models import Chunk, Document, Message, User
from api.services import chat_sessions, health

MINILM = "sentence-transformers/all-MiniLM-L6-v2"


def publish_index(directory: Path, model_id: str = MINILM, chunks: int = 2) -> int:
    """Publish an index version under `directory` as a worker does; returns its version."""
    from rag.index import ChunkRecord, IndexStore, KnowledgeIndex

    index = KnowledgeIndex(model_id, dimension=4)
    records = [ChunkRecord(n, 1, 0, "Notes", "Notes", f"part {n}") for n in range(chunks)]
    vectors = np.eye(4, dtype=np.float32)[:chunks]
    index.add(records, vectors)
    return IndexStore(directory).save(index)


def add_private_document(owner_id: int, chunks: int) -> None:
    document = Document(owner_id=owner_id, title="Notes", scope="private", status="ready", chunk_count=chunks)
    db.session.add(document)
    db.session.flush()
    db.session.add_all(
        Chunk(document_id=document.id, position=n, text=f"part {n}", token_count=2) for n in range(chunks)
    )
    db.session.commit()


def worker_models_recorded(app, timeout: float = 60) -> dict:
    """The running worker's record of its models, once it has loaded them.

    Each test's clean-up flushes Redis; the worker renews its record within seconds.
    """
    with app.app_context():
        deadline = time.monotonic() + timeout
        while not (reports := health.worker_reports()):
            assert time.monotonic() < deadline, f"the worker recorded no models in {timeout}s"
            time.sleep(0.5)
    return reports


def stats(client, headers: dict) -> dict:
    response = client.get("/api/v1/admin/stats", headers=headers)
    assert response.status_code == 200, response.json
    return response.json


def test_admin_stats_count_what_was_added(app, client, make_user):
    admin = make_user("root", is_admin=True)
    before = stats(client, admin["headers"])
    bob = make_user("bob")
    with app.app_context():
        session = chat_sessions.create_session(db.session.get(User, bob["id"]), "Returns")
        db.session.add_all(
            Message(session_id=session.id, user_id=bob["id"], role=role, content=text)
            for role, text in (("user", "How long is the return window?"), ("assistant", "30 days."))
        )
        db.session.commit()
        add_private_document(bob["id"], chunks=3)
    after = stats(client, admin["headers"])

    added = {name: after["counts"][name] - before["counts"][name] for name in after["counts"]}
    assert added == {"users": 1, "sessions": 1, "messages": 2, "documents": 1, "chunks": 3}
    assert set(after["queues"]) == set(celery_config.QUEUES)
    assert all(isinstance(length, int) for length in after["queues"].values())


def test_admin_stats_report_the_index_version(database, make_user, tmp_path):
    admin = make_user("root", is_admin=True)
    client = create_app({"INDEX_DIR": str(tmp_path)}).test_client()
    assert stats(client, admin["headers"])["index"] == {"version": None, "chunks": 0, "model_id": None}

    version = publish_index(tmp_path, chunks=2)
    assert stats(client, admin["headers"])["index"] == {"version": version, "chunks": 2, "model_id": MINILM}


def test_admin_stats_are_for_administrators_only(client, make_user):
    alice = make_user("alice")
    forbidden = client.get("/api/v1/admin/stats", headers=alice["headers"])
    assert forbidden.status_code == 403
    assert forbidden.json["error"]["code"] == "forbidden"
    anonymous = client.get("/api/v1/admin/stats")
    assert anonymous.status_code == 401
    assert anonymous.json["error"]["code"] == "unauthorized"


def test_system_llm_names_the_configured_model(client, make_user):
    alice = make_user()
    response = client.get("/api/v1/system/llm", headers=alice["headers"])
    assert response.status_code == 200
    body = response.json
    assert set(body) == {"backend", "model", "context_size", "loaded", "answer_mode"}
    assert (body["backend"], body["model"], body["context_size"]) == ("llamacpp", "gemma-3-270m-q4_k_m", 2048)
    assert isinstance(body["loaded"], bool)
    assert client.get("/api/v1/system/llm").status_code == 401


def test_system_llm_is_loaded_once_a_worker_has_the_model(worker, app, client, make_user):
    alice = make_user()
    worker_models_recorded(app)
    body = client.get("/api/v1/system/llm", headers=alice["headers"]).json
    generates = app.config["ANSWER_MODE"] == "generative"  # extractive answers need no model in memory
    assert body == {
        "backend": "llamacpp",
        "model": "gemma-3-270m-q4_k_m",
        "context_size": 2048,
        "loaded": generates,
        "answer_mode": app.config["ANSWER_MODE"],
    }

    # The API reports the model its settings name: the worker has not loaded that one.
    ollama = create_app({"LLM_BACKEND": "ollama", "OLLAMA_MODEL": "llama3.2:1b"}).test_client()
    other = ollama.get("/api/v1/system/llm", headers=alice["headers"]).json
    assert other["backend"] == "ollama" and other["model"] == "llama3.2:1b"
    assert other["context_size"] is None and other["loaded"] is False
