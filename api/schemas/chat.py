from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from api.schemas.common import NOT_BLANK, UtcDateTime, not_blank, page_of

TITLE = validate.Length(min=1, max=200)


class PageQuery(ma.Schema):
    limit = ma.fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))
    cursor = ma.fields.String(
        load_default=None,
        validate=validate.Length(max=200),
        metadata={"pattern": "^[A-Za-z0-9_-]*$", "description": "`next_cursor` of the previous page"},
    )


class HistoryQuery(PageQuery):
    session_id = ma.fields.Integer(load_default=None)


class ExportQuery(ma.Schema):
    format = ma.fields.String(load_default="json", validate=validate.OneOf(["json", "markdown"]))


class SourceSchema(ma.Schema):
    n = ma.fields.Integer()
    document_id = ma.fields.Integer()
    title = ma.fields.String()
    chunk_id = ma.fields.Integer()
    snippet = ma.fields.String()
    score = ma.fields.Float()


class MessageSchema(ma.Schema):
    id = ma.fields.Integer()
    session_id = ma.fields.Integer()
    role = ma.fields.String(metadata={"enum": ["user", "assistant"]})
    content = ma.fields.String()
    sources = ma.fields.List(ma.fields.Nested(SourceSchema))
    created_at = UtcDateTime()


class SessionSchema(ma.Schema):
    id = ma.fields.Integer()
    title = ma.fields.String()
    created_at = UtcDateTime()
    updated_at = UtcDateTime()
    message_count = ma.fields.Integer()


class SessionDetailSchema(SessionSchema):
    messages = ma.fields.List(ma.fields.Nested(MessageSchema), metadata={"description": "oldest first"})


SessionPage = page_of(SessionSchema)
MessagePage = page_of(MessageSchema)


class CreateSessionRequest(ma.Schema):
    title = ma.fields.String(validate=TITLE)


class RenameSessionRequest(ma.Schema):
    title = ma.fields.String(required=True, validate=TITLE)


class ChatRequest(ma.Schema):
    message = ma.fields.String(
        required=True, validate=[validate.Length(min=1, max=4000), not_blank], metadata=NOT_BLANK
    )
    session_id = ma.fields.Integer(load_default=None)


class ChatQuery(ma.Schema):
    wait = ma.fields.Float(
        load_default=0.0,
        validate=validate.Range(min=0, max=60),
        metadata={"description": "seconds to wait for the answer before answering 202"},
    )


class ChatAccepted(ma.Schema):
    task_id = ma.fields.String()
    session_id = ma.fields.Integer()
    message_id = ma.fields.Integer()
    state = ma.fields.String()
    status_url = ma.fields.String()
    stream_url = ma.fields.String()
