"""Quality metrics, one definition each, for every stage and every report.

Bootstrap-ready metrics take gold (n,), predicted (n,), probs (n, K) and row indices (B, n) and return
(B,): one value per resample; the point estimate is the same call with ``idx = arange(n)[None]``
(``point``). Also: the top-label expected calibration error of a probability table, binary F1 at a
threshold and the threshold that maximises it, a classification report, and ranking metrics
(AP@k, MAP, MRR, recall@k) for matching."""
from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np

from pipeline.core.types import STANCE_LABELS

# Imported where used, not here (slow to load; most callers of this module never need them): scikit-learn.

N_BOOTSTRAP = 1000
SEED = 20240
CALIBRATION_BINS = 10


def confusion_counts(gold: np.ndarray, predicted: np.ndarray, idx: np.ndarray, k: int) -> np.ndarray:
    """Confusion counts per resample, shape (B, k, k), rows gold, columns predicted."""
    codes = gold[idx] * k + predicted[idx]
    offsets = (np.arange(idx.shape[0]) * k * k)[:, None]
    counts = np.bincount((codes + offsets).ravel(), minlength=idx.shape[0] * k * k)
    return counts.reshape(idx.shape[0], k, k)


def per_class_f1(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    tp = np.diagonal(cm, axis1=1, axis2=2).astype(float)
    predicted = cm.sum(axis=1).astype(float)
    actual = cm.sum(axis=2).astype(float)
    denominator = predicted + actual
    f1 = np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)
    return f1, (actual + predicted) > 0


def accuracy(gold, predicted, probs, idx) -> np.ndarray:
    return (gold[idx] == predicted[idx]).mean(axis=1)


def macro_f1(gold, predicted, probs, idx) -> np.ndarray:
    cm = confusion_counts(gold, predicted, idx, probs.shape[1])
    f1, present = per_class_f1(cm)
    # Macro over the classes that occur in the resample (gold or predicted), as sklearn does
    # with labels=present.
    return (f1 * present).sum(axis=1) / np.maximum(present.sum(axis=1), 1)


def _binary_counts(gold, predicted, idx):
    g, p = gold[idx] == 1, predicted[idx] == 1
    return (g & p).sum(axis=1).astype(float), (~g & p).sum(axis=1).astype(float), (g & ~p).sum(axis=1).astype(float)


def f1_positive(gold, predicted, probs, idx) -> np.ndarray:
    tp, fp, fn = _binary_counts(gold, predicted, idx)
    return np.divide(2 * tp, 2 * tp + fp + fn, out=np.zeros_like(tp), where=(2 * tp + fp + fn) > 0)


def precision_positive(gold, predicted, probs, idx) -> np.ndarray:
    tp, fp, _ = _binary_counts(gold, predicted, idx)
    return np.divide(tp, tp + fp, out=np.zeros_like(tp), where=(tp + fp) > 0)


def recall_positive(gold, predicted, probs, idx) -> np.ndarray:
    tp, _, fn = _binary_counts(gold, predicted, idx)
    return np.divide(tp, tp + fn, out=np.zeros_like(tp), where=(tp + fn) > 0)


def average_precision(gold, predicted, probs, idx) -> np.ndarray:
    """Area under the precision-recall curve of class 1 (sklearn's step-wise definition)."""
    out = np.zeros(idx.shape[0])
    score = probs[:, 1]
    for b, rows in enumerate(idx):
        y = gold[rows] == 1
        positives = y.sum()
        if positives == 0:
            continue
        s = score[rows]
        order = np.argsort(-s, kind="mergesort")
        y, s = y[order], s[order]
        # Thresholds at distinct scores: precision and recall at the last row of each tie block.
        last = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]
        tp = np.cumsum(y)[last]
        precision = tp / (last + 1)
        recall = tp / positives
        out[b] = np.sum(np.diff(np.r_[0.0, recall]) * precision)
    return out


def expected_calibration_error(gold, predicted, probs, idx, bins: int = CALIBRATION_BINS) -> np.ndarray:
    """Top-label ECE: |accuracy - confidence| per confidence bin, weighted by the bin's rows."""
    return _calibration_gap(probs.max(axis=1), (probs.argmax(axis=1) == gold).astype(float), idx, bins)


def _calibration_gap(confidence: np.ndarray, correct: np.ndarray, idx: np.ndarray, bins: int) -> np.ndarray:
    """The ECE per resample from each row's confidence in its label and whether that label was right."""
    which = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    offsets = (np.arange(idx.shape[0]) * bins)[:, None]
    flat = (which[idx] + offsets).ravel()
    size = idx.shape[0] * bins
    conf = np.bincount(flat, weights=confidence[idx].ravel(), minlength=size).reshape(-1, bins)
    acc = np.bincount(flat, weights=correct[idx].ravel(), minlength=size).reshape(-1, bins)
    return np.abs(acc - conf).sum(axis=1) / idx.shape[1]


def calibration_error(probs: np.ndarray, labels: Sequence[int], bins: int = 15) -> float:
    """``expected_calibration_error`` of one probability table (no resampling)."""
    gold = np.asarray(labels)
    return float(expected_calibration_error(gold, probs.argmax(axis=1), probs, np.arange(len(gold))[None], bins)[0])


def top_label_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = CALIBRATION_BINS) -> float:
    """``expected_calibration_error`` from each row's confidence in its predicted label and whether
    that label was right (for a model whose probabilities are not a table over the labels)."""
    confidence = np.asarray(confidence, dtype=np.float64)
    return float(_calibration_gap(confidence, np.asarray(correct, dtype=np.float64),
                                  np.arange(len(confidence))[None], bins)[0])


def brier(gold, predicted, probs, idx) -> np.ndarray:
    onehot = np.eye(probs.shape[1])[gold]
    per_row = ((probs - onehot) ** 2).sum(axis=1)
    return per_row[idx].mean(axis=1)


def log_loss(gold, predicted, probs, idx) -> np.ndarray:
    per_row = -np.log(np.clip(probs[np.arange(len(gold)), gold], 1e-12, None))
    return per_row[idx].mean(axis=1)


def bootstrap_indices(n: int, n_bootstrap: int = N_BOOTSTRAP, seed: int = SEED) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n, size=(n_bootstrap, n))


def ranked_average_precision(ranked: Sequence[str], relevant: Iterable[str], k: int | None = None) -> float:
    """CheckThat! 2020 task 2 AP@k: precision at each relevant hit in the top k, over |relevant|."""
    relevant = set(relevant)
    if not relevant:
        return 0.0
    hits, total = 0, 0.0
    for i, item in enumerate(ranked[:k] if k else ranked, 1):
        if item in relevant:
            hits += 1
            total += hits / i
    return total / len(relevant)


def ranking_metrics(rankings: Sequence[Sequence[str]], relevant: Sequence[Iterable[str]],
                    ks: Sequence[int] = (1, 3, 5, 10, 20, 50)) -> dict:
    """MAP@k, MRR and recall@k (share of relevant records found in the top k) over queries."""
    relevant_sets = [set(r) for r in relevant]
    n = len(rankings)
    out: dict[str, float] = {"queries": n}
    for k in ks:
        out[f"map@{k}"] = sum(ranked_average_precision(r, g, k) for r, g in zip(rankings, relevant_sets)) / max(n, 1)
    out["map"] = sum(ranked_average_precision(r, g) for r, g in zip(rankings, relevant_sets)) / max(n, 1)
    reciprocal = []
    for r, g in zip(rankings, relevant_sets):
        first = next((i for i, item in enumerate(r, 1) if item in g), None)
        reciprocal.append(1.0 / first if first else 0.0)
    out["mrr"] = sum(reciprocal) / max(n, 1)
    for k in ks:
        out[f"recall@{k}"] = sum(len(set(r[:k]) & g) / len(g) for r, g in zip(rankings, relevant_sets) if g) / max(n, 1)
    return {key: round(value, 4) if isinstance(value, float) else value for key, value in out.items()}


def top1_precision_by_similarity(top: Sequence[tuple[str, float] | None], relevant: Sequence[Iterable[str]],
                                 cuts: Sequence[float] = (0.1, 0.3, 0.5, 0.7, 0.9)) -> dict:
    """For each cut: the share of queries whose best match has similarity >= cut (coverage) and
    how often that best match is relevant (precision); helps choose when to show a match."""
    out = {}
    for cut in cuts:
        kept = [(t[0] in set(r)) for t, r in zip(top, relevant) if t is not None and t[1] >= cut]
        out[str(cut)] = {"coverage": round(len(kept) / max(len(top), 1), 4),
                         "precision": round(sum(kept) / len(kept), 4) if kept else None}
    return out


def f1_metrics(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict:
    """Positive-class F1, precision, recall at ``threshold`` and average precision."""
    from sklearn.metrics import average_precision_score, precision_recall_fscore_support

    labels = np.asarray(labels)
    predicted = (np.asarray(scores) >= threshold).astype(np.int64)
    precision, recall, f1, _ = precision_recall_fscore_support(labels, predicted, average="binary",
                                                               pos_label=1, zero_division=0)
    ap = float(average_precision_score(labels, scores)) if labels.any() else math.nan
    return {"f1": round(float(f1), 4), "average_precision": round(ap, 4), "precision": round(float(precision), 4),
            "recall": round(float(recall), 4), "threshold": round(float(threshold), 4), "rows": int(len(labels)),
            "positives": int(labels.sum())}


def best_f1_threshold(labels: np.ndarray, scores: np.ndarray) -> float:
    """The threshold that maximises positive-class F1 (midway between neighbouring scores)."""
    from sklearn.metrics import precision_recall_curve

    precision, recall, thresholds = precision_recall_curve(labels, scores)
    f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-12)
    best = int(np.argmax(f1))
    # Halfway to the next lower score, so a score equal to the tuned one is not on the edge.
    lower = np.asarray(scores)[np.asarray(scores) < thresholds[best]]
    return float((thresholds[best] + lower.max()) / 2) if lower.size else float(thresholds[best])


def classification_report(gold: Sequence[str], predicted: Sequence[str],
                          labels: Sequence[str] = STANCE_LABELS) -> dict:
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

    present = [label for label in labels if label in set(gold) | set(predicted)]
    per_class = f1_score(gold, predicted, labels=list(labels), average=None, zero_division=0)
    return {
        "n": len(gold),
        "accuracy": round(float(accuracy_score(gold, predicted)), 4),
        "macro_f1": round(float(f1_score(gold, predicted, labels=present, average="macro", zero_division=0)), 4),
        "per_class_f1": {label: round(float(f), 4) for label, f in zip(labels, per_class)},
        "confusion_matrix": {"labels": list(labels),
                             "rows_gold_cols_predicted": confusion_matrix(gold, predicted, labels=list(labels)).tolist()},
    }
