"""The knowledge base as workers and the `flask rag` CLI run it: documents and chunks in
PostgreSQL, the derived hybrid index on disk, retrieval and answers.

Only worker processes and the CLI import this package. The API process never
does (tests/test_layout.py checks its import graph), so it never loads a model.
"""
