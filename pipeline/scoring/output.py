"""The rows a scoring job writes (one per post, nested claims and evidence; one per rejected row), their
Parquet schema, the assembly of the checkpointed chunks into the output file, and the record of what
produced that file (``score_provenance``, read back by ``read_score_provenance``)."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Iterator

from pipeline import __version__
from pipeline.core.errors import UserError
from pipeline.core.io import sha256_file
from pipeline.scoring.checkpoint import atomic_write
from pipeline.scoring.posts import PostRecord
from pipeline.verdict.validation import claim_as_checked

# Imported where used, not here (slow to load; most callers of this module never need them): pyarrow.

ROW_GROUP_ROWS = 8192


# Fields of ``pipeline.factchecks.matcher.FactCheckMatch.to_dict()`` kept in the output.
FACT_CHECK_FIELDS = ("id", "claim", "rating", "verdict", "publisher", "url", "date", "similarity")


# The fields of an output row (``post_row``, ``output_schema``): part of a run's checkpoint
# configuration, so that a resume never joins parts written with other fields. Bump it when they change.
# 3: claims carry ``needs_review``, and their ``text`` is the claim as checked (``claim_as_checked``).
# 4: evidence carries ``document`` (the name in the store), and ``source`` is the document's source as ingested.
ROW_FIELDS_VERSION = 4

OUTPUT_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl"}

# The Parquet schema's key-value metadata key (and the JSONL sidecar's content) naming what produced the file.
PROVENANCE_KEY = "claimsift"
PROVENANCE_FORMAT = 1
# What identifies the rows a record was written with, so that it is not believed once they change.
# The record names how many rows it was written with (``output_rows``) and a SHA-256 of what holds
# them (``output_sha256``): of the whole file for JSONL (its sidecar also names ``output_bytes``);
# of a Parquet file's bytes before its footer (the data pages: the footer holds the record, so it
# cannot hash itself) under its own file key-value metadata key, added once the data is written.
# The row count is in the record itself (known before the data is written): a record that names
# one is only believed with a matching digest, so a rewrite that keeps the schema metadata but not
# that key (pandas, pyarrow) is not believed either.
#
# Why bytes, not the rows' values: a digest of the written bytes is computed while they are
# written and checked at disk speed, where a digest of the values (nested claims and evidence)
# would decode millions of rows on every read; hashing only the id and line columns would be
# cheap but would believe a file whose verdicts or scores were edited. The cost of bytes: a file
# re-encoded with the very same rows (read and written back by another tool) is not believed either.
# A record without these fields (written by an older claimsift) is read with the check it had.
OUTPUT_SHA256_KEY = "claimsift.output_sha256"
_CHECK_FIELDS = ("output_bytes", "output_rows", "output_sha256")


def _evidence_row(item: dict) -> dict:
    probs = item.get("stance_probs") or {}
    return {
        "doc_id": item.get("doc_id"), "document": item.get("document"), "source": item.get("source"),
        "title": item.get("title"),
        "published": item.get("published"), "url": item.get("url") or "", "sentence": item.get("sentence"),
        "start": item.get("start"), "end": item.get("end"), "stance": item.get("stance"),
        "p_supports": probs.get("SUPPORTS"), "p_refutes": probs.get("REFUTES"),
        "p_not_enough_info": probs.get("NOT_ENOUGH_INFO"), "score": item.get("score"),
        "decisive": bool(item.get("decisive", False)),
    }


def _claim_row(claim: dict) -> dict:
    """``needs_review``: the verdict is less confident than its model's review threshold (as
    ``check --json`` says); null for a claim not checked (``skipped``)."""
    needs_review = claim.get("needs_review")
    return {
        "text": claim_as_checked(claim["text"]), "start": claim.get("start"), "end": claim.get("end"),
        "checkworthiness": claim.get("checkworthiness"), "verdict": claim.get("verdict"),
        "confidence": claim.get("confidence"), "needs_review": None if needs_review is None else bool(needs_review),
        "skipped": claim.get("skipped"),
        "evidence": [_evidence_row(e) for e in claim.get("evidence", [])],
        "fact_checks": [{k: f.get(k) for k in FACT_CHECK_FIELDS} for f in claim.get("fact_checks", [])],
    }


def post_row(record: PostRecord, result: dict) -> dict:
    """One output row: the fixed schema of ``OUTPUT_SCHEMA``, whatever the scorer returned."""
    claims = [_claim_row(c) for c in result.get("claims", [])]
    return {"post_id": record.post_id, "line": record.line, "text": record.text,
            "checkworthiness": result.get("checkworthiness"), "checkworthy_domain": result.get("checkworthy_domain"),
            "n_claims": len(claims), "claims": claims}


def rejected_row(record: PostRecord, reason: str | None = None) -> dict:
    """A rejected file's row: the record's own reason, or ``reason`` where the scorer refused it."""
    return {"line": record.line, "post_id": record.post_id, "reason": reason or record.reason}


def chunk_outcomes(chunk: list[PostRecord], results: list[dict]) -> list[tuple[dict | None, dict | None]]:
    """Per record of a chunk, in order, its output row or its rejected row (the other None): the
    reader's rejections, and the scorer's (a result ``{"rejected": reason}``, e.g. a post in another
    language), so that every row read is written to one of the two files."""
    accepted = [r for r in chunk if r.accepted]
    if len(results) != len(accepted):
        raise RuntimeError(f"the scorer returned {len(results)} results for {len(accepted)} posts")
    scored = iter(results)
    out: list[tuple[dict | None, dict | None]] = []
    for record in chunk:
        result = next(scored) if record.accepted else None
        if result is None or result.get("rejected"):
            out.append((None, rejected_row(record, result.get("rejected") if result is not None else None)))
        else:
            out.append((post_row(record, result), None))
    return out


def output_schema():
    import pyarrow as pa

    evidence = pa.struct([("doc_id", pa.string()), ("document", pa.string()), ("source", pa.string()),
                          ("title", pa.string()),
                          ("published", pa.string()), ("url", pa.string()), ("sentence", pa.string()),
                          ("start", pa.int32()),
                          ("end", pa.int32()), ("stance", pa.string()), ("p_supports", pa.float64()),
                          ("p_refutes", pa.float64()), ("p_not_enough_info", pa.float64()),
                          ("score", pa.float64()), ("decisive", pa.bool_())])
    fact_check = pa.struct([(name, pa.float64() if name == "similarity" else pa.string())
                            for name in FACT_CHECK_FIELDS])
    claim = pa.struct([("text", pa.string()), ("start", pa.int32()), ("end", pa.int32()),
                       ("checkworthiness", pa.float64()), ("verdict", pa.string()), ("confidence", pa.float64()),
                       ("needs_review", pa.bool_()), ("skipped", pa.string()), ("evidence", pa.list_(evidence)),
                       ("fact_checks", pa.list_(fact_check))])
    return pa.schema([("post_id", pa.string()), ("line", pa.int64()), ("text", pa.string()),
                      ("checkworthiness", pa.float64()), ("checkworthy_domain", pa.string()), ("n_claims", pa.int32()),
                      ("claims", pa.list_(claim))])


def write_parquet_part(path: Path, rows: list[dict]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows, schema=output_schema()), path, compression="zstd")


def score_provenance(config: dict, post_ids: dict | None = None) -> dict:
    """What produced a scoring output, as recorded with it: the model versions pinned at job start by
    role (``models``), the store as pinned (``store``: its path, the build of its evidence index, the
    state of its documents and of its fact-check records, ``ModelScorer.pin_store``; null where not
    recorded: no index, fact-checks not matched, a run resumed from an older claimsift's checkpoint), the scorer's
    other settings (domain, stance and encoder backends, top-k, rule packs...), the input's fingerprint
    and the job's options, this claimsift's version and when the output was assembled (UTC). ``post_ids``
    (when given): how many rows of the output repeat an earlier row's id or have none, and the first repeat
    (``{"repeated", "missing", "first_repeat"}``), so whoever joins on post_id later is told it is no key.

    Built from ``config``, the job's checkpoint configuration (``manifest.json``): a resumed run's
    output records exactly what an uninterrupted run's does, ``created`` aside. The manifest itself
    is removed once the output is complete, so this is what names the models afterwards.
    """
    scorer = dict(config.get("scorer") or {})
    models = scorer.pop("models", None) or {}
    store = {"path": scorer.pop("store", None), "evidence_index": scorer.pop("evidence_index", None),
             "documents": scorer.pop("documents", None), "fact_check_records": scorer.pop("fact_check_records", None)}
    provenance = {"format": PROVENANCE_FORMAT, "claimsift_version": __version__,
                  "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                  "models": models, "store": store, "scorer": scorer, "input": config.get("input"),
                  "options": {k: config.get(k) for k in ("chunk_size", "text_column", "id_column", "max_chars")}}
    if post_ids is not None:
        provenance["post_ids"] = post_ids
    return provenance


def provenance_path(output: Path) -> Path:
    """The sidecar of a JSONL output (``OUT.meta.json``); a Parquet output carries its provenance inside."""
    return output.with_name(output.name + ".meta.json")


class _HashingSink:
    """A binary file that hashes (SHA-256) and counts what is written through it."""

    def __init__(self, handle) -> None:
        self.handle = handle
        self.digest = hashlib.sha256()
        self.bytes = 0

    def write(self, data) -> int:
        self.digest.update(data)
        self.bytes += memoryview(data).nbytes
        return self.handle.write(data)

    def tell(self) -> int:
        return self.bytes

    def flush(self) -> None:
        self.handle.flush()

    @property
    def closed(self) -> bool:
        return bool(self.handle.closed)


def _jsonl_identity(path: Path) -> dict:
    """``output_bytes``, ``output_rows`` and ``output_sha256`` of a JSONL file as it is on disk."""
    digest, size, rows = hashlib.sha256(), 0, 0
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
            rows += block.count(b"\n")
    return {"output_bytes": size, "output_rows": rows, "output_sha256": digest.hexdigest()}


def _parquet_data_end(path: Path) -> int | None:
    """Where a Parquet file's footer starts (its data pages lie before it); None for a file that
    does not end like a plain Parquet file (an encrypted footer, a truncated file)."""
    size = path.stat().st_size
    if size < 12:
        return None
    with open(path, "rb") as handle:
        handle.seek(size - 8)
        tail = handle.read(8)
    end = size - 8 - int.from_bytes(tail[:4], "little")
    return end if tail[4:] == b"PAR1" and 4 <= end else None


def write_provenance_sidecar(output: Path, provenance: dict, written: dict | None = None) -> None:
    """Write ``OUT.meta.json`` beside a finished JSONL output, atomically. It names the output's size,
    row count and SHA-256 (``written``, as ``assemble_jsonl`` reports them while writing; read from
    the file when not given), so a sidecar left beside a file that something else rewrote since,
    even to the same size, is not believed."""
    identity = written if written is not None else _jsonl_identity(output)
    text = json.dumps(provenance | {k: identity[k] for k in _CHECK_FIELDS}, indent=2, sort_keys=True)
    atomic_write(provenance_path(output), lambda tmp: tmp.write_text(text + "\n", encoding="utf-8"))


def read_score_provenance(path: Path | str) -> dict | None:
    """What produced a ``claimsift score`` output (``score_provenance``), Parquet or JSONL: the models by
    role, the store and evidence index, the scorer's settings, the input. None for a file that records
    none (written before outputs recorded it, or by something else), or whose record does not match
    its rows (``OUTPUT_SHA256_KEY``: the file was rewritten or edited since, even to the same size,
    even with its schema metadata kept). Checking that reads the file once (its data pages for
    Parquet), at disk speed. ``score_provenance_status`` also says which of the two a None is."""
    return score_provenance_status(path)[0]


def score_provenance_status(path: Path | str) -> tuple[dict | None, str]:
    """``(provenance, status)``: status ``recorded`` (the provenance of ``read_score_provenance``),
    ``none`` (the file records none) or ``mismatch`` (it records one that no longer describes its
    rows: edited or rewritten since it was scored)."""
    path = Path(path)
    file_metadata: dict = {}
    file_rows = None
    if output_format(path) == "parquet":
        import pyarrow.parquet as pq

        with pq.ParquetFile(path) as parquet:
            raw = (parquet.schema_arrow.metadata or {}).get(PROVENANCE_KEY.encode())
            file_metadata, file_rows = parquet.metadata.metadata or {}, parquet.metadata.num_rows
        where = f"{path} (schema metadata {PROVENANCE_KEY!r})"
    else:
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file")
        meta = provenance_path(path)
        raw = meta.read_bytes() if meta.is_file() else None
        where = str(meta)
    if raw is None:
        return None, "none"
    try:
        provenance = json.loads(raw)
    except ValueError:
        provenance = None
    if not isinstance(provenance, dict):
        raise UserError(f"{where}: the record of what produced the scores is not a JSON object")
    if not isinstance(provenance.get("format"), int) or provenance["format"] > PROVENANCE_FORMAT:
        raise UserError(f"{where}: the record of what produced the scores has format {provenance.get('format')!r}; "
                        f"this claimsift reads format {PROVENANCE_FORMAT} (written by a newer version?)")
    recorded = {k: provenance.pop(k, None) for k in _CHECK_FIELDS}
    if _matches(path, recorded, file_rows, file_metadata):
        return provenance, "recorded"
    return None, "mismatch"


def _matches(path: Path, recorded: dict, file_rows: int | None, file_metadata: dict) -> bool:
    """Whether the rows of ``path`` are those its record was written with (``recorded``: the
    record's ``_CHECK_FIELDS``); the cheap checks first, the digest only when they pass."""
    if file_rows is not None:  # Parquet: nothing to check in a record from before outputs named their rows
        if recorded["output_rows"] is None:
            return True
        if recorded["output_rows"] != file_rows:
            return False
        digest, end = file_metadata.get(OUTPUT_SHA256_KEY.encode()), _parquet_data_end(path)
        return digest is not None and end is not None and digest.decode("ascii", "replace") == sha256_file(path, end)
    if recorded["output_bytes"] is not None and recorded["output_bytes"] != path.stat().st_size:
        return False
    if recorded["output_sha256"] is None:  # a sidecar from before they named their digest: the size is its check
        return True
    now = _jsonl_identity(path)
    return all(recorded[k] == now[k] for k in _CHECK_FIELDS)


def assemble_parquet(target: Path, parts: list[Path], provenance: dict | None = None) -> None:
    """Concatenate the parts into row groups of about ``ROW_GROUP_ROWS`` rows; ``provenance``
    (``score_provenance``) goes into the schema's key-value metadata under ``PROVENANCE_KEY``, with
    the number of rows (``output_rows``), and the SHA-256 of the data pages, hashed as they are
    written, under ``OUTPUT_SHA256_KEY`` (see there).

    Fewer, larger row groups than one per part: the file's footer (and the memory a reader or
    this writer spends on it) grows with the number of row groups, not with the rows.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    parts_schema = output_schema()
    rows = sum(pq.read_metadata(part).num_rows for part in parts)  # footers only
    schema = parts_schema if provenance is None else \
        parts_schema.with_metadata({PROVENANCE_KEY: json.dumps(provenance | {"output_rows": rows}, sort_keys=True)})
    pending, pending_rows, written = [], 0, 0
    with open(target, "wb") as handle:
        sink = _HashingSink(handle)
        with pq.ParquetWriter(sink, schema, compression="zstd") as writer:
            for part in parts:  # a row group's worth of parts in memory at a time
                table = pq.read_table(part, schema=parts_schema)
                pending.append(table)
                pending_rows += table.num_rows
                if pending_rows >= ROW_GROUP_ROWS:
                    writer.write_table(pa.concat_tables(pending), row_group_size=max(pending_rows, 1))
                    written += pending_rows
                    pending, pending_rows = [], 0
            if pending:
                writer.write_table(pa.concat_tables(pending), row_group_size=max(pending_rows, 1))
                written += pending_rows
            # Every row group is in the file now; only the footer (written on close) follows.
            hashed, digest = sink.bytes, sink.digest.hexdigest()
            if provenance is not None:
                writer.add_key_value_metadata({OUTPUT_SHA256_KEY: digest})
    if provenance is not None and (written != rows or _parquet_data_end(target) != hashed):
        raise RuntimeError(f"{target}: wrote {written} rows and {hashed} bytes before the footer, expected {rows} "
                           f"rows and {_parquet_data_end(target)} bytes: its record would not match its rows")


def assemble_jsonl(target: Path, parts: list[Path], written: dict | None = None) -> None:
    """Concatenate the parts; ``written`` (when given) gets what identifies the file's rows
    (``output_bytes``, ``output_rows``, ``output_sha256``), hashed as they are written, for its sidecar."""
    rows = 0
    with open(target, "wb") as out:
        sink = _HashingSink(out)
        for part in parts:
            with open(part, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    sink.write(block)
                    rows += block.count(b"\n")
    if written is not None:
        written.update(output_bytes=sink.bytes, output_rows=rows, output_sha256=sink.digest.hexdigest())


def rejected_path(output: Path) -> Path:
    return output.with_name(output.name + ".rejected.jsonl")


def output_format(output: Path) -> str:
    kind = OUTPUT_FORMATS.get(output.suffix.lower())
    if kind is None:
        raise UserError(f"{output}: the output must end in .parquet or .jsonl")
    return kind


def iter_output(output: Path | str) -> Iterator[dict]:
    """The rows of a scoring output (Parquet or JSONL), streamed."""
    output = Path(output)
    if output_format(output) == "jsonl":
        with open(output, encoding="utf-8") as handle:
            for line in handle:
                yield json.loads(line)
        return
    import pyarrow.parquet as pq

    for batch in pq.ParquetFile(output).iter_batches(batch_size=512):
        yield from batch.to_pylist()


def finished_run_note(output_path: Path, kind: str) -> str:
    """`` (a finished run of N rows)`` for an output that records itself as one, read cheaply (a Parquet
    file's footer, a JSONL output's sidecar where it names the file's size); else nothing."""
    try:
        if kind == "parquet":
            import pyarrow.parquet as pq

            with pq.ParquetFile(output_path) as parquet:
                recorded = PROVENANCE_KEY.encode() in (parquet.schema_arrow.metadata or {})
                rows = parquet.metadata.num_rows
        else:
            record = json.loads(provenance_path(output_path).read_text(encoding="utf-8"))
            recorded = isinstance(record, dict) and record.get("output_bytes") == output_path.stat().st_size
            rows = record.get("output_rows") if recorded else None
    except Exception:  # not an output of claimsift, or not readable: it is replaced all the same
        return ""
    if not recorded:
        return ""
    if not isinstance(rows, int) or isinstance(rows, bool):
        return " (a finished run)"
    return f" (a finished run of {rows:,} row{'s' if rows != 1 else ''})"
