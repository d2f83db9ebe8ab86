"""`flask rag ...`: the knowledge base from the command line (ingest, reindex, search, ask, eval).

Registered through the `flask.commands` entry point (pyproject.toml), so the API
package never imports it. Every `flask` invocation loads this module, so the
retrieval stack is imported inside the commands, not here.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
from flask.cli import AppGroup


@click.group("rag", cls=AppGroup)
def rag_group() -> None:
    """The knowledge base: ingest, reindex, search, ask, eval."""


@rag_group.command("ingest")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def rag_ingest(paths: tuple[Path, ...]) -> None:
    """Load files or folders (.md .txt .html .pdf .docx) into the global knowledge base."""
    from workers.knowledge.index_sync import ensure_index_current
    from workers.knowledge.ingestion import files_under, ingest_files

    ensure_index_current()
    files = files_under(paths)
    with click.progressbar(length=len(files), label=f"Ingesting {len(files)} files") as bar:
        outcomes = ingest_files(files, on_file=lambda _path: bar.update(1))
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
    from workers.knowledge.index_sync import rebuild_index

    click.echo(f"indexed {rebuild_index()} chunks")


@rag_group.command("search")
@click.argument("query")
@click.option("-k", default=5, show_default=True, help="number of chunks")
@click.option("--mode", type=click.Choice(["hybrid", "dense", "bm25"]), default="hybrid", show_default=True)
def rag_search(query: str, k: int, mode: str) -> None:
    """Print the chunks ranked for QUERY, with scores."""
    from workers.knowledge.index_sync import ensure_index_current
    from workers.knowledge.queries import search

    ensure_index_current()
    for rank, hit in enumerate(search(query, k=k, mode=mode), start=1):
        record = hit.record
        click.echo(f"{rank}. score={hit.score:.4f} cosine={hit.similarity:.3f}  {record.heading_path}")
        click.echo(f"   {record.text[:200]!r}")


@rag_group.command("ask")
@click.argument("question")
def rag_ask(question: str) -> None:
    """Answer QUESTION from the knowledge base, streaming the answer, then sources and timings."""
    from workers.knowledge.engine import engine
    from workers.knowledge.index_sync import ensure_index_current
    from workers.knowledge.queries import ask

    ensure_index_current()
    engine().warm_up()  # so the timings below are the request's, not the model loading's
    answer = ask(question, on_token=lambda piece: click.echo(piece, nl=False))
    click.echo(f"\n\ngrounded: {str(answer.grounded).lower()}")
    for source in answer.sources:
        click.echo(f"[{source.n}] {source.hit.record.heading_path} (cosine {source.hit.similarity:.3f})")
    usage = answer.usage
    timings = ", ".join(f"{name} {value:.0f} ms" for name, value in answer.timings.items())
    click.echo(
        f"model: {answer.model}; tokens: {usage.prompt_tokens} in, {usage.completion_tokens} out; {timings}"
    )


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
@click.option(
    "--qa",
    "qa_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="answer questions end to end: the shipped JSONL, or SQuAD 2.0 JSON (its paragraphs are ingested)",
)
@click.option("--limit", type=int, help="with --qa: at most N questions of each kind, spread over the set")
@click.option(
    "--baseline", is_flag=True, help="with --qa: the naive baseline (best sentence by cosine) instead"
)
@click.option("--no-answers", is_flag=True, help="skip generating answers (retrieval metrics only)")
@click.option("--out", type=click.Path(path_type=Path), default=Path("bench/results"), show_default=True)
def rag_eval(
    questions: Path,
    beir_folder: Path | None,
    qa_file: Path | None,
    limit: int | None,
    baseline: bool,
    no_answers: bool,
    out: Path,
) -> None:
    """Retrieval (and answer) quality on the shipped questions, a BEIR benchmark, or answers (--qa)."""
    from workers.knowledge import evaluation

    out.mkdir(parents=True, exist_ok=True)
    if qa_file:
        _eval_answers(qa_file, limit, out, baseline)
        return
    if beir_folder:
        report = evaluation.evaluate_beir(beir_folder)
        (out / f"{beir_folder.name}.json").write_text(json.dumps(report, indent=2) + "\n")
    else:
        report = evaluation.evaluate_questions(questions, with_answers=not no_answers)
        (out / "retrieval.json").write_text(json.dumps(report, indent=2) + "\n")
    click.echo(evaluation.format_report(report))


def _eval_answers(qa_file: Path, limit: int | None, out: Path, baseline: bool) -> None:
    """Answers end to end; figures merged into OUT/answers.json under "<set> / <mode> / <model>"."""
    from flask import current_app

    from workers.knowledge import evaluation
    from workers.knowledge.engine import engine

    items = evaluation.load_qa_set(qa_file)
    if limit:
        items = _spread_sample(items, limit)
    engine().warm_up()
    with click.progressbar(length=len(items), label=f"Answering {len(items)} questions") as bar:
        answering = evaluation.naive_baseline if baseline else evaluation.ask
        records = evaluation.evaluate_answers(items, lambda _record: bar.update(1), answering)
    report = evaluation.answer_report(items, records, baseline)
    settings = report["settings"]
    mode = "baseline" if baseline else settings["answer_mode"]
    label = f"{qa_file.stem} / {mode} / {settings['model']}" + (f" / first {limit}" if limit else "")
    # Per-question answers: beside the figures for the project's own questions; in the instance
    # folder for a set read from outside the repository (it quotes that set's text).
    inside = qa_file.resolve().is_relative_to(Path.cwd().resolve())
    details_dir = out if inside else Path(current_app.config["INSTANCE_DIR"]) / "eval"
    details_dir.mkdir(parents=True, exist_ok=True)
    slug = "-".join(
        part.strip().replace(" ", "_").replace("(", "").replace(")", "") for part in label.split("/")
    )
    details = details_dir / f"answers-{slug}.jsonl"
    details.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    results = out / "answers.json"
    merged = json.loads(results.read_text()) if results.exists() else {}
    merged[label] = {**report, "details": str(details)}
    results.write_text(json.dumps(merged, indent=2, ensure_ascii=False) + "\n")
    click.echo(f"{label}  (per question: {details})")
    click.echo(json.dumps(report["figures"], indent=1))


def _spread_sample(items: list, limit: int) -> list:
    """At most `limit` questions of each kind, spread evenly over the set (for quick iterations)."""
    sample = []
    for kind in dict.fromkeys(i.kind for i in items):
        of_kind = [i for i in items if i.kind == kind]
        sample += of_kind[:: max(1, len(of_kind) // limit)][:limit]
    return sample
