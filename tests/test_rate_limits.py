"""Rate limits on every route that costs others something: sign-up (mail to third parties), login
per address and per account, search and upload per user; and what happens while Redis is down."""

from __future__ import annotations

import io

from api import create_app
from tests.conftest import PASSWORD
from tests.services import free_port


def limited_client(**limits: str):
    return create_app(limits).test_client()


def statuses(responses) -> list[int]:
    return [r.status_code for r in responses]


def assert_rate_limited(response) -> None:
    assert response.status_code == 429, response.get_data(as_text=True)
    assert response.json["error"]["code"] == "rate_limited"
    assert int(response.headers["Retry-After"]) > 0


def test_signup_is_limited_per_address(database):
    client = limited_client(RATELIMIT_SIGNUP="2 per hour")
    answers = [
        client.post(
            "/api/v1/auth/signup",
            json={"username": f"user{i}", "email": f"victim{i}@example.com", "password": PASSWORD},
        )
        for i in range(3)
    ]
    assert statuses(answers[:2]) == [201, 201]
    assert_rate_limited(answers[2])


def test_login_is_limited_per_account_from_any_address(database, make_user):
    make_user("alice")
    client = limited_client(RATELIMIT_LOGIN="100 per minute", RATELIMIT_LOGIN_ACCOUNT="3 per hour")
    spellings = ["alice", "ALICE", " Alice ", "alice"]
    answers = [
        client.post(
            "/api/v1/auth/login",
            json={"login": login, "password": "wrong guess"},
            environ_base={"REMOTE_ADDR": f"10.0.0.{i}"},
        )
        for i, login in enumerate(spellings)
    ]
    assert statuses(answers[:3]) == [401, 401, 401]
    assert_rate_limited(answers[3])
    # Other accounts are not locked with it.
    other = client.post("/api/v1/auth/login", json={"login": "bob", "password": "wrong guess"})
    assert other.status_code == 401


def test_search_and_upload_are_limited_per_user(database, make_user):
    alice, bob = make_user("alice"), make_user("bob")
    client = limited_client(RATELIMIT_SEARCH="2 per minute", RATELIMIT_UPLOAD="2 per hour")
    # Invalid requests count too (they cost a parse), and need no worker to answer.
    searches = [client.post("/api/v1/search", headers=alice["headers"], json={"query": ""}) for _ in range(3)]
    assert statuses(searches[:2]) == [422, 422]
    assert_rate_limited(searches[2])
    uploads = [
        client.post(
            "/api/v1/documents",
            headers=alice["headers"],
            data={"file": (io.BytesIO(b"MZ"), "tool.exe")},
            content_type="multipart/form-data",
        )
        for _ in range(3)
    ]
    assert statuses(uploads[:2]) == [415, 415]
    assert_rate_limited(uploads[2])
    assert client.post("/api/v1/search", headers=bob["headers"], json={"query": ""}).status_code == 422


def test_with_redis_down_limits_fail_open_to_per_process_counting(database, make_user):
    """Redis down: nobody is refused for the limiter's sake (no 500, no 503), and the limits are
    counted in this process's memory until Redis is back."""
    make_user("alice")
    down = f"redis://127.0.0.1:{free_port()}/0"
    client = create_app(
        {
            "RATELIMIT_STORAGE_URI": down,
            "RATELIMIT_LOGIN": "2 per minute",
            "RATELIMIT_LOGIN_ACCOUNT": "50 per hour",
        }
    ).test_client()
    answers = [
        client.post("/api/v1/auth/login", json={"login": "alice", "password": "wrong guess"})
        for _ in range(3)
    ]
    assert statuses(answers[:2]) == [401, 401]
    assert_rate_limited(answers[2])
    good = client.post(
        "/api/v1/auth/login",
        json={"login": "alice", "password": PASSWORD},
        environ_base={"REMOTE_ADDR": "10.1.1.1"},
    )
    assert good.status_code == 200
