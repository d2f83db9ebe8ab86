"""The chat page and /docs in a real browser (Debian's Chromium driven by Playwright).

The API runs with the Procfile's own gunicorn line, answers come from the session's real
worker, and the verification link comes from the email the SMTP server received.
Screenshots are saved under tests/artifacts/ for people to look at.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from playwright import sync_api as playwright_api
from playwright.sync_api import expect

from api import create_app
from tests.services import PROJECT_ROOT, gunicorn, link_in

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = PROJECT_ROOT / "tests" / "artifacts"
RETURN_QUESTION = "How many days is the standard return window for devices bought from the Aerolume store?"
OFF_TOPIC = "Who won the football world cup in 1998?"
FACT = "The Zorblatt calibration constant of the Quillfeather sensor is 7.3412 millivolts."
UPLOAD_QUESTION = "What is the Zorblatt calibration constant of the Quillfeather sensor?"
PASSWORD = "a long enough password"
ANSWER_TIMEOUT_MS = 90_000


def install_chromium() -> None:
    """Debian's Chromium, installed with apt-get when missing (Playwright downloads no browser here)."""
    if CHROMIUM.exists():
        return
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([*sudo, "apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run([*sudo, "apt-get", "install", "-y", "-qq", "chromium"], check=True, env=env)


@pytest.fixture(scope="module")
def browser() -> Iterator:
    install_chromium()
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def server(database: None, tmp_path_factory) -> Iterator[str]:
    with gunicorn(tmp_path_factory.mktemp("web") / "gunicorn.log", threads=8) as base:
        yield base


class Recorder:
    """Everything a page logs as an error, and every request it makes."""

    def __init__(self, page) -> None:
        self.errors: list[str] = []
        self.requests: list = []
        page.on("console", self.console)
        page.on("pageerror", self.page_error)
        page.on("request", self.request)

    def console(self, message) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def page_error(self, error) -> None:
        self.errors.append(str(error))

    def request(self, request) -> None:
        self.requests.append(request)


@pytest.fixture
def page(browser, server) -> Iterator:
    context = browser.new_context(
        base_url=server, viewport={"width": 1200, "height": 900}, accept_downloads=True
    )
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.recorder = Recorder(page)
    yield page
    context.close()


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def ask(page, question: str):
    """Type a question, send it with Enter; the new answer once the stream has finished."""
    answers = page.locator(".message.assistant")
    count = answers.count()
    page.get_by_label("Your question").fill(question)
    page.get_by_label("Your question").press("Enter")
    answer = answers.nth(count)
    expect(answer).not_to_have_attribute("aria-busy", "true", timeout=ANSWER_TIMEOUT_MS)
    return answer


def log_in(page, username: str) -> None:
    page.get_by_label("Username or email").fill(username)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#account-name")).to_have_text(username)


@pytest.mark.usefixtures("app", "knowledge_base", "worker")
def test_a_person_chats_from_the_page(page, server, mailbox, tmp_path):
    response = page.goto("/")
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp

    # Sign up, then confirm with the link from the email the SMTP server received.
    page.get_by_label("Username", exact=True).fill("webber")
    page.get_by_label("Email", exact=True).fill("webber@example.com")
    page.get_by_label("Password (8 characters or more)").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("status")).to_contain_text("We sent a confirmation link to webber@example.com")
    link = link_in(mailbox.wait_for("webber@example.com", "Confirm"))
    page.get_by_label("The link from the email, or its token").fill(link)
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("status")).to_contain_text("your email is confirmed")
    shot(page, "01-signed-up-and-confirmed")
    log_in(page, "webber")

    # A grounded answer, streamed over SSE with the token in a header, never in the URL.
    answer = ask(page, RETURN_QUESTION)
    expect(answer.locator(".message-text")).to_contain_text("45 days")
    expect(answer.locator(".passages-title")).to_have_text("Sources")
    expect(answer.locator(".passage-title").first).to_contain_text("[1]")
    streams = [r for r in page.recorder.requests if r.url.endswith("/events")]
    assert len(streams) == 1
    assert streams[0].headers["authorization"].startswith("Bearer ")
    assert "token" not in urlsplit(streams[0].url).query
    events = streams[0].response().text()
    assert "event: token" in events and events.rstrip().split("\n\n")[-1].startswith("event: done")
    shot(page, "02-cited-answer")

    # Off topic: said so, with the closest passages.
    answer = ask(page, OFF_TOPIC)
    expect(answer.locator(".not-grounded")).to_have_text("Not in the documents")
    shot(page, "03-not-in-the-documents")

    # Upload a document, watch it become ready, ask about it in a new chat.
    document = tmp_path / "quillfeather.md"
    document.write_text(f"# Quillfeather sensor\n\n{FACT}\n")
    page.get_by_label("File (.txt .md .pdf .docx .html)").set_input_files(document)
    page.get_by_label("Title (optional)").fill("Quillfeather notes")
    page.get_by_role("button", name="Upload").click()
    uploaded = page.locator(".document", has_text="Quillfeather notes")
    expect(uploaded.locator(".status")).to_have_text("ready", timeout=ANSWER_TIMEOUT_MS)
    shot(page, "04-document-ready")
    page.get_by_role("button", name="New chat").click()
    answer = ask(page, UPLOAD_QUESTION)
    expect(answer.locator(".message-text")).to_contain_text("7.3412")
    expect(answer.locator(".passage-title").first).to_contain_text("Quillfeather notes")

    # Two sessions in the list; switch back to the first one, rename it, export it.
    sessions = page.locator(".session-open")
    expect(sessions).to_have_count(2)
    page.locator(".session", has_text="return window").locator(".session-open").click()
    expect(page.locator(".message.user").first).to_have_text(RETURN_QUESTION)
    expect(page.locator(".message.assistant").first).to_contain_text("45 days")
    page.get_by_role("button", name=re.compile("^Rename .*return window")).click()
    page.get_by_label("New title").fill("Returns")
    page.get_by_label("New title").press("Enter")
    expect(page.locator("#chat-title")).to_have_text("Returns")
    expect(page.locator(".session-open[aria-current=true]")).to_have_text("Returns")
    with page.expect_download() as download:
        page.get_by_role("button", name="Export Markdown").click()
    exported = Path(download.value.path()).read_text()
    assert RETURN_QUESTION in exported and "45 days" in exported
    shot(page, "05-sessions")

    # An expired access token is refreshed with the refresh token and the request repeated.
    expired = {"error": {"code": "token_expired", "message": "The token has expired.", "details": {}}}
    page.route(
        re.compile(r".*/api/v1/sessions/\d+$"),
        lambda route: route.fulfill(status=401, json=expired),
        times=1,
    )
    page.locator(".session-open", has_text="Zorblatt").click()
    expect(page.locator(".message.assistant").first).to_contain_text("7.3412")
    refreshes = [r for r in page.recorder.requests if r.url.endswith("/api/v1/auth/refresh")]
    assert len(refreshes) == 1 and refreshes[0].response().status == 200
    assert all("401" in error for error in page.recorder.errors), page.recorder.errors
    page.recorder.errors.clear()  # the browser logged the staged 401

    # Delete the upload's chat (after confirming the dialog).
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name=re.compile("^Delete .*Zorblatt")).click()
    expect(sessions).to_have_count(1)

    # A reload forgets the tokens (memory only); after logging in again the history is there.
    page.reload()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    log_in(page, "webber")
    page.get_by_role("button", name="Returns", exact=True).click()
    expect(page.locator(".message.assistant").first).to_contain_text("45 days")
    expect(page.locator(".message.assistant").first.locator(".passage-title").first).to_contain_text("[1]")
    expect(page.locator(".message.assistant").nth(1).locator(".not-grounded")).to_be_visible()

    # Phone width: nothing sticks out sideways.
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    shot(page, "06-history-after-reload-phone")

    # Logging out revokes the tokens on the server, not only in the page.
    authorized = [r for r in page.recorder.requests if "authorization" in r.headers]
    authorization = authorized[-1].headers["authorization"]
    me = requests.get(f"{server}/api/v1/auth/me", headers={"Authorization": authorization}, timeout=10)
    assert me.status_code == 200, me.text
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    me = requests.get(f"{server}/api/v1/auth/me", headers={"Authorization": authorization}, timeout=10)
    assert me.json()["error"]["code"] == "token_revoked"

    assert page.recorder.errors == []


@pytest.mark.usefixtures("app")
def test_api_errors_show_their_message(page):
    page.goto("/")
    page.get_by_label("The link from the email, or its token").fill("not-a-real-token")
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("alert")).to_contain_text("invalid or has already been used")
    # The browser logs the 400 itself; nothing else may fail.
    assert all("400" in error for error in page.recorder.errors), page.recorder.errors


def test_docs_render_with_the_outside_network_blocked(page, server):
    outside: list[str] = []

    def only_the_app(route) -> None:
        if route.request.url.startswith(server):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.context.route("**/*", only_the_app)
    page.goto("/docs")
    expect(page.locator(".opblock").first).to_be_visible()
    expect(page.get_by_text("/api/v1/auth/login").first).to_be_visible()
    shot(page, "07-swagger-ui-offline")
    assert outside == []
    assert page.recorder.requests and all(r.url.startswith(server + "/") for r in page.recorder.requests)


def test_without_smtp_the_page_says_where_the_email_went(database):
    """A development install writes mail to the outbox; the page tells the person so."""
    app = create_app({"ENV_NAME": "development", "MAIL_SERVER": ""})
    page = app.test_client().get("/").get_data(as_text=True)
    assert f"the email was written to {app.config['MAIL_OUTBOX_DIR']}/" in page
    configured = create_app().test_client().get("/").get_data(as_text=True)
    assert "the email was written to" not in configured
