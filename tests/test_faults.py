"""Faults: PostgreSQL or Redis gone and back, beat killed mid-cleanup. The API answers 503 while a
backing service is down and serves again when it returns, with no restart.

The API (the Procfile's gunicorn) reaches the server through a relay the test cuts and restores
(`tests.services.Outage`); the worker and the test itself keep the direct connection.
Worker SIGKILL mid-answer is in test_chat.py, SMTP down at sign-up in test_auth_email_flow.py.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
import requests

from api.extensions.database import db
from api.models import ChatSession, Message, utcnow
from tests.conftest import SESSION_DIR, TEST_ENV
from tests.services import Outage, gunicorn, start_procfile_process, stop_beat
from tests.test_housekeeping import add_exchange, new_lines

pytestmark = [pytest.mark.fault, pytest.mark.usefixtures("knowledge_base", "worker")]

QUESTION = "How many days is the standard return window for devices bought from the Aerolume store?"
REDIS_SETTINGS = ("REDIS_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND")


@contextlib.contextmanager
def api_behind(outage: Outage, settings: tuple[str, ...], tmp_path) -> Iterator[str]:
    """The API with `settings` pointing at the relay."""
    outage.restore()
    # Same database (the URL's last part), through the relay.
    server = outage.url.rsplit("/", 1)[0]
    relayed = {name: f"{server}/{TEST_ENV[name].rsplit('/', 1)[1]}" for name in settings}
    try:
        with gunicorn(tmp_path / "gunicorn.log", **relayed) as base:
            yield base
    finally:
        outage.cut()


def ask(base: str, user: dict, wait: int = 0) -> requests.Response:
    return requests.post(
        f"{base}/api/v1/chat?wait={wait}", headers=user["headers"], json={"message": QUESTION}, timeout=60
    )


def assert_unavailable_then_recovers(base: str, user: dict, outage: Outage) -> None:
    assert ask(base, user, wait=30).json()["state"] == "succeeded"

    outage.cut()
    started = time.monotonic()
    refused = ask(base, user)
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"]["code"] == "service_unavailable"
    assert time.monotonic() - started < 10, "a client waited too long to learn the service is down"
    ready = requests.get(f"{base}/readyz", timeout=30)
    assert ready.status_code == 503 and ready.json()["status"] == "unavailable", ready.text

    outage.restore()
    answered = ask(base, user, wait=30)
    assert answered.status_code == 200, answered.text
    assert answered.json()["state"] == "succeeded" and "45 days" in answered.json()["result"]["answer"]
    # Ready again (the worker ping may miss its second under load: asked again for a while).
    deadline = time.monotonic() + 30
    while (ready := requests.get(f"{base}/readyz", timeout=30)).status_code != 200:
        assert time.monotonic() < deadline, ready.text
        time.sleep(1)


def test_redis_down_gives_503_and_the_api_recovers_when_it_returns(make_user, tmp_path):
    alice = make_user()
    outage = Outage(TEST_ENV["REDIS_URL"])
    with api_behind(outage, REDIS_SETTINGS, tmp_path) as base:
        assert_unavailable_then_recovers(base, alice, outage)


def test_postgres_down_gives_503_and_the_api_recovers_when_it_returns(make_user, tmp_path):
    alice = make_user()
    outage = Outage(TEST_ENV["DATABASE_URL"])
    with api_behind(outage, ("DATABASE_URL",), tmp_path) as base:
        assert_unavailable_then_recovers(base, alice, outage)


def test_beat_killed_mid_cleanup_and_restarted_deletes_each_old_message_once(app, make_user, tmp_path):
    alice = make_user()
    old, recent = utcnow() - timedelta(days=31), utcnow() - timedelta(days=1)
    with app.app_context():
        session = ChatSession(user_id=alice["id"], title="history")
        db.session.add(session)
        db.session.flush()
        for n in range(300):
            add_exchange(alice["id"], session, old, f"old {n}")
        for n in range(5):
            add_exchange(alice["id"], session, recent, f"recent {n}")

    log = SESSION_DIR / "worker.log"
    seen_before = log.read_text().count("\n")
    environment = {**os.environ, "BEAT_EVERY_SECONDS": "1"}
    beat = start_procfile_process("beat", tmp_path / "beat.log", environment)
    time.sleep(2.5)  # it has sent the purge; the worker is deleting
    os.killpg(beat.pid, signal.SIGKILL)
    beat.wait(timeout=30)
    beat = start_procfile_process("beat", tmp_path / "beat-again.log", environment)
    try:
        deadline = time.monotonic() + 90
        while len(purges := purge_results(new_lines(log, seen_before))) < 3:
            assert time.monotonic() < deadline, f"the purge ran {len(purges)} times"
            time.sleep(1)
    finally:
        stop_beat(beat, app.extensions["celery"])

    assert sum(purges) == 600  # each old question and answer deleted once, none twice
    with app.app_context():
        left = db.session.scalars(db.select(Message.content).where(Message.role == "assistant")).all()
    assert sorted(left) == [f"recent {n}" for n in range(5)]


def purge_results(log_text: str) -> list[int]:
    """Messages deleted by each run of the history purge, from the worker's log."""
    return [int(n) for n in re.findall(r"purge_old_chat_history: \{[^}]*'messages': (\d+)", log_text)]
