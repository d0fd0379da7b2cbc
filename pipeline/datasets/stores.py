"""A corpus store built from a corpus's documents and indexed, reused while its inputs are unchanged."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
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
    exactly these files (same content) and its index exists. Any rejected row stops here.

    The store holds exactly ``documents``: it is built aside and put in place whole, so a run
    that stops (a rejected row, a kill) leaves the previous store as it was, and a store built
    for other documents is replaced, not added to (an evaluation against documents it was not
    given measures nothing). A store this function did not build (no stamp: a user's own) is
    never touched."""

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
        if store_dir.exists() and any(store_dir.iterdir()) and not stamp_path.is_file():
            raise UserError(f"{store_dir} holds files that were not built from documents given here (a store of "
                            "your own?): it is left as it is; give a new or empty --store for the evaluation")
        store_dir.parent.mkdir(parents=True, exist_ok=True)
        building = Path(tempfile.mkdtemp(prefix=f".{store_dir.name}.building-", dir=store_dir.parent))
        try:
            report = ingest(paths, building, analyser=analyser, progress=progress)
            if report.rejected:
                raise UserError("rejected inputs: " + "; ".join(str(r) for r in report.rejected[:5])
                                + (f" (and {len(report.rejected) - 5} more)" if len(report.rejected) > 5 else "")
                                + f"; nothing was written to {store_dir}")
            if report.fact_checks_changed:
                build_store_index(building)
            update_index(building)
            atomic_write_text(building / STORE_STAMP, json.dumps(stamp, indent=1, sort_keys=True) + "\n")
            _put_in_place(building, store_dir)
        finally:
            shutil.rmtree(building, ignore_errors=True)
    summary = Corpus(store_dir).summary()
    return StoreBuild(store_dir, reused, round(time.perf_counter() - started, 2),
                      int(summary.get("documents", 0)), int(summary.get("sentences", 0)))


def _put_in_place(built: Path, store_dir: Path) -> None:
    """Replace ``store_dir`` (absent, empty, or a store built here before) by ``built`` with two
    renames; the old one is removed after. Two runs finishing at once: the last one's store stays,
    and each was complete."""
    retired = None
    if store_dir.exists():
        retired = Path(tempfile.mkdtemp(prefix=f".{store_dir.name}.retired-", dir=store_dir.parent))
        os.replace(store_dir, retired / "store")
    os.replace(built, store_dir)
    if retired is not None:
        shutil.rmtree(retired, ignore_errors=True)


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

