"""Health probes, dependency outages and the production processes started as operators start them."""

from __future__ import annotations

import os
import time

import requests

from api import create_app
from tests.services import free_port, spawn


def test_healthz_touches_nothing(client):
    assert client.get("/healthz").json == {"status": "ok"}


def test_gunicorn_and_worker_report_ready(worker, tmp_path):
    port = free_port()
    server = spawn(
        ["gunicorn", "wsgi:app", "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "4"],
        tmp_path / "gunicorn.log",
        dict(os.environ),
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "gunicorn.log").read_text()
            time.sleep(0.2)
        ready = requests.get(f"{base}/readyz", timeout=10)
        assert ready.status_code == 200, ready.text
        checks = ready.json()["checks"]
        assert {name: check["ok"] for name, check in checks.items()} == {
            "database": True,
            "redis": True,
            "workers": True,
        }
        assert any(name.startswith("worker1@") for name in checks["workers"]["answered"])
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_readyz_is_503_when_redis_is_down(database):
    down = f"redis://127.0.0.1:{free_port()}/0"
    app = create_app({"REDIS_URL": down})
    app.extensions["celery"].conf.broker_url = down
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    body = response.json
    assert body["status"] == "unavailable"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["redis"]["ok"] is False


def test_database_outage_is_a_503_json_error(database):
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/x"})
    response = app.test_client().post("/api/v1/auth/login", json={"login": "alice", "password": "whatever1"})
    assert response.status_code == 503
    assert response.json["error"]["code"] == "service_unavailable"
