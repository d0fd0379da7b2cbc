"""File I/O shared by every stage: one reading of a JSONL line and of a CSV/TSV record (so that each
reader names the same problems the same way), one JSONL writer, atomic text writes and file hashes.

The caller of ``parse_object`` decides whether a bad line is an error, a rejected row or a problem
collected with the others; ``read_jsonl`` is the strict reader: the first bad line is an
``InputError`` naming the file and the line."""
from __future__ import annotations

import codecs
import csv
import hashlib
import json
import os
import re
import sqlite3
import tempfile
import threading
from dataclasses import dataclass
from itertools import chain, islice
from pathlib import Path
from typing import Any, Callable, Collection, Iterable, Iterator

from pipeline.core.errors import InputError

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def json_error_text(exc: ValueError) -> str:
    """``not valid JSON (… at column N)``: json's own message alone is cut where it would say where
    ("Invalid control character at")."""
    message = str(getattr(exc, "msg", exc))
    if hasattr(exc, "colno"):
        message += f"{'' if message.endswith(' at') else ' at'} column {exc.colno}"
    return f"not valid JSON ({message})"


def parse_object(line: str, reads: Collection[str] | Callable[[dict], Collection[str]] | None = None,
                 ) -> tuple[dict | None, str | None]:
    """``(object, None)`` for a line holding a JSON object, else ``(None, problem)``. ``reads`` names
    the top-level keys the caller uses (or computes them from the object); None means all of them."""
    try:
        value, repeated_keys = loads_noting_repeats(line)
    except ValueError as exc:
        return None, json_error_text(exc)
    if not isinstance(value, dict):
        return None, f"line is a JSON {_kind(value)}, not an object"
    # {"text": "a", "text": "b"} is valid JSON that every reader takes differently (json keeps the last,
    # others the first): the row means two things. A repeated key the caller never reads is harmless.
    if repeated_keys:
        used = set(value) if reads is None else set(reads(value) if callable(reads) else reads)
        repeated = next((key for key in repeated_keys if key in used), None)
        if repeated is not None:
            return None, f"the key '{repeated}' appears twice in this object; remove one"
    # "\ud800" without its pair parses to a string that cannot be written as UTF-8: the row failed
    # later, in SQLite, a tokenizer or the output write, as a traceback. Only escapes can make one.
    # Only a value the caller reads makes the row a problem: a raw tweet's unread `text` or
    # `user.description` cut in two is mended (U+FFFD) so the row can still be written.
    if "\\u" in line and _LONE_SURROGATE.search(json.dumps(value, ensure_ascii=False)):
        used = set(value) if reads is None else set(reads(value) if callable(reads) else reads)
        for key in value:
            lone = _LONE_SURROGATE.search(json.dumps({key: value[key]}, ensure_ascii=False))
            if lone and key in used:
                return None, (f"not valid JSON text: \\u{ord(lone.group()):04x} is half of a UTF-16 pair "
                              "(an emoji or character cut in two?)")
        value = _mended(value)
    return value, None


def loads_noting_repeats(line: str) -> tuple[Any, list[str]]:
    """``json.loads(line)`` (which keeps the last of a repeated key) and the keys its top-level object
    gives more than once; raises ``ValueError`` as ``json.loads`` does."""
    if line.startswith("\ufeff"):  # as json.loads refuses it
        raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", line, 0)
    _NOTED.repeats = None
    value = _DECODER.decode(line)
    noted = _NOTED.repeats
    if noted is None or noted[0] is not value:  # none, or only in a nested object (the top level is made last)
        return value, []
    seen: set[str] = set()
    repeated: list[str] = []
    for key, _ in noted[1]:
        if key in seen:
            repeated.append(key)
        seen.add(key)
    return value, repeated


def _object_noting_repeats(pairs: list[tuple[str, Any]]) -> dict:
    """The object as ``json.loads`` makes it (the last of a repeated key wins); one that repeats a key
    is noted with its pairs."""
    value = dict(pairs)
    if len(value) < len(pairs):
        _NOTED.repeats = (value, pairs)
    return value


# One decoder, made once: json.loads(line, object_pairs_hook=...) builds a decoder on every call, which
# with a hook that noted every object doubled the parse time (this one costs about a fifth). The
# object that repeats a key is noted per thread, as readers may run in threads.
_NOTED = threading.local()
_DECODER = json.JSONDecoder(object_pairs_hook=_object_noting_repeats)


def _mended(value: Any) -> Any:
    """``value`` with every lone surrogate replaced by U+FFFD, so that it can be written as UTF-8."""
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_mended(k): _mended(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mended(v) for v in value]
    return value


def _kind(value: object) -> str:
    return {list: "list", str: "string", bool: "boolean", type(None): "null"}.get(type(value), "number")


def jsonl_lines(path: Path | str, *, blank_lines: bool = False, reads: Collection[str] | None = None,
                ) -> Iterator[tuple[int, dict | None, str | None]]:
    """``(line number, object or None, problem or None)`` for each line of a JSONL file (UTF-8, a
    byte-order mark allowed). Blank lines are skipped, or with ``blank_lines`` reported as a
    problem ("empty line"), for a batch that must answer every line. A line that is not UTF-8 is
    that line's problem, so the one bad row is named and a batch answers the others. ``reads``: the
    keys the caller uses, as for ``parse_object`` (None: the whole object)."""
    path = Path(path)
    if path.is_dir():
        raise InputError(path, "is a folder, not a file")
    if not path.is_file():
        raise InputError(path, "no such file")
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, 1):
            if number == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8):]
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield number, None, (f"invalid UTF-8 (byte 0x{raw[exc.start]:02x} at byte {exc.start + 1} of the "
                                     "line); re-save the file as UTF-8")
                continue
            if not line.strip():
                if blank_lines:
                    yield number, None, "empty line"
                continue
            record, problem = parse_object(line.rstrip(), reads)  # with its "\n", an unclosed object's column was 1
            yield number, record, problem


def read_jsonl(path: Path | str) -> Iterator[dict]:
    """The objects of a JSONL file, blank lines skipped; the first bad line is an ``InputError``
    naming the file and the line."""
    for number, record, problem in jsonl_lines(path):
        if record is None:
            raise InputError(path, problem or "not a JSON object", row=number)
        yield record


@dataclass(frozen=True)
class DelimitedRecord:
    """One record of a CSV or TSV text: the lines it spans (1-based) and its fields, or the csv
    module's error when it could not be parsed."""

    first: int
    last: int
    fields: list[str] | None
    error: str | None = None


class _Tap:
    """The lines handed to csv.reader, kept until the record they make up is done."""

    def __init__(self, lines: Iterable[str]) -> None:
        self._lines = iter(lines)
        self.taken: list[str] = []
        self.count = 0

    def __iter__(self) -> _Tap:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.taken.append(line)
        self.count += 1
        return line


def delimited_records(lines: Iterable[str], delimiter: str) -> Iterator[DelimitedRecord]:
    """The records of CSV (``","``) or TSV (``"\\t"``) text, the header first, each with the lines it
    spans, so that no line goes unnamed. ``lines`` as a file opened with ``newline=""`` gives them.

    Both are read with CSV quoting, strictly (an unclosed quote is an error, not the rest of the file
    read into one field). A TSV comes two ways: quoted like a CSV (the CheckThat! 2020 files:
    ``"He said ""no"" to it"``, a quoted field may span lines) or plain, each line a row and a quote
    only a character (CheckThat! 2022; a tweet that starts ``"Fake news" is``). A TSV record that does
    not parse with quoting, or that spans lines of which a later non-blank one alone has the header's
    number of fields, is therefore read as plain lines: one record per line, split at tabs. Without this
    the quote opened by such a tweet took the next rows into its record, and they were lost with it.

    A one-column TSV cannot be told that way (every line has the header's one field): ``"a`` over a
    line and ``b"`` is a quoted field over two lines (pandas writes one so) or two plain rows with a
    stray quote each. It is read quoted, a field over lines kept as one record, unless the file shows
    that it is plain: a quote that CSV quoting does not allow (a row that does not parse with quoting,
    or a row of one line with a quote that does not open it, ``He said "no"``), in its first
    ``_STYLE_SAMPLE_LINES`` lines or in any row before. Once shown, later spans are read plain."""
    source: Iterator[str] = iter(lines)
    plain = delimiter == "\t"
    one_column_plain = False  # whether a one-column TSV has shown that it is plain (``_shows_plain``)
    if plain:
        # only a one-column file needs the look-ahead; a wider one is read as it comes
        sample = list(islice(source, 1))
        if sample and len(_plain_fields(sample[0], delimiter)) == 1:
            sample += islice(source, _STYLE_SAMPLE_LINES - 1)
        one_column_plain = _one_column_sample_is_plain(sample, delimiter)
        source = chain(sample, source)
    tap = _Tap(source)
    reader = csv.reader(tap, delimiter=delimiter, strict=True)
    width: int | None = None  # the header's
    while True:
        tap.taken.clear()
        first = tap.count + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if plain and width is not None:
                one_column_plain = one_column_plain or width == 1
                yield from _plain_records(tap.taken, first, delimiter)
            else:
                yield DelimitedRecord(first, tap.count, None, str(exc))
            continue
        if plain and width == 1 and not one_column_plain:
            one_column_plain = _shows_plain(tap.taken)
            if tap.count > first and not one_column_plain:
                yield DelimitedRecord(first, tap.count, fields)  # a quoted field over lines: one record
                continue
        if plain and width is not None and tap.count > first and _plain_rows_inside(tap.taken, width, delimiter):
            yield from _plain_records(tap.taken, first, delimiter)
            continue
        if width is None:
            width = len(fields)
        yield DelimitedRecord(first, tap.count, fields)


def read_tsv_rows(path: Path | str) -> list[dict[str, str]]:
    """The rows of a TSV file with a header, as dicts, read by ``delimited_records``: quoted fields
    (``"He said ""no"" to it"``, as pandas writes them) come back unquoted, plain rows as they are.
    A record that cannot be read, or a row wider than the header, is an ``InputError`` naming its
    lines; a narrower row gets empty strings for the missing fields (as ``csv.DictReader`` does)."""
    path = Path(path)
    with open(path, encoding="utf-8", newline="") as handle:
        records = delimited_records(handle, "\t")
        header = next(records, None)
        if header is None:
            return []
        if header.fields is None:
            raise InputError(path, f"line {header.first}: the header cannot be read ({header.error})")
        names = header.fields
        rows = []
        for record in records:
            where = f"line {record.first}" if record.first == record.last else f"lines {record.first}-{record.last}"
            if record.fields is None:
                raise InputError(path, f"{where}: {record.error}")
            if not record.fields:
                continue  # a blank line
            if len(record.fields) > len(names):
                raise InputError(path, f"{where}: {len(record.fields)} fields where the header has {len(names)}")
            rows.append(dict(zip(names, record.fields + [""] * (len(names) - len(record.fields)))))
        return rows


# How many lines of a TSV are looked at before its first record, to tell whether a one-column file is
# written plain or quoted (``delimited_records``).
_STYLE_SAMPLE_LINES = 1000


def _shows_plain(lines: list[str]) -> bool:
    """Whether a record of one line that parsed with quoting shows a plain one-column file: a quote
    that does not open the line is a character of a plain row (CSV quoting would have quoted the
    field, ``"He said ""no"" to it"``)."""
    return len(lines) == 1 and '"' in lines[0] and not lines[0].startswith('"')


def _one_column_sample_is_plain(sample: list[str], delimiter: str) -> bool:
    """Whether the first lines of a TSV show a one-column file to be plain: a record that does not
    parse with quoting, ``"Fake news" is``, or ``_shows_plain``. A quote still open where the lines
    end says nothing (the sample may end inside a field over lines)."""
    if not sample or len(_plain_fields(sample[0], delimiter)) != 1 or '"' in sample[0]:
        return False  # not one column, or a quoted header: its rows show it as they come (``_shows_plain``)
    tap = _Tap(sample[1:])
    reader = csv.reader(tap, delimiter=delimiter, strict=True)
    while True:
        tap.taken.clear()
        try:
            next(reader)
        except StopIteration:
            return False
        except csv.Error as exc:
            return "unexpected end of data" not in str(exc)
        if _shows_plain(tap.taken):
            return True


def _plain_rows_inside(lines: list[str], width: int, delimiter: str) -> bool:
    """Whether a quoted TSV record over ``lines`` took in rows of a plain TSV: a later line that alone
    has the header's number of fields is a row of its own, not the rest of a field (in a 2020 file the
    line that closes a field over lines carries only that field's end and the fields after it). Blank
    lines say nothing either way: a plain file may have them between rows, a quoted field inside it.
    A one-column file cannot tell the two apart (every line has one field): ``delimited_records`` reads
    its spans quoted unless the file has shown that it is plain."""
    return any(len(_plain_fields(line, delimiter)) == width for line in lines[1:] if line.strip("\r\n"))


def _plain_records(lines: list[str], first: int, delimiter: str) -> Iterator[DelimitedRecord]:
    for number, line in enumerate(lines, first):
        yield DelimitedRecord(number, number, _plain_fields(line, delimiter))


def _plain_fields(line: str, delimiter: str) -> list[str]:
    """A line split at ``delimiter``, quotes kept as characters; a blank line has no fields, as for csv."""
    line = line.rstrip("\r\n")
    return line.split(delimiter) if line else []


def jsonl_text(rows: Iterable[dict], *, sort_keys: bool = False, ensure_ascii: bool = False) -> str:
    """One JSON object per line (non-ASCII kept as is unless ``ensure_ascii``)."""
    return "".join(json.dumps(row, ensure_ascii=ensure_ascii, sort_keys=sort_keys) + "\n" for row in rows)


def write_jsonl(path: Path | str, rows: Iterable[dict], *, sort_keys: bool = False, ensure_ascii: bool = False) -> Path:
    """Write ``rows`` as JSONL atomically (``atomic_write_text``)."""
    return atomic_write_text(path, jsonl_text(rows, sort_keys=sort_keys, ensure_ascii=ensure_ascii))


def atomic_write_text(path: Path | str, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file in the same folder and one rename."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: Path | str, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and one rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def sha256_file(path: Path | str, length: int | None = None) -> str:
    """SHA-256 of a file, or of its first ``length`` bytes."""
    digest = hashlib.sha256()
    left = -1 if length is None else length
    with open(path, "rb") as handle:
        while left != 0:
            block = handle.read(1 << 20 if left < 0 else min(left, 1 << 20))
            if not block:
                break
            digest.update(block)
            left = left - len(block) if left > 0 else left
    return digest.hexdigest()


def read_only_sqlite(path: Path | str, timeout: float = 5.0) -> sqlite3.Connection:
    """A read-only connection to an SQLite file. The path goes in as a percent-encoded URI
    (``as_uri``): pasted into ``file:...?mode=ro``, a `#`, `?` or `%` in a folder's name would open
    (and create) another file."""
    return sqlite3.connect(Path(path).resolve().as_uri() + "?mode=ro", uri=True, timeout=timeout)
