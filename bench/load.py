"""Mixed load: many users logging in, chatting with `?wait=`, streaming events, reading history, searching.

The Procfile's `api` (gunicorn, its default 2 gevent workers) and `worker` (one
process) serve a locust run of USERS users for SECONDS seconds. Each user has its own
account and logs in first; then, with a pause of 1-3 s between requests:

  chat     POST /api/v1/chat?wait=2   200 (answered in time) or 202 (queued)
  events   GET  /api/v1/tasks/<id>/events on the user's last chat, read until `done`/`error`
           or STREAM_SECONDS (timed to the end of the stream, or to the cut)
  history  GET  /api/v1/chat-history
  search   POST /api/v1/search
  login    POST /api/v1/auth/login again

Rate limits are on as in production, except the per-address login limit (every user
connects from 127.0.0.1 here): a 429 is counted apart, not as an error. Anything else
that is not 2xx is an error. Afterwards PostgreSQL is asked whether every accepted chat
ended with exactly one assistant message, or is still queued/running, or failed with an
error code.

Uses the database and Redis of bench/chat_latency.py (BENCH_DATABASE_URL, BENCH_REDIS_URL).

    python -m bench.load                        # 100 users, 60 s -> bench/results/load.json
    python -m bench.load --users 20 --seconds 15  # a short check (results not written)
"""

from __future__ import annotations

# locust patches the standard library (gevent) and must be imported before anything else.
from locust import HttpUser, between, events, task  # isort: skip
from locust.env import Environment  # isort: skip

import argparse
import os
import random
import time
from collections import Counter
from pathlib import Path

import gevent

from bench.chat_latency import PASSWORD, WORK, prepare, questions_with_documents
from bench.report import print_table, write_results
from tests import services

USERS = 100
SECONDS = 60
WAIT_SECONDS = 2
STREAM_SECONDS = 15
# Client-side limit for one request: a request still unanswered after it counts as an error.
REQUEST_TIMEOUT = 60

QUESTIONS = questions_with_documents()
rate_limited: Counter[str] = Counter()


class ChatUser(HttpUser):
    wait_time = between(1, 3)
    accounts: list[str] = []

    def on_start(self) -> None:
        self.username = self.accounts.pop()
        self.task_id: str | None = None
        self.login()

    def request(self, method: str, path: str, name: str, **kwargs):
        """One request; 2xx is a success, 429 is counted apart, anything else is an error."""
        with self.client.request(
            method, path, name=name, catch_response=True, timeout=REQUEST_TIMEOUT, **kwargs
        ) as response:
            if response.status_code == 429:
                rate_limited[name] += 1
                response.success()
            elif 200 <= response.status_code < 300:
                response.success()
            else:
                response.failure(f"{response.status_code}: {response.text[:200]}")
            return response

    @task(1)
    def login(self) -> None:
        body = {"login": self.username, "password": PASSWORD}
        response = self.request("POST", "/api/v1/auth/login", "POST /auth/login", json=body)
        if response.status_code == 200:
            self.client.headers["Authorization"] = f"Bearer {response.json()['access_token']}"

    @task(4)
    def chat(self) -> None:
        response = self.request(
            "POST",
            f"/api/v1/chat?wait={WAIT_SECONDS}",
            f"POST /chat?wait={WAIT_SECONDS}",
            json={"message": random.choice(QUESTIONS)},
        )
        if response.status_code in (200, 202):
            self.task_id = response.json()["task_id"]

    @task(2)
    def stream(self) -> None:
        if self.task_id is None:
            return
        started = time.perf_counter()
        with self.client.get(
            f"/api/v1/tasks/{self.task_id}/events",
            name="GET /tasks/<id>/events",
            stream=True,
            catch_response=True,
            timeout=REQUEST_TIMEOUT,
        ) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code}: {response.text[:200]}")
                return
            try:
                for line in response.iter_lines(decode_unicode=True):
                    if line in ("event: done", "event: error"):
                        break
                    if time.perf_counter() - started > STREAM_SECONDS:
                        break  # still generating: leave, as a browser tab that is closed
            except Exception as error:  # a stream broken midway is an error of this request
                response.failure(error)
                return
            # Timed to the end of the stream (or the cut), not to its headers.
            response.request_meta["response_time"] = (time.perf_counter() - started) * 1000
            response.success()

    @task(3)
    def history(self) -> None:
        self.request("GET", "/api/v1/chat-history?limit=20", "GET /chat-history")

    @task(2)
    def search(self) -> None:
        body = {"query": random.choice(QUESTIONS), "k": 5}
        self.request("POST", "/api/v1/search", "POST /search", json=body)


def run_load(base: str, users: int, seconds: int) -> Environment:
    ChatUser.accounts = [f"load{i}" for i in range(users)]
    environment = Environment(user_classes=[ChatUser], host=base, events=events)
    runner = environment.create_local_runner()
    runner.start(users, spawn_rate=max(1, users // 10))  # all users within 10 s
    gevent.spawn_later(seconds, runner.quit)
    runner.greenlet.join()
    return environment


def accepted_chat_outcomes() -> dict[str, int]:
    """Each chat task the API accepted, by how it stands: answered once, pending, failed, or broken."""
    from api import create_app
    from api.extensions.database import db

    sql = db.text(
        """
        SELECT t.state, t.error ->> 'code' AS code, count(m.id) AS answers
        FROM tasks t LEFT JOIN messages m ON m.task_id = t.id AND m.role = 'assistant'
        WHERE t.kind = 'chat' GROUP BY t.id
        """
    )
    outcomes: Counter[str] = Counter()
    with create_app().app_context():
        for state, code, answers in db.session.execute(sql):
            if state == "succeeded" and answers == 1:
                outcomes["answered once"] += 1
            elif state in ("queued", "running") and answers == 0:
                outcomes[f"still {state}"] += 1
            elif state == "failed" and code and answers == 0:
                outcomes[f"failed: {code}"] += 1
            else:
                outcomes[f"BROKEN: {state}, {answers} answers, code {code}"] += 1
    return dict(outcomes)


def main(users: int, seconds: int) -> None:
    os.environ.update({"RATELIMIT_ENABLED": "true", "RATELIMIT_LOGIN": "100000 per minute"})
    prepare(tuple(f"load{i}" for i in range(users)))
    logs = Path(WORK)
    from api import create_app

    worker = services.WorkerProcess(dict(os.environ), logs / "worker.log")
    worker.start(create_app().extensions["celery"], timeout=180)
    try:
        with services.gunicorn(logs / "api.log", threads=8, API_WORKERS="2") as base:
            started = time.perf_counter()
            environment = run_load(base, users, seconds)
            elapsed = time.perf_counter() - started
    finally:
        worker.stop()
    report(environment, users, seconds, elapsed, accepted_chat_outcomes(), logs)


def report(
    environment: Environment, users: int, seconds: int, elapsed: float, chats: dict[str, int], logs: Path
) -> None:
    entries = sorted(environment.stats.entries.values(), key=lambda e: e.name)
    routes = {}
    for entry in entries:
        routes[entry.name] = {
            "requests": entry.num_requests,
            "errors": entry.num_failures,
            "rate_limited": rate_limited[entry.name],
            "p50_ms": entry.get_response_time_percentile(0.5),
            "p99_ms": entry.get_response_time_percentile(0.99),
            "requests_per_s": round(entry.num_requests / elapsed, 1),
        }
    print_table(
        f"{users} users for {seconds} s against gunicorn (2 gevent workers) and one worker",
        ["route", "requests", "errors", "429", "p50 ms", "p99 ms", "req/s"],
        [[name, *figures.values()] for name, figures in routes.items()],
    )
    errors = {f"{e.method} {e.name}: {e.error}": e.occurrences for e in environment.stats.errors.values()}
    for message, count in errors.items():
        print(f"  error x{count}: {message[:300]}")
    print_table(
        "Accepted chats afterwards (PostgreSQL)", ["outcome", "tasks"], list(map(list, chats.items()))
    )
    print(f"\nserver and worker logs: {logs}")
    if users == USERS and seconds == SECONDS:
        write_results(
            "load",
            {"users": users, "seconds": seconds, "routes": routes, "errors": errors, "accepted_chats": chats},
        )
    else:
        print("(a shorter run than the reference one: results not written)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--users", type=int, default=USERS)
    parser.add_argument("--seconds", type=int, default=SECONDS)
    arguments = parser.parse_args()
    main(arguments.users, arguments.seconds)
