"""The knowledge base over HTTP: upload (file or text), list, read, delete; search."""

from __future__ import annotations

from flask import request
from flask_jwt_extended import current_user, jwt_required

from api.errors import ApiError, validation_error
from api.extensions.limiter import configured_limit, current_user_key, limiter
from api.models import Document
from api.routes.base import Blueprint
from api.schemas.chat import PageQuery
from api.schemas.documents import (
    DocumentAccepted,
    DocumentPage,
    DocumentSchema,
    SearchRequest,
    SearchResponse,
    TextDocumentRequest,
    UploadForm,
)
from api.services import documents

blp = Blueprint("documents", __name__, url_prefix="/api/v1", description="Documents and search")

UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "minLength": 1,
                            "description": "a .txt, .md, .html, .pdf or .docx file; a file part whose name "
                            "has none of these extensions is read by its media type",
                        },
                        "title": {"type": "string", "maxLength": 300},
                        "scope": {"type": "string", "enum": ["private", "global"]},
                    },
                    "additionalProperties": False,
                },
                "encoding": {"file": {"contentType": ", ".join(documents.EXTENSION_BY_MEDIA_TYPE)}},
            },
            "application/json": {"schema": TextDocumentRequest},
        },
    }
}


@blp.route("/documents", methods=["POST"])
@jwt_required()
@limiter.limit(configured_limit("RATELIMIT_UPLOAD"), key_func=current_user_key)
@blp.doc(**UPLOAD_BODY)
@blp.response(202, DocumentAccepted)
@blp.alt_response(403, description="`scope: global` by a non-admin")
@blp.alt_response(413, description="payload_too_large")
@blp.alt_response(415, description="unsupported_media_type")
@blp.alt_response(422, description="empty or invalid")
@blp.alt_response(429, description="rate_limited")
def upload_document() -> dict:
    """Add a document (multipart `file`, or JSON `{title, content}`); a worker indexes it."""
    if request.mimetype == "multipart/form-data":
        form = UploadForm().load(request.form.to_dict())
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            raise validation_error("file", "Missing data for required field.")
        name, data, media_type = upload.filename, upload.read(), upload.mimetype
    else:
        form = TextDocumentRequest().load(_json_body())
        name, data, media_type = "text.md", form["content"].encode(), None
    document, task = documents.upload(current_user, name, data, form.get("title"), form["scope"], media_type)
    return {"document": document, "task_id": task.id}


@blp.route("/documents", methods=["GET"])
@jwt_required()
@blp.arguments(PageQuery, location="query")
@blp.response(200, DocumentPage)
def list_documents(query: dict) -> dict:
    """The caller's own documents and the global ones, newest first."""
    items, next_cursor = documents.list_documents(current_user, query["limit"], query["cursor"])
    return {"items": items, "next_cursor": next_cursor}


@blp.route("/documents/<int:document_id>", methods=["GET"])
@jwt_required()
@blp.response(200, DocumentSchema)
@blp.alt_response(404, description="unknown, or another user's private document")
def get_document(document_id: int) -> Document:
    """A document and its indexing state."""
    return documents.get_document(current_user, document_id)


@blp.route("/documents/<int:document_id>", methods=["DELETE"])
@jwt_required()
@blp.response(204)
@blp.alt_response(403, description="a global document, for a non-admin")
@blp.alt_response(404, description="unknown, or another user's private document")
def delete_document(document_id: int) -> None:
    """Delete a document; its chunks leave both indexes."""
    documents.delete_document(current_user, document_id)


@blp.route("/search", methods=["POST"])
@jwt_required()
@limiter.limit(configured_limit("RATELIMIT_SEARCH"), key_func=current_user_key)
@blp.arguments(SearchRequest)
@blp.response(200, SearchResponse)
@blp.alt_response(429, description="rate_limited")
@blp.alt_response(503, description="no worker answered in time, or the search failed on it")
def search(body: dict) -> dict:
    """Ranked chunks from the global documents and the caller's own."""
    return {"results": documents.search(current_user.id, body["query"], body["k"])}


def _json_body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "bad_request", "Send multipart/form-data with a file, or a JSON object.")
    return body
