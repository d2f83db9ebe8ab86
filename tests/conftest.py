"""Fixtures, flaskr-style: `app`, `client`, `runner`; plus the real services the tests use."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import services

SESSION_DIR = Path(tempfile.mkdtemp(prefix="ragbot-tests-"))
SMTP_PORT = services.free_port()
TEST_ENV = services.test_environment(SMTP_PORT, SESSION_DIR / "instance")
os.environ.update(TEST_ENV)

from flask_migrate import upgrade  # noqa: E402 - the environment must be set first

from api import create_app  # noqa: E402
from api.extensions.database import db  # noqa: E402


@pytest.fixture(scope="session")
def database() -> None:
    services.recreate_database()
    services.flush_redis(TEST_ENV["REDIS_URL"])  # nothing left by an interrupted session
    app = create_app()
    with app.app_context():
        upgrade()


@pytest.fixture
def app(database: None) -> Iterator:
    app = create_app()
    yield app
    reset_state(app)


# The knowledge base is expensive to build, so it outlives each test: global documents stay,
# users' own documents go with their owners (foreign-key cascade) and leave the index too.
KEPT_TABLES = {"documents", "chunks", "users"}


def reset_state(app) -> None:
    with app.app_context():
        db.session.remove()
        _wait_for_the_worker()
        tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables if t.name not in KEPT_TABLES)
        db.session.execute(db.text(f"TRUNCATE {tables} RESTART IDENTITY"))
        db.session.execute(db.text("DELETE FROM users"))
        db.session.commit()
        from workers.knowledge.index_sync import drop_deleted_documents

        drop_deleted_documents()
    services.flush_redis(TEST_ENV["REDIS_URL"])


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[services.SmtpServer]:
    server = services.SmtpServer(SMTP_PORT)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def mailbox(smtp_server: services.SmtpServer) -> services.Mailbox:
    smtp_server.mailbox.messages.clear()
    return smtp_server.mailbox


@pytest.fixture(scope="session")
def worker(database: None, smtp_server: services.SmtpServer) -> Iterator[services.WorkerProcess]:
    """The Procfile's worker process, consuming every queue."""
    services.flush_redis(TEST_ENV["CELERY_BROKER_URL"])
    process = services.WorkerProcess(dict(os.environ), SESSION_DIR / "worker.log")
    process.start(create_app().extensions["celery"])
    yield process
    process.stop()


def _wait_for_the_worker(timeout: float = 120) -> None:
    """Let tasks still queued or running finish, so the clean-up does not race the worker."""
    deadline = time.monotonic() + timeout
    pending = db.text("SELECT count(*) FROM tasks WHERE state IN ('queued', 'running')")
    while db.session.scalar(pending) and time.monotonic() < deadline:
        db.session.commit()
        time.sleep(0.2)
    db.session.commit()


CORPUS_DIR = services.PROJECT_ROOT / "docs_corpus"


@pytest.fixture(scope="session")
def knowledge_base(database: None) -> None:
    """The shipped corpus, ingested once per test session with the real embedding model."""
    from workers.knowledge.ingestion import files_under, ingest_files

    with create_app().app_context():
        outcomes = ingest_files(files_under([CORPUS_DIR]))
    assert all(o.status in ("added", "unchanged") for o in outcomes), outcomes


PASSWORD = "correct horse battery"


@pytest.fixture
def make_user(app, client):
    """Create a verified user through the service layer and log in over HTTP."""
    from api.models import utcnow
    from api.services import users

    def make(username: str = "alice", *, is_admin: bool = False) -> dict:
        with app.app_context():
            user = users.create_user(username, f"{username}@example.com", PASSWORD)
            user.email_verified_at = utcnow()
            user.is_admin = is_admin
            db.session.commit()
            user_id = user.id
        response = client.post("/api/v1/auth/login", json={"login": username, "password": PASSWORD})
        assert response.status_code == 200, response.json
        tokens = response.json
        return {
            "id": user_id,
            "access_token": tokens["access_token"],
            "refresh_token": tokens["refresh_token"],
            "headers": {"Authorization": f"Bearer {tokens['access_token']}"},
        }

    return make


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def update_profile(client, headers: dict[str, str], current_password: str = PASSWORD, **changes: str):
    """PATCH /auth/me as a profile form sends it: the changes, confirmed with the current password."""
    return client.patch(
        "/api/v1/auth/me", headers=headers, json={**changes, "current_password": current_password}
    )
