"""One blueprint per resource."""

from api.routes import admin, auth, chat, documents, ops, sessions, tasks

BLUEPRINTS = (auth.blp, chat.blp, sessions.blp, documents.blp, tasks.blp, admin.blp, ops.blp)
