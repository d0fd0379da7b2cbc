"""Verdict: many passages' stances towards one claim → SUPPORTED / REFUTED / NOT_ENOUGH_INFO / CONFLICTING.

``VerdictAggregator`` is a scikit-learn estimator over a small, fixed set of features of the
evidence list (strongest support, strongest refutation, rank-weighted means, how many passages
agree). Unfitted, it applies hand-set thresholds; ``fit`` learns a multinomial logistic regression
on AVeriTeC claims (their question-answer evidence scored by the stance model, their four
verdict labels). Learned parameters are stored in the registry as JSON (``verdict``).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Sequence, cast

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets, unique_labels
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from pipeline.core.errors import UserError
from pipeline.core.metrics import classification_report
from pipeline.core.types import STANCE_LABELS, VERDICT_LABELS, Evidence, Verdict, VerdictLabel
from pipeline.registry.registry import DEFAULT_MODELS_DIR, ModelIntegrityError, ModelNotFoundError, Registry
from pipeline.stance import data as stance_data
from pipeline.stance.data import AVERITEC_VERDICT, averitec_qa_texts
from pipeline.stance.model import StanceModel
from pipeline.verdict.monotone import (
    REFUTE_FEATURES,
    SIDELESS_FEATURES,
    STANCE_FREE_FEATURES,
    SUPPORT_FEATURES,
    bounded_softmax_regression,
    monotone_bounds,
    nei_stage_bounds,
)
from pipeline.verdict.quantities import QUANTITY_FEATURE_NAMES, QuantityReader, quantity_features

# Imported where used, not here (slow to load; most callers of this module never need them): scikit-learn,
# torch.

FEATURE_NAMES = (
    "max_supports", "max_refutes", "max_nei",
    "weighted_supports", "weighted_refutes", "weighted_nei",
    "top_supports", "top_refutes",
    "share_supports", "share_refutes",
    "conflict", "log_n_evidence",
)
# Read over every passage shown, not only the voters: how far the voting rules' choice leaves
# evidence out, how many distinct documents stand on each side, and the balance of support and
# refutation among the passages the stance model reads as relevant.
SHOWN_FEATURE_NAMES = (
    "max_supports_shown", "max_refutes_shown", "mean_nei_shown",
    "log_docs_supporting", "log_docs_refuting", "support_refute_balance", "voter_share",
)
# The stance model reading the claim against the passages shown joined into one text, best
# first (``joint_reading_text``): evidence that decides only together (a question, then its
# answer; two halves of a fact), read the way multi-sentence evidence is read in training.
JOINT_FEATURE_NAMES = ("joint_supports", "joint_refutes", "joint_nei")
def monotone_fit_possible(feature_set: str) -> bool:
    """Whether every feature of ``feature_set`` has a declared lean: the bounds can then hold what
    ``monotone_bounds`` promises (evidence-v3's number features move with stance in no one way)."""
    declared = SUPPORT_FEATURES | REFUTE_FEATURES | SIDELESS_FEATURES | STANCE_FREE_FEATURES
    return set(FEATURE_SETS.get(feature_set, ("?",))) <= declared
JOINT_PASSAGES = 5
# Tokens of (claim, joint reading) enough to read all five passages for most claims: at the stance
# model's own training length (128) the joint text is cut for most claims (99% of COVID-Fact's, 34%
# of AVeriTeC's). `claimsift train verdict --joint-max-length` fits a model on readings of that
# length, which it records (``VerdictAggregator.joint_max_length``; None: the stance model's own).
JOINT_MAX_LENGTH = 256
FEATURE_SETS = {"evidence-v1": FEATURE_NAMES, "evidence-v2": FEATURE_NAMES + SHOWN_FEATURE_NAMES,
                "evidence-v3": FEATURE_NAMES + SHOWN_FEATURE_NAMES + QUANTITY_FEATURE_NAMES,
                "evidence-v4": FEATURE_NAMES + SHOWN_FEATURE_NAMES + JOINT_FEATURE_NAMES}


def joint_reading_text(shown: Sequence[Evidence]) -> str:
    """The passages shown, best first, as one text (the stance model truncates it to its length)."""
    return " ".join(e.sentence for e in list(shown)[:JOINT_PASSAGES])


def needs_joint_reading(feature_set: str) -> bool:
    return "joint_supports" in FEATURE_SETS.get(feature_set, ())


PARAMS_FILE = "verdict_params.json"
NOT_ENOUGH_INFO: VerdictLabel = "NOT_ENOUGH_INFO"


def served_verdicts(scores: np.ndarray, labels: Sequence[str], no_voters: np.ndarray | None = None) -> np.ndarray:
    """The verdicts given from ``scores`` (one row per claim, columns ``labels``; -inf: a class
    the model cannot give): the best class, except NOT_ENOUGH_INFO where no passage votes and the
    model can give it. No passage is about the claim (the voting rules found none): a verdict
    needs evidence to show, whatever the passages around it look like."""
    names = np.asarray(labels)
    predicted = names[np.asarray(scores).argmax(axis=1)]
    if no_voters is not None and NOT_ENOUGH_INFO in names:
        nei_known = np.isfinite(np.asarray(scores)[:, list(names).index(NOT_ENOUGH_INFO)])
        predicted = np.where(np.asarray(no_voters, dtype=bool) & nei_known, NOT_ENOUGH_INFO, predicted)
    return predicted


def evidence_probs(evidence: Sequence[Evidence]) -> np.ndarray:
    """(n, 3) stance probabilities in STANCE_LABELS order; evidence without probabilities counts as
    NOT_ENOUGH_INFO."""
    rows = []
    for item in evidence:
        probs = item.stance_probs or {}
        row = [float(probs.get(label, 0.0)) for label in STANCE_LABELS]
        if sum(row) <= 0:
            row = [0.0, 0.0, 1.0]
        total = sum(row)
        rows.append([v / total for v in row])
    return np.asarray(rows, dtype=np.float64).reshape(-1, len(STANCE_LABELS))


def verdict_features(evidence: Sequence[Evidence]) -> np.ndarray:
    """One feature row for a claim. Retrieval scores enter only through their rank (weights 1/(1+rank)),
    so the features do not depend on the scale of whichever retriever produced them."""
    probs = evidence_probs(evidence)
    if len(probs) == 0:
        return np.array([0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0], dtype=np.float64)
    scores = np.array([float(e.score) for e in evidence])
    order = np.argsort(-scores, kind="stable")
    weights = np.empty(len(probs))
    weights[order] = 1.0 / (1.0 + np.arange(len(probs)))
    weights /= weights.sum()
    weighted = weights @ probs
    top = probs[order[0]]
    max_s, max_r, max_n = probs.max(axis=0)
    return np.array([
        max_s, max_r, max_n,
        weighted[0], weighted[1], weighted[2],
        top[0], top[1],
        float((probs[:, 0] >= 0.5).mean()), float((probs[:, 1] >= 0.5).mean()),
        min(max_s, max_r), np.log1p(len(probs)),
    ], dtype=np.float64)


def shown_features(voters: Sequence[Evidence], shown: Sequence[Evidence]) -> np.ndarray:
    """``SHOWN_FEATURE_NAMES`` for one claim (``shown``: every passage, ``voters``: those that vote)."""
    probs = evidence_probs(shown)
    if len(probs) == 0:
        return np.array([0, 0, 1, 0, 0, 0.5, 0], dtype=np.float64)
    docs = [e.doc_id for e in shown]
    supporting = {d for d, p in zip(docs, probs) if p[0] >= 0.5}
    refuting = {d for d, p in zip(docs, probs) if p[1] >= 0.5}
    s, r = float(probs[:, 0].sum()), float(probs[:, 1].sum())
    return np.array([
        probs[:, 0].max(), probs[:, 1].max(), probs[:, 2].mean(),
        np.log1p(len(supporting)), np.log1p(len(refuting)),
        (s + 0.05) / (s + r + 0.1), len(voters) / len(shown),
    ], dtype=np.float64)


def claim_features(voters: Sequence[Evidence], shown: Sequence[Evidence] | None = None,
                   feature_set: str = "evidence-v1", claim: str = "",
                   quantities: QuantityReader | None = None,
                   joint_probs: Sequence[float] | None = None) -> np.ndarray:
    """The feature row of ``feature_set`` (``FEATURE_SETS``) for one claim; evidence-v3 also reads
    the claim's and the shown passages' numbers (``quantities``), evidence-v4 the stance
    probabilities of the joint reading (``joint_reading_text``; none: NOT_ENOUGH_INFO)."""
    if feature_set not in FEATURE_SETS:
        raise UserError(f"unknown verdict feature set {feature_set!r}; known: {', '.join(FEATURE_SETS)}")
    row = verdict_features(voters)
    if feature_set == "evidence-v1":
        return row
    shown = voters if shown is None else shown
    row = np.concatenate([row, shown_features(voters, shown)])
    if feature_set == "evidence-v2":
        return row
    if feature_set == "evidence-v4":
        joint = [0.0, 0.0, 1.0] if joint_probs is None or not shown else [float(p) for p in joint_probs]
        return np.concatenate([row, np.asarray(joint, dtype=np.float64)])
    reader = quantities if quantities is not None else QuantityReader()
    return np.concatenate([row, quantity_features(claim, shown, evidence_probs(shown), reader)])


class VerdictAggregator(ClassifierMixin, BaseEstimator):
    """Unfitted: thresholds (``support_threshold``, ``refute_threshold``); fitted: logistic
    regression over ``FEATURE_NAMES`` with balanced class weights (AVeriTeC is 57% refuted)."""

    def __init__(self, C: float = 1.0, support_threshold: float = 0.5, refute_threshold: float = 0.5,
                 class_weight: str | None = "balanced", feature_set: str = "evidence-v1",
                 review_below: float = 0.0, nei_stage: bool = False, temperature: float = 1.0,
                 stance_input: str = "sentence", query_adapter: str = "none", monotone: bool = False,
                 joint_max_length: int | None = None) -> None:
        self.C = C
        self.support_threshold = support_threshold
        self.refute_threshold = refute_threshold
        self.class_weight = class_weight
        self.feature_set = feature_set
        # Verdicts less confident than this are flagged ``needs_review``: a person should read the
        # evidence. Chosen where held-out accuracy falls to a coin toss (``training.verdict_fit``).
        self.review_below = review_below
        # Two stages: "is there evidence at all" (NOT_ENOUGH_INFO or not), learned only from rows
        # whose corpus labels NOT_ENOUGH_INFO (``fit(..., nei_informative=...)``), then which
        # verdict among the others, learned from every row that is not NOT_ENOUGH_INFO. A corpus
        # whose claims all have evidence says nothing about where evidence stops.
        self.nei_stage = nei_stage
        self.temperature = temperature  # probabilities p are tempered as p ** (1 / T), renormalised
        # What the stance model read of each passage when the features were fitted
        # (``pipeline.verdict.checker.stance_text``); the Checker reads passages the same way.
        self.stance_input = stance_input
        # The query adapter retrieval used when the features were fitted, resolved
        # (``query-adapter@v1``) or "none"; the Checker retrieves the same way.
        self.query_adapter = query_adapter
        # Tokens the stance model read of the claim and its joint reading when the features were
        # fitted (None: the stance model's own length); the Checker reads it the same way.
        self.joint_max_length = joint_max_length
        # Sign constraints on the verdict stage (``monotone_bounds``): a corpus's label priors then
        # cannot teach the model that a stronger refutation is a sign of a true claim.
        self.monotone = monotone

    # -- the scikit-learn estimator --------------------------------------------------------------
    def fit(self, X, y, sample_weight=None, nei_informative=None) -> "VerdictAggregator":
        from sklearn.linear_model import LogisticRegression

        X, y = validate_data(self, X, y)
        check_classification_targets(y)
        self.classes_ = unique_labels(y)
        weight = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
        if not weight.any():
            raise ValueError("Sample weights must contain at least one non-zero number.")
        totals = {label: weight[y == label].sum() for label in self.classes_}
        weighted_classes = [label for label, total in totals.items() if total > 0]
        if len(weighted_classes) < 2:
            n = len(weighted_classes)
            raise ValueError(f"fitting needs two classes or more with a positive sample weight, not {n} class"
                             + ("es" if n != 1 else ""))
        if self.class_weight == "balanced":
            # From the weighted class totals, so that a weight of 2 means the same as a row seen twice.
            factor = {label: weight.sum() / (len(weighted_classes) * total) if total > 0 else 0.0
                      for label, total in totals.items()}
            weight = weight * np.array([factor[label] for label in y])
        elif isinstance(self.class_weight, dict):
            weight = weight * np.array([float(self.class_weight.get(label, 1.0)) for label in y])
        elif self.class_weight is not None:
            raise ValueError(f"class_weight must be 'balanced', a dict or None, not {self.class_weight!r}")
        self.mean_ = np.average(X, axis=0, weights=weight)
        self.scale_ = np.sqrt(np.average((X - self.mean_) ** 2, axis=0, weights=weight)) + 1e-6
        Z = (X - self.mean_) / self.scale_
        is_nei = y == NOT_ENOUGH_INFO
        if self.nei_stage and is_nei.any() and not is_nei.all():
            informative = np.ones(len(y), dtype=bool) if nei_informative is None else np.asarray(nei_informative, bool)
            if len(set(is_nei[informative])) < 2:
                raise ValueError("the NOT_ENOUGH_INFO stage needs rows of both kinds among nei_informative rows")
            if self.monotone:
                bounds = nei_stage_bounds(FEATURE_SETS.get(self.feature_set, ()), Z.shape[1])
                coef, intercept = bounded_softmax_regression(Z[informative], is_nei[informative], weight[informative],
                                                             self.C, np.array([False, True]), bounds)
            else:
                stage = LogisticRegression(C=self.C, max_iter=2000)
                stage.fit(Z[informative], is_nei[informative], sample_weight=weight[informative])
                coef, intercept = stage.coef_, stage.intercept_
            self.nei_coef_ = coef[0]
            self.nei_intercept_ = float(intercept[0])
            Z, y, weight = Z[~is_nei], y[~is_nei], weight[~is_nei]
        if self.monotone and self.feature_set in FEATURE_SETS and not monotone_fit_possible(self.feature_set):
            raise ValueError(f"{self.feature_set} has features with no declared lean; it cannot be fitted monotone")
        if self.monotone:
            self.model_classes_ = unique_labels(y)
            if len(self.model_classes_) < 2:
                raise ValueError(f"the verdict stage needs two classes or more, not only {self.model_classes_[0]}")
            bounds = monotone_bounds(self.model_classes_, FEATURE_SETS.get(self.feature_set, ()), Z.shape[1])
            self.coef_, self.intercept_ = bounded_softmax_regression(Z, y, weight, self.C, self.model_classes_, bounds)
            return self
        model = LogisticRegression(C=self.C, max_iter=2000)
        model.fit(Z, y, sample_weight=weight)
        self.coef_ = model.coef_
        self.intercept_ = model.intercept_
        self.model_classes_ = model.classes_
        return self

    def _verdict_scores(self, Z: np.ndarray) -> np.ndarray:
        """Softmax over ``model_classes_`` of the (second-stage) regression."""
        scores = Z @ self.coef_.T + self.intercept_
        if scores.shape[1] == 1:  # two classes: scikit-learn's single column scores the second class
            scores = np.column_stack([np.zeros(len(scores)), scores[:, 0]])
        scores = scores - scores.max(axis=1, keepdims=True)
        exp = np.exp(scores)
        return exp / exp.sum(axis=1, keepdims=True)

    def decision_function(self, X) -> np.ndarray:
        check_is_fitted(self, "coef_")
        X = validate_data(self, X, reset=False)
        if hasattr(self, "nei_coef_") or self.temperature != 1.0:
            return np.log(np.clip(self.predict_proba(X), 1e-300, None))
        scores = ((X - self.mean_) / self.scale_) @ self.coef_.T + self.intercept_
        return scores.ravel() if scores.shape[1] == 1 else scores

    def predict_proba(self, X) -> np.ndarray:
        check_is_fitted(self, "coef_")
        X = validate_data(self, X, reset=False)
        Z = (X - self.mean_) / self.scale_
        verdicts = self._verdict_scores(Z)
        if hasattr(self, "nei_coef_"):
            p_nei = 1.0 / (1.0 + np.exp(-(Z @ self.nei_coef_ + self.nei_intercept_)))
            probs = np.zeros((len(Z), len(self.classes_)))
            for j, label in enumerate(self.model_classes_):
                probs[:, list(self.classes_).index(label)] = (1.0 - p_nei) * verdicts[:, j]
            probs[:, list(self.classes_).index(NOT_ENOUGH_INFO)] = p_nei
        else:
            probs = verdicts
        if self.temperature != 1.0:
            probs = np.clip(probs, 1e-300, None) ** (1.0 / self.temperature)
            probs = probs / probs.sum(axis=1, keepdims=True)
        return probs

    def predict(self, X) -> np.ndarray:
        best = self.predict_proba(X).argmax(axis=1)
        return self.classes_[best]

    # -- rules (the unfitted aggregator) ---------------------------------------------------------
    def rule_verdict(self, features: np.ndarray) -> tuple[VerdictLabel, float]:
        max_s, max_r = float(features[0]), float(features[1])
        supported = max_s >= self.support_threshold
        refuted = max_r >= self.refute_threshold
        if supported and refuted:
            return "CONFLICTING", min(max_s, max_r)
        if refuted:
            return "REFUTED", max_r
        if supported:
            return "SUPPORTED", max_s
        return "NOT_ENOUGH_INFO", 1.0 - max(max_s, max_r)

    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "coef_")

    # -- the pipeline stage ------------------------------------------------------------------------
    @property
    def needs_joint_reading(self) -> bool:
        """Whether ``aggregate`` wants ``joint_probs`` (the stance of the joint reading)."""
        return self.is_fitted and needs_joint_reading(self.feature_set)

    def aggregate(self, claim: str, evidence: Sequence[Evidence], shown: Sequence[Evidence] | None = None,
                  joint_probs: Sequence[float] | None = None) -> Verdict:
        """The verdict from the voting passages ``evidence``; ``shown``: every passage retrieved
        (read by the ``evidence-v2`` features); ``joint_probs``: the stance model's probabilities
        for the claim against ``joint_reading_text(shown)`` (``evidence-v4``)."""
        evidence = tuple(evidence)
        if self.needs_joint_reading and joint_probs is None and (shown or evidence):
            raise UserError(f"verdict model {self.feature_set} reads the passages together: pass joint_probs "
                            "(Checker.joint_readings) or check through the Checker")
        if self.feature_set == "evidence-v3" and not hasattr(self, "_quantity_reader"):
            self._quantity_reader = QuantityReader()  # one parse cache per aggregator, filled lazily
        features = claim_features(evidence, shown, self.feature_set, claim, getattr(self, "_quantity_reader", None),
                                  joint_probs)
        if self.is_fitted:
            probs = self.predict_proba(features[None, :])[0]
            # A model that aggregates was fitted on verdict labels (train_verdict, fit_verdict_model).
            given = str(served_verdicts(probs[None, :], self.classes_, np.array([not evidence]))[0])
            verdict = cast(VerdictLabel, given)
            confidence = float(probs[list(self.classes_).index(given)])
        else:
            verdict, confidence = self.rule_verdict(features)
        return Verdict(claim=claim, verdict=verdict, confidence=round(confidence, 4), evidence=evidence,
                       decisive=decisive_indices(verdict, evidence_probs(evidence)),
                       needs_review=bool(confidence < self.review_below))

    # -- persistence -------------------------------------------------------------------------------
    def to_json(self) -> dict:
        check_is_fitted(self, "coef_")
        return {"params": self.get_params(), "feature_names": list(FEATURE_SETS[self.feature_set]),
                "classes": [str(c) for c in self.classes_], "mean": self.mean_.tolist(),
                "scale": self.scale_.tolist(), "coef": self.coef_.tolist(), "intercept": self.intercept_.tolist(),
                "verdict_classes": [str(c) for c in self.model_classes_],
                **({"nei_coef": self.nei_coef_.tolist(), "nei_intercept": self.nei_intercept_}
                   if hasattr(self, "nei_coef_") else {})}

    @classmethod
    def from_json(cls, data: dict) -> "VerdictAggregator":
        model = cls(**data["params"])
        if data.get("feature_names") != list(FEATURE_SETS.get(model.feature_set, ())):
            raise UserError("verdict model was trained on other features than this code computes; retrain it")
        model.classes_ = np.asarray(data["classes"])
        model.n_features_in_ = len(FEATURE_SETS[model.feature_set])
        model.mean_ = np.asarray(data["mean"])
        model.scale_ = np.asarray(data["scale"])
        model.coef_ = np.asarray(data["coef"])
        model.intercept_ = np.asarray(data["intercept"])
        model.model_classes_ = np.asarray(data.get("verdict_classes", data["classes"]))
        if "nei_coef" in data:
            model.nei_coef_ = np.asarray(data["nei_coef"])
            model.nei_intercept_ = float(data["nei_intercept"])
        return model

    @classmethod
    def load(cls, spec: str = "verdict", models_dir: Path | str | None = None,
             fallback_to_rules: bool = True) -> "VerdictAggregator":
        """The registry model (hash-checked); the hand-set rules while none has been trained."""
        registry = Registry(models_dir or DEFAULT_MODELS_DIR)
        if spec == "verdict" and registry.current_version("verdict") is None and fallback_to_rules:
            return cls()
        try:
            ref = registry.load_ref(spec)
        except (ModelIntegrityError, ModelNotFoundError) as exc:
            raise UserError(str(exc)) from exc
        return cls.from_json(json.loads((ref.path / PARAMS_FILE).read_text()))


def fitted_stance_spec(spec: str = "verdict", models_dir: Path | str | None = None) -> str | None:
    """The stance model whose probabilities verdict model ``spec`` was fitted on (``stance@v5``,
    from its card), or None: the hand-set rules, no verdict model yet, or a card that does not
    name exactly one. A verdict model's weights are only right for that model's probabilities."""
    if spec == "rules":
        return None
    registry = Registry(models_dir or DEFAULT_MODELS_DIR)
    if spec == "verdict" and registry.current_version("verdict") is None:
        return None
    try:
        record = registry.resolve(spec).card.get("stance_model")
    except ModelNotFoundError as exc:
        raise UserError(str(exc)) from exc
    # Cards name the tag itself (older fits) or, per Checker, its {"stance": tag, "screen": tag}.
    tags = [record] if isinstance(record, dict) and "version" in record else \
        [item.get("stance") for item in record or [] if isinstance(item, dict)]
    labels = {f"{tag['model']}@{tag['version']}" for tag in tags if tag and "model" in tag and "version" in tag}
    return labels.pop() if len(labels) == 1 else None


def decisive_indices(verdict: str, probs: np.ndarray, limit: int = 3) -> tuple[int, ...]:
    """The passages that carry the verdict: the strongest supporting and/or refuting ones (at
    least 0.5 that way; else the strongest that way, if its own stance is that way). None where no
    passage leans the verdict's way: a verdict fitted on every passage, and on all of them read
    together, can go where no single passage does, and marking a passage that says the opposite
    as what decided it would mislead the reader."""
    if len(probs) == 0 or verdict == "NOT_ENOUGH_INFO":
        return ()

    def strongest(column: int) -> list[int]:
        order = [int(i) for i in np.argsort(-probs[:, column], kind="stable")]
        chosen = [i for i in order if probs[i, column] >= 0.5][:limit]
        leaning = [i for i in order[:1] if int(np.argmax(probs[i])) == column]
        return chosen or leaning

    if verdict == "SUPPORTED":
        return tuple(strongest(0))
    if verdict == "REFUTED":
        return tuple(strongest(1))
    return tuple(sorted(set(strongest(0)[:2] + strongest(1)[:2])))


# -- tuning on AVeriTeC -------------------------------------------------------------------------

def averitec_evidence_sets(claims: Sequence[dict]) -> list[tuple[str, list[str], str]]:
    """(claim, question-answer passages, verdict label) for every claim with evidence."""
    out = []
    for c in claims:
        texts = averitec_qa_texts(c)
        if texts and c.get("label") in AVERITEC_VERDICT:
            out.append((c["claim"], texts, AVERITEC_VERDICT[c["label"]]))
    return out


def score_evidence_sets(sets, stance_model) -> list[list[Evidence]]:
    claims = [claim for claim, texts, _ in sets for _ in texts]
    passages = [t for _, texts, _ in sets for t in texts]
    probs = stance_model.predict_proba(claims, passages)
    out, k = [], 0
    for _, texts, _ in sets:
        items = []
        for rank, text in enumerate(texts):
            p = probs[k]
            k += 1
            items.append(Evidence(doc_id="averitec", sentence=text, start=0, end=len(text),
                                  score=1.0 / (1 + rank), context=text,
                                  stance=STANCE_LABELS[int(p.argmax())],
                                  stance_probs={label: float(v) for label, v in zip(STANCE_LABELS, p)}))
        out.append(items)
    return out


def verdict_report(gold: Sequence[str] | np.ndarray, predicted: Sequence[str] | np.ndarray) -> dict:
    return classification_report(list(gold), list(predicted), labels=VERDICT_LABELS)


def train_verdict(data_dir: Path | str, models_dir: Path | str = DEFAULT_MODELS_DIR, *, stance_spec: str = "stance",
                  promote: bool = True, seed: int = 13, log: Callable[[str], None] = print) -> dict:
    """Fit on the AVeriTeC claims the stance model never saw (its held-out 35%), report 5-fold
    cross-validated claim-level macro-F1 next to the hand-set rules, store the fitted model."""
    import torch
    from sklearn.model_selection import StratifiedKFold, cross_val_predict


    # One intra-op thread: on the shared 2-core machine a second one mostly spin-waits.
    torch.set_num_threads(1)
    root = Path(data_dir)
    claims = stance_data.averitec_claims(root)
    _, held_out = stance_data.averitec_claim_split(claims, seed=seed)
    sets = averitec_evidence_sets(held_out)
    stance_model = StanceModel(stance_spec, models_dir=models_dir)
    stance_model.warm_up()
    log(f"scoring {sum(len(t) for _, t, _ in sets)} question-answer passages of {len(sets)} AVeriTeC claims "
        f"with {stance_model.tag}")
    evidence = score_evidence_sets(sets, stance_model)
    X = np.vstack([verdict_features(items) for items in evidence])
    y = np.array([label for _, _, label in sets])
    rules = VerdictAggregator()
    rule_pred = [rules.rule_verdict(row)[0] for row in X]
    best: tuple[float, dict[str, Any]] | None = None
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    search = {}
    for c in (0.1, 0.3, 1.0, 3.0):
        pred = cross_val_predict(VerdictAggregator(C=c), X, y, cv=folds)
        report = verdict_report(y, pred)
        search[str(c)] = report["macro_f1"]
        if best is None or report["macro_f1"] > best[1]["macro_f1"]:
            best = (c, report)
    assert best is not None  # the grid of C values is not empty
    model = VerdictAggregator(C=best[0]).fit(X, y)
    metrics: dict[str, Any] = {"averitec_claim_verdict_cv5": best[1], "hand_set_rules_same_claims": verdict_report(y, rule_pred),
               "c_search_macro_f1": search, "primary_metric": "averitec_claim_verdict_cv5.macro_f1",
               "label_counts": {label: int((y == label).sum()) for label in VERDICT_LABELS}}
    registry = Registry(models_dir)
    dataset, files, licence = stance_data.LICENCES["averitec"]
    with registry.new_version("verdict") as folder:
        version = registry.version_of(folder)
        (folder / PARAMS_FILE).write_text(json.dumps(model.to_json(), indent=2))
        registry.write_card(
            folder, name="verdict", version=version,
            description=("Verdict aggregator: multinomial logistic regression over features of the evidence "
                         "list's stance probabilities (" + ", ".join(FEATURE_NAMES) + "). Trained on AVeriTeC "
                         "claims held out from stance training, each question-answer pair read as one passage "
                         "and scored by the stance model named below; four labels."),
            training_data=[{"dataset": dataset, "files": files, "licence": licence, "rows": len(sets),
                            "use": "held-out 35% of claims (grouped by claim), never seen by the stance model"}],
            metrics=metrics,
            extra={"stance_model": stance_model.tag, "features": list(FEATURE_NAMES), "C": best[0],
                   "reproduce": "claimsift train verdict --data ../shared/datasets --out models"})
    if promote:
        registry.promote(f"verdict@{version}")
    log(f"wrote verdict@{version}: CV macro-F1 {best[1]['macro_f1']} (rules {metrics['hand_set_rules_same_claims']['macro_f1']})")
    return {"model": f"verdict@{version}", "metrics": metrics}
