"""One blueprint per resource."""

from api.routes import auth, ops, sessions, tasks

BLUEPRINTS = (auth.blp, sessions.blp, tasks.blp, ops.blp)
