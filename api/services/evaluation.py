"""`flask rag eval`: the shipped questions against the live knowledge base, or a BEIR benchmark."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from api.extensions.database import db
from api.models import Document
from api.services import knowledge
from rag.evaluation import (
    answer_accuracy,
    beir_index,
    beir_metrics,
    load_beir,
    load_questions,
    no_answer_detection,
    retrieval_metrics,
)
from rag.retrieval import Hit, Retriever

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
    knowledge.ensure_index_current()
    questions = load_questions(path)
    files: dict[int, str] = {}

    def file_of(hit: Hit) -> str:
        if hit.record.document_id not in files:
            document = db.session.get(Document, hit.record.document_id)
            files[hit.record.document_id] = Path(document.source_name or "").name
        return files[hit.record.document_id]

    engine = knowledge.engine()
    report: dict[str, Any] = retrieval_metrics(
        questions, lambda q, mode: knowledge.search(q, k=DEPTH, mode=mode), file_of
    )
    rrf = knowledge.retriever_with("rrf")
    report["hybrid_rrf"] = retrieval_metrics(
        questions, lambda q, mode: rrf.search(q, k=DEPTH, mode=mode), file_of, modes=("hybrid",)
    )["hybrid"]
    threshold = engine.answerer.settings.relevance_threshold
    report["no_answer"] = {
        "threshold": threshold,
        **no_answer_detection(questions, lambda q: bool(engine.answerer.relevant_hits(q))),
    }
    if with_answers:
        report["answers"] = answer_accuracy(questions, lambda q: knowledge.ask(q).text)
    report["questions"] = {"answerable": sum(bool(q.document) for q in questions), "total": len(questions)}
    return report


def evaluate_beir(folder: Path) -> dict[str, Any]:
    engine = knowledge.engine()
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
