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
``pipeline.corpus.factchecks.ingest_fact_checks``.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from pipeline.core.io import parse_object
from pipeline.core.types import Document

TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".text"}
HTML_SUFFIXES = {".html", ".htm"}
TABLE_SUFFIXES = {".jsonl", ".ndjson", ".csv", ".parquet"}
JSON_SUFFIXES = {".json", ".jsonld"}
SUPPORTED = TEXT_SUFFIXES | HTML_SUFFIXES | TABLE_SUFFIXES | JSON_SUFFIXES
DEFAULT_MAX_DOC_CHARS = 200_000
TABLE_COLUMNS = ("id", "title", "url", "source", "published")


@dataclass(frozen=True)
class Rejection:
    path: str
    row: int | None
    reason: str

    def __str__(self) -> str:
        where = self.path + (f", row {self.row}" if self.row is not None else "")
        return f"{where}: {self.reason}"


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

    @property
    def ok(self) -> bool:
        return not self.rejected

    def to_dict(self) -> dict:
        return {"added": self.added, "unchanged": self.unchanged, "replaced": self.replaced,
                "removed": self.removed, "fact_check_files": self.fact_check_files, "notes": self.notes,
                "rejected": [{"path": r.path, "row": r.row, "reason": r.reason} for r in self.rejected]}


class RejectedInput(Exception):
    """One input (or one row of it) cannot be read; carries where and why."""

    def __init__(self, path: Path | str, reason: str, row: int | None = None) -> None:
        super().__init__(reason)
        self.rejection = Rejection(str(path), row, reason)


# ---- normalisation and metadata ----------------------------------------------------------------
def normalise(text: str) -> str:
    """NFKC (no-break spaces become spaces, ligatures split), one newline convention, no
    surrounding whitespace. Curly quotes and dashes are not compatibility characters: kept."""
    text = unicodedata.normalize("NFKC", text.replace("\r\n", "\n").replace("\r", "\n"))
    return text.strip()


def doc_id_of(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


_MONTHS = ("january february march april may june july august september october november december").split()
_ISO_DATE = re.compile(r"\b(?:date|published|posted|updated)?[:\s]*((?:19|20)\d\d)-(\d\d)-(\d\d)\b", re.I)
_LONG_DATE = re.compile(r"\b(?:published|posted|updated|date)[:\s]+(?:on\s+)?(" + "|".join(_MONTHS) +
                        r")\s+(\d{1,2}),?\s+((?:19|20)\d\d)\b", re.I)


def date_in_text(text: str, head: int = 300) -> str | None:
    """A publication date stated at the top of a text (``date 2024-11-10``, ``Published:
    November 10, 2024``); dates deeper in the body are events, not publication dates."""
    top = text[:head]
    match = _ISO_DATE.search(top)
    if match and (match.start() < 40 or re.search(r"date|published|posted|updated", match.group(), re.I)):
        year, month, day = match.group(1), match.group(2), match.group(3)
        if 1 <= int(month) <= 12 and 1 <= int(day) <= 31:
            return f"{year}-{month}-{day}"
    match = _LONG_DATE.search(top)
    if match:
        month = _MONTHS.index(match.group(1).lower()) + 1
        return f"{match.group(3)}-{month:02d}-{int(match.group(2)):02d}"
    return None


def normalise_date(value: object) -> str | None:
    """A metadata date (ISO string, timestamp, ``November 10, 2024``…) as ``YYYY-MM-DD``."""
    if value is None:
        return None
    if hasattr(value, "strftime"):
        try:
            return value.strftime("%Y-%m-%d")
        except ValueError:
            return None
    text = str(value).strip()
    if not text or text.lower() in ("nan", "none", "nat", "null"):
        return None
    match = re.match(r"((?:19|20)\d\d)-(\d\d)-(\d\d)", text)
    if match:
        return match.group(0)
    import dateparser

    parsed = dateparser.parse(text, settings={"PREFER_DAY_OF_MONTH": "first", "REQUIRE_PARTS": ["year"]})
    return parsed.strftime("%Y-%m-%d") if parsed else None


def _markdown_title(text: str) -> str:
    match = re.match(r"\s*#\s+(.+)", text)
    return match.group(1).strip() if match else ""


# ---- reading files ------------------------------------------------------------------------------
def _check_bytes(path: Path, data: bytes) -> str:
    """Decoded text of a file, or RejectedInput naming the problem."""
    if not data.strip():
        raise RejectedInput(path, "empty file" if not data else "file holds only whitespace")
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data[:nul].count(b"\n") + 1
        raise RejectedInput(path, f"binary file (NUL byte at byte {nul}, line {line}), not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise RejectedInput(path, f"invalid UTF-8 at byte {exc.start} (line {line}); re-save the file as UTF-8")


def _stream_paragraph_parts(path: Path, max_chars: int) -> Iterator[str]:
    """Parts of at most ``max_chars`` of a large text file, read as a stream: cut at a paragraph
    break where there is one, else at a line break, a sentence end or a space, so that a text
    without line breaks is split too (spaCy refuses texts over a million characters)."""
    pending = ""
    line_number = 1
    try:
        with open(path, "r", encoding="utf-8-sig", newline=None) as handle:
            while True:
                # readline(limit): a line longer than the limit comes in pieces, never whole.
                piece = handle.readline(max_chars)
                if not piece:
                    break
                if "\x00" in piece:
                    raise RejectedInput(path, f"binary content (NUL byte) at line {line_number}")
                line_number += piece.count("\n")
                pending += piece
                while len(pending) > max_chars:
                    cut = cut_point(pending, max_chars)
                    yield pending[:cut]
                    pending = pending[cut:]
    except UnicodeDecodeError as exc:
        raise RejectedInput(path, f"invalid UTF-8 near line {line_number}: {exc.reason}; "
                                  "re-save the file as UTF-8")
    if pending.strip():
        yield pending


_SENTENCE_END = re.compile(r"[.!?][\"'”’)\]]*\s")


def cut_point(text: str, max_chars: int) -> int:
    """Where to end a part of ``text`` of at most ``max_chars`` characters: after the last
    paragraph break in it, else the last line break, sentence end or space in its second half,
    else at ``max_chars`` (a text with no space at all)."""
    head = text[:max_chars]
    paragraph = head.rfind("\n\n")
    if paragraph > 0:
        return paragraph + 2
    floor = max_chars // 2
    line = head.rfind("\n")
    if line >= floor:
        return line + 1
    ends = [m.end() for m in _SENTENCE_END.finditer(head, floor)]
    if ends:
        return ends[-1]
    space = max(head.rfind(" "), head.rfind("\t"))
    return space + 1 if space >= floor else max_chars


def _validate_text_file(path: Path) -> None:
    """A whole-file check of a large text file before any part of it is analysed or written:
    UTF-8 throughout, no NUL byte. Streams it; memory stays bounded."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, line = 0, 1
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            nul = block.find(b"\x00")
            if nul >= 0:
                line += block[:nul].count(b"\n")
                raise RejectedInput(path, f"binary file (NUL byte at byte {offset + nul}, line {line}), not text")
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                line += block[:exc.start].count(b"\n")
                raise RejectedInput(path, f"invalid UTF-8 at byte {offset + exc.start} (line {line}); "
                                          "re-save the file as UTF-8") from None
            offset += len(block)
            line += block.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise RejectedInput(path, "invalid UTF-8 at the end of the file (a cut character); "
                                      "re-save the file as UTF-8") from None


def _file_documents(path: Path, name: str, max_chars: int) -> Iterator[Document]:
    suffix = path.suffix.lower()
    if suffix in TEXT_SUFFIXES and path.stat().st_size > max_chars * 4:
        # Large text: never held in memory whole; checked whole before any part is analysed.
        n = 0
        _validate_text_file(path)
        published = None
        for part in _stream_paragraph_parts(path, max_chars):
            text = normalise(part)
            if not text:
                continue
            n += 1
            if n == 1:
                published = date_in_text(text)
            yield Document(doc_id=doc_id_of(text), text=text, name=f"{name}#part{n:04d}",
                           title=f"{path.stem} (part {n})", source=str(path.parent.name), published=published)
        if n == 0:
            raise RejectedInput(path, "file holds only whitespace")
        return
    raw = _check_bytes(path, path.read_bytes())
    title, url, source, published = "", "", "", None
    if suffix in HTML_SUFFIXES:
        import trafilatura

        import datetime as dt

        # extensive_search off: the date comes from the page's metadata and markup (meta tags,
        # <time>, JSON-LD), never guessed from the body ("in 2024" became 2024-01-01).
        extracted = trafilatura.bare_extraction(raw, with_metadata=True, include_comments=False,
                                                include_tables=False, favor_precision=True,
                                                date_extraction_params={
                                                    "extensive_search": False, "original_date": True,
                                                    "max_date": dt.date.today().isoformat()})
        body = (extracted.text if extracted is not None else "") or ""
        if not body.strip():
            raise RejectedInput(path, "no article text found in the HTML (only boilerplate or markup)")
        title = getattr(extracted, "title", "") or ""
        url = getattr(extracted, "url", "") or ""
        source = getattr(extracted, "sitename", "") or getattr(extracted, "hostname", "") or ""
        published = normalise_date(getattr(extracted, "date", None))
        raw = body
    text = normalise(raw)
    if not text:
        raise RejectedInput(path, "file holds only whitespace")
    if suffix in (".md", ".markdown") and not title:
        title = _markdown_title(text)
    if not title:
        first_line = text.split("\n", 1)[0].strip()
        title = first_line if len(first_line) <= 200 else first_line[:200] + "…"
    published = published or date_in_text(text)
    parts = _split_text(text, max_chars)
    for n, part in enumerate(parts, 1):
        part_name = name if len(parts) == 1 else f"{name}#part{n:04d}"
        yield Document(doc_id=doc_id_of(part), text=part, name=part_name, title=title, url=url,
                       source=source or path.parent.name, published=published)


def _split_text(text: str, max_chars: int) -> list[str]:
    parts = []
    while len(text) > max_chars:
        cut = cut_point(text, max_chars)
        parts.append(text[:cut].strip())
        text = text[cut:]
    parts.append(text.strip())
    return [p for p in parts if p]


# ---- tables ---------------------------------------------------------------------------------------
def _table_rows(path: Path) -> tuple[list[str], Iterator[tuple[int, dict | RejectedInput]]]:
    """Column names and an iterator of (row number, record or rejection); rows count from 1
    (for JSONL the line number; for CSV the data row, header excluded)."""
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        data = path.read_bytes()
        text = _check_bytes(path, data)
        lines = text.splitlines()
        columns: list[str] = []
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                columns = list(record)
                break

        def jsonl() -> Iterator[tuple[int, dict | RejectedInput]]:
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                record, problem = parse_object(line)
                if problem:
                    yield number, RejectedInput(path, problem, number)
                    continue
                yield number, record

        return columns, jsonl()
    if suffix == ".csv":
        text = _check_bytes(path, path.read_bytes())
        reader = csv.DictReader(io.StringIO(text, newline=""))
        columns = [c.strip() for c in (reader.fieldnames or [])]

        def rows() -> Iterator[tuple[int, dict | RejectedInput]]:
            for number, record in enumerate(reader, 1):
                if None in record:
                    yield number, RejectedInput(path, "more fields than the header has columns", number)
                    continue
                yield number, {(k or "").strip(): v for k, v in record.items()}

        return columns, rows()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            parquet = pq.ParquetFile(path)
        except Exception as exc:  # pyarrow raises several types for a corrupt file
            raise RejectedInput(path, f"not a readable Parquet file ({exc.__class__.__name__}: {exc})")
        columns = list(parquet.schema_arrow.names)

        def batches() -> Iterator[tuple[int, dict | RejectedInput]]:
            number = 0
            for batch in parquet.iter_batches(batch_size=1024):
                for record in batch.to_pylist():
                    number += 1
                    yield number, record

        return columns, batches()
    raise RejectedInput(path, f"unsupported table type {suffix}")


def _row_document(path: Path, number: int, record: dict, name_prefix: str, global_ids: bool = False) -> Document:
    """The document of one table row. Its name, by which a later version replaces it, is its
    ``id`` within its source (the row's ``source``, else the file): ``t1.jsonl#id=1``, so the
    same id in two files names two documents; the bare id with ``global_ids``."""
    text_value = record.get("text")
    if text_value is None or (isinstance(text_value, float) and text_value != text_value):
        raise RejectedInput(path, "no text in this row", number)
    if not isinstance(text_value, str):
        raise RejectedInput(path, f"text is a {type(text_value).__name__}, not a string", number)
    text = normalise(text_value)
    if not text:
        raise RejectedInput(path, "text is empty", number)
    def field_of(key: str) -> str:
        value = record.get(key)
        return "" if value is None or (isinstance(value, float) and value != value) else str(value).strip()

    from pipeline.corpus.store import scoped_row_name

    row_id = record.get("id")
    has_id = row_id is not None and str(row_id).strip() not in ("", "nan", "None")
    if not has_id:
        name = f"{name_prefix}#row{number}"
    else:
        name = str(row_id).strip() if global_ids else scoped_row_name(field_of("source") or name_prefix,
                                                                      str(row_id).strip())

    published = normalise_date(record.get("published")) or date_in_text(text)
    return Document(doc_id=doc_id_of(text), text=text, name=name, title=field_of("title"), url=field_of("url"),
                    source=field_of("source") or path.name, published=published)


def is_fact_check_table(columns: Iterable[str]) -> bool:
    names = {c.strip().lower() for c in columns}
    return "claim" in names and "rating" in names


def _json_kind(path: Path) -> tuple[str, object]:
    text = _check_bytes(path, path.read_bytes())
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise RejectedInput(path, f"malformed JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})")

    def has_claim_review(node: object) -> bool:
        if isinstance(node, dict):
            kind = node.get("@type")
            if kind == "ClaimReview" or (isinstance(kind, list) and "ClaimReview" in kind):
                return True
            return any(has_claim_review(v) for k, v in node.items() if k in ("@graph", "itemListElement", "item"))
        if isinstance(node, list):
            return any(has_claim_review(v) for v in node)
        return False

    if has_claim_review(data):
        return "factchecks", data
    if isinstance(data, list) and data and all(isinstance(r, dict) for r in data):
        if is_fact_check_table(data[0]):
            return "factchecks", data
        if "text" in data[0]:
            return "records", data
    raise RejectedInput(path, "JSON file is neither schema.org ClaimReview objects nor a list of records with "
                              "a `text` field")


# ---- inputs ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Input:
    path: Path
    name: str  # the stable name of the file: its path relative to the argument's parent


def expand_inputs(paths: Iterable[Path | str], rejected: list[Rejection],
                  notes: list[str] | None = None) -> list[_Input]:
    inputs: list[_Input] = []
    for given in paths:
        path = Path(given)
        if not path.exists():
            rejected.append(Rejection(str(path), None, "no such file or directory"))
            continue
        if path.is_dir():
            base = path.resolve().parent
            visible = [p for p in path.rglob("*")
                       if not any(part.startswith(".") for part in p.relative_to(path).parts)]
            # Not followed (a link can loop back to a parent), but never skipped silently.
            for link in sorted(p for p in visible if p.is_symlink() and p.is_dir()):
                if notes is not None:
                    notes.append(f"skipped {link}: a symbolic link to a folder (not followed); "
                                 "give its target as an argument to ingest it")
            files = sorted(p for p in visible if p.is_file())
            for file in files:
                if file.suffix.lower() in SUPPORTED:
                    inputs.append(_Input(file, file.resolve().relative_to(base).as_posix()))
            continue
        if path.suffix.lower() not in SUPPORTED:
            rejected.append(Rejection(str(path), None, f"unsupported file type {path.suffix or '(none)'}; "
                                                       f"expected one of {', '.join(sorted(SUPPORTED))}"))
            continue
        inputs.append(_Input(path, path.name))
    return inputs


def _documents_of(item: _Input, max_chars: int, rejected: list[Rejection],
                  global_ids: bool = False) -> Iterator[Document] | str:
    """Documents of one input, or the string "factchecks" when it holds fact-check records.
    Row-level problems are appended to ``rejected``; file-level ones raise RejectedInput."""
    path, suffix = item.path, item.path.suffix.lower()
    if suffix in TABLE_SUFFIXES:
        columns, rows = _table_rows(path)
        if is_fact_check_table(columns):
            return "factchecks"
        if "text" not in columns:
            raise RejectedInput(path, f"no `text` column (columns: {', '.join(columns) or 'none'})")

        def table_documents() -> Iterator[Document]:
            for number, record in rows:
                if isinstance(record, RejectedInput):
                    rejected.append(record.rejection)
                    continue
                try:
                    yield _row_document(path, number, record, item.name, global_ids)
                except RejectedInput as exc:
                    rejected.append(exc.rejection)

        return table_documents()
    if suffix in JSON_SUFFIXES:
        kind, data = _json_kind(path)
        if kind == "factchecks":
            return "factchecks"

        def record_documents() -> Iterator[Document]:
            for number, record in enumerate(data, 1):
                try:
                    yield _row_document(path, number, record, item.name, global_ids)
                except RejectedInput as exc:
                    rejected.append(exc.rejection)

        return record_documents()
    return _file_documents(path, item.name, max_chars)


def _dispatch_fact_checks(path: Path, store_dir: Path) -> list[Rejection]:
    try:
        from pipeline.corpus.factchecks import ingest_fact_checks
    except ImportError:
        return [Rejection(str(path), None, "fact-check records (claim + rating / ClaimReview) are not supported "
                                           "yet: pipeline.corpus.factchecks is missing")]
    out = []
    for item in ingest_fact_checks(path, store_dir) or []:
        out.append(Rejection(str(getattr(item, "path", path)), getattr(item, "row", None),
                             str(getattr(item, "reason", item))))
    return out


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


def ingest(paths: list[Path], store_dir: Path = Path("corpus/store"), analyser=None,
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
    from pipeline.corpus.nlp import Analyser
    from pipeline.corpus.store import Corpus

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
            documents = _documents_of(item, max_doc_chars, row_rejections, global_ids)
            if documents == "factchecks":
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
        report.rejected.extend(_dispatch_fact_checks(path, store_dir))
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


def _ingest_input(item: _Input, documents: Iterable[Document], corpus, analyser, known: set[str],
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


def _write_group(item: _Input, analysed: list, batch, outcome: _InputOutcome, analyser_tag: str) -> None:
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
