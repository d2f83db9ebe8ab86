"""Chat over Celery, end to end: API -> Redis -> a real worker process -> retrieval + GGUF model."""

from __future__ import annotations

import json
import time

import psycopg2
import pytest
import redis as redis_lib
import requests

from api.extensions.database import db
from api.models import Message
from api.services import queue, tasks
from tests.conftest import TEST_ENV
from tests.services import gunicorn

RETURN_QUESTION = "How many days is the standard return window for devices bought from the Aerolume store?"
OFF_TOPIC = "Who won the football world cup in 1998?"

pytestmark = pytest.mark.usefixtures("knowledge_base", "worker")


def ask(client, user, message: str, wait: float | None = None, **body):
    url = "/api/v1/chat" + (f"?wait={wait}" if wait is not None else "")
    return client.post(url, headers=user["headers"], json={"message": message, **body})


def read_events(client, user, task_id: str) -> list[tuple[str, dict]]:
    """A streaming SSE client: parses events as the server writes them."""
    response = client.get(f"/api/v1/tasks/{task_id}/events", headers=user["headers"], buffered=False)
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    events, buffer = [], ""
    for piece in response.response:
        buffer += piece.decode() if isinstance(piece, bytes) else piece
        while "\n\n" in buffer:
            block, buffer = buffer.split("\n\n", 1)
            if block.startswith(":"):
                continue  # heartbeat
            lines = dict(line.split(": ", 1) for line in block.splitlines())
            events.append((lines["event"], json.loads(lines["data"])))
    response.close()
    return events


def test_a_covered_question_is_answered_with_a_source_holding_the_fact(client, make_user):
    alice = make_user()
    response = ask(client, alice, RETURN_QUESTION, wait=60)
    assert response.status_code == 200, response.json
    body = response.json
    assert body["state"] == "succeeded"
    result = body["result"]
    assert result["grounded"] is True
    assert result["answer"]
    assert any("45 days" in source["snippet"] for source in result["sources"])
    assert "45 days" in result["answer"]  # the answer states the fact, quoted from its source
    assert result["related"] == []
    assert {"queue_ms", "retrieval_ms", "generation_ms", "total_ms"} <= set(result["timings"])
    stored = client.get(f"/api/v1/sessions/{result['session_id']}", headers=alice["headers"]).json
    assert [m["role"] for m in stored["messages"]] == ["user", "assistant"]
    assert stored["messages"][1]["content"] == result["answer"]
    assert (
        stored["title"] == RETURN_QUESTION[:80].rsplit(" ", 1)[0] + "…" or stored["title"] == RETURN_QUESTION
    )


def test_a_question_outside_the_knowledge_base_gets_the_fallback(client, make_user):
    alice = make_user()
    result = ask(client, alice, OFF_TOPIC, wait=60).json["result"]
    assert result["grounded"] is False
    assert result["sources"] == []
    assert result["related"] == []  # nothing in the knowledge base is near a question off its topic
    assert "knowledge base has no information" in result["answer"]


def test_a_fact_the_documents_lack_is_not_invented_and_the_closest_passages_come_with_it(client, make_user):
    alice = make_user()
    result = ask(client, alice, "How heavy is the Aerolume Hub?", wait=60).json["result"]
    assert result["grounded"] is False
    assert result["sources"] == []
    assert result["answer"] == "The documents don't say."
    assert result["related"] and {"document_id", "title", "chunk_id", "snippet", "score"} <= set(
        result["related"][0]
    )
    assert any("Hub" in passage["title"] or "Hub" in passage["snippet"] for passage in result["related"])


def test_a_redelivered_task_shows_the_stored_related_passages(app, client, make_user):
    """A worker that dies after storing the answer but before finishing the task: the run that
    takes the message over finds the stored answer and shows its related passages too."""
    alice = make_user()
    first = ask(client, alice, "How heavy is the Aerolume Hub?", wait=60).json
    assert first["result"]["related"]
    with app.app_context():
        task = tasks.get_task(first["task_id"])
        task.state = "running"
        db.session.commit()
        message_id = db.session.scalar(
            db.select(Message.id).where(Message.session_id == task.session_id, Message.role == "user")
        )
    with app.test_request_context():
        queue.send(queue.GENERATE_ANSWER, first["task_id"], message_id)  # as the broker redelivers it
    deadline = time.monotonic() + 60
    while (body := client.get(f"/api/v1/tasks/{first['task_id']}", headers=alice["headers"]).json)[
        "state"
    ] != "succeeded":
        assert time.monotonic() < deadline, "the redelivered task never finished"
        time.sleep(0.2)
    assert body["result"]["answer"] == first["result"]["answer"]
    assert body["result"]["related"] == first["result"]["related"]


def test_without_wait_the_api_answers_202_at_once(client, make_user):
    alice = make_user()
    started = time.perf_counter()
    response = ask(client, alice, RETURN_QUESTION)
    assert time.perf_counter() - started < 2
    assert response.status_code == 202
    body = response.json
    assert body["state"] == "queued"
    assert body["status_url"] == f"/api/v1/tasks/{body['task_id']}"
    assert body["stream_url"] == f"/api/v1/tasks/{body['task_id']}/events"
    deadline = time.monotonic() + 60
    while client.get(body["status_url"], headers=alice["headers"]).json["state"] != "succeeded":
        assert time.monotonic() < deadline
        time.sleep(0.2)


def test_streamed_tokens_add_up_to_the_stored_answer_for_early_and_late_clients(client, make_user):
    alice = make_user()
    task_id = ask(client, alice, RETURN_QUESTION).json["task_id"]
    live = read_events(client, alice, task_id)  # connects before or during generation
    kinds = [kind for kind, _ in live]
    assert kinds[-1] == "done" and kinds.count("done") == 1
    assert set(kinds[:-1]) == {"token"}
    streamed = "".join(data["text"] for kind, data in live if kind == "token")
    task = live[-1][1]
    assert task["state"] == "succeeded"
    assert streamed == task["result"]["answer"]

    late = read_events(client, alice, task_id)  # after generation finished
    assert "".join(d["text"] for k, d in late if k == "token") == streamed
    assert late[-1][0] == "done"


def test_follow_up_in_the_same_session_and_session_checks(client, make_user):
    alice, bob = make_user("alice"), make_user("bob")
    first = ask(client, alice, RETURN_QUESTION, wait=60).json["result"]
    follow = ask(client, alice, "And for a Hub?", wait=60, session_id=first["session_id"])
    assert follow.status_code == 200
    assert follow.json["result"]["session_id"] == first["session_id"]
    session = client.get(f"/api/v1/sessions/{first['session_id']}", headers=alice["headers"]).json
    assert session["message_count"] == 4
    assert ask(client, bob, "hi", session_id=first["session_id"]).status_code == 404


@pytest.mark.parametrize(
    ("query", "body"),
    [
        ("", {"message": ""}),
        ("", {"message": "   "}),
        ("", {"message": "x" * 4001}),
        ("?wait=61", {"message": "hi"}),
    ],
)
def test_invalid_chat_requests_are_422(client, make_user, query, body):
    alice = make_user()
    response = client.post(f"/api/v1/chat{query}", headers=alice["headers"], json=body)
    assert response.status_code == 422
    assert response.json["error"]["code"] == "validation_error"


def test_another_users_task_and_events_are_404(client, make_user):
    alice, bob = make_user("alice"), make_user("bob")
    task_id = ask(client, alice, OFF_TOPIC, wait=60).json["task_id"]
    assert client.get(f"/api/v1/tasks/{task_id}", headers=bob["headers"]).status_code == 404
    assert client.get(f"/api/v1/tasks/{task_id}/events", headers=bob["headers"]).status_code == 404


def test_a_killed_worker_leaves_exactly_one_answer(app, client, make_user, worker):
    alice = make_user()
    accepted = ask(client, alice, RETURN_QUESTION).json
    task_id = accepted["task_id"]
    # Hold the session's row: the worker streams its answer, then waits to store it, so it is
    # surely killed mid-task however fast the answer is.
    holder = psycopg2.connect(TEST_ENV["DATABASE_URL"])
    try:
        holder.cursor().execute(
            "SELECT id FROM chat_sessions WHERE id = %s FOR UPDATE", (accepted["session_id"],)
        )
        tokens = redis_lib.Redis.from_url(TEST_ENV["REDIS_URL"])
        deadline = time.monotonic() + 60
        while not tokens.llen(f"task:{task_id}:tokens"):  # generation has started
            assert time.monotonic() < deadline, "generation never started"
            time.sleep(0.01)
        worker.kill()
        assert client.get(f"/api/v1/tasks/{task_id}", headers=alice["headers"]).json["state"] == "running"
    finally:
        holder.close()  # its transaction ends: the row is free again
        if worker.process.poll() is not None:
            worker.start(app.extensions["celery"])  # for this test, and every later one
    deadline = time.monotonic() + 120
    while (body := client.get(f"/api/v1/tasks/{task_id}", headers=alice["headers"]).json)[
        "state"
    ] != "succeeded":
        assert body["state"] != "failed", body
        assert time.monotonic() < deadline, "the task was not redelivered"
        time.sleep(0.5)
    with app.app_context():
        answers = db.session.scalars(db.select(Message).where(Message.role == "assistant")).all()
        assert len(answers) == 1
        assert answers[0].task_id == task_id
        assert answers[0].content == body["result"]["answer"]


def test_sse_under_gunicorn_and_a_client_that_leaves_frees_its_subscription(app, make_user, tmp_path):
    alice = make_user()
    channels = redis_lib.Redis.from_url(TEST_ENV["REDIS_URL"])
    with gunicorn(tmp_path / "gunicorn.log", SSE_HEARTBEAT_SECONDS="0.3") as base:
        accepted = requests.post(
            f"{base}/api/v1/chat", headers=alice["headers"], json={"message": RETURN_QUESTION}, timeout=10
        ).json()
        with requests.get(
            f"{base}{accepted['stream_url']}", headers=alice["headers"], stream=True, timeout=60
        ) as live:
            events = [
                block
                for block in live.iter_lines(chunk_size=1, decode_unicode=True, delimiter="\n\n")
                if block
            ]
        data = [json.loads(block.split("data: ", 1)[1]) for block in events if "\nevent: " in f"\n{block}"]
        assert "".join(d["text"] for d in data[:-1]) == data[-1]["result"]["answer"]

        # A task that will not finish soon: the client reads a heartbeat, then hangs up.
        with app.app_context():
            waiting = tasks.create_task(alice["id"], "chat").id
        stream = requests.get(
            f"{base}/api/v1/tasks/{waiting}/events", headers=alice["headers"], stream=True, timeout=30
        )
        assert next(stream.iter_lines(decode_unicode=True)).startswith(": keep-alive")
        channel = f"task:{waiting}:events"
        assert dict(channels.pubsub_numsub(channel))[channel.encode()] == 1
        stream.close()
        deadline = time.monotonic() + 10
        while dict(channels.pubsub_numsub(channel))[channel.encode()]:
            assert time.monotonic() < deadline, "the server kept the subscription of a client that left"
            time.sleep(0.2)
    with app.app_context():
        tasks.mark_failed(waiting, "test", "never queued")
