"""MiniLM on three runtimes: torch (what we ship), ONNX Runtime fp32, ONNX Runtime dynamic int8.

The ONNX models are exported offline from the packaged weights. sentence-transformers'
own ONNX backend needs optimum-onnx, whose releases pin transformers < 4.58, which
sentence-transformers 6 cannot use; so the export and the pooling are done here by
hand (torch.onnx + onnxruntime.quantization), which is what that backend does.

Adoption rule (issue): ONNX replaces torch only if it encodes >= 1.5x faster AND
SciFact nDCG@10 drops by <= 0.005. `--scifact` also runs the SciFact check.

    python -m bench.embedding_runtimes [--scifact ../shared/eval/scifact]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime
import torch
from onnxruntime.quantization import QuantType, quantize_dynamic

from bench.report import latencies_ms, percentiles, print_table, write_results
from rag.chunking import Chunker
from rag.embeddings import Embedder
from rag.evaluation import BeirDataset, load_beir, ndcg_at
from rag.parsing import parse_document

ROOT = Path(__file__).resolve().parent.parent


class OnnxEncoder:
    """Tokenise, run the exported transformer, mean-pool, normalise: the sentence-transformers recipe."""

    def __init__(self, path: Path, tokenizer, threads: int = 2, max_tokens: int = 256) -> None:
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        out = []
        for start in range(0, len(texts), batch_size):
            batch = self.tokenizer(
                texts[start : start + batch_size],
                padding=True,
                truncation=True,
                max_length=self.max_tokens,
                return_tensors="np",
            )
            inputs = {k: batch[k].astype(np.int64) for k in ("input_ids", "attention_mask", "token_type_ids")}
            hidden = self.session.run(None, inputs)[0]
            mask = inputs["attention_mask"][..., None].astype(np.float32)
            pooled = (hidden * mask).sum(1) / np.clip(mask.sum(1), 1e-9, None)
            out.append(pooled / np.linalg.norm(pooled, axis=1, keepdims=True))
        return np.vstack(out).astype(np.float32)


class _KeywordInputs(torch.nn.Module):
    """The transformer called with keywords: its positional signature varies between releases."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, token_type_ids):
        return self.model(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).last_hidden_state


def export(embedder: Embedder, folder: Path) -> tuple[Path, Path]:
    transformer = _KeywordInputs(embedder.model[0].auto_model.eval())
    sample = embedder.tokenizer(["an example sentence"], return_tensors="pt")
    fp32 = folder / "model.onnx"
    with torch.no_grad():
        torch.onnx.export(
            transformer,
            (sample["input_ids"], sample["attention_mask"], sample["token_type_ids"]),
            str(fp32),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["last_hidden_state"],
            dynamic_axes={
                name: {0: "batch", 1: "tokens"}
                for name in ("input_ids", "attention_mask", "token_type_ids", "last_hidden_state")
            },
            opset_version=17,
            dynamo=False,
        )
    int8 = folder / "model_int8.onnx"
    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
    return fp32, int8


def corpus_texts(embedder: Embedder, limit: int) -> list[str]:
    chunker = Chunker(embedder.tokenizer, 200, 32)
    texts: list[str] = []
    for path in sorted((ROOT / "docs_corpus").glob("*.md")):
        parsed = parse_document(path.read_bytes(), path.name)
        texts += [c.embedding_text for c in chunker.chunk(parsed.text, parsed.title)]
    return texts[:limit]


def scifact_dense_ndcg(dataset: BeirDataset, encode) -> float:
    passages = [f"{t} {x}".strip() for t, x in zip(dataset.titles, dataset.texts, strict=True)]
    docs = encode(passages)
    ids = list(dataset.queries)
    queries = encode([dataset.queries[i] for i in ids])
    scores = queries @ docs.T
    total = 0.0
    for row, query_id in enumerate(ids):
        top = np.argsort(-scores[row])[:10]
        total += ndcg_at([dataset.doc_ids[i] for i in top], dataset.qrels[query_id], 10)
    return total / len(ids)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=300)
    parser.add_argument("--scifact", type=Path, help="BEIR SciFact folder, for the nDCG@10 check")
    args = parser.parse_args()

    torch.set_num_threads(2)
    embedder = Embedder(threads=2)
    texts = corpus_texts(embedder, args.chunks)
    queries = [t.split("\n", 1)[-1][:120] for t in texts[:100]]
    with tempfile.TemporaryDirectory() as folder:
        fp32, int8 = export(embedder, Path(folder))
        runtimes = {
            "torch (sentence-transformers)": embedder.encode,
            "onnxruntime fp32": OnnxEncoder(fp32, embedder.tokenizer).encode,
            "onnxruntime int8 (dynamic)": OnnxEncoder(int8, embedder.tokenizer).encode,
        }
        reference = embedder.encode(texts)
        figures, rows = {}, []
        dataset = load_beir(args.scifact) if args.scifact else None
        for name, encode in runtimes.items():
            encode(texts[:16])  # warm-up
            started = time.perf_counter()
            vectors = encode(texts)
            per_s = len(texts) / (time.perf_counter() - started)
            single = [x for q in queries for x in latencies_ms(lambda q=q, run=encode: run([q]), 1)]
            query_ms = percentiles(single)["p50"]
            cosine = float(np.mean(np.sum(vectors * reference, axis=1)))
            ndcg = round(scifact_dense_ndcg(dataset, encode), 4) if dataset else None
            figures[name] = {
                "chunks_per_s": round(per_s, 2),
                "query_p50_ms": query_ms,
                "mean_cosine_to_torch": round(cosine, 4),
                "scifact_dense_ndcg@10": ndcg,
            }
            rows.append(
                [name, round(per_s, 1), query_ms, round(cosine, 4), ndcg if ndcg is not None else "-"]
            )
    base = figures["torch (sentence-transformers)"]
    for f in figures.values():
        f["speedup"] = round(f["chunks_per_s"] / base["chunks_per_s"], 2)
        f["adopt"] = bool(
            f["speedup"] >= 1.5
            and (
                f["scifact_dense_ndcg@10"] is not None
                and base["scifact_dense_ndcg@10"] - f["scifact_dense_ndcg@10"] <= 0.005
            )
        )
    print_table(
        f"MiniLM encode, {len(texts)} chunks of up to 200 tokens, 2 threads",
        ["runtime", "chunks/s", "query p50 ms", "cosine vs torch", "SciFact nDCG@10"],
        rows,
    )
    print("\nspeed-up vs torch: " + ", ".join(f"{n}: {f['speedup']}x" for n, f in figures.items()))
    print(
        "adopted: "
        + (
            ", ".join(n for n, f in figures.items() if f["adopt"] and n != next(iter(figures)))
            or "none (torch stays)"
        )
    )
    write_results("embedding_runtimes", {"chunks": len(texts), **figures})


if __name__ == "__main__":
    main()
