"""GET /metrics: what Prometheus scrapes counts requests, finished tasks and waiting messages, across
gunicorn's worker processes, and names no user, path or text."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families

from api import create_app
from api.services import queue, tasks
from tests.services import REDIS_BASE, flush_redis, free_port, gunicorn

Samples = dict[tuple[str, frozenset], float]


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(client) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    return parse(response.get_data(as_text=True))


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def requests_counted(samples: Samples, route: str, status: str, method: str = "GET") -> float:
    return value(samples, "ragbot_http_requests_total", method=method, route=route, status=status)


def test_a_request_is_counted_under_its_route_rule_and_status(client, make_user):
    alice = make_user()
    before = scrape(client)
    client.get("/api/v1/tasks/6f1c0d9e-0000-4000-8000-000000000000", headers=alice["headers"])
    after = scrape(client)

    assert requests_counted(after, "/api/v1/tasks/<task_id>", "404") == (
        requests_counted(before, "/api/v1/tasks/<task_id>", "404") + 1
    )
    latency = ("ragbot_http_request_duration_seconds_count", "/api/v1/tasks/<task_id>")
    assert value(after, latency[0], method="GET", route=latency[1]) == (
        value(before, latency[0], method="GET", route=latency[1]) + 1
    )


def test_metrics_name_routes_never_paths_users_or_tokens(client, make_user):
    alice = make_user()
    client.get("/api/v1/auth/verify-email/a-secret-token-in-the-path")
    client.get("/api/v1/auth/me", headers=alice["headers"])
    client.get("/no/such/page/zq-private-segment")

    text = client.get("/metrics").get_data(as_text=True)
    samples = parse(text)
    assert requests_counted(samples, "/api/v1/auth/verify-email/<token>", "400") >= 1
    assert requests_counted(samples, "unmatched", "404") >= 1
    for secret in ("a-secret-token-in-the-path", "zq-private-segment", alice["access_token"], "alice"):
        assert secret not in text


def test_finished_tasks_show_by_kind_and_state(app, client, make_user):
    alice = make_user()
    before = scrape(client)
    with app.app_context():
        chat = tasks.create_task(alice["id"], "chat").id
        tasks.mark_running(chat)
        tasks.mark_succeeded(chat, {"answer": "Thirty days."})
        ingest = tasks.create_task(alice["id"], "ingest").id
        tasks.mark_failed(ingest, "unreadable_document", "The file could not be read.")
    after = scrape(client)

    def change(kind: str, state: str) -> float:
        return value(after, "ragbot_tasks", kind=kind, state=state) - value(
            before, "ragbot_tasks", kind=kind, state=state
        )

    assert change("chat", "succeeded") == 1
    assert change("ingest", "failed") == 1
    assert change("chat", "queued") == change("chat", "running") == 0
    assert value(after, "ragbot_metrics_source_up", source="database") == 1


def app_on_an_idle_broker(monkeypatch) -> Iterator[Flask]:
    """An app whose broker no worker consumes (unless a test starts one on it)."""
    broker = f"{REDIS_BASE}/12"
    monkeypatch.setenv("CELERY_BROKER_URL", broker)  # Celery reads it before its own settings
    flush_redis(broker)
    yield create_app()
    flush_redis(broker)


@pytest.fixture
def idle_broker(database, monkeypatch) -> Iterator[Flask]:
    """Messages sent through this app stay in their queues."""
    yield from app_on_an_idle_broker(monkeypatch)


def test_queue_length_counts_messages_waiting(idle_broker):
    with idle_broker.app_context():
        for _ in range(2):
            queue.send(queue.SEND_PASSWORD_RESET_EMAIL, 1)
        queue.send(queue.REMOVE_DOCUMENT, 1)

    samples = scrape(idle_broker.test_client())
    lengths = {
        queue_name: value(samples, "ragbot_queue_length", queue=queue_name) for queue_name in queue_names()
    }
    assert lengths == {"chat": 0, "search": 0, "ingest": 1, "email": 2, "maintenance": 0}
    assert value(samples, "ragbot_metrics_source_up", source="broker") == 1


def queue_names() -> list[str]:
    import celery_config

    return list(celery_config.QUEUES)


def test_metrics_still_answer_while_the_database_is_down(database):
    down = create_app(
        {"SQLALCHEMY_DATABASE_URI": f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/x"}
    )
    client = down.test_client()
    client.get("/healthz")
    samples = scrape(client)
    assert value(samples, "ragbot_metrics_source_up", source="database") == 0
    assert requests_counted(samples, "/healthz", "200") >= 1
    assert not any(name == "ragbot_tasks" for name, _ in samples)


def test_every_gunicorn_worker_process_adds_to_the_same_counts(database, tmp_path):
    """The Procfile's gunicorn with two worker processes: whichever one a scrape reaches, it sees all."""
    with gunicorn(tmp_path / "gunicorn.log", API_WORKERS="2") as base:
        before = parse(requests.get(f"{base}/metrics", timeout=10).text)
        for _ in range(30):  # a new connection each time, so both processes answer some
            requests.get(f"{base}/healthz", timeout=10)
        scrapes = [parse(requests.get(f"{base}/metrics", timeout=10).text) for _ in range(6)]
    assert (tmp_path / "gunicorn.log").read_text().count("Booting worker") == 2
    for samples in scrapes:
        assert (
            requests_counted(samples, "/healthz", "200") == requests_counted(before, "/healthz", "200") + 30
        )
