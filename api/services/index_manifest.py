"""The search index's manifest, read without the index code.

Workers publish `manifest.json` under INDEX_DIR with each index version (`rag.index`,
which imports FAISS and bm25s and so stays out of the API process). Reading that one
JSON file is all the API needs for readiness and statistics.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

MANIFEST_NAME = "manifest.json"  # rag.index.IndexStore.manifest_path


def read_manifest(index_dir: str | Path) -> dict[str, Any] | None:
    """{"version", "model_id", "dimension", "count", "kind"}, or None before the first index."""
    try:
        return json.loads((Path(index_dir) / MANIFEST_NAME).read_text())
    except FileNotFoundError:
        return None


def summary(manifest: dict[str, Any] | None) -> dict[str, Any]:
    """The index's version, chunk count and embedding model (None, 0, None before the first index)."""
    if manifest is None:
        return {"version": None, "chunks": 0, "model_id": None}
    return {"version": manifest["version"], "chunks": manifest["count"], "model_id": manifest["model_id"]}
