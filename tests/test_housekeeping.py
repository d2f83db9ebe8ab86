"""Housekeeping: retention, task records, the activity report and backups; batched, locked, on beat."""

from __future__ import annotations

import os
import threading
import time
from datetime import timedelta

from flask_migrate import upgrade

from api import create_app
from api.extensions.database import db
from api.extensions.redis import get_redis
from api.models import ChatSession, EmailToken, Message, RevokedToken, Task, User, utcnow
from api.services import backups, housekeeping, tasks
from tests.conftest import SESSION_DIR
from tests.services import PG_ADMIN_URL, recreate_database, start_procfile_process, stop_beat, text_part
from workers.maintenance import maintenance_job_task

RETENTION = timedelta(days=30)


def run_on_worker(job: str) -> dict[str, int]:
    return maintenance_job_task.delay(job).get(timeout=60)


def add_exchange(user_id: int, session: ChatSession, at, answer: str) -> str:
    """A question, its chat task holding the answer, and the answer, all stamped `at`."""
    question = Message(session=session, user_id=user_id, role="user", content="q", created_at=at)
    task = Task(
        id=f"task-{answer}",
        user_id=user_id,
        kind="chat",
        state="succeeded",
        session_id=session.id,
        result={"answer": answer, "timings": {"total_ms": 800.0}},
        created_at=at,
    )
    reply = Message(session=session, user_id=user_id, role="assistant", content=answer, created_at=at)
    db.session.add_all([question, task, reply])
    db.session.commit()
    return task.id


def answer_texts() -> set[str]:
    """Every stored copy of an answer: in messages and in task results."""
    messages = set(db.session.scalars(db.select(Message.content).where(Message.role == "assistant")))
    results = {t.result["answer"] for t in db.session.scalars(db.select(Task)) if t.result}
    return messages | results


def test_expired_tokens_are_purged_and_live_ones_kept(app, make_user, worker):
    alice = make_user()
    now = utcnow()
    with app.app_context():
        db.session.add_all(
            [
                EmailToken(
                    user_id=alice["id"],
                    purpose="verify",
                    token_hash="a" * 64,
                    expires_at=now - timedelta(hours=1),
                ),
                EmailToken(
                    user_id=alice["id"],
                    purpose="reset",
                    token_hash="b" * 64,
                    expires_at=now + timedelta(hours=1),
                ),
                RevokedToken(jti="old", expires_at=now - timedelta(minutes=1)),
                RevokedToken(jti="live", expires_at=now + timedelta(days=1)),
            ]
        )
        db.session.commit()

    assert run_on_worker("purge_expired_tokens") == {"email_tokens": 1, "revoked_tokens": 1}
    with app.app_context():
        # (alice's own verification token may be there too: her sign-up email is sent meanwhile)
        kept = set(db.session.scalars(db.select(EmailToken.token_hash)))
        assert "b" * 64 in kept and "a" * 64 not in kept
        assert [t.jti for t in db.session.scalars(db.select(RevokedToken))] == ["live"]


def test_history_is_kept_29_days_23_hours_and_gone_after_30_days_1_minute_task_results_too(
    app, make_user, worker
):
    alice = make_user()
    now = utcnow()
    with app.app_context():
        session = ChatSession(user_id=alice["id"], title="mixed", created_at=now - RETENTION, updated_at=now)
        gone = ChatSession(
            user_id=alice["id"], title="old", created_at=now - RETENTION, updated_at=now - RETENTION
        )
        db.session.add_all([session, gone])
        db.session.flush()
        add_exchange(alice["id"], session, now - timedelta(days=29, hours=23), "recent answer")
        add_exchange(alice["id"], session, now - RETENTION - timedelta(minutes=1), "old answer")
        add_exchange(alice["id"], gone, now - RETENTION - timedelta(minutes=1), "oldest answer")

    assert run_on_worker("purge_old_chat_history") == {"messages": 4, "sessions": 1, "chat_tasks": 2}
    with app.app_context():
        assert answer_texts() == {"recent answer"}
        assert [s.title for s in db.session.scalars(db.select(ChatSession))] == ["mixed"]
    assert run_on_worker("purge_old_chat_history") == {"messages": 0, "sessions": 0, "chat_tasks": 0}


def test_deleting_a_session_or_the_history_leaves_no_answer_text_in_tasks(app, client, make_user):
    alice = make_user()
    with app.app_context():
        first = ChatSession(user_id=alice["id"], title="first")
        second = ChatSession(user_id=alice["id"], title="second")
        db.session.add_all([first, second])
        db.session.flush()
        add_exchange(alice["id"], first, utcnow(), "first answer")
        add_exchange(alice["id"], second, utcnow(), "second answer")
        first_id = first.id

    assert client.delete(f"/api/v1/sessions/{first_id}", headers=alice["headers"]).status_code == 204
    with app.app_context():
        assert answer_texts() == {"second answer"}
    assert client.delete("/api/v1/chat-history", headers=alice["headers"]).status_code == 204
    with app.app_context():
        assert answer_texts() == set()


def test_finished_task_records_go_after_their_retention_and_unfinished_ones_stay(app, make_user):
    alice = make_user()
    old = utcnow() - timedelta(days=app.config["TASK_RETENTION_DAYS"], minutes=1)
    with app.app_context():
        for task_id, state, created in [
            ("old-done", "succeeded", old),
            ("old-failed", "failed", old),
            ("old-running", "running", old),
            ("new-done", "succeeded", utcnow()),
        ]:
            db.session.add(
                Task(id=task_id, user_id=alice["id"], kind="ingest", state=state, created_at=created)
            )
        db.session.commit()
        assert housekeeping.run("purge_task_records") == {"tasks": 2}
        assert set(db.session.scalars(db.select(Task.id))) == {"old-running", "new-done"}


def test_two_runs_at_once_delete_nothing_twice(app, make_user):
    alice = make_user()
    old = utcnow() - RETENTION - timedelta(days=1)
    with app.app_context():
        session = ChatSession(user_id=alice["id"], title="old", created_at=old, updated_at=old)
        db.session.add(session)
        db.session.flush()
        for n in range(40):
            add_exchange(alice["id"], session, old, f"answer {n}")
    results = []

    def run() -> None:
        with create_app().app_context():
            results.append(housekeeping.run("purge_old_chat_history"))

    runs = [threading.Thread(target=run) for _ in range(2)]
    for thread in runs:
        thread.start()
    for thread in runs:
        thread.join()
    assert sum(r.get("messages", 0) for r in results) == 80
    assert sum(r.get("chat_tasks", 0) for r in results) == 40


def test_a_job_already_running_elsewhere_is_skipped(app, worker):
    with app.app_context():
        lock = get_redis().lock("lock:housekeeping:purge_expired_tokens", timeout=60)
        assert lock.acquire(blocking=False)
        try:
            assert run_on_worker("purge_expired_tokens") == {"skipped": 1}
        finally:
            lock.release()


def test_the_activity_report_reaches_admins_over_smtp(app, make_user, worker, mailbox):
    make_user("root", is_admin=True)
    alice = make_user("alice")
    with app.app_context():
        session = ChatSession(user_id=alice["id"], title="today")
        db.session.add(session)
        db.session.flush()
        add_exchange(alice["id"], session, utcnow(), "an answer")
        failed = tasks.create_task(alice["id"], "ingest")
        tasks.mark_failed(failed.id, "unreadable_document", "empty")

    assert run_on_worker("activity_report") == {"emails": 1}
    report = text_part(mailbox.wait_for("root@example.com", "Ragbot activity"))
    assert "Sign-ups          2" in report
    assert "Questions asked   1 (0 failed)" in report
    assert "(1 failed to index)" in report
    assert "p50 800.0 ms" in report
    # Admins only: mail of earlier tests may still reach alice, the report never does.
    reports_to_alice = [m for m in mailbox.received_for("alice@example.com") if "activity" in m["Subject"]]
    assert not reports_to_alice


def test_backup_then_restore_into_an_empty_database_gives_back_the_same_history(
    app, client, make_user, tmp_path
):
    alice, bob = make_user("alice"), make_user("bob")
    with app.app_context():
        for user, title in ((alice, "first"), (bob, "second")):
            session = ChatSession(user_id=user["id"], title=title)
            db.session.add(session)
            db.session.flush()
            add_exchange(user["id"], session, utcnow(), f"{title} answer ünïcode")
        path, rows = backups.write_backup(tmp_path)
        assert rows == 2 + 2 + 4  # users, sessions, messages
        assert oct(path.stat().st_mode & 0o777) == "0o600"
        original = dump_history()

    restored_db = "ragbot_restore_test"
    recreate_database(restored_db)
    url = f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{restored_db}"
    target = create_app({"SQLALCHEMY_DATABASE_URI": url.replace("postgresql://", "postgresql+psycopg2://")})
    with target.app_context():
        upgrade()
    result = target.test_cli_runner().invoke(args=["maintenance", "restore", str(path)])
    assert result.exit_code == 0, result.output
    with target.app_context():
        assert dump_history() == original
        # New rows get fresh ids after the restored ones.
        db.session.add(User(username="carol", email="carol@example.com", password_hash="x"))
        db.session.commit()
        assert db.session.scalar(db.select(User.id).where(User.username == "carol")) > max(
            alice["id"], bob["id"]
        )
    again = target.test_cli_runner().invoke(args=["maintenance", "restore", str(path)])
    assert again.exit_code != 0 and "empty database" in again.output
    with target.app_context():
        db.engine.dispose()


def dump_history() -> list[tuple]:
    users = db.session.execute(db.select(User.id, User.username, User.email, User.password_hash)).all()
    sessions = db.session.execute(db.select(ChatSession.id, ChatSession.user_id, ChatSession.title)).all()
    messages = db.session.execute(
        db.select(Message.id, Message.session_id, Message.role, Message.content, Message.created_at)
    ).all()
    return sorted(map(tuple, users)) + sorted(map(tuple, sessions)) + sorted(map(tuple, messages))


def test_beat_with_a_seconds_long_schedule_runs_every_job_on_a_worker(worker, tmp_path):
    """The Procfile's beat, every job every 2 seconds: each one shows up done in the worker's log."""
    log = SESSION_DIR / "worker.log"
    seen_before = log.read_text().count("\n")
    beat = start_procfile_process("beat", tmp_path / "beat.log", {**os.environ, "BEAT_EVERY_SECONDS": "2"})
    try:
        deadline = time.monotonic() + 90
        while missing := [
            job for job in housekeeping.JOBS if f"{job}: {{" not in new_lines(log, seen_before)
        ]:
            assert beat.poll() is None, (tmp_path / "beat.log").read_text()
            assert time.monotonic() < deadline, f"never ran: {missing}"
            time.sleep(1)
    finally:
        stop_beat(beat, maintenance_job_task.app)


def new_lines(log, skip: int) -> str:
    return "\n".join(log.read_text().splitlines()[skip:])
