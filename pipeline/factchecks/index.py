"""The matcher's index of a store's fact-checks: canonical records, dense vectors, BM25 over claims and
titles, and the candidate features the re-ranker reads; saved under the store, rebuilt when stale."""
from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import tempfile
import time
import unicodedata
from pathlib import Path
from typing import Sequence

import numpy as np

from pipeline.core.errors import UserError
from pipeline.corpus.factchecks import FactCheck, fact_checks_fingerprint, load_fact_checks
from pipeline.factchecks.text import (
    content_words,
    duplicate_key,
    names_in,
    normalise_post,
    numbers_in,
    text_hash,
    tokenise,
)
from pipeline.registry.embedding import DIMENSION, Encoder

# Imported where used, not here (slow to load; most callers of this module never need them): bm25s, PyStemmer,
# threadpoolctl.

INDEX_DIR = "factcheck_index"


INDEX_FORMAT = 1


DEFAULT_BACKEND = "onnx"


class _Lexical:
    """BM25 over one text field; scores for every record at once."""

    def __init__(self, texts: Sequence[str], stemmer) -> None:
        import bm25s

        self.n = len(texts)
        self.stemmer = stemmer
        self.model = None
        if any(t.strip() for t in texts):
            tokens = bm25s.tokenize(list(texts), stopwords="en", stemmer=stemmer, show_progress=False)
            if tokens.vocab:  # texts of stop words or one letter leave none, and BM25 fails on an empty vocabulary
                self.model = bm25s.BM25()
                self.model.index(tokens, show_progress=False)

    def scores(self, query_tokens: list[str]) -> np.ndarray:
        if self.model is None:
            return np.zeros(self.n, dtype=np.float32)
        ids = self.model.get_tokens_ids(query_tokens)
        if not ids:
            return np.zeros(self.n, dtype=np.float32)
        return np.asarray(self.model.get_scores_from_ids(ids), dtype=np.float32)


# Absolute scores only: ratios to the best candidate and ranks measured no better on dev
# (MAP@5 0.907 with them, 0.908 without) and would make a second good match look bad.
FEATURE_NAMES: tuple[str, ...] = (
    "bm25_claim", "bm25_title", "bm25_both", "bm25_both_raw",
    "cos_claim", "cos_title", "cos_claim_raw", "cos_title_raw",
    "word_overlap_of_record", "word_overlap_of_post", "numbers_shared", "numbers_unmatched",
    "names_shared", "names_shared_of_record", "title_words_of_post",
)


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k best scores, best first (ties: lower position first)."""
    if k >= len(scores):
        return np.argsort(-scores, kind="stable")
    part = np.argpartition(-scores, k - 1)[:k]
    return part[np.lexsort((part, -scores[part]))]


class FactCheckIndex:
    """Records (in ingestion order), their duplicate groups, vectors and BM25 indexes."""

    def __init__(self, records: list[FactCheck], claim_vectors: np.ndarray, title_vectors: np.ndarray,
                 encoder_tag: dict, fingerprint: tuple[int, str] = (0, "")) -> None:
        import Stemmer

        self.records = records
        self.encoder_tag = encoder_tag
        self.fingerprint = fingerprint
        first: dict[str, int] = {}
        canonical_of = [first.setdefault(duplicate_key(r.claim), i) for i, r in enumerate(records)]
        self.canonical = np.array(sorted(set(canonical_of)), dtype=np.int64)  # record positions
        position = {record: slot for slot, record in enumerate(self.canonical)}
        self.groups: list[list[int]] = [[] for _ in self.canonical]  # slot -> record positions
        for i, c in enumerate(canonical_of):
            self.groups[position[c]].append(i)
        self.claim_vectors = claim_vectors  # one row per canonical slot
        self.title_vectors = title_vectors
        canon = [records[i] for i in self.canonical]
        self.stemmer = Stemmer.Stemmer("english")
        self.bm25_claim = _Lexical([r.claim for r in canon], self.stemmer)
        self.bm25_title = _Lexical([r.title for r in canon], self.stemmer)
        self.bm25_both = _Lexical([f"{r.claim} {r.title}" for r in canon], self.stemmer)
        self.words = [content_words(f"{r.claim} {r.title}") for r in canon]
        self.title_words = [content_words(r.title) for r in canon]
        self.numbers = [numbers_in(f"{r.claim} {r.title}") for r in canon]
        self.names = [names_in(f"{r.claim} {r.title}") for r in canon]

    def __len__(self) -> int:
        return len(self.records)

    # -- building ---------------------------------------------------------------------------
    @classmethod
    def build(cls, records: list[FactCheck], encoder, known: dict[str, np.ndarray] | None = None,
              fingerprint: tuple[int, str] = (0, "")) -> "FactCheckIndex":
        """Encode the canonical records' claims and titles; ``known`` (text hash -> vector, made
        by the same encoder) spares re-encoding unchanged texts."""

        first: dict[str, int] = {}
        canonical = sorted(set(first.setdefault(duplicate_key(r.claim), i) for i, r in enumerate(records)))
        known = dict(known or {})

        def vectors(texts: list[str]) -> np.ndarray:
            out = np.zeros((len(texts), DIMENSION), dtype=np.float32)
            todo = [j for j, t in enumerate(texts) if t.strip() and text_hash(t) not in known]
            if todo:
                fresh = encoder.encode([texts[j] for j in todo])
                for j, vec in zip(todo, fresh):
                    known[text_hash(texts[j])] = vec
            for j, t in enumerate(texts):
                if t.strip():
                    out[j] = known[text_hash(t)]
            return out

        claim_vectors = vectors([records[i].claim for i in canonical])
        title_vectors = vectors([records[i].title for i in canonical])
        return cls(records, claim_vectors, title_vectors, encoder.tag, fingerprint)

    def save(self, folder: Path) -> None:
        """Write to a temporary sibling folder, then swap it in: never a half index."""
        folder = Path(folder)
        folder.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.partial-"))
        try:
            np.save(scratch / "claim_vectors.npy", self.claim_vectors, allow_pickle=False)
            np.save(scratch / "title_vectors.npy", self.title_vectors, allow_pickle=False)
            manifest = {
                "format": INDEX_FORMAT, "encoder": self.encoder_tag, "records": len(self.records),
                "canonical": int(len(self.canonical)), "fingerprint": list(self.fingerprint),
                "record_ids": [r.id for r in self.records],
                "claim_hashes": [text_hash(self.records[i].claim) for i in self.canonical],
                "title_hashes": [text_hash(self.records[i].title) for i in self.canonical],
                "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            }
            (scratch / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
            old = None
            if folder.exists():
                old = folder.parent / f".{folder.name}.old-{os.getpid()}-{time.time_ns()}"
                os.replace(folder, old)
            os.replace(scratch, folder)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise

    @classmethod
    def load(cls, folder: Path, records: list[FactCheck], encoder_tag: dict) -> "FactCheckIndex":
        """Load the vectors saved in ``folder`` for ``records``; refuses another encoder's vectors
        and vectors of records other than these (UserError: rebuild the index)."""
        folder = Path(folder)
        manifest = json.loads((folder / "manifest.json").read_text())
        if manifest.get("format") != INDEX_FORMAT:
            raise UserError(f"{folder}: index format {manifest.get('format')} is not {INDEX_FORMAT}; "
                            "rebuild it with `claimsift factcheck index --store STORE`")
        if manifest.get("encoder") != encoder_tag:
            raise UserError(f"{folder}: fact-check index was built with {manifest.get('encoder')}, not with "
                            f"{encoder_tag}; refusing to mix embedding models. Rebuild it with "
                            "`claimsift factcheck index --store STORE`")
        if manifest.get("record_ids") != [r.id for r in records]:
            raise UserError(f"{folder}: fact-check index does not match the records in the store; rebuild it "
                            "with `claimsift factcheck index --store STORE`")
        claim_vectors = np.load(folder / "claim_vectors.npy", allow_pickle=False)
        title_vectors = np.load(folder / "title_vectors.npy", allow_pickle=False)
        index = cls(records, claim_vectors, title_vectors, encoder_tag, tuple(manifest.get("fingerprint", (0, ""))))
        if manifest.get("claim_hashes") != [text_hash(records[i].claim) for i in index.canonical]:
            raise UserError(f"{folder}: fact-check index vectors are stale; rebuild it with "
                            "`claimsift factcheck index --store STORE`")
        return index

    # -- scoring ----------------------------------------------------------------------------
    def candidate_features(self, post: str, query_vector: np.ndarray, raw_vector: np.ndarray,
                           n_candidates: int = 50) -> tuple[np.ndarray, np.ndarray]:
        """(candidate slots, feature matrix) for one post."""
        n = len(self.canonical)
        if n == 0:
            return np.zeros(0, dtype=np.int64), np.zeros((0, len(FEATURE_NAMES)), dtype=np.float32)
        clean = normalise_post(post)
        tokens_clean, tokens_raw = tokenise([clean, unicodedata.normalize("NFKC", post)], self.stemmer)
        scores = [
            self.bm25_claim.scores(tokens_clean), self.bm25_title.scores(tokens_clean),
            self.bm25_both.scores(tokens_clean), self.bm25_both.scores(tokens_raw),
            self.claim_vectors @ query_vector, self.title_vectors @ query_vector,
            self.claim_vectors @ raw_vector, self.title_vectors @ raw_vector,
        ]
        dense = scores[4] + 0.5 * scores[5]
        lexical = scores[2]
        k = min(n_candidates, n)
        by_dense = _top(dense, k)
        by_lexical = _top(lexical, k)
        slots = np.array(list(dict.fromkeys([*by_dense.tolist(), *by_lexical.tolist()])), dtype=np.int64)
        columns = [s[slots] for s in scores]
        words, numbers, names = content_words(clean), numbers_in(clean), names_in(clean)
        overlap = np.zeros((len(slots), 7), dtype=np.float32)
        for row, slot in enumerate(slots):
            shared = len(words & self.words[slot])
            shared_names = len(names & self.names[slot])
            overlap[row] = (shared / (len(self.words[slot]) + 1), shared / (len(words) + 1),
                            len(numbers & self.numbers[slot]), len(numbers - self.numbers[slot]) if numbers else 0,
                            shared_names, shared_names / (len(self.names[slot]) + 1),
                            len(words & self.title_words[slot]) / (len(self.title_words[slot]) + 1))
        features = np.column_stack([*columns, overlap]).astype(np.float32)
        return slots, features


def blas_controller():
    """Scans the loaded BLAS libraries (~5 ms): done once per warm-up, not per call."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def index_dir(store_dir: Path | str) -> Path:
    return Path(store_dir) / INDEX_DIR


def build_store_index(store_dir: Path | str, backend: str = DEFAULT_BACKEND, encoder=None) -> FactCheckIndex:
    """(Re)build ``<store>/factcheck_index`` from the store's fact-check table, atomically."""
    store_dir = Path(store_dir)
    encoder = encoder or Encoder(backend=backend)
    records = load_fact_checks(store_dir)
    fingerprint = fact_checks_fingerprint(store_dir)
    folder = index_dir(store_dir)
    known = _saved_vectors(folder, encoder.tag) if (folder / "manifest.json").is_file() else {}
    index = FactCheckIndex.build(records, encoder, known=known, fingerprint=fingerprint)
    index.save(folder)
    return index


def _saved_vectors(folder: Path, tag: dict) -> dict[str, np.ndarray]:
    """Text hash -> vector of an existing index made by the same encoder (else nothing)."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
        if manifest.get("encoder") != tag:
            return {}
        claims = np.load(folder / "claim_vectors.npy", allow_pickle=False)
        titles = np.load(folder / "title_vectors.npy", allow_pickle=False)
        known = dict(zip(manifest["claim_hashes"], claims))
        known.update(zip(manifest["title_hashes"], titles))
        return known
    except (OSError, ValueError, KeyError):
        return {}


def load_store_index(store_dir: Path | str, encoder) -> FactCheckIndex:
    """The store's index, rebuilt first when missing or when the fact-check table changed."""
    store_dir = Path(store_dir)
    records = load_fact_checks(store_dir)
    if not records:
        return FactCheckIndex([], np.zeros((0, 384), np.float32), np.zeros((0, 384), np.float32), encoder.tag)
    folder = index_dir(store_dir)
    fingerprint = fact_checks_fingerprint(store_dir)
    if (folder / "manifest.json").is_file():
        manifest = json.loads((folder / "manifest.json").read_text())
        if manifest.get("encoder") != encoder.tag:
            raise UserError(f"{folder}: fact-check index was built with {manifest.get('encoder')}, not with "
                            f"{encoder.tag}; refusing to mix embedding models. Rebuild it with "
                            f"`claimsift factcheck index --store {store_dir}`")
        if list(manifest.get("fingerprint", [])) == list(fingerprint):
            return FactCheckIndex.load(folder, records, encoder.tag)
    return build_store_index(store_dir, encoder=encoder)
