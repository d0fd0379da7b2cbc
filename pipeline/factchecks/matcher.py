"""Has this been fact-checked before? Match a post to the fact-check records in the store.

Two stages:

1. Hybrid candidates: BM25 (bm25s) over claim, title and claim + title, and dense cosine
   (``pipeline.registry.embedding.Encoder``, all-MiniLM-L6-v2) against the claim and the title vectors;
   the union of the dense and the lexical top ``n_candidates``.
2. A learned re-ranker (``MatchReranker``: standardised logistic regression over 15 features:
   BM25 scores, cosines of the cleaned and of the raw post, content word / number / name
   overlap) trained on CheckThat! 2020 task 2 (``train_matcher``), shipped in
   ``models/matcher/<version>/reranker.json``. Its probability is the ``similarity`` reported:
   the chance that the record checks the post's claim.

Posts are noisy: ``normalise_post`` removes URLs and emoji, splits hashtags and handles into
words (``#DefundTheCBC`` → ``Defund The CBC``) and turns a pasted tweet signature
(``— Name (@handle) June 1, 2019``) into the author's name.

Near-duplicate records (the same claim text up to case, punctuation and quote style) are
folded onto the record ingested first: they share one candidate slot and are listed right
after it with the same similarity, so a re-published fact-check never pushes the original
down, and no record is lost from the ranking.

The index (vectors + the records' order and duplicate groups) persists in
``<store>/factcheck_index/`` with a manifest naming the encoder; it is rebuilt (atomically,
re-using the vectors of unchanged texts) when the store's fact-check table changed, and an
index made by another encoder is refused.
"""
from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from pipeline.core.errors import UserError
from pipeline.corpus.factchecks import FactCheck, fact_checks_fingerprint
from pipeline.factchecks.index import DEFAULT_BACKEND, FactCheckIndex, blas_controller, load_store_index
from pipeline.factchecks.reranker import MatchReranker
from pipeline.factchecks.text import normalise_post
from pipeline.registry.embedding import Encoder
from pipeline.registry.registry import DEFAULT_MODELS_DIR, Registry

# ---- post normalisation -----------------------------------------------------------------------


# ---- lexical side ----------------------------------------------------------------------------


# ---- the index ---------------------------------------------------------------------------------


# ---- the re-ranker -------------------------------------------------------------------------------


# ---- matching -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FactCheckMatch:
    id: str
    claim: str
    rating: str
    verdict: str
    publisher: str
    url: str
    date: str | None
    similarity: float  # re-ranker probability that the record checks the post's claim

    def to_dict(self) -> dict:
        return {"id": self.id, "claim": self.claim, "rating": self.rating, "verdict": self.verdict,
                "publisher": self.publisher, "url": self.url, "date": self.date,
                "similarity": round(float(self.similarity), 4)}


def rank_with(index: FactCheckIndex, reranker: MatchReranker, post: str, query_vector: np.ndarray,
              raw_vector: np.ndarray, k: int, n_candidates: int = 50) -> list[tuple[int, float]]:
    """(record position, probability) best first, duplicates right after their canonical record."""
    slots, features = index.candidate_features(post, query_vector, raw_vector, n_candidates)
    if len(slots) == 0:
        return []
    probs = reranker.predict_proba(features)[:, 1]
    order = np.lexsort((slots, -probs))  # ties: the earlier-ingested record first
    out: list[tuple[int, float]] = []
    for j in order:
        for position in index.groups[slots[j]]:
            out.append((int(position), float(probs[j])))
        if len(out) >= k:
            break
    return out[:k]


class FactCheckMatcher:
    """Matches posts to the fact-check records of a store.

    Cheap to construct and to pickle; ``warm_up`` loads the re-ranker (registry ``spec``), the
    records and the index (building it when missing or stale) and the encoder.
    """

    def __init__(self, store_dir: Path | str, spec: str = "matcher", backend: str = DEFAULT_BACKEND,
                 n_candidates: int = 50, models_dir: Path | str | None = None, encoder=None) -> None:
        self.store_dir = Path(store_dir)
        self.spec = spec
        self.backend = backend
        self.n_candidates = n_candidates
        self.models_dir = models_dir
        self.encoder = encoder  # an Encoder to share with other stages (one model in memory), or None
        self._encoder: Encoder | None = None
        self._index: FactCheckIndex | None = None
        self._reranker: MatchReranker | None = None
        self._blas: Any = None  # threadpoolctl's controller (untyped)
        self.model_label = ""

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.update(_encoder=None, _index=None, _reranker=None, _blas=None)
        return state

    def warm_up(self) -> None:
        if self._index is not None:
            return

        registry = Registry(self.models_dir or DEFAULT_MODELS_DIR)
        try:
            ref = registry.load_ref(self.spec)
        except FileNotFoundError as exc:
            raise UserError(f"{exc}; train one with `claimsift train matcher`") from exc
        self._reranker = MatchReranker.from_json(json.loads((ref.path / "reranker.json").read_text()))
        self.model_label = ref.label
        self._encoder = self.encoder or Encoder(backend=self.backend)
        self._blas = blas_controller()
        self._index = load_store_index(self.store_dir, self._encoder)
        if len(self._index):
            self._encoder.warm_up()

    @property
    def index(self) -> FactCheckIndex:
        self.warm_up()
        assert self._index is not None
        return self._index

    def __len__(self) -> int:
        return len(self.index)

    def has_records(self) -> bool:
        """Whether the store holds any fact-check (cheap: no model is loaded)."""
        return fact_checks_fingerprint(self.store_dir)[0] > 0

    def match(self, query: str, k: int = 10, min_similarity: float = 0.0,
              before: str | None = None) -> list[FactCheckMatch]:
        return self.match_many([query], k, min_similarity, before=before)[0]

    def match_many(self, queries: Sequence[str], k: int = 10, min_similarity: float = 0.0,
                   before: str | None = None) -> list[list[FactCheckMatch]]:
        """Best matches first, up to k per query; ``min_similarity`` drops weaker ones (on
        CheckThat! dev a best match at >= 0.5 was right 98% of the time; see the model card).
        ``before`` (YYYY-MM-DD): only records dated before it, as for the evidence (a record
        without a date is left out too: nothing says it was known then); they are taken from the
        same ``n_candidates`` nearest records the re-ranker reads."""
        index = self.index
        encoder, reranker = self._encoder, self._reranker
        assert encoder is not None and reranker is not None  # set by warm_up, with the index
        if not len(index) or not queries:
            return [[] for _ in queries]
        queries = [q if isinstance(q, str) else "" for q in queries]
        # One encoder call for the cleaned and the raw form of every post.
        vectors = encoder.encode([normalise_post(q) for q in queries]
                                       + [unicodedata.normalize("NFKC", q) for q in queries])
        clean_vectors, raw_vectors = vectors[:len(queries)], vectors[len(queries):]
        out = []
        # Matrix-vector products over ~10k rows: one BLAS thread is several times faster than
        # a thread pool fighting other processes for 2 cores (measured 5 ms vs 30-60 ms).
        with self._blas.limit(limits=1, user_api="blas"):
            for query, qv, rv in zip(queries, clean_vectors, raw_vectors):
                ranked = rank_with(index, reranker, query, qv, rv, k if before is None else len(index),
                                   self.n_candidates)
                if before is not None:
                    ranked = [(i, p) for i, p in ranked if (index.records[i].date or "9999") < before][:k]
                out.append([_match_of(index.records[i], p) for i, p in ranked if p >= min_similarity])
        return out


def _match_of(record: FactCheck, similarity: float) -> FactCheckMatch:
    return FactCheckMatch(id=record.id, claim=record.claim, rating=record.rating, verdict=record.verdict,
                          publisher=record.publisher, url=record.url, date=record.date, similarity=similarity)


# ---- the store's index ---------------------------------------------------------------------------


# ---- evaluation ------------------------------------------------------------------------------------


# ---- CheckThat! 2020 task 2: data, training, tuning ----------------------------------------------


