"""Health probes, dependency outages and the production processes started as operators start them."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests
from flask_migrate import upgrade

from api import create_app
from tests.services import PG_ADMIN_URL, TEST_DB_NAME, drop_database, free_port, gunicorn, recreate_database
from tests.test_admin import MINILM, add_private_document, publish_index, worker_models_recorded


def test_healthz_touches_nothing(client):
    assert client.get("/healthz").json == {"status": "ok"}


def test_gunicorn_and_worker_report_ready(worker, tmp_path):
    worker_models_recorded(create_app())
    with gunicorn(tmp_path / "gunicorn.log") as base:
        deadline = time.monotonic() + 60  # a worker that just started may still be loading its models
        while (ready := requests.get(f"{base}/readyz", timeout=10)).status_code != 200:
            assert ready.json()["status"] == "degraded", ready.text
            assert time.monotonic() < deadline, ready.text
            time.sleep(0.5)
    checks = ready.json()["checks"]
    assert {name: check["ok"] for name, check in checks.items()} == {
        "database": True,
        "redis": True,
        "workers": True,
        "models": True,
        "index": True,
    }
    assert ready.json()["status"] == "ok"
    assert checks["models"]["loaded"] == checks["workers"]["answered"]


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


def index_check(app) -> dict:
    response = app.test_client().get("/readyz")
    assert response.status_code == (200 if response.json["status"] == "ok" else 503)
    return response.json["checks"]["index"]


@pytest.fixture
def empty_database() -> Iterator[str]:
    """A migrated database with nothing in it, as on a fresh install."""
    name = f"{TEST_DB_NAME}_empty"
    recreate_database(name)
    url = f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}".replace("postgresql://", "postgresql+psycopg2://")
    with create_app({"SQLALCHEMY_DATABASE_URI": url}).app_context():
        upgrade()
    yield url
    drop_database(name)


def test_readyz_index_is_ok_before_any_document(empty_database, tmp_path):
    app = create_app({"SQLALCHEMY_DATABASE_URI": empty_database, "INDEX_DIR": str(tmp_path)})
    check = index_check(app)
    assert check["ok"] is True
    assert (check["version"], check["chunks"]) == (None, 0)


def test_readyz_index_needs_an_index_once_there_are_documents(app, make_user, tmp_path):
    alice = make_user()
    with app.app_context():
        add_private_document(alice["id"], chunks=2)
    unindexed = create_app({"INDEX_DIR": str(tmp_path)})
    check = index_check(unindexed)
    assert check["ok"] is False
    assert "no search index" in check["error"]

    version = publish_index(tmp_path, chunks=2)
    check = index_check(unindexed)
    assert check["ok"] is True
    assert (check["version"], check["chunks"], check["model_id"]) == (version, 2, MINILM)


def test_readyz_index_fails_when_built_with_another_model(worker, app, make_user, tmp_path):
    alice = make_user()
    with app.app_context():
        add_private_document(alice["id"], chunks=2)
    worker_models_recorded(app)
    publish_index(tmp_path, model_id="another/embedding-model")
    check = index_check(create_app({"INDEX_DIR": str(tmp_path)}))
    assert check["ok"] is False
    assert "another embedding model" in check["error"]
