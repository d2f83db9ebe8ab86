"""POST /chat under load, beside a bare endpoint doing the same writes; then end-to-end answer latency.

1. Accept path: 16, then 100 concurrent clients against gunicorn (2 workers x 8 threads).
   Ours: POST /api/v1/chat (auth, validation, session + message + task rows in one
   transaction, Celery publish) answering 202. Baseline, in the same server process:
   a bare Flask route that inserts the same three rows in one transaction and pushes
   a message onto a Redis list. No worker runs during this part.
2. End to end: with a real worker, sequential short questions with `?wait=30`,
   timed from the POST until the answer is back.

Uses its own database (ragbot_bench) and Redis database 11 (BENCH_DATABASE_URL and
BENCH_REDIS_URL name others).

    python -m bench.chat_latency                 # both parts -> bench/results/chat_latency.json
    python -m bench.chat_latency --end-to-end    # part 2 only -> bench/results/answer_latency.json
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = Path(tempfile.mkdtemp(prefix="ragbot-bench-"))
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/ragbot_bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")
ENV = {
    "APP_ENV": "test",
    "SECRET_KEY": "bench-secret-key-0123456789abcdef0123456789",
    "DATABASE_URL": DATABASE_URL,
    "REDIS_URL": REDIS_URL,
    "CELERY_BROKER_URL": REDIS_URL,
    "CELERY_RESULT_BACKEND": REDIS_URL,
    "RATELIMIT_ENABLED": "false",
    "INSTANCE_DIR": str(WORK),
    "MAIL_SERVER": "",
    "LOG_LEVEL": "WARNING",
}
os.environ.update(ENV)

import psycopg2  # noqa: E402 - the environment must be set before the app is imported
import redis  # noqa: E402
import requests  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from flask import Flask, jsonify  # noqa: E402

from api import create_app  # noqa: E402
from api.extensions.database import db  # noqa: E402
from api.models import ChatSession, Message, Task, utcnow  # noqa: E402
from bench.report import percentiles, print_table, write_results  # noqa: E402

CLIENT_COUNTS = (16, 100)
REQUESTS_PER_CLIENT = 40
PASSWORD = "bench password"
QUESTIONS = 15


def bench_app() -> Flask:
    """The production app plus the bare baseline route, served by the same gunicorn."""
    app = create_app()
    bare_queue = redis.Redis.from_url(ENV["CELERY_BROKER_URL"])

    def bare() -> tuple:
        session_id = db.session.execute(
            sa.insert(ChatSession)
            .values(user_id=1, title="bench", created_at=utcnow(), updated_at=utcnow())
            .returning(ChatSession.id)
        ).scalar_one()
        message_id = db.session.execute(
            sa.insert(Message)
            .values(
                session_id=session_id, user_id=1, role="user", content="hi", sources=[], created_at=utcnow()
            )
            .returning(Message.id)
        ).scalar_one()
        task_id = str(uuid.uuid4())
        db.session.execute(
            sa.insert(Task).values(
                id=task_id, user_id=1, kind="chat", state="queued", created_at=utcnow(), updated_at=utcnow()
            )
        )
        db.session.commit()
        bare_queue.lpush("bench-bare", json.dumps({"task_id": task_id, "message_id": message_id}))
        return jsonify({"task_id": task_id, "session_id": session_id, "message_id": message_id}), 202

    app.add_url_rule("/bench/bare", "bench_bare", bare, methods=["POST"])
    return app


def run(args: list[str], **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", *args], cwd=ROOT, env={**os.environ}, **kwargs)


def fresh_database(env: dict[str, str]) -> None:
    """An empty, migrated database and an empty Redis database for a benchmark."""
    server, name = env["DATABASE_URL"].rsplit("/", 1)
    conn = psycopg2.connect(f"{server}/postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    redis.Redis.from_url(env["REDIS_URL"]).flushdb()
    assert run(["flask", "--app", "wsgi", "db", "upgrade"], stdout=subprocess.DEVNULL).wait() == 0


def prepare(usernames: tuple[str, ...] = ("bench",)) -> dict[str, str]:
    """A fresh database with the corpus ingested and verified users (password PASSWORD).

    Returns the first user's Authorization header.
    """
    fresh_database(ENV)
    command = ["flask", "--app", "wsgi", "rag", "ingest", "docs_corpus"]
    assert run(command, stdout=subprocess.DEVNULL).wait() == 0
    from api.services import auth_tokens, users

    with create_app().app_context():
        accounts = [users.create_user(name, f"{name}@example.com", PASSWORD) for name in usernames]
        for user in accounts:
            user.email_verified_at = utcnow()
        db.session.commit()
        token = auth_tokens.issue_token_pair(accounts[0])["access_token"]
    redis.Redis.from_url(ENV["CELERY_BROKER_URL"]).delete("email")
    return {"Authorization": f"Bearer {token}"}


def evaluation_questions() -> list[dict]:
    lines = (ROOT / "docs_corpus/eval/questions.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def questions_with_documents() -> list[str]:
    """The evaluation questions that a document of the corpus answers."""
    return [q["question"] for q in evaluation_questions() if q["document"]]


def load(url: str, headers: dict[str, str], body: dict, clients: int) -> tuple[list[float], float]:
    samples: list[float] = []
    lock = threading.Lock()

    def client() -> None:
        with requests.Session() as http:
            for _ in range(3):
                http.post(url, headers=headers, json=body, timeout=30)
            mine = []
            for _ in range(REQUESTS_PER_CLIENT):
                started = time.perf_counter()
                response = http.post(url, headers=headers, json=body, timeout=30)
                mine.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 202, response.text
            with lock:
                samples.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return samples, len(samples) / (time.perf_counter() - started)


def main(end_to_end_only: bool = False) -> None:
    headers = prepare()
    port = 18080
    server = run(
        [
            "gunicorn",
            "bench.chat_latency:bench_app()",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--threads",
            "8",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    worker = None
    try:
        for _ in range(100):
            try:
                requests.get(f"{base}/healthz", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        accept = []
        if not end_to_end_only:
            question = {"message": "How long is the return window?"}
            for clients in CLIENT_COUNTS:
                bare, bare_rps = load(f"{base}/bench/bare", {}, {}, clients)
                ours, ours_rps = load(f"{base}/api/v1/chat", headers, question, clients)
                accept.append(accept_figures(clients, bare, bare_rps, ours, ours_rps))
            queue = redis.Redis.from_url(ENV["CELERY_BROKER_URL"])
            queue.delete("chat", "bench-bare")  # nobody will answer these

        worker = run(
            ["celery", "-A", "workers", "worker", "--concurrency=1", "--loglevel=WARNING"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if end_to_end_only:  # every kind of question: answered, unanswered, off topic
            questions = [q["question"] for q in evaluation_questions() if not q.get("history")][::3]
        else:
            questions = questions_with_documents()[:QUESTIONS]
        requests.post(
            f"{base}/api/v1/chat?wait=60", headers=headers, json={"message": questions[0]}, timeout=90
        )
        end_to_end, parts, answers = [], [], []
        for question in questions:
            started = time.perf_counter()
            response = requests.post(
                f"{base}/api/v1/chat?wait=30", headers=headers, json={"message": question}, timeout=60
            )
            end_to_end.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.text
            parts.append(response.json()["result"]["timings"])
            answers.append(response.json()["result"])
    finally:
        server.terminate()
        if worker:
            worker.terminate()
            worker.wait()
        server.wait()

    e2e_p = percentiles(end_to_end)
    mean = {
        k: round(statistics.mean(t[k] for t in parts)) for k in ("queue_ms", "retrieval_ms", "generation_ms")
    }
    models = sorted({answer["model"] for answer in answers})
    print_table(
        f"End to end, {len(end_to_end)} questions one at a time, answered by {', '.join(models)} (ms)",
        ["measure", "p50", "p95", "mean queue", "mean retrieval", "mean generation"],
        [
            [
                "POST -> succeeded",
                e2e_p["p50"],
                e2e_p["p95"],
                mean["queue_ms"],
                mean["retrieval_ms"],
                mean["generation_ms"],
            ]
        ],
    )
    if end_to_end_only:
        write_results(
            "answer_latency",
            {"questions": len(end_to_end), "models": models, "end_to_end_ms": e2e_p, "mean_parts_ms": mean},
        )
        return
    for figures in accept:
        bare_p, ours_p = figures["bare_ms"], figures["chat_202_ms"]
        print_table(
            f"POST at {figures['clients']} concurrent clients, {figures['requests_per_side']} requests "
            "each side (ms)",
            ["endpoint", "p50", "p95", "p99", "requests/s"],
            [
                [
                    "bare Flask: same 3 inserts + Redis push",
                    bare_p["p50"],
                    bare_p["p95"],
                    bare_p["p99"],
                    round(figures["bare_requests_per_s"]),
                ],
                [
                    "POST /api/v1/chat (202)",
                    ours_p["p50"],
                    ours_p["p95"],
                    ours_p["p99"],
                    round(figures["chat_requests_per_s"]),
                ],
                [
                    "ratio bare/ours",
                    figures["ratio_p50"],
                    "",
                    figures["ratio_p99"],
                    round(figures["chat_requests_per_s"] / figures["bare_requests_per_s"], 2),
                ],
            ],
        )
    write_results(
        "chat_latency",
        {
            **accept[0],  # the 16-client figures, where earlier results kept them
            "more_clients": accept[1:],
            "end_to_end_ms": e2e_p,
            "end_to_end_mean_parts_ms": mean,
        },
    )


def accept_figures(
    clients: int, bare: list[float], bare_rps: float, ours: list[float], ours_rps: float
) -> dict[str, object]:
    bare_p, ours_p = percentiles(bare), percentiles(ours)
    return {
        "clients": clients,
        "requests_per_side": len(ours),
        "bare_ms": bare_p,
        "chat_202_ms": ours_p,
        "bare_requests_per_s": round(bare_rps, 1),
        "chat_requests_per_s": round(ours_rps, 1),
        "ratio_p50": round(bare_p["p50"] / ours_p["p50"], 3),
        "ratio_p99": round(bare_p["p99"] / ours_p["p99"], 3),
    }


if __name__ == "__main__":
    main(end_to_end_only="--end-to-end" in sys.argv[1:])
