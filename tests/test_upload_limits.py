"""Uploads that would cost a worker too much: a .docx zip bomb, a PDF of thousands of pages.
They end `failed` with a reason the uploader understands, without the worker unpacking them;
and a pool process that grew too large is replaced (Celery's worker_max_memory_per_child)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
import tracemalloc
import zipfile

import docx
import pytest

from rag.parsing import ParseLimits, UnreadableDocument, parse_document
from tests.services import PROJECT_ROOT
from tests.test_documents import upload_file, wait_until_ready
from tests.test_parsing import docx_bytes, pdf_bytes

BOMB_MEMBER_MB = 200


def zip_bomb_docx(member_mb: int = BOMB_MEMBER_MB) -> bytes:
    """A real .docx with one more member: `member_mb` MB of zeros, a few hundred KB compressed."""
    document = docx.Document()
    document.add_paragraph("A harmless looking paragraph.")
    buffer = io.BytesIO(docx_bytes(document))
    with (
        zipfile.ZipFile(buffer, "a", zipfile.ZIP_DEFLATED) as archive,
        archive.open("word/media/padding.bin", "w", force_zip64=True) as member,
    ):
        for _ in range(member_mb):
            member.write(bytes(1024 * 1024))
    return buffer.getvalue()


def test_a_docx_zip_bomb_is_refused_before_it_is_unpacked():
    bomb = zip_bomb_docx()
    assert len(bomb) < 1024 * 1024  # it fits any upload limit
    tracemalloc.start()
    started = time.perf_counter()
    with pytest.raises(
        UnreadableDocument, match=r"bomb\.docx: the document unpacks to 20\d MB, more than the 50 MB"
    ):
        parse_document(bomb, "bomb.docx")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert time.perf_counter() - started < 2
    assert peak < 20 * 1024 * 1024
    # Under the limit it is read as usual.
    roomy = ParseLimits(max_unzipped_bytes=(BOMB_MEMBER_MB + 10) * 1024 * 1024)
    assert "harmless" in parse_document(bomb, "bomb.docx", limits=roomy).text


def test_a_pdf_with_too_many_pages_is_refused():
    pdf = pdf_bytes([f"Page {n}." for n in range(6)])
    with pytest.raises(UnreadableDocument, match=r"long\.pdf: the PDF has 6 pages, more than the 5 allowed"):
        parse_document(pdf, "long.pdf", limits=ParseLimits(max_pdf_pages=5))
    assert "Page 5." in parse_document(pdf, "long.pdf", limits=ParseLimits(max_pdf_pages=6)).text


@pytest.mark.usefixtures("knowledge_base", "worker")
def test_an_uploaded_zip_bomb_ends_failed_with_a_reason(client, make_user):
    alice = make_user()
    response = upload_file(client, alice, "bomb.docx", zip_bomb_docx())
    assert response.status_code == 202
    document = wait_until_ready(client, alice, response.json["document"]["id"])
    assert document["status"] == "failed"
    assert "bomb.docx: the document unpacks to" in document["error"]
    assert "more than the 50 MB allowed" in document["error"]
    task = client.get(f"/api/v1/tasks/{response.json['task_id']}", headers=alice["headers"]).json
    assert (task["state"], task["error"]["code"]) == ("failed", "unreadable_document")


def test_global_documents_show_their_file_name_not_a_server_path(knowledge_base, client, make_user):
    alice = make_user()
    documents = client.get("/api/v1/documents?limit=100", headers=alice["headers"]).json["items"]
    names = [d["source_name"] for d in documents if d["scope"] == "global"]
    assert names and all("/" not in name and "\\" not in name for name in names), names[:3]
    assert all(str(PROJECT_ROOT) not in str(d) for d in documents)


def celery_setting(name: str, **env: str) -> str:
    code = f"import celery_config; print(celery_config.{name})"
    environment = {k: v for k, v in os.environ.items() if k != "WORKER_MAX_MEMORY_MB"} | env
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def test_worker_pool_processes_have_a_memory_ceiling(app):
    assert app.extensions["celery"].conf.worker_max_memory_per_child == 3072 * 1024  # KiB
    assert celery_setting("worker_max_memory_per_child", WORKER_MAX_MEMORY_MB="512") == str(512 * 1024)
    assert celery_setting("worker_max_memory_per_child", WORKER_MAX_MEMORY_MB="0") == "None"
