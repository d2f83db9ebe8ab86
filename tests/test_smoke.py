"""A newcomer's first minutes: `make run`, then the README's quickstart over real HTTP.

`make run` itself is started (install, .env, services, migrations, ingestion of
docs_corpus/, then the Procfile's processes under honcho), with only what a
newcomer could set in the environment: the ports, an instance folder of its
own, and either the URLs of running PostgreSQL and Redis servers or nothing at
all (then `make run` starts embedded ones). Mail goes to the outbox folder, as
it does by default.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import os
import re
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psutil
import psycopg2
import pytest
import requests

from tests.conftest import TEST_ENV
from tests.services import PG_ADMIN_URL, PROJECT_ROOT, REDIS_BASE, drop_database, flush_redis, free_port

pytestmark = pytest.mark.smoke

SMOKE_DB = "ragbot_smoke"
SMOKE_REDIS = f"{REDIS_BASE}/12"
START_TIMEOUT = 600  # a first `make run` ingests the corpus and loads the models in every process
ACCOUNT = {"username": "ada", "email": "ada@example.com", "password": "correct horse"}


class MakeRun:
    """`make run` in its own process group, as a terminal runs it."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.base = env["PUBLIC_BASE_URL"]
        with open(log, "ab") as out:
            self.make = subprocess.Popen(
                ["make", "run"],
                cwd=PROJECT_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_until_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            assert self.make.poll() is None, f"make run exited with {self.make.returncode}:\n{self.tail()}"
            try:
                if requests.get(f"{self.base}/readyz", timeout=5).status_code == 200:
                    return
            except requests.RequestException:  # not listening yet, or busy starting
                pass
            time.sleep(2)
        raise AssertionError(f"not ready after {START_TIMEOUT}s:\n{self.tail()}")

    def interrupt(self) -> None:
        """Ctrl-C in the terminal: SIGINT to the foreground process group."""
        os.killpg(self.make.pid, signal.SIGINT)
        self.make.wait(timeout=90)

    def kill(self) -> None:
        """Stop whatever is still running, as Ctrl-C would, then anything left of the family.

        honcho starts each process in a group of its own, so a signal to make's group alone
        would orphan them: the family is listed before it is signalled.
        """
        if self.make.poll() is not None:
            return
        family = [
            self.make.pid,
            *(child.pid for child in psutil.Process(self.make.pid).children(recursive=True)),
        ]
        os.killpg(self.make.pid, signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.make.wait(timeout=60)
        for pid in family:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.make.wait()

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-5000:]


def newcomer_environment(instance: Path, **urls: str) -> dict[str, str]:
    """The shell's environment without the test suite's settings, plus the few a newcomer may set."""
    env = {name: value for name, value in os.environ.items() if name not in TEST_ENV}
    api_port = free_port()
    redis_url = urls.get("REDIS_URL", "")
    return env | {
        "DATABASE_URL": urls.get("DATABASE_URL", ""),
        "REDIS_URL": redis_url,
        # Spelled out in case a developer's .env names others (the environment wins; empty: REDIS_URL).
        "CELERY_BROKER_URL": redis_url,
        "CELERY_RESULT_BACKEND": redis_url,
        "RATELIMIT_STORAGE_URI": redis_url,
        "INSTANCE_DIR": str(instance),
        "API_BIND": f"127.0.0.1:{api_port}",
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{api_port}",
        "FLOWER_PORT": str(free_port()),
        "MAIL_SERVER": "",
    }


def link_from_outbox(outbox: Path, recipient: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in sorted(outbox.glob("*.eml")):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if recipient in message["To"]:
                text = message.get_body(preferencelist=("plain",)).get_content()
                return re.search(r"https?://\S+", text).group(0)
        time.sleep(0.5)
    raise AssertionError(f"no email for {recipient} in {outbox}")


def sign_up_and_verify(base: str, outbox: Path) -> None:
    signup = requests.post(f"{base}/api/v1/auth/signup", json=ACCOUNT, timeout=10)
    assert signup.status_code == 201, signup.text
    verified = requests.get(link_from_outbox(outbox, ACCOUNT["email"]), timeout=10)
    assert verified.status_code == 200, verified.text
    assert verified.json()["user"]["email_verified"] is True


def log_in_and_ask(base: str) -> dict:
    api = f"{base}/api/v1"
    login = requests.post(
        f"{api}/auth/login", json={"login": "ada", "password": ACCOUNT["password"]}, timeout=10
    )
    assert login.status_code == 200, login.text
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    question = {"message": "How long is the return window?"}
    chat = requests.post(f"{api}/chat?wait=60", json=question, headers=headers, timeout=90)
    assert chat.status_code == 200, chat.text
    result = chat.json()["result"]
    assert result["grounded"] is True, result
    assert any("45 days" in source["snippet"] for source in result["sources"]), result["sources"]
    assert result["answer"].strip()
    return result


def test_make_run_with_configured_servers_answers_the_quickstart(tmp_path):
    drop_database(SMOKE_DB)  # `make run` creates it, as on a new machine
    flush_redis(SMOKE_REDIS)
    env = newcomer_environment(
        tmp_path / "instance",
        DATABASE_URL=f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{SMOKE_DB}",
        REDIS_URL=SMOKE_REDIS,
    )
    run = MakeRun(env, tmp_path / "make-run.log")
    try:
        run.wait_until_ready()
        sign_up_and_verify(run.base, tmp_path / "instance" / "outbox")
        log_in_and_ask(run.base)
        assert not (tmp_path / "instance" / "postgres").exists()  # nothing embedded started
        assert not (tmp_path / "instance" / "redis").exists()
    finally:
        run.kill()


def test_make_run_with_nothing_configured_starts_embedded_servers_stops_and_keeps_the_data(tmp_path):
    # Outside pytest's temporary root: as root, pgserver runs PostgreSQL as another user, who must
    # be able to reach the data folder (another pytest run resets that root to owner-only).
    instance = Path(tempfile.mkdtemp(prefix="ragbot-smoke-")) / "instance"
    env = newcomer_environment(instance)  # no DATABASE_URL, no REDIS_URL: nothing on 5432 or 6379 is used
    first = MakeRun(env, tmp_path / "first-run.log")
    try:
        first.wait_until_ready()
        database_url = re.search(r"embedded PostgreSQL: (\S+)", first.log.read_text()).group(1)
        sign_up_and_verify(first.base, instance / "outbox")
        log_in_and_ask(first.base)
        with psycopg2.connect(database_url) as connection, connection.cursor() as cursor:
            cursor.execute("SELECT username FROM users")
            assert cursor.fetchall() == [("ada",)]  # the account lives in the embedded server

        stop = subprocess.run(["make", "stop"], cwd=PROJECT_ROOT, env=env, capture_output=True, timeout=120)
        assert stop.returncode == 0, stop.stdout + stop.stderr
        first.make.wait(timeout=60)
        assert_everything_stopped(first, instance)
    finally:
        first.kill()

    second = MakeRun(env, tmp_path / "second-run.log")
    try:
        second.wait_until_ready()
        log_in_and_ask(second.base)  # the same account: the data survived
        second.interrupt()
        assert_everything_stopped(second, instance)
    finally:
        second.kill()


def assert_everything_stopped(run: MakeRun, instance: Path) -> None:
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{run.base}/healthz", timeout=5)
    assert not (instance / "postgres" / "postmaster.pid").exists()
    assert not (instance / "redis" / "port").exists()
    assert not (instance / "run.pid").exists()
    leftovers = subprocess.run(["pgrep", "-f", str(instance)], capture_output=True, text=True).stdout.split()
    assert leftovers == [], leftovers
