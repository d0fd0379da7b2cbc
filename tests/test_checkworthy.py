"""Check-worthiness: the numeric core, the text classifier, the post splitter, the shipped model,
the CLI and bad input."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.utils.estimator_checks import parametrize_with_checks

from pipeline.checkworthy.classifier import CheckworthyClassifier
from pipeline.checkworthy.data import read_jsonl_texts
from pipeline.checkworthy.features import DomainAdaptedLogisticRegression
from pipeline.checkworthy.model import CheckworthyModel, ClaimSpan
from pipeline.checkworthy.sentences import AUTO, has_words, split_sentences
from pipeline.core.errors import InputError
from pipeline.registry.registry import ModelIntegrityError, Registry
from shipping import as_shipped, pickled_size

DATA = Path(__file__).resolve().parent / "data"
EVAL_FIXTURE = DATA / "checkworthy_eval.jsonl"
SHIPPED = Registry().root / "checkworthy"


# -- numeric core: the full scikit-learn estimator suite ----------------------------------------
# The text classifier takes strings, which the generic checks (numeric arrays) cannot feed, so
# the suite runs on its numeric core; the text layer gets its own API tests below.
@parametrize_with_checks([DomainAdaptedLogisticRegression()])
def test_numeric_core_is_a_sklearn_estimator(estimator, check):
    check(estimator)


def test_domain_weights_separate_what_one_shared_weight_cannot():
    # Feature 0 predicts the label with opposite signs in the two domains: a single logistic
    # regression sees no signal, the domain-adapted one learns both directions.
    rng = np.random.default_rng(0)
    n = 400
    domain = np.repeat([0, 1], n // 2)
    y = rng.integers(0, 2, n)
    x = (2 * y - 1) * np.where(domain == 0, 1.0, -1.0) + rng.normal(0, 0.5, n)
    X = x[:, None]
    adapted = DomainAdaptedLogisticRegression(C=10).fit(X, y, domain=domain)
    assert (adapted.predict(X, domain=domain) == y).mean() > 0.9
    plain = DomainAdaptedLogisticRegression(C=10, n_domains=1).fit(X, y)
    assert (plain.predict(X) == y).mean() < 0.65
    with pytest.raises(ValueError, match="domain values"):
        adapted.predict(X, domain=np.full(n, 2))


# -- text classifier (no embeddings: fast) -------------------------------------------------------
def _fixture_rows():
    texts, labels = read_jsonl_texts(EVAL_FIXTURE, labelled=True)
    return texts, labels


def test_text_classifier_api_fit_clone_save_load(tmp_path):
    texts, labels = _fixture_rows()
    estimator = CheckworthyClassifier(use_embeddings=False, min_df=1, C=10)
    assert clone(estimator).get_params() == estimator.get_params()
    assert not hasattr(estimator, "head_")  # __init__ stores parameters only
    fitted = estimator.fit(texts, labels)
    assert fitted is estimator
    proba = estimator.predict_proba(texts)
    assert proba.shape == (len(texts), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert (estimator.predict(texts) == labels).mean() > 0.9  # fits its training data
    assert estimator.predict_proba([]).shape == (0, 2)
    with pytest.raises(ValueError, match="not a single string"):
        estimator.predict_proba("one string")
    with pytest.raises(ValueError, match="unknown domain"):
        estimator.predict_proba(texts, domain="radio")

    written = estimator.save(tmp_path)
    assert "coef.npy" in written and not any(name.endswith((".pkl", ".joblib")) for name in written)
    loaded = CheckworthyClassifier.load(tmp_path)
    np.testing.assert_allclose(loaded.predict_proba(texts), proba, rtol=1e-9)
    restored = as_shipped(estimator)
    np.testing.assert_allclose(restored.predict_proba(texts), proba, rtol=1e-9)


def test_text_classifier_refuses_mismatched_embeddings():
    texts, labels = _fixture_rows()
    estimator = CheckworthyClassifier(word_ngrams=(), char_ngrams=(), use_cheap_features=False)
    rng = np.random.default_rng(0)
    estimator.fit(texts, labels, embeddings=rng.normal(size=(len(texts), 8)))
    with pytest.raises(ValueError, match="embeddings have shape"):
        estimator.predict_proba(texts, embeddings=rng.normal(size=(len(texts), 5)))


# -- splitting posts ------------------------------------------------------------------------------
@pytest.mark.parametrize("post, expected", [
    ("The U.S. spent $3.5 billion on it. Dr. Smith disagrees! Really?",
     ["The U.S. spent $3.5 billion on it.", "Dr. Smith disagrees!", "Really?"]),
    ("BREAKING: 5,000 jobs cut at @Acme today https://t.co/AbC.def #layoffs 😡 No one saw it coming",
     ["BREAKING: 5,000 jobs cut at @Acme today https://t.co/AbC.def #layoffs 😡 No one saw it coming"]),
    ("Vaccines work 💉\n\nDeaths fell 80% after the rollout…  \"It's over,\" he said. ok",
     ["Vaccines work 💉", "Deaths fell 80% after the rollout…", "\"It's over,\" he said.", "ok"]),
    ("Good morning! 🌞🌞 Cases doubled in May. 😷 #covid", ["Good morning! 🌞🌞", "Cases doubled in May. 😷", "#covid"]),
    ("   ", []),
    ("no final punctuation here", ["no final punctuation here"]),
])
def test_split_sentences_offsets(post, expected):
    spans = split_sentences(post)
    assert [post[s:e] for s, e in spans] == expected
    assert all(0 <= s < e <= len(post) for s, e in spans)


def test_sentences_without_words_are_not_claims():
    assert not has_words("https://t.co/xyz #COVID19 @who 😷 2021")
    assert has_words("#COVID19 cases doubled")


# -- the shipped model ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def shipped() -> CheckworthyModel:
    if not (SHIPPED / "CURRENT").is_file():
        pytest.fail("no shipped model under models/checkworthy (train it: claimsift train checkworthy)")
    model = CheckworthyModel()
    model.warm_up()
    return model


# The Threads post that the seed documents fact-check (quoted in seeds/001).
THREADS_POST = ("Breaking. NATO Secretary General Mark Rutte says that ‘if Trump surrenders Ukraine to Putin, he will "
                "personally expel the United States from the alliance.’")


@pytest.mark.slow
def test_shipped_model_separates_a_claim_from_chit_chat(shipped):
    claim = "NATO Secretary General Mark Rutte says he will expel the United States from the alliance."
    chat = "Good morning everyone, have a nice day!"
    claim_score, chat_score = shipped.score([claim, chat])
    assert chat_score < shipped.threshold
    # This bare sentence ranks far above chit-chat but sits just under the dev-tuned post
    # threshold (0.37 against 0.42 for checkworthy@v1); the full wording of the post is detected:
    assert claim_score > 10 * chat_score
    assert 0.0 < shipped.threshold < 1.0
    assert set(shipped.thresholds) == {"post", "speech"}
    spans = shipped.detect(THREADS_POST)
    assert [(span.text, span.start) for span in spans] == [(THREADS_POST[len("Breaking. "):], len("Breaking. "))]


@pytest.mark.slow
def test_shipped_model_on_hand_written_posts(shipped):
    from pipeline.core.metrics import f1_metrics

    texts, labels = _fixture_rows()
    # As served by default (--domain auto): 22 of these 30 are single plain sentences, which go to the
    # speech part, the rest to the post part, each at its own threshold.
    routed = shipped.score_posts_routed(texts, AUTO)
    predicted = np.array([int(r.score >= shipped.thresholds[r.domain]) for r in routed])
    assert {r.domain for r in routed} == {"post", "speech"}
    assert (predicted == labels).mean() >= 0.9, [t for t, p, y in zip(texts, predicted, labels) if p != y]
    # Forced into the post part (--domain post), the ranking must still hold; its threshold was chosen
    # on tweets, which flag fewer plain sentences.
    scores = np.array([score for score, _ in shipped.score_posts(texts)])
    metrics = f1_metrics(labels, scores, shipped.threshold)
    assert metrics["average_precision"] >= 0.9, metrics
    assert metrics["precision"] >= 0.9, metrics
    assert metrics["recall"] >= 0.45, metrics


@pytest.mark.slow
def test_detect_returns_the_claim_sentence_with_offsets(shipped):
    post = ("Good morning everyone! 🌞 Sweden did not impose a lockdown and had fewer COVID deaths per capita "
            "than the UK https://t.co/x1Y2z #covid\nHave a nice day")
    spans = shipped.detect(post)
    assert len(spans) == 1
    span = spans[0]
    assert isinstance(span, ClaimSpan)
    assert post[span.start:span.end] == span.text
    assert span.text.startswith("Sweden did not impose") and span.text.endswith("#covid")
    assert span.score >= shipped.threshold
    post_score, claims = shipped.score_post(post)
    assert claims == spans and post_score == pytest.approx(span.score)
    assert shipped.score_post("Good morning everyone, have a nice day!")[1] == []
    assert shipped.score_post("https://t.co/abc #tbt 😂") == (0.0, [])
    # The batched form agrees with the one-by-one form.
    many = shipped.score_posts([post, "Good morning everyone, have a nice day!"])
    assert many[0][1] == spans and many[1][1] == []


@pytest.mark.slow
def test_model_is_cheap_to_pickle_and_reloads(shipped):
    fresh = as_shipped(shipped)
    assert pickled_size(shipped) < 2_000  # the heavy parts do not travel
    assert fresh.threshold == shipped.threshold


def test_a_model_file_that_does_not_match_its_card_is_refused(tmp_path):
    version = Registry().current_version("checkworthy")
    target = tmp_path / "checkworthy" / version
    shutil.copytree(SHIPPED / version, target)
    (tmp_path / "checkworthy" / "CURRENT").write_text(version + "\n")
    coef = np.load(target / "coef.npy")
    coef[0, 0] += 1.0
    np.save(target / "coef.npy", coef)
    with pytest.raises(ModelIntegrityError, match="coef.npy"):
        CheckworthyModel(models_dir=tmp_path).warm_up()


# -- the fine-tuned sentence classifier (speech domain) -------------------------------------------
DEBATE_SENTENCE = "We have lost 750,000 manufacturing jobs in the last four years."


@pytest.mark.slow
def test_speech_scores_mix_in_the_sentence_classifier_and_posts_never_load_it(monkeypatch):
    from pipeline.checkworthy.sentence_classifier import SentenceClassifier

    model = CheckworthyModel()
    speech_network = model.sentence_classifier
    assert isinstance(speech_network, SentenceClassifier)
    with monkeypatch.context() as patched:
        # The speech network only: posts may run their own network (card post_classifier), never this one.
        patched.setattr(speech_network, "warm_up", lambda: pytest.fail("scoring posts loaded the speech network"))
        model.score_posts([THREADS_POST, "Good morning everyone!"])
    assert model.mix_weights["post"] == 0.0 and model.sentence_classifier is not None
    weight = model.mix_weights["speech"]
    assert 0.0 < weight <= 1.0
    texts = [DEBATE_SENTENCE, "Thank you, it is good to be here tonight."]
    lr = model.classifier.predict_proba(texts, domain="speech")[:, 1]
    tuned = model.sentence_classifier.positive_proba(texts)
    np.testing.assert_allclose(model.score(texts, domain="speech"), (1 - weight) * lr + weight * tuned)
    assert model.predict(texts, domain="speech").tolist() == [1, 0]
    # The shipped classifier sits on all-mpnet-base-v2 and runs on ONNX Runtime.
    assert model.sentence_classifier.runtime == "onnxruntime"
    assert model.card["sentence_classifier"]["base_model"] == "sentence-transformers/all-mpnet-base-v2"


@pytest.mark.slow
@pytest.mark.parametrize("base", ["all-MiniLM-L6-v2", "all-mpnet-base-v2"])
def test_sentence_classifier_trains_saves_and_reloads_the_same(tmp_path, monkeypatch, base):
    import torch

    from pipeline.registry.base_models import base_model_path

    base_folder = base_model_path(base)  # before the cache moves: mpnet is unpacked once, in the real cache
    monkeypatch.setenv("CLAIMSIFT_CACHE", str(tmp_path / "cache"))  # its ONNX export goes here, not to ~/.cache
    monkeypatch.setattr("pipeline.registry.base_models.mpnet_path", lambda cache=None: Path(base_folder))

    from pipeline.checkworthy.sentence_classifier import (
        SentenceClassifier,
        save_sentence_classifier,
        train_sentence_classifier,
    )

    texts, labels = _fixture_rows()
    net, config, info = train_sentence_classifier(texts, labels, epochs=1, batch_size=8, base=base, num_threads=None,
                                                  log=lambda m: None)
    assert info["steps"] == len(texts) // 8 and info["positives"] == int(np.sum(labels))
    assert config.base_model == base
    folder = tmp_path / "model"
    folder.mkdir()
    saved = save_sentence_classifier(net, config, folder)
    assert sorted(p.name for p in folder.iterdir()) == sorted(saved)
    # adapter + head only, not the base model
    assert (folder / saved[0]).stat().st_size < (Path(base_folder) / "model.safetensors").stat().st_size / 20
    from transformers import AutoTokenizer

    # The trained network (adapter unmerged) and the reloaded one (merged) score alike.
    tokens = AutoTokenizer.from_pretrained(base_folder)(texts[:4], padding=True, truncation=True,
                                                           max_length=config.max_length, return_tensors="pt")
    with torch.inference_mode():
        expected = torch.softmax(net(**tokens), dim=-1)[:, 1].numpy()
    on_onnx, on_torch = SentenceClassifier(folder), SentenceClassifier(folder, backend="torch")
    assert on_onnx.runtime == "onnxruntime" and on_torch.runtime == "torch"
    np.testing.assert_allclose(on_onnx.positive_proba(texts[:4]), expected, atol=1e-4)
    np.testing.assert_allclose(on_torch.positive_proba(texts[:4]), expected, atol=1e-4)
    assert len(list((tmp_path / "cache").glob("sentence-*.onnx"))) == 1
    assert pickled_size(on_onnx) < 2_000 and pickled_size(on_torch) < 2_000  # the networks stay behind


@pytest.mark.slow
def test_a_killed_sentence_classifier_training_resumes_where_it_stopped(tmp_path, monkeypatch):
    import torch

    from pipeline.checkworthy import sentence_classifier as sc

    def without_dropout(*args, **kwargs):  # dropout draws are not replayed on resume; the rest must be
        net = build(*args, **kwargs)
        for module in net.modules():
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.0
        return net

    build = sc.build_cross_encoder
    monkeypatch.setattr(sc, "build_cross_encoder", without_dropout)
    texts, labels = _fixture_rows()
    settings = dict(epochs=2, batch_size=8, base="all-MiniLM-L6-v2", num_threads=1, checkpoint_every=2)
    fresh, _, fresh_info = sc.train_sentence_classifier(texts, labels, log=lambda m: None, **settings)
    assert fresh_info["steps"] == 6 and fresh_info["resumed_at_step"] is None

    # A run cut off after its first epoch (3 steps) leaves the state of its step 2 behind ...
    saved = tmp_path / "state"
    sc.train_sentence_classifier(texts, labels, stop_after_epochs=1, checkpoint_dir=saved, log=lambda m: None,
                                 **settings)
    assert json.loads((saved / "checkpoint.json").read_text())["step"] == 2
    # ... which a run with the same data and settings picks up, ending where the fresh run did.
    messages: list[str] = []
    resumed, _, info = sc.train_sentence_classifier(texts, labels, checkpoint_dir=saved, log=messages.append,
                                                    **settings)
    assert info["resumed_at_step"] == 2 and info["steps"] == 6
    assert any("resuming from the checkpoint at step 2" in m for m in messages)
    for (name, a), (_, b) in zip(fresh.named_parameters(), resumed.named_parameters()):
        if a.requires_grad:
            torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4, msg=name)

    # Other data: the saved state is not used.
    messages.clear()
    _, _, other = sc.train_sentence_classifier(texts[::-1], labels[::-1], checkpoint_dir=saved,
                                               log=messages.append, **settings)
    assert other["resumed_at_step"] is None and any("another run" in m for m in messages)

    # Saved at an epoch's end (after its callback): the resumed run calls only the epochs it trains.
    at_end = tmp_path / "at_end"
    sc.train_sentence_classifier(texts, labels, checkpoint_dir=at_end, log=lambda m: None,
                                 **(settings | {"checkpoint_every": 100}))
    assert json.loads((at_end / "checkpoint.json").read_text())["step"] == 3
    epochs_called: list[int] = []
    again, _, info = sc.train_sentence_classifier(texts, labels, checkpoint_dir=at_end, log=lambda m: None,
                                                  checkpoint=lambda net, config, epoch: epochs_called.append(epoch),
                                                  **settings)
    assert info["resumed_at_step"] == 3 and info["steps"] == 6 and epochs_called == [2]
    for (name, a), (_, b) in zip(fresh.named_parameters(), again.named_parameters()):
        if a.requires_grad:
            torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4, msg=name)

    # A checkpoint past a run's stop (left by a longer run) is not resumed: it would return a
    # network trained further than asked, its last epoch's callback never made.
    longer = tmp_path / "longer"
    sc.train_sentence_classifier(texts, labels, checkpoint_dir=longer, log=lambda m: None, **settings)
    assert json.loads((longer / "checkpoint.json").read_text())["step"] == 4
    epochs_called.clear()
    _, _, short = sc.train_sentence_classifier(texts, labels, stop_after_epochs=1, checkpoint_dir=longer,
                                               checkpoint=lambda net, config, epoch: epochs_called.append(epoch),
                                               log=lambda m: None, **settings)
    assert short["steps"] == 3 and short["resumed_at_step"] is None and epochs_called == [1]


@pytest.mark.slow
def test_held_out_debates_score_well_above_the_regression_alone(shared_datasets):
    # A fixed slice of 300 of the 1,797 held-out debate sentences (the whole set, the card's figure,
    # is `python bench/bench_checkworthy.py`'s): the shipped mix 0.908 on it, the regression alone
    # 0.828 at the same threshold.
    import random

    from pipeline.checkworthy import data as cd
    from pipeline.core.metrics import f1_metrics

    model = CheckworthyModel()
    heldout = cd.load_sets(shared_datasets)["claimbuster_heldout"]
    rows = sorted(random.Random(0).sample(range(len(heldout.texts)), 300))
    texts, gold = [heldout.texts[i] for i in rows], np.asarray(heldout.labels)[rows]
    metrics = f1_metrics(gold, model.score(texts, domain="speech"), model.thresholds["speech"])
    assert metrics["f1"] >= 0.87, metrics
    assert model.card["metrics"]["claimbuster_heldout"]["f1"] >= 0.85


@pytest.mark.slow
def test_checkworthiness_frame_has_one_row_per_sentence_with_offsets():
    import pipeline

    texts = [THREADS_POST, " ", "", "Thank you all for coming. " + DEBATE_SENTENCE]  # blank texts: no sentence, no row
    frame = pipeline.checkworthiness_frame(texts, domain="speech")
    assert list(frame.columns) == ["text_index", "sentence", "start", "end", "score", "checkworthy", "post_score",
                                  "domain"]
    assert set(frame["domain"]) == {"speech"}
    assert frame["text_index"].tolist() == [0, 0, 3, 3]
    for row in frame.itertuples():
        assert texts[row.text_index][row.start:row.end] == row.sentence
    assert frame.loc[frame["sentence"] == DEBATE_SENTENCE, "checkworthy"].item()
    assert not frame.loc[frame["sentence"] == "Thank you all for coming.", "checkworthy"].item()
    # A column of a filtered frame (its index not 0..n-1): texts are taken in order, not by label.
    import pandas as pd

    column = pd.Series(texts, index=[7, 5, 9, 1], dtype=object)
    pd.testing.assert_frame_equal(pipeline.checkworthiness_frame(column, domain="speech"), frame)
    with pytest.raises(Exception, match="unknown domain 'tv'"):
        pipeline.checkworthiness_frame(texts, domain="tv")
    with pytest.raises(Exception, match=r"texts must be strings; not at position\(s\) 1 \(int\)"):
        pipeline.checkworthiness_frame([THREADS_POST, 12], domain="speech")  # was dropped without a row


@pytest.mark.slow
def test_retraining_keeps_the_base_sentence_classifier_for_debates(retrained_checkworthy):
    result, version, models_dir = retrained_checkworthy
    derived = CheckworthyModel(result.model, models_dir=models_dir)
    assert derived.card["parent"] == f"checkworthy@{version}"
    assert derived.card["sentence_classifier"]["carried_from"] == f"checkworthy@{version}"
    assert derived.mix_weights["post"] == 0.0 and derived.mix_weights["speech"] > 0.0
    for name in ("sentence_adapter_head.safetensors", "sentence_classifier.json"):
        assert (result.path / name).read_bytes() == (SHIPPED / version / name).read_bytes()
    assert derived.predict([DEBATE_SENTENCE], domain="speech").tolist() == [1]


# -- bad input ------------------------------------------------------------------------------------
@pytest.mark.parametrize("lines, problem, rows", [
    (['{"text": "a", "label": 1}', '{"text": "b", "label": "yes"}', '{"text": "c", "label": 2}'],
     "unknown label", "rows 2, 3"),
    (['{"text": "a", "label": 1}', '{"label": 0}'], "missing column 'text'", "row 2"),
    (['{"text": "a"}'], "missing column 'label'", "row 1"),
    (['{"text": "a", "label": 1}', '', '{"text": "   ", "label": 0}'], "empty", "row 2"),
    (['{"text": "Same claim.", "label": 1}', '{"text": "b", "label": 0}', '{"text": "same  claim.", "label": 0}'],
     "duplicate text (first seen on row 1)", "row 3"),
    (['{"text": "a", "label": 1}', 'not json'], "not valid JSON", "row 2"),
])
def test_bad_labelled_files_name_the_rows(tmp_path, lines, problem, rows):
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as info:
        read_jsonl_texts(path, labelled=True)
    message = str(info.value)
    assert str(path) in message and problem in message and rows in message


def test_a_line_that_is_not_utf8_is_named_with_its_row(tmp_path):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"text": "fine"}\n{"text": "caf\xe9"}\n')
    with pytest.raises(InputError) as info:
        read_jsonl_texts(path, labelled=False)
    assert info.value.row == 2 and "invalid UTF-8 on row 2" in str(info.value) and str(path) in str(info.value)
    with pytest.raises(InputError, match="is a folder, not a file"):
        read_jsonl_texts(tmp_path, labelled=False)
    path.write_text('{"text": "NATO has 32 members \\ud83d"}\n')  # half an emoji: a tokenizer TypeError later
    with pytest.raises(InputError, match=r"row 1: not valid JSON text: \\ud83d is half of a UTF-16 pair"):
        read_jsonl_texts(path, labelled=False)


def test_empty_file_is_refused(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    with pytest.raises(InputError, match="empty"):
        read_jsonl_texts(path, labelled=True)


# -- data splits -----------------------------------------------------------------------------------
def test_training_data_never_holds_a_dev_or_test_text(shared_datasets):
    from pipeline.checkworthy import data as cd

    sets = cd.load_sets(shared_datasets)
    texts, labels, _ = cd.training_data(sets)
    train_keys = {cd.normalise_key(t) for t in texts}
    for name in cd.DEV_SETS:
        assert not train_keys & {cd.normalise_key(t) for t in sets[name].texts}, name
    assert len(texts) > 9000 and set(np.unique(labels)) == {0, 1}
    assert sets["ct22_1a_dev"].positives == 44 and len(sets["ct22_1a_dev"]) == 195



def test_tweets_quoted_the_csv_way_are_read_unquoted(shared_datasets):
    """The CheckThat! 2020 files quote a tweet holding a quote as a CSV writer does; read plain, 28
    training tweets kept the quoting as text (a leading quote, every inner one doubled)."""
    from pipeline.checkworthy import data as cd
    from pipeline.stance.data import covidfact_pairs

    sets = cd.load_sets(shared_datasets)
    ct20 = sets["ct20_train"].texts
    assert not [t for t in ct20 if t.startswith('"') and '""' in t]
    assert any(t.startswith('Folks, when you say "The corona virus isn\'t a big deal') for t in ct20)
    assert len(sets["ct20_dev"]) == 150  # the 2022 files and 2020 dev have no quoted field: rows as before
    claims = {pair.claim for pair in covidfact_pairs(shared_datasets, "train")}
    assert "northern italy to 'quarantine 16\" people '" in claims

# -- command line -----------------------------------------------------------------------------------
@pytest.mark.slow
def test_cli_evaluate_and_predict(invoke_cli, tmp_path, shipped):
    result = invoke_cli("evaluate", "checkworthy", "--data", str(EVAL_FIXTURE), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert {"f1", "average_precision", "precision", "recall"} <= set(report)
    assert report["f1"] >= 0.8 and report["rows"] == 30

    unlabelled = tmp_path / "posts.jsonl"
    unlabelled.write_text(json.dumps({"text": "Good morning everyone, have a nice day!"}) + "\n" +
                          json.dumps({"text": THREADS_POST}) + "\n")
    out = tmp_path / "pred.jsonl"
    result = invoke_cli("checkworthy", "--data", str(unlabelled), "--out", str(out))
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["label"] for r in rows] == [0, 1]
    assert rows[1]["score"] >= shipped.threshold > rows[0]["score"]


def test_cli_bad_input_is_one_clear_line(invoke_cli, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "a", "label": 1}\n{"text": "b", "label": "maybe"}\n')
    result = invoke_cli("evaluate", "checkworthy", "--data", str(bad), "--json")
    assert result.exit_code != 0
    assert isinstance(result.exception, InputError) and "row 2" in str(result.exception)


@pytest.mark.slow
@pytest.mark.parametrize("domain", [AUTO, "post", "speech"])
def test_a_batch_job_loads_the_networks_of_its_domain_with_its_models(monkeypatch, domain):
    """``claimsift score`` loads the check-worthiness networks where it loads its models, not in its
    first chunk (whose time counts in its throughput); only those its domain can run."""
    from pipeline.checkworthy.post import POST_ADAPTER_FILE
    from pipeline.checkworthy.sentence_classifier import ADAPTER_FILE, SentenceClassifier
    from pipeline.scoring import models as scoring_models

    loaded: list[str] = []
    monkeypatch.setattr(SentenceClassifier, "warm_up", lambda self: loaded.append(self.adapter_file))

    class NoChecker:
        def __init__(self, *args, **kwargs) -> None:
            pass

        def warm_up(self) -> None:
            pass

    monkeypatch.setattr(scoring_models, "Checker", NoChecker)
    scorer = scoring_models.ModelScorer(checkworthy_domain=domain, fact_checks=False)
    monkeypatch.setattr(scorer, "pin_index", lambda: None)
    scorer.warm_up()
    card = CheckworthyModel().card
    assert "post_classifier" in card and card["post_classifier"]["weight"] > 0  # the shipped model's post network
    expected = {AUTO: [POST_ADAPTER_FILE, ADAPTER_FILE], "post": [POST_ADAPTER_FILE], "speech": [ADAPTER_FILE]}
    assert loaded == expected[domain]


def test_reading_posts_whole_without_a_fine_tuned_post_network_is_refused_before_any_training(tmp_path):
    from pipeline.checkworthy.training import train_checkworthy
    from pipeline.core.errors import UserError

    # Refused before the data is read (none is here): only a fine-tuned network scores whole tweets.
    for options in ({"post_epochs": 0.0}, {"post_epochs": 1.0, "post_head": "frozen"}):
        with pytest.raises(UserError, match="--post-reading whole needs a fine-tuned post network"):
            train_checkworthy(tmp_path / "no-data", tmp_path / "models", post_reading="whole", **options)
