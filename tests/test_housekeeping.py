"""Beat jobs: expired tokens and 30-day-old history are deleted, batched and under a lock."""

from __future__ import annotations

from datetime import timedelta

from api.extensions.database import db
from api.extensions.redis import get_redis
from api.models import ChatSession, EmailToken, Message, RevokedToken, utcnow
from workers.maintenance import purge_expired_tokens_task, purge_old_chat_history_task


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

    counts = purge_expired_tokens_task.delay().get(timeout=30)

    assert counts == {"email_tokens": 1, "revoked_tokens": 1}
    with app.app_context():
        assert [t.token_hash[0] for t in db.session.scalars(db.select(EmailToken))] == ["b"]
        assert [t.jti for t in db.session.scalars(db.select(RevokedToken))] == ["live"]


def test_history_older_than_30_days_is_deleted(app, make_user, worker):
    alice = make_user()
    old, recent = utcnow() - timedelta(days=31), utcnow() - timedelta(days=29)
    with app.app_context():
        stale = ChatSession(user_id=alice["id"], title="stale", created_at=old, updated_at=old)
        mixed = ChatSession(user_id=alice["id"], title="mixed", created_at=old, updated_at=recent)
        db.session.add_all([stale, mixed])
        db.session.flush()
        db.session.add_all(
            [
                Message(
                    session_id=stale.id, user_id=alice["id"], role="user", content="old q", created_at=old
                ),
                Message(
                    session_id=mixed.id, user_id=alice["id"], role="user", content="old q", created_at=old
                ),
                Message(
                    session_id=mixed.id, user_id=alice["id"], role="user", content="new q", created_at=recent
                ),
            ]
        )
        db.session.commit()

    counts = purge_old_chat_history_task.delay().get(timeout=30)

    assert counts == {"messages": 2, "sessions": 1}
    with app.app_context():
        assert [s.title for s in db.session.scalars(db.select(ChatSession))] == ["mixed"]
        assert [m.content for m in db.session.scalars(db.select(Message))] == ["new q"]


def test_a_job_already_running_elsewhere_is_skipped(app, worker):
    with app.app_context():
        lock = get_redis().lock("lock:housekeeping:purge_expired_tokens", timeout=60)
        assert lock.acquire(blocking=False)
        try:
            assert purge_expired_tokens_task.delay().get(timeout=30) == {"skipped": 1}
        finally:
            lock.release()
