"""Celery tasks, one module per queue. `celery -A workers ...` loads the app from `workers.celery`.

This package's `__init__` stays empty so the API process can import task
modules (to call `.delay()`) without building a second Flask app.
"""
