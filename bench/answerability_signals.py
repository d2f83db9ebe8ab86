"""How well could a further signal tell SQuAD 2.0's unanswerable questions from answerable ones?

    python -m bench.answerability_signals ../shared/eval/squad/dev.json:SQUAD_ENV

Among the questions of the fit half that the answerability rules (`rag.evidence.judge`) let
through, each candidate signal is scored by its ROC AUC: the chance that a random unanswerable
question scores higher ("more likely unanswerable") than a random answerable one. 0.5 is a coin;
reaching the goal (half of the unanswerable abstained while nearly every answerable question keeps
its answer) needs a signal far above 0.5. The baseline in the same run is the signal the rules
already use, the best sentence's share of the question's weighted words.
"""

from __future__ import annotations

import pickle
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.answer_tuning import Case, case_signals, collect
from bench.report import print_table, write_results
from rag.answering import AnswerSettings, on_topic
from rag.evaluation import ANSWERABLE, UNANSWERABLE
from rag.evidence import (
    AnswerabilitySettings,
    Evidence,
    EvidenceSettings,
    chunk_sentences,
    decide,
    idf_weights,
    weighted_share,
)
from rag.text import content_stems


def _coverage(case: Case, ranked: list[Evidence], stems_of: Callable[[Evidence], set[str]]) -> float:
    return weighted_share(idf_weights(case.query, case.frequencies), stems_of(ranked[0]))


def _window(e: Evidence) -> set[str]:
    sentences = chunk_sentences(e.hit)
    return set(content_stems(" ".join(sentences[max(0, e.position - 1) : e.position + 2])))


def _missing_rarest(case: Case, ranked: list[Evidence]) -> float:
    """The IDF of the rarest question word the best sentence's chunk lacks (0: it has them all)."""
    weights = idf_weights(case.query, case.frequencies)
    chunk = set(content_stems(f"{ranked[0].hit.record.heading_path} {ranked[0].hit.record.text}"))
    return max((w for s, w in weights.items() if s not in chunk), default=0.0)


# Each: higher means "more likely unanswerable".
SIGNALS: dict[str, Callable[[Case, list[Evidence]], float]] = {
    "best sentence's weighted word share, lower (the rules' own)": lambda c, r: -r[0].overlap,
    "best sentence +-1's weighted word share, lower": lambda c, r: -_coverage(c, r, _window),
    "best chunk's weighted word share, lower": lambda c, r: (
        -_coverage(c, r, lambda e: set(content_stems(e.hit.record.text)))
    ),
    "rarest question word missing from the chunk (IDF)": _missing_rarest,
    "best chunk's cosine, lower": lambda c, r: -c.hits[0].similarity,
    "best sentence's cosine, lower": lambda c, r: -r[0].cosine,
    "score gap between the two best sentences, lower": lambda c, r: (
        -(r[0].score - r[1].score) if len(r) > 1 else -1.0
    ),
}


def roc_auc(positives: list[float], negatives: list[float]) -> float:
    pos, neg = np.array(positives)[:, None], np.array(negatives)[None, :]
    return float(((pos > neg).sum() + 0.5 * (pos == neg).sum()) / (pos.size * neg.size))


def main(argument: str) -> None:
    qa_file, env_file = argument.split(":")
    cache = Path(env_file).with_suffix(f".{Path(qa_file).stem}.signal-cases.pickle")
    if not cache.exists():
        cache.write_bytes(pickle.dumps(collect(Path(qa_file), Path(env_file))))
    cases = pickle.loads(cache.read_bytes())
    passed: list[tuple[Case, list[Evidence]]] = []
    for case in cases:
        ranked, found = case_signals(case, EvidenceSettings())
        near = found is not None and on_topic(case.hits, ranked, AnswerSettings())
        if near and decide(found, AnswerabilitySettings()).answerable:
            passed.append((case, ranked))
    unanswerable = [p for p in passed if p[0].item.kind == UNANSWERABLE]
    answerable = [p for p in passed if p[0].item.kind == ANSWERABLE]
    rows, figures = [], {}
    for name, signal in SIGNALS.items():
        auc = roc_auc([signal(*p) for p in unanswerable], [signal(*p) for p in answerable])
        rows.append([name, f"{auc:.3f}"])
        figures[name] = round(auc, 3)
    print_table(
        f"{Path(qa_file).name}, fit half, let through by the rules: "
        f"{len(unanswerable)} unanswerable, {len(answerable)} answerable",
        ["signal", "ROC AUC"],
        rows,
    )
    write_results(
        "answerability_signals",
        {"unanswerable": len(unanswerable), "answerable": len(answerable), "roc_auc": figures},
    )


if __name__ == "__main__":
    main(sys.argv[1])
