"""``build_dataset(NAME, data_dir)`` writes the documents and claims of a public corpus from
``../shared/datasets`` to ``out/corpora/NAME/`` in the project folder (``DEFAULT_CORPORA_DIR``, whatever the
working directory; reused while its sources and this builder are unchanged); ``claim_splits`` gives each claim
its split (train / tune / report) from the committed manifest."""
from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from pipeline.core.errors import UserError
from pipeline.core.io import atomic_write_text, jsonl_text, read_jsonl, sha256_file
from pipeline.core.paths import DEFAULT_CORPORA_DIR, SHARED_DATASETS_DIR
from pipeline.core.splits import MANIFEST_PATH, SPLITS, SplitClaim, SplitManifest, assign_splits
from pipeline.datasets.builders import BUILDERS, ROOT, SEED_CLAIM_FILES, SOURCES
from pipeline.datasets.claims import CorpusClaim, read_corpus_claims

DEFAULT_DATA_DIR = SHARED_DATASETS_DIR


DATASETS = ("averitec", "fever", "covidfact", "liar", "healthver", "seeds")


# Bumped when a builder changes what it writes, so that cached corpora are rebuilt.
BUILDER_VERSION = 2


@dataclass(frozen=True)
class BuiltCorpus:
    name: str
    documents: tuple[Path, ...]  # inputs for ``ingest``
    claims: Path
    info: dict  # build.json: sources, counts, what was left out, seconds

    @property
    def folder(self) -> Path:
        return self.claims.parent


def _source_paths(name: str, data_dir: Path) -> list[Path]:
    if name == "seeds":
        return [ROOT / f for f in SEED_CLAIM_FILES] + sorted((ROOT / "seeds").iterdir())
    return [data_dir / f for f in SOURCES[name]]


def build_dataset(name: str, data_dir: Path | str = DEFAULT_DATA_DIR,
                  corpora_dir: Path | str = DEFAULT_CORPORA_DIR, rebuild: bool = False) -> BuiltCorpus:
    """The documents and claims of the public corpus ``name`` in ``corpora_dir/name/``; reused
    when ``build.json`` says they were made by this builder from the same source files."""
    if name not in BUILDERS:
        raise UserError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    data_dir, folder = Path(data_dir), Path(corpora_dir) / name
    sources = _source_paths(name, data_dir)
    missing = [str(p) for p in sources if not p.is_file()]
    if missing:
        raise UserError(f"dataset {name!r} needs {', '.join(missing)}; pass the shared datasets folder "
                        f"with --data-dir (now {data_dir})")
    fingerprint = {str(p.relative_to(ROOT if name == "seeds" else data_dir)): sha256_file(p) for p in sources}
    documents = (ROOT / "seeds",) if name == "seeds" else (folder / "documents.jsonl",)
    info_path, claims_path = folder / "build.json", folder / "claims.jsonl"
    if not rebuild and info_path.is_file() and claims_path.is_file() and all(p.exists() for p in documents):
        info = json.loads(info_path.read_text(encoding="utf-8"))
        if info.get("builder_version") == BUILDER_VERSION and info.get("sources") == fingerprint:
            return BuiltCorpus(name, documents, claims_path, info)
    started = time.perf_counter()
    rows = BUILDERS[name](data_dir)
    if name != "seeds":
        atomic_write_text(documents[0], jsonl_text(rows.documents))
    atomic_write_text(claims_path, jsonl_text(rows.claims))
    info = {"name": name, "builder_version": BUILDER_VERSION, "sources": fingerprint,
            "documents": len(rows.documents) if name != "seeds" else len(list((ROOT / "seeds").iterdir())),
            "claims": len(rows.claims), "labels": dict(Counter(r["label"] for r in rows.claims)),
            "left_out": dict(rows.left_out), **rows.notes,
            "build_seconds": round(time.perf_counter() - started, 2)}
    atomic_write_text(info_path, json.dumps(info, indent=1, sort_keys=True) + "\n")
    return BuiltCorpus(name, documents, claims_path, info)


def split_claims_of(corpus: str, built: BuiltCorpus) -> list[SplitClaim]:
    """The claims for grouping: their gold evidence and the texts of their gold documents (an
    AVeriTeC document is the question-answer text the stance trainer pairs with the claim)."""
    texts: dict[str, str] = {}
    for path in built.documents:
        if path.is_file() and path.suffix == ".jsonl":
            for row in read_jsonl(path):
                texts[str(row["id"])] = row["text"]
    return [SplitClaim(corpus, c.id, c.claim, c.gold_evidence + tuple(texts[d] for d in c.gold_documents if d in texts),
                       c.gold_documents)
            for c in read_corpus_claims(built.claims)]


def claim_splits(corpus: str | None, claims: Sequence[CorpusClaim], manifest_path: Path | None = None) -> list[str]:
    """Each claim's split: from the committed manifest for a named public corpus; for any other
    corpus, from its own evidence-connected groups (``splits.assign_splits``)."""
    if corpus in BUILDERS:
        known = SplitManifest.load(manifest_path or MANIFEST_PATH).split_of()
        missing = [c.id for c in claims if (corpus, c.id) not in known]
        if missing:
            raise UserError(f"{len(missing)} claims of {corpus!r} (e.g. {missing[0]}) are not in the split "
                            "manifest; rebuild it with `python -m pipeline.core.splits`")
        return [known[(corpus, c.id)] for c in claims]
    assigned = assign_splits(SplitClaim(corpus or "corpus", c.id, c.claim, c.gold_evidence, c.gold_documents)
                             for c in claims)
    return [a.split for a in assigned]


def select_claims(claims: Sequence[CorpusClaim], splits: Sequence[str], split: str,
                  limit: int | None) -> list[tuple[CorpusClaim, str]]:
    """The claims of ``split`` ("all": every one); with ``limit``, a fixed pseudo-random subset
    (by a hash of the id, so a larger limit keeps the smaller one's claims), in file order."""
    if split not in (*SPLITS, "all"):
        raise UserError(f"unknown split {split!r}; one of {', '.join(SPLITS)}, all")
    chosen = [(c, s) for c, s in zip(claims, splits) if split == "all" or s == split]
    if limit is not None and limit < len(chosen):
        keep = set(sorted(range(len(chosen)),
                          key=lambda i: hashlib.sha256(chosen[i][0].id.encode("utf-8")).hexdigest())[:limit])
        chosen = [item for i, item in enumerate(chosen) if i in keep]
    return chosen


def claims_with_gold(claims: Sequence[CorpusClaim], splits: Sequence[str], split: str,
                     limit: int | None = None) -> list[CorpusClaim]:
    """The claims of ``split`` (as ``select_claims`` picks them) that the Checker accepts and that
    name gold evidence: the ones evidence recall is measured on."""
    # Imported here: the validator loads a language identifier, which building a corpus does not need.
    from pipeline.verdict.validation import InvalidClaimError, validate_claim

    chosen = []
    for claim, _ in select_claims(claims, splits, split, limit):
        try:
            validate_claim(claim.claim)
        except InvalidClaimError:
            continue
        if claim.gold_evidence:
            chosen.append(claim)
    return chosen


@dataclass(frozen=True)
class CorpusWithStore:
    """A public corpus built, its store ingested and indexed, and its claims with their splits."""

    store_dir: Path
    claims: list[CorpusClaim]
    splits: list[str]


def corpus_with_store(name: str, data_dir: Path | str = DEFAULT_DATA_DIR,
                      corpora_dir: Path | str = DEFAULT_CORPORA_DIR) -> CorpusWithStore:
    # Imported here: building a store needs spaCy and the encoder, which reading a corpus does not.
    from pipeline.datasets.stores import ensure_store

    built = build_dataset(name, data_dir, corpora_dir)
    store_dir = built.folder / "store"
    ensure_store(built.documents, store_dir)
    claims = read_corpus_claims(built.claims)
    return CorpusWithStore(store_dir, claims, claim_splits(name, claims))
