"""Check-worthiness without being told the kind of text: the per-row router (``--domain auto``),
the post network's stage (chosen out-of-fold), the shipped model with it, and the CLI column."""
from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest

from pipeline.checkworthy.model import CheckworthyModel
from pipeline.checkworthy.post import (
    BAND_GRID,
    POST_ADAPTER_FILE,
    choose_post_stage,
    post_calibrated,
    stratified_folds,
)
from pipeline.checkworthy.sentences import AUTO, route_domain
from pipeline.core.errors import UserError
from pipeline.registry.registry import ModelIntegrityError, Registry
from registered import newest_checkworthy

SHIPPED = Registry().root / "checkworthy"
DEBATE_SENTENCE = "We have lost 750,000 manufacturing jobs in the last four years."
TWEET = ("Sweden did not impose a lockdown and had fewer COVID deaths per capita than the UK. "
         "Think about that. https://t.co/x1Y2z #covid")


# -- the router: form, not topic -------------------------------------------------------------------
@pytest.mark.parametrize("text, domain", [
    (DEBATE_SENTENCE, "speech"),  # one plain sentence: a debate or speech line
    ("TRUMP: We have lost 750,000 jobs. Nobody talks about it.", "speech"),  # speaker prefix, several sentences
    (TWEET, "post"),  # link, hashtag
    ("@who when will the vaccine arrive", "post"),  # handle
    ("Vaccines arrived today 💉", "post"),  # emoji
    ("Vaccines arrived today. Thank you to all the nurses!", "post"),  # several plain sentences
    ("Vaccines arrived today\nThank you nurses", "post"),  # several lines
    ("JUST IN: Michigan will receive 11,400 doses next week.", "post"),  # a news header, not a speaker
    ("Indiana will open vaccines to teachers starting Monday", "post"),  # no closing punctuation
    ("How &amp; why the tests were mocked.", "post"),  # an HTML entity of a feed
])
def test_route_domain_reads_the_form(text, domain):
    assert route_domain(text) == domain


def test_route_domain_ignores_the_topic():
    # Same words, other form: the router follows the marks, not what the text is about.
    assert route_domain("Poland spends 4% of its GDP on defence.") == "speech"
    assert route_domain("Poland spends 4% of its GDP on defence. https://t.co/abc") == "post"


def test_route_domain_on_real_tweets_and_debate_lines(shared_datasets):
    from pipeline.checkworthy import data as cd

    sets = cd.load_sets(shared_datasets)
    debates = sets["claimbuster_heldout"].texts
    tweets = sets["ct22_1a_dev"].texts + sets["ct20_dev"].texts
    as_speech = sum(route_domain(t) == "speech" for t in debates) / len(debates)
    as_post = sum(route_domain(t) == "post" for t in tweets) / len(tweets)
    assert as_speech >= 0.99, as_speech
    assert as_post >= 0.9, as_post
    # CheckThat! 2020 task 5 transcripts, written as "SPEAKER: line" rows.
    transcript = sorted((shared_datasets / "checkthat2020-task5-debates" / "train").glob("*.tsv"))
    if not transcript:
        pytest.skip("no CheckThat! 2020 task 5 debate transcripts in the shared data")
    with open(transcript[0], encoding="utf-8", newline="") as handle:
        rows = [r for r in csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE) if len(r) >= 3][:300]
    lines = [f"{speaker}: {text}" for _, speaker, text, *_ in rows if speaker.isupper() and speaker != "SYSTEM"]
    assert len(lines) >= 100
    assert sum(route_domain(line) == "speech" for line in lines) / len(lines) >= 0.95


# -- the post stage, chosen out-of-fold ----------------------------------------------------------
def test_stratified_folds_cover_every_row_once_with_positives_in_each():
    labels = np.array([1] * 30 + [0] * 90)
    folds = stratified_folds(labels, 3, seed=13)
    assert sorted(set(folds.tolist())) == [0, 1, 2]
    for k in range(3):
        assert labels[folds == k].sum() == 10 and (folds == k).sum() == 40
    np.testing.assert_array_equal(folds, stratified_folds(labels, 3, seed=13))


def test_post_stage_leans_on_the_network_that_separates_and_calibrates():
    rng = np.random.default_rng(0)
    labels = (rng.random(400) < 0.25).astype(np.int64)
    # Two sentences per post; the post's label shows in its first sentence only. The network
    # separates the classes; the regression is noise.
    net = [[float(np.clip(0.8 * y + 0.1 + rng.normal(0, 0.05), 0, 1)), 0.05] for y in labels]
    lr = [[float(rng.random()), float(rng.random())] for _ in labels]
    stage = choose_post_stage(labels, lr, net)
    assert stage.weight >= 0.7
    assert stage.oof["mixed"]["f1"] >= 0.95 > stage.oof["regression_alone"]["f1"]
    assert stage.calibration[0] > 0  # a higher mixed score means a higher probability
    assert 0.0 < stage.threshold < 1.0
    # Calibrated: the probabilities of a clear positive and a clear negative post, as served.
    positive, negative = (post_calibrated(np.array([0.5]), np.array([n]), stage.weight, *stage.calibration)[0]
                          for n in (0.9, 0.1))
    assert positive > 0.9 and negative < 0.1
    assert negative < stage.threshold < positive
    # With a noise regression no band can skip the network without losing F1: it runs everywhere.
    assert stage.band_from == 0.0 and stage.band_share == 1.0
    # The regression alone, when asked (the claim sentences of posts read whole): weight 0 however
    # good the network, calibrated and thresholded all the same.
    alone = choose_post_stage(labels, lr, net, weights=(0.0,))
    assert alone.weight == 0.0
    assert alone.oof["mixed"]["f1"] == alone.oof["regression_alone"]["f1"]  # calibration keeps the order
    assert alone.oof["mixed"]["f1"] < 0.6 and 0.0 < alone.threshold < 1.0


def test_post_stage_keeps_the_network_within_the_share_it_may_run_on_and_says_what_each_band_costs():
    rng = np.random.default_rng(1)
    labels = (rng.random(600) < 0.3).astype(np.int64)
    # The regression ranks roughly (a first stage); the network separates sharply.
    lr = [[float(np.clip(0.15 * y + 0.6 * rng.random(), 0, 1)), float(0.3 * rng.random())] for y in labels]
    net = [[float(np.clip(0.8 * y + 0.1 + rng.normal(0, 0.05), 0, 1)), 0.05] for y in labels]
    free = choose_post_stage(labels, lr, net)
    capped = choose_post_stage(labels, lr, net, max_band_share=0.25)
    assert free.band_share > 0.25 >= capped.band_share and capped.max_band_share == 0.25
    assert capped.band_from > free.band_from
    # The table covers every band, cheaper as the band rises, and shows the cap's price.
    shares = [row["share"] for row in capped.band_tradeoff]
    assert [row["band_from"] for row in capped.band_tradeoff] == list(BAND_GRID)
    assert shares == sorted(shares, reverse=True) and shares[0] == 1.0
    assert capped.oof["mixed_with_band"]["f1"] <= free.oof["mixed_with_band"]["f1"]
    # The threshold is chosen again for the banded score, and the stage still separates most posts.
    assert capped.threshold != capped.oof["mixed"]["threshold"]
    assert capped.oof["mixed_with_band"]["threshold"] == capped.threshold
    assert capped.oof["mixed_with_band"]["f1"] >= 0.7
    # A share no band can keep to is refused, not broken silently.
    everywhere_high = [[0.9, float(0.85 + 0.1 * rng.random())] for _ in labels]  # above every band of the grid
    with pytest.raises(UserError, match="no band of the post network runs on at most 50.0%"):
        choose_post_stage(labels, everywhere_high, net, max_band_share=0.5)


# -- the shipped model ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def shipped() -> CheckworthyModel:
    """The newest registered version with a post network that scores a post by its sentences
    (current or not)."""
    return newest_checkworthy(lambda post: post.get("post_score", "sentences") == "sentences",
                              "no registered checkworthy version has a post network reading sentences")


@pytest.fixture(scope="module")
def shipped_whole() -> CheckworthyModel:
    """The newest registered version that reads posts whole (current or not)."""
    return newest_checkworthy(lambda post: post.get("post_score") == "whole",
                              "no registered checkworthy version reads posts whole")


@pytest.mark.slow
def test_shipped_post_network_loads_checked_and_runs_only_in_the_band(shipped):
    spec = shipped.card["post_classifier"]
    assert (SHIPPED / shipped.card["version"] / POST_ADAPTER_FILE).stat().st_size < 10_000_000
    assert spec["base_model"].endswith(("all-MiniLM-L6-v2", "all-mpnet-base-v2")) and "out_of_fold" in spec
    assert shipped.thresholds["post"] == pytest.approx(spec["threshold"])
    seen: list[str] = []
    network = shipped.post_classifier
    original = network.positive_proba
    network.positive_proba = lambda texts, **kw: (seen.extend(texts), original(texts, **kw))[1]
    try:
        texts = [DEBATE_SENTENCE, "Good morning everyone, have a nice day!", TWEET]
        lr = shipped.classifier.predict_proba(texts, domain="post")[:, 1]
        scores = shipped.score(texts, domain="post")
    finally:
        network.positive_proba = original
    assert seen == [t for t, s in zip(texts, lr) if s >= spec["band_from"]]
    assert scores[1] < shipped.thresholds["post"] <= scores[2]


@pytest.mark.slow
def test_a_post_network_that_does_not_match_its_card_is_refused(tmp_path, shipped):
    version = shipped.card["version"]
    target = tmp_path / "checkworthy" / version
    shutil.copytree(SHIPPED / version, target)
    (tmp_path / "checkworthy" / "CURRENT").write_text(version + "\n")
    adapter = bytearray((target / POST_ADAPTER_FILE).read_bytes())
    adapter[-1] ^= 0xFF
    (target / POST_ADAPTER_FILE).write_bytes(bytes(adapter))
    with pytest.raises(ModelIntegrityError, match=POST_ADAPTER_FILE):
        CheckworthyModel(models_dir=tmp_path).warm_up()


@pytest.mark.slow
def test_routed_scoring_keeps_one_claim_per_sentence(shipped):
    post = ("Good morning everyone! 🌞 Sweden did not impose a lockdown and had fewer COVID deaths per capita "
            "than the UK https://t.co/x1Y2z #covid\nHave a nice day")
    routed = shipped.score_posts_routed([post, DEBATE_SENTENCE, "Thank you, it is good to be here tonight."])
    assert [r.domain for r in routed] == ["post", "speech", "speech"]
    assert [c.text[:20] for c in routed[0].claims] == ["Sweden did not impos"]
    assert routed[0].score == pytest.approx(max(c.score for c in routed[0].claims))
    assert [c.text for c in routed[1].claims] == [DEBATE_SENTENCE] and routed[2].claims == []
    forced = shipped.score_posts_routed([DEBATE_SENTENCE], "post")
    assert forced[0].domain == "post"
    with pytest.raises(ValueError, match="unknown domain"):
        shipped.domains_of([post], "tv")
    assert shipped.domains_of([post, DEBATE_SENTENCE], AUTO) == ["post", "speech"]


@pytest.mark.slow
def test_cli_writes_the_domain_of_each_row(tmp_path):
    from typer.testing import CliRunner

    from pipeline.cli import app

    posts = tmp_path / "mixed.jsonl"
    posts.write_text("\n".join(json.dumps({"text": t}) for t in (TWEET, DEBATE_SENTENCE)) + "\n")
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(app, ["checkworthy", "--data", str(posts), "--out", str(out), "--claims"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["domain"] for r in rows] == ["post", "speech"]
    assert all(r["label"] == 1 and len(r["claims"]) == 1 for r in rows)
    result = CliRunner().invoke(app, ["checkworthy", "--data", str(posts), "--out", str(out), "--domain", "post"])
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["domain"] for line in out.read_text().splitlines()] == ["post", "post"]
    result = CliRunner().invoke(app, ["checkworthy", "--data", str(posts), "--out", str(out), "--domain", "tv"])
    assert result.exit_code != 0 and "unknown --domain 'tv'" in str(result.exception or result.output)


@pytest.mark.slow
def test_retraining_carries_the_post_network_and_its_threshold(retrained_checkworthy):
    from pipeline.checkworthy.post import POST_FILES

    result, version, models_dir = retrained_checkworthy
    base = CheckworthyModel(f"checkworthy@{version}")
    derived = CheckworthyModel(result.model, models_dir=models_dir)
    assert derived.card["post_classifier"]["carried_from"] == f"checkworthy@{version}"
    assert derived.thresholds["post"] == base.thresholds["post"]  # not re-tuned on dev
    for name in POST_FILES:
        assert (result.path / name).read_bytes() == (SHIPPED / version / name).read_bytes()
    assert derived.score_posts_routed([TWEET])[0].claims


def test_the_card_command_that_reproduces_a_recipe_is_one_the_cli_accepts():
    import typer.main

    from pipeline.checkworthy.training import reproduce_command
    from pipeline.cli.app import app

    command = reproduce_command(sentence_epochs=0, sentence_base="all-mpnet-base-v2", speech_from="checkworthy@v3",
                                post_epochs=1.0, post_base="all-mpnet-base-v2", post_folds=3, post_folds_used=1,
                                post_final_stop_epochs=None, post_head="lora", post_max_share=0.3,
                                post_reading="best")
    assert command == ("claimsift train checkworthy --data ../shared/datasets --out models --sentence-epochs 0 "
                       "--speech-from checkworthy@v3 --post-base all-mpnet-base-v2 --post-epochs 1 --post-folds 3 "
                       "--post-folds-used 1 --post-max-share 0.3 --post-reading best")
    # Parsed (not run) by the real command: every option exists and takes the value given.
    train = typer.main.get_command(app).commands["train"]  # type: ignore[attr-defined]
    context = train.commands["checkworthy"].make_context("checkworthy", command.split()[3:])
    assert context.params["post_max_share"] == 0.3 and context.params["post_folds_used"] == 1
    assert context.params["speech_from"] == "checkworthy@v3" and context.params["sentence_epochs"] == 0
    assert context.params["post_reading"] == "best"


# -- a post read whole ------------------------------------------------------------------------------
def test_whole_post_embeddings_pool_each_posts_sentences_by_length():
    from pipeline.checkworthy.post import whole_post_embeddings

    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]], dtype=np.float32)
    pooled = whole_post_embeddings(vectors, [30, 10, 5], [2, 0, 1])
    np.testing.assert_allclose(pooled[0], np.array([3.0, 1.0]) / np.sqrt(10.0), rtol=1e-6)  # 30:10, renormalised
    assert not pooled[1].any()  # a post without a sentence
    np.testing.assert_allclose(pooled[2], [0.6, 0.8], rtol=1e-6)  # one sentence: its own vector
    with pytest.raises(ValueError, match="must agree"):
        whole_post_embeddings(vectors, [30, 10, 5], [2, 2])


def _read_whole(tmp_path, shipped, **stage) -> CheckworthyModel:
    """A copy of the shipped model whose card reads posts whole with ``stage``: the regression
    alone (network weight 0), calibrated as sigmoid(10 p - 5), so that p = 0.5 scores 0.5."""
    version = shipped.card["version"]
    target = tmp_path / "checkworthy" / version
    shutil.copytree(SHIPPED / version, target)
    (tmp_path / "checkworthy" / "CURRENT").write_text(version + "\n")
    card = json.loads((target / "card.json").read_text())
    card["post_classifier"] = {**card["post_classifier"], "post_score": "whole",
                               "whole": {"weight": 0.0, "calibration": [10.0, -5.0], "band_from": 0.0,
                                         "threshold": stage["post_threshold"]},
                               "threshold": stage["sentence_threshold"]}
    card["thresholds"]["post"] = stage["post_threshold"]
    (target / "card.json").write_text(json.dumps(card))
    return CheckworthyModel("checkworthy", models_dir=tmp_path)


@pytest.mark.slow
def test_a_post_read_whole_has_its_own_score_and_its_sentences_as_claims(tmp_path, shipped):
    two_claims = ("Sweden had fewer COVID deaths per capita than the UK in 2020. The EU spent 750 billion euros "
                  "on its recovery fund. https://t.co/x1Y2z")
    chatter = "Good morning everyone, have a nice day!"
    model = _read_whole(tmp_path, shipped, post_threshold=0.5, sentence_threshold=0.0)
    assert model.post_reading == "whole" and shipped.post_reading == "sentences"
    post, quiet = model.score_posts_routed([two_claims, chatter], "post")
    # Its own score: the regression on the whole post, with its sentences' embeddings pooled
    # (calibrated as the edited stage says).
    sentences = [two_claims[s:e] for s, e in model.sentences(two_claims)]
    pooled = model.classifier.embed(sentences)
    from pipeline.checkworthy.post import whole_post_embeddings

    regression = model.classifier.predict_proba([two_claims], domain="post", embeddings=whole_post_embeddings(
        pooled, [len(s) for s in sentences], [len(sentences)]))[0, 1]
    assert post.score == pytest.approx(1 / (1 + np.exp(-(10 * regression - 5))))
    assert post.score >= 0.5 and [c.text for c in post.claims] == sentences  # every sentence passes 0.0
    assert len(post.sentences) == 2 and quiet.score < 0.5 and quiet.claims == []  # its sentence passes 0.0
    # A post under the post threshold has no claim, whatever its sentences score ...
    strict = _read_whole(tmp_path / "strict", shipped, post_threshold=0.99, sentence_threshold=0.0)
    assert strict.score_posts_routed([two_claims], "post")[0].claims == []
    # ... and a check-worthy post whose sentences all miss theirs keeps its best one.
    picky = _read_whole(tmp_path / "picky", shipped, post_threshold=0.0, sentence_threshold=1.1)
    (scored,) = picky.score_posts_routed([two_claims], "post")
    assert scored.claims == [max(scored.sentences, key=lambda c: c.score)]
    assert picky.score_post(two_claims) == (scored.score, scored.claims)
    frame = __import__("pipeline").checkworthiness_frame([two_claims], domain="post",
                                                         models_dir=tmp_path / "picky")
    assert frame["checkworthy"].sum() == 1 and (frame["post_score"] == scored.score).all()


@pytest.mark.slow
def test_posts_read_whole_load_the_network_that_reads_them_whole(tmp_path, shipped):
    _read_whole(tmp_path, shipped, post_threshold=0.5, sentence_threshold=0.5)
    card_path = tmp_path / "checkworthy" / shipped.card["version"] / "card.json"
    card = json.loads(card_path.read_text())
    card["post_classifier"]["weight"] = 0.0  # the sentences: the regression alone
    card["post_classifier"]["whole"]["weight"] = 0.4  # the whole post: the network too
    card_path.write_text(json.dumps(card))
    model = CheckworthyModel("checkworthy", models_dir=tmp_path, networks="post")
    model.warm_up()
    assert model.post_classifier is not None and model.post_classifier._tokenizer is not None
    assert model.sentence_classifier is not None and model.sentence_classifier._tokenizer is None  # speech: not asked


@pytest.mark.slow
def test_a_registered_model_reading_posts_whole_runs_its_network_on_whole_posts_in_its_band(shipped_whole):
    from pipeline.checkworthy.post import whole_post_embeddings

    spec = shipped_whole.card["post_classifier"]
    assert shipped_whole.post_reading == "whole"
    assert shipped_whole.thresholds["post"] == pytest.approx(spec["whole"]["threshold"])
    assert shipped_whole.claim_thresholds["post"] == pytest.approx(spec["threshold"])
    chatter = "Good morning everyone, have a nice day!"
    posts = [TWEET, chatter, DEBATE_SENTENCE]
    seen: list[str] = []
    network = shipped_whole.post_classifier
    original = network.positive_proba
    network.positive_proba = lambda texts, **kw: (seen.extend(texts), original(texts, **kw))[1]
    try:
        routed = shipped_whole.score_posts_routed(posts, "post")
    finally:
        network.positive_proba = original
    # The regression on each whole post (its sentences' embeddings pooled) decides where the network runs.
    sentences = [[post[s:e] for s, e in shipped_whole.sentences(post)] for post in posts]
    flat = [s for group in sentences for s in group]
    pooled = whole_post_embeddings(shipped_whole.classifier.embed(flat), [len(s) for s in flat],
                                   [len(group) for group in sentences])
    regression = shipped_whole.classifier.predict_proba(posts, domain="post", embeddings=pooled)[:, 1]
    whole_band = [post for post, score in zip(posts, regression) if score >= spec["whole"]["band_from"]]
    sentence_band = [s for s, score in zip(flat, shipped_whole.classifier.predict_proba(flat, domain="post")[:, 1])
                     if score >= spec["band_from"]] if spec["weight"] > 0 else []
    assert sorted(seen) == sorted(sentence_band + whole_band)
    tweet, quiet, _ = routed
    assert tweet.score >= shipped_whole.thresholds["post"] > quiet.score
    assert tweet.claims and quiet.claims == [] and len(tweet.sentences) == len(sentences[0])
