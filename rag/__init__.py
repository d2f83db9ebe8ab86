"""The retrieval-augmented generation library: a plain library with no Flask import.

parsing -> chunking -> embeddings -> index (FAISS + BM25) -> retrieval -> prompting -> llm -> answering
"""
