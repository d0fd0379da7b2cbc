"""Streaming readers for dumps of social posts: JSONL, CSV, Parquet and raw tweet-object JSONL.

A reader yields one ``PostRecord`` per input row, in input order, never holding more than one
row (or one Parquet record batch) in memory. A row that cannot be scored is not dropped: it is
yielded with ``reason`` set, so the caller can write it to the rejected file and keep the count
``read = scored + rejected`` exact.

``line`` is the 1-based position of the row in the file: the physical line for JSONL, the line a
record starts on for CSV (the header is line 1), the row number for Parquet, the position in the
array (1 for its first element) for a ``.json`` file holding a JSON array of objects (read whole:
up to ``MAX_JSON_ARRAY_CHARS``).

Problems with the whole file (empty, not what its extension says, no text column, UTF-16 or
UTF-32 text) raise ``InputError`` before any row is yielded.

An id becomes text (``post_id_text``): a JSON ``true``, object, array, ``NaN`` or null is no id (the row
is scored, its id counted as missing); an integral floating-point id (Parquet, or pandas'
``12.0`` in a CSV) is written as the integer it is where that is exact (below 2**53), else as read, with
one warning for the file.
"""
from __future__ import annotations

import csv
import gzip
import io
import json
import math
import os
import re
import sys
import zlib
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from pipeline.core.errors import InputError
from pipeline.core.io import delimited_records, loads_noting_repeats, parse_object

# Imported where used, not here (slow to load; most callers of this module never need them): pyarrow.

DEFAULT_MAX_CHARS = 10_000
GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"
# A sniffed block of JSONL or CSV that holds one of these is binary, not text.
_BINARY_MARKERS = (b"\x00",)
_JSONL_PROBE_LINES = 20
_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")
# A .json file holding one JSON array of objects is read whole (json cannot stream it); a larger one is refused.
MAX_JSON_ARRAY_CHARS = 256 << 20
_JSON_SPACE = re.compile(r"[ \t\n\r]*")
# Byte-order marks of the encodings a text editor or pandas may write instead of UTF-8 (UTF-32 before UTF-16:
# the UTF-32-LE mark starts with the UTF-16-LE one).
_WIDE_BOMS = ((b"\xff\xfe\x00\x00", "UTF-32"), (b"\x00\x00\xfe\xff", "UTF-32"),
              (b"\xff\xfe", "UTF-16"), (b"\xfe\xff", "UTF-16"))
# Floating-point ids are exact below this; above it, an id read as a double has lost digits.
EXACT_FLOAT_IDS = 2 ** 53
# What pandas writes for an integer id in a float column: ``12.0``; ``1.3593509433561743e+18`` where it is large.
_INTEGRAL_FLOAT_TEXT = re.compile(r"-?[0-9]+\.0+")
_EXPONENT_FLOAT_TEXT = re.compile(r"-?[0-9]+(?:\.[0-9]+)?[eE]\+?[0-9]+")


@dataclass(frozen=True)
class PostRecord:
    line: int
    post_id: str | None
    text: str | None
    reason: str | None = None  # set when the row is rejected

    @property
    def accepted(self) -> bool:
        return self.reason is None


def detect_format(path: Path) -> str:
    """``jsonl``, ``csv`` or ``parquet`` from the file name; ``.gz`` is looked through."""
    name = path.name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    for suffix, kind in ((".jsonl", "jsonl"), (".ndjson", "jsonl"), (".json", "jsonl"),
                         (".csv", "csv"), (".tsv", "csv"), (".parquet", "parquet"), (".pq", "parquet")):
        if name.endswith(suffix):
            return kind
    raise InputError(path, "unknown input format: name it .jsonl, .csv, .tsv or .parquet (optionally .gz)")


class PostReader:
    """Iterate the rows of one input file as ``PostRecord``s.

    ``progress()`` reports ``(done, total)`` in bytes of the file on disk (rows for Parquet), so
    a progress bar can show an ETA without a first pass over the file.
    """

    def __init__(self, path: str | os.PathLike, text_column: str = "text", id_column: str = "id",
                 max_chars: int = DEFAULT_MAX_CHARS, batch_rows: int = 1024) -> None:
        self.path = Path(path)
        self.text_column = text_column
        self.id_column = id_column
        self.max_chars = max_chars
        self.batch_rows = batch_rows
        self.format = detect_format(self.path)
        self._raw: io.BufferedReader | None = None
        self._rows_done = 0
        self._rows_total = 0
        self._json_array = False  # a .json file holding one JSON array (``_iter_json_array``)
        # Said once per file, on stderr as found (and kept here): ids that lost digits as floating-point numbers.
        self.warnings: list[str] = []

    # -- whole-file checks -------------------------------------------------------------------
    def _check_file(self) -> bool:
        """Raise for a file that is missing, empty or not what its name says; return gzipped."""
        if not self.path.exists():
            raise InputError(self.path, "no such file")
        if self.path.is_dir():
            raise InputError(self.path, "is a directory, not a file")
        try:
            size = self.path.stat().st_size
            with open(self.path, "rb") as handle:
                head = handle.read(4)
        except OSError as exc:
            raise InputError(self.path, f"cannot read the file: {exc.strerror or exc}") from None
        if size == 0:
            raise InputError(self.path, "the file is empty: nothing to score")
        gzipped = head[:2] == GZIP_MAGIC
        if self.format == "parquet":
            if head != PARQUET_MAGIC:
                raise InputError(self.path, "not a Parquet file (no PAR1 header) although its name ends in .parquet")
            return False
        if self.path.name.lower().endswith(".gz") and not gzipped:
            raise InputError(self.path, "name ends in .gz but the file is not gzip-compressed")
        if head == PARQUET_MAGIC:
            raise InputError(self.path, f"this is a Parquet file, not {self.format.upper()}: rename it to .parquet")
        return gzipped

    def _open_text(self, gzipped: bool) -> io.TextIOBase:
        self._raw = open(self.path, "rb")
        stream = gzip.GzipFile(fileobj=self._raw, mode="rb") if gzipped else self._raw
        # utf-8-sig: Excel's "CSV UTF-8" starts with a byte-order mark. surrogateescape: a byte
        # that is not UTF-8 becomes a lone surrogate, so only the row holding it is rejected.
        return io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")

    def progress(self) -> tuple[int, int]:
        if self.format == "parquet" or self._json_array:
            return self._rows_done, self._rows_total
        if self._raw is None or self._raw.closed:
            return 0, 0
        try:
            return self._raw.tell(), os.fstat(self._raw.fileno()).st_size
        except (OSError, ValueError):
            return 0, 0

    # -- one row ---------------------------------------------------------------------------
    def _validate(self, line: int, post_id: object, text: object, has_text: bool) -> PostRecord:
        if _lost_digits(post_id):
            self._warn_lost_digits()
        return validate_post(line, post_id, text, has_text, self.max_chars, self.text_column)

    def _warn_lost_digits(self) -> None:
        """Once per file: a floating-point id column, where ids over 2**53 have lost digits."""
        if not self.warnings:
            self._warn(f"the id column `{self.id_column}` holds floating-point numbers: ids over 2**53 have lost "
                       "digits (write ids as text)")

    def _warn(self, problem: str) -> None:
        message = f"warning: {self.path}: {problem}"
        self.warnings.append(message)
        print(message, file=sys.stderr)

    def __iter__(self) -> Iterator[PostRecord]:
        gzipped = self._check_file()
        if self.format == "jsonl":
            yield from self._iter_jsonl(gzipped)
        elif self.format == "csv":
            yield from self._iter_csv(gzipped)
        else:
            yield from self._iter_parquet()

    # -- JSONL ---------------------------------------------------------------------------------
    def _read_keys(self, obj: dict) -> tuple[str, str]:
        """The keys _text_and_id takes from ``obj``: half an emoji elsewhere is no problem of the row."""
        text_key = "full_text" if self.text_column == "text" and "full_text" in obj else self.text_column
        return text_key, "id_str" if self.id_column == "id" and "id_str" in obj else self.id_column

    def _text_and_id(self, obj: dict) -> tuple[bool, object, object]:
        """Raw tweet objects carry ``full_text`` (extended mode) or ``text`` and ``id_str``."""
        if self.text_column in obj:
            has_text, text = True, obj[self.text_column]
            if self.text_column == "text" and "full_text" in obj:
                text = obj["full_text"]
        elif self.text_column == "text" and "full_text" in obj:
            has_text, text = True, obj["full_text"]
        else:
            has_text, text = False, None
        if self.id_column == "id" and "id_str" in obj:
            post_id = obj["id_str"]  # the numeric id loses digits in JSON readers that use doubles
        else:
            post_id = obj.get(self.id_column)
        return has_text, text, post_id

    def _intact_id(self, row: str) -> str | None:
        """The id of a JSONL row rejected for bytes that are not UTF-8 or for half an escaped emoji, so
        that its rejected record names the post: read from the row as JSON (the bad bytes stay escaped
        in a string), and only where the id itself holds none of them. None for a row that is not a
        JSON object."""
        try:
            obj, repeated = loads_noting_repeats(row)
        except ValueError:
            return None
        if not isinstance(obj, dict) or {self.id_column, "id_str"} & set(repeated):
            return None  # an id given twice names no one post
        pid = post_id_text(self._text_and_id(obj)[2])
        if pid is None or invalid_utf8(pid):
            return None
        try:
            pid.encode("utf-8")  # half a UTF-16 pair cannot be written
        except UnicodeEncodeError:
            return None
        return pid

    def _sniff(self, gzipped: bool) -> bytes:
        """The first 64 KiB of the decompressed content, to recognise a file that is not text."""
        try:
            with open(self.path, "rb") as raw:
                stream = gzip.GzipFile(fileobj=raw, mode="rb") if gzipped else raw
                head = stream.read(1 << 16)
        except (gzip.BadGzipFile, EOFError, OSError, zlib.error) as exc:
            raise InputError(self.path, f"cannot read the file: {exc}") from None
        if not head.strip():
            raise InputError(self.path, "the file holds no data (only whitespace): nothing to score")
        if head[:4] == PARQUET_MAGIC:
            raise InputError(self.path, f"this is Parquet, not {self.format.upper()}: rename it to .parquet")
        wide = _wide_encoding(head)
        if wide:  # else "binary data" below: UTF-16 holds a NUL in every other byte of ASCII text
            raise InputError(self.path, f"the file is {wide} encoded: re-save it as UTF-8")
        if any(marker in head for marker in _BINARY_MARKERS):
            raise InputError(self.path, f"binary data in a file named as {self.format.upper()}: is it really text?")
        if self.format == "jsonl":
            if self._names_json() and head.removeprefix(b"\xef\xbb\xbf").lstrip()[:1] == b"[":
                self._json_array = True  # one JSON array, not lines: checked as it is read (_iter_json_array)
                return head
            probe = [line for line in head.split(b"\n")[:-1] if line.strip()][:_JSONL_PROBE_LINES]
            if len(head) < (1 << 16):
                probe = [line for line in head.split(b"\n") if line.strip()][:_JSONL_PROBE_LINES]
            if probe and not any(_is_json(line) for line in probe):
                raise InputError(self.path, f"not JSONL: none of the first {len(probe)} lines is JSON")
            self._refuse_missing_fields([obj for obj in (_json_object(line) for line in probe) if obj is not None])
        return head

    def _names_json(self) -> bool:
        return self.path.name.lower().removesuffix(".gz").endswith(".json")

    def _refuse_missing_fields(self, objects: list[dict], what: str = "rows") -> None:
        """Where none of the first rows that are JSON objects has the text field (or ``full_text``
        for the default ``text``), every row would be rejected, after the models loaded and the
        whole file was read: refused up front, as a CSV header without the column is. The id field
        likewise (``_refuse_missing_id``)."""
        if not objects:
            return
        fields = list(dict.fromkeys(key for obj in objects for key in obj))
        where = f" in the first {len(objects)} {what}"
        if not any(self._read_keys(obj)[0] in obj for obj in objects):
            raise InputError(self.path, f"no '{self.text_column}' column{where} (columns: {', '.join(fields)}); "
                                        "choose one with --text-column")
        if not any(self.id_column in obj for obj in objects):
            self._refuse_missing_id(fields, where)

    def _refuse_missing_id(self, columns: list[str], where: str = "") -> None:
        """A named --id-column that the file lacks made every post_id null, silently. The default
        ``id`` may be absent (posts without ids); any other name is a choice, so it must exist."""
        if self.id_column == "id" or self.id_column in columns:
            return
        raise InputError(self.path, f"no '{self.id_column}' column{where} (columns: {', '.join(columns)}); "
                                    "choose the id with --id-column")

    def _object_record(self, number: int, row: str, what: str = "line") -> PostRecord:
        """The record of one JSON object: a JSONL line, or an element of a JSON array."""
        problem = invalid_utf8(row)
        if problem:
            return PostRecord(number, self._intact_id(row), None, problem)
        obj, problem = parse_object(row, reads=self._read_keys)
        if obj is None:
            problem = problem or "not a JSON object"
            return PostRecord(number, self._intact_id(row), None,
                              problem if what == "line" else problem.replace("line is", f"{what} is"))
        has_text, text, post_id = self._text_and_id(obj)
        return self._validate(number, post_id, text, has_text)

    def _iter_jsonl(self, gzipped: bool) -> Iterator[PostRecord]:
        self._sniff(gzipped)
        if self._json_array:
            yield from self._iter_json_array(gzipped)
            return
        try:
            with self._open_text(gzipped) as handle:
                for number, raw in enumerate(_lines(handle), start=1):
                    stripped = raw.strip()
                    if not stripped:
                        yield PostRecord(number, None, None, "blank line")
                        continue
                    yield self._object_record(number, stripped)
        except UnicodeDecodeError as exc:
            raise InputError(self.path, f"not UTF-8 text ({exc.reason}): is it really JSONL?") from None
        except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
            raise InputError(self.path, f"cannot read the file: {exc}") from None

    def _iter_json_array(self, gzipped: bool) -> Iterator[PostRecord]:
        """A ``.json`` file holding one JSON array (``[{"id": …, "text": …}, …]``, on one line or
        pretty-printed): each element is a row, ``line`` its position in the array (1 for the first).
        Read whole, up to ``MAX_JSON_ARRAY_CHARS``: a larger one is refused with the command that
        turns it into JSON Lines. An array that is not valid JSON is refused before any row is
        yielded; an element that is not an object is rejected alone, as a JSONL line is."""
        try:
            with self._open_text(gzipped) as handle:
                text = handle.read(MAX_JSON_ARRAY_CHARS + 1)
        except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
            raise InputError(self.path, f"cannot read the file: {exc}") from None
        convert = "convert it to JSON Lines with `jq -c '.[]'`"
        if len(text) > MAX_JSON_ARRAY_CHARS:
            raise InputError(self.path, f"is a JSON array over {MAX_JSON_ARRAY_CHARS >> 20} MiB, too large to read "
                                        f"whole, not JSON Lines: {convert}")
        spans = _array_spans(self.path, text, convert)
        if not spans:
            raise InputError(self.path, "the JSON array is empty: nothing to score")
        probe = [_json_object(text[spans[i]:spans[i + 1]]) for i in range(0, min(len(spans), 2 * _JSONL_PROBE_LINES), 2)]
        self._refuse_missing_fields([obj for obj in probe if obj is not None], "elements of the JSON array")
        self._rows_total = len(spans) // 2
        for number in range(1, self._rows_total + 1):
            self._rows_done = number
            start, end = spans[2 * number - 2], spans[2 * number - 1]
            yield self._object_record(number, text[start:end], "array element")

    # -- CSV -----------------------------------------------------------------------------------
    def _iter_csv(self, gzipped: bool) -> Iterator[PostRecord]:
        self._sniff(gzipped)
        delimiter = "\t" if self.path.name.lower().removesuffix(".gz").endswith(".tsv") else ","
        csv.field_size_limit(max(self.max_chars * 4, 1 << 20))
        try:
            with self._open_text(gzipped) as handle:
                # strict: an unclosed quote ends in an error at the end of the file; without it, every
                # line after the quote was silently read into that one record's text
                records = delimited_records(handle, delimiter)
                head = next(records, None)
                if head is None or head.fields is None:
                    raise InputError(self.path, f"unreadable header ({head.error if head else 'no lines'})", row=1)
                header = head.fields
                if self.text_column not in header:
                    raise InputError(self.path, f"no '{self.text_column}' column (columns: {', '.join(header)}); "
                                     "choose one with --text-column", row=1)
                # Only a column score reads is ambiguous (csv.reader takes the first, ingest the
                # last); a repeated column it never reads (`note,note`) leaves the file as readable as before
                used = (self.text_column, self.id_column)
                repeated = next((name for i, name in enumerate(header) if name in used and name in header[:i]), None)
                if repeated is not None:
                    raise InputError(self.path, f"the column '{repeated}' appears twice in the header; "
                                                "rename or remove one", row=1)
                self._refuse_missing_id(header)
                text_at = header.index(self.text_column)
                id_at = header.index(self.id_column) if self.id_column in header else None
                for record in records:
                    start, fields = record.first, record.fields
                    # the lines a bad record took in are named: they are rows lost with it
                    swallowed = (f"lines {start}-{record.last} were read as this one record, not as rows"
                                 if record.last > start else "")
                    if fields is None:
                        if "unexpected end of data" in str(record.error):
                            yield PostRecord(start, None, None, "a quote opened in this record is not closed by the "
                                             f"end of the file{': ' + swallowed if swallowed else ''}; close the "
                                             "quote and score the file again")
                        else:
                            yield PostRecord(start, None, None, f"unparseable CSV record: {record.error}"
                                             + (f"; {swallowed}" if swallowed else ""))
                        continue
                    if not fields:
                        yield PostRecord(start, None, None, "blank line")
                        continue
                    post_id = fields[id_at] if id_at is not None and id_at < len(fields) else None
                    if post_id and post_id[-1].isdigit():
                        post_id = self._csv_float_id(post_id)
                    problem = invalid_utf8(delimiter.join(fields))
                    if problem:
                        yield PostRecord(start, None if invalid_utf8(post_id or "") else post_id, None, problem)
                        continue
                    if len(fields) != len(header):
                        yield PostRecord(start, post_id, None, f"record has {len(fields)} fields, the header has "
                                                               f"{len(header)}" + (f"; {swallowed}" if swallowed else ""))
                        continue
                    yield self._validate(start, post_id, fields[text_at], True)
        except UnicodeDecodeError as exc:
            raise InputError(self.path, f"not UTF-8 text ({exc.reason}): is it really CSV?") from None
        except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
            raise InputError(self.path, f"cannot read the file: {exc}") from None

    def _csv_float_id(self, cell: str) -> str:
        """An id cell as pandas writes a float column: ``12.0`` is ``12``; ``1.3593509433561743e+18`` (or
        ``9007199254740993.0``) is kept, with one warning for the file, as its digits are lost."""
        if _INTEGRAL_FLOAT_TEXT.fullmatch(cell):
            whole = cell.split(".", 1)[0]
            if abs(int(whole)) < EXACT_FLOAT_IDS:
                return whole
        elif not _EXPONENT_FLOAT_TEXT.fullmatch(cell) or abs(float(cell)) < EXACT_FLOAT_IDS:
            return cell
        self._warn_lost_digits()
        return cell

    # -- Parquet -------------------------------------------------------------------------------
    def _iter_parquet(self) -> Iterator[PostRecord]:
        import pyarrow.parquet as pq

        try:
            parquet = pq.ParquetFile(self.path)
        except Exception as exc:  # pyarrow raises ArrowInvalid and friends for a corrupt file
            raise InputError(self.path, f"not a readable Parquet file: {exc}") from None
        names = parquet.schema_arrow.names
        # pyarrow refuses to pick one of two same-named columns with a KeyError, a traceback; a repeated
        # column score never reads is harmless, as in a CSV header
        repeated = next((name for name in (self.text_column, self.id_column) if names.count(name) > 1), None)
        if repeated is not None:
            raise InputError(self.path, f"the column '{repeated}' appears twice in the Parquet schema; "
                                        "rename or remove one")
        if self.text_column not in names:
            raise InputError(self.path, f"no '{self.text_column}' column (columns: {', '.join(names)}); "
                             "choose one with --text-column")
        self._refuse_missing_id(names)
        columns = [self.text_column] + ([self.id_column] if self.id_column in names else [])
        self._rows_total = parquet.metadata.num_rows
        number = 0
        batches = parquet.iter_batches(batch_size=self.batch_rows, columns=columns)
        while True:
            try:
                batch = next(batches, None)
            except Exception as exc:  # a damaged page or column chunk: pyarrow raises OSError, ArrowInvalid…
                detail = " ".join(str(exc).split())  # pyarrow's messages span lines; the error is one
                raise InputError(self.path, f"damaged Parquet data, cannot read on from this row ({detail})",
                                 row=number + 1) from None
            if batch is None:
                break
            texts = batch.column(self.text_column).to_pylist()
            ids = batch.column(self.id_column).to_pylist() if self.id_column in columns else [None] * len(texts)
            for text, post_id in zip(texts, ids):
                number += 1
                self._rows_done = number
                yield self._validate(number, post_id, text, True)
        if number == 0:
            raise InputError(self.path, "the Parquet file has no rows: nothing to score")


def validate_post(line: int, post_id: object, text: object, has_text: bool = True,
                  max_chars: int = DEFAULT_MAX_CHARS, text_column: str = "text") -> PostRecord:
    """The row as a record, rejected (``reason`` set) when its text cannot be scored."""
    pid = post_id_text(post_id)
    if not has_text:
        return PostRecord(line, pid, None, f"no '{text_column}' field")
    if text is None:
        return PostRecord(line, pid, None, "text is null")
    if not isinstance(text, str):
        return PostRecord(line, pid, None, f"text is {type(text).__name__}, not a string")
    if not text.strip():
        return PostRecord(line, pid, None, "text is empty")
    if len(text) > max_chars:
        return PostRecord(line, pid, None, f"text has {len(text):,} characters, over the limit of {max_chars:,}")
    return PostRecord(line, pid, text)


def post_id_text(post_id: object) -> str | None:
    """An input's id as the output's ``post_id``. None (no id: counted as missing) for null, ``NaN``
    or an infinity, and for a value that is no id (``true``, an object, an array): ``str()`` made
    them ``"True"``, ``"{'x': 1}"`` and ``"nan"``, ids that no input holds. An integral float
    (Parquet's column for integer ids with a gap, JSON ``12.0``) is the integer where that is
    exact (below 2**53): ``"12"``, not ``"12.0"``; a larger one is kept as read (``_lost_digits``)."""
    if post_id is None or isinstance(post_id, (bool, dict, list, tuple, set)) or type(post_id).__name__ == "bool_":
        return None
    if isinstance(post_id, float):
        if not math.isfinite(post_id):
            return None
        if post_id.is_integer() and abs(post_id) < EXACT_FLOAT_IDS:
            return str(int(post_id))
    return str(post_id)


def _lost_digits(post_id: object) -> bool:
    """An id read as a floating-point number too large to hold every integer: its digits are lost."""
    return isinstance(post_id, float) and math.isfinite(post_id) and abs(post_id) >= EXACT_FLOAT_IDS


def _wide_encoding(head: bytes) -> str | None:
    """``UTF-16`` or ``UTF-32`` for text that starts with their byte-order mark, or that is UTF-16
    without one (a NUL in every other byte, and in no other, as ASCII text in UTF-16 has); else None."""
    for bom, name in _WIDE_BOMS:
        if head.startswith(bom):
            return name
    sample = head[:1024]
    sample = sample[:len(sample) - len(sample) % 2]
    if len(sample) < 8:
        return None
    for nuls, others in ((sample[1::2], sample[0::2]), (sample[0::2], sample[1::2])):
        if nuls.count(0) >= 0.9 * len(nuls) and others.count(0) == 0:
            return "UTF-16"
    return None


def _skip_space(text: str, at: int) -> int:
    """Where the JSON whitespace from ``at`` ends."""
    space = _JSON_SPACE.match(text, at)
    return space.end() if space else at


def _array_spans(path: Path, text: str, convert: str) -> array:
    """Where each element of the JSON array ``text`` starts and ends (flat: start, end, start, end…);
    an ``InputError`` naming where the array stops being JSON."""
    decoder = json.JSONDecoder(strict=False)  # a raw control character is the element's problem (parse_object)
    spans = array("q")
    at = _skip_space(text, 0)

    def refuse(problem: str, where: int) -> InputError:
        line = text.count("\n", 0, where) + 1
        column = where - text.rfind("\n", 0, where)
        return InputError(path, f"is a JSON array, but not valid JSON ({problem} at line {line}, column {column}); "
                                f"fix it, or {convert}")

    if not text.startswith("[", at):
        raise refuse("expecting '['", at)
    at = _skip_space(text, at + 1)
    if text.startswith("]", at):
        at += 1
    else:
        while True:
            try:
                end = decoder.raw_decode(text, at)[1]
            except json.JSONDecodeError as exc:
                raise refuse(exc.msg, exc.pos) from None
            spans.extend((at, end))
            at = _skip_space(text, end)
            if text.startswith(",", at):
                at = _skip_space(text, at + 1)
            elif text.startswith("]", at):
                at += 1
                break
            else:
                raise refuse("expecting ',' or ']' after an element" if at < len(text) else "the array is not closed",
                             at)
    at = _skip_space(text, at)
    if at < len(text):
        raise refuse("more data after the array", at)
    return spans


def invalid_utf8(text: str) -> str | None:
    """The problem with a row read with ``errors="surrogateescape"`` that held bytes that are not
    UTF-8 (they come back as lone surrogates), or None."""
    found = _ESCAPED_BYTE.search(text)
    if found is None:
        return None
    return (f"invalid UTF-8 (byte 0x{ord(found.group()) - 0xDC00:02x} at character {found.start() + 1} of the "
            "row); re-save the file as UTF-8")


def _json_object(line: bytes | str) -> dict | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _is_json(line: bytes) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


def _lines(handle: io.TextIOBase) -> Iterator[str]:
    """Physical lines; only ``\\n`` ends a line, so a stray ``\\r`` or U+2028 inside a JSON
    string does not split a record (``TextIOWrapper`` with ``newline=""`` would split on them)."""
    pending = ""
    while True:
        block = handle.read(1 << 16)
        if not block:
            break
        pending += block
        *complete, pending = pending.split("\n")
        yield from complete
    if pending:
        yield pending
