"""A verdict learned from claim labels on several corpora, not thresholds tuned on the seed claims.

The aggregator (``verdict.aggregator.VerdictAggregator``, a standardised multinomial logistic
regression) reads features of what the ``Checker`` retrieved and judged for a claim. It is fitted
on claims the stance model never saw: the ``tune`` split of every public corpus the stance model
trains on, and the ``train`` and ``tune`` splits of LIAR-PLUS (no LIAR pair enters stance
training). The ``report`` split is never read here.

- Weights: every corpus counts the same, and within a corpus every verdict class the same, so a
  corpus of 3,000 claims and a rare class do not drown the others.
- Model choice (C, feature set, weighting, two stages or one, evidence-monotone or free):
  leave-one-corpus-out mean macro-F1, i.e. how well a verdict model fitted on the other corpora
  does on a corpus it never saw, which is the user's case; among set-ups within
  ``TIE_MACRO_F1`` of the best, the most regularised.
- Calibration: a temperature on the pooled leave-one-corpus-out probabilities (NLL), reported as
  ECE before and after.
- "Needs review": the confidence below which pooled leave-one-corpus-out verdicts are right at
  most half the time; those verdicts carry ``needs_review``.

What the Checker produced per claim is cached as JSON lines under ``out/verdict_fit/`` (per stance
model, corpus and split), so refitting takes seconds.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from pipeline.core.errors import UserError
from pipeline.core.io import atomic_write_text
from pipeline.core.metrics import top_label_calibration_error
from pipeline.core.types import STANCE_LABELS, VERDICT_LABELS, Evidence
from pipeline.datasets.claims import read_corpus_claims
from pipeline.datasets.corpora import build_dataset, claim_splits, select_claims
from pipeline.datasets.stores import documents_by_table_id, ensure_store
from pipeline.registry.embedding import Encoder
from pipeline.registry.registry import DEFAULT_MODELS_DIR, ModelIntegrityError, ModelNotFoundError, Registry
from pipeline.retrieval.index import INDEX_READING
from pipeline.retrieval.query_adapter import NO_ADAPTER, QUERY_ADAPTER
from pipeline.stance.backends import softmax
from pipeline.verdict.aggregator import (
    FEATURE_SETS,
    JOINT_PASSAGES,
    PARAMS_FILE,
    VerdictAggregator,
    claim_features,
    monotone_fit_possible,
    needs_joint_reading,
)
from pipeline.verdict.aggregator import served_verdicts as aggregator_served_verdicts
from pipeline.verdict.checker import STANCE_READING_RULES, Checker
from pipeline.verdict.quantities import QuantityReader
from pipeline.verdict.validation import InvalidClaimError, validate_claim

# Imported where used, not here (slow to load; most callers of this module never need them): scikit-learn.

# Which (corpus, split) the aggregator is fitted on: claims no stance training pair came from.
FIT_PARTS = (("averitec", "tune"), ("fever", "tune"), ("covidfact", "tune"), ("healthver", "tune"),
             ("liar", "train"), ("liar", "tune"))
CACHE_DIR = Path("out/verdict_fit")
C_GRID = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
WEIGHTINGS = ("corpus-and-class", "corpus")
# Set-ups whose leave-one-corpus-out mean is within this of the best count as tied (five held-out
# corpora cannot tell them apart), and the most regularised of them (smallest C) is chosen: a
# weaker penalty only buys room to fit the fitting corpora's label priors.
TIE_MACRO_F1 = 0.005
REVIEW_ACCURACY = 0.5
MAX_REVIEW_SHARE = 0.35


def joint_reading_tag(max_length: int | None) -> str:
    """How a row's joint reading was made (``joint_reading_text`` read up to ``max_length`` tokens,
    None: the stance model's own length): cached rows made another way are read again."""
    return f"best-first/{JOINT_PASSAGES}/{max_length or 'stance-length'}"


def _evidence(row: dict) -> Evidence:
    return Evidence(doc_id=row["doc_id"], sentence=row.get("sentence", ""), start=0, end=0, score=float(row["score"]),
                    stance_probs=dict(zip(STANCE_LABELS, row["probs"])))


def stance_file_hashes(checker) -> dict[str, dict[str, str]]:
    """The sha256 of each stance model's files, from its card: a version number names what was
    registered under it, and a version removed unpublished and trained again reuses the number."""
    registry = Registry(checker.models_dir or DEFAULT_MODELS_DIR)
    return {role: registry.load_ref(f"{tag['model']}@{tag['version']}").card.get("files", {})
            for role, tag in checker.stance_models.items()}


def collect(corpus: str, split: str, checker, *, cache_dir: Path | str = CACHE_DIR, limit: int | None = None,
            joint_max_length: int | None = None, log: Callable[[str], None] = print) -> list[dict]:
    """Per claim of ``corpus``/``split``: its label, every passage shown (document, retrieval
    score, stance probabilities, whether it votes) and the joint reading up to ``joint_max_length``
    tokens (None: the stance model's own length). Cached per stance model and checker setup."""

    if split == "report":
        raise UserError("the verdict model is never fitted on the report split")
    setup = {"stance": checker.stance_models, "stance_files": stance_file_hashes(checker),
             "screen": checker.screen_stance_spec, "rules": checker.rules.label(),
             "top_k": checker.top_k,
             "reranker": checker.reranker.tag if checker.reranker else None, "limit": limit,
             "rows": "with-texts", "index": INDEX_READING, "encoder": Encoder().tag,
             **({"passage_reading": f"{checker.passage_reading}/{STANCE_READING_RULES}"}
                if checker.passage_reading != "sentence" else {}),
             **({"query_adapter": checker.retrieval_adapter_tag} if checker.retrieval_adapter != NO_ADAPTER else {})}
    tag = json.dumps(setup, sort_keys=True)
    path = Path(cache_dir) / f"{corpus}-{split}-{hashlib.sha256(tag.encode()).hexdigest()[:12]}.jsonl"
    if path.is_file():
        cached = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        if all(r.get("joint_reading") == joint_reading_tag(joint_max_length) for r in cached):
            return cached
        # Rows whose joint reading is missing or was read another way: read it again, keep the rest.
        with_joint = add_joint_readings(cached, checker, joint_max_length)
        atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in with_joint))
        return with_joint
    built = build_dataset(corpus)
    store_dir = built.folder / "store"
    ensure_store(built.documents, store_dir)
    if Path(checker.store_dir).resolve() != store_dir.resolve():
        raise UserError(f"the checker reads {checker.store_dir}, not {store_dir}")
    claims = read_corpus_claims(built.claims)
    chosen = []
    for claim, _ in select_claims(claims, claim_splits(corpus, claims), split, limit):
        try:
            validate_claim(claim.claim)
            chosen.append(claim)
        except InvalidClaimError:
            continue
    doc_of_name = documents_by_table_id(store_dir)
    rows, started = [], time.perf_counter()
    for offset in range(0, len(chosen), 32):
        batch = chosen[offset:offset + 32]
        excluded = [{d for name in c.exclude_documents for d in doc_of_name.get(name, ())} for c in batch]
        inputs = checker.aggregator_inputs([c.claim for c in batch], top_k=checker.top_k, exclude_docs=excluded)
        for claim, (judged, positions) in zip(batch, inputs):
            voters = set(positions)
            rows.append({"corpus": corpus, "split": split, "id": claim.id, "label": claim.label,
                         "claim": claim.claim,
                         "passages": [{"doc_id": e.doc_id, "sentence": e.sentence, "score": float(e.score),
                                       "probs": [float(e.stance_probs.get(label, 0.0)) for label in STANCE_LABELS],
                                       "voter": i in voters} for i, e in enumerate(judged)]})
        log(f"{corpus}/{split}: {len(rows)}/{len(chosen)} claims ({time.perf_counter() - started:.0f} s)")
    rows = add_joint_readings(rows, checker, joint_max_length)
    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in rows))
    return rows


def add_joint_readings(rows: Sequence[dict], checker, max_length: int | None = None, batch_size: int = 64) -> list[dict]:
    """``rows`` with ``joint_probs``: the checker's stance model reading each claim against its
    passages shown joined, up to ``max_length`` tokens (``Checker.joint_readings``; None where none
    was shown), and that length (``joint_max_length``)."""
    out = []
    for offset in range(0, len(rows), batch_size):
        batch = rows[offset:offset + batch_size]
        joint = checker.joint_readings([r["claim"] for r in batch],
                                       [[_evidence(p) for p in r["passages"]] for r in batch], max_length=max_length)
        out += [{**r, "joint_probs": probs, "joint_reading": joint_reading_tag(max_length), "joint_max_length": max_length}
                for r, probs in zip(batch, joint)]
    return out


def features_of(rows: Sequence[dict], feature_set: str, quantities: QuantityReader | None = None) -> np.ndarray:
    quantities = quantities or QuantityReader()
    if needs_joint_reading(feature_set) and any("joint_probs" not in row for row in rows):
        raise UserError(f"{feature_set} reads the passages together: rows need joint_probs (add_joint_readings)")
    out = []
    for row in rows:
        shown = [_evidence(p) for p in row["passages"]]
        voters = [e for e, p in zip(shown, row["passages"]) if p["voter"]]
        out.append(claim_features(voters, shown, feature_set, row.get("claim", ""), quantities, row.get("joint_probs")))
    return np.vstack(out) if out else np.zeros((0, len(FEATURE_SETS[feature_set])))


def sample_weights(corpora: Sequence[str] | np.ndarray, labels: Sequence[str] | np.ndarray,
                   weighting: str) -> np.ndarray:
    """Each corpus sums to 1; with "corpus-and-class" each class inside a corpus sums to the same."""
    per_corpus = Counter(corpora)
    per_class = Counter(zip(corpora, labels))
    classes_in = Counter(c for c, _ in per_class)
    if weighting == "corpus":
        w = np.array([1.0 / per_corpus[c] for c in corpora])
    elif weighting == "corpus-and-class":
        w = np.array([1.0 / (classes_in[c] * per_class[(c, y)]) for c, y in zip(corpora, labels)])
    else:
        raise UserError(f"unknown weighting {weighting!r}")
    return w * len(w) / w.sum()


def macro_f1(gold: Sequence[str] | np.ndarray, predicted: Sequence[str] | np.ndarray) -> float:
    from sklearn.metrics import f1_score

    present = [label for label in VERDICT_LABELS if label in set(gold)]
    return float(f1_score(gold, predicted, labels=present, average="macro", zero_division=0))


def nei_informative(corpora: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Rows of corpora that label NOT_ENOUGH_INFO at all: only they tell where evidence stops."""
    labelling = {c for c, label in zip(corpora, y) if label == "NOT_ENOUGH_INFO"}
    return np.array([c in labelling for c in corpora])


def without_voters(rows: Sequence[dict]) -> np.ndarray:
    """Per row: no passage shown votes. The Checker answers NOT_ENOUGH_INFO there, whatever the
    model's scores (``VerdictAggregator.aggregate``): a verdict needs evidence about the claim."""
    return np.array([not any(p.get("voter") for p in r["passages"]) for r in rows], dtype=bool)


def served_verdicts(scores: np.ndarray, no_voters: np.ndarray | None = None) -> np.ndarray:
    """The verdicts the Checker gives from decision ``scores`` (columns in ``VERDICT_LABELS``
    order): ``pipeline.verdict.aggregator.served_verdicts``, the rule ``aggregate`` applies."""
    return aggregator_served_verdicts(scores, VERDICT_LABELS, no_voters)


def leave_one_corpus_out(X: np.ndarray, y: np.ndarray, corpora: np.ndarray, *, C: float, weighting: str,
                         feature_set: str, nei_stage: bool = False, monotone: bool = False,
                         no_voters: np.ndarray | None = None) -> tuple[dict, np.ndarray]:
    """Per held-out corpus macro-F1 and accuracy of the verdicts as served (``served_verdicts``;
    ``no_voters``: ``without_voters(rows)``), and the pooled held-out decision scores (columns in
    ``VERDICT_LABELS`` order; a class absent from training scores -inf)."""
    scores = np.full((len(y), len(VERDICT_LABELS)), -np.inf)
    figures = {}
    for corpus in sorted(set(corpora)):
        test = corpora == corpus
        model = VerdictAggregator(C=C, class_weight=None, feature_set=feature_set, nei_stage=nei_stage,
                                  monotone=monotone)
        model.fit(X[~test], y[~test], sample_weight=sample_weights(corpora[~test], y[~test], weighting),
                  nei_informative=nei_informative(corpora[~test], y[~test]))
        decision = model.decision_function(X[test])
        if decision.ndim == 1:  # two classes: softmax over [0, d] is the logistic probability
            decision = np.column_stack([np.zeros_like(decision), decision])
        for j, label in enumerate(model.classes_):
            scores[np.where(test)[0], VERDICT_LABELS.index(str(label))] = decision[:, j]
        predicted = served_verdicts(scores[test], None if no_voters is None else no_voters[test])
        figures[corpus] = {"n": int(test.sum()), "macro_f1": round(macro_f1(y[test], predicted), 4),
                           "accuracy": round(float((predicted == y[test]).mean()), 4)}
    return figures, scores


def fit_temperature(scores: np.ndarray, y: np.ndarray) -> float:
    gold = np.array([VERDICT_LABELS.index(label) for label in y])
    best = (np.inf, 1.0)
    for t in np.arange(0.3, 3.01, 0.05):
        probs = softmax(np.where(np.isfinite(scores), scores / t, -1e9))
        nll = -np.log(np.clip(probs[np.arange(len(gold)), gold], 1e-12, None)).mean()
        best = min(best, (float(nll), round(float(t), 2)))
    return best[1]


def review_threshold(confidence: np.ndarray, correct: np.ndarray, accuracy: float = REVIEW_ACCURACY,
                     max_share: float = MAX_REVIEW_SHARE) -> float:
    """The highest confidence ``t`` (on a 0.01 grid) such that the verdicts below ``t`` are right
    at most ``accuracy`` of the time and are at most ``max_share`` of all (a desk that must read
    most verdicts is no help); 0 when even the least confident are better than that."""
    chosen = 0.0
    for t in np.arange(0.26, 1.0, 0.01):
        below = confidence < t
        if 20 <= below.sum() <= max_share * len(below) and correct[below].mean() <= accuracy:
            chosen = round(float(t), 2)
    return chosen


def rules_figures(rows: Sequence[dict]) -> dict:
    """Macro-F1 and accuracy per corpus of the hand-set thresholds (``VerdictRules``' defaults,
    the unfitted aggregator) on the same claims: what the learned model replaces."""
    from pipeline.verdict.rules import VerdictRules

    rules = VerdictRules()
    aggregator = VerdictAggregator(support_threshold=rules.support_threshold, refute_threshold=rules.refute_threshold)
    predicted = np.array([aggregator.rule_verdict(x)[0] for x in features_of(rows, "evidence-v1")])
    y = np.array([r["label"] for r in rows])
    corpora = np.array([r["corpus"] for r in rows])
    out: dict[str, Any] = {c: {"n": int((corpora == c).sum()),
                               "macro_f1": round(macro_f1(y[corpora == c], predicted[corpora == c]), 4),
                               "accuracy": round(float((predicted[corpora == c] == y[corpora == c]).mean()), 4)}
                           for c in sorted(set(corpora))}
    out["mean_macro_f1"] = round(float(np.mean([f["macro_f1"] for f in out.values()])), 4)
    return out


def most_regularised_of_the_best(tried: Sequence[tuple], tie: float = TIE_MACRO_F1) -> tuple:
    """Of the set-ups tried (mean macro-F1 first, C sixth), those within ``tie`` of the best mean,
    the one with the smallest C; the best mean among those."""
    top = max(t[0] for t in tried)
    return min((t for t in tried if t[0] >= top - tie), key=lambda t: (t[5], -t[0]))


def fit_verdict_model(rows: Sequence[dict], log: Callable[[str], None] = print) -> tuple[VerdictAggregator, dict]:
    """Choose C, feature set and weighting by leave-one-corpus-out macro-F1; fit on every row."""
    y = np.array([r["label"] for r in rows])
    corpora = np.array([r["corpus"] for r in rows])
    search: list[dict] = []
    tried: list[tuple] = []
    quantities = QuantityReader()
    joint_read = all("joint_probs" in r for r in rows)
    joint_lengths = {r.get("joint_max_length") for r in rows if "joint_probs" in r}
    if len(joint_lengths) > 1:
        raise UserError(f"the rows' joint readings were read at different lengths ({sorted(map(str, joint_lengths))}): "
                        "collect them again at one")
    joint_max_length = joint_lengths.pop() if joint_lengths else None
    no_voters = without_voters(rows)
    for feature_set in FEATURE_SETS:
        if needs_joint_reading(feature_set) and not joint_read:
            log(f"{feature_set} left out of the search: the rows have no joint reading (add_joint_readings)")
            continue
        X = features_of(rows, feature_set, quantities)
        for weighting in WEIGHTINGS:
            fits = (False, True) if monotone_fit_possible(feature_set) else (False,)
            for nei_stage, monotone, C in itertools.product((False, True), fits, C_GRID):
                figures, scores = leave_one_corpus_out(X, y, corpora, C=C, weighting=weighting,
                                                       feature_set=feature_set, nei_stage=nei_stage,
                                                       monotone=monotone, no_voters=no_voters)
                mean = round(float(np.mean([f["macro_f1"] for f in figures.values()])), 4)
                search.append({"feature_set": feature_set, "weighting": weighting, "nei_stage": nei_stage,
                               "monotone": monotone, "C": C, "loco_mean_macro_f1": mean, "per_corpus": figures})
                log(f"{feature_set} {weighting} nei_stage={nei_stage} monotone={monotone} C={C}: "
                    f"leave-one-corpus-out mean macro-F1 {mean}")
                tried.append((mean, feature_set, weighting, nei_stage, monotone, C, scores, figures, X))
    top = max(t[0] for t in tried)  # the search grid is not empty
    mean, feature_set, weighting, nei_stage, monotone, C, scores, figures, X = most_regularised_of_the_best(tried)
    temperature = fit_temperature(scores, y)
    raw = softmax(np.where(np.isfinite(scores), scores, -1e9))
    calibrated = softmax(np.where(np.isfinite(scores), scores / temperature, -1e9))
    predicted = served_verdicts(raw, no_voters)
    correct = (predicted == y).astype(float)
    # The confidence served is the model's probability of the verdict given (NOT_ENOUGH_INFO's
    # where no passage votes), so calibration and the review band are measured on that.
    chosen_column = np.array([VERDICT_LABELS.index(label) for label in predicted])
    rows_index = np.arange(len(y))
    confidence_raw, confidence = raw[rows_index, chosen_column], calibrated[rows_index, chosen_column]
    review_below = review_threshold(confidence, correct)
    flagged = confidence < review_below
    model = VerdictAggregator(C=C, class_weight=None, feature_set=feature_set, review_below=review_below,
                              nei_stage=nei_stage, temperature=temperature, monotone=monotone,
                              joint_max_length=joint_max_length if needs_joint_reading(feature_set) else None)
    model.fit(X, y, sample_weight=sample_weights(corpora, y, weighting), nei_informative=nei_informative(corpora, y))
    report = {
        "chosen": {"feature_set": feature_set, "weighting": weighting, "nei_stage": nei_stage,
                   "monotone": monotone, "C": C, "best_mean_in_search": top, "tie_macro_f1": TIE_MACRO_F1,
                   "temperature": temperature,
                   "review_below": review_below},
        "leave_one_corpus_out": {"mean_macro_f1": mean, "per_corpus": figures,
                                 "pooled_accuracy": round(float(correct.mean()), 4),
                                 "ece_before_temperature": round(top_label_calibration_error(confidence_raw, correct), 4),
                                 "ece": round(top_label_calibration_error(confidence, correct), 4),
                                 "needs_review_share": round(float(flagged.mean()), 4),
                                 "accuracy_not_flagged": round(float(correct[~flagged].mean()), 4) if (~flagged).any() else None,
                                 "accuracy_flagged": round(float(correct[flagged].mean()), 4) if flagged.any() else None},
        "search": search,
        "hand_set_rules_same_claims": rules_figures(rows),
        "fitted_on": {f"{c}/{s}": n for (c, s), n in sorted(Counter((r["corpus"], r["split"]) for r in rows).items())},
        "labels": {c: dict(Counter(r["label"] for r in rows if r["corpus"] == c)) for c in sorted(set(corpora))},
    }
    return model, report


def fitting_adapter(spec: str, parts: Sequence[tuple[str, str]], models_dir: Path | str | None = None) -> str:
    """``spec`` resolved (``query-adapter@v2``, or "none"), refused when the map was fitted on
    claims the verdict model is fitted on (``parts``): their retrieval would look better at fit
    time than on a user's corpus."""
    if spec == NO_ADAPTER:
        return spec
    try:
        ref = Registry(models_dir or DEFAULT_MODELS_DIR).load_ref(spec)
    except (ModelIntegrityError, ModelNotFoundError) as exc:
        raise UserError(f"query adapter: {exc}") from exc
    if "fitted_on" not in ref.card:
        raise UserError(f"{ref.label}'s card does not say which claims it was fitted on; fit the verdict model on "
                        "an adapter that does (claimsift train query-adapter), or with --query-adapter none")
    overlap = sorted(set(ref.card["fitted_on"]) & {f"{c}/{s}" for c, s in parts})
    if overlap:
        raise UserError(f"{ref.label} was fitted on {', '.join(overlap)}, which the verdict model is fitted on; "
                        "fit a query adapter without them (claimsift train query-adapter --exclude …)")
    return ref.label


def train_verdict_on_corpora(models_dir: Path | str = DEFAULT_MODELS_DIR, *, parts: Sequence[tuple[str, str]] = FIT_PARTS,
                             stance_spec: str = "stance", limit: int | None = None, promote: bool = False,
                             cache_dir: Path | str = CACHE_DIR, log: Callable[[str], None] = print,
                             stance_input: str = "previous", query_adapter: str = QUERY_ADAPTER,
                             joint_max_length: int | None = None) -> dict:
    """Check the fitting claims of every corpus with the shipped Checker (``stance_spec``, the
    stance model reading ``stance_input`` of each passage, claim vectors mapped by
    ``query_adapter`` or "none"), fit, and register ``verdict@vN`` with its card; the model
    records ``stance_input`` and the adapter (resolved), and the Checker reads and retrieves that way;
    ``joint_max_length``: tokens of the joint reading (None: the stance model's own; ``pipeline.verdict.aggregator.JOINT_MAX_LENGTH``
    reads all five passages for most claims), recorded and followed likewise."""
    from pipeline.datasets.corpora import build_dataset

    started = time.monotonic()
    query_adapter = fitting_adapter(query_adapter, parts, models_dir)
    rows: list[dict] = []
    stance_tags = set()
    for corpus in dict.fromkeys(c for c, _ in parts):
        # No screen model: the stance model reads every passage shown, as the served Checker does.
        checker = Checker(build_dataset(corpus).folder / "store", stance_spec=stance_spec, models_dir=models_dir,
                          screen_stance_spec=None, stance_input=stance_input, verdict_spec="rules",
                          query_adapter=query_adapter)
        for c, split in parts:
            if c == corpus:
                rows += collect(corpus, split, checker, cache_dir=cache_dir, limit=limit,
                                joint_max_length=joint_max_length, log=log)
        stance_tags.add(json.dumps(checker.stance_models, sort_keys=True))
    model, report = fit_verdict_model(rows, log=log)
    model.set_params(stance_input=stance_input, query_adapter=query_adapter)
    registry = Registry(models_dir)
    with registry.new_version("verdict") as folder:
        version = registry.version_of(folder)
        (folder / PARAMS_FILE).write_text(json.dumps(model.to_json(), indent=2))
        registry.write_card(
            folder, name="verdict", version=version,
            description=("Verdict aggregator learned from claim labels on several corpora: standardised "
                         "logistic regression (" + ("two stages: NOT_ENOUGH_INFO or not, learned from the corpora "
                                                    "that label it, then which verdict; " if model.nei_stage else "")
                         + "multinomial" + (", sign-constrained: more refutation never moves it from REFUTED towards "
                                            "SUPPORTED, more support never the reverse" if model.monotone else "")
                         + ") over features of the passages the Checker shows "
                         f"({', '.join(FEATURE_SETS[model.feature_set])}), every corpus and class weighted "
                         "alike, chosen by leave-one-corpus-out macro-F1, temperature-calibrated; verdicts "
                         f"below {model.review_below} confidence are flagged needs_review."),
            training_data=[{"dataset": f"claimsift evaluate corpus --dataset {c} ({s} split)", "rows": n,
                            "licence": "as the dataset (see ../shared/datasets/README.md)"}
                           for (c, s), n in sorted(Counter((r["corpus"], r["split"]) for r in rows).items())],
            metrics=report,
            extra={"stance_model": [json.loads(t) for t in sorted(stance_tags)], "features": list(FEATURE_SETS[model.feature_set]),
                   "total_seconds": round(time.monotonic() - started, 1),
                   "passage_reading": stance_input, "query_adapter": model.query_adapter,
                   "reproduce": f"claimsift train verdict --from-corpora --stance-model {stance_spec} "
                                f"--stance-input {stance_input} --query-adapter {model.query_adapter} --out models"
                                + (f" --joint-max-length {joint_max_length}" if joint_max_length else "")})
    if promote:
        registry.promote(f"verdict@{version}")
    log(f"wrote verdict@{version}: leave-one-corpus-out mean macro-F1 {report['leave_one_corpus_out']['mean_macro_f1']}")
    return {"model": f"verdict@{version}", "metrics": report}
