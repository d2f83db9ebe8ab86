"""The one small interface every LLM backend implements."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from rag.prompting import PromptParts

TokenCallback = Callable[[str], None]


class LLMUnavailable(RuntimeError):  # noqa: N818 - reads as a state, like TimeoutError's kin
    """The backend cannot be reached or loaded (e.g. the Ollama server is down)."""


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class Completion:
    text: str
    usage: Usage
    model: str


@dataclass(frozen=True)
class GenerationSettings:
    max_tokens: int = 192
    temperature: float = 0.0
    stop: tuple[str, ...] = ()


class LLMBackend(Protocol):
    name: str  # "llamacpp" | "ollama"
    model: str
    context_size: int

    def is_loaded(self) -> bool: ...

    def generate(
        self,
        parts: PromptParts,
        settings: GenerationSettings,
        on_token: TokenCallback | None = None,
    ) -> Completion:
        """Generate an answer; `on_token` receives each piece of text as it is produced."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens `text` takes in this model's context (used to trim prompts to fit)."""
        ...
