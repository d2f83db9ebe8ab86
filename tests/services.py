"""Real services the tests run against: PostgreSQL, Redis, an SMTP server and Celery worker processes.

The settings below are exported before the app is imported, so the app in the
test process and every subprocess (worker, gunicorn) read the same environment.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2
import redis
from aiosmtpd.controller import Controller

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
TEST_DB_NAME = os.environ.get("TEST_DB_NAME", "ragbot_test")
REDIS_BASE = os.environ.get("TEST_REDIS_BASE", "redis://127.0.0.1:6379")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_environment(smtp_port: int, instance_dir: Path) -> dict[str, str]:
    pg = PG_ADMIN_URL.rsplit("/", 1)[0]
    return {
        "APP_ENV": "test",
        "SECRET_KEY": "test-secret-key-with-enough-entropy-0123456789",
        "DATABASE_URL": f"{pg}/{TEST_DB_NAME}",
        "REDIS_URL": f"{REDIS_BASE}/14",
        "CELERY_BROKER_URL": f"{REDIS_BASE}/13",
        "CELERY_RESULT_BACKEND": f"{REDIS_BASE}/13",
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(smtp_port),
        "MAIL_DEFAULT_SENDER": "Ragbot Tests <no-reply@example.com>",
        "PUBLIC_BASE_URL": "http://testserver",
        "INSTANCE_DIR": str(instance_dir),
        "LOG_LEVEL": "INFO",
        # Short, so a task whose worker was killed is redelivered within a test.
        "BROKER_VISIBILITY_TIMEOUT": "15",
    }


def recreate_database() -> None:
    conn = psycopg2.connect(PG_ADMIN_URL)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{TEST_DB_NAME}" WITH (FORCE)')
        cur.execute(f'CREATE DATABASE "{TEST_DB_NAME}"')
    conn.close()


def flush_redis(url: str) -> None:
    redis.Redis.from_url(url).flushdb()


@dataclass
class Mailbox:
    """Collects what the SMTP server receives."""

    messages: list[email.message.EmailMessage] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd hook
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.arrived:
            self.messages.append(message)
            self.arrived.notify_all()
        return "250 Message accepted for delivery"

    def wait_for(self, recipient: str, subject_part: str, timeout: float = 30) -> email.message.EmailMessage:
        deadline = time.monotonic() + timeout
        with self.arrived:
            while True:
                for message in self.messages:
                    if recipient.lower() in message["To"].lower() and subject_part in message["Subject"]:
                        self.messages.remove(message)
                        return message
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no email {subject_part!r} to {recipient} in {timeout}s")
                self.arrived.wait(remaining)

    def received_for(self, recipient: str) -> list[email.message.EmailMessage]:
        with self.arrived:
            return [m for m in self.messages if recipient.lower() in m["To"].lower()]


class SmtpServer:
    """A real SMTP server (aiosmtpd) that can be stopped and started again on its port."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.mailbox = Mailbox()
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


def text_part(message: email.message.EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def html_part(message: email.message.EmailMessage) -> str:
    return message.get_body(preferencelist=("html",)).get_content()


def link_in(message: email.message.EmailMessage) -> str:
    match = re.search(r"https?://\S+", text_part(message))
    assert match, "the email has no link"
    return match.group(0)


def spawn(args: list[str], log_path: Path, env: dict[str, str]) -> subprocess.Popen:
    """Start `python -m <args>` from the project root, as operators do, logging to a file.

    In its own process group, so a test can kill it with all its children at once.
    """
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", *args],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


class WorkerProcess:
    """`celery -A workers worker` as its own process, the way operators start it."""

    def __init__(self, env: dict[str, str], log_path: Path, name: str = "worker1") -> None:
        self.env = env
        self.log_path = log_path
        self.name = name
        self.process: subprocess.Popen | None = None

    def start(self, celery_app, timeout: float = 60) -> None:
        self.process = spawn(
            [
                "celery",
                "-A",
                "workers",
                "worker",
                "--loglevel=INFO",
                "--concurrency=1",
                f"--hostname={self.name}@%h",
            ],
            self.log_path,
            self.env,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited; see {self.log_path}")
            replies = celery_app.control.ping(timeout=0.5)
            if any(self.name in name for reply in replies for name in reply):
                return
        raise RuntimeError(f"worker did not answer within {timeout}s; see {self.log_path}")

    def kill(self) -> None:
        """SIGKILL the worker and its pool processes, as an OOM killer or a lost machine would."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextlib.contextmanager
def gunicorn(log_path: Path, threads: int = 4, **env: str) -> Iterator[str]:
    """`gunicorn wsgi:app` on a free port, as in production; yields its base URL once it answers."""
    import requests

    port = free_port()
    server = spawn(
        ["gunicorn", "wsgi:app", "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", str(threads)],
        log_path,
        {**os.environ, **env},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=20)
