"""Event streams are capped, bounded in time, resumable, and cannot starve the API of threads."""

from __future__ import annotations

import concurrent.futures
import time

import pytest
import requests

from api import create_app
from api.services import tasks
from api.services.task_events import TokenPublisher
from tests.services import gunicorn


def open_stream(client, user, task_id: str, **headers: str):
    return client.get(
        f"/api/v1/tasks/{task_id}/events", headers={**user["headers"], **headers}, buffered=False
    )


def events_of(response) -> list[str]:
    """The stream's blocks (events and comments) as the client receives them, to the end."""
    text = "".join(p.decode() if isinstance(p, bytes) else p for p in response.response)
    return [block for block in text.split("\n\n") if block]


@pytest.fixture
def queued_task(app):
    """Chat tasks that stay queued (no worker is asked), so their streams stay open."""
    created = []

    def make(user) -> str:
        with app.app_context():
            created.append(tasks.create_task(user["id"], "chat").id)
        return created[-1]

    yield make
    with app.app_context():
        for task_id in created:
            tasks.mark_failed(task_id, "test", "never queued")


def test_a_users_streams_beyond_the_cap_get_429_until_one_closes(make_user, queued_task):
    app = create_app({"SSE_MAX_STREAMS_PER_USER": 2})
    client = app.test_client()
    alice, bob = make_user("alice"), make_user("bob")
    task = queued_task(alice)
    first, second = open_stream(client, alice, task), open_stream(client, alice, task)
    assert first.status_code == second.status_code == 200

    refused = open_stream(client, alice, task)
    assert refused.status_code == 429
    assert refused.json["error"]["code"] == "rate_limited"
    assert "too many open event streams" in refused.json["error"]["message"]
    assert int(refused.headers["Retry-After"]) > 0
    # Another user's streams are counted apart.
    bobs = open_stream(client, bob, queued_task(bob))
    assert bobs.status_code == 200

    # (Closed last-opened first: the test client runs every stream in this one thread.)
    bobs.close()
    second.close()  # the client leaves: its slot is free again
    third = open_stream(client, alice, task)
    assert third.status_code == 200
    third.close()
    first.close()


def test_the_servers_streams_beyond_its_cap_get_429(make_user, queued_task):
    app = create_app({"SSE_MAX_STREAMS": 2})
    client = app.test_client()
    users = [make_user(name) for name in ("alice", "bob", "carol")]
    streams = [open_stream(client, user, queued_task(user)) for user in users]
    assert [s.status_code for s in streams] == [200, 200, 429]
    assert "server has too many" in streams[2].json["error"]["message"]
    for stream in reversed(streams):
        stream.close()


def test_a_stream_ends_after_its_lifetime_and_a_reconnect_resumes_after_the_last_event(
    make_user, queued_task
):
    app = create_app({"SSE_MAX_STREAM_SECONDS": 1, "SSE_HEARTBEAT_SECONDS": 0.2})
    client = app.test_client()
    alice = make_user()
    task = queued_task(alice)
    with app.app_context():
        publisher = TokenPublisher(task)
        for text in ("The window ", "is ", "45 days."):
            publisher.token(text)

    started = time.monotonic()
    blocks = events_of(open_stream(client, alice, task))
    assert time.monotonic() - started < 10
    assert next(b for b in blocks if "event: token" in b).startswith("id: 1\n")
    assert "retry:" in blocks[-1]  # told to reconnect, not left hanging

    with app.app_context():
        tasks.mark_succeeded(task, {"answer": "The window is 45 days."})
    resumed = events_of(open_stream(client, alice, task, **{"Last-Event-ID": "2"}))
    tokens = [b for b in resumed if "event: token" in b]
    assert tokens == ['id: 3\nevent: token\ndata: {"text":"45 days."}']
    assert "event: done" in resumed[-1]

    assert open_stream(client, alice, task, **{"Last-Event-ID": "-1"}).status_code == 422


def test_idle_streams_do_not_stall_other_requests_under_gunicorn(make_user, queued_task, tmp_path):
    """More open streams than gunicorn would have threads: everyone else is still served."""
    users = [make_user(f"user{n}") for n in range(8)]
    waiting = [(user, queued_task(user)) for user in users for _ in range(5)]  # 40 streams
    with gunicorn(tmp_path / "gunicorn.log", threads=4, SSE_HEARTBEAT_SECONDS="1") as base:
        streams = [
            requests.get(f"{base}/api/v1/tasks/{t}/events", headers=u["headers"], stream=True, timeout=30)
            for u, t in waiting
        ]
        try:
            assert all(s.status_code == 200 for s in streams)

            def sessions_answered_in() -> float:
                started = time.monotonic()
                response = requests.get(f"{base}/api/v1/sessions", headers=users[0]["headers"], timeout=10)
                assert response.status_code == 200
                return time.monotonic() - started

            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                durations = list(pool.map(lambda _: sessions_answered_in(), range(16)))
            assert max(durations) < 5, durations
        finally:
            for stream in streams:
                stream.close()
