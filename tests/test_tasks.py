"""Task records: only their owner sees them, and every one of them ends, even when its message
keeps killing workers or is lost."""

from __future__ import annotations

from datetime import timedelta

import pytest

from api.extensions.database import db
from api.extensions.redis import get_redis
from api.models import Document, Message, Task, User, utcnow
from api.services import chat_sessions, housekeeping, queue, tasks
from tests.test_chat import read_events


def test_task_status_is_visible_to_its_owner_only(app, client, make_user):
    alice, bob = make_user("alice"), make_user("bob")
    with app.app_context():
        task_id = tasks.create_task(alice["id"], "ingest").id
        tasks.mark_running(task_id)
        tasks.mark_succeeded(task_id, {"document_id": 7, "chunk_count": 3})

    own = client.get(f"/api/v1/tasks/{task_id}", headers=alice["headers"])
    assert own.status_code == 200
    assert own.json["task_id"] == task_id
    assert own.json["kind"] == "ingest"
    assert own.json["state"] == "succeeded"
    assert own.json["result"] == {"document_id": 7, "chunk_count": 3}
    assert own.json["error"] is None
    assert own.json["created_at"].endswith("+00:00")

    other = client.get(f"/api/v1/tasks/{task_id}", headers=bob["headers"])
    unknown = client.get("/api/v1/tasks/00000000-0000-0000-0000-000000000000", headers=bob["headers"])
    assert other.status_code == unknown.status_code == 404
    assert other.json == unknown.json


def test_a_finished_ingest_task_streams_a_done_event(app, client, make_user):
    alice = make_user()
    with app.app_context():
        task_id = tasks.create_task(alice["id"], "ingest").id
        tasks.mark_running(task_id)
        tasks.mark_succeeded(task_id, {"document_id": 7, "chunk_count": 3})
    events = read_events(client, alice, task_id)
    assert [kind for kind, _ in events] == ["done"]  # no tokens: an ingest task has no answer
    assert events[0][1]["result"] == {"document_id": 7, "chunk_count": 3}


def test_failed_task_reports_its_error(app, client, make_user):
    alice = make_user()
    with app.app_context():
        task_id = tasks.create_task(alice["id"], "chat").id
        tasks.mark_failed(task_id, "generation_failed", "The model backend is unreachable.")
    body = client.get(f"/api/v1/tasks/{task_id}", headers=alice["headers"]).json
    assert body["state"] == "failed"
    assert body["error"] == {"code": "generation_failed", "message": "The model backend is unreachable."}
    assert body["result"] is None


def test_task_status_needs_a_token(client):
    assert client.get("/api/v1/tasks/anything").status_code == 401


@pytest.mark.usefixtures("worker")
def test_a_message_delivered_past_the_limit_ends_failed(app, client, make_user):
    alice = make_user()
    with app.app_context():
        user = db.session.get(User, alice["id"])
        session = chat_sessions.create_session(user, "poison")
        question = chat_sessions.add_message(session, "user", "How long is the return window?")
        task = tasks.create_task(user.id, "chat")
        # The worker died on this message as often as allowed: that is what the count records.
        limit = app.config["TASK_MAX_DELIVERIES"]
        get_redis().set(f"task:{task.id}:deliveries:0", limit)
        queue.send(queue.GENERATE_ANSWER, task.id, question.id, task_id=task.id)
        task_id, session_id = task.id, session.id
    kind, end = read_events(client, alice, task_id)[-1]
    assert kind == "error"
    assert end["error"]["code"] == "too_many_attempts"
    with app.app_context():
        roles = db.session.scalars(db.select(Message.role).where(Message.session_id == session_id)).all()
        assert roles == ["user"]  # it was not run again


def test_the_reaper_fails_tasks_and_documents_no_worker_finished(app, make_user):
    alice = make_user()
    limit = timedelta(seconds=app.config["TASK_TIME_LIMIT"])
    long_ago = utcnow() - limit - housekeeping.STALE_MARGIN - timedelta(minutes=1)
    with app.app_context():
        lost = Task(id="lost-task", user_id=alice["id"], kind="chat", state="running", created_at=long_ago)
        queued = Task(
            id="lost-queued", user_id=alice["id"], kind="ingest", state="queued", created_at=long_ago
        )
        recent = Task(id="recent-task", user_id=alice["id"], kind="chat", state="running")
        stuck = Document(owner_id=alice["id"], scope="private", title="stuck", status="indexing")
        db.session.add_all([lost, queued, recent, stuck])
        db.session.commit()
        db.session.execute(db.update(Document).where(Document.id == stuck.id).values(updated_at=long_ago))
        db.session.commit()

        assert housekeeping.fail_stale_tasks() == {"tasks": 2, "documents": 1}

        states = dict(db.session.execute(db.select(Task.id, Task.state)).all())
        assert states == {"lost-task": "failed", "lost-queued": "failed", "recent-task": "running"}
        assert db.session.get(Task, "lost-task").error["code"] == "lost"
        assert db.session.get(Document, stuck.id).status == "failed"
        assert housekeeping.fail_stale_tasks() == {"tasks": 0, "documents": 0}  # idempotent
