"""The Celery app for `celery -A workers worker|beat|flower`, built from the Flask app."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from celery.signals import celeryd_after_setup, worker_process_init, worker_shutdown

from api import create_app
from api.services import health
from workers.logs import use_json_logs

if TYPE_CHECKING:
    from rag.engine import Engine

flask_app = create_app()
app = flask_app.extensions["celery"]
log = logging.getLogger(__name__)
use_json_logs(flask_app)  # before Celery sets up its logging

_worker = {"hostname": ""}  # set in the main process before the pool forks its children


@celeryd_after_setup.connect
def remember_hostname(sender: str, **_: object) -> None:
    _worker["hostname"] = sender
    with flask_app.app_context():
        health.forget_worker(sender)  # a restarted worker is not ready until it has loaded again


@worker_process_init.connect
def load_models_once(**_: object) -> None:
    """Each worker process loads the models and the index when it starts, not on its first task.

    Whether that worked is recorded for /readyz; a failure is logged, and the tasks
    that need the models then fail with a code instead of hanging.
    """
    if not flask_app.config["RAG_WARM_UP"]:
        return
    with flask_app.app_context():
        try:
            from workers.knowledge.engine import engine
            from workers.knowledge.index_sync import ensure_index_current

            ensure_index_current()
            loaded = engine()
            loaded.warm_up()
        except Exception as error:
            log.exception("could not load the models and the index")
            health.record_worker_models(_worker["hostname"], f"{type(error).__name__}: {error}"[:300])
        else:
            health.record_worker_models(_worker["hostname"], models=models_of(loaded))


def models_of(loaded: Engine) -> dict[str, object]:
    """What this worker runs, for /api/v1/system/llm and the index check of /readyz."""
    llm = loaded.llm
    return {
        "llm": {
            "backend": llm.name,
            "model": llm.model,
            "context_size": llm.context_size,
            "loaded": llm.is_loaded(),
        },
        "embedding_model": loaded.embedder.model_id,
    }


@worker_shutdown.connect
def forget_this_worker(**_: object) -> None:
    with flask_app.app_context():
        health.forget_worker(_worker["hostname"])
