"""The Celery app for `celery -A workers worker|beat|flower`, built from the Flask app."""

from celery.signals import worker_process_init

from api import create_app

flask_app = create_app()
app = flask_app.extensions["celery"]


@worker_process_init.connect
def load_models_once(**_: object) -> None:
    """Each worker process loads the models and the index when it starts, not on its first task."""
    if not flask_app.config["RAG_WARM_UP"]:
        return
    from api.services import knowledge

    with flask_app.app_context():
        knowledge.ensure_index_current()
        knowledge.engine().warm_up()
