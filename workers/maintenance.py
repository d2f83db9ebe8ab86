"""`maintenance` queue: housekeeping scheduled by beat (see `beat_schedule` in celery_config)."""

from __future__ import annotations

from celery import shared_task

from api.services import housekeeping


@shared_task
def purge_expired_tokens_task() -> dict[str, int]:
    return housekeeping.run_locked("purge_expired_tokens", housekeeping.purge_expired_tokens)


@shared_task
def purge_old_chat_history_task() -> dict[str, int]:
    return housekeeping.run_locked("purge_old_chat_history", housekeeping.purge_old_chat_history)
