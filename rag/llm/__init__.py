"""LLM backends behind one interface: embedded llama.cpp or a remote Ollama server."""

from __future__ import annotations

from typing import Any

from rag.llm.base import (
    Completion,
    GenerationSettings,
    LLMBackend,
    LLMUnavailable,
    TokenCallback,
    Usage,
)

BACKENDS = ("llamacpp", "ollama")


def create_backend(name: str, **settings: Any) -> LLMBackend:
    """Build the backend called `name` ("llamacpp" or "ollama") from its constructor settings."""
    # Imported here so a process only pays for (and needs) the backend it uses:
    # llama_cpp loads a native library, ollama pulls in httpx.
    if name == "llamacpp":
        from rag.llm.llamacpp import LlamaCppBackend

        return LlamaCppBackend(**settings)
    if name == "ollama":
        from rag.llm.ollama import OllamaBackend

        return OllamaBackend(**settings)
    raise ValueError(f"Unknown LLM backend {name!r}; expected one of {', '.join(BACKENDS)}")


__all__ = [
    "BACKENDS",
    "Completion",
    "GenerationSettings",
    "LLMBackend",
    "LLMUnavailable",
    "TokenCallback",
    "Usage",
    "create_backend",
]
