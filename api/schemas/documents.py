from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from api.schemas.common import NOT_BLANK, UtcDateTime, not_blank, page_of

SCOPE = validate.OneOf(["global", "private"])


class DocumentSchema(ma.Schema):
    id = ma.fields.Integer()
    title = ma.fields.String()
    scope = ma.fields.String(metadata={"enum": ["global", "private"]})
    status = ma.fields.String(metadata={"enum": ["queued", "indexing", "ready", "failed"]})
    chunk_count = ma.fields.Integer()
    error = ma.fields.String(allow_none=True)
    source_name = ma.fields.String(allow_none=True, metadata={"description": "the uploaded file's name"})
    created_at = UtcDateTime()


class DocumentAccepted(ma.Schema):
    document = ma.fields.Nested(DocumentSchema)
    task_id = ma.fields.String()


DocumentPage = page_of(DocumentSchema)


class TextDocumentRequest(ma.Schema):
    title = ma.fields.String(required=True, validate=validate.Length(min=1, max=300))
    content = ma.fields.String(
        required=True, validate=[validate.Length(min=1), not_blank], metadata=NOT_BLANK
    )
    scope = ma.fields.String(load_default="private", validate=SCOPE)


class UploadForm(ma.Schema):
    title = ma.fields.String(validate=validate.Length(max=300))
    scope = ma.fields.String(load_default="private", validate=SCOPE)


class SearchRequest(ma.Schema):
    query = ma.fields.String(required=True, validate=validate.Length(min=1, max=1000))
    k = ma.fields.Integer(load_default=5, validate=validate.Range(min=1, max=20))


class SearchResult(ma.Schema):
    document_id = ma.fields.Integer()
    title = ma.fields.String()
    chunk_id = ma.fields.Integer()
    snippet = ma.fields.String()
    score = ma.fields.Float()


class SearchResponse(ma.Schema):
    results = ma.fields.List(ma.fields.Nested(SearchResult))
