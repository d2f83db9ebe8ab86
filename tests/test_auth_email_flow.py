"""Sign-up, verification and password reset end to end: API -> Celery worker -> real SMTP server."""

from __future__ import annotations

import re
import time
from urllib.parse import urlsplit

from tests.conftest import PASSWORD
from tests.services import html_part, link_in, text_part


def signup(client, username: str = "alice", email: str = "alice@example.com"):
    return client.post(
        "/api/v1/auth/signup", json={"username": username, "email": email, "password": PASSWORD}
    )


def test_signup_email_link_login_me(client, worker, mailbox):
    response = signup(client)
    assert response.status_code == 201
    assert response.json["user"]["email_verified"] is False

    blocked = client.post("/api/v1/auth/login", json={"login": "alice", "password": PASSWORD})
    assert blocked.status_code == 403
    assert blocked.json["error"]["code"] == "email_not_verified"

    message = mailbox.wait_for("alice@example.com", "Confirm your email")
    link = link_in(message)
    assert link.startswith("http://testserver/api/v1/auth/verify-email/")
    assert link in html_part(message)  # both parts carry the link

    verified = client.get(urlsplit(link).path)
    assert verified.status_code == 200
    assert verified.json["user"]["email_verified"] is True
    assert client.get(urlsplit(link).path).json["error"]["code"] == "invalid_token"  # single use

    login = client.post("/api/v1/auth/login", json={"login": "ALICE@example.com", "password": PASSWORD})
    assert login.status_code == 200
    assert login.json["token_type"] == "Bearer"
    assert login.json["expires_in"] == 15 * 60
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {login.json['access_token']}"})
    assert me.status_code == 200
    assert me.json["user"]["username"] == "alice"
    assert me.json["user"]["email_verified"] is True


def test_verification_link_shows_a_page_to_browsers(client, worker, mailbox):
    signup(client)
    path = urlsplit(link_in(mailbox.wait_for("alice@example.com", "Confirm"))).path
    browser = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}

    page = client.get(path, headers=browser)
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    assert "Email confirmed" in page.get_data(as_text=True)

    again = client.get(path, headers=browser)
    assert again.status_code == 400
    assert "Link not valid" in again.get_data(as_text=True)


def test_resend_verification_sends_a_new_working_link(client, worker, mailbox):
    signup(client)
    mailbox.wait_for("alice@example.com", "Confirm")
    response = client.post("/api/v1/auth/resend-verification", json={"email": "Alice@Example.com"})
    assert response.status_code == 202
    token = link_in(mailbox.wait_for("alice@example.com", "Confirm")).rsplit("/", 1)[1]
    verified = client.post("/api/v1/auth/verify-email", json={"token": token})
    assert verified.status_code == 200
    assert verified.json["user"]["email_verified"] is True


def test_resend_and_reset_for_unknown_address_look_the_same(client, worker, mailbox):
    for path in ("/api/v1/auth/resend-verification", "/api/v1/auth/password-reset"):
        response = client.post(path, json={"email": "nobody@example.com"})
        assert response.status_code == 202
    time.sleep(1)
    assert mailbox.received_for("nobody@example.com") == []


def test_password_reset_end_to_end_and_token_works_once(client, worker, mailbox, make_user):
    make_user("bob")
    assert client.post("/api/v1/auth/password-reset", json={"email": "bob@example.com"}).status_code == 202

    message = mailbox.wait_for("bob@example.com", "Reset your password")
    token = re.search(r"Reset token .*: (\S+)", text_part(message)).group(1)
    assert token in link_in(message)

    new_password = "a brand new passphrase"
    confirm = {"token": token, "new_password": new_password}
    assert client.post("/api/v1/auth/password-reset/confirm", json=confirm).status_code == 200

    old = client.post("/api/v1/auth/login", json={"login": "bob", "password": PASSWORD})
    assert old.status_code == 401
    new = client.post("/api/v1/auth/login", json={"login": "bob", "password": new_password})
    assert new.status_code == 200

    reused = client.post("/api/v1/auth/password-reset/confirm", json=confirm)
    assert reused.status_code == 400
    assert reused.json["error"]["code"] == "invalid_token"


def test_signup_while_smtp_is_down_delivers_once_it_is_back(client, worker, smtp_server):
    smtp_server.stop()
    try:
        response = signup(client, "carol", "carol@example.com")
        assert response.status_code == 201
        time.sleep(3)  # the worker is retrying against a closed port meanwhile
        assert smtp_server.mailbox.received_for("carol@example.com") == []
    finally:
        smtp_server.start()
    message = smtp_server.mailbox.wait_for("carol@example.com", "Confirm your email", timeout=60)
    verified = client.get(urlsplit(link_in(message)).path)
    assert verified.status_code == 200


def test_without_a_mail_server_emails_land_in_the_outbox(app, tmp_path):
    from api import create_app
    from api.services import emails, users

    outbox_app = create_app({"MAIL_SERVER": "", "MAIL_OUTBOX_DIR": str(tmp_path)})
    with outbox_app.app_context():
        user = users.create_user("dora", "dora@example.com", PASSWORD)
        assert emails.send_verification_email(user.id)
    [eml] = tmp_path.glob("*.eml")
    assert "/api/v1/auth/verify-email/" in eml.read_text()
