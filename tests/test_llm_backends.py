"""LLM backends: the embedded llama.cpp backend on the real packaged GGUF, and the Ollama
backend's wire contract against a local stub server."""

from __future__ import annotations

import functools
import json
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from rag.llm import GenerationSettings, LLMUnavailable, create_backend
from rag.llm.llamacpp import LlamaCppBackend, _strip_outer_whitespace
from rag.llm.ollama import OllamaBackend
from rag.prompting import INSTRUCTIONS, STOP, PromptParts, Source

RETURNS = PromptParts(
    question="How many days do I have to return a device?",
    sources=[Source(1, "Returns", "The return window for Aerolume devices is 45 days from delivery.")],
)


@functools.cache
def packaged_backend() -> LlamaCppBackend:
    # One model for the module: loading it per test would only repeat the same work.
    return LlamaCppBackend()


def teardown_module() -> None:
    # Freed here, not by Llama.__del__ at interpreter exit, when llama_cpp's globals are already gone.
    if packaged_backend.cache_info().currsize:
        packaged_backend().close()
        packaged_backend.cache_clear()


# --- llama.cpp, real model -------------------------------------------------------------


def test_llamacpp_answers_from_the_source_and_streams_the_same_text() -> None:
    backend = packaged_backend()
    assert backend.name == "llamacpp"
    assert backend.model == "gemma-3-270m-q4_k_m"

    pieces: list[str] = []
    first = backend.generate(RETURNS, GenerationSettings(max_tokens=64), on_token=pieces.append)

    assert backend.is_loaded()
    assert "45" in first.text
    assert len(pieces) > 1
    assert "".join(pieces) == first.text
    assert first.text == first.text.strip()
    assert first.model == "gemma-3-270m-q4_k_m"
    assert first.usage.prompt_tokens == backend.prompt_tokens(RETURNS) > 0
    # Every streamed piece is at least one generated token.
    assert first.usage.completion_tokens >= len(pieces)

    # Again, now reusing the KV cache of the shared prompt prefix. Not compared with the first
    # answer: replaying a cached prompt changes the float rounding, which can flip a near-tie.
    second_pieces: list[str] = []
    second = backend.generate(RETURNS, GenerationSettings(max_tokens=64), on_token=second_pieces.append)
    assert "45" in second.text
    assert "".join(second_pieces) == second.text
    assert second.usage.prompt_tokens == first.usage.prompt_tokens
    assert second.usage.completion_tokens > 0


def test_llamacpp_counts_every_generated_token() -> None:
    backend = packaged_backend()
    # No answer of this question fits in 5 tokens, so exactly max_tokens are generated.
    completion = backend.generate(RETURNS, GenerationSettings(max_tokens=5))
    assert completion.usage.completion_tokens == 5
    assert completion.text


def test_llamacpp_serialises_concurrent_requests() -> None:
    backend = packaged_backend()
    # After one call every further call starts from the same cached state, so all answers agree.
    backend.generate(RETURNS, GenerationSettings(max_tokens=32))
    expected = backend.generate(RETURNS, GenerationSettings(max_tokens=32)).text
    results: list[str] = []
    threads = [
        threading.Thread(
            target=lambda: results.append(backend.generate(RETURNS, GenerationSettings(32)).text)
        )
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert results == [expected] * 3


def test_llamacpp_rejects_a_prompt_that_does_not_fit() -> None:
    backend = packaged_backend()
    with pytest.raises(ValueError, match="exceeds the 2048-token context"):
        backend.generate(RETURNS, GenerationSettings(max_tokens=2048))
    assert backend.count_tokens("word " * 100) > 100
    # The failed request released the model.
    assert "45" in backend.generate(RETURNS, GenerationSettings(max_tokens=64)).text


def test_llamacpp_keeps_special_token_text_in_a_question_as_plain_text() -> None:
    backend = packaged_backend()
    # Parsed as special tokens, "<end_of_turn>" would be one token (and end the turn).
    assert backend.count_tokens("<end_of_turn>") > 2


def test_llamacpp_unloadable_model_is_unavailable(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.gguf"
    garbage.write_bytes(b"not a gguf file")
    for path in (tmp_path / "missing.gguf", garbage):
        backend = LlamaCppBackend(model_path=str(path))
        assert backend.model == path.stem
        with pytest.raises(LLMUnavailable, match="Cannot load GGUF model"):
            backend.load()
        assert not backend.is_loaded()


def test_answer_whitespace_is_stripped_without_breaking_the_stream() -> None:
    pieces = ["\n", " The", " window", "\n", " is", " 45", " days", ".", "\n", " "]
    out = list(_strip_outer_whitespace(iter(pieces)))
    assert "".join(out) == "The window\n is 45 days."
    assert out[0] == "The"


def test_create_backend() -> None:
    ollama_backend = create_backend("ollama", host="http://127.0.0.1:1", model="m")
    assert isinstance(ollama_backend, OllamaBackend)
    assert ollama_backend.name == "ollama"
    with pytest.raises(ValueError, match="Unknown LLM backend 'openai'"):
        create_backend("openai")


# --- Ollama, against a stub ------------------------------------------------------------


def _chunk(content: str, **final: Any) -> bytes:
    body = {
        "model": "m",
        "created_at": "2026-01-01T00:00:00Z",
        "message": {"role": "assistant", "content": content},
        "done": bool(final),
        **final,
    }
    return (json.dumps(body) + "\n").encode()


FINAL = {
    "done_reason": "stop",
    "total_duration": 1,
    "load_duration": 1,
    "prompt_eval_count": 12,
    "prompt_eval_duration": 1,
    "eval_count": 3,
    "eval_duration": 1,
}

Responder = Callable[[BaseHTTPRequestHandler, dict[str, Any]], None]


@contextmanager
def stub_ollama(respond: Responder) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A stub standing in for an Ollama server, since none can run here.

    It records each request (method, path, JSON body) and lets `respond` answer it.
    """
    requests: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else {}
            requests.append({"method": self.command, "path": self.path, "json": body})
            respond(self, body)

        def do_GET(self) -> None:
            self._handle()

        def do_POST(self) -> None:
            self._handle()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()


def _send(handler: BaseHTTPRequestHandler, status: int, content_type: str, body: bytes = b"") -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.end_headers()
    handler.wfile.write(body)
    handler.wfile.flush()


def test_ollama_streams_chat_tokens_and_reports_usage() -> None:
    first_token_seen = threading.Event()
    streamed_before_done: list[bool] = []

    def respond(handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        _send(handler, 200, "application/x-ndjson", _chunk("Hel"))
        # Only go on once the client has handed the first piece over: tokens arrive as they stream.
        streamed_before_done.append(first_token_seen.wait(timeout=10))
        for piece in ["lo", " there"]:
            handler.wfile.write(_chunk(piece))
            handler.wfile.flush()
        handler.wfile.write(_chunk("", **FINAL))

    def on_token(piece: str) -> None:
        tokens.append(piece)
        first_token_seen.set()

    tokens: list[str] = []
    with stub_ollama(respond) as (host, requests):
        backend = OllamaBackend(host=host, model="m", context_size=4096)
        settings = GenerationSettings(max_tokens=50, temperature=0.2, stop=("\n\n",))
        completion = backend.generate(RETURNS, settings, on_token=on_token)

    assert tokens == ["Hel", "lo", " there"]
    assert streamed_before_done == [True]
    assert completion.text == "Hello there"
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (12, 3)
    assert completion.model == "m"

    [request] = requests
    assert (request["method"], request["path"]) == ("POST", "/api/chat")
    sent = request["json"]
    assert sent["model"] == "m"
    assert sent["stream"] is True
    assert sent["messages"][0] == {"role": "system", "content": INSTRUCTIONS}
    user = sent["messages"][-1]
    assert user["role"] == "user"
    assert "[1] (Returns) The return window for Aerolume devices is 45 days from delivery." in user["content"]
    assert user["content"].endswith("Question: How many days do I have to return a device?")
    assert sent["options"] == {"num_predict": 50, "temperature": 0.2, "num_ctx": 4096, "stop": ["\n\n"]}
    # STOP is for the completion prompt of base models; chat models stop on their own template.
    assert not set(STOP) & set(sent["options"]["stop"])


def test_ollama_leaves_the_models_stop_words_alone_without_stops() -> None:
    def respond(handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        _send(handler, 200, "application/x-ndjson", _chunk("ok") + _chunk("", **FINAL))

    with stub_ollama(respond) as (host, requests):
        OllamaBackend(host=host, model="m").generate(RETURNS, GenerationSettings())
    assert "stop" not in requests[0]["json"]["options"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_ollama_unreachable_server_is_unavailable() -> None:
    host = f"http://127.0.0.1:{_free_port()}"
    backend = OllamaBackend(host=host, model="m", timeout=5)
    with pytest.raises(LLMUnavailable, match=f"Ollama at {host} is unreachable"):
        backend.generate(RETURNS, GenerationSettings())
    assert backend.is_loaded() is False


def test_ollama_missing_model_is_unavailable() -> None:
    def respond(handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        _send(handler, 404, "application/json", json.dumps({"error": "model 'x' not found"}).encode())

    with stub_ollama(respond) as (host, _):
        backend = OllamaBackend(host=host, model="x")
        with pytest.raises(LLMUnavailable, match=rf"Ollama at {host} has no model 'x'.*model 'x' not found"):
            backend.generate(RETURNS, GenerationSettings())


def test_ollama_error_inside_the_stream_is_unavailable() -> None:
    def respond(handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        _send(handler, 200, "application/x-ndjson", _chunk("Hel") + b'{"error":"model runner crashed"}\n')

    with stub_ollama(respond) as (host, _), pytest.raises(LLMUnavailable, match="model runner crashed"):
        OllamaBackend(host=host, model="m").generate(RETURNS, GenerationSettings())


def test_ollama_callback_errors_are_not_reported_as_unavailable() -> None:
    def respond(handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        _send(handler, 200, "application/x-ndjson", _chunk("Hel") + _chunk("", **FINAL))

    def on_token(piece: str) -> None:
        raise BrokenPipeError("the browser went away")

    with stub_ollama(respond) as (host, _), pytest.raises(BrokenPipeError):
        OllamaBackend(host=host, model="m").generate(RETURNS, GenerationSettings(), on_token=on_token)


def test_ollama_is_loaded_asks_the_server() -> None:
    def respond(handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        running = {"models": [{"name": "llama3.2:latest", "model": "llama3.2:latest"}]}
        _send(handler, 200, "application/json", json.dumps(running).encode())

    with stub_ollama(respond) as (host, requests):
        assert OllamaBackend(host=host, model="llama3.2").is_loaded() is True
        assert OllamaBackend(host=host, model="qwen2.5:0.5b").is_loaded() is False
    assert requests[0]["method"] == "GET"
    assert requests[0]["path"] == "/api/ps"
