"""Generation speed: our llama.cpp backend vs raw llama-cpp-python on the same prompts.

The workload is realistic: 20 shipped questions, each with three chunks of the
document that answers it as numbered sources, rendered by our prompt builder.
Both sides drive the same Llama object with the same tokens, greedy decoding and
the same stop sequences, so they generate the same answers; each side runs the
whole set in turn, so each gets the same prefix-cache reuse.

    python -m bench.llm_throughput
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from bench.report import print_table, write_results
from rag.chunking import Chunker
from rag.embeddings import Embedder
from rag.llm.base import GenerationSettings
from rag.llm.llamacpp import LlamaCppBackend
from rag.parsing import parse_document
from rag.prompting import STOP, PromptParts, Source, render_completion_prompt

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = 20
MAX_TOKENS = 128
RAW, OURS = "raw llama-cpp-python", "LlamaCppBackend.generate"


def workload() -> list[PromptParts]:
    chunker = Chunker(Embedder().tokenizer, 200, 32)
    lines = (ROOT / "docs_corpus/eval/questions.jsonl").read_text().splitlines()
    questions = [q for q in map(json.loads, lines) if q["document"]][:QUESTIONS]
    parts = []
    for q in questions:
        path = ROOT / "docs_corpus" / q["document"]
        parsed = parse_document(path.read_bytes(), path.name)
        chunks = chunker.chunk(parsed.text, parsed.title)[:3]
        sources = [Source(n, parsed.title, c.text) for n, c in enumerate(chunks, 1)]
        parts.append(PromptParts(question=q["question"], sources=sources))
    return parts


def main() -> None:
    prompts = workload()
    backend = LlamaCppBackend(threads=2)
    backend.load()
    raw = backend._llm  # the very same Llama object, driven directly
    settings = GenerationSettings(max_tokens=MAX_TOKENS, temperature=0.0, stop=tuple(STOP))

    def ours(parts: PromptParts) -> int:
        return backend.generate(parts, settings, on_token=lambda _piece: None).usage.completion_tokens

    def baseline(parts: PromptParts) -> int:
        tokens = raw.tokenize(render_completion_prompt(parts).encode(), add_bos=True, special=False)
        stream = raw.create_completion(tokens, max_tokens=MAX_TOKENS, temperature=0.0, stop=STOP, stream=True)
        for _ in stream:
            pass
        return raw.n_tokens - len(tokens) + 1  # sampled tokens, as our backend counts them

    figures, rows = {}, []
    for name, run in ((RAW, baseline), (OURS, ours)):
        run(prompts[0])  # warm-up: page the weights in
        started = time.perf_counter()
        tokens = sum(run(parts) for parts in prompts)
        seconds = time.perf_counter() - started
        rate = round(tokens / seconds, 1)
        figures[name] = {"tokens": tokens, "seconds": round(seconds, 3), "tokens_per_s": rate}
        rows.append([name, tokens, round(seconds, 2), rate])
    ratio = figures[OURS]["tokens_per_s"] / figures[RAW]["tokens_per_s"]
    rows.append(["ratio (ours / raw)", "", "", round(ratio, 3)])
    print_table(
        f"Generation, Gemma 3 270M Q4_K_M, 2 threads, {len(prompts)} prompts (prompt evaluation included)",
        ["path", "generated tokens", "seconds", "tokens/s"],
        rows,
    )
    write_results("llm_throughput", {"prompts": len(prompts), **figures, "ratio": round(ratio, 3)})


if __name__ == "__main__":
    main()
