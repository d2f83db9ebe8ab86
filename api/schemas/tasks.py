from __future__ import annotations

import marshmallow as ma

from api.schemas.common import UtcDateTime


class TaskErrorSchema(ma.Schema):
    code = ma.fields.String()
    message = ma.fields.String()


class TaskSchema(ma.Schema):
    task_id = ma.fields.String(attribute="id")
    kind = ma.fields.String(metadata={"enum": ["chat", "ingest"]})
    state = ma.fields.String(metadata={"enum": ["queued", "running", "succeeded", "failed"]})
    created_at = UtcDateTime()
    updated_at = UtcDateTime()
    error = ma.fields.Nested(TaskErrorSchema, allow_none=True)
    result = ma.fields.Dict(allow_none=True, metadata={"description": "chat or ingest result"})
