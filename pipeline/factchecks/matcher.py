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

import datetime as _dt
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from pipeline.core.errors import UserError
from pipeline.corpus.factchecks import FactCheck, fact_checks_fingerprint, load_fact_checks
from pipeline.core.metrics import ranking_metrics

INDEX_DIR = "factcheck_index"
INDEX_FORMAT = 1
DEFAULT_BACKEND = "onnx"

# ---- post normalisation -----------------------------------------------------------------------
_URL = re.compile(r"(?:https?://|www\.|pic\.twitter\.com/)\S+", re.I)
_SIGNATURE = re.compile(r"[—–]\s*([^—–()\n]{0,80}?)\s*\(@(\w{1,30})\)\s*(?:[A-Z][a-z]+ \d{1,2}, \d{4})?\s*$")
_TAG = re.compile(r"(?<![\w])([#@])(\w+)")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|(?<=[A-Za-z])(?=\d)|(?<=\d)(?=[A-Za-z])")
_SPACES = re.compile(r"\s+")


def split_camel(word: str) -> str:
    return _CAMEL.sub(" ", word.replace("_", " ")).strip()


def _strip_emoji(text: str) -> str:
    return "".join(" " if unicodedata.category(c) in ("So", "Sk", "Cs", "Co") or c in "\ufe0f\u200d" else c
                   for c in text)


def normalise_post(text: str) -> str:
    """A social post as plain words: URLs and emoji out, hashtags and handles split into words."""
    text = unicodedata.normalize("NFKC", text or "")
    text = _URL.sub(" ", text)
    signature = _SIGNATURE.search(text)
    if signature:
        name, handle = signature.group(1).strip(), split_camel(signature.group(2))
        same = re.sub(r"\W", "", name).lower() == re.sub(r"\W", "", handle).lower()
        text = f"{text[:signature.start()]} {name} {'' if same else handle}"
    text = _TAG.sub(lambda m: f" {split_camel(m.group(2))} ", text)
    return _SPACES.sub(" ", _strip_emoji(text)).strip()


def duplicate_key(claim: str) -> str:
    """Claims that differ only in case, punctuation, spacing or quote style share a key."""
    return re.sub(r"[^0-9a-z]", "", unicodedata.normalize("NFKC", claim).lower())


# ---- lexical side ----------------------------------------------------------------------------
class _Lexical:
    """BM25 over one text field; scores for every record at once."""

    def __init__(self, texts: Sequence[str], stemmer) -> None:
        import bm25s

        self.n = len(texts)
        self.stemmer = stemmer
        self.model = None
        if any(t.strip() for t in texts):
            tokens = bm25s.tokenize(list(texts), stopwords="en", stemmer=stemmer, show_progress=False)
            self.model = bm25s.BM25()
            self.model.index(tokens, show_progress=False)

    def scores(self, query_tokens: list[str]) -> np.ndarray:
        if self.model is None:
            return np.zeros(self.n, dtype=np.float32)
        ids = self.model.get_tokens_ids(query_tokens)
        if not ids:
            return np.zeros(self.n, dtype=np.float32)
        return np.asarray(self.model.get_scores_from_ids(ids), dtype=np.float32)


def _tokenise(texts: Sequence[str], stemmer) -> list[list[str]]:
    import bm25s

    return bm25s.tokenize(list(texts), stopwords="en", stemmer=stemmer, return_ids=False, show_progress=False)


_WORD = re.compile(r"[a-z0-9]+")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_NAME = re.compile(r"\b[A-Z][a-zA-Z]+")
_STOP = frozenset("the a an of to in and or is are was were be for on at by with that this it as from he she they "
                  "we you i his her their its not no but".split())


def _content_words(text: str) -> frozenset[str]:
    return frozenset(w for w in _WORD.findall(text.lower()) if w not in _STOP)


def _numbers(text: str) -> frozenset[str]:
    return frozenset(_NUMBER.findall(text))


def _names(text: str) -> frozenset[str]:
    return frozenset(w.lower() for w in _NAME.findall(text))


# Absolute scores only: ratios to the best candidate and ranks measured no better on dev
# (MAP@5 0.907 with them, 0.908 without) and would make a second good match look bad.
FEATURE_NAMES: tuple[str, ...] = (
    "bm25_claim", "bm25_title", "bm25_both", "bm25_both_raw",
    "cos_claim", "cos_title", "cos_claim_raw", "cos_title_raw",
    "word_overlap_of_record", "word_overlap_of_post", "numbers_shared", "numbers_unmatched",
    "names_shared", "names_shared_of_record", "title_words_of_post",
)


# ---- the index ---------------------------------------------------------------------------------
def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k best scores, best first (ties: lower position first)."""
    if k >= len(scores):
        return np.argsort(-scores, kind="stable")
    part = np.argpartition(-scores, k - 1)[:k]
    return part[np.lexsort((part, -scores[part]))]


def _text_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


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
        self.words = [_content_words(f"{r.claim} {r.title}") for r in canon]
        self.title_words = [_content_words(r.title) for r in canon]
        self.numbers = [_numbers(f"{r.claim} {r.title}") for r in canon]
        self.names = [_names(f"{r.claim} {r.title}") for r in canon]

    def __len__(self) -> int:
        return len(self.records)

    # -- building ---------------------------------------------------------------------------
    @classmethod
    def build(cls, records: list[FactCheck], encoder, known: dict[str, np.ndarray] | None = None,
              fingerprint: tuple[int, str] = (0, "")) -> "FactCheckIndex":
        """Encode the canonical records' claims and titles; ``known`` (text hash -> vector, made
        by the same encoder) spares re-encoding unchanged texts."""
        from pipeline.registry.embedding import DIMENSION

        first: dict[str, int] = {}
        canonical = sorted(set(first.setdefault(duplicate_key(r.claim), i) for i, r in enumerate(records)))
        known = dict(known or {})

        def vectors(texts: list[str]) -> np.ndarray:
            out = np.zeros((len(texts), DIMENSION), dtype=np.float32)
            todo = [j for j, t in enumerate(texts) if t.strip() and _text_hash(t) not in known]
            if todo:
                fresh = encoder.encode([texts[j] for j in todo])
                for j, vec in zip(todo, fresh):
                    known[_text_hash(texts[j])] = vec
            for j, t in enumerate(texts):
                if t.strip():
                    out[j] = known[_text_hash(t)]
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
                "claim_hashes": [_text_hash(self.records[i].claim) for i in self.canonical],
                "title_hashes": [_text_hash(self.records[i].title) for i in self.canonical],
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
        if manifest.get("claim_hashes") != [_text_hash(records[i].claim) for i in index.canonical]:
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
        tokens_clean, tokens_raw = _tokenise([clean, unicodedata.normalize("NFKC", post)], self.stemmer)
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
        words, numbers, names = _content_words(clean), _numbers(clean), _names(clean)
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


# ---- the re-ranker -------------------------------------------------------------------------------
def _estimator_bases() -> tuple[type, ...]:
    from sklearn.base import BaseEstimator, ClassifierMixin

    return ClassifierMixin, BaseEstimator


class MatchReranker(*_estimator_bases()):
    """Standardised logistic regression over ``FEATURE_NAMES``; a scikit-learn classifier.

    Persisted as plain JSON (means, scales, coefficients), so loading runs no code.
    """

    def __init__(self, C: float = 1.0, max_iter: int = 3000) -> None:
        self.C = C
        self.max_iter = max_iter

    def fit(self, X, y) -> "MatchReranker":
        from sklearn.linear_model import LogisticRegression
        from sklearn.utils.multiclass import check_classification_targets
        from sklearn.utils.validation import validate_data

        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        if len(np.unique(y)) > 2:
            raise ValueError("Only binary classification is supported: match / no match.")
        self.mean_ = X.mean(axis=0)
        std = X.std(axis=0)
        self.scale_ = np.where(std > 0, std, 1.0)
        model = LogisticRegression(C=self.C, max_iter=self.max_iter).fit((X - self.mean_) / self.scale_, y)
        self.coef_ = model.coef_[0].astype(np.float64)
        self.intercept_ = float(model.intercept_[0])
        self.classes_ = model.classes_
        self.n_iter_ = model.n_iter_
        return self

    def decision_function(self, X) -> np.ndarray:
        from sklearn.utils.validation import check_is_fitted, validate_data

        check_is_fitted(self, "coef_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return ((X - self.mean_) / self.scale_) @ self.coef_ + self.intercept_

    def predict_proba(self, X) -> np.ndarray:
        p = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return np.column_stack([1 - p, p])

    def predict(self, X) -> np.ndarray:
        scores = self.decision_function(X)
        return self.classes_[(scores > 0).astype(int)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False  # match / no match
        return tags

    def to_json(self) -> dict:
        return {"kind": "standardised-logistic-regression", "features": list(FEATURE_NAMES),
                "params": self.get_params(), "mean": self.mean_.tolist(), "scale": self.scale_.tolist(),
                "coef": self.coef_.tolist(), "intercept": self.intercept_}

    @classmethod
    def from_json(cls, data: dict) -> "MatchReranker":
        if data.get("features") != list(FEATURE_NAMES):
            raise UserError("the matcher model was trained on other features than this code computes; "
                            "retrain it with `claimsift train matcher`")
        model = cls(**data.get("params", {}))
        model.mean_ = np.array(data["mean"], dtype=np.float64)
        model.scale_ = np.array(data["scale"], dtype=np.float64)
        model.coef_ = np.array(data["coef"], dtype=np.float64)
        model.intercept_ = float(data["intercept"])
        model.classes_ = np.array([0, 1])
        model.n_features_in_ = len(model.coef_)
        return model


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
        self._encoder = None
        self._index: FactCheckIndex | None = None
        self._reranker: MatchReranker | None = None
        self._blas = None
        self.model_label = ""

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.update(_encoder=None, _index=None, _reranker=None, _blas=None)
        return state

    def warm_up(self) -> None:
        if self._index is not None:
            return
        from pipeline.registry.embedding import Encoder
        from pipeline.registry.registry import DEFAULT_MODELS_DIR, Registry

        registry = Registry(self.models_dir or DEFAULT_MODELS_DIR)
        try:
            ref = registry.load_ref(self.spec)
        except FileNotFoundError as exc:
            raise UserError(f"{exc}; train one with `claimsift train matcher`") from exc
        self._reranker = MatchReranker.from_json(json.loads((ref.path / "reranker.json").read_text()))
        self.model_label = ref.label
        self._encoder = self.encoder or Encoder(backend=self.backend)
        self._blas = _blas_controller()
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

    def match(self, query: str, k: int = 10, min_similarity: float = 0.0) -> list[FactCheckMatch]:
        return self.match_many([query], k, min_similarity)[0]

    def match_many(self, queries: Sequence[str], k: int = 10,
                   min_similarity: float = 0.0) -> list[list[FactCheckMatch]]:
        """Best matches first, up to k per query; ``min_similarity`` drops weaker ones (on
        CheckThat! dev a best match at >= 0.5 was right 98% of the time; see the model card)."""
        self.warm_up()
        index = self.index
        if not len(index) or not queries:
            return [[] for _ in queries]
        queries = [q if isinstance(q, str) else "" for q in queries]
        # One encoder call for the cleaned and the raw form of every post.
        vectors = self._encoder.encode([normalise_post(q) for q in queries]
                                       + [unicodedata.normalize("NFKC", q) for q in queries])
        clean_vectors, raw_vectors = vectors[:len(queries)], vectors[len(queries):]
        out = []
        # Matrix-vector products over ~10k rows: one BLAS thread is several times faster than
        # a thread pool fighting other processes for 2 cores (measured 5 ms vs 30-60 ms).
        with self._blas.limit(limits=1, user_api="blas"):
            for query, qv, rv in zip(queries, clean_vectors, raw_vectors):
                ranked = rank_with(index, self._reranker, query, qv, rv, k, self.n_candidates)
                out.append([_match_of(index.records[i], p) for i, p in ranked if p >= min_similarity])
        return out


def _blas_controller():
    """Scans the loaded BLAS libraries (~5 ms): done once per warm-up, not per call."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _match_of(record: FactCheck, similarity: float) -> FactCheckMatch:
    return FactCheckMatch(id=record.id, claim=record.claim, rating=record.rating, verdict=record.verdict,
                          publisher=record.publisher, url=record.url, date=record.date, similarity=similarity)


# ---- the store's index ---------------------------------------------------------------------------
def index_dir(store_dir: Path | str) -> Path:
    return Path(store_dir) / INDEX_DIR


def build_store_index(store_dir: Path | str, backend: str = DEFAULT_BACKEND, encoder=None) -> FactCheckIndex:
    """(Re)build ``<store>/factcheck_index`` from the store's fact-check table, atomically."""
    from pipeline.registry.embedding import Encoder

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


# ---- evaluation ------------------------------------------------------------------------------------


# ---- CheckThat! 2020 task 2: data, training, tuning ----------------------------------------------
CHECKTHAT_DIR = "checkthat2020-task2-claim-retrieval"
CHECKTHAT_LICENCE = "free for general research use (sshaar/clef2020-factchecking-task2)"


def checkthat_folder(datasets_dir: Path | str) -> Path:
    folder = Path(datasets_dir) / CHECKTHAT_DIR
    if not (folder / "verified_claims.docs.tsv").is_file():
        raise UserError(f"{folder}: no verified_claims.docs.tsv here; pass the shared datasets folder "
                        "(default ../shared/datasets)")
    return folder


def checkthat_records(datasets_dir: Path | str) -> list[FactCheck]:
    """The 10,375 verified claims (Snopes) as fact-check records; the set carries no ratings."""
    import pandas as pd

    from pipeline.corpus.factchecks import make_fact_check

    table = pd.read_csv(checkthat_folder(datasets_dir) / "verified_claims.docs.tsv", sep="\t", dtype=str,
                        keep_default_na=False)
    table.columns = ["id", "claim", "title"]
    return [make_fact_check({"id": row.id, "claim": row.claim, "title": row.title, "rating": "",
                             "publisher": "Snopes"}, source="verified_claims.docs.tsv")
            for row in table.itertuples(index=False)]


def checkthat_queries(datasets_dir: Path | str, split: str) -> list[dict]:
    """``[{id, query, relevant: [record ids]}]`` of the ``train`` or ``dev`` tweets."""
    import pandas as pd

    folder = checkthat_folder(datasets_dir) / split
    tweets = pd.read_csv(folder / "tweets.queries.tsv", sep="\t", dtype=str, keep_default_na=False)
    tweets.columns = ["id", "query"]
    qrels = pd.read_csv(folder / "tweet-vclaim-pairs.qrels", sep="\t", header=None, dtype=str)
    relevant: dict[str, list[str]] = {}
    for qid, _, vid, rel in qrels.itertuples(index=False):
        if str(rel).strip() == "1":
            relevant.setdefault(qid, []).append(vid)
    return [{"id": row.id, "query": row.query, "relevant": relevant.get(row.id, [])}
            for row in tweets.itertuples(index=False)]


def _candidate_table(index: FactCheckIndex, queries: list[dict], encoder, n_candidates: int):
    """Per query: (slots, features, labels) where a slot is positive when one of its records is."""
    clean = encoder.encode([normalise_post(q["query"]) for q in queries])
    raw = encoder.encode([unicodedata.normalize("NFKC", q["query"]) for q in queries])
    position_of = {r.id: i for i, r in enumerate(index.records)}
    slot_of = {p: s for s, group in enumerate(index.groups) for p in group}
    out = []
    with _blas_controller().limit(limits=1, user_api="blas"):
        for q, qv, rv in zip(queries, clean, raw):
            slots, features = index.candidate_features(q["query"], qv, rv, n_candidates)
            gold = {slot_of[position_of[r]] for r in q["relevant"] if r in position_of}
            out.append((slots, features, np.isin(slots, list(gold)).astype(int), qv, rv))
    return out


def _evaluate_table(index: FactCheckIndex, reranker: MatchReranker, queries: list[dict], table,
                    k: int = 50) -> tuple[dict, list[float], list[int]]:
    rankings, top_probs, top_correct = [], [], []
    for q, (_, _, _, qv, rv) in zip(queries, table):
        ranked = rank_with(index, reranker, q["query"], qv, rv, k)
        ids = [index.records[i].id for i, _ in ranked]
        rankings.append(ids)
        if ranked:
            top_probs.append(ranked[0][1])
            top_correct.append(int(ids[0] in set(q["relevant"])))
    return ranking_metrics(rankings, [q["relevant"] for q in queries]), top_probs, top_correct


def _baseline_metrics(index: FactCheckIndex, queries: list[dict], table) -> dict:
    """Dev metrics of each first-stage signal alone, for the model card."""
    out = {}
    for name, column in (("bm25", FEATURE_NAMES.index("bm25_both")), ("dense", FEATURE_NAMES.index("cos_claim"))):
        rankings = []
        for slots, features, _, _, _ in table:
            order = np.lexsort((slots, -features[:, column]))
            rankings.append([index.records[p].id for j in order for p in index.groups[slots[j]]])
        metrics = ranking_metrics(rankings, [q["relevant"] for q in queries], ks=(1, 5, 10))
        out[name] = {k: metrics[k] for k in ("map@1", "map@5", "mrr", "recall@10")}
    return out


def train_matcher(datasets_dir: Path | str, backend: str = DEFAULT_BACKEND, Cs: Sequence[float] = (0.1, 1.0, 10.0),
                  n_candidates: int = 50, models_dir: Path | str | None = None, version: str | None = None,
                  promote: bool = True, index_cache: Path | str | None = None,
                  progress=lambda message: None) -> tuple[object, dict]:
    """Train the re-ranker on CheckThat! 2020 task 2 train, pick C on dev, register it."""
    from pipeline.registry.embedding import Encoder
    from pipeline.registry.registry import DEFAULT_MODELS_DIR, Registry

    started = time.time()
    records = checkthat_records(datasets_dir)
    train, dev = checkthat_queries(datasets_dir, "train"), checkthat_queries(datasets_dir, "dev")
    encoder = Encoder(backend=backend)
    index = None
    if index_cache and (Path(index_cache) / "manifest.json").is_file():
        try:
            index = FactCheckIndex.load(Path(index_cache), records, encoder.tag)
            progress(f"re-using the verified-claim vectors in {index_cache}")
        except UserError:
            index = None
    if index is None:
        progress(f"encoding {len(records)} verified claims ({backend})")
        index = FactCheckIndex.build(records, encoder)
        if index_cache:
            index.save(Path(index_cache))
    progress("computing candidate features")
    train_table = _candidate_table(index, train, encoder, n_candidates)
    dev_table = _candidate_table(index, dev, encoder, n_candidates)
    X = np.vstack([t[1] for t in train_table])
    y = np.concatenate([t[2] for t in train_table])
    tuning = {}
    best = None
    for C in Cs:
        reranker = MatchReranker(C=C).fit(X, y)
        metrics, probs, correct = _evaluate_table(index, reranker, dev, dev_table)
        tuning[str(C)] = {k: metrics[k] for k in ("map@1", "map@5", "mrr")}
        progress(f"C={C}: dev MAP@5 {metrics['map@5']:.4f}")
        if best is None or metrics["map@5"] > best[1]["map@5"]:
            best = (reranker, metrics, probs, correct)
    reranker, metrics, probs, correct = best
    top1 = {}
    for cut in (0.1, 0.3, 0.5, 0.7, 0.9):
        kept = [c for p, c in zip(probs, correct) if p >= cut]
        top1[str(cut)] = {"coverage": round(len(kept) / max(len(dev), 1), 4),
                          "precision": round(sum(kept) / len(kept), 4) if kept else None}
    baselines = _baseline_metrics(index, dev, dev_table)
    registry = Registry(models_dir or DEFAULT_MODELS_DIR)
    version = version or registry.next_version("matcher")
    folder_files = [f"{CHECKTHAT_DIR}/verified_claims.docs.tsv", f"{CHECKTHAT_DIR}/train/tweets.queries.tsv",
                    f"{CHECKTHAT_DIR}/train/tweet-vclaim-pairs.qrels"]
    with registry.new_version("matcher", version) as folder:
        (folder / "reranker.json").write_text(json.dumps(reranker.to_json(), indent=1) + "\n")
        registry.write_card(
            folder, name="matcher", version=version,
            description=("Re-ranker for matching social posts to already fact-checked claims: standardised "
                         "logistic regression over BM25, MiniLM cosine and overlap features of the hybrid "
                         "top candidates (pipeline.factchecks.matcher). C tuned on CheckThat! 2020 task 2 dev. "
                         "Near-duplicate records (same claim up to case, punctuation and quote style; 184 "
                         "groups in the verified claims) are folded onto the first-ingested one, which "
                         "is ranked first: all metrics here, baselines included, are measured with that "
                         "folding. Dev tweets all have a relevant claim, so the similarity cut-offs below "
                         "say nothing about posts that were never fact-checked."),
            training_data=[{"dataset": CHECKTHAT_DIR, "files": folder_files, "licence": CHECKTHAT_LICENCE,
                            "rows": len(train)},
                           {"dataset": CHECKTHAT_DIR, "files": [f"{CHECKTHAT_DIR}/dev/tweets.queries.tsv",
                                                                f"{CHECKTHAT_DIR}/dev/tweet-vclaim-pairs.qrels"],
                            "licence": CHECKTHAT_LICENCE, "rows": len(dev), "use": "tuning C, metrics"}],
            metrics={"primary": "map@5", "dev": metrics, "dev_baselines": baselines, "tuning": tuning,
                     "dev_top1_by_similarity": top1},
            extra={"encoder": encoder.tag, "encoder_backend": backend, "n_candidates": n_candidates,
                   "features": list(FEATURE_NAMES), "suggested_min_similarity": 0.5,
                   "training_pairs": int(len(y)), "training_positives": int(y.sum()),
                   "train_seconds": round(time.time() - started, 1)},
            libraries=("bm25s", "onnxruntime", "PyStemmer"))
    ref = registry.promote(f"matcher@{version}") if promote else registry.resolve(f"matcher@{version}")
    return ref, metrics
