"""Index files that a crash or a disk fault damaged are detected and rebuilt from PostgreSQL, once."""

from __future__ import annotations

import shutil
import threading
import time

import numpy as np
import pytest

from api import create_app
from api.extensions.database import db
from api.models import Chunk, Document
from rag.index import ChunkRecord, DamagedIndexError, IndexStore, KnowledgeIndex
from workers.knowledge.engine import engine
from workers.knowledge.index_sync import ensure_index_current, rebuild_index
from workers.knowledge.queries import search

RETURN_QUESTION = "How many days is the return window?"


def small_index(rows: int = 4) -> KnowledgeIndex:
    index = KnowledgeIndex("test/model", 8)
    vectors = np.random.default_rng(0).normal(size=(rows, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    records = [ChunkRecord(n, 1, 0, "Doc", "", f"chunk number {n}") for n in range(rows)]
    index.add(records, vectors)
    return index


def test_a_writer_that_died_before_publishing_does_not_block_later_saves(tmp_path):
    store = IndexStore(tmp_path)
    assert store.save(small_index()) == 1
    # Died after renaming its version directory into place, before writing the manifest.
    shutil.copytree(tmp_path / "v000001", tmp_path / "v000002")

    assert store.save(small_index(rows=6)) == 3
    assert len(store.load("test/model", 8)) == 6


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: (d / "manifest.json").write_text('{"version": 1, "model'),
        lambda d: (d / "manifest.json").write_text('{"version": 1}'),
        lambda d: (d / "v000001" / "vectors.faiss").write_bytes(b"\x00" * 10),
        lambda d: (d / "v000001" / "records.jsonl").unlink(),
        lambda d: (d / "v000001" / "records.jsonl").write_text('{"chunk_id": 0}\n'),
        lambda d: shutil.rmtree(d / "v000001"),
    ],
    ids=[
        "truncated-manifest",
        "manifest-missing-fields",
        "corrupt-vectors",
        "no-records",
        "bad-records",
        "version-gone",
    ],
)
def test_damaged_files_are_reported_as_damaged_not_as_whatever_broke(tmp_path, damage):
    store = IndexStore(tmp_path)
    store.save(small_index())
    damage(tmp_path)
    with pytest.raises(DamagedIndexError):
        store.load("test/model", 8)


@pytest.fixture
def own_index(tmp_path):
    """An app whose index lives in its own folder, built from the test database."""
    app = create_app({"INDEX_DIR": str(tmp_path / "index")})
    with app.app_context():
        yield app


@pytest.mark.usefixtures("knowledge_base")
@pytest.mark.parametrize("damaged", ["manifest.json", "vectors.faiss"])
def test_a_search_over_damaged_files_rebuilds_them_and_answers(own_index, tmp_path, damaged):
    assert ensure_index_current() is True
    version = engine().store.read_manifest().version
    expected = [h.record.chunk_id for h in search(RETURN_QUESTION, k=3)]
    index_dir = tmp_path / "index"
    target = index_dir / damaged if damaged == "manifest.json" else index_dir / f"v{version:06d}" / damaged
    target.write_bytes(target.read_bytes()[:20])  # truncated, as by a full disk or a crash
    engine().live_index._index = None  # as a process starting now

    assert [h.record.chunk_id for h in search(RETURN_QUESTION, k=3)] == expected
    assert engine().store.read_manifest().version > version  # rebuilt and published


@pytest.mark.usefixtures("knowledge_base")
def test_workers_starting_together_rebuild_the_index_once(database, tmp_path):
    apps = [create_app({"INDEX_DIR": str(tmp_path / "index")}) for _ in range(3)]
    rebuilt: list[bool] = []

    def start(app) -> None:
        with app.app_context():
            rebuilt.append(ensure_index_current())

    starting = [threading.Thread(target=start, args=(app,)) for app in apps]
    for thread in starting:
        thread.start()
    for thread in starting:
        thread.join()
    assert sorted(rebuilt) == [False, False, True]
    with apps[0].app_context():
        assert engine().store.read_manifest().version == 1


@pytest.mark.usefixtures("knowledge_base")
def test_a_rebuild_keeps_what_was_published_while_it_waited_for_the_lock(own_index, make_user):
    owner = make_user()
    store = engine().store
    rebuilding = threading.Thread(target=lambda: _rebuild_in(own_index))
    with store.write_lock():  # an ingest is publishing
        rebuilding.start()
        time.sleep(1.0)  # the rebuild is now waiting
        document = Document(
            owner_id=owner["id"], title="Late", scope="private", status="ready", chunk_count=1
        )
        db.session.add(document)
        db.session.flush()
        vector = engine().embedder.encode(["the late arrival is a purple otter"])[0]
        chunk = Chunk(
            document_id=document.id,
            position=0,
            text="the late arrival is a purple otter",
            token_count=9,
            embedding=vector.tobytes(),
            embedding_model=engine().embedder.model_id,
        )
        db.session.add(chunk)
        db.session.commit()
    rebuilding.join(timeout=120)
    records = store.load(engine().embedder.model_id, engine().embedder.dimension).records
    assert chunk.id in {r.chunk_id for r in records}


def _rebuild_in(app) -> None:
    with app.app_context():
        rebuild_index()
