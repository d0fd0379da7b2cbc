"""The verdict model fitted on claim labels of several corpora: weighting, model choice by
leave-one-corpus-out, calibration, the needs-review band, and the model that ships."""
from __future__ import annotations

import json

import numpy as np
import pytest

from pipeline.core.types import VERDICT_LABELS
from pipeline.registry.registry import Registry
from pipeline.training.verdict_fit import (
    FIT_PARTS,
    collect,
    features_of,
    fit_temperature,
    leave_one_corpus_out,
    review_threshold,
    sample_weights,
)
from pipeline.verdict.aggregator import FEATURE_SETS, VerdictAggregator


def test_every_corpus_and_every_class_in_it_weigh_the_same():
    corpora = ["a"] * 6 + ["b"] * 2
    labels = ["SUPPORTED"] * 5 + ["REFUTED"] + ["SUPPORTED", "NOT_ENOUGH_INFO"]
    w = sample_weights(corpora, labels, "corpus-and-class")
    by = lambda keep: float(sum(x for x, k in zip(w, keep) if k))  # noqa: E731
    assert by([c == "a" for c in corpora]) == pytest.approx(by([c == "b" for c in corpora]))
    assert by([c == "a" and y == "SUPPORTED" for c, y in zip(corpora, labels)]) == pytest.approx(
        by([c == "a" and y == "REFUTED" for c, y in zip(corpora, labels)]))
    w = sample_weights(corpora, labels, "corpus")
    assert w[0] == pytest.approx(w[5]) and w[0] * 6 == pytest.approx(w[6] * 2)


def test_review_band_is_where_verdicts_are_right_at_most_half_the_time():
    rng = np.random.default_rng(0)
    confidence = rng.uniform(0.25, 1.0, 2000)
    correct = (rng.uniform(size=2000) < confidence).astype(float)  # calibrated: right as often as sure
    t = review_threshold(confidence, correct)
    below = confidence < t
    assert 0.4 < t < 0.7 and correct[below].mean() <= 0.5
    assert review_threshold(confidence, np.ones(2000)) == 0.0  # always right: nothing to review
    capped = review_threshold(confidence, np.zeros(2000), max_share=0.2)  # never right: at most a fifth
    assert (confidence < capped).mean() <= 0.2


def test_temperature_softens_overconfident_scores():
    rng = np.random.default_rng(1)
    gold = rng.integers(0, 4, 400)
    scores = rng.normal(size=(400, 4))
    scores[np.arange(400), gold] += 1.0
    assert fit_temperature(scores * 5, np.array(VERDICT_LABELS)[gold]) > 2.0


def _rows(corpus: str, labels: list[str], rng) -> list[dict]:
    rows = []
    for i, label in enumerate(labels):
        column = {"SUPPORTED": 0, "REFUTED": 1}.get(label, 2)
        passages = []
        for rank in range(5):
            p = rng.dirichlet([1, 1, 1])
            if rank < 2:
                p = 0.3 * p + 0.7 * np.eye(3)[column]
            passages.append({"doc_id": f"{corpus}-{i}-{rank}", "score": 1.0 / (1 + rank), "probs": p.tolist(),
                             "voter": rank < 3})
        rows.append({"corpus": corpus, "split": "tune", "id": f"{corpus}-{i}", "label": label, "passages": passages})
    return rows


def test_leave_one_corpus_out_scores_a_corpus_with_classes_the_others_lack():
    rng = np.random.default_rng(2)
    rows = (_rows("two", ["SUPPORTED", "REFUTED"] * 30, rng)
            + _rows("three", ["SUPPORTED", "REFUTED", "NOT_ENOUGH_INFO"] * 20, rng))
    X = features_of(rows, "evidence-v2")
    assert X.shape == (120, len(FEATURE_SETS["evidence-v2"]))
    y = np.array([r["label"] for r in rows])
    figures, scores = leave_one_corpus_out(X, y, np.array([r["corpus"] for r in rows]), C=1.0,
                                           weighting="corpus-and-class", feature_set="evidence-v2")
    # Fitted on "two" alone, "three" can get no NOT_ENOUGH_INFO: its column stays -inf there.
    assert np.isneginf(scores[60:, VERDICT_LABELS.index("NOT_ENOUGH_INFO")]).all()
    assert figures["two"]["accuracy"] > 0.8  # the stance signal is strong in these rows


def test_the_joint_reading_enters_the_features_where_the_feature_set_asks_for_it():
    rng = np.random.default_rng(3)
    rows = _rows("one", ["SUPPORTED", "REFUTED"], rng)
    rows[0]["joint_probs"] = [0.1, 0.8, 0.1]
    with pytest.raises(Exception, match="joint"):  # a row never read together is not taken for "nothing"
        features_of(rows, "evidence-v4")
    rows[1]["joint_probs"] = None  # read, with nothing shown to read
    X = features_of(rows, "evidence-v4")
    assert X.shape == (2, len(FEATURE_SETS["evidence-v4"]))
    assert X[0, -3:].tolist() == [0.1, 0.8, 0.1]
    assert X[1, -3:].tolist() == [0.0, 0.0, 1.0]
    # The other sets do not read it.
    assert np.array_equal(features_of(rows, "evidence-v2"), X[:, :len(FEATURE_SETS["evidence-v2"])])


def test_the_report_split_is_never_collected():
    with pytest.raises(Exception, match="report"):
        collect("fever", "report", checker=None)
    assert all(split != "report" for _, split in FIT_PARTS)


def test_shipped_verdict_model_is_a_corpus_fitted_one_with_a_review_band():
    registry = Registry()
    ref = registry.load_ref("verdict")  # hash-checked against its card
    model = VerdictAggregator.load("verdict")
    assert model.is_fitted and model.feature_set == ref.card["metrics"]["chosen"]["feature_set"]
    assert model.nei_stage and 0.0 < model.review_below < 0.9
    metrics = ref.card["metrics"]
    assert model.monotone == metrics["chosen"].get("monotone", False)
    assert set(metrics["fitted_on"]) <= {f"{c}/{s}" for c, s in FIT_PARTS}
    assert not any("report" in part for part in metrics["fitted_on"])
    # Calibrated on the pooled held-out-corpus verdicts (the temperature minimises their log loss,
    # which does not always lower the binned ECE as well): confidence within 8 points of accuracy.
    assert metrics["leave_one_corpus_out"]["ece"] <= 0.08
    assert "train verdict --from-corpora" in ref.card["reproduce"]
    # Strong refutations shown, none of them voting (none is about the claim): no verdict without evidence.
    from pipeline.core.types import Evidence

    shown = [Evidence(doc_id=str(i), sentence="s", start=0, end=1, score=1.0 / (1 + i),
                      stance_probs={"SUPPORTS": 0.02, "REFUTES": 0.9, "NOT_ENOUGH_INFO": 0.08}) for i in range(5)]
    joint = [0.02, 0.9, 0.08] if model.needs_joint_reading else None  # the passages read together refute too
    assert model.aggregate("c", [], shown=shown, joint_probs=joint).verdict == "NOT_ENOUGH_INFO"
    assert model.aggregate("c", shown[:2], shown=shown, joint_probs=joint).verdict == "REFUTED"
    # The Checker reads passages as the model was fitted on them.
    assert model.stance_input == ref.card.get("passage_reading", "sentence")
    # ... and retrieves with the query adapter it was fitted with, one that is registered.
    assert model.query_adapter == ref.card.get("query_adapter", "none")
    if model.query_adapter != "none":
        Registry().load_ref(model.query_adapter)
        assert f"--query-adapter {model.query_adapter}" in ref.card["reproduce"]
    json.dumps(ref.card)  # the card is plain JSON


def test_claims_without_a_voting_passage_are_scored_as_the_checker_answers_them():
    # The Checker answers NOT_ENOUGH_INFO where no passage votes, whatever the scores; the model
    # choice must count those answers, not the scores' best class.
    from pipeline.training.verdict_fit import served_verdicts, without_voters

    rows = _rows("one", ["SUPPORTED", "REFUTED"], np.random.default_rng(4))
    for passage in rows[1]["passages"]:
        passage["voter"] = False
    no_voters = without_voters(rows)
    assert no_voters.tolist() == [False, True]
    scores = np.array([[2.0, 0.0, 0.1, -1.0], [0.0, 3.0, 0.1, -1.0]])
    assert served_verdicts(scores).tolist() == ["SUPPORTED", "REFUTED"]
    assert served_verdicts(scores, no_voters).tolist() == ["SUPPORTED", "NOT_ENOUGH_INFO"]
    # A model that never saw NOT_ENOUGH_INFO cannot answer it (its column is -inf).
    scores[:, VERDICT_LABELS.index("NOT_ENOUGH_INFO")] = -np.inf
    assert served_verdicts(scores, no_voters).tolist() == ["SUPPORTED", "REFUTED"]


def test_a_verdict_model_is_not_fitted_on_retrieval_fitted_to_its_own_claims(tmp_path):
    from pipeline.core.errors import UserError
    from pipeline.training.retriever_fit import register_adapter
    from pipeline.training.verdict_fit import fitting_adapter

    identity = np.eye(4, dtype=np.float32)
    tag = {"model": "m", "dimension": 4}
    clean = register_adapter(tmp_path, identity, tag, metrics={}, training_data=[],
                             extra={"fitted_on": ["averitec/train", "fever/train"]})
    leaky = register_adapter(tmp_path, identity, tag, metrics={}, training_data=[],
                             extra={"fitted_on": ["averitec/train", "liar/train"]})
    assert fitting_adapter(clean, FIT_PARTS, tmp_path) == clean == "query-adapter@v1"
    assert fitting_adapter("none", FIT_PARTS, tmp_path) == "none"
    with pytest.raises(UserError, match="liar/train"):
        fitting_adapter(leaky, FIT_PARTS, tmp_path)
    with pytest.raises(UserError, match="query adapter"):
        fitting_adapter("query-adapter@v7", FIT_PARTS, tmp_path)
    unknown = register_adapter(tmp_path, identity, tag, metrics={}, training_data=[], extra={})
    with pytest.raises(UserError, match="does not say which claims"):
        fitting_adapter(unknown, FIT_PARTS, tmp_path)


def test_of_set_ups_the_held_out_corpora_cannot_tell_apart_the_most_regularised_is_chosen():
    from pipeline.training.verdict_fit import most_regularised_of_the_best

    tried = [(0.4953, "v4", "w", True, True, 0.1), (0.4951, "v4", "w", True, True, 0.01),
             (0.4944, "v4", "w", True, True, 0.03), (0.4414, "v4", "w", True, True, 0.003)]
    assert most_regularised_of_the_best(tried)[5] == 0.01
    assert most_regularised_of_the_best(tried, tie=0.0)[5] == 0.1
    tried.append((0.5100, "v4", "w", True, False, 0.3))  # a clear winner is kept whatever its C
    assert most_regularised_of_the_best(tried)[5] == 0.3


def test_fit_rows_are_cached_under_the_stance_weights_not_only_their_version_number():
    from types import SimpleNamespace

    from pipeline.training.verdict_fit import stance_file_hashes

    checker = SimpleNamespace(models_dir=None, stance_models={"stance": {"model": "stance", "version": "v5"}})
    files = stance_file_hashes(checker)["stance"]
    assert files == Registry().load_ref("stance@v5").card["files"]
    assert all(len(digest) == 64 for digest in files.values()) and files


def test_a_fit_records_the_length_its_joint_readings_were_read_at_and_refuses_mixed_lengths(monkeypatch):
    import pipeline.training.verdict_fit as verdict_fit
    from pipeline.core.errors import UserError

    rng = np.random.default_rng(5)
    rows = [row for corpus in ("a", "b", "c") for row in _rows(corpus, ["SUPPORTED", "REFUTED", "NOT_ENOUGH_INFO"] * 8, rng)]
    for row in rows:
        row.update(joint_probs=row["passages"][0]["probs"], joint_max_length=256)
    # One set-up searched, so that the joint feature set is the one fitted.
    monkeypatch.setattr(verdict_fit, "FEATURE_SETS", {"evidence-v4": FEATURE_SETS["evidence-v4"]})
    monkeypatch.setattr(verdict_fit, "C_GRID", (0.1,))
    monkeypatch.setattr(verdict_fit, "WEIGHTINGS", ("corpus",))
    model, _ = verdict_fit.fit_verdict_model(rows, log=lambda m: None)
    assert model.joint_max_length == 256
    assert VerdictAggregator.from_json(json.loads(json.dumps(model.to_json()))).joint_max_length == 256
    rows[0]["joint_max_length"] = None  # read at the stance model's own length
    with pytest.raises(UserError, match="different lengths"):
        verdict_fit.fit_verdict_model(rows, log=lambda m: None)
