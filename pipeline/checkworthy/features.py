"""The features of the check-worthiness regression (word and character TF-IDF, cheap surface cues) and
the domain-adapted logistic regression over them."""
from __future__ import annotations

import re
from typing import Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import unique_labels
from sklearn.utils.validation import check_is_fitted, validate_data

# Imported where used, not here (slow to load; most callers of this module never need them): scikit-learn.

_URL = re.compile(r"https?://\S+|www\.\S+", re.IGNORECASE)


_HANDLE = re.compile(r"(?<!\w)@\w{1,30}")


_DIGIT = re.compile(r"\d")


_QUANTITY = re.compile(r"%|\bper ?cent\b|\bmillions?\b|\bbillions?\b|\btrillions?\b|\bthousands?\b|\$|€|£",
                       re.IGNORECASE)


# A capitalised word that does not start a sentence: names of people, places, organisations.
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-zA-Z]+")


_HEDGE = re.compile(r"\b(i think|i believe|i feel|i hope|i guess|maybe|perhaps|might|may|could|should|would|"
                    r"probably|seems?|will|let's|please)\b", re.IGNORECASE)


_PERSONAL = re.compile(r"\b(I|we|you|my|our|your)\b")


CHEAP_FEATURES = ("digits", "has_digit", "names", "hedge", "question", "url", "hashtags", "length",
                  "quantity", "personal")


def clean_text(text: str) -> str:
    """URLs and @handles carry no claim; replace them by placeholders so n-grams generalise."""
    return _HANDLE.sub("@user", _URL.sub(" url ", text))


def cheap_features(texts: Sequence[str]) -> np.ndarray:
    """One row of ``CHEAP_FEATURES`` (each scaled into [0, 1]) per text."""
    rows = np.zeros((len(texts), len(CHEAP_FEATURES)), dtype=np.float64)
    for i, raw in enumerate(texts):
        text = clean_text(raw)
        digits = len(_DIGIT.findall(text))
        rows[i] = (min(digits, 10) / 10, float(digits > 0), min(len(_NAME.findall(text)), 10) / 10,
                   float(bool(_HEDGE.search(text))), float("?" in text), float(" url " in text),
                   min(text.count("#"), 5) / 5, min(len(text.split()), 60) / 60,
                   float(bool(_QUANTITY.search(text))), float(bool(_PERSONAL.search(text))))
    return rows


class TfidfFeatures:
    """TF-IDF with sublinear tf and l2 rows over a fixed vocabulary: all of it is JSON + one array.

    Fitting uses scikit-learn's TfidfVectorizer; transforming needs only the vocabulary and the
    idf weights, so a saved model never depends on a pickled vectorizer.
    """

    def __init__(self, analyzer: str, ngram_range: tuple[int, int], vocabulary: dict[str, int],
                 idf: np.ndarray) -> None:
        from sklearn.feature_extraction.text import CountVectorizer

        self.analyzer = analyzer
        self.ngram_range = tuple(ngram_range)
        self.vocabulary = vocabulary
        self.idf = np.asarray(idf, dtype=np.float64)
        self._counts = CountVectorizer(analyzer=analyzer, ngram_range=self.ngram_range, vocabulary=vocabulary,
                                       lowercase=True, dtype=np.float64)

    @classmethod
    def fit(cls, texts: Sequence[str], analyzer: str, ngram_range: tuple[int, int], min_df: int,
            max_features: int | None) -> "TfidfFeatures":
        from sklearn.feature_extraction.text import TfidfVectorizer

        vectorizer = TfidfVectorizer(analyzer=analyzer, ngram_range=tuple(ngram_range), min_df=min_df,
                                     max_features=max_features, sublinear_tf=True, lowercase=True)
        vectorizer.fit(texts)
        vocabulary = {term: int(index) for term, index in vectorizer.vocabulary_.items()}
        return cls(analyzer, ngram_range, vocabulary, vectorizer.idf_)

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        counts = self._counts.transform(texts).tocsr()
        counts.data = np.log(counts.data) + 1.0  # sublinear tf, as TfidfVectorizer(sublinear_tf=True)
        weighted = counts @ sp.diags(self.idf)
        norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1)).ravel())
        return sp.csr_matrix(sp.diags(1.0 / np.maximum(norms, 1e-12)) @ weighted)


class DomainAdaptedLogisticRegression(ClassifierMixin, BaseEstimator):
    """Logistic regression whose features have a shared weight plus one weight per domain.

    ``fit(X, y, domain=None)`` and ``predict_proba(X, domain=None)`` take an optional integer
    domain per row (``0 <= domain < n_domains``); without it every row is in domain 0, which
    makes the model a plain (augmented) logistic regression.
    """

    def __init__(self, C: float = 1.0, n_domains: int = 2, class_weight: str | dict | None = "balanced",
                 max_iter: int = 3000) -> None:
        self.C = C
        self.n_domains = n_domains
        self.class_weight = class_weight
        self.max_iter = max_iter

    def _augment(self, X, domain) -> sp.csr_matrix:
        n = X.shape[0]
        domain = np.zeros(n, dtype=np.int64) if domain is None else np.asarray(domain, dtype=np.int64).reshape(-1)
        if domain.shape[0] != n:
            raise ValueError(f"domain has {domain.shape[0]} entries for {n} rows")
        if n and (domain.min() < 0 or domain.max() >= self.n_domains):
            raise ValueError(f"domain values must lie in [0, {self.n_domains})")
        X = sp.csr_matrix(X)
        blocks = [X] + [sp.diags((domain == d).astype(np.float64)) @ X for d in range(self.n_domains)]
        return sp.hstack(blocks, format="csr")

    def fit(self, X, y, domain=None, sample_weight=None) -> "DomainAdaptedLogisticRegression":
        from sklearn.linear_model import LogisticRegression

        X, y = validate_data(self, X, y, accept_sparse="csr", dtype=np.float64)
        self.classes_ = unique_labels(y)
        if len(self.classes_) < 2:
            raise ValueError(f"needs samples of at least 2 classes; got 1 class ({self.classes_.tolist()})")
        model = LogisticRegression(C=self.C, class_weight=self.class_weight, max_iter=self.max_iter)
        model.fit(self._augment(X, domain), y, sample_weight=sample_weight)
        self.coef_ = model.coef_.astype(np.float64)
        self.intercept_ = model.intercept_.astype(np.float64)
        self.n_iter_ = model.n_iter_
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def decision_function(self, X, domain=None) -> np.ndarray:
        check_is_fitted(self, "coef_")
        X = validate_data(self, X, accept_sparse="csr", dtype=np.float64, reset=False)
        scores = self._augment(X, domain) @ self.coef_.T + self.intercept_
        scores = np.asarray(scores)
        return scores.ravel() if len(self.classes_) == 2 else scores

    def predict_proba(self, X, domain=None) -> np.ndarray:
        scores = self.decision_function(X, domain)
        if len(self.classes_) == 2:
            positive = 1.0 / (1.0 + np.exp(-scores))
            return np.column_stack([1.0 - positive, positive])
        shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)

    def predict(self, X, domain=None) -> np.ndarray:
        proba = self.predict_proba(X, domain)
        return self.classes_[np.argmax(proba, axis=1)]
