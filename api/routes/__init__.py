"""One blueprint per resource."""

from api.routes import auth, chat, ops, sessions, tasks

BLUEPRINTS = (auth.blp, chat.blp, sessions.blp, tasks.blp, ops.blp)
