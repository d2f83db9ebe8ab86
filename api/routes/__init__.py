"""One blueprint per resource."""

from api.routes import auth, ops, tasks

BLUEPRINTS = (auth.blp, tasks.blp, ops.blp)
