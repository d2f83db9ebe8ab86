"""Every Celery setting in one place; read by `celery_init_app` (api/extensions/celery_app.py).

Workers consume every queue below unless started with `-Q`, so a new queue is
picked up by `celery -A workers worker` without editing any command line.
"""

from __future__ import annotations

from celery.schedules import crontab
from kombu import Exchange, Queue

from api.config import env_int, env_list, env_str, redis_url

broker_url = env_str("CELERY_BROKER_URL", redis_url())
result_backend = env_str("CELERY_RESULT_BACKEND", redis_url())

QUEUES = ("chat", "search", "ingest", "email", "maintenance")
# Each queue gets its own exchange and routing key, so a message lands in exactly one queue.
task_queues = tuple(Queue(name, Exchange(name), routing_key=name) for name in QUEUES)
task_default_queue = "chat"
task_default_exchange = "chat"
task_default_routing_key = "chat"
task_routes = {
    "workers.chat.*": {"queue": "chat"},
    "workers.search.*": {"queue": "search"},
    "workers.ingest.*": {"queue": "ingest"},
    "workers.email.*": {"queue": "email"},
    "workers.maintenance.*": {"queue": "maintenance"},
}
imports = ("workers.chat", "workers.search", "workers.email", "workers.ingest", "workers.maintenance")

# Reliability: a task is acknowledged only after it finished, and a worker that
# dies mid-task hands it back. Redis redelivers unacknowledged messages after
# the visibility timeout, which must exceed the longest task.
task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1
# Pool processes per worker (0: one per core); each loads the models, so mind the memory.
worker_concurrency = env_int("WORKER_CONCURRENCY", 0) or None
# A pool process that grew past this (a huge document, a leak) is replaced after its task, before
# it takes the machine down; the models it loaded (~1 GB) stay well below. 0: no limit.
worker_max_memory_per_child = env_int("WORKER_MAX_MEMORY_MB", 3072) * 1024 or None  # Celery wants KiB
task_soft_time_limit = env_int("TASK_SOFT_TIME_LIMIT", 300)
task_time_limit = env_int("TASK_TIME_LIMIT", 360)
broker_transport_options = {"visibility_timeout": env_int("BROKER_VISIBILITY_TIMEOUT", 3600)}
result_backend_transport_options = {"visibility_timeout": env_int("BROKER_VISIBILITY_TIMEOUT", 3600)}
broker_connection_retry_on_startup = True
# Ride out a broker blip when publishing instead of failing the HTTP request.
task_publish_retry = True
task_publish_retry_policy = {"max_retries": 3, "interval_start": 0, "interval_step": 0.5}

task_serializer = "json"
result_serializer = "json"
accept_content = ("json",)
result_expires = 24 * 3600
task_track_started = True
worker_send_task_events = True
# No "task-sent" events: one more Redis publish on the API's hot path, for a state
# Flower shows anyway once a worker receives the task.
task_send_sent_event = False

timezone = "UTC"
enable_utc = True

# When each housekeeping job runs (api/services/housekeeping.py). MAINTENANCE_JOBS picks which
# run at all; BEAT_EVERY_SECONDS runs each of them every N seconds instead (demos and tests).
MAINTENANCE_SCHEDULE = {
    "fail_stale_tasks": 300.0,  # every 5 minutes
    "purge_expired_tokens": crontab(minute=17),  # hourly
    "purge_old_chat_history": crontab(hour=3, minute=7),  # daily, 03:07 UTC
    "purge_task_records": crontab(hour=3, minute=37),  # daily
    "activity_report": crontab(hour=6, minute=0),  # daily, 06:00 UTC
    "backup_chat_data": crontab(day_of_week="sunday", hour=2, minute=15),  # weekly
}
_every = env_int("BEAT_EVERY_SECONDS", 0)
beat_schedule = {
    job: {
        "task": "workers.maintenance.maintenance_job_task",
        "args": (job,),
        "schedule": float(_every) if _every else when,
    }
    for job, when in MAINTENANCE_SCHEDULE.items()
    if job in env_list("MAINTENANCE_JOBS", ",".join(MAINTENANCE_SCHEDULE))
}
