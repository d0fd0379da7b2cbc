"""The evidence-monotone verdict fit (``VerdictAggregator(monotone=True)``): which way each
verdict feature leans, the coefficient bounds that follow from it, and the bounded multinomial
logistic regression that respects them (scikit-learn's solvers take no bounds)."""
from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np
from sklearn.exceptions import ConvergenceWarning

# Which way each feature leans, for the evidence-monotone fit (``monotone_bounds``). A passage's
# stance probability moving towards REFUTES (from NOT_ENOUGH_INFO or from SUPPORTS) raises refute
# features and lowers support or neutral ones; for that never to raise SUPPORTED against REFUTED,
# support features may only count for SUPPORTED, refute features only for REFUTED, and what says
# nothing about the side (how neutral the passages read; ``conflict``, which grows with both)
# may not tip one against the other.
SUPPORT_FEATURES = frozenset({"max_supports", "weighted_supports", "top_supports", "share_supports",
                              "max_supports_shown", "log_docs_supporting", "support_refute_balance",
                              "joint_supports"})
REFUTE_FEATURES = frozenset({"max_refutes", "weighted_refutes", "top_refutes", "share_refutes",
                             "max_refutes_shown", "log_docs_refuting", "joint_refutes"})
NEUTRAL_FEATURES = frozenset({"max_nei", "weighted_nei", "mean_nei_shown", "joint_nei"})
SIDELESS_FEATURES = NEUTRAL_FEATURES | {"conflict"}
# Counts of passages, which no stance reading moves: free in both stages.
STANCE_FREE_FEATURES = frozenset({"log_n_evidence", "voter_share"})


Bound = tuple[float | None, float | None]
FREE: Bound = (None, None)


def monotone_bounds(classes: Sequence[str], feature_names: Sequence[str], n_features: int) -> list[Bound]:
    """(lower, upper) per coefficient of the verdict stage, class by class (row-major, as
    ``coef_``), then a free intercept per class. SUPPORTED's row: at least 0 on support features,
    at most 0 on refute features, 0 on sideless ones; REFUTED's the mirror; CONFLICTING's free. So
    a passage read as more refuting (or less supporting) never raises SUPPORTED against REFUTED."""
    lean = {**{n: 1 for n in SUPPORT_FEATURES}, **{n: -1 for n in REFUTE_FEATURES}, **{n: 0 for n in SIDELESS_FEATURES}}
    side = {"SUPPORTED": 1, "REFUTED": -1}
    bounds: list[Bound] = []
    for label in classes:
        for j in range(n_features):
            name = feature_names[j] if j < len(feature_names) else ""
            if label not in side or name not in lean:
                bounds.append(FREE)
            elif lean[name] == 0:
                bounds.append((0.0, 0.0))
            else:
                bounds.append((0.0, None) if lean[name] * side[label] > 0 else (None, 0.0))
    return bounds + [FREE] * len(classes)


def nei_stage_bounds(feature_names: Sequence[str], n_features: int) -> list[Bound]:
    """Bounds for the NOT_ENOUGH_INFO stage in ``bounded_softmax_regression``'s two-class layout
    (a fixed row for "evidence", then the row scoring NOT_ENOUGH_INFO, then intercepts): a passage
    whose probability moves from its neutral reading to support or refutation never raises this
    stage's probability of NOT_ENOUGH_INFO (one moving from support to refutation may). The support / refute balance says which side, not how much: it may not move it."""
    evidence = (SUPPORT_FEATURES | REFUTE_FEATURES | {"conflict"}) - {"support_refute_balance"}
    row: list[Bound] = []
    for j in range(n_features):
        name = feature_names[j] if j < len(feature_names) else ""
        row.append((None, 0.0) if name in evidence else (0.0, None) if name in NEUTRAL_FEATURES
                   else (0.0, 0.0) if name == "support_refute_balance" else FREE)
    return [(0.0, 0.0)] * n_features + row + [FREE, FREE]


def bounded_softmax_regression(Z: np.ndarray, y: np.ndarray, weight: np.ndarray, C: float,
                               classes: np.ndarray, bounds: list[Bound]) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression with box bounds on its coefficients, in scikit-learn's
    layout and objective (``0.5 * ||W||^2 + C * sum_i weight_i * log-loss_i``, intercepts not
    penalised; two classes as one row scoring the second, bounded by what the two rows' bounds
    allow their difference), solved by L-BFGS-B: scikit-learn's solvers take no bounds."""
    from scipy.optimize import minimize

    k, d = len(classes), Z.shape[1]
    onehot = (np.asarray(y)[:, None] == np.asarray(classes)[None, :]).astype(np.float64)
    if k == 2:
        first, second = bounds[:d], bounds[d:2 * d]
        bounds = [(None if lo1 is None or hi0 is None else lo1 - hi0, None if hi1 is None or lo0 is None else hi1 - lo0)
                  for (lo0, hi0), (lo1, hi1) in zip(first, second)] + [(None, None)]
    rows = 1 if k == 2 else k

    def loss_and_gradient(theta: np.ndarray) -> tuple[float, np.ndarray]:
        W, b = theta[:rows * d].reshape(rows, d), theta[rows * d:]
        scores = Z @ W.T + b
        if k == 2:
            scores = np.column_stack([np.zeros(len(Z)), scores])
        scores -= scores.max(axis=1, keepdims=True)
        log_probs = scores - np.log(np.exp(scores).sum(axis=1, keepdims=True))
        loss = -C * float(weight @ (onehot * log_probs).sum(axis=1)) + 0.5 * float((W ** 2).sum())
        residual = (C * (np.exp(log_probs) - onehot) * weight[:, None])[:, k - rows:]
        return loss, np.concatenate([(residual.T @ Z + W).ravel(), residual.sum(axis=0)])

    result = minimize(loss_and_gradient, np.zeros(rows * d + rows), jac=True, method="L-BFGS-B", bounds=bounds,
                      options={"maxiter": 5000})
    if not result.success:
        warnings.warn(f"bounded logistic regression did not converge: {result.message}", ConvergenceWarning,
                      stacklevel=2)
    return result.x[:rows * d].reshape(rows, d), result.x[rows * d:]
