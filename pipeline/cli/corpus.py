"""CLI commands of the corpus area: ``ingest``, ``inspect`` and ``evaluate quotes``.

Heavy libraries (spaCy, pandas readers) are imported inside the commands; ``inspect`` reads the
SQLite store only and never imports torch or sentence-transformers.
"""
from __future__ import annotations

import json
from pathlib import Path

import typer

from pipeline.core.paths import DEFAULT_STORE

# The stages and rich are imported inside the commands: `claimsift --help` and the quick commands then start
# in a fraction of a second.

DEFAULT_QUOTES_GOLD = Path("tests/data/quotes_gold.jsonl")
# `inspect` lists this many documents unless told otherwise: a screenful, on a store of any size.
DOCUMENTS_LISTED = 20
# A text's title is its first line: cut in the listing, so that one long line does not fill the screen.
TITLE_CHARS = 80


def ingest_command(
    # Every extension of readers.SUPPORTED (tests/test_ingest.py checks it): not built from it, as importing
    # readers imports pandas, and `claimsift --help` would wait for it.
    paths: list[Path] = typer.Argument(..., help="Files or folders (read recursively): text .txt .text .md "
                                                 ".markdown, web pages .html .htm, tables .jsonl .ndjson .csv "
                                                 ".parquet (a `text` column) and .json .jsonld (a list of records "
                                                 "with `text`); fact-check tables and ClaimReview JSON too."),
    store: Path = typer.Option(DEFAULT_STORE, "--store", help="Corpus store directory."),
    no_index: bool = typer.Option(False, "--no-index", help="Do not update the evidence index afterwards."),
    max_doc_chars: int = typer.Option(200_000, "--max-doc-chars",
                                      help="Split a longer text into parts of at most this many characters, "
                                           "each cut at its last paragraph break, else at a line break, "
                                           "sentence end or space (table rows are not split)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON on stdout: each document added, "
                                                       "replaced, removed, unchanged or duplicate by its id, "
                                                       "name and title."),
    global_ids: bool = typer.Option(False, "--global-ids",
                                    help="Table ids name documents across all sources (a row with id 1 in "
                                         "t2.jsonl replaces id 1 from t1.jsonl); by default an id is scoped "
                                         "to its `source` column, else its file."),
) -> None:
    """Read documents, analyse them (sentences, entities, quotes) and store them; unchanged documents are
    skipped, changed ones replaced. Exits non-zero if anything was rejected (after ingesting the rest)."""
    from rich.console import Console
    from rich.text import Text

    from pipeline.corpus.ingest import ingest

    console = Console(stderr=True)
    with console.status("ingesting…") as status:
        def waiting() -> None:
            console.print(f"waiting for another process writing to {store} to finish…", soft_wrap=True,
                          markup=False, highlight=False)

        report = ingest(paths, store, max_doc_chars=max_doc_chars, global_ids=global_ids, on_wait=waiting,
                        progress=lambda name: status.update(f"ingesting {name}"))
    if as_json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        # Removals a replacement does not account for (a part a file no longer has, a document changed into a
        # copy of another) are counted on their own, so that the line adds up.
        removed = len(report.removed) - len(report.replaced)
        duplicates = len(report.duplicates)
        console.print(f"[bold]{store}[/]: {len(report.added)} added, {len(report.replaced)} replaced, "
                      + (f"{removed} removed, " if removed > 0 else "")
                      + f"{len(report.unchanged)} unchanged, "
                      + (f"{duplicates} duplicate{'s' if duplicates > 1 else ''}, " if duplicates else "")
                      + f"{len(report.rejected)} rejected"
                      + (f", {len(report.fact_check_files)} fact-check file(s)" if report.fact_check_files else ""),
                      soft_wrap=True)
    for rejection in report.rejected:  # one line each (soft_wrap), so a script can grep them
        console.print(Text.assemble(("rejected ", "red"), str(rejection)), highlight=False, soft_wrap=True)
    for note in report.notes:
        console.print(Text.assemble(("note ", "yellow"), note), highlight=False, soft_wrap=True)
    if not no_index and (report.added or report.replaced or report.removed):
        from pipeline.retrieval.index import update_index

        update = update_index(store, on_wait=lambda: console.print(
            f"waiting for another process building the index of {store} to finish…", soft_wrap=True,
            markup=False, highlight=False))
        console.print(f"index {update.version}: {update.total} sentences ({update.embedded} embedded, "
                      f"{update.removed} removed) in {update.seconds:.1f} s")
    if report.fact_checks_changed:
        from pipeline.factchecks.index import build_store_index

        build_store_index(store)
    if report.rejected:
        raise typer.Exit(1)


def remove_command(
    names: list[str] = typer.Argument(..., help="Document names as `claimsift inspect` lists them, or the name of "
                                                "a file or table ingested (all its parts and rows)."),
    store: Path = typer.Option(DEFAULT_STORE, "--store", help="Corpus store directory."),
    no_index: bool = typer.Option(False, "--no-index", help="Do not update the evidence index afterwards."),
    as_json: bool = typer.Option(False, "--json", help="Print the documents removed (id, name, title) as JSON."),
) -> None:
    """Remove documents from a store (a stale version, a file ingested by mistake), then update the index.
    A name the store does not hold is refused before anything is removed. The files are not touched: a
    removed document comes back if its file is ingested again (with its folder, say)."""
    from rich.console import Console

    from pipeline.corpus.store import Corpus

    console = Console(stderr=True)

    def waiting(what: str) -> None:
        console.print(f"waiting for another process {what} {store} to finish…", soft_wrap=True, markup=False,
                      highlight=False)

    removed = Corpus(store).remove(names, on_wait=lambda: waiting("writing to"))
    if as_json:
        print(json.dumps({"removed": removed}, indent=2))
    else:
        for doc in removed:
            console.print(f"removed {doc['name']}" + (f" ({doc['title']})" if doc["title"] else ""), markup=False,
                          highlight=False, soft_wrap=True)
    if not no_index:
        from pipeline.retrieval.index import current_index_dir, update_index

        if current_index_dir(store) is not None:  # a store never indexed (--no-index) is left so
            update = update_index(store, on_wait=lambda: waiting("building the index of"))
            console.print(f"index {update.version}: {update.total} sentences ({update.embedded} embedded, "
                          f"{update.removed} removed) in {update.seconds:.1f} s")


def inspect_command(
    store: Path = typer.Option(DEFAULT_STORE, "--store", help="Corpus store directory."),
    top: int = typer.Option(15, "--top", help="How many speakers to list."),
    documents: int = typer.Option(DOCUMENTS_LISTED, "--documents", min=0,
                                  help="How many documents to list (by name: name, title, date, sentences); "
                                       "0 lists none."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON on stdout (the documents listed "
                                                       "under `document_list`)."),
) -> None:
    """Summarise a store: documents, sentences, entities by label, quotes by speaker, and the first documents
    by name."""
    from pipeline.corpus.store import Corpus

    corpus = Corpus(store)
    summary = corpus.summary()
    listed = corpus.document_list(documents)
    if as_json:
        print(json.dumps(summary | {"document_list": listed}, indent=2, ensure_ascii=False))
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console()
    published = summary["published"]
    console.print(f"[bold]{summary['store']}[/]  {summary['documents']} documents, {summary['sentences']} "
                  f"sentences, {summary['entities']} entities, {summary['quotes']} quotes, "
                  f"{summary['characters']:,} characters")
    console.print(f"published {published['first'] or '?'} … {published['last'] or '?'} "
                  f"({published['undated']} undated); analysed by {summary['analyser'] or '?'}")
    if listed:
        shown = (f"the first {len(listed)} of {summary['documents']} by name; --documents N lists more"
                 if len(listed) < summary["documents"] else None)
        table = Table(title="Documents", caption=shown)
        # A name is what `remove` takes: folded onto more lines in a narrow terminal, never cut with "…".
        table.add_column("name", overflow="fold")
        for column in ("title", "published", "sentences"):
            table.add_column(column, justify="right" if column == "sentences" else "left")
        for row in listed:
            title = row["title"] if len(row["title"]) <= TITLE_CHARS else row["title"][:TITLE_CHARS - 1] + "…"
            # Text, not markup: a file name or title with [brackets] is shown as it is.
            table.add_row(Text(row["name"]), Text(title), row["published"] or "", str(row["sentences"]))
        console.print(table)
    labels = Table(title="Entities by label")
    labels.add_column("label")
    labels.add_column("count", justify="right")
    for label, n in summary["entities_by_label"].items():
        labels.add_row(label, str(n))
    speakers = Table(title="Quotes by speaker")
    speakers.add_column("speaker")
    speakers.add_column("quotes", justify="right")
    for speaker, n in list(summary["quotes_by_speaker"].items())[:top]:
        speakers.add_row(speaker, str(n))
    console.print(labels)
    console.print(speakers)


def evaluate_quotes_command(
    gold: Path = typer.Option(DEFAULT_QUOTES_GOLD, "--gold", help="Hand-checked quotes (JSONL)."),
    seeds: Path = typer.Option(Path("seeds"), "--seeds", help="Folder of the documents the gold refers to."),
    as_json: bool = typer.Option(False, "--json", help="Print plain JSON on stdout."),
    show_errors: bool = typer.Option(False, "--errors", help="List missed and spurious quotes."),
    predictions: Path = typer.Option(None, "--predictions",
                                     help="Score these quotes (JSONL: doc, speaker, content, start, end) "
                                          "from another extractor instead of claimsift's."),
    kinds: list[str] = typer.Option([], "--kind", help="Only gold (and found) quotes of this kind: direct, "
                                                       "colon, reported, according_to (repeatable)."),
) -> None:
    """Precision and recall of quote content and speaker against the hand-checked fixture."""
    from pipeline.evaluation.quotes import evaluate_quotes

    result = evaluate_quotes(gold, seeds, predictions=predictions, kinds=tuple(kinds))
    if as_json:
        print(json.dumps(result.to_dict(errors=show_errors), indent=2, ensure_ascii=False))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"Quotes vs {gold} ({result.n_gold} gold, {result.n_predicted} found)")
    for column in ("", "precision", "recall", "F1"):
        table.add_column(column, justify="right" if column else "left")
    for name, scores in (("content", result.content), ("speaker", result.speaker),
                         ("speaker (last word)", result.speaker_last_word)):
        table.add_row(name, f"{scores.precision:.3f}", f"{scores.recall:.3f}", f"{scores.f1:.3f}")
    console.print(table)
    if show_errors:
        for line in result.error_lines():
            console.print(line, markup=False, highlight=False)


def register(app: typer.Typer, train_app: typer.Typer, evaluate_app: typer.Typer) -> None:
    app.command("ingest")(ingest_command)
    app.command("inspect")(inspect_command)
    app.command("remove")(remove_command)
    evaluate_app.command("quotes")(evaluate_quotes_command)
