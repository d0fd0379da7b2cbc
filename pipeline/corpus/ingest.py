"""Ingestion: files and tables in, analysed documents in the corpus store.

Reads ``.txt``/``.md``/``.html`` files and ``.jsonl``/``.csv``/``.parquet`` tables (a ``text``
column, optional ``id``, ``title``, ``url``, ``source``, ``published``); directories are read
recursively. Text is NFKC-normalised (the seeds hold non-breaking spaces; curly quotes survive
NFKC and are kept for quote detection) and every offset points into that normalised text.

Document ids are content hashes, so an unchanged document is recognised without analysing it
again; a document whose name (file path, or table ``id`` within its source) is known but whose
content changed replaces its old version and everything derived from it. Documents are
analysed outside any transaction and written in short ones (one per input, or per
``WRITE_GROUP_CHARS`` of new text), so two processes can ingest into one store at once: a bad
input is rejected whole (nothing of it is written), the others are still ingested, and a
crash leaves the last committed state.

A text longer than ``max_doc_chars`` is split into parts (``name#part0001``…) at paragraph
breaks, else line breaks, sentence ends or spaces; a large text file is read as a stream, so
memory stays bounded whatever the file size.

Tables with ``claim`` and ``rating`` columns, and ``.json``/``.jsonld`` files of schema.org
``ClaimReview`` objects, are fact-check records: they go to
``pipeline.corpus.factchecks``; when they change the store's records, ``IngestReport.fact_checks_changed``
says so and the caller rebuilds the matcher's index (``pipeline.factchecks.matcher.build_store_index``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from pipeline.core.paths import DEFAULT_STORE
from pipeline.core.types import Document
from pipeline.corpus.factchecks import ingest_fact_checks_report
from pipeline.corpus.nlp import Analyser
from pipeline.corpus.readers import (
    DEFAULT_MAX_DOC_CHARS,
    InputItem,
    RejectedInput,
    Rejection,
    documents_of,
    expand_inputs,
)
from pipeline.corpus.store import Corpus


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)  # ids of the new versions
    removed: list[str] = field(default_factory=list)  # ids of the versions they replaced
    rejected: list[Rejection] = field(default_factory=list)
    fact_check_files: list[str] = field(default_factory=list)
    # What a person should know that is not a rejection: skipped links, a document replaced by
    # one from another source.
    notes: list[str] = field(default_factory=list)
    # Fact-check records were added or updated: the caller rebuilds the matcher's index.
    fact_checks_changed: bool = False

    @property
    def ok(self) -> bool:
        return not self.rejected

    def to_dict(self) -> dict:
        return {"added": self.added, "unchanged": self.unchanged, "replaced": self.replaced,
                "removed": self.removed, "fact_check_files": self.fact_check_files, "notes": self.notes,
                "rejected": [{"path": r.path, "row": r.row, "reason": r.reason} for r in self.rejected]}


# ---- normalisation and metadata ----------------------------------------------------------------


# ---- reading files ------------------------------------------------------------------------------


# ---- tables ---------------------------------------------------------------------------------------


# ---- inputs ---------------------------------------------------------------------------------------


def _dispatch_fact_checks(path: Path, store_dir: Path) -> tuple[list[Rejection], bool]:
    """The rejections of one fact-check file, and whether it added or updated records."""
    fact_checks = ingest_fact_checks_report(path, store_dir)
    return list(fact_checks.rejected), bool(fact_checks.added or fact_checks.updated)


# Fresh text analysed before one write transaction: bounds both the memory an input's analysed
# documents take and how long the store's write lock is held (other writers wait for it).
WRITE_GROUP_CHARS = 1_000_000


@dataclass
class _InputOutcome:
    added: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    names: set[str] = field(default_factory=set)


def ingest(paths: list[Path], store_dir: Path = DEFAULT_STORE, analyser=None,
           max_doc_chars: int = DEFAULT_MAX_DOC_CHARS, progress: Callable[[str], None] | None = None,
           global_ids: bool = False, on_wait: Callable[[], None] | None = None) -> IngestReport:
    """Ingest files, directories and tables into the store at ``store_dir``.

    ``analyser`` is a :class:`pipeline.corpus.nlp.Analyser` (one is made when None; pass one to reuse
    a loaded pipeline). Documents are analysed outside any transaction and written in short
    ones, so another process can write to the same store meanwhile (``on_wait`` is called when
    this one has to wait for it). An input that cannot be read or analysed is rejected, with
    nothing of it written when it is under ``WRITE_GROUP_CHARS`` of new text; the others are
    ingested all the same. Table ids are scoped to their source unless ``global_ids``.
    Returns what was added, unchanged, replaced and rejected.
    """

    store_dir = Path(store_dir)
    analyser = analyser or Analyser()
    report = IngestReport()
    inputs = expand_inputs(paths, report.rejected, report.notes)
    corpus = Corpus(store_dir)
    with corpus.batch(on_wait) as batch:  # creates (or migrates) the store before any analysis
        batch.set_meta("analyser", analyser.tag)
    known = corpus.stored_doc_ids()
    fact_check_inputs: list[Path] = []
    for item in inputs:
        if progress:
            progress(item.name)
        row_rejections: list[Rejection] = []
        outcome = _InputOutcome()
        try:
            documents = documents_of(item, max_doc_chars, row_rejections, global_ids)
            if isinstance(documents, str):  # "factchecks": a table of fact-check records
                fact_check_inputs.append(item.path)
                continue
            _ingest_input(item, documents, corpus, analyser, known, outcome, on_wait)
        except RejectedInput as exc:
            report.rejected.append(exc.rejection)
            _keep_partial(report, outcome)
            continue
        except Exception as exc:  # an analyser failure on one input must not lose the others
            report.rejected.append(Rejection(str(item.path), None, f"could not be analysed "
                                                                   f"({exc.__class__.__name__}: {exc})"))
            _keep_partial(report, outcome)
            continue
        report.rejected.extend(row_rejections)
        _merge(report, outcome)
    for path in fact_check_inputs:
        report.fact_check_files.append(str(path))
        rejected, changed = _dispatch_fact_checks(path, store_dir)
        report.rejected.extend(rejected)
        report.fact_checks_changed = report.fact_checks_changed or changed
    return report


def _merge(report: IngestReport, outcome: _InputOutcome) -> None:
    report.added += outcome.added
    report.unchanged += outcome.unchanged
    report.replaced += outcome.replaced
    report.removed += outcome.removed
    report.notes += outcome.notes


def _keep_partial(report: IngestReport, outcome: _InputOutcome) -> None:
    """An input that failed after some of its parts were written (only inputs larger than one
    write group): those parts stay, and are reported."""
    if outcome.added or outcome.replaced:
        _merge(report, outcome)
        report.notes.append(f"{len(outcome.added) + len(outcome.replaced)} document(s) written before the failure "
                            "are kept; ingest the input again once fixed to complete it")


def _ingest_input(item: InputItem, documents: Iterable[Document], corpus, analyser, known: set[str],
                  outcome: _InputOutcome, on_wait: Callable[[], None] | None) -> None:
    """Analyse the new documents of one input in groups, writing each group in one transaction.
    ``known``: the ids stored when the ingest began (read without a lock, only to spare
    analysing unchanged text; what is stored is decided again inside each transaction)."""
    pending: list[Document] = []  # in input order
    to_analyse: list[Document] = []
    group_chars = 0

    def flush(final: bool) -> None:
        results = dict(zip((d.doc_id for d in to_analyse), analyser.analyse_many(to_analyse)))
        with corpus.batch(on_wait) as batch:
            _write_group(item, [(d, results.get(d.doc_id)) for d in pending], batch, outcome, analyser.tag)
            if final:
                # Parts or rows that the new version of this input no longer has.
                for name, old_id in batch.names_from_origin(item.name).items():
                    if name not in outcome.names and old_id not in outcome.removed:
                        batch.delete_document(old_id)
                        outcome.removed.append(old_id)
        known.update(results)
        pending.clear()
        to_analyse.clear()

    queued: set[str] = set()
    for document in documents:
        outcome.names.add(document.name)
        pending.append(document)
        if document.doc_id in known or document.doc_id in queued:
            continue
        queued.add(document.doc_id)
        to_analyse.append(document)
        group_chars += len(document.text)
        if group_chars >= WRITE_GROUP_CHARS:
            flush(final=False)
            group_chars = 0
    flush(final=True)


def _write_group(item: InputItem, analysed: list, batch, outcome: _InputOutcome, analyser_tag: str) -> None:
    for document, result in analysed:
        old = batch.doc_id_of_name(document.name)
        if batch.has_document(document.doc_id):
            if old is not None and old != document.doc_id:
                # Changed into a copy of a document stored under another name.
                batch.delete_document(old)
                outcome.removed.append(old)
            outcome.unchanged.append(document.doc_id)
            continue
        if result is None:
            # Seen as stored when the input was read, deleted since by another process.
            raise RejectedInput(item.path, f"{document.name} changed in the store while it was being ingested; "
                                           "ingest it again")
        if old is not None:
            origin = batch.origin_of(old)
            if origin and origin != item.name:
                outcome.notes.append(f"{item.path}: {document.name} replaced the document of that name from "
                                     f"{origin}")
            batch.delete_document(old)
            outcome.removed.append(old)
            outcome.replaced.append(document.doc_id)
        else:
            outcome.added.append(document.doc_id)
        batch.add(result, origin=item.name, analyser=analyser_tag)
