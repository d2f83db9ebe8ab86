"""Health probes, dependency outages and the production processes started as operators start them."""

from __future__ import annotations

import requests

from api import create_app
from tests.services import free_port, gunicorn


def test_healthz_touches_nothing(client):
    assert client.get("/healthz").json == {"status": "ok"}


def test_gunicorn_and_worker_report_ready(worker, tmp_path):
    with gunicorn(tmp_path / "gunicorn.log") as base:
        ready = requests.get(f"{base}/readyz", timeout=10)
    assert ready.status_code == 200, ready.text
    checks = ready.json()["checks"]
    assert {name: check["ok"] for name, check in checks.items()} == {
        "database": True,
        "redis": True,
        "workers": True,
    }
    assert any(name.startswith("worker1@") for name in checks["workers"]["answered"])


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
