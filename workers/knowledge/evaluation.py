"""`flask rag eval`: the shipped questions against the live knowledge base, or a BEIR benchmark."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from api.extensions.database import db
from api.models import Document
from rag.answering import Answer, CitedSource
from rag.evaluation import (
    QaItem,
    answer_accuracy,
    answer_scores,
    answer_words,
    beir_index,
    beir_metrics,
    load_beir,
    load_questions,
    load_squad,
    no_answer_detection,
    qa_items_from_questions,
    retrieval_metrics,
    summarize_answers,
)
from rag.grounding import unsupported_claims
from rag.llm.base import Usage
from rag.prompting import Turn
from rag.retrieval import Hit, Retriever
from workers.knowledge.engine import engine as current_engine
from workers.knowledge.index_sync import ensure_index_current
from workers.knowledge.ingestion import SourceText, ingest_sources
from workers.knowledge.queries import ask, retriever_with, search

# Published figures beside which SciFact results are printed (shared/eval/scifact/README.md).
SCIFACT_PUBLISHED = {
    "bm25": {"ndcg@10": 0.665, "recall@100": 0.908, "method": "BM25 (Anserini multifield, BEIR paper)"},
    "dense": {"ndcg@10": 0.645, "recall@100": 0.925, "method": "all-MiniLM-L6-v2 dense (MTEB)"},
    "hybrid": {"ndcg@10": 0.715, "recall@100": 0.955, "method": "BM25 + MiniLM, RRF k=60 (rag-ablations)"},
    "hybrid_rrf": {
        "ndcg@10": 0.715,
        "recall@100": 0.955,
        "method": "BM25 + MiniLM, RRF k=60 (rag-ablations)",
    },
}
DEPTH = 20
# Benchmark corpora take minutes to embed; their vectors are kept here, keyed by content and model.
EMBEDDING_CACHE = Path.home() / ".cache" / "ragbot" / "eval"


def evaluate_questions(path: Path, with_answers: bool = True) -> dict[str, Any]:
    ensure_index_current()
    questions = load_questions(path)
    files: dict[int, str] = {}

    def file_of(hit: Hit) -> str:
        if hit.record.document_id not in files:
            document = db.session.get(Document, hit.record.document_id)
            files[hit.record.document_id] = Path(document.source_name or "").name
        return files[hit.record.document_id]

    engine = current_engine()
    report: dict[str, Any] = retrieval_metrics(
        questions, lambda q, mode: search(q, k=DEPTH, mode=mode), file_of
    )
    rrf = retriever_with("rrf")
    report["hybrid_rrf"] = retrieval_metrics(
        questions, lambda q, mode: rrf.search(q, k=DEPTH, mode=mode), file_of, modes=("hybrid",)
    )["hybrid"]
    threshold = engine.answerer.settings.relevance_threshold
    report["no_answer"] = {
        "threshold": threshold,
        **no_answer_detection(questions, lambda q: bool(engine.answerer.relevant_hits(q))),
    }
    if with_answers:
        report["answers"] = answer_accuracy(questions, lambda q: ask(q).text)
    report["questions"] = {"answerable": sum(bool(q.document) for q in questions), "total": len(questions)}
    return report


def evaluate_beir(folder: Path) -> dict[str, Any]:
    engine = current_engine()
    dataset = load_beir(folder)
    index = beir_index(dataset, engine.embedder, EMBEDDING_CACHE)
    retriever = Retriever(engine.embedder, lambda: index, fusion=engine.retriever.fusion, candidates=100)
    results = beir_metrics(dataset, retriever)
    rrf = Retriever(engine.embedder, lambda: index, fusion="rrf", candidates=100)
    results["hybrid_rrf"] = beir_metrics(dataset, rrf, modes=("hybrid",))["hybrid"]
    return {
        mode: {**scores, "published": SCIFACT_PUBLISHED.get(mode)} if folder.name == "scifact" else scores
        for mode, scores in results.items()
    } | {
        "queries": len(dataset.queries),
        "documents": len(dataset.doc_ids),
        "model": engine.embedder.model_id,
    }


def format_report(report: dict[str, Any]) -> str:
    """A plain-text table of the metrics per retrieval mode, then the other figures."""
    modes = [m for m in ("dense", "bm25", "hybrid", "hybrid_rrf") if m in report]
    metrics = [k for k in report[modes[0]] if k != "published"]
    lines = [
        f"{'mode':<8}"
        + "".join(f"{m:>12}" for m in metrics)
        + ("   published" if "published" in report[modes[0]] else "")
    ]
    for mode in modes:
        row = f"{mode:<8}" + "".join(f"{report[mode][m]:>12.3f}" for m in metrics)
        published = report[mode].get("published")
        if published:
            row += "   " + "  ".join(f"{published[m]:.3f}" for m in metrics) + f"  ({published['method']})"
        lines.append(row)
    for key, value in report.items():
        if key in modes:
            continue
        if isinstance(value, dict):
            shown = {
                k: (round(v, 3) if isinstance(v, float) else v) for k, v in value.items() if k != "misses"
            }
            lines.append(f"{key}: {shown}")
        else:
            lines.append(f"{key}: {value}")
    return "\n".join(lines)


# ---- answers, end to end ----------------------------------------------------------------------
def load_qa_set(path: Path) -> list[QaItem]:
    """Questions to answer: SQuAD JSON (its paragraphs are ingested first, each its own document),
    or the shipped JSONL (the knowledge base is what was ingested)."""
    ensure_index_current()
    if path.suffix != ".json":
        return qa_items_from_questions(path)
    paragraphs, items = load_squad(path)
    sources = [
        SourceText(Path(f"squad:{path.resolve()}#{p.title}"), p.text.encode(), "paragraph.txt", p.title)
        for p in paragraphs
    ]
    ingest_sources(sources)
    return items


Answering = Callable[..., Answer]  # (question, history=...) -> Answer, as `ask`


def evaluate_answers(
    items: list[QaItem], on_item: Callable[[dict], None] | None = None, answering: Answering = ask
) -> list[dict]:
    """Each question through `ask`, the chat task's own code, over the whole knowledge base."""
    records = []
    for item in items:
        history = _conversation_before(item, answering)
        started = time.perf_counter()
        answer = answering(item.question, history=history)
        latency = (time.perf_counter() - started) * 1000
        record = {
            "id": item.id,
            "question": item.question,
            "kind": item.kind,
            "half": item.half,
            "follow_up": bool(item.history),
            "grounded": answer.grounded,
            "method": answer.method,
            "words": answer_words(answer.text),
            "unsupported": unsupported_claims(answer.text, answer.context) if answer.grounded else [],
            "latency_ms": round(latency, 1),
            **answer_scores(answer.text, item.answers),
            "answer": answer.text,
            "sources": [s.hit.record.title for s in answer.sources],
            "related": [h.record.title for h in answer.related],
            "reason": answer.reason,
            "rejected": answer.rejected,
        }
        records.append(record)
        if on_item:
            on_item(record)
    return records


def naive_baseline(question: str, history: list[Turn] | None = None) -> Answer:
    """The issue's yardstick: of the top 3 chunks retrieved for the last message alone, the single
    sentence most similar to it (MiniLM cosine), as is; it never abstains."""
    answerer = current_engine().answerer
    started = time.perf_counter()
    vector = answerer.retriever.embedder.encode_query(question)
    hits = answerer.retriever.search(question, 3, query_vector=vector)
    sentences = answerer.selector.candidates(question, hits, answerer._frequencies, vector) if hits else []
    best = max(sentences, key=lambda e: e.cosine, default=None)
    elapsed = {"retrieval_ms": round((time.perf_counter() - started) * 1000, 1)}
    return Answer(
        text=best.sentence if best else "",
        grounded=best is not None,
        sources=[CitedSource(1, best.hit)] if best else [],
        model="baseline",
        usage=Usage(0, 0),
        timings=elapsed,
        context=[f"{h.record.title}\n{h.record.heading_path}\n{h.record.text}" for h in hits],
        method="baseline",
    )


def _conversation_before(item: QaItem, answering: Answering = ask) -> list[Turn]:
    """The earlier turns of a follow-up question, answered by the same code as the final one."""
    turns: list[Turn] = []
    for message in item.history:
        reply = answering(message, history=turns)
        turns += [Turn("user", message), Turn("assistant", reply.text)]
    return turns


def answer_report(items: list[QaItem], records: list[dict], baseline: bool = False) -> dict[str, Any]:
    eng = current_engine()
    settings = eng.settings
    return {
        "settings": {
            "answer_mode": "naive baseline (best sentence by cosine)" if baseline else settings.answer.mode,
            "model": eng.llm.model if eng.generates and not baseline else "none (extractive)",
            "top_k": settings.answer.top_k,
            "relevance_threshold": settings.answer.relevance_threshold,
            "embedding_threads": settings.embedding_threads,
            "llm_threads": settings.llm_threads,
        },
        "figures": summarize_answers(records),
    }
