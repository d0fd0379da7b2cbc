"""The rows a scoring job writes (one per post, nested claims and evidence; one per rejected row), their
Parquet schema, and the assembly of the checkpointed chunks into the output file."""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Iterator

from pipeline.core.errors import UserError
from pipeline.scoring.posts import PostRecord

# Imported where used, not here (slow to load; most callers of this module never need them): pyarrow.

ROW_GROUP_ROWS = 8192


# Fields of ``pipeline.factchecks.matcher.FactCheckMatch.to_dict()`` kept in the output.
FACT_CHECK_FIELDS = ("id", "claim", "rating", "verdict", "publisher", "url", "date", "similarity")


OUTPUT_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl"}


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


def assemble_parquet(target: Path, parts: list[Path]) -> None:
    """Concatenate the parts into row groups of about ``ROW_GROUP_ROWS`` rows.

    Fewer, larger row groups than one per part: the file's footer (and the memory a reader or
    this writer spends on it) grows with the number of row groups, not with the rows.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = output_schema()
    pending, pending_rows = [], 0
    with pq.ParquetWriter(target, schema, compression="zstd") as writer:
        for part in parts:  # a row group's worth of parts in memory at a time
            table = pq.read_table(part, schema=schema)
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
