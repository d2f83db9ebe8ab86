"""The hybrid index: FAISS (dense, inner product on normalised vectors) + BM25 (bm25s).

Derived data: PostgreSQL holds the chunks and their embeddings, and the index
can always be rebuilt from there. On disk it lives under one directory:

    manifest.json        {"version", "model_id", "dimension", "count", "kind"}
    v000042/             one immutable directory per version
        vectors.faiss    the FAISS index (row i = records[i])
        records.jsonl    chunk metadata and text, in row order
        bm25/            the bm25s index

A writer builds `vNNNNNN.tmp`, renames it into place, then replaces the
manifest with an atomic rename, so a reader sees either the old version or the
new one, never half of one. Writers take a file lock. Readers compare the
manifest's version with what they hold and reload when it moved.

Files that cannot be read (a truncated manifest, a damaged version directory)
raise `DamagedIndexError`: the caller rebuilds from PostgreSQL. A version number is
never reused, so a writer that died between renaming its directory and
publishing the manifest leaves only an unpublished directory behind, which
pruning removes later.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import bm25s
import faiss
import numpy as np
import Stemmer

from rag.text import proper_names, words

GLOBAL_OWNER = 0  # owner id of chunks everyone may retrieve
HNSW_MIN_CHUNKS = 200_000  # below this, exact search is fast enough (see bench/)
VERSIONS_KEPT = 3

_stemmer = Stemmer.Stemmer("english")


@dataclass(frozen=True)
class ChunkRecord:
    chunk_id: int
    document_id: int
    owner_id: int  # GLOBAL_OWNER for global documents
    title: str
    heading_path: str
    text: str


class DamagedIndexError(Exception):
    """The published index cannot be read; it can be rebuilt from the database."""


@dataclass(frozen=True)
class Manifest:
    version: int
    model_id: str
    dimension: int
    count: int
    kind: str  # "flat" (exact) or "hnsw"


def bm25_tokens(texts: list[str]) -> bm25s.tokenization.Tokenized:
    return bm25s.tokenize(texts, stopwords="en", stemmer=_stemmer, show_progress=False)


class KnowledgeIndex:
    """An in-memory hybrid index over chunk records. Not thread-safe for writes."""

    def __init__(self, model_id: str, dimension: int, version: int = 0) -> None:
        self.model_id = model_id
        self.dimension = dimension
        self.version = version
        self.records: list[ChunkRecord] = []
        self.vectors = np.zeros((0, dimension), dtype=np.float32)
        self.owners = np.zeros(0, dtype=np.int64)
        self._faiss: faiss.Index = faiss.IndexFlatIP(dimension)
        self._bm25: bm25s.BM25 | None = None
        self._names: frozenset[str] | None = None

    def __len__(self) -> int:
        return len(self.records)

    @property
    def kind(self) -> str:
        return "hnsw" if isinstance(self._faiss, faiss.IndexHNSWFlat) else "flat"

    # ---- changes -------------------------------------------------------------------------
    def add(self, records: list[ChunkRecord], vectors: np.ndarray) -> None:
        """Add chunks (replacing any with the same chunk id)."""
        self.update(records, vectors)

    def remove_documents(self, document_ids: Iterable[int]) -> None:
        self.update(remove_documents=document_ids)

    def update(
        self,
        records: list[ChunkRecord] = (),
        vectors: np.ndarray | None = None,
        remove_documents: Iterable[int] = (),
    ) -> None:
        """Drop whole documents and add (or replace) chunks, rebuilding each index at most once."""
        vectors = np.zeros((0, self.dimension), dtype=np.float32) if vectors is None else vectors
        if len(records) != len(vectors):
            raise ValueError("one vector per record")
        if vectors.size and vectors.shape[1] != self.dimension:
            raise ValueError(f"vectors have {vectors.shape[1]} dims, the index {self.dimension}")
        doomed = set(remove_documents)
        replaced = {r.chunk_id for r in records}
        keep = np.array(
            [r.document_id not in doomed and r.chunk_id not in replaced for r in self.records], dtype=bool
        )
        removed = not keep.all()
        if removed:
            self.records = [r for r, k in zip(self.records, keep, strict=True) if k]
            self.vectors = self.vectors[keep]
            self.owners = self.owners[keep]
        if not removed and not len(records):
            return
        self.records += records
        self.vectors = np.vstack([self.vectors, vectors.astype(np.float32)])
        self.owners = np.concatenate([self.owners, [r.owner_id for r in records]]).astype(np.int64)
        if not removed and self.kind == "flat" and len(self) < HNSW_MIN_CHUNKS:
            self._faiss.add(vectors.astype(np.float32))  # incremental: no rebuild of what was there
        else:
            self._rebuild_faiss()
        # bm25s has no incremental update; re-indexing tokenised text is cheap next to embedding.
        self._rebuild_bm25()
        self._names = None

    def subject_names(self) -> frozenset[str]:
        """The names of what the knowledge base has sections about: names its chunks write with a
        capital letter (`rag.text.proper_names`; not read from headings, where title case capitalises
        every word) that a title or heading mentions ("Hub", "Taipei"). Read once per change."""
        if self._names is None:
            headings = {w.lower() for r in self.records for w in words(f"{r.title} {r.heading_path}")}
            self._names = proper_names(r.text for r in self.records) & headings
        return self._names

    def _rebuild_faiss(self) -> None:
        if len(self) >= HNSW_MIN_CHUNKS:
            index = faiss.IndexHNSWFlat(self.dimension, 32, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = 80
            index.hnsw.efSearch = 128
        else:
            index = faiss.IndexFlatIP(self.dimension)
        index.add(self.vectors)
        self._faiss = index

    def _rebuild_bm25(self) -> None:
        if not self.records:
            self._bm25 = None
            return
        tokens = bm25_tokens([_bm25_text(r) for r in self.records])
        if not any(len(ids) for ids in tokens.ids):
            # Only stop words in every chunk ("the and of"): nothing for BM25 to index, and bm25s
            # fails on an empty vocabulary. Keyword search finds nothing; dense search still works.
            self._bm25 = None
            return
        self._bm25 = bm25s.BM25()
        self._bm25.index(tokens, show_progress=False)

    # ---- search --------------------------------------------------------------------------
    def allowed_rows(self, owner_id: int | None) -> np.ndarray:
        """Rows the caller may see: global chunks and, for a user, their own."""
        allowed = self.owners == GLOBAL_OWNER
        if owner_id is not None:
            allowed |= self.owners == owner_id
        return allowed

    def dense_search(self, query: np.ndarray, k: int, allowed: np.ndarray) -> list[tuple[int, float]]:
        """Top rows by cosine similarity, among allowed rows only."""
        if not len(self) or not allowed.any():
            return []
        # The selector keeps only a raw pointer to the bitmap: the array must stay referenced
        # until the search is over, or FAISS reads freed memory (other users' rows slip through).
        bitmap = np.packbits(allowed, bitorder="little")
        selector = faiss.IDSelectorBitmap(len(self), faiss.swig_ptr(bitmap))
        params = (
            faiss.SearchParametersHNSW(sel=selector, efSearch=max(128, k))
            if self.kind == "hnsw"
            else faiss.SearchParameters(sel=selector)
        )
        scores, rows = self._faiss.search(query.reshape(1, -1).astype(np.float32), k, params=params)
        del bitmap  # only now may it go
        return [(int(r), float(s)) for r, s in zip(rows[0], scores[0], strict=True) if r >= 0]

    def bm25_search(self, query: str, k: int, allowed: np.ndarray) -> list[tuple[int, float]]:
        if self._bm25 is None or not allowed.any():
            return []
        tokens = bm25_tokens([query])
        if not tokens.vocab:
            return []
        rows, scores = self._bm25.retrieve(
            tokens, k=min(k, len(self)), weight_mask=allowed.astype(np.float32), show_progress=False
        )
        return [(int(r), float(s)) for r, s in zip(rows[0], scores[0], strict=True) if s > 0]

    def document_frequencies(self, stems: list[str]) -> tuple[dict[str, int], int]:
        """How many chunks hold each stem (BM25's own counts), and how many chunks there are."""
        if self._bm25 is None:
            return {}, len(self)
        vocabulary, indptr = self._bm25.vocab_dict, self._bm25.scores["indptr"]
        found = {stem: vocabulary[stem] for stem in stems if stem in vocabulary}
        return {stem: int(indptr[i + 1] - indptr[i]) for stem, i in found.items()}, len(self)

    # ---- persistence ---------------------------------------------------------------------
    def save_to(self, directory: Path) -> None:
        directory.mkdir(parents=True)
        faiss.write_index(self._faiss, str(directory / "vectors.faiss"))
        with open(directory / "records.jsonl", "w", encoding="utf-8") as out:
            for record in self.records:
                out.write(json.dumps(asdict(record), ensure_ascii=False) + "\n")
        if self._bm25 is not None:
            self._bm25.save(str(directory / "bm25"))

    @classmethod
    def load_from(cls, directory: Path, manifest: Manifest) -> KnowledgeIndex:
        index = cls(manifest.model_id, manifest.dimension, manifest.version)
        with open(directory / "records.jsonl", encoding="utf-8") as lines:
            index.records = [ChunkRecord(**json.loads(line)) for line in lines]
        index._faiss = faiss.read_index(str(directory / "vectors.faiss"))
        index.vectors = (
            index._faiss.reconstruct_n(0, index._faiss.ntotal) if len(index.records) else index.vectors
        )
        index.owners = np.array([r.owner_id for r in index.records], dtype=np.int64)
        if (directory / "bm25").exists():
            index._bm25 = bm25s.BM25.load(str(directory / "bm25"))
        return index


def _bm25_text(record: ChunkRecord) -> str:
    return f"{record.heading_path}\n{record.text}"


class IndexStore:
    """Versioned, atomically replaced index files under one directory."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    @property
    def manifest_path(self) -> Path:
        return self.directory / "manifest.json"

    def read_manifest(self) -> Manifest | None:
        """The published manifest; None when nothing was published yet."""
        try:
            return Manifest(**json.loads(self.manifest_path.read_text()))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError) as error:  # truncated, not JSON, fields missing
            raise DamagedIndexError(f"{self.manifest_path}: {error}") from error

    def load(self, model_id: str, dimension: int) -> KnowledgeIndex:
        """The current index, or an empty one when none exists or it was built by another model."""
        manifest = self.read_manifest()
        if manifest is None or manifest.model_id != model_id:
            return KnowledgeIndex(model_id, dimension, manifest.version if manifest else 0)
        directory = self._version_dir(manifest.version)
        try:
            index = KnowledgeIndex.load_from(directory, manifest)
        except (OSError, RuntimeError, ValueError, TypeError, KeyError) as error:  # faiss raises RuntimeError
            raise DamagedIndexError(f"{directory}: {error}") from error
        if not len(index) == index._faiss.ntotal == manifest.count:
            raise DamagedIndexError(f"{directory}: {len(index)} records, {index._faiss.ntotal} vectors")
        return index

    def save(self, index: KnowledgeIndex) -> int:
        """Write `index` as the next version and publish it; returns the new version."""
        version = max(index.version, self._latest_version()) + 1
        final = self._version_dir(version)
        staging = final.with_suffix(".tmp")
        shutil.rmtree(staging, ignore_errors=True)
        index.save_to(staging)
        os.replace(staging, final)
        manifest = Manifest(version, index.model_id, index.dimension, len(index), index.kind)
        temporary = self.manifest_path.with_suffix(".json.tmp")
        temporary.write_text(json.dumps(asdict(manifest)))
        os.replace(temporary, self.manifest_path)
        index.version = version
        self._prune(version)
        return version

    @contextlib.contextmanager
    def write_lock(self) -> Iterator[None]:
        """Serialise writers across processes on this host (and containers sharing the volume)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.directory / ".write.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _version_dir(self, version: int) -> Path:
        return self.directory / f"v{version:06d}"

    def _latest_version(self) -> int:
        """The highest version published or merely written: a number is never used twice."""
        try:
            published = self.read_manifest()
        except DamagedIndexError:
            published = None
        written = [int(p.name[1:]) for p in self.directory.glob("v[0-9]*") if p.name[1:].isdigit()]
        return max([published.version if published else 0, *written])

    def _prune(self, current: int) -> None:
        """Keep a few old versions: a reader may still be loading one."""
        for path in self.directory.glob("v[0-9]*"):
            if (
                path.is_dir()
                and not path.name.endswith(".tmp")
                and int(path.name[1:]) <= current - VERSIONS_KEPT
            ):
                shutil.rmtree(path, ignore_errors=True)
