"""Remote backend: an instruction-tuned model served by Ollama, driven through its chat API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import httpx
import ollama

from rag import prompting
from rag.llm.base import Completion, GenerationSettings, LLMUnavailable, TokenCallback, Usage

T = TypeVar("T")


class OllamaBackend:
    name = "ollama"

    def __init__(self, host: str, model: str, timeout: float = 120.0, context_size: int = 8192) -> None:
        self.host = host
        self.model = model
        self.timeout = timeout
        self.context_size = context_size
        self._client = ollama.Client(host=host, timeout=timeout)

    def is_loaded(self) -> bool:
        """Whether the server has the model in memory now (it loads it on demand otherwise)."""
        try:
            running = self._client.ps().models
        except (ollama.ResponseError, ConnectionError, httpx.HTTPError):
            return False
        wanted = _with_tag(self.model)
        return any(wanted in (_with_tag(m.model or ""), _with_tag(m.name or "")) for m in running)

    def count_tokens(self, text: str) -> int:
        # An estimate (~4 characters a token for English): the ollama client has no tokenize
        # endpoint, and the model's tokenizer lives on the server.
        return len(text) // 4 + 1

    def generate(
        self,
        parts: prompting.PromptParts,
        settings: GenerationSettings,
        on_token: TokenCallback | None = None,
    ) -> Completion:
        messages = prompting.render_chat_messages(parts)
        options: dict[str, Any] = {
            "num_predict": settings.max_tokens,
            "temperature": settings.temperature,
            # Ollama silently drops the start of a prompt longer than its default context (the
            # system instructions first), so it gets the size the caller trimmed the prompt to.
            "num_ctx": self.context_size,
        }
        if settings.stop:
            # Only when set: an explicit list replaces the stop words from the model's Modelfile.
            options["stop"] = list(settings.stop)

        pieces: list[str] = []
        final: ollama.ChatResponse | None = None
        stream = self._call(
            lambda: self._client.chat(model=self.model, messages=messages, stream=True, options=options)
        )
        try:
            while True:
                chunk = self._call(lambda: next(stream, None))
                if chunk is None:
                    break
                piece = chunk.message.content or ""
                if piece:
                    pieces.append(piece)
                    # Outside `_call`: a callback's own errors (e.g. BrokenPipeError from a client
                    # that went away) must not be reported as Ollama being unavailable.
                    if on_token is not None:
                        on_token(piece)
                if chunk.done:
                    final = chunk
        finally:
            stream.close()

        text = "".join(pieces)
        if final is None:
            raise LLMUnavailable(
                f"Ollama at {self.host} ended the stream for {self.model} before it was done"
            )
        prompt_tokens = final.prompt_eval_count
        if prompt_tokens is None:
            # Ollama leaves the count out when the whole prompt came from its cache.
            prompt_tokens = sum(self.count_tokens(m["content"]) for m in messages)
        return Completion(
            text=text,
            usage=Usage(prompt_tokens=prompt_tokens, completion_tokens=final.eval_count or 0),
            model=final.model or self.model,
        )

    def _call(self, fn: Callable[[], T]) -> T:
        """Run one client step, turning transport and server failures into LLMUnavailable."""
        try:
            return fn()
        except ollama.ResponseError as exc:
            if exc.status_code == 404:
                raise LLMUnavailable(
                    f"Ollama at {self.host} has no model {self.model!r} (run `ollama pull {self.model}`): "
                    f"{exc.error}"
                ) from exc
            # -1: an error reported inside the stream (e.g. the runner crashed or ran out of memory).
            if exc.status_code == -1 or exc.status_code >= 500:
                raise LLMUnavailable(
                    f"Ollama at {self.host} failed to run {self.model}: {exc.error}"
                ) from exc
            raise
        except httpx.TimeoutException as exc:
            raise LLMUnavailable(
                f"Ollama at {self.host} timed out after {self.timeout:g}s running {self.model}: {exc!r}"
            ) from exc
        except (ConnectionError, httpx.HTTPError) as exc:
            # The streaming path lets httpx.ConnectError through; the others raise ConnectionError.
            raise LLMUnavailable(f"Ollama at {self.host} is unreachable (model {self.model}): {exc}") from exc


def _with_tag(name: str) -> str:
    # Ollama reports "llama3.2:latest" for a model requested as "llama3.2".
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"
