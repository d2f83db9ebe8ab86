"""Idle event streams against one API process: are other requests still served?

One gunicorn worker process (the Procfile's `api` line), once per worker class: `gthread`
(8 threads, the old default) and `gevent` (the default). N clients each hold an open
`/tasks/<id>/events` stream on a task that stays queued (no worker runs); meanwhile one
client calls `GET /api/v1/auth/me` (token check + user lookup) one request at a time.
Reported per N: that call's p50/p99, how many of its requests did not answer within
5 s, how many streams the server accepted, and the worker process's memory.

Uses its own database (ragbot_bench) and Redis database 11, as bench/chat_latency.py.

    python -m bench.sse_capacity        # -> bench/results/sse_capacity.json
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections import Counter

import psutil
import requests

from bench.chat_latency import ENV, WORK, fresh_database
from bench.report import percentiles, print_table, write_results
from tests.services import free_port, start_procfile_process, wait_until_healthy

STREAM_COUNTS = (0, 16, 100, 1000)
PROBES = 20
PROBE_TIMEOUT = 5.0
HEARTBEAT_SECONDS = 5
USERS = 280  # four streams each (under the per-user cap of five), enough for every row


def make_streams_to_open() -> tuple[list[tuple[str, str]], dict[str, str]]:
    """(token, task id) for every stream to open; and one user's headers for the probe."""
    from api import create_app
    from api.extensions.database import db
    from api.models import Task, User, utcnow
    from api.services import auth_tokens

    streams = []
    with create_app().app_context():
        users = [
            User(username=f"u{n}", email=f"u{n}@example.com", password_hash="-", email_verified_at=utcnow())
            for n in range(USERS)
        ]
        db.session.add_all(users)
        db.session.flush()
        for user in users:
            token = auth_tokens.issue_token_pair(user)["access_token"]
            for _ in range(4):
                task = Task(id=str(uuid.uuid4()), user_id=user.id, kind="chat", state="queued")
                db.session.add(task)
                streams.append((token, task.id))
        db.session.commit()
    return streams, {"Authorization": f"Bearer {streams[0][0]}"}


async def open_streams(port: int, streams: list[tuple[str, str]]) -> tuple[list, Counter]:
    """Open the streams and read each one's status line; returns the writers and the statuses."""

    async def one(token: str, task_id: str) -> tuple[asyncio.StreamWriter | None, str]:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(
                f"GET /api/v1/tasks/{task_id}/events HTTP/1.1\r\nHost: bench\r\n"
                f"Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n".encode()
            )
            await writer.drain()
            status = await asyncio.wait_for(reader.readline(), timeout=30)
            return writer, status.decode().split(" ")[1] if status else "closed"
        except (OSError, TimeoutError):
            return None, "no answer"

    results = await asyncio.gather(*(one(token, task) for token, task in streams))
    return [w for w, _ in results if w], Counter(status for _, status in results)


def probe(base: str, headers: dict[str, str]) -> tuple[list[float], int]:
    samples, timeouts = [], 0
    for _ in range(PROBES):
        started = time.perf_counter()
        try:
            assert requests.get(f"{base}/api/v1/auth/me", headers=headers, timeout=PROBE_TIMEOUT).ok
            samples.append((time.perf_counter() - started) * 1000)
        except requests.Timeout:
            timeouts += 1
    return samples, timeouts


def measure(worker_class: str, streams: list[tuple[str, str]], headers: dict[str, str]) -> list[dict]:
    port = free_port()
    settings = {
        "API_BIND": f"127.0.0.1:{port}",
        "API_WORKERS": "1",
        "API_THREADS": "8",
        "API_WORKER_CLASS": worker_class,
        "SSE_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS),
    }
    log_path = WORK / f"gunicorn-{worker_class}.log"
    server = start_procfile_process("api", log_path, {**os.environ, **settings})
    base = f"http://127.0.0.1:{port}"
    rows = []
    try:
        wait_until_healthy(base, server, log_path, timeout=180)
        worker = psutil.Process(server.pid).children(recursive=True)[-1]
        loop = asyncio.new_event_loop()
        for n, count in enumerate(STREAM_COUNTS):
            first = sum(STREAM_COUNTS[:n])  # users of their own: the last row's slots may not be free yet
            writers, statuses = loop.run_until_complete(open_streams(port, streams[first : first + count]))
            samples, timeouts = probe(base, headers)
            figures = percentiles(samples) if len(samples) > 1 else {"p50": None, "p99": None}
            rows.append(
                {
                    "worker_class": worker_class,
                    "open_streams": count,
                    "streams_accepted": statuses.pop("200", 0),
                    "streams_refused": dict(statuses),
                    "me_p50_ms": figures["p50"],
                    "me_p99_ms": figures["p99"],
                    "me_timeouts": timeouts,
                    "worker_rss_mb": round(worker.memory_info().rss / 2**20),
                }
            )
            for writer in writers:
                writer.close()
            # The server notices at its next heartbeat and frees their slots.
            loop.run_until_complete(asyncio.sleep(HEARTBEAT_SECONDS + 3))
        loop.close()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    return rows


def main() -> None:
    os.environ.update({"SSE_MAX_STREAMS_PER_USER": "5", "SSE_MAX_STREAMS": "1000"})
    fresh_database(ENV)
    streams, headers = make_streams_to_open()
    rows = measure("gthread", streams, headers) + measure("gevent", streams, headers)
    print_table(
        "GET /auth/me while N event streams stay open (one API process)",
        ["worker class", "streams asked", "accepted", "refused", "p50 ms", "p99 ms", "timed out", "RSS MB"],
        [
            [
                r["worker_class"],
                r["open_streams"],
                r["streams_accepted"],
                r["streams_refused"] or "-",
                r["me_p50_ms"],
                r["me_p99_ms"],
                f"{r['me_timeouts']}/{PROBES}",
                r["worker_rss_mb"],
            ]
            for r in rows
        ],
    )
    write_results("sse_capacity", {"probes": PROBES, "probe_timeout_s": PROBE_TIMEOUT, "rows": rows})


if __name__ == "__main__":
    main()
