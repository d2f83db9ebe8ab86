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
import urllib.parse
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


def drop_database(name: str) -> None:
    conn = psycopg2.connect(PG_ADMIN_URL)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


def recreate_database(name: str = TEST_DB_NAME) -> None:
    drop_database(name)
    conn = psycopg2.connect(PG_ADMIN_URL)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
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


def procfile_command(process: str) -> str:
    """The command line the Procfile gives `process` (honcho runs it through a shell)."""
    for line in (PROJECT_ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() == process:
            return command.strip()
    raise KeyError(f"no {process!r} process in the Procfile")


def console_scripts_first(env: dict[str, str]) -> dict[str, str]:
    """`env` with this interpreter's console scripts (celery, gunicorn, flask) first on PATH."""
    return {**env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"}


def spawn(command: str, log_path: Path, env: dict[str, str], cwd: Path = PROJECT_ROOT) -> subprocess.Popen:
    """Run a shell command line as operators type it, logging to a file.

    In its own process group, so a test can kill it with all its children at once.
    """
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            ["/bin/sh", "-c", command],
            cwd=cwd,
            env={**console_scripts_first(env), "PYTHONUNBUFFERED": "1"},  # logs complete when read
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def start_procfile_process(process: str, log_path: Path, env: dict[str, str]) -> subprocess.Popen:
    """A process of the Procfile, started with the Procfile's own command line."""
    return spawn(procfile_command(process), log_path, env)


class WorkerProcess:
    """The Procfile's `worker` process, configured through the environment as operators do."""

    def __init__(self, env: dict[str, str], log_path: Path, options: str = "") -> None:
        self.env = {**env, "WORKER_CONCURRENCY": "1"}
        self.log_path = log_path
        self.options = options  # appended to the Procfile's command line, e.g. "-Q search"
        self.process: subprocess.Popen | None = None

    def start(self, celery_app, timeout: float = 90) -> None:
        self.process = spawn(f"{procfile_command('worker')} {self.options}".strip(), self.log_path, self.env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited; see {self.log_path}")
            if celery_app.control.ping(timeout=0.5):
                return
        self.kill()
        raise RuntimeError(f"worker did not answer within {timeout}s; see {self.log_path}")

    def kill(self) -> None:
        """SIGKILL the worker and its pool processes, as an OOM killer or a lost machine would."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


@contextlib.contextmanager
def gunicorn(log_path: Path, threads: int = 4, **env: str) -> Iterator[str]:
    """The Procfile's `api` process (gunicorn) on a free port; yields its base URL once it answers."""
    port = free_port()
    settings = {"API_BIND": f"127.0.0.1:{port}", "API_WORKERS": "1", "API_THREADS": str(threads)}
    server = start_procfile_process("api", log_path, {**os.environ, **settings, **env})
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base, server, log_path)
        yield base
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)


def wait_until_healthy(base: str, server: subprocess.Popen, log_path: Path, timeout: float = 30) -> None:
    """Until the API process at `base` answers /healthz with 200 (it is still importing the app)."""
    import requests

    deadline = time.monotonic() + timeout
    while True:
        try:
            if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except requests.RequestException:  # not listening yet
            pass
        assert server.poll() is None and time.monotonic() < deadline, log_path.read_text()
        time.sleep(0.2)


class Outage:
    """A TCP relay in front of a server (PostgreSQL, Redis) that a test can cut and restore.

    Clients connect to the relay's port. `cut()` drops every open connection and refuses new
    ones, as when the server dies; `restore()` listens on the same port again, as when it
    comes back. The real server keeps running for everything else in the test session.
    """

    def __init__(self, server_url: str) -> None:
        """A relay for the server of `server_url`; `self.url` is the same URL through the relay."""
        parts = urllib.parse.urlsplit(server_url)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 0)
        self.port = free_port()
        credentials = parts.netloc.rpartition("@")[0]
        relayed = f"{credentials}@127.0.0.1:{self.port}" if credentials else f"127.0.0.1:{self.port}"
        self.url = parts._replace(netloc=relayed).geturl()
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        listener, self._listener = self._listener, None
        if listener:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread; close alone may not
            listener.close()
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # cut
                return
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open |= {client, server}
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                target.sendall(data)
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)


def stop_beat(beat: subprocess.Popen, celery_app, timeout: float = 60) -> None:
    """Stop a beat process, then drop the jobs it queued and let the running one end, so no
    housekeeping job of a fast test schedule runs during the tests after it."""
    os.killpg(beat.pid, signal.SIGTERM)
    beat.wait(timeout=30)
    celery_app.control.purge()
    deadline = time.monotonic() + timeout
    while any((celery_app.control.inspect(timeout=1).active() or {}).values()):
        assert time.monotonic() < deadline, "a housekeeping job did not end"
        time.sleep(0.5)
