"""Celery tasks, one module per queue; `celery -A workers ...` loads the app from `workers.celery`.

`workers.knowledge` is the worker-side orchestration the tasks call. The API
process never imports this package: it sends tasks by name (`api/services/queue.py`).
"""
