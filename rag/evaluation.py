"""Retrieval and answer evaluation: the shipped questions, and BEIR-format benchmarks (SciFact).

Both run the production retriever (`Retriever.search`), not a copy of it.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.embeddings import Embedder
from rag.grounding import CITATION
from rag.index import GLOBAL_OWNER, ChunkRecord, KnowledgeIndex
from rag.retrieval import MODES, Hit, Retriever
from rag.text import normalize_answer

Search = Callable[[str, str], list[Hit]]  # (question, mode) -> ranked hits


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    document: str | None  # the file that answers it; None when the corpus does not
    answer: str | None


def load_questions(path: Path) -> list[Question]:
    """Single questions for retrieval metrics (follow-ups, which need their conversation, are left out)."""
    with open(path, encoding="utf-8") as lines:
        rows = [json.loads(line) for line in lines if line.strip()]
    return [
        Question(r["id"], r["question"], r.get("document"), r.get("answer"))
        for r in rows
        if not r.get("history")
    ]


def ranked_documents(hits: list[Hit], key: Callable[[Hit], str]) -> list[str]:
    """Document keys in first-hit order, each once."""
    seen: dict[str, None] = {}
    for hit in hits:
        seen.setdefault(key(hit), None)
    return list(seen)


def retrieval_metrics(
    questions: list[Question],
    search: Search,
    document_key: Callable[[Hit], str],
    modes: tuple[str, ...] = ("dense", "bm25", "hybrid"),
) -> dict[str, dict[str, float]]:
    """recall@1, recall@5 and MRR@10 at document level, per retrieval mode."""
    answerable = [q for q in questions if q.document]
    results: dict[str, dict[str, float]] = {}
    for mode in modes:
        recall1 = recall5 = reciprocal = 0.0
        for q in answerable:
            docs = ranked_documents(search(q.question, mode), document_key)
            recall1 += docs[:1] == [q.document]
            recall5 += q.document in docs[:5]
            if q.document in docs[:10]:
                reciprocal += 1 / (docs.index(q.document) + 1)
        n = len(answerable)
        results[mode] = {"recall@1": recall1 / n, "recall@5": recall5 / n, "mrr@10": reciprocal / n}
    return results


def no_answer_detection(questions: list[Question], is_grounded: Callable[[str], bool]) -> dict[str, float]:
    """Precision and recall of predicting "the knowledge base has nothing on this"."""
    predicted = {q.id: not is_grounded(q.question) for q in questions}
    truly = {q.id: q.document is None for q in questions}
    true_positive = sum(predicted[i] and truly[i] for i in predicted)
    return {
        "precision": true_positive / max(1, sum(predicted.values())),
        "recall": true_positive / max(1, sum(truly.values())),
        "answerable_kept": sum(not predicted[i] for i in predicted if not truly[i])
        / max(1, sum(not t for t in truly.values())),
    }


def answer_accuracy(questions: list[Question], answer: Callable[[str], str]) -> dict[str, float | list]:
    """Share of answerable questions whose generated answer contains the expected string."""
    answerable = [q for q in questions if q.document]
    misses = []
    for q in answerable:
        text = answer(q.question)
        if q.answer.lower() not in text.lower():
            misses.append({"id": q.id, "expected": q.answer, "got": text[:300]})
    return {"contains_answer": 1 - len(misses) / len(answerable), "misses": misses}


# ---- BEIR ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class BeirDataset:
    doc_ids: list[str]
    titles: list[str]
    texts: list[str]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    corpus_hash: str


def load_beir(folder: Path, split: str = "test") -> BeirDataset:
    corpus_bytes = (folder / "corpus.jsonl").read_bytes()
    docs = [json.loads(line) for line in corpus_bytes.decode().splitlines() if line.strip()]
    qrels: dict[str, dict[str, int]] = {}
    for line in (folder / f"qrels_{split}.tsv").read_text().splitlines()[1:]:
        query_id, doc_id, score = line.split("\t")
        qrels.setdefault(query_id, {})[doc_id] = int(score)
    queries = {}
    for line in (folder / "queries.jsonl").read_text().splitlines():
        if line.strip():
            q = json.loads(line)
            if q["_id"] in qrels:
                queries[q["_id"]] = q["text"]
    return BeirDataset(
        doc_ids=[d["_id"] for d in docs],
        titles=[d.get("title", "") for d in docs],
        texts=[d["text"] for d in docs],
        queries=queries,
        qrels=qrels,
        corpus_hash=hashlib.sha256(corpus_bytes).hexdigest(),
    )


def beir_index(dataset: BeirDataset, embedder: Embedder, cache_dir: Path) -> KnowledgeIndex:
    """One record per document, embedded as "title text" (the MTEB convention); vectors cached on disk.

    The title goes where a chunk's heading path goes, so BM25 sees it as it sees our headings.
    """
    passages = [f"{title} {text}".strip() for title, text in zip(dataset.titles, dataset.texts, strict=True)]
    key = hashlib.sha256(f"{dataset.corpus_hash}:{embedder.model_id}".encode()).hexdigest()[:24]
    cache = cache_dir / f"beir-{key}.npy"
    if cache.exists():
        vectors = np.load(cache)
    else:
        vectors = embedder.encode(passages, batch_size=64)
        cache_dir.mkdir(parents=True, exist_ok=True)
        np.save(cache, vectors)
    index = KnowledgeIndex(embedder.model_id, vectors.shape[1])
    records = [
        ChunkRecord(i, i, GLOBAL_OWNER, title, title, text)
        for i, (title, text) in enumerate(zip(dataset.titles, dataset.texts, strict=True))
    ]
    index.add(records, vectors)
    return index


def beir_metrics(
    dataset: BeirDataset, retriever: Retriever, modes: tuple[str, ...] = MODES
) -> dict[str, dict[str, float]]:
    """nDCG@10 and recall@100 per retrieval mode."""
    results = {}
    for mode in modes:
        ndcg = recall = 0.0
        for query_id, text in dataset.queries.items():
            hits = retriever.search(text, k=100, mode=mode)
            ranking = [dataset.doc_ids[h.record.document_id] for h in hits]
            relevant = dataset.qrels[query_id]
            ndcg += ndcg_at(ranking, relevant, 10)
            recall += len(set(ranking[:100]) & set(relevant)) / len(relevant)
        n = len(dataset.queries)
        results[mode] = {"ndcg@10": ndcg / n, "recall@100": recall / n}
    return results


def ndcg_at(ranking: list[str], relevant: dict[str, int], k: int) -> float:
    dcg = sum(relevant.get(doc, 0) / math.log2(i + 2) for i, doc in enumerate(ranking[:k]))
    ideal = sorted(relevant.values(), reverse=True)[:k]
    idcg = sum(grade / math.log2(i + 2) for i, grade in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


# ---- answers -------------------------------------------------------------------------------
ANSWERABLE, UNANSWERABLE, OFF_TOPIC = "answerable", "unanswerable", "off_topic"
HALVES = ("fit", "report")


@dataclass(frozen=True)
class QaItem:
    id: str
    question: str
    answers: list[str]  # gold strings; empty when the knowledge base does not answer
    kind: str  # ANSWERABLE | UNANSWERABLE (on topic) | OFF_TOPIC
    group: str  # the document (or article paragraph) it is about: the unit the halves split by
    history: list[str]  # earlier user messages of the conversation, for follow-up questions

    @property
    def half(self) -> str:
        """ "fit" or "report": thresholds are tuned on one half and figures reported on the other."""
        return HALVES[int(hashlib.sha256(self.group.encode()).hexdigest(), 16) % 2]


def qa_items_from_questions(path: Path) -> list[QaItem]:
    """The shipped questions: {id, question, document, answer[, answers, off_topic, history]} per line."""
    items = []
    with open(path, encoding="utf-8") as lines:
        for line in filter(str.strip, lines):
            q = json.loads(line)
            answers = q.get("answers") or ([q["answer"]] if q.get("answer") else [])
            kind = OFF_TOPIC if q.get("off_topic") else ANSWERABLE if q.get("document") else UNANSWERABLE
            group = q.get("document") or q["id"]
            items.append(QaItem(q["id"], q["question"], answers, kind, group, q.get("history", [])))
    return items


@dataclass(frozen=True)
class SquadParagraph:
    title: str  # "<article> (<n>)", the document's title
    text: str


def load_squad(path: Path) -> tuple[list[SquadParagraph], list[QaItem]]:
    """SQuAD 2.0 JSON: every paragraph a document titled "<article> (<n>)", and its questions."""
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    paragraphs, items = [], []
    for article in data:
        name = article["title"].replace("_", " ")
        for n, paragraph in enumerate(article["paragraphs"], start=1):
            title = f"{name} ({n})"
            paragraphs.append(SquadParagraph(title, paragraph["context"]))
            for qa in paragraph["qas"]:
                answers = list(dict.fromkeys(a["text"] for a in qa["answers"]))
                kind = UNANSWERABLE if qa.get("is_impossible") else ANSWERABLE
                items.append(QaItem(qa["id"], qa["question"], answers, kind, title, []))
    return paragraphs, items


def token_f1(prediction: str, gold: str) -> float:
    """SQuAD's token F1 between a prediction and one gold answer (both normalised)."""
    predicted, expected = normalize_answer(prediction).split(), normalize_answer(gold).split()
    common = sum((Counter(predicted) & Counter(expected)).values())
    if not common:
        return 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)


def answer_scores(answer: str, golds: list[str]) -> dict[str, float]:
    """contains / F1 / EM of an answer against the best gold string (citation markers removed)."""
    text = CITATION.sub("", answer)
    normalised = normalize_answer(text)
    return {
        "contains": float(any(normalize_answer(g) in normalised for g in golds)),
        "f1": max((token_f1(text, g) for g in golds), default=0.0),
        "em": float(any(normalize_answer(g) == normalised for g in golds)),
    }


def answer_words(answer: str) -> int:
    return len(CITATION.sub("", answer).split())


def summarize_answers(records: list[dict]) -> dict[str, dict]:
    """Figures per half and for both halves together, answerable and unanswerable apart."""
    summary = {}
    for half in (*HALVES, "all"):
        chosen = [r for r in records if half in ("all", r["half"])]
        if chosen:
            summary[half] = _figures(chosen)
    return summary


def _figures(records: list[dict]) -> dict:
    def share(rows: list[dict], test: Callable[[dict], bool]) -> float | None:
        return round(sum(map(test, rows)) / len(rows), 3) if rows else None

    def mean(values: list[float]) -> float | None:
        return round(float(np.mean(values)), 3) if values else None

    answerable = [r for r in records if r["kind"] == ANSWERABLE]
    unanswerable = [r for r in records if r["kind"] == UNANSWERABLE]
    off_topic = [r for r in records if r["kind"] == OFF_TOPIC]
    follow_ups = [r for r in answerable if r.get("follow_up")]
    grounded = [r for r in records if r["grounded"]]
    abstained = [r for r in records if not r["grounded"]]
    latencies = [r["latency_ms"] for r in records]
    return {
        "questions": {
            "answerable": len(answerable),
            "unanswerable": len(unanswerable),
            "off_topic": len(off_topic),
        },
        "answerable": {
            "contains": share(answerable, lambda r: r["contains"]),
            "f1": mean([r["f1"] for r in answerable]),
            "em": mean([r["em"] for r in answerable]),
            "grounded": share(answerable, lambda r: r["grounded"]),
            "mean_answer_words": mean([r["words"] for r in answerable if r["grounded"]]),
            "unsupported": share([r for r in answerable if r["grounded"]], lambda r: bool(r["unsupported"])),
        },
        "unanswerable": {
            "abstained": share(unanswerable, lambda r: not r["grounded"]),
            "unsupported": share(
                [r for r in unanswerable if r["grounded"]], lambda r: bool(r["unsupported"])
            ),
        },
        "off_topic": {"abstained": share(off_topic, lambda r: not r["grounded"])},
        "follow_ups": {
            "questions": len(follow_ups),
            "contains": share(follow_ups, lambda r: r["contains"]),
            "grounded": share(follow_ups, lambda r: r["grounded"]),
        },
        "unsupported": share(grounded, lambda r: bool(r["unsupported"])),
        "abstention": {
            # Positive: "the documents do not answer this" on an unanswerable or off-topic question.
            "precision": share(abstained, lambda r: r["kind"] != ANSWERABLE),
            "recall": share(unanswerable + off_topic, lambda r: not r["grounded"]),
            "on_topic_recall": share(unanswerable, lambda r: not r["grounded"]),
        },
        "latency_ms": {
            "p50": round(float(np.percentile(latencies, 50)), 1) if latencies else None,
            "p95": round(float(np.percentile(latencies, 95)), 1) if latencies else None,
        },
    }
