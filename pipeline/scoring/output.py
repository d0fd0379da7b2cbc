"""The rows a scoring job writes (one per post, nested claims and evidence; one per rejected row), their
Parquet schema, the assembly of the checkpointed chunks into the output file, and the record of what
produced that file (``score_provenance``, read back by ``read_score_provenance``)."""
from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Iterator

from pipeline import __version__
from pipeline.core.errors import UserError
from pipeline.scoring.checkpoint import atomic_write
from pipeline.scoring.posts import PostRecord

# Imported where used, not here (slow to load; most callers of this module never need them): pyarrow.

ROW_GROUP_ROWS = 8192


# Fields of ``pipeline.factchecks.matcher.FactCheckMatch.to_dict()`` kept in the output.
FACT_CHECK_FIELDS = ("id", "claim", "rating", "verdict", "publisher", "url", "date", "similarity")


OUTPUT_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl"}

# The Parquet schema's key-value metadata key (and the JSONL sidecar's content) naming what produced the file.
PROVENANCE_KEY = "claimsift"
PROVENANCE_FORMAT = 1


def _evidence_row(item: dict) -> dict:
    probs = item.get("stance_probs") or {}
    return {
        "doc_id": item.get("doc_id"), "source": item.get("source"), "title": item.get("title"),
        "published": item.get("published"), "sentence": item.get("sentence"),
        "start": item.get("start"), "end": item.get("end"), "stance": item.get("stance"),
        "p_supports": probs.get("SUPPORTS"), "p_refutes": probs.get("REFUTES"),
        "p_not_enough_info": probs.get("NOT_ENOUGH_INFO"), "score": item.get("score"),
        "decisive": bool(item.get("decisive", False)),
    }


def _claim_row(claim: dict) -> dict:
    return {
        "text": claim["text"], "start": claim.get("start"), "end": claim.get("end"),
        "checkworthiness": claim.get("checkworthiness"), "verdict": claim.get("verdict"),
        "confidence": claim.get("confidence"), "skipped": claim.get("skipped"),
        "evidence": [_evidence_row(e) for e in claim.get("evidence", [])],
        "fact_checks": [{k: f.get(k) for k in FACT_CHECK_FIELDS} for f in claim.get("fact_checks", [])],
    }


def post_row(record: PostRecord, result: dict) -> dict:
    """One output row: the fixed schema of ``OUTPUT_SCHEMA``, whatever the scorer returned."""
    claims = [_claim_row(c) for c in result.get("claims", [])]
    return {"post_id": record.post_id, "line": record.line, "text": record.text,
            "checkworthiness": result.get("checkworthiness"), "checkworthy_domain": result.get("checkworthy_domain"),
            "n_claims": len(claims), "claims": claims}


def rejected_row(record: PostRecord) -> dict:
    return {"line": record.line, "post_id": record.post_id, "reason": record.reason}


def output_schema():
    import pyarrow as pa

    evidence = pa.struct([("doc_id", pa.string()), ("source", pa.string()), ("title", pa.string()),
                          ("published", pa.string()), ("sentence", pa.string()), ("start", pa.int32()),
                          ("end", pa.int32()), ("stance", pa.string()), ("p_supports", pa.float64()),
                          ("p_refutes", pa.float64()), ("p_not_enough_info", pa.float64()),
                          ("score", pa.float64()), ("decisive", pa.bool_())])
    fact_check = pa.struct([(name, pa.float64() if name == "similarity" else pa.string())
                            for name in FACT_CHECK_FIELDS])
    claim = pa.struct([("text", pa.string()), ("start", pa.int32()), ("end", pa.int32()),
                       ("checkworthiness", pa.float64()), ("verdict", pa.string()), ("confidence", pa.float64()),
                       ("skipped", pa.string()), ("evidence", pa.list_(evidence)),
                       ("fact_checks", pa.list_(fact_check))])
    return pa.schema([("post_id", pa.string()), ("line", pa.int64()), ("text", pa.string()),
                      ("checkworthiness", pa.float64()), ("checkworthy_domain", pa.string()), ("n_claims", pa.int32()),
                      ("claims", pa.list_(claim))])


def write_parquet_part(path: Path, rows: list[dict]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows, schema=output_schema()), path, compression="zstd")


def score_provenance(config: dict) -> dict:
    """What produced a scoring output, as recorded with it: the model versions pinned at job start by
    role (``models``), the store as pinned (``store``: its path, the build of its evidence index, the
    state of its documents and of its fact-check records, ``ModelScorer.pin_store``; null where not
    recorded: no index, fact-checks not matched, a run resumed from an older claimsift's checkpoint), the scorer's
    other settings (domain, stance and encoder backends, top-k, rule packs...), the input's fingerprint
    and the job's options, this claimsift's version and when the output was assembled (UTC).

    Built from ``config``, the job's checkpoint configuration (``manifest.json``): a resumed run's
    output records exactly what an uninterrupted run's does, ``created`` aside. The manifest itself
    is removed once the output is complete, so this is what names the models afterwards.
    """
    scorer = dict(config.get("scorer") or {})
    models = scorer.pop("models", None) or {}
    store = {"path": scorer.pop("store", None), "evidence_index": scorer.pop("evidence_index", None),
             "documents": scorer.pop("documents", None), "fact_check_records": scorer.pop("fact_check_records", None)}
    return {"format": PROVENANCE_FORMAT, "claimsift_version": __version__,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "models": models, "store": store, "scorer": scorer, "input": config.get("input"),
            "options": {k: config.get(k) for k in ("chunk_size", "text_column", "id_column", "max_chars")}}


def provenance_path(output: Path) -> Path:
    """The sidecar of a JSONL output (``OUT.meta.json``); a Parquet output carries its provenance inside."""
    return output.with_name(output.name + ".meta.json")


def write_provenance_sidecar(output: Path, provenance: dict) -> None:
    """Write ``OUT.meta.json`` beside a finished JSONL output, atomically. It names the output's size
    (``output_bytes``), so a sidecar left beside a file that something else rewrote is not believed."""
    text = json.dumps(provenance | {"output_bytes": output.stat().st_size}, indent=2, sort_keys=True)
    atomic_write(provenance_path(output), lambda tmp: tmp.write_text(text + "\n", encoding="utf-8"))


def read_score_provenance(path: Path | str) -> dict | None:
    """What produced a ``claimsift score`` output (``score_provenance``), Parquet or JSONL: the models by
    role, the store and evidence index, the scorer's settings, the input. None for a file that records
    none (written before outputs recorded it, or by something else), or a JSONL file whose sidecar
    names another size (the file was rewritten since)."""
    path = Path(path)
    if output_format(path) == "parquet":
        import pyarrow.parquet as pq

        raw = (pq.read_schema(path).metadata or {}).get(PROVENANCE_KEY.encode())
        where = f"{path} (schema metadata {PROVENANCE_KEY!r})"
    else:
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file")
        meta = provenance_path(path)
        raw = meta.read_bytes() if meta.is_file() else None
        where = str(meta)
    if raw is None:
        return None
    try:
        provenance = json.loads(raw)
    except ValueError:
        provenance = None
    if not isinstance(provenance, dict):
        raise UserError(f"{where}: the record of what produced the scores is not a JSON object")
    if not isinstance(provenance.get("format"), int) or provenance["format"] > PROVENANCE_FORMAT:
        raise UserError(f"{where}: the record of what produced the scores has format {provenance.get('format')!r}; "
                        f"this claimsift reads format {PROVENANCE_FORMAT} (written by a newer version?)")
    size = provenance.pop("output_bytes", None)
    if size is not None and size != path.stat().st_size:
        return None
    return provenance


def assemble_parquet(target: Path, parts: list[Path], provenance: dict | None = None) -> None:
    """Concatenate the parts into row groups of about ``ROW_GROUP_ROWS`` rows; ``provenance``
    (``score_provenance``) goes into the schema's key-value metadata under ``PROVENANCE_KEY``.

    Fewer, larger row groups than one per part: the file's footer (and the memory a reader or
    this writer spends on it) grows with the number of row groups, not with the rows.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    parts_schema = output_schema()
    schema = parts_schema if provenance is None else \
        parts_schema.with_metadata({PROVENANCE_KEY: json.dumps(provenance, sort_keys=True)})
    pending, pending_rows = [], 0
    with pq.ParquetWriter(target, schema, compression="zstd") as writer:
        for part in parts:  # a row group's worth of parts in memory at a time
            table = pq.read_table(part, schema=parts_schema)
            pending.append(table)
            pending_rows += table.num_rows
            if pending_rows >= ROW_GROUP_ROWS:
                writer.write_table(pa.concat_tables(pending), row_group_size=max(pending_rows, 1))
                pending, pending_rows = [], 0
        if pending:
            writer.write_table(pa.concat_tables(pending), row_group_size=max(pending_rows, 1))


def assemble_jsonl(target: Path, parts: list[Path]) -> None:
    with open(target, "wb") as out:
        for part in parts:
            with open(part, "rb") as handle:
                shutil.copyfileobj(handle, out, 1 << 20)


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
