from __future__ import annotations

import marshmallow as ma

from api.services.system import COUNTED


class IndexSummarySchema(ma.Schema):
    version = ma.fields.Integer(allow_none=True, metadata={"description": "null before the first index"})
    chunks = ma.fields.Integer(metadata={"description": "chunks in the index"})
    model_id = ma.fields.String(allow_none=True, metadata={"description": "embedding model that built it"})


class StatsSchema(ma.Schema):
    counts = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.Integer(),
        metadata={"description": f"rows: {', '.join(COUNTED)}", "example": dict.fromkeys(COUNTED, 0)},
    )
    queues = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.Integer(),
        metadata={"description": "messages waiting in each Celery queue", "example": {"chat": 0}},
    )
    index = ma.fields.Nested(IndexSummarySchema)


class LlmSchema(ma.Schema):
    backend = ma.fields.String(metadata={"enum": ["llamacpp", "ollama"]})
    model = ma.fields.String(metadata={"example": "gemma-3-270m-q4_k_m"})
    context_size = ma.fields.Integer(
        allow_none=True, metadata={"description": "tokens; null for Ollama until a worker has loaded it"}
    )
    loaded = ma.fields.Boolean(metadata={"description": "a worker has this model in memory"})
    answer_mode = ma.fields.String(
        metadata={
            "enum": ["extractive", "generative"],
            "description": "extractive: answers quote the documents and the model is not loaded",
        }
    )
