"""Follow-up questions: retrieve with the conversation, not the last message alone.

"And for a Hub?" names no topic; the question before it does ("How long is the
return window?"). A message that reads as a follow-up (it starts with a connective,
or is short and leans on a pronoun, or names almost nothing) is retrieved together
with the earlier user turns it continues.
"""

from __future__ import annotations

import re

from rag.prompting import Turn
from rag.text import content_stems, words

CONNECTIVE = re.compile(r"^\s*(?:and|but|also|or|so|then|what about|how about|same|ok|okay|plus)\b", re.I)
PRONOUN = re.compile(r"\b(?:it|its|that|this|those|these|they|them|their|one|ones|there)\b", re.I)
SHORT = 7  # words
MAX_TURNS = 3  # earlier user turns one query may gather


def is_follow_up(message: str) -> bool:
    if CONNECTIVE.match(message):
        return True
    if len(content_stems(message)) <= 1:
        return True
    return len(words(message)) <= SHORT and bool(PRONOUN.search(message))


def retrieval_query(message: str, history: list[Turn] | None, follow_up: bool = False) -> str:
    """The message, preceded by the earlier user turns it follows up on (oldest first).
    `follow_up`: read it as one even when it does not look like one."""
    earlier = [t.content for t in history or [] if t.role == "user"]
    parts = [message]
    if follow_up and earlier:
        parts.insert(0, earlier.pop())
    while earlier and len(parts) <= MAX_TURNS and is_follow_up(parts[0]):
        parts.insert(0, earlier.pop())
    return " ".join(parts)
