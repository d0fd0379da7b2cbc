"""Reading inputs into documents: text, Markdown (stored as its plain text) and HTML files, tables (JSONL, CSV,
Parquet, JSON records), folders.
Each input is normalised (NFKC), split at paragraph breaks when long, and given a content-hash id; a
file or row that cannot be read becomes a ``Rejection`` naming the file, the row and the reason.
Fact-check tables and ClaimReview files are recognised here and read by ``corpus.factchecks``."""
from __future__ import annotations

import codecs
import datetime as dt
import hashlib
import io
import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from pipeline.core.io import delimited_records, parse_object
from pipeline.core.types import Document
from pipeline.corpus.markdown import markdown_text, markdown_title
from pipeline.corpus.store import scoped_row_name

# Imported where used, not here (slow to load; most callers of this module never need them): dateparser,
# pyarrow, trafilatura.

TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".text"}


MARKDOWN_SUFFIXES = {".md", ".markdown"}  # text files stored as their plain text (markdown_text)


HTML_SUFFIXES = {".html", ".htm"}


TABLE_SUFFIXES = {".jsonl", ".ndjson", ".csv", ".parquet"}


JSON_SUFFIXES = {".json", ".jsonld"}


SUPPORTED = TEXT_SUFFIXES | HTML_SUFFIXES | TABLE_SUFFIXES | JSON_SUFFIXES


def supported_list() -> str:
    """The supported extensions, grouped by kind: ``.markdown .md .text .txt .htm .html …``."""
    return " ".join(suffix for group in (TEXT_SUFFIXES, HTML_SUFFIXES, TABLE_SUFFIXES, JSON_SUFFIXES)
                    for suffix in sorted(group))


DEFAULT_MAX_DOC_CHARS = 200_000


@dataclass(frozen=True)
class Rejection:
    path: str
    row: int | None
    reason: str

    def __str__(self) -> str:
        where = self.path + (f", row {self.row}" if self.row is not None else "")
        return f"{where}: {self.reason}"


class RejectedInput(Exception):
    """One input (or one row of it) cannot be read; carries where and why."""

    def __init__(self, path: Path | str, reason: str, row: int | None = None) -> None:
        super().__init__(reason)
        self.rejection = Rejection(str(path), row, reason)


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
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # pandas reads a year column with blanks as floats: 2019.0 is the year 2019
    text = str(value).strip()
    if not text or text.lower() in ("nan", "none", "nat", "null"):
        return None
    # Exact formats dateparser does not take: compact 20240115 (text or integer) and Twitter's created_at.
    for shape, layout in ((r"(?:19|20)\d{6}", "%Y%m%d"), (r"[A-Za-z]{3} [A-Za-z]{3} \d\d [\d:]{8} [+-]\d{4} \d{4}",
                                                         "%a %b %d %H:%M:%S %z %Y")):
        if re.fullmatch(shape, text):
            try:
                return dt.datetime.strptime(text, layout).strftime("%Y-%m-%d")
            except ValueError:
                return None  # 20241345: the shape of a date, not a date
    match = re.match(r"((?:19|20)\d\d)-(\d\d)-(\d\d)", text)
    if match:
        try:
            return dt.date(*(int(part) for part in match.groups())).isoformat()
        except ValueError:
            return None  # 2024-13-45: the shape of a date, not a date
    import dateparser

    # No relative-time parser: "yesterday" or "2 days ago" in a table would be dated by the day it is read;
    # for the same reason a year alone is its January, not the month it happens to be read in.
    parsed = dateparser.parse(text, settings={"PREFER_DAY_OF_MONTH": "first", "PREFER_MONTH_OF_YEAR": "first",
                                              "REQUIRE_PARTS": ["year"],
                                              "PARSERS": ["timestamp", "custom-formats", "absolute-time"]})
    return parsed.strftime("%Y-%m-%d") if parsed else None


def check_bytes(path: Path, data: bytes) -> str:
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
        raise RejectedInput(path, f"invalid UTF-8 at byte {exc.start} (line {line}); re-save the file as UTF-8") from None


def stream_paragraph_parts(path: Path, max_chars: int) -> Iterator[str]:
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
                                  "re-save the file as UTF-8") from None
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
        for part in stream_paragraph_parts(path, max_chars):
            # Markdown part by part (parts end at paragraph breaks): a construct cut in two keeps its text.
            text = normalise(markdown_text(part) if suffix in MARKDOWN_SUFFIXES else part)
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
    raw = check_bytes(path, path.read_bytes())
    title, url, source, published = "", "", "", None
    if suffix in HTML_SUFFIXES:

        import trafilatura

        # extensive_search off: the date comes from the page's metadata and markup (meta tags,
        # <time>, JSON-LD), never guessed from the body ("in 2024" became 2024-01-01).
        extracted = trafilatura.bare_extraction(raw, with_metadata=True, include_comments=False,
                                                include_tables=False, favor_precision=True,
                                                date_extraction_params={
                                                    "extensive_search": False, "original_date": True,
                                                    "max_date": dt.date.today().isoformat()})
        body = getattr(extracted, "text", "") or ""
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
    if suffix in MARKDOWN_SUFFIXES:
        heading = markdown_title(text)
        text = normalise(markdown_text(text))
        if not text:
            raise RejectedInput(path, "no text in this Markdown file (only markup)")
        if heading:  # the title is the first heading's text, without its markup
            title = text.split("\n\n", 1)[0]
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


def table_rows(path: Path) -> tuple[list[str], Iterator[tuple[int, dict | RejectedInput]]]:
    """Column names and an iterator of (row number, record or rejection). The number is the one
    ``score`` and retraining give: the 1-based line a record starts on for JSONL and CSV (the
    header is line 1), the row for Parquet. Blank lines yield nothing."""
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        data = path.read_bytes()
        text = check_bytes(path, data)
        # Only "\n" ends a line: splitlines() also split at U+2028 and other separators that JSON
        # allows inside a string, rejecting a valid row as two broken ones
        lines = text.split("\n")
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
                record, problem = parse_object(line, reads=_table_reads)
                if record is None:
                    yield number, RejectedInput(path, problem or "not a JSON object", number)
                    continue
                yield number, record

        return columns, jsonl()
    if suffix == ".csv":
        text = check_bytes(path, path.read_bytes())
        # strict: without it an unclosed quote read every later line into one row's text, silently.
        # Not DictReader: it skips blank lines unseen, so the line a record starts on could not be told.
        records = delimited_records(io.StringIO(text, newline=""), ",")
        head = next(records, None)
        if head is not None and head.fields is None:
            raise RejectedInput(path, f"unreadable CSV header ({head.error})")
        columns = [c.strip() for c in head.fields or []] if head is not None else []

        def rows() -> Iterator[tuple[int, dict | RejectedInput]]:
            for record in records:
                line, fields = record.first, record.fields
                if fields is None:
                    # the lines it took in are named, as score names them: they are rows lost with it
                    swallowed = f"lines {line}-{record.last} were read as this one row" if record.last > line else ""
                    problem = ("a quote opened in this row is not closed by the end of the file"
                               + (f": {swallowed}, not as rows of their own" if swallowed else "")
                               if "unexpected end of data" in str(record.error) else
                               f"unreadable CSV row ({record.error})" + (f"; {swallowed}" if swallowed else ""))
                    yield line, RejectedInput(path, problem, line)
                    continue
                if not fields:
                    continue
                if len(fields) > len(columns):
                    yield line, RejectedInput(path, "more fields than the header has columns", line)
                    continue
                # a short row's missing cells are None, as DictReader gave them; a repeated column keeps the last
                yield line, dict(zip(columns, fields + [None] * (len(columns) - len(fields))))

        return columns, rows()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            parquet = pq.ParquetFile(path)
        except Exception as exc:  # pyarrow raises several types for a corrupt file
            raise RejectedInput(path, f"not a readable Parquet file ({exc.__class__.__name__}: "
                                      f"{' '.join(str(exc).split())})") from None
        columns = list(parquet.schema_arrow.names)

        def batches() -> Iterator[tuple[int, dict | RejectedInput]]:
            number = 0
            read = parquet.iter_batches(batch_size=1024)
            while True:
                try:
                    batch = next(read, None)
                except Exception as exc:  # a damaged page: OSError, ArrowInvalid… with a message over lines
                    raise RejectedInput(path, f"damaged Parquet data, unreadable from this row on "
                                              f"({' '.join(str(exc).split())})", number + 1) from None
                if batch is None:
                    return
                for record in batch.to_pylist():
                    number += 1
                    yield number, record

        return columns, batches()
    raise RejectedInput(path, f"unsupported table type {suffix}")


# A document's date, by the first of these columns a row fills: `published` is the documented name; the
# others are what archives, CMS exports and scrapers call it, and a date column left unread put every
# row outside any --before cut-off without a word.
DATE_COLUMNS = ("published", "date", "published_at", "publish_date", "datePublished")
# The columns _row_document reads, and the fields make_fact_check reads.
DOCUMENT_COLUMNS = ("text", "id", "title", "url", "source") + DATE_COLUMNS
FACT_CHECK_FIELDS = ("id", "claim", "rating", "publisher", "url", "date", "title", "text", "claimant", "source")


def accepted_columns(kind: str = "column") -> str:
    """What a document table must and may hold, for the errors that name what a table holds instead (a
    person with a `body` field learns what is wanted)."""
    return (f"expected a `text` {kind}, and optionally {', '.join(DOCUMENT_COLUMNS[1:5])}, "
            f"{DATE_COLUMNS[0]} (or {', '.join(DATE_COLUMNS[1:])}); or `claim` and `rating` for fact-checks")


def _kind_of_field(path: Path) -> str:
    """A record's keys are its fields in JSON and JSONL, its columns in CSV and Parquet."""
    return "field" if path.suffix.lower() in {".jsonl", ".ndjson"} | JSON_SUFFIXES else "column"


def _table_reads(record: dict) -> list[str]:
    """The keys a document or fact-check row is read by (fact-check keys are case-folded)."""
    return [key for key in record if key in DOCUMENT_COLUMNS or key.strip().lower() in FACT_CHECK_FIELDS]


def refuse_repeated_columns(path: Path, columns: list[str], used: Iterable[str], fold_case: bool = False) -> None:
    """Refuse a header naming a column the reader uses twice: DictReader keeps the last, score's reader
    the first, so the file means two things. A repeated column no one reads (`note,note`) is harmless."""
    wanted = set(used)
    names = [c.lower() for c in columns] if fold_case else list(columns)
    repeated = next((columns[i] for i, name in enumerate(names) if name in wanted and name in names[:i]), None)
    if repeated is not None:
        raise RejectedInput(path, f"the column '{repeated}' appears twice in the header; rename or remove one")


def _row_document(path: Path, number: int, record: dict, name_prefix: str, global_ids: bool = False,
                  position: int | None = None) -> Document:
    """The document of one table row. Its name, by which a later version replaces it, is its
    ``id`` within its source (the row's ``source``, else the file): ``t1.jsonl#id=1``, so the
    same id in two files names two documents; the bare id with ``global_ids``. A row without an
    id is named by ``position`` (default ``number``): ``t.csv#row2``."""
    if "text" not in record:
        # A JSONL or JSON record has its own keys (a CSV's rows all have the header's columns).
        kind = _kind_of_field(path)
        raise RejectedInput(path, f"no `text` {kind} in this row ({kind}s: {', '.join(map(str, record)) or 'none'}); "
                                  f"{accepted_columns(kind)}", number)
    text_value = record["text"]
    if text_value is None or (isinstance(text_value, float) and text_value != text_value):
        raise RejectedInput(path, "text is empty", number)
    if not isinstance(text_value, str):
        raise RejectedInput(path, f"text is a {type(text_value).__name__}, not a string", number)
    text = normalise(text_value)
    if not text:
        raise RejectedInput(path, "text is empty", number)
    def field_of(key: str) -> str:
        value = record.get(key)
        return "" if value is None or (isinstance(value, float) and value != value) else str(value).strip()


    row_id = record.get("id")
    has_id = row_id is not None and str(row_id).strip() not in ("", "nan", "None")
    if not has_id:
        name = f"{name_prefix}#row{number if position is None else position}"
    else:
        name = str(row_id).strip() if global_ids else scoped_row_name(field_of("source") or name_prefix,
                                                                      str(row_id).strip())

    date_column = next((c for c in DATE_COLUMNS if not _blank(record.get(c))), "published")
    given = record.get(date_column)
    published = normalise_date(given)
    if published is None and not _blank(given):
        # Stored undated without a word, the document escaped every --before cut-off unnoticed.
        shown = repr(given[:40]) if isinstance(given, str) else repr(given)[:40]
        raise RejectedInput(path, f"{date_column} {shown} is not a date (e.g. 2024-11-10 or November 10, 2024); "
                                  "fix it or leave it empty", number)
    published = published or date_in_text(text)
    return Document(doc_id=doc_id_of(text), text=text, name=name, title=field_of("title"), url=field_of("url"),
                    source=field_of("source") or path.name, published=published)


def _blank(value: object) -> bool:
    """A missing table value: None, NaN, an empty cell or a spelled-out null."""
    if value is None or (isinstance(value, float) and value != value):
        return True
    return isinstance(value, str) and value.strip().lower() in ("", "nan", "none", "nat", "null")


def is_fact_check_table(columns: Iterable[str]) -> bool:
    names = {c.strip().lower() for c in columns}
    return "claim" in names and "rating" in names


def _json_kind(path: Path) -> tuple[str, Any]:
    """The kind of a JSON file's content ("factchecks" or "records") and the parsed content."""
    text = check_bytes(path, path.read_bytes())
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RejectedInput(path, f"malformed JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None

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
    found = (f" (fields of its first record: {', '.join(map(str, data[0])) or 'none'}); {accepted_columns('field')}"
             if isinstance(data, list) and data and isinstance(data[0], dict) else "")
    raise RejectedInput(path, "JSON file is neither schema.org ClaimReview objects nor a list of records with "
                              f"a `text` field{found}")


def _once_per_name(path: Path, numbered: Iterator[tuple[int, Document]],
                   rejected: list[Rejection]) -> Iterator[Document]:
    """The first row of each document name; a later row with the same id is rejected, naming the
    row it repeats. Kept, it silently replaced that row's document (and a second ingest swapped them)."""
    first_row: dict[str, int] = {}
    for number, document in numbered:
        first = first_row.setdefault(document.name, number)
        if first != number:
            rejected.append(Rejection(str(path), number, f"the same id as row {first} ({document.name}); "
                                                         "each row needs its own id"))
            continue
        yield document


def documents_of(path: Path, name: str, max_chars: int, rejected: list[Rejection],
                 global_ids: bool = False) -> Iterator[Document] | str:
    """Documents of one input file named ``name`` (``inputs.InputItem``), or the string "factchecks"
    when it holds fact-check records. Row-level problems are appended to ``rejected``; file-level
    ones raise RejectedInput."""
    suffix = path.suffix.lower()
    if suffix in TABLE_SUFFIXES:
        columns, rows = table_rows(path)
        if is_fact_check_table(columns):
            return "factchecks"
        if "text" not in columns:
            kind = _kind_of_field(path)
            where = f"{kind}s of its first record" if kind == "field" else "columns"
            raise RejectedInput(path, f"no `text` {kind} ({where}: {', '.join(columns) or 'none'}); "
                                      f"{accepted_columns(kind)}")
        refuse_repeated_columns(path, columns, DOCUMENT_COLUMNS)

        def table_documents() -> Iterator[tuple[int, Document]]:
            for position, (number, record) in enumerate(rows, 1):
                if isinstance(record, RejectedInput):
                    rejected.append(record.rejection)
                    continue
                # An id-less CSV row keeps the name it had when rows were numbered from the header
                # (its data-row position): a new name would replace every such document in the store.
                kept = position if suffix == ".csv" else None
                try:
                    yield number, _row_document(path, number, record, name, global_ids, kept)
                except RejectedInput as exc:
                    rejected.append(exc.rejection)

        return _once_per_name(path, table_documents(), rejected)
    if suffix in JSON_SUFFIXES:
        kind, data = _json_kind(path)
        if kind == "factchecks":
            return "factchecks"

        def record_documents() -> Iterator[tuple[int, Document]]:
            for number, record in enumerate(data, 1):
                try:
                    yield number, _row_document(path, number, record, name, global_ids)
                except RejectedInput as exc:
                    rejected.append(exc.rejection)

        return _once_per_name(path, record_documents(), rejected)
    return _file_documents(path, name, max_chars)
