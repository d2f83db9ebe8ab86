from __future__ import annotations

import marshmallow as ma

from api.schemas.chat import SourceSchema
from api.schemas.common import UtcDateTime


class TaskErrorSchema(ma.Schema):
    code = ma.fields.String()
    message = ma.fields.String()


class PassageSchema(ma.Schema):
    document_id = ma.fields.Integer()
    title = ma.fields.String()
    chunk_id = ma.fields.Integer()
    snippet = ma.fields.String()
    score = ma.fields.Float(metadata={"description": "cosine similarity to the question"})


class ChatResultSchema(ma.Schema):
    """The result of a chat task (documentation of `result`; ingest tasks have their own)."""

    answer = ma.fields.String()
    grounded = ma.fields.Boolean(
        metadata={"description": "false: the documents do not answer the question (no sources, see related)"}
    )
    sources = ma.fields.List(ma.fields.Nested(SourceSchema), metadata={"description": "[] when not grounded"})
    related = ma.fields.List(
        ma.fields.Nested(PassageSchema),
        metadata={
            "description": "when not grounded: the closest passages of the knowledge base (empty for "
            "a question off its topic), else []"
        },
    )
    session_id = ma.fields.Integer()
    message_id = ma.fields.Integer()
    model = ma.fields.String(metadata={"description": '"extractive" when the answer quotes the evidence'})
    usage = ma.fields.Dict()
    timings = ma.fields.Dict()


class TaskResult(ma.fields.Nested):
    """Documented as the chat result; dumped as stored (an ingest task's result is its own small dict)."""

    def _serialize(self, value, attr, obj, **kwargs):
        return value


class TaskSchema(ma.Schema):
    task_id = ma.fields.String(attribute="id")
    kind = ma.fields.String(metadata={"enum": ["chat", "ingest"]})
    state = ma.fields.String(metadata={"enum": ["queued", "running", "succeeded", "failed"]})
    created_at = UtcDateTime()
    updated_at = UtcDateTime()
    error = ma.fields.Nested(TaskErrorSchema, allow_none=True)
    result = TaskResult(
        ChatResultSchema,
        allow_none=True,
        metadata={
            "description": "a chat task's result as below; an ingest task's is {document_id, chunk_count}"
        },
    )


class ResumeHeaders(ma.Schema):
    """A reconnecting event-stream client says which token event it got last."""

    class Meta:
        unknown = ma.EXCLUDE  # every other request header

    last_event_id = ma.fields.Integer(
        data_key="Last-Event-ID",
        load_default=0,
        validate=ma.validate.Range(min=0),
        metadata={"description": "id of the last `token` event received; the stream resumes after it"},
    )
