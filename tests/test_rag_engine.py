"""The RAG engine with the real MiniLM embeddings, FAISS + BM25 and the real GGUF model."""

from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path

import pytest

from api import create_app
from api.extensions.database import db
from api.models import Chunk, Document
from rag.chunking import Chunker
from tests.conftest import CORPUS_DIR
from tests.services import spawn
from workers.cli import rag_group
from workers.knowledge.engine import engine
from workers.knowledge.index_sync import delete_document, ensure_index_current
from workers.knowledge.ingestion import ingest_files
from workers.knowledge.queries import ask, search

MODEL_LIMIT = 256  # all-MiniLM-L6-v2's word-piece limit, special tokens included


def document_file(record_or_hit) -> str:
    record = getattr(record_or_hit, "record", record_or_hit)
    return Path(db.session.get(Document, record.document_id).source_name).name


def test_no_chunk_exceeds_the_model_token_limit(app):
    with app.app_context():
        tokenizer = engine().embedder.tokenizer
    chunker = Chunker(tokenizer, max_tokens=200, overlap_tokens=32)
    nasty = (
        "# "
        + "Very long heading " * 40
        + "\n\n"
        + "word " * 900
        + "\n\n"  # one paragraph, no sentence ends
        + "Short sentence. " * 120
        + "\n\n"
        + "| a | b |\n|---|---|\n"
        + "| cell | 12345678901234567890 |\n" * 60
    )
    texts = [p.read_text() for p in sorted(CORPUS_DIR.glob("*.md"))] + [nasty]
    for text in texts:
        chunks = chunker.chunk(text)
        assert chunks
        for chunk in chunks:
            real = len(tokenizer(chunk.embedding_text)["input_ids"])  # with [CLS] and [SEP]
            assert real == chunk.token_count
            assert real <= 200 <= MODEL_LIMIT
        # Nothing is dropped: every word of the source lands in some chunk.
        joined = " ".join(c.embedding_text for c in chunks)
        missing = set(re.findall(r"\w+", text)) - set(re.findall(r"\w+", joined))
        assert not missing


def test_a_long_table_is_cut_between_rows_and_each_piece_keeps_its_header(app):
    with app.app_context():
        tokenizer = engine().embedder.tokenizer
    chunker = Chunker(tokenizer, max_tokens=120, overlap_tokens=16)
    header = "| Code | Meaning |\n|---|---|"
    rows = [f"| E{n} | The fault number {n} of the device, with a long description |" for n in range(10, 40)]
    chunks = chunker.chunk("# Error codes\n\n" + "\n".join([header, *rows]))
    assert len(chunks) > 2
    for chunk in chunks:
        assert chunk.text.startswith(header + "\n| E")
        assert chunk.token_count <= 120
    # Every row once, whole and in order.
    assert [line for c in chunks for line in c.text.splitlines()[2:]] == rows


def test_the_chunker_signature_changes_with_the_tokenizer_vocabulary(app):
    """Another embedding model counts tokens with another vocabulary, so the next ingest re-chunks."""
    with app.app_context():
        tokenizer = engine().embedder.tokenizer
    other = copy.deepcopy(tokenizer)
    other.add_tokens(["aerolume"])
    assert Chunker(tokenizer).signature == Chunker(copy.deepcopy(tokenizer)).signature
    assert Chunker(tokenizer).signature != Chunker(other).signature
    assert Chunker(tokenizer).signature != Chunker(tokenizer, max_tokens=120).signature


@pytest.mark.usefixtures("knowledge_base")
def test_a_document_cut_by_another_chunker_is_rechunked_by_the_next_ingest(app, tmp_path):
    path = write_doc(tmp_path, "kettles.md", "The Brixen kettle boils one litre in 94 seconds.")
    with app.app_context():
        [added] = ingest_files([path])
        document = db.session.get(Document, added.document_id)
        assert document.chunking == engine().chunker.signature
        assert ingest_files([path])[0].status == "unchanged"
        document.chunking = "v1:200:32"  # as cut by an older release
        db.session.commit()
        [again] = ingest_files([path])
        assert again.status == "updated" and again.document_id == added.document_id
        assert db.session.get(Document, added.document_id).chunking == engine().chunker.signature
        delete_document(db.session.get(Document, added.document_id))


@pytest.mark.usefixtures("knowledge_base")
@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("How many days do I have to send back a Sense I bought?", "returns-policy.md"),
        ("Who audits Aerolume for SOC 2?", "security.md"),
        ("What header carries the webhook signature?", "webhooks.md"),
    ],
)
def test_ingest_then_search_finds_the_right_document(app, question, expected):
    with app.app_context():
        hits = search(question, k=5)
        assert document_file(hits[0]) == expected
        assert len({document_file(h) for h in hits}) >= 1


def write_doc(folder: Path, name: str, body: str) -> Path:
    path = folder / name
    path.write_text(f"# {name.removesuffix('.md').title()}\n\n{body}\n")
    return path


@pytest.mark.usefixtures("knowledge_base")
def test_delete_removes_a_document_from_both_indexes(app, tmp_path):
    phrase = "The quokka mascot of the zebulon team is named Wobblesworth."
    path = write_doc(tmp_path, "mascots.md", phrase)
    question = "What is the name of the zebulon team's quokka mascot?"
    with app.app_context():
        [outcome] = ingest_files([path])
        for mode in ("dense", "bm25", "hybrid"):
            assert search(question, k=3, mode=mode)[0].record.document_id == outcome.document_id
        delete_document(db.session.get(Document, outcome.document_id))
        for mode in ("dense", "bm25", "hybrid"):
            assert outcome.document_id not in {h.record.document_id for h in search(question, 20, mode=mode)}
        assert (
            db.session.scalar(
                db.select(db.func.count(Chunk.id)).where(Chunk.document_id == outcome.document_id)
            )
            == 0
        )


@pytest.mark.usefixtures("knowledge_base")
def test_another_process_publishes_and_this_one_sees_it_without_restart(app, tmp_path):
    path = write_doc(
        tmp_path, "lighthouse.md", "The Vindrok lighthouse keeper's cat is called Marzipan Bellweather."
    )
    question = "What is the Vindrok lighthouse keeper's cat called?"
    with app.app_context():
        before = engine().live_index().version
        assert "Marzipan" not in " ".join(h.record.text for h in search(question, k=3))

        ingest = spawn(f"flask --app wsgi rag ingest {path}", tmp_path / "ingest.log", dict(os.environ))
        assert ingest.wait(timeout=300) == 0, (tmp_path / "ingest.log").read_text()

        hits = search(question, k=3)
        assert engine().live_index().version > before
        assert "Marzipan Bellweather" in hits[0].record.text
        delete_document(db.session.get(Document, hits[0].record.document_id))


@pytest.mark.usefixtures("knowledge_base")
def test_an_index_built_by_another_model_is_rebuilt(app, tmp_path):
    index_dir = tmp_path / "index"
    with app.app_context():
        live = engine().store
        manifest = live.read_manifest()
        # This directory's index claims another embedding model...
        (index_dir / f"v{manifest.version:06d}").mkdir(parents=True)
        (index_dir / "manifest.json").write_text(json.dumps({**manifest.__dict__, "model_id": "other/model"}))
        # ...and one chunk in the database was embedded by it too.
        stale = db.session.scalar(db.select(Chunk).order_by(Chunk.id).limit(1))
        stale.embedding, stale.embedding_model = None, "other/model"
        db.session.commit()
        stale_id, stale_text = stale.id, stale.text

    app2 = create_app({"INDEX_DIR": str(index_dir)})
    with app2.app_context():
        assert ensure_index_current() is True
        rebuilt = engine().store.read_manifest()
        assert rebuilt.model_id == engine().embedder.model_id
        assert rebuilt.count == db.session.scalar(db.select(db.func.count(Chunk.id)))
        chunk = db.session.get(Chunk, stale_id)
        assert chunk.embedding_model == rebuilt.model_id and chunk.embedding is not None
        assert any(h.record.chunk_id == stale_id for h in search(stale_text, k=5, mode="dense"))
        assert ensure_index_current() is False  # nothing to do the second time


@pytest.mark.usefixtures("knowledge_base")
@pytest.mark.parametrize(
    ("question", "expected_file"),
    [
        (
            "How many days is the standard return window for devices bought from the Aerolume store?",
            "returns-policy.md",
        ),
        ("Which firm performs Aerolume's SOC 2 Type II audit?", "security.md"),
    ],
)
def test_grounded_answers_cite_only_returned_sources(app, question, expected_file):
    with app.app_context():
        streamed: list[str] = []
        answer = ask(question, on_token=streamed.append)
        assert answer.grounded
        assert answer.text
        assert "".join(streamed) == answer.text  # what a streaming client saw is what is stored
        numbers = {s.n for s in answer.sources}
        cited = {
            int(n) for group in re.findall(r"\[(\d+(?:,\s*\d+)*)\]", answer.text) for n in group.split(",")
        }
        assert cited <= numbers
        assert expected_file in {document_file(s.hit) for s in answer.sources}


@pytest.mark.usefixtures("knowledge_base")
def test_question_outside_the_knowledge_base_gets_the_fallback(app):
    with app.app_context():
        answer = ask("Who won the football world cup in 1998?")
    assert answer.grounded is False
    assert answer.sources == []
    assert "knowledge base has no information" in answer.text


@pytest.mark.usefixtures("knowledge_base")
def test_cli_search_and_ask(runner):
    """`flask rag` comes from the flask.commands entry point, so it is invoked as its own group here."""
    search = runner.invoke(rag_group, ["search", "restocking fee for opened items", "-k", "3"])
    assert search.exit_code == 0, search.output
    assert search.output.count("score=") == 3
    ask = runner.invoke(rag_group, ["ask", "What is the capital of Australia?"])
    assert ask.exit_code == 0, ask.output
    assert "grounded: false" in ask.output
