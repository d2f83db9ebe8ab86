"""Flask CLI commands (`flask --app wsgi ...`).

The `rag` commands import the knowledge service inside their bodies: the API process
registers these commands too, and must not import the retrieval stack.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import sqlalchemy as sa
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext


@click.command("create-db")
@with_appcontext
def create_db_command() -> None:
    """Create the configured database if it does not exist yet (then run `flask db upgrade`)."""
    url = sa.make_url(current_app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() == "sqlite":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        return
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        exists = connection.scalar(
            sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": url.database}
        )
        if not exists:
            connection.execute(sa.text(f'CREATE DATABASE "{url.database}"'))
            click.echo(f"created database {url.database}")
    admin.dispose()


@click.group("rag", cls=AppGroup)
def rag_group() -> None:
    """The knowledge base: ingest, reindex, search, ask, eval."""


@rag_group.command("ingest")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def rag_ingest(paths: tuple[Path, ...]) -> None:
    """Load files or folders (.md .txt .html .pdf .docx) into the global knowledge base."""
    from api.services import knowledge

    knowledge.ensure_index_current()
    files = knowledge.files_under(paths)
    with click.progressbar(length=len(files), label=f"Ingesting {len(files)} files") as bar:
        outcomes = knowledge.ingest_files(files, on_file=lambda _path: bar.update(1))
    for outcome in outcomes:
        if outcome.status != "unchanged":
            detail = outcome.error or f"{outcome.chunks} chunks"
            click.echo(f"  {outcome.status:<9} {outcome.path}  ({detail})")
    counts = {
        status: sum(o.status == status for o in outcomes)
        for status in ("added", "updated", "unchanged", "failed")
    }
    click.echo(", ".join(f"{n} {status}" for status, n in counts.items()))
    if counts["failed"]:
        raise SystemExit(1)


@rag_group.command("reindex")
def rag_reindex() -> None:
    """Rebuild the vector and BM25 indexes from the database."""
    from api.services import knowledge

    click.echo(f"indexed {knowledge.rebuild_index()} chunks")


@rag_group.command("search")
@click.argument("query")
@click.option("-k", default=5, show_default=True, help="number of chunks")
@click.option("--mode", type=click.Choice(["hybrid", "dense", "bm25"]), default="hybrid", show_default=True)
def rag_search(query: str, k: int, mode: str) -> None:
    """Print the chunks ranked for QUERY, with scores."""
    from api.services import knowledge

    knowledge.ensure_index_current()
    for rank, hit in enumerate(knowledge.search(query, k=k, mode=mode), start=1):
        record = hit.record
        click.echo(f"{rank}. score={hit.score:.4f} cosine={hit.similarity:.3f}  {record.heading_path}")
        click.echo(f"   {record.text[:200]!r}")


@rag_group.command("ask")
@click.argument("question")
def rag_ask(question: str) -> None:
    """Answer QUESTION from the knowledge base, streaming the answer, then sources and timings."""
    from api.services import knowledge

    knowledge.ensure_index_current()
    knowledge.engine().warm_up()  # so the timings below are the request's, not the model loading's
    answer = knowledge.ask(question, on_token=lambda piece: click.echo(piece, nl=False))
    click.echo(f"\n\ngrounded: {str(answer.grounded).lower()}")
    for source in answer.sources:
        click.echo(f"[{source.n}] {source.hit.record.heading_path} (cosine {source.hit.similarity:.3f})")
    usage = answer.usage
    timings = ", ".join(f"{name} {value:.0f} ms" for name, value in answer.timings.items())
    click.echo(
        f"model: {answer.model}; tokens: {usage.prompt_tokens} in, {usage.completion_tokens} out; {timings}"
    )


def register_commands(app: Flask) -> None:
    app.cli.add_command(create_db_command)
    app.cli.add_command(rag_group)


@rag_group.command("eval")
@click.option(
    "--questions",
    type=click.Path(exists=True, path_type=Path),
    default=Path("docs_corpus/eval/questions.jsonl"),
    show_default=True,
)
@click.option(
    "--beir",
    "beir_folder",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="a BEIR dataset folder (e.g. ../shared/eval/scifact) instead of the shipped questions",
)
@click.option("--no-answers", is_flag=True, help="skip generating answers (retrieval metrics only)")
@click.option("--out", type=click.Path(path_type=Path), default=Path("bench/results"), show_default=True)
def rag_eval(questions: Path, beir_folder: Path | None, no_answers: bool, out: Path) -> None:
    """Retrieval (and answer) quality on the shipped questions, or on a BEIR benchmark."""
    from api.services import evaluation

    out.mkdir(parents=True, exist_ok=True)
    if beir_folder:
        report = evaluation.evaluate_beir(beir_folder)
        (out / f"{beir_folder.name}.json").write_text(json.dumps(report, indent=2) + "\n")
    else:
        report = evaluation.evaluate_questions(questions, with_answers=not no_answers)
        (out / "retrieval.json").write_text(json.dumps(report, indent=2) + "\n")
    click.echo(evaluation.format_report(report))
