"""LOG_FORMAT=json: one JSON line per request and per task, naming the user and never a password,
token or email address; gunicorn's plain access log gives way to the request line."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from flask import Flask

from tests.conftest import PASSWORD
from tests.services import WorkerProcess, gunicorn
from tests.test_metrics import app_on_an_idle_broker


def json_lines(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


def request_line(lines: list[dict], method: str, route: str) -> dict:
    (line,) = [
        n for n in lines if n.get("event") == "request" and (n["method"], n["route"]) == (method, route)
    ]
    return line


def test_requests_log_one_json_line_with_the_user_and_no_secret(make_user, tmp_path):
    alice = make_user("alice")
    log = tmp_path / "gunicorn.log"
    with gunicorn(log, LOG_FORMAT="json") as base:
        login = requests.post(f"{base}/api/v1/auth/login", json={"login": "alice", "password": PASSWORD})
        tokens = login.json()
        me = requests.get(
            f"{base}/api/v1/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
        )
        assert me.status_code == 200

    text = log.read_text()
    assert all(line.startswith("{") for line in text.splitlines()), "a line that is not JSON"
    assert "HTTP/1.1" not in text  # no gunicorn access line beside ours
    for secret in (PASSWORD, tokens["access_token"], tokens["refresh_token"], "alice@example.com", "Bearer"):
        assert secret not in text

    lines = json_lines(log)
    logged_in = request_line(lines, "POST", "/api/v1/auth/login")
    assert (logged_in["status"], logged_in["user_id"]) == (200, None)
    asked = request_line(lines, "GET", "/api/v1/auth/me")
    assert (asked["status"], asked["user_id"]) == (200, alice["id"])
    assert asked["request_id"] == me.headers["X-Request-ID"]
    assert asked["duration_ms"] >= 0


def wait_for_task_lines(log: Path, timeout: float = 30) -> list[dict]:
    deadline = time.monotonic() + timeout
    while not (lines := [line for line in json_lines(log) if line.get("event") == "task"]):
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)
    return lines


@pytest.fixture
def idle_broker(database, monkeypatch) -> Iterator[Flask]:
    yield from app_on_an_idle_broker(monkeypatch)


def test_a_worker_logs_one_json_line_per_task(app, idle_broker, mailbox, tmp_path):
    """A worker of its own on a broker nobody else consumes, so it runs the task this test sends."""
    log = tmp_path / "worker.log"
    worker = WorkerProcess({**os.environ, "LOG_FORMAT": "json", "RAG_WARM_UP": "false"}, log)
    worker.start(idle_broker.extensions["celery"])
    try:
        signup = idle_broker.test_client().post(
            "/api/v1/auth/signup",
            json={"username": "carol", "email": "carol@example.com", "password": PASSWORD},
        )
        assert signup.status_code == 201
        mailbox.wait_for("carol@example.com", "Confirm your email")
        (task,) = wait_for_task_lines(log)
    finally:
        worker.stop()

    assert task["task_name"] == "workers.email.send_verification_email"
    assert task["state"] == "SUCCESS"
    assert task["user_id"] == signup.json["user"]["id"]
    assert task["task_id"] and task["duration_ms"] >= 0
    text = log.read_text()
    assert "carol@example.com" not in text
    assert "succeeded in" not in text  # Celery's own line, which prints return values, gives way
