"""A corpus store built from a corpus's documents and indexed, reused while its inputs are unchanged."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from pipeline.core.errors import InputError, UserError
from pipeline.core.io import atomic_write_text, sha256_file
from pipeline.corpus.ingest import ingest
from pipeline.corpus.nlp import Analyser
from pipeline.corpus.store import Corpus
from pipeline.factchecks.index import build_store_index
from pipeline.retrieval.index import INDEX_READING, current_index_dir, index_context, update_index


@dataclass(frozen=True)
class StoreBuild:
    store_dir: Path
    reused: bool
    seconds: float
    documents: int
    sentences: int


def _inputs_fingerprint(documents: Sequence[Path]) -> dict[str, str]:
    out = {}
    for root in documents:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            out[str(path.resolve())] = sha256_file(path)
    return out


STORE_STAMP = "corpus_eval_inputs.json"


def ensure_store(documents: Sequence[Path | str], store_dir: Path | str,
                 progress: Callable[[str], None] | None = None) -> StoreBuild:
    """Ingest ``documents`` into ``store_dir`` and index it, unless the store was built from
    exactly these files (same content) and its index exists. Any rejected row stops here."""

    paths = [Path(p) for p in documents]
    for path in paths:
        if not path.exists():
            raise InputError(path, "no such file or folder")
    store_dir = Path(store_dir)
    stamp_path = store_dir / STORE_STAMP
    started = time.perf_counter()
    fingerprint = _inputs_fingerprint(paths)
    analyser = Analyser()
    stamp = {"inputs": fingerprint, "analyser": analyser.tag}
    index_dir = current_index_dir(store_dir)
    reused = (stamp_path.is_file() and index_dir is not None and index_context(index_dir) == INDEX_READING
              and json.loads(stamp_path.read_text(encoding="utf-8")) == stamp)
    if not reused:
        report = ingest(paths, store_dir, analyser=analyser, progress=progress)
        if report.rejected:
            raise UserError("rejected inputs: " + "; ".join(str(r) for r in report.rejected[:5])
                            + (f" (and {len(report.rejected) - 5} more)" if len(report.rejected) > 5 else ""))
        if report.fact_checks_changed:

            build_store_index(store_dir)
        update_index(store_dir)
        atomic_write_text(stamp_path, json.dumps(stamp, indent=1, sort_keys=True) + "\n")
    summary = Corpus(store_dir).summary()
    return StoreBuild(store_dir, reused, round(time.perf_counter() - started, 2),
                      int(summary.get("documents", 0)), int(summary.get("sentences", 0)))


def existing_store(store_dir: Path | str) -> StoreBuild:
    corpus = Corpus(store_dir)
    if not corpus.exists():
        raise UserError(f"{store_dir}: no corpus store here; give --documents to build one")
    summary = corpus.summary()
    return StoreBuild(Path(store_dir), True, 0.0, int(summary["documents"]), int(summary["sentences"]))


def table_ids(store_dir: Path | str) -> dict[str, str]:
    """Each stored document's id in the table it came from. Ingest scopes a table row's stored
    name to its source ("fever#id=fever-doc-1"); an id used by two sources names both documents."""
    names = Corpus(store_dir).documents()
    return {doc_id: name.split("#id=", 1)[-1]
            for doc_id, name in zip(names["doc_id"].astype(str), names["name"].astype(str))}


def documents_by_table_id(store_dir: Path | str) -> dict[str, set[str]]:
    """The inverse of ``table_ids``: a table id -> the stored documents it names."""
    out: dict[str, set[str]] = {}
    for doc_id, name in table_ids(store_dir).items():
        out.setdefault(name, set()).add(doc_id)
    return out

