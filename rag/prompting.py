"""Prompts for grounded answers: numbered sources, recent turns, the question.

Two renderings of the same parts: a plain completion prompt with a worked
example for base models (the embedded Gemma 3 270M has no chat template), and
chat messages for instruction-tuned models behind Ollama.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

INSTRUCTIONS = (
    "Answer the question using only the numbered sources. "
    "Cite the sources you use like [1]. Be brief and exact."
)
NO_SOURCES_INSTRUCTIONS = (
    "The knowledge base has nothing on this question. Say so in one sentence, "
    "then offer brief general help if you can."
)
NO_ANSWER_NOTICE = "The knowledge base has no information on this."
# On topic, but the evidence lacks what was asked (a price, a date, a product never mentioned).
NOT_IN_DOCUMENTS_NOTICE = "The documents don't say."

# A fixed worked example: it teaches the base model the format and citation style,
# and as an unchanging prompt prefix its KV cache is reused across requests.
EXAMPLE = (
    "Sources:\n"
    "[1] Gift cards never expire and cannot be exchanged for cash.\n"
    "[2] Orders ship within 2 business days. Express delivery costs $12.\n"
    "Question: How much do I pay for express delivery?\n"
    "Answer: Express delivery costs $12 [2].\n"
)
# "\n[" stops the base model from inventing a further numbered source after its answer.
STOP = ["\nQuestion:", "\nSources:", "\n[", "\n\n\n", "<end_of_turn>"]
MARKUP = re.compile(r"\*\*|__|`")


@dataclass(frozen=True)
class Source:
    n: int
    title: str
    text: str


@dataclass(frozen=True)
class Turn:
    role: str  # "user" | "assistant"
    content: str


@dataclass(frozen=True)
class PromptParts:
    question: str
    sources: list[Source] = field(default_factory=list)
    history: list[Turn] = field(default_factory=list)

    @property
    def grounded(self) -> bool:
        return bool(self.sources)


def render_sources(sources: list[Source]) -> str:
    # Emphasis markers cost tokens and distract a small model from the words themselves.
    return "\n".join(f"[{s.n}] ({s.title}) {MARKUP.sub('', s.text)}" for s in sources)


def render_history(history: list[Turn]) -> str:
    return "\n".join(f"{'User' if t.role == 'user' else 'Assistant'}: {t.content}" for t in history)


def render_completion_prompt(parts: PromptParts) -> str:
    """A plain completion prompt for base models: example first, so the prefix is always the same."""
    lines = [INSTRUCTIONS, "", EXAMPLE]
    if parts.history:
        lines += ["Earlier conversation:", render_history(parts.history), ""]
    if parts.grounded:
        lines += ["Sources:", render_sources(parts.sources)]
    else:
        lines += ["Sources:", "(none: " + NO_ANSWER_NOTICE + ")"]
    lines += [f"Question: {parts.question}", "Answer:"]
    return "\n".join(lines)


def render_chat_messages(parts: PromptParts) -> list[dict[str, str]]:
    """Chat messages for instruction-tuned models (their own chat template applies)."""
    system = INSTRUCTIONS if parts.grounded else NO_SOURCES_INSTRUCTIONS
    messages = [{"role": "system", "content": system}]
    messages += [{"role": t.role, "content": t.content} for t in parts.history]
    question = parts.question
    if parts.grounded:
        question = f"Sources:\n{render_sources(parts.sources)}\n\nQuestion: {parts.question}"
    messages.append({"role": "user", "content": question})
    return messages
