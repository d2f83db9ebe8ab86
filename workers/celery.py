"""The Celery app for `celery -A workers worker|beat|flower`, built from the Flask app."""

from api import create_app

flask_app = create_app()
app = flask_app.extensions["celery"]
