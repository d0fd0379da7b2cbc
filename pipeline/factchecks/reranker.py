"""The matcher's re-ranker: a standardised logistic regression over the candidate features, saved as JSON."""
from __future__ import annotations

import numpy as np

from pipeline.core.errors import UserError
from pipeline.factchecks.index import FEATURE_NAMES

# Imported where used, not here (slow to load; most callers of this module never need them): scikit-learn.


def _estimator_bases() -> tuple[type, ...]:
    from sklearn.base import BaseEstimator, ClassifierMixin

    return ClassifierMixin, BaseEstimator


class MatchReranker(*_estimator_bases()):  # type: ignore[misc]  # scikit-learn's bases, imported lazily
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
