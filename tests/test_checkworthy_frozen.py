"""Check-worthiness's frozen-embedding post network (``pipeline.checkworthy.frozen_post``): grouped
folds, the head, its round trip through the served sentence classifier, the registered model that
carries it, and the API's default domain."""
from __future__ import annotations

import inspect

import numpy as np
import pytest

from pipeline.checkworthy import frozen_post as fp
from pipeline.checkworthy.model import CheckworthyModel
from pipeline.checkworthy.post import post_sentences
from pipeline.checkworthy.sentences import AUTO
from pipeline.registry.registry import Registry
from registered import newest_checkworthy

SHIPPED = Registry().root / "checkworthy"
DEBATE_SENTENCE = "We have lost 750,000 manufacturing jobs in the last four years."
TWEET = ("Sweden did not impose a lockdown and had fewer COVID deaths per capita than the UK. "
         "Think about that. https://t.co/x1Y2z #covid")


def test_near_duplicate_tweets_share_a_fold_and_every_fold_has_positives():
    base = [f"Claim number {i} about the budget: spending rose by {i} percent" for i in range(40)]
    texts = base + [t.upper() + " https://t.co/abc @someone" for t in base[:10]]  # reposts of the first 10
    labels = np.array([i % 3 == 0 for i in range(40)] + [i % 3 == 0 for i in range(10)], dtype=np.int64)
    folds = fp.grouped_folds(texts, labels, folds=5, seed=13)
    assert sorted(set(folds.tolist())) == [0, 1, 2, 3, 4]
    assert all(folds[i] == folds[40 + i] for i in range(10))
    assert all(labels[folds == k].any() for k in range(5))
    assert fp.near_duplicate_key(texts[40]) == fp.near_duplicate_key(texts[0])


def test_head_on_raw_vectors_separates_what_it_was_fitted_on():
    # Features on very different scales: the head standardises inside and returns weights for the
    # raw vectors, so scoring needs no scaler.
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    vectors = rng.normal(0, 1, (300, 5)) * np.array([1000.0, 0.001, 1, 1, 1])
    vectors[:, 1] += 0.002 * y  # the signal sits on the tiny feature
    coef, intercept = fp.fit_head(vectors, y, c=1.0)
    scores = fp.head_scores(vectors, coef, intercept)
    assert ((scores >= 0.5) == y).mean() > 0.8
    assert abs(coef[1]) > 100 * abs(coef[0])


def test_a_dead_dimension_gets_weight_zero_not_an_overflowing_one():
    # Some dimensions of mpnet's mean pooling barely vary (standard deviations down to ~1e-34);
    # mapping a standardised weight back onto one gave raw weights ~3e5, inf in the saved float16
    # head and NaN scores.
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 200)
    vectors = rng.normal(0, 0.07, (200, 4))
    vectors[:, 0] += 0.1 * y
    vectors[:, 3] = 0.2 + rng.normal(0, 1e-6, 200) + 1e-6 * y  # tiny, and it follows the label
    coef, intercept = fp.fit_head(vectors, y, c=0.3)
    assert coef[3] == 0.0 and np.isfinite(coef).all() and np.abs(coef).max() < 1e3
    assert np.isfinite(np.float32(intercept))


def test_c_is_chosen_out_of_fold_on_the_labelled_tweets():
    rng = np.random.default_rng(1)
    n = 200
    labels = rng.integers(0, 2, n)
    vectors = rng.normal(0, 1, (n, 8))
    vectors[:, 0] += 1.5 * labels
    texts = [f"tweet {i} with some words" for i in range(n)]
    sentence_vectors = [vectors[i:i + 1] for i in range(n)]
    tune = np.ones(n, dtype=bool)
    oof = fp.out_of_fold(texts, labels, tune, vectors, sentence_vectors, fp.FrozenHeadPlan(folds=4, c_grid=(0.01, 1.0)))
    assert set(oof.by_c) == {"0.01", "1.0"}
    assert oof.c == max((0.01, 1.0), key=lambda c: (oof.by_c[str(c)]["average_precision"], -c))
    assert oof.by_c[str(oof.c)]["average_precision"] > 0.75
    assert len(oof.sentences) == n and all(len(s) == 1 for s in oof.sentences)


@pytest.mark.slow
def test_frozen_head_round_trips_through_the_served_sentence_classifier(tmp_path):
    from pipeline.checkworthy.sentence_classifier import SentenceClassifier, save_sentence_classifier

    texts = [DEBATE_SENTENCE, "lol same", TWEET]
    vectors = fp.frozen_embeddings(texts, log=lambda m: None)
    coef = np.random.default_rng(0).normal(0, 0.05, vectors.shape[1])
    expected = fp.head_scores(vectors, coef, -0.3)
    net, config = fp.frozen_head_network(coef, -0.3, fp.FrozenHeadPlan())
    save_sentence_classifier(net, config, tmp_path)
    assert (tmp_path / "sentence_adapter_head.safetensors").stat().st_size < 1_000_000  # rank-1 identity adapter
    served = SentenceClassifier(tmp_path, backend="torch").positive_proba(texts)
    assert np.abs(served - expected).max() < 1e-3
    assert np.ptp(served) > 0.01  # the texts get different scores, not a constant


@pytest.fixture(scope="module")
def frozen_model() -> CheckworthyModel:
    """The newest registered version whose post network is a frozen-embedding head."""
    return newest_checkworthy(lambda post: post.get("head") == "frozen",
                              "no registered checkworthy version has a frozen-embedding post network")


@pytest.mark.slow
def test_frozen_post_network_changes_post_scores_inside_its_band_only(frozen_model):
    spec = frozen_model.card["post_classifier"]
    assert spec["base_model"].endswith("all-mpnet-base-v2") and spec["weight"] > 0
    texts = post_sentences(TWEET) + [DEBATE_SENTENCE, "Good morning everyone, have a nice day!"]
    regression = frozen_model.classifier.predict_proba(texts, domain="post")[:, 1]
    served = frozen_model.score(texts, domain="post")
    without_network = frozen_model.card["post_classifier"] | {"weight": 0.0}
    from pipeline.checkworthy.model import post_stage_scores

    regression_only = post_stage_scores(texts, regression, frozen_model.post_classifier, without_network)
    in_band = regression >= spec["band_from"]
    assert in_band.any()
    assert np.abs(served - regression_only)[in_band].max() > 0.01
    assert (~in_band).any()

    class SaysYes:  # a network that calls everything check-worthy: it may move only in-band scores
        def positive_proba(self, texts, **kwargs):
            return np.ones(len(texts))

    forced = post_stage_scores(texts, regression, SaysYes(), spec)
    assert np.allclose(forced[~in_band], served[~in_band])
    assert (forced[in_band] > served[in_band]).all()
    assert frozen_model.thresholds["post"] == pytest.approx(spec["threshold"])


def test_api_checkworthiness_frame_defaults_to_auto_like_the_cli():
    import pipeline
    from pipeline.cli.checkworthy import checkworthy

    api_default = inspect.signature(pipeline.checkworthiness_frame).parameters["domain"].default
    cli_default = inspect.signature(checkworthy).parameters["domain"].default.default
    assert api_default == cli_default == AUTO


@pytest.mark.slow
def test_api_checkworthiness_frame_routes_each_text_and_says_where():
    import pipeline

    frame = pipeline.checkworthiness_frame([TWEET, DEBATE_SENTENCE])
    assert frame["domain"].tolist() == ["post", "post", "speech"]
    model = CheckworthyModel()
    assert frame["score"].iloc[2] == pytest.approx(model.score([DEBATE_SENTENCE], domain="speech")[0])
    assert frame["checkworthy"].iloc[2] == (frame["score"].iloc[2] >= model.thresholds["speech"])
    forced = pipeline.checkworthiness_frame([DEBATE_SENTENCE], domain="post")
    assert forced["domain"].tolist() == ["post"]
    assert forced["score"].iloc[0] == pytest.approx(model.score([DEBATE_SENTENCE], domain="post")[0])
