"""The check-worthiness classifier of one model version: the regression over features and sentence
embeddings, with the optional fine-tuned sentence classifier mixed in."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from pipeline.checkworthy.features import (
    CHEAP_FEATURES,
    DomainAdaptedLogisticRegression,
    TfidfFeatures,
    cheap_features,
    clean_text,
)
from pipeline.checkworthy.sentences import DOMAINS
from pipeline.registry.embedding import Encoder

MODEL_FORMAT = "claimsift-checkworthy-1"


class CheckworthyClassifier(ClassifierMixin, BaseEstimator):
    """Check-worthiness of single sentences or short posts; labels 0/1.

    ``domain`` names where each text comes from ("post": social media; "speech": debates and
    speeches); predictions default to "post", the stage's use. ``embeddings`` (rows of
    ``Encoder.encode``) may be passed to skip encoding texts whose vectors are already known.
    """

    def __init__(self, encoder_backend: str = "onnx", use_embeddings: bool = True, word_ngrams: tuple = (1, 2),
                 char_ngrams: tuple = (2, 5), min_df: int = 2, max_char_features: int | None = 100_000,
                 use_cheap_features: bool = True, embedding_scale: float = 1.0, C: float = 1.0,
                 class_weight: str | None = "balanced", domains: tuple = DOMAINS) -> None:
        self.encoder_backend = encoder_backend
        self.use_embeddings = use_embeddings
        self.word_ngrams = word_ngrams
        self.char_ngrams = char_ngrams
        self.min_df = min_df
        self.max_char_features = max_char_features
        self.use_cheap_features = use_cheap_features
        self.embedding_scale = embedding_scale
        self.C = C
        self.class_weight = class_weight
        self.domains = domains

    # The encoder is a runtime resource, not learned state: made on first use, never saved.
    def _encoder(self):
        encoder = self.__dict__.get("_encoder_instance")
        if encoder is None:

            encoder = Encoder(backend=self.encoder_backend)
            self.__dict__["_encoder_instance"] = encoder
        return encoder

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("_encoder_instance", None)
        return state

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """The sentence embeddings its features read (to pass back as ``embeddings=`` and reuse)."""
        return np.asarray(self._encoder().encode(list(texts)))

    def _domain_ids(self, domain, n: int) -> np.ndarray:
        if domain is None:
            return np.zeros(n, dtype=np.int64)
        if isinstance(domain, str):
            domain = [domain] * n
        ids = []
        for value in domain:
            if value not in self.domains:
                raise ValueError(f"unknown domain {value!r}; known: {', '.join(self.domains)}")
            ids.append(self.domains.index(value))
        if len(ids) != n:
            raise ValueError(f"domain has {len(ids)} entries for {n} texts")
        return np.array(ids, dtype=np.int64)

    @staticmethod
    def _check_texts(texts) -> list[str]:
        if isinstance(texts, str) or not hasattr(texts, "__len__"):
            raise ValueError("expected a sequence of texts, not a single string")
        texts = list(texts)
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise ValueError(f"text {i} is {type(text).__name__}, not str")
        return texts

    def _features(self, texts: list[str], embeddings: np.ndarray | None) -> sp.csr_matrix:
        cleaned = [clean_text(t) for t in texts]
        blocks = []
        if self.use_embeddings:
            if embeddings is None:
                embeddings = self._encoder().encode(texts)
            embeddings = np.asarray(embeddings, dtype=np.float64)
            if embeddings.shape != (len(texts), self.embedding_dim_):
                raise ValueError(f"embeddings have shape {embeddings.shape}; expected ({len(texts)}, {self.embedding_dim_})")
            # A larger scale lets the embedding weights grow under the same L2 penalty, so the
            # model leans on meaning more than on the words of its (COVID, debate) training data.
            blocks.append(sp.csr_matrix(embeddings * self.embedding_scale))
        if self.word_ngrams:
            blocks.append(self.word_tfidf_.transform(cleaned))
        if self.char_ngrams:
            blocks.append(self.char_tfidf_.transform(cleaned))
        if self.use_cheap_features:
            blocks.append(sp.csr_matrix(cheap_features(texts)))
        return sp.hstack(blocks, format="csr")

    def fit(self, texts, y, domain=None, embeddings=None, sample_weight=None) -> "CheckworthyClassifier":
        texts = self._check_texts(texts)
        y = np.asarray(y)
        if y.shape[0] != len(texts):
            raise ValueError(f"{len(texts)} texts but {y.shape[0]} labels")
        cleaned = [clean_text(t) for t in texts]
        self.embedding_dim_ = 0
        if self.use_embeddings:
            if embeddings is None:
                embeddings = self._encoder().encode(texts)
            self.embedding_dim_ = int(np.asarray(embeddings).shape[1])
        if self.word_ngrams:
            self.word_tfidf_ = TfidfFeatures.fit(cleaned, "word", self.word_ngrams, self.min_df, None)
        if self.char_ngrams:
            self.char_tfidf_ = TfidfFeatures.fit(cleaned, "char_wb", self.char_ngrams, self.min_df, self.max_char_features)
        features = self._features(texts, embeddings)
        self.head_ = DomainAdaptedLogisticRegression(C=self.C, n_domains=len(self.domains),
                                                     class_weight=self.class_weight)
        self.head_.fit(features, y, domain=self._domain_ids(domain, len(texts)), sample_weight=sample_weight)
        self.classes_ = self.head_.classes_
        self.n_features_ = features.shape[1]
        return self

    def predict_proba(self, texts, domain="post", embeddings=None) -> np.ndarray:
        check_is_fitted(self, "head_")
        texts = self._check_texts(texts)
        if not texts:
            return np.zeros((0, len(self.classes_)))
        return self.head_.predict_proba(self._features(texts, embeddings), self._domain_ids(domain, len(texts)))

    def predict(self, texts, domain="post", embeddings=None) -> np.ndarray:
        proba = self.predict_proba(texts, domain, embeddings)
        return self.classes_[np.argmax(proba, axis=1)]

    # -- persistence: JSON + .npy, nothing executable ------------------------------------------
    def save(self, folder: Path | str) -> list[str]:
        """Write the fitted model into ``folder``; returns the file names written."""
        check_is_fitted(self, "head_")
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        params = self.get_params()
        params = {k: (list(v) if isinstance(v, tuple) else v) for k, v in params.items()}
        meta = {"format": MODEL_FORMAT, "params": params, "classes": self.classes_.tolist(),
                "embedding_dim": self.embedding_dim_, "n_features": int(self.n_features_),
                "cheap_features": list(CHEAP_FEATURES)}
        arrays = {"coef.npy": self.head_.coef_, "intercept.npy": self.head_.intercept_}
        for name in ("word", "char"):
            tfidf = getattr(self, f"{name}_tfidf_", None)
            if tfidf is None:
                continue
            meta[f"{name}_tfidf"] = {"analyzer": tfidf.analyzer, "ngram_range": list(tfidf.ngram_range)}
            (folder / f"{name}_vocabulary.json").write_text(json.dumps(tfidf.vocabulary, ensure_ascii=False,
                                                                       sort_keys=True), encoding="utf-8")
            arrays[f"{name}_idf.npy"] = tfidf.idf
        for fname, array in arrays.items():
            np.save(folder / fname, np.asarray(array, dtype=np.float64), allow_pickle=False)
        (folder / "classifier.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        return sorted(["classifier.json", *arrays, *(f"{n}_vocabulary.json" for n in ("word", "char")
                                                     if getattr(self, f"{n}_tfidf_", None) is not None)])

    @classmethod
    def load(cls, folder: Path | str) -> "CheckworthyClassifier":
        folder = Path(folder)
        meta = json.loads((folder / "classifier.json").read_text(encoding="utf-8"))
        if meta.get("format") != MODEL_FORMAT:
            raise ValueError(f"{folder}: not a check-worthiness model (format {meta.get('format')!r})")
        if meta.get("cheap_features") != list(CHEAP_FEATURES):
            raise ValueError(f"{folder}: trained with cheap features {meta.get('cheap_features')}, this code computes "
                             f"{list(CHEAP_FEATURES)}; retrain with `claimsift train checkworthy`")
        params: dict[str, Any] = {k: (tuple(v) if isinstance(v, list) else v) for k, v in meta["params"].items()}
        model = cls(**params)
        for name in ("word", "char"):
            if f"{name}_tfidf" in meta:
                spec = meta[f"{name}_tfidf"]
                vocabulary = json.loads((folder / f"{name}_vocabulary.json").read_text(encoding="utf-8"))
                idf = np.load(folder / f"{name}_idf.npy", allow_pickle=False)
                setattr(model, f"{name}_tfidf_", TfidfFeatures(spec["analyzer"], tuple(spec["ngram_range"]), vocabulary, idf))
        head = DomainAdaptedLogisticRegression(C=model.C, n_domains=len(model.domains), class_weight=model.class_weight)
        head.coef_ = np.load(folder / "coef.npy", allow_pickle=False)
        head.intercept_ = np.load(folder / "intercept.npy", allow_pickle=False)
        head.classes_ = np.array(meta["classes"])
        head.n_features_in_ = int(meta["n_features"])
        model.head_ = head
        model.classes_ = head.classes_
        model.embedding_dim_ = int(meta["embedding_dim"])
        model.n_features_ = int(meta["n_features"])
        expected = model.n_features_ * (1 + len(model.domains))
        if head.coef_.shape != (1, expected):
            raise ValueError(f"{folder}: coef.npy has shape {head.coef_.shape}; expected (1, {expected})")
        return model
