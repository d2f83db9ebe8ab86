"""GET /api/v1/tasks/<id>: the owner sees the task; everyone else gets the same 404 as for no task."""

from __future__ import annotations

from api.services import tasks


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
