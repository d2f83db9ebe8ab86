"""This process's RAG engine, built from the app's settings on first use (models load once)."""

from __future__ import annotations

from pathlib import Path

from flask import current_app

from rag.answering import AnswerSettings
from rag.engine import Engine, EngineSettings

_engines: dict[EngineSettings, Engine] = {}


def engine() -> Engine:
    settings = engine_settings(current_app.config)
    if settings not in _engines:
        _engines[settings] = Engine(settings, heal_index=_heal_index)
    return _engines[settings]


def _heal_index() -> None:
    from workers.knowledge.index_sync import heal_index  # it builds on this module

    heal_index()


def engine_settings(config: dict) -> EngineSettings:
    return EngineSettings(
        index_dir=Path(config["INDEX_DIR"]),
        embedding_threads=config["EMBEDDING_THREADS"],
        chunk_tokens=config["CHUNK_TOKENS"],
        chunk_overlap=config["CHUNK_OVERLAP"],
        fusion=config["RETRIEVAL_FUSION"],
        llm_backend=config["LLM_BACKEND"],
        llm_model_path=config["LLM_MODEL_PATH"],
        llm_model=config["LLM_MODEL"],
        llm_context=config["LLM_CONTEXT"],
        llm_threads=config["LLM_THREADS"],
        ollama_host=config["OLLAMA_HOST"],
        ollama_model=config["OLLAMA_MODEL"],
        ollama_timeout=config["OLLAMA_TIMEOUT"],
        answer=AnswerSettings(
            top_k=config["RETRIEVAL_TOP_K"],
            relevance_threshold=config["RELEVANCE_THRESHOLD"],
            max_tokens=config["MAX_ANSWER_TOKENS"],
            history_turns=config["HISTORY_TURNS"],
            mode=config["ANSWER_MODE"],
        ),
    )
