"""Every task ends: whatever goes wrong in a worker, the task ends `failed` with a code, streams
an `error` event, and /readyz says the service cannot answer.

The failure is a real one: a worker whose index directory is unusable (INDEX_DIR
names a file). Redelivery limits and the reaper are in test_tasks.py.
"""

from __future__ import annotations

import os
import time

import pytest

from api import create_app
from tests.conftest import SESSION_DIR
from tests.services import WorkerProcess
from tests.test_chat import read_events


@pytest.fixture(scope="module")
def broken_worker(worker):
    """The worker, restarted with an INDEX_DIR that is a file: loading and searching raise.

    The usual worker comes back when the module is done.
    """
    not_a_directory = SESSION_DIR / "index-is-a-file"
    not_a_directory.write_text("not an index")
    celery = create_app().extensions["celery"]
    worker.stop()
    broken = WorkerProcess(
        {**os.environ, "INDEX_DIR": str(not_a_directory)}, SESSION_DIR / "broken-worker.log"
    )
    broken.start(celery)
    yield broken
    broken.stop()
    worker.start(celery)


@pytest.fixture
def broken(broken_worker, client, make_user):
    """(client, user) talking to the broken worker."""
    return client, make_user()


def wait_for_end(client, user, task_id: str) -> dict:
    events = read_events(client, user, task_id)
    kind, body = events[-1]
    assert kind in ("done", "error"), events
    return {"event": kind, **body}


def test_readyz_says_degraded_when_no_worker_could_load_its_models(broken):
    client, _ = broken
    deadline = time.monotonic() + 60
    # "...loaded its models and index yet" while the worker loads; without "yet" once it failed.
    failed = "no running worker has loaded its models and index"
    while (body := client.get("/readyz").json)["checks"]["models"].get("error") != failed:
        assert body["status"] == "degraded", body  # never ok, not even while the worker is loading
        assert time.monotonic() < deadline, body
        time.sleep(0.5)
    assert client.get("/readyz").status_code == 503
    assert body["status"] == "degraded"
    assert body["checks"]["workers"]["ok"] is True
    assert body["checks"]["models"]["ok"] is False
    assert "Error" not in str(body) and "index-is-a-file" not in str(body)  # no exception, no path


def test_a_chat_whose_code_raises_ends_failed_with_an_error_event(broken):
    client, alice = broken
    accepted = client.post("/api/v1/chat", headers=alice["headers"], json={"message": "Return window?"})
    assert accepted.status_code == 202
    end = wait_for_end(client, alice, accepted.json["task_id"])
    assert end["event"] == "error"
    assert end["state"] == "failed"
    assert end["error"]["code"] == "internal_error"
    assert "index-is-a-file" not in end["error"]["message"]  # no server detail leaks to users
    polled = client.get(accepted.json["status_url"], headers=alice["headers"]).json
    assert polled["state"] == "failed"


def test_a_search_whose_code_raises_is_a_clear_503(broken):
    client, alice = broken
    response = client.post("/api/v1/search", headers=alice["headers"], json={"query": "return window"})
    assert response.status_code == 503
    assert response.json["error"]["code"] == "service_unavailable"


def test_an_ingest_whose_code_raises_fails_the_task_and_the_document(broken):
    client, alice = broken
    accepted = client.post(
        "/api/v1/documents", headers=alice["headers"], json={"title": "Notes", "content": "# Notes\n\nHello."}
    )
    assert accepted.status_code == 202
    end = wait_for_end(client, alice, accepted.json["task_id"])
    assert end["event"] == "error"
    assert end["error"]["code"] == "internal_error"
    document = client.get(
        f"/api/v1/documents/{accepted.json['document']['id']}", headers=alice["headers"]
    ).json
    assert document["status"] == "failed"
    assert document["error"]
