"""Schemathesis over every operation of /api/v1/openapi.json: no 5xx, and every answer as the spec says.

Requests go through the app's WSGI interface (no server), as a verified user (an
administrator for the admin routes). Schemathesis' every check is on: status codes,
content types and bodies documented, schema-valid requests accepted, invalid ones
refused, authentication enforced. Routes that queue work use a real Redis broker;
a worker consuming the `search` queue only answers searches, so no chat is generated.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from api import create_app
from api.extensions.database import db
from api.extensions.limiter import limiter
from api.models import Task, User, utcnow
from api.services import auth_tokens, health, users
from tests import services
from tests.conftest import PASSWORD, SESSION_DIR

pytestmark = [pytest.mark.fuzz, pytest.mark.timeout(400)]

EXAMPLES_PER_OPERATION = 30
MIN_REQUESTS = 1000
# Its own broker database: workers of other tests (consuming every queue) never see these messages.
FUZZ_BROKER = f"{services.REDIS_BASE}/12"
# No chat worker runs: a generated `wait` (up to 60 s) would idle that long. Shorter, still valid.
LONGEST_WAIT = 0.2

requests_sent: Counter[str] = Counter()
unissued_refused: Counter[str] = Counter()
bearer_tokens: dict[str, str] = {}

# Rate limits off (see `accounts`) and the result backend on the fuzzing broker.
FUZZ_APP = create_app()
FUZZ_APP.extensions["celery"].conf.update(result_backend=FUZZ_BROKER)
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", FUZZ_APP)
# No NUL characters: they are hostile input, for the API to refuse in any field with a 422 (a rule
# the spec's string schemas cannot state), which the hostile-input tests check.
schema.config.generation.update(allow_x00=False)


@schema.auth(refresh_interval=None)
class Bearer:
    """Which token an operation needs. Schemathesis builds some cases while collecting, before any
    account exists, so the header names the token and `_with_real_token` puts it in at call time."""

    def get(self, case, context) -> str:
        label = case.operation.label
        if label == "POST /api/v1/auth/refresh":
            return "fresh-refresh"  # spent by the request (rotation)
        if label == "POST /api/v1/auth/logout":
            return "fresh-access"  # revoked by the request
        return "admin" if label.startswith("GET /api/v1/admin/") else "member"

    def set(self, case, token: str, context) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {PLACEHOLDER}{token}"}


PLACEHOLDER = "token-for-"


def _with_real_token(case) -> None:
    """Replace a placeholder Authorization header; one a coverage case removed or altered stays so."""
    header = (case.headers or {}).get("Authorization", "")
    _, _, role = header.partition(f"Bearer {PLACEHOLDER}")
    if not role:
        return
    if role.startswith("fresh-"):
        with FUZZ_APP.app_context():
            member = db.session.scalar(db.select(User).filter_by(username="fuzzer"))
            token = auth_tokens.issue_token_pair(member)[f"{role.removeprefix('fresh-')}_token"]
    else:
        token = bearer_tokens[role]
    case.headers["Authorization"] = f"Bearer {token}"


@pytest.fixture(scope="module")
def search_worker(database: None) -> Iterator[None]:
    """The Procfile's worker on the fuzzing broker, consuming the `search` queue only."""
    services.flush_redis(FUZZ_BROKER)
    with pytest.MonkeyPatch.context() as patch:
        # Celery reads the broker from the environment whenever it connects.
        patch.setenv("CELERY_BROKER_URL", FUZZ_BROKER)
        patch.setenv("CELERY_RESULT_BACKEND", FUZZ_BROKER)
        worker = services.WorkerProcess(
            dict(os.environ), SESSION_DIR / "fuzz-worker.log", "-Q search -n fuzz@%h"
        )
        worker.start(FUZZ_APP.extensions["celery"])
        _wait_until_ready()
        yield
        worker.stop()
    services.flush_redis(FUZZ_BROKER)


def _wait_until_ready(timeout: float = 180) -> None:
    """Until the worker has loaded its models: /readyz answers 503 before, as it should."""
    deadline = time.monotonic() + timeout
    with FUZZ_APP.app_context():
        while (state := health.readiness())[0] != "ok":
            assert time.monotonic() < deadline, state
            time.sleep(0.5)


@pytest.fixture(scope="module")
def request_budget() -> Iterator[None]:
    """All operations together send at least MIN_REQUESTS requests."""
    requests_sent.clear()
    unissued_refused.clear()
    yield
    total = sum(requests_sent.values())
    print(f"\nfuzzing: {total} requests over {len(requests_sent)} operations; a token or cursor the API")
    print(f"never issued refused as documented: {dict(unissued_refused)}")
    assert total >= MIN_REQUESTS, f"only {total} requests: {dict(requests_sent)}"


@pytest.fixture
def accounts(app, search_worker: None, monkeypatch: pytest.MonkeyPatch, request) -> Iterator[None]:
    """A verified member and an administrator, with their tokens."""
    if request.node.name.endswith("[GET /readyz]"):
        # The clean-up after each test flushes Redis, worker reports included (renewed every 15 s).
        _wait_until_ready()
    # A 429 says nothing about the request, and would hide the route behind the limit.
    monkeypatch.setattr(limiter, "enabled", False)
    with FUZZ_APP.app_context():
        for role, username in (("member", "fuzzer"), ("admin", "fuzzadmin")):
            user = users.create_user(username, f"{username}@example.com", PASSWORD)
            user.email_verified_at = utcnow()
            user.is_admin = role == "admin"
            db.session.commit()
            bearer_tokens[role] = auth_tokens.issue_token_pair(user)["access_token"]
    yield
    with FUZZ_APP.app_context():
        # No worker runs the chats and ingests queued here: end them, so the clean-up need not wait.
        db.session.execute(
            db.update(Task).where(Task.state.in_(("queued", "running"))).values(state="failed")
        )
        db.session.commit()


def _shorten_waits(case) -> None:
    try:
        seconds = float((case.query or {}).get("wait"))
    except (TypeError, ValueError):
        return  # absent, or not a number: the API must refuse it as it is
    if LONGEST_WAIT < seconds <= 60:
        case.query["wait"] = LONGEST_WAIT


def _refused_an_unissued_value(response) -> bool:
    """A token or a cursor is valid only when the API issued it, which no schema can express:
    refusing a generated one (400 invalid_token, 422 on `cursor`) is the documented answer."""
    if response.status_code not in (400, 422):
        return False
    error = response.json().get("error", {})
    return error.get("code") == "invalid_token" or set(error.get("details") or {}) == {"cursor"}


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=timedelta(seconds=5),
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_its_spec_says(case, accounts: None, request_budget: None) -> None:
    _with_real_token(case)
    _shorten_waits(case)
    response = case.call()
    requests_sent[case.operation.label] += 1
    excluded = []
    if _refused_an_unissued_value(response):
        excluded.append(positive_data_acceptance)
        unissued_refused[case.operation.label] += 1
    case.validate_response(response, excluded_checks=excluded)
