"""Access and refresh tokens: expiry, rotation, reuse detection, logout, type confusion."""

from __future__ import annotations

from datetime import timedelta

from flask_jwt_extended import create_access_token

from tests.conftest import bearer
from tests.services import flush_redis


def error_code(response) -> str:
    return response.json["error"]["code"]


def test_expired_access_token_is_refused(app, client, make_user):
    user = make_user()
    with app.app_context():
        expired = create_access_token(identity=str(user["id"]), expires_delta=timedelta(seconds=-1))
    response = client.get("/api/v1/auth/me", headers=bearer(expired))
    assert response.status_code == 401
    assert error_code(response) == "token_expired"


def test_tampered_and_missing_tokens_are_refused(client, make_user):
    user = make_user()
    tampered = user["access_token"][:-4] + "AAAA"
    assert error_code(client.get("/api/v1/auth/me", headers=bearer(tampered))) == "unauthorized"
    missing = client.get("/api/v1/auth/me")
    assert missing.status_code == 401
    assert error_code(missing) == "unauthorized"


def test_refresh_rotates_and_a_reused_refresh_token_revokes_the_login(client, make_user):
    user = make_user()
    first = client.post("/api/v1/auth/refresh", headers=bearer(user["refresh_token"]))
    assert first.status_code == 200
    assert first.json["refresh_token"] != user["refresh_token"]
    assert client.get("/api/v1/auth/me", headers=bearer(first.json["access_token"])).status_code == 200

    replay = client.post("/api/v1/auth/refresh", headers=bearer(user["refresh_token"]))
    assert replay.status_code == 401
    assert error_code(replay) == "token_revoked"
    # The replay marks the login as stolen: the tokens issued by the rotation die too.
    later = client.post("/api/v1/auth/refresh", headers=bearer(first.json["refresh_token"]))
    assert error_code(later) == "token_revoked"
    assert (
        error_code(client.get("/api/v1/auth/me", headers=bearer(first.json["access_token"])))
        == "token_revoked"
    )


def test_logout_revokes_access_and_refresh_tokens(client, make_user):
    user = make_user()
    other_login = make_user("bob")
    response = client.post(
        "/api/v1/auth/logout", headers=user["headers"], json={"refresh_token": user["refresh_token"]}
    )
    assert response.status_code == 204
    after = client.get("/api/v1/auth/me", headers=user["headers"])
    assert after.status_code == 401
    assert error_code(after) == "token_revoked"
    assert (
        error_code(client.post("/api/v1/auth/refresh", headers=bearer(user["refresh_token"])))
        == "token_revoked"
    )
    assert client.get("/api/v1/auth/me", headers=other_login["headers"]).status_code == 200


def test_logout_without_body_also_ends_the_refresh_token(client, make_user):
    user = make_user()
    assert client.post("/api/v1/auth/logout", headers=user["headers"]).status_code == 204
    refresh = client.post("/api/v1/auth/refresh", headers=bearer(user["refresh_token"]))
    assert error_code(refresh) == "token_revoked"


def test_revocation_survives_a_redis_flush(client, make_user):
    user = make_user()
    client.post("/api/v1/auth/logout", headers=user["headers"])
    flush_redis(client.application.config["REDIS_URL"])
    assert error_code(client.get("/api/v1/auth/me", headers=user["headers"])) == "token_revoked"


def test_token_types_are_not_interchangeable(client, make_user):
    user = make_user()
    refresh_as_access = client.get("/api/v1/auth/me", headers=bearer(user["refresh_token"]))
    assert refresh_as_access.status_code == 401
    assert error_code(refresh_as_access) == "unauthorized"
    access_as_refresh = client.post("/api/v1/auth/refresh", headers=bearer(user["access_token"]))
    assert access_as_refresh.status_code == 401
    assert error_code(access_as_refresh) == "unauthorized"
