"""The import graph shows the process boundaries: the API never imports worker code or a model."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys

from tests.services import PROJECT_ROOT

WORKER_ONLY = {
    "workers",
    "rag",
    "torch",
    "sentence_transformers",
    "transformers",
    "faiss",
    "llama_cpp",
    "bm25s",
}


def imported_modules(path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_no_module_of_the_api_package_imports_worker_code_even_lazily():
    offenders = {
        str(path.relative_to(PROJECT_ROOT)): sorted(
            name for name in imported_modules(path) if name.split(".")[0] in WORKER_ONLY
        )
        for path in (PROJECT_ROOT / "api").rglob("*.py")
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_the_api_process_loads_no_model_library():
    """What gunicorn loads (`wsgi:app`, every blueprint, every CLI command) stays on the API side."""
    probe = (
        "import json, sys, wsgi; wsgi.app.cli.list_commands(None); "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe],
        cwd="/",
        env=dict(os.environ),
        capture_output=True,
        text=True,
        check=True,
    )
    assert set(json.loads(loaded.stdout.splitlines()[-1])) & WORKER_ONLY == set()


def test_the_apis_upload_types_are_the_parsers():
    """The API keeps its own copy of what the parsers read (it never imports them): the same list."""
    from api.services.documents import EXTENSION_BY_MEDIA_TYPE, UPLOAD_EXTENSIONS
    from rag.parsing import SUPPORTED_EXTENSIONS, media_type_for

    assert set(UPLOAD_EXTENSIONS) == set(SUPPORTED_EXTENSIONS)
    for media_type, extension in EXTENSION_BY_MEDIA_TYPE.items():
        assert media_type_for(f"upload{extension}") == media_type
