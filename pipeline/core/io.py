"""File I/O shared by every stage: one reading of a JSONL line (so that each reader names the same
problems the same way), one JSONL writer, atomic text writes and file hashes.

The caller of ``parse_object`` decides whether a bad line is an error, a rejected row or a problem
collected with the others; ``read_jsonl`` is the strict reader: the first bad line is an
``InputError`` naming the file and the line."""
from __future__ import annotations

import codecs
import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Callable, Collection, Iterable, Iterator

from pipeline.core.errors import InputError

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def parse_object(line: str, reads: Collection[str] | Callable[[dict], Collection[str]] | None = None,
                 ) -> tuple[dict | None, str | None]:
    """``(object, None)`` for a line holding a JSON object, else ``(None, problem)``. ``reads`` names
    the top-level keys the caller uses (or computes them from the object); None means all of them."""
    try:
        value, repeated_keys = loads_noting_repeats(line)
    except ValueError as exc:
        column = f", column {exc.colno}" if hasattr(exc, "colno") else ""
        return None, f"not valid JSON ({getattr(exc, 'msg', exc)}{column})"
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
    repeats: list[list[str]] = []  # per object, innermost first: the top-level object is the last
    value = json.loads(line, object_pairs_hook=lambda pairs: _object_noting_repeats(pairs, repeats))
    return value, repeats[-1] if isinstance(value, dict) else []


def _object_noting_repeats(pairs: list[tuple[str, Any]], repeats: list[list[str]]) -> dict:
    """The object as ``json.loads`` makes it (the last of a repeated key wins); the keys it repeats
    are appended to ``repeats``."""
    value = dict(pairs)
    repeated: list[str] = []
    if len(value) < len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                repeated.append(key)
            seen.add(key)
    repeats.append(repeated)
    return value


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


def jsonl_lines(path: Path | str, *, blank_lines: bool = False) -> Iterator[tuple[int, dict | None, str | None]]:
    """``(line number, object or None, problem or None)`` for each line of a JSONL file (UTF-8, a
    byte-order mark allowed). Blank lines are skipped, or with ``blank_lines`` reported as a
    problem ("empty line"), for a batch that must answer every line. A line that is not UTF-8 is
    that line's problem, so the one bad row is named and a batch answers the others."""
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
            record, problem = parse_object(line.rstrip())  # with its "\n", an unclosed object's column was 1
            yield number, record, problem


def read_jsonl(path: Path | str) -> Iterator[dict]:
    """The objects of a JSONL file, blank lines skipped; the first bad line is an ``InputError``
    naming the file and the line."""
    for number, record, problem in jsonl_lines(path):
        if record is None:
            raise InputError(path, problem or "not a JSON object", row=number)
        yield record


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


def sha256_file(path: Path | str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
