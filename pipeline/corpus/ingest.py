"""Ingestion: files and tables in, analysed documents in the corpus store.

Reads text (``.txt``/``.text``, Markdown ``.md``/``.markdown`` as its plain text) and ``.html``/``.htm``
files, ``.jsonl``/``.ndjson``/``.csv``/``.parquet`` tables (a ``text`` column, optional ``id``, ``title``,
``url``, ``source``, ``published``) and ``.json``/``.jsonld`` lists of such records; directories are read
recursively (a file of another type is skipped with a note). Text is NFKC-normalised (the seeds hold
non-breaking spaces; curly quotes survive NFKC and are kept for quote detection) and every offset
points into that normalised text.

Document ids are content hashes, so an unchanged document is recognised without analysing it
again; a document whose name (file path, or table ``id`` within its source) is known but whose
content changed replaces its old version and everything derived from it. A file stored from the
same location under another name (given alone, then with its folder, or the reverse) keeps its stored
name (``inputs.adopt_stored_names``): edited and ingested either way, it replaces its old version. A
text already stored under another name is a duplicate, stored once. Notes say what a person
should know: the same text under two names (stored once), an added file with the file name of a
stored one (the same file by another path spelling?), a document that looks like another language
than English. Documents are analysed outside any transaction and written in short ones (one per
input, or per ``WRITE_GROUP_CHARS`` of new text), so two processes can ingest into one store at
once: a bad input is rejected whole (nothing of it is written), the others are still ingested, and
a crash leaves the last committed state.

A text longer than ``max_doc_chars`` is split into parts (``name#part0001``…) at paragraph
breaks, else line breaks, sentence ends or spaces; a large text file is read as a stream, so
memory stays bounded whatever the file size.

Tables with ``claim`` and ``rating`` columns, and ``.json``/``.jsonld`` files of schema.org
``ClaimReview`` objects, are fact-check records: they go to
``pipeline.corpus.factchecks``; when they change the store's records, ``IngestReport.fact_checks_changed``
says so and the caller rebuilds the matcher's index (``pipeline.factchecks.matcher.build_store_index``).
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from pipeline.core.paths import DEFAULT_STORE
from pipeline.core.types import Document
from pipeline.corpus.factchecks import ingest_fact_checks_report
from pipeline.corpus.inputs import InputItem, adopt_stored_names, expand_inputs
from pipeline.corpus.language import surely_not_english
from pipeline.corpus.nlp import Analyser
from pipeline.corpus.readers import DEFAULT_MAX_DOC_CHARS, RejectedInput, Rejection, documents_of
from pipeline.corpus.store import Corpus

# What an ingest did with a document. A "duplicate" has the text of a document stored under another name
# (by this ingest or an earlier one): its text is stored once (an id is the text's hash), under that
# other name, so it is neither "added" nor "unchanged" (it was never stored under its own name).
OUTCOMES = ("added", "replaced", "removed", "unchanged", "duplicate")


@dataclass(frozen=True)
class DocumentOutcome:
    """One document an ingest looked at, with what a person knows it by (its name in the store and its
    title) beside its id, a content hash that means nothing to a reader of ``ingest --json``."""

    outcome: str  # one of OUTCOMES; "replaced" is the new version, "removed" an old one
    doc_id: str
    name: str
    title: str = ""
    stored_as: str = ""  # a duplicate: the name its text is stored under

    def to_dict(self) -> dict:
        entry = {"id": self.doc_id, "name": self.name, "title": self.title}
        return entry | {"stored_as": self.stored_as} if self.stored_as else entry


@dataclass
class IngestReport:
    # Every document looked at, in input order; the id lists below are read from it.
    documents: list[DocumentOutcome] = field(default_factory=list)
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

    def _ids(self, outcome: str) -> list[str]:
        return [document.doc_id for document in self.documents if document.outcome == outcome]

    @property
    def added(self) -> list[str]:
        return self._ids("added")

    @property
    def unchanged(self) -> list[str]:
        return self._ids("unchanged")

    @property
    def replaced(self) -> list[str]:
        """Ids of the new versions."""
        return self._ids("replaced")

    @property
    def removed(self) -> list[str]:
        """Ids of the old versions that were replaced or that their input no longer holds."""
        return self._ids("removed")

    @property
    def duplicates(self) -> list[str]:
        """Names (not ids: the id is that of the document stored under another name) of the duplicates."""
        return [document.name for document in self.documents if document.outcome == "duplicate"]

    def to_dict(self) -> dict:
        def listed(outcome: str) -> list[dict]:
            return [document.to_dict() for document in self.documents if document.outcome == outcome]

        return {"added": listed("added"), "unchanged": listed("unchanged"), "replaced": listed("replaced"),
                "removed": listed("removed"), "duplicates": listed("duplicate"),
                "fact_check_files": self.fact_check_files, "notes": self.notes,
                "rejected": [{"path": r.path, "row": r.row, "reason": r.reason} for r in self.rejected]}


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
    documents: list[DocumentOutcome] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    names: set[str] = field(default_factory=set)
    added_names: list[str] = field(default_factory=list)
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (name, the name its text is stored under)
    copies: list[tuple[str, str]] = field(default_factory=list)  # the same, of a text stored before this ingest
    foreign: list[tuple[str, str]] = field(default_factory=list)  # (name, "Spanish (es)")
    languages: dict[str, str] = field(default_factory=dict)  # doc_id -> "Spanish (es)", of the text being written

    def ids(self, outcome: str) -> list[str]:
        return [document.doc_id for document in self.documents if document.outcome == outcome]


@dataclass
class _Call:
    """What one ingest knows across its inputs."""

    stored_before: dict[str, str]  # name -> doc_id of the documents stored when it began
    names_by_id: dict[str, str]  # doc_id -> name: those, and the documents it wrote
    written: set[str] = field(default_factory=set)  # ids of the documents it added or replaced


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
    if not inputs and not corpus.exists():
        # Nothing to read (every path missing or skipped): a mistyped path left an empty store behind,
        # which later commands took for a corpus.
        return report
    # A file the store holds under another name (its folder's) keeps that name however it comes in.
    given = inputs
    stored_locations = corpus.origins_by_location()
    inputs = adopt_stored_names(inputs, stored_locations)
    report.notes += _kept_name_notes([(before.name, item.name) for before, item in zip(given, inputs)
                                      if item.name != before.name])
    with corpus.batch(on_wait) as batch:  # creates (or migrates) the store before any analysis
        batch.set_meta("analyser", analyser.tag)
    known = corpus.stored_doc_ids()
    # Names only (not texts): what the notes on duplicates and on other spellings of a name compare with.
    stored = corpus.document_names()
    call = _Call(stored, {doc_id: name for name, doc_id in stored.items()})
    called_names: set[str] = set()
    added_names: list[tuple[str, InputItem]] = []
    fact_check_inputs: list[Path] = []
    for item in inputs:
        if progress:
            progress(item.name)
        row_rejections: list[Rejection] = []
        outcome = _InputOutcome()
        try:
            documents = documents_of(item.path, item.name, max_doc_chars, row_rejections, global_ids)
            if isinstance(documents, str):  # "factchecks": a table of fact-check records
                fact_check_inputs.append(item.path)
                continue
            _ingest_input(item, documents, corpus, analyser, known, outcome, on_wait, call)
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
        report.notes += _input_notes(item, outcome)
        called_names |= outcome.names
        added_names += [(name, item) for name in outcome.added_names]
    report.notes += _other_spelling_notes(added_names, call.stored_before, called_names, set(report.removed),
                                          store_dir, {origin: at for at, origin in stored_locations.items()})
    for path in fact_check_inputs:
        report.fact_check_files.append(str(path))
        rejected, changed = _dispatch_fact_checks(path, store_dir)
        report.rejected.extend(rejected)
        report.fact_checks_changed = report.fact_checks_changed or changed
    return report


def _merge(report: IngestReport, outcome: _InputOutcome) -> None:
    report.documents += outcome.documents
    report.notes += outcome.notes


def _keep_partial(report: IngestReport, outcome: _InputOutcome) -> None:
    """An input that failed after some of its parts were written (only inputs larger than one
    write group): those parts stay, and are reported."""
    written = len(outcome.ids("added")) + len(outcome.ids("replaced"))
    if written:
        _merge(report, outcome)
        report.notes.append(f"{written} document(s) written before the failure "
                            "are kept; ingest the input again once fixed to complete it")


def _ingest_input(item: InputItem, documents: Iterable[Document], corpus, analyser, known: set[str],
                  outcome: _InputOutcome, on_wait: Callable[[], None] | None, call: _Call) -> None:
    """Analyse the new documents of one input in groups, writing each group in one transaction.
    ``known``: the ids stored when the ingest began (read without a lock, only to spare
    analysing unchanged text; what is stored is decided again inside each transaction)."""
    pending: list[Document] = []  # in input order
    to_analyse: list[Document] = []
    group_chars = 0

    def flush(final: bool) -> None:
        results = dict(zip((d.doc_id for d in to_analyse), analyser.analyse_many(to_analyse)))
        # Before the transaction, as the analysis: 1-4 ms a document would hold the store's write lock.
        outcome.languages = {d.doc_id: language for d in to_analyse if (language := _foreign_language(d.text))}
        with corpus.batch(on_wait) as batch:
            _write_group(item, [(d, results.get(d.doc_id)) for d in pending], batch, outcome, analyser.tag, call)
            if final:
                # Parts or rows that the new version of this input no longer has.
                removed = set(outcome.ids("removed"))
                for name, old_id in batch.names_from_origin(item.name).items():
                    if name not in outcome.names and old_id not in removed:
                        _remove(batch, old_id, name, outcome)
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


def _write_group(item: InputItem, analysed: list, batch, outcome: _InputOutcome, analyser_tag: str,
                 call: _Call) -> None:
    for document, result in analysed:
        old = batch.doc_id_of_name(document.name)
        if batch.has_document(document.doc_id):
            if old is not None and old != document.doc_id:
                # Changed into a copy of a document stored under another name.
                _remove(batch, old, document.name, outcome)
            if old == document.doc_id:
                # A store written before locations were recorded learns them as its files come in again.
                batch.fill_location(document.doc_id, item.located)
                outcome.documents.append(DocumentOutcome("unchanged", document.doc_id, document.name, document.title))
                continue
            # Its text is stored under another name: kept once (the id is the text's hash), said by a note.
            # A duplicate, not "unchanged": a copy must not hide among the documents left as they were.
            other = call.names_by_id.get(document.doc_id) or batch.origin_of(document.doc_id) or "another document"
            outcome.documents.append(DocumentOutcome("duplicate", document.doc_id, document.name, document.title,
                                                     stored_as=other))
            # Stored by this very ingest, or before it: two wordings of the note.
            (outcome.duplicates if document.doc_id in call.written else outcome.copies).append((document.name, other))
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
            _remove(batch, old, document.name, outcome)
            outcome.documents.append(DocumentOutcome("replaced", document.doc_id, document.name, document.title))
        else:
            outcome.documents.append(DocumentOutcome("added", document.doc_id, document.name, document.title))
            outcome.added_names.append(document.name)
        # New text only: an unchanged document was looked at when it was added.
        if document.doc_id in outcome.languages:
            outcome.foreign.append((document.name, outcome.languages[document.doc_id]))
        batch.add(result, origin=item.name, analyser=analyser_tag, location=item.located)
        call.written.add(document.doc_id)
        call.names_by_id[document.doc_id] = document.name


def _remove(batch, doc_id: str, name: str, outcome: _InputOutcome) -> None:
    """Delete a stored document, reported by the name and title it had."""
    outcome.documents.append(DocumentOutcome("removed", doc_id, name, batch.title_of(doc_id)))
    batch.delete_document(doc_id)


# Notes of one kind on more documents of one input than this are summed up in one note (a table of
# Spanish rows is one note, not thousands).
NOTES_PER_INPUT = 3


def _input_notes(item: InputItem, outcome: _InputOutcome) -> list[str]:
    """Notes on one input's duplicates and documents in another language, summed up when many."""
    notes: list[str] = []
    kinds = ((outcome.duplicates, "{0} has the same text as {1}: stored once",
              "{n} documents have the same text as one stored before them in this ingest: stored once"),
             (outcome.copies, "{0} has the same text as {1}, already in the store: kept once, under that name",
              "{n} documents have the same text as one already in the store under another name: kept once"),
             (outcome.foreign, "{0} looks like {1}: claimsift checks English claims; it is stored but its "
                               "sentences will rarely match",
              "{n} documents look like another language than English: claimsift checks English claims; "
              "they are stored but their sentences will rarely match"))
    for pairs, one, many in kinds:
        if len(pairs) <= NOTES_PER_INPUT:
            notes += [one.format(*pair) for pair in pairs]
        else:
            examples = "; ".join(one.format(*pair) for pair in pairs[:NOTES_PER_INPUT])
            notes.append(f"{item.name}: " + many.format(n=len(pairs)) + f" (e.g. {examples}; …)")
    return notes


def _foreign_language(text: str) -> str:
    """"Spanish (es)" when the start of ``text`` is confidently another language than English, else "".
    Claims in other languages are refused at check time, so such a document can never be matched.
    lingua (the identifier claims go through) takes 1-4 ms on the first 1,000 characters; the
    refusal thresholds (``corpus.language``) make it say so only when sure."""
    sample = text[:1000]
    try:
        guess = surely_not_english(sample, len(sample.split()))
    except Exception:  # a note, never a reason to reject the document
        return ""
    if guess is None:
        return ""
    if guess.language == "und":
        return "another language than English (its letters are mostly not Latin)"
    from lingua import Language

    name = next((lang.name.title() for lang in Language.all() if lang.iso_code_639_1.name.lower() == guess.language),
                guess.language)
    return f"{name} ({guess.language})"


def _kept_name_notes(renamed: list[tuple[str, str]]) -> list[str]:
    """One note on the files that keep the name they were first stored under (the name these arguments
    would give, the stored name), naming a few: a folder ingested from another level renames them all."""
    if not renamed:
        return []
    shown = "; ".join(f"{given} as {stored}" for given, stored in renamed[:NOTES_PER_INPUT])
    more = f"; and {len(renamed) - NOTES_PER_INPUT} more" if len(renamed) > NOTES_PER_INPUT else ""
    files = "file keeps the name it was" if len(renamed) == 1 else "files keep the names they were"
    return [f"{len(renamed)} {files} first stored under: {shown}{more}"]


# At most this many notes on other spellings of a stored name.
SPELLING_NOTES = 10


def _other_spelling_notes(added: list[tuple[str, InputItem]], stored_before: dict[str, str], called: set[str],
                          removed: set[str], store_dir: Path, located: dict[str, str]) -> list[str]:
    """Notes on added documents whose file has the file name of a file stored before under another name,
    with what to do if they are two versions of one file. Compared file by file (a table's rows and a
    long text's parts are one note).

    A file stored from the same location already took its stored name (``adopt_stored_names``), so these
    are files stored from another location, or before locations were stored (schema 3): the stored one
    may be this file's old version (its name a shorter end of this file's path: ``a.txt``, given alone
    before, ``docs/sub/a.txt`` now) or another file, or a copy edited elsewhere. Which, and which is
    older, only the person knows: the note says where the stored one came from when the store knows it
    (``located``: input name -> location) and how to remove either (``claimsift remove``)."""
    if not added or not stored_before:
        return []

    def file_of(name: str) -> str:
        return name.split("#", 1)[0]  # a part or a table row: the file it came from

    by_last: dict[str, set[str]] = {}
    for name, doc_id in stored_before.items():
        # Not one written again or removed by this ingest: that one is accounted for.
        if name not in called and doc_id not in removed:
            by_last.setdefault(file_of(name).rsplit("/", 1)[-1], set()).add(file_of(name))
    firsts: dict[str, InputItem] = {}
    for name, item in added:
        firsts.setdefault(file_of(name), item)
    notes: list[str] = []
    for file, item in firsts.items():
        others = sorted(by_last.get(file.rsplit("/", 1)[-1], set()) - {file})
        if not others:
            continue
        # A shorter end of this file's path first: that is surely this file's own old version.
        other = next((name for name in others if item.located.endswith("/" + name)), others[0])
        also = f" (and {len(others) - 1} more of that file name)" if len(others) > 1 else ""
        store = shlex.quote(str(store_dir))
        remove = f"claimsift remove {shlex.quote(other)} --store {store}"
        if not located.get(other) and item.located.endswith("/" + other):
            # A shorter name is the file's own name given alone; a longer one, the name its folder gives it.
            how = "ingested alone" if other.count("/") < file.count("/") else "ingested with its folder"
            advice = (f", the name of this file when it is {how}{also}. If that is an older version of it, "
                      f"remove it ({remove})")
        else:
            where = f" ({located[other]})" if located.get(other) else ""
            advice = (f", a file of that name from elsewhere{where}{also}. If one is an older version of the other, "
                      f"remove the older: {remove}, or claimsift remove {shlex.quote(file)} --store {store}")
        notes.append(f"{file} was added as a new document; the store also holds {other}{advice}")
    if len(notes) > SPELLING_NOTES:
        notes = notes[:SPELLING_NOTES] + [f"and {len(notes) - SPELLING_NOTES} more added files whose file name is "
                                          "also that of a stored file"]
    return notes
