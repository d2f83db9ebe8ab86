"""Bad input gets a clear 4xx JSON error, never a 500."""

from __future__ import annotations

import pytest

from tests.conftest import PASSWORD, update_profile


def signup(client, **body):
    payload = {"username": "alice", "email": "alice@example.com", "password": PASSWORD} | body
    return client.post("/api/v1/auth/signup", json=payload)


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.json
    assert response.is_json
    assert response.json["error"]["code"] == code
    assert response.json["error"]["message"]
    return response.json["error"]


@pytest.mark.parametrize(
    ("second", "code"),
    [
        ({"username": "ALICE", "email": "other@example.com"}, "username_taken"),
        ({"username": "alice2", "email": "Alice@EXAMPLE.com"}, "email_taken"),
    ],
)
def test_duplicate_username_or_email_in_any_case_is_409(client, second, code):
    assert signup(client).status_code == 201
    assert_error(signup(client, **second), 409, code)


def test_malformed_fields_are_422_with_per_field_details(client):
    error = assert_error(
        signup(client, username="a b", email="not-an-email", password="short"), 422, "validation_error"
    )
    assert set(error["details"]) == {"username", "email", "password"}
    assert all(isinstance(messages, list) and messages for messages in error["details"].values())


def test_missing_and_unknown_fields_are_422(client):
    error = assert_error(client.post("/api/v1/auth/signup", json={"nickname": "x"}), 422, "validation_error")
    assert {"username", "email", "password", "nickname"} <= set(error["details"])


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        ("username=alice", "application/x-www-form-urlencoded"),
        ("hello", "text/plain"),
        ("{oops", "application/json"),
    ],
)
def test_body_that_is_not_json_is_400(client, data, content_type):
    response = client.post("/api/v1/auth/signup", data=data, content_type=content_type)
    assert_error(response, 400, "bad_request")


def test_wrong_password_and_unknown_user_are_the_same_401(client, make_user):
    make_user()
    wrong = client.post("/api/v1/auth/login", json={"login": "alice", "password": "wrong password"})
    unknown = client.post("/api/v1/auth/login", json={"login": "nobody", "password": "wrong password"})
    assert assert_error(wrong, 401, "invalid_credentials") == assert_error(
        unknown, 401, "invalid_credentials"
    )


def test_login_accepts_username_or_email_keys(client, make_user):
    make_user()
    by_username = client.post("/api/v1/auth/login", json={"username": "Alice", "password": PASSWORD})
    by_email = client.post("/api/v1/auth/login", json={"email": "alice@example.com", "password": PASSWORD})
    assert by_username.status_code == by_email.status_code == 200
    assert_error(client.post("/api/v1/auth/login", json={"password": PASSWORD}), 422, "validation_error")


def test_unverified_login_is_403(client):
    signup(client)
    response = client.post("/api/v1/auth/login", json={"login": "alice", "password": PASSWORD})
    assert_error(response, 403, "email_not_verified")


def test_login_is_rate_limited_with_retry_after(client):
    attempts = [
        client.post("/api/v1/auth/login", json={"login": "alice", "password": "wrong password"})
        for _ in range(11)
    ]
    assert [r.status_code for r in attempts[:10]] == [401] * 10
    assert_error(attempts[10], 429, "rate_limited")
    assert int(attempts[10].headers["Retry-After"]) > 0


def test_unknown_route_and_wrong_method_are_json(client):
    assert_error(client.get("/api/v1/nothing-here"), 404, "not_found")
    assert_error(client.delete("/api/v1/auth/signup"), 405, "method_not_allowed")


def test_verify_with_unknown_token_is_400(client):
    assert_error(client.post("/api/v1/auth/verify-email", json={"token": "x" * 40}), 400, "invalid_token")


def test_expired_verification_token_is_400_token_expired(app, client):
    import hashlib
    from datetime import timedelta

    from api.extensions.database import db
    from api.models import EmailToken, utcnow
    from api.services import email_tokens, users

    signup(client)
    with app.app_context():
        token = email_tokens.issue_email_token(users.find_by_email("alice@example.com"), email_tokens.VERIFY)
        db.session.execute(
            db.update(EmailToken)
            .where(EmailToken.token_hash == hashlib.sha256(token.encode()).hexdigest())
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()
    assert_error(client.post("/api/v1/auth/verify-email", json={"token": token}), 400, "token_expired")


def test_profile_update_needs_the_current_password_and_checks_email_uniqueness(client, make_user):
    alice = make_user()
    make_user("bob")
    wrong = update_profile(
        client, alice["headers"], password="another passphrase", current_password="nope nope"
    )
    assert_error(wrong, 401, "invalid_credentials")
    taken = update_profile(client, alice["headers"], email="BOB@example.com")
    assert_error(taken, 409, "email_taken")
    missing = client.patch("/api/v1/auth/me", headers=alice["headers"], json={"email": "a@example.com"})
    assert_error(missing, 422, "validation_error")


def test_profile_email_change_requires_verifying_again(client, make_user):
    alice = make_user()
    response = update_profile(client, alice["headers"], email="alice@new.example.com")
    assert response.status_code == 200
    assert response.json["user"]["email"] == "alice@new.example.com"
    assert response.json["user"]["email_verified"] is False


def test_profile_password_change_takes_effect(client, make_user):
    alice = make_user()
    new_password = "an even better passphrase"
    response = update_profile(client, alice["headers"], password=new_password)
    assert response.status_code == 200
    assert (
        client.post("/api/v1/auth/login", json={"login": "alice", "password": new_password}).status_code
        == 200
    )
    assert client.post("/api/v1/auth/login", json={"login": "alice", "password": PASSWORD}).status_code == 401
