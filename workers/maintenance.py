"""`maintenance` queue: housekeeping jobs scheduled by beat (celery_config.beat_schedule)."""

from __future__ import annotations

from celery import shared_task

from api.services import housekeeping


@shared_task
def maintenance_job_task(job_name: str) -> dict[str, int]:
    return housekeeping.run(job_name)
