from __future__ import annotations

import marshmallow as ma

# How the spec says `not_blank` (a validator's message is clearer than "does not match the pattern").
NOT_BLANK = {"pattern": r"\S"}


def not_blank(value: str) -> None:
    if not value.strip():
        raise ma.ValidationError("Must not be blank.")


class ErrorBody(ma.Schema):
    code = ma.fields.String(required=True, metadata={"example": "validation_error"})
    message = ma.fields.String(required=True)
    details = ma.fields.Dict(metadata={"description": "field -> list of messages, or context"})


class ErrorEnvelope(ma.Schema):
    error = ma.fields.Nested(ErrorBody, required=True)


class UtcDateTime(ma.fields.DateTime):
    """ISO 8601 with an explicit +00:00 offset, as API.md promises."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(format="iso", **kwargs)


def page_of(item: type[ma.Schema]) -> type[ma.Schema]:
    """The list envelope of API.md: `{"items": [...], "next_cursor": "..." | null}`."""
    return ma.Schema.from_dict(
        {"items": ma.fields.List(ma.fields.Nested(item)), "next_cursor": ma.fields.String(allow_none=True)},
        name=f"{item.__name__.removesuffix('Schema')}Page",
    )
