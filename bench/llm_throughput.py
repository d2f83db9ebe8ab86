"""Tokens per second: our llama.cpp backend vs raw llama-cpp-python, same prompt, same settings.

python -m bench.llm_throughput
"""

from __future__ import annotations

import time

from bench.report import print_table, write_results
from rag.llm.base import GenerationSettings
from rag.llm.llamacpp import LlamaCppBackend
from rag.prompting import STOP, PromptParts, Source, render_completion_prompt

RUNS = 3
MAX_TOKENS = 128
PARTS = PromptParts(
    question="Describe, step by step and in detail, how to set up and calibrate an air monitor.",
    sources=[
        Source(1, "Getting Started", "Plug the monitor in, open the app, scan the QR code and join Wi-Fi."),
        Source(2, "Calibration", "Take the monitor outdoors for 20 minutes to calibrate its CO2 sensor."),
    ],
)


def main() -> None:
    backend = LlamaCppBackend(threads=2)
    backend.load()
    raw = backend._llm  # the very same Llama object, driven directly
    prompt = render_completion_prompt(PARTS)
    # Greedy decoding with the same stop sequences: both sides generate the same tokens.
    settings = GenerationSettings(max_tokens=MAX_TOKENS, temperature=0.0, stop=tuple(STOP))

    def ours() -> tuple[int, float]:
        started = time.perf_counter()
        completion = backend.generate(PARTS, settings, on_token=lambda _piece: None)
        return completion.usage.completion_tokens, time.perf_counter() - started

    def baseline() -> tuple[int, float]:
        started = time.perf_counter()
        tokens = 0
        for _ in raw(prompt, max_tokens=MAX_TOKENS, temperature=0.0, stop=STOP, stream=True):
            tokens += 1
        return tokens, time.perf_counter() - started

    ours(), baseline()  # warm-up: page in the weights, fill the prefix cache
    rows, figures = [], {}
    for name, run in (("raw llama-cpp-python", baseline), ("LlamaCppBackend.generate", ours)):
        samples = [run() for _ in range(RUNS)]
        tokens = sum(t for t, _ in samples)
        seconds = sum(s for _, s in samples)
        figures[name] = {
            "tokens": tokens,
            "seconds": round(seconds, 3),
            "tokens_per_s": round(tokens / seconds, 1),
        }
        rows.append([name, tokens, round(seconds, 2), round(tokens / seconds, 1)])
    ratio = (
        figures["LlamaCppBackend.generate"]["tokens_per_s"] / figures["raw llama-cpp-python"]["tokens_per_s"]
    )
    rows.append(["ratio (ours / raw)", "", "", round(ratio, 3)])
    print_table(
        f"Generation, Gemma 3 270M Q4_K_M, 2 threads, {RUNS} runs x {MAX_TOKENS} tokens (prompt included)",
        ["path", "tokens", "seconds", "tokens/s"],
        rows,
    )
    write_results(
        "llm_throughput", {"runs": RUNS, "max_tokens": MAX_TOKENS, **figures, "ratio": round(ratio, 3)}
    )


if __name__ == "__main__":
    main()
