"""Matching posts to fact-checks: normalisation, metrics, the persisted index, the matcher, CLI,
and the CheckThat! 2020 task 2 dev quality check (slow; skipped without the shared datasets)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from pipeline.core.errors import UserError
from pipeline.core.metrics import ranked_average_precision, ranking_metrics
from pipeline.corpus.factchecks import ingest_fact_checks_report
from pipeline.factchecks.index import FEATURE_NAMES, index_dir
from pipeline.factchecks.matcher import FactCheckMatcher
from pipeline.factchecks.reranker import MatchReranker
from pipeline.factchecks.text import duplicate_key, normalise_post
from pipeline.registry.registry import Registry
from shipping import as_shipped, pickled_size

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).parent.parent
DATASETS = ROOT.parent / "shared" / "datasets"
NOISY_RUTTE_POST = ("BREAKING 🚨🚨 @NATO chief #Rutte says he'll personally EXPEL the United States from the alliance "
                    "if Trump surrenders Ukraine to Putin!!! #NATO #TrumpSurrender https://t.co/xYz123AbC "
                    "— Freedom Eagle 🇺🇸 (@FreedomEagle1776) November 10, 2024")

needs_model = pytest.mark.skipif(not Registry().versions("matcher"),
                                 reason="no matcher model under models/ (train one: claimsift train matcher)")


def test_normalise_post_splits_tags_and_drops_urls_emoji_and_signature_date():
    text = normalise_post(NOISY_RUTTE_POST)
    assert "http" not in text and "🚨" not in text and "#" not in text and "@" not in text
    assert "Trump Surrender" in text and "NATO chief Rutte" in text
    assert text.endswith("Freedom Eagle 1776") and "November 10" not in text
    assert normalise_post("#DefundTheCBChttps://t.co/CsHG8R9cHp") == "Defund The CBC"


def test_duplicate_key_ignores_quote_style_and_case():
    assert duplicate_key('Trump said "my crimes" can\'t be investigated.') == \
        duplicate_key("Trump said 'My crimes' can't be investigated")
    assert duplicate_key("NATO expels the US") != duplicate_key("NATO expels Norway")


def test_ranking_metrics_follow_checkthat_definitions():
    assert ranked_average_precision(["a", "b", "c"], {"b"}, k=5) == 0.5
    assert ranked_average_precision(["a", "b", "c"], {"a", "c"}, k=5) == pytest.approx((1 + 2 / 3) / 2)
    assert ranked_average_precision(["a", "b", "c"], {"c"}, k=2) == 0.0
    metrics = ranking_metrics([["x", "y"], ["y", "x"], ["z", "w"]], [{"x"}, {"x"}, {"q"}], ks=(1, 5))
    assert metrics["map@1"] == pytest.approx(1 / 3, abs=1e-4)
    assert metrics["map@5"] == pytest.approx(0.5, abs=1e-4)
    assert metrics["mrr"] == pytest.approx(0.5, abs=1e-4)
    assert metrics["recall@5"] == pytest.approx(2 / 3, abs=1e-4)


def test_reranker_json_round_trip_gives_same_scores():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, len(FEATURE_NAMES)))
    y = (X[:, 0] + 0.5 * X[:, 4] > 0).astype(int)
    model = MatchReranker(C=1.0).fit(X, y)
    assert model.predict(X).mean() == pytest.approx(y.mean(), abs=0.1)
    again = MatchReranker.from_json(json.loads(json.dumps(model.to_json())))
    np.testing.assert_allclose(again.predict_proba(X), model.predict_proba(X))
    with pytest.raises(UserError, match="other features"):
        MatchReranker.from_json(model.to_json() | {"features": ["bm25"]})


@parametrize_with_checks([MatchReranker()])
def test_reranker_is_a_scikit_learn_estimator(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    store = tmp_path_factory.mktemp("factchecks") / "store"
    for name in ("factchecks_sample.jsonl", "claimreview_sample.jsonld", "factchecks_sample.csv"):
        ingest_fact_checks_report(DATA / name, store)
    ingest_fact_checks_report(ROOT / "corpus" / "factchecks.jsonl", store)
    return store


@needs_model
def test_noisy_tweet_matches_the_rutte_fact_checks(store):
    matcher = FactCheckMatcher(store)
    matches = matcher.match(NOISY_RUTTE_POST, k=10)
    assert len(matches) == 10
    top3 = [m.id for m in matches[:3]]
    assert "politifact-rutte-expel-us" in top3[:2] and "politifact-2024-11-rutte-expel-us" in top3[:2]
    best = matches[0]
    assert (best.rating, best.verdict, best.publisher) == ("False", "REFUTED", "PolitiFact")
    assert best.similarity > 0.5 and best.similarity >= matches[-1].similarity
    assert set(best.to_dict()) >= {"id", "claim", "rating", "verdict", "publisher", "url", "similarity"}
    # Every record is ranked when k allows; unrelated ones come below the Rutte ones, scored low.
    everything = {m.id: m.similarity for m in matcher.match(NOISY_RUTTE_POST, k=50)}
    assert len(everything) == 14
    assert everything["fixture-einstein-math"] < 0.1 and everything["fixture-5g-covid"] < 0.1



@needs_model
def test_before_keeps_only_records_dated_before_it(store):
    """`check --before` asks what was known at the time: a fact-check published later (or with
    no date) is no more shown than evidence published later."""
    matcher = FactCheckMatcher(store)
    everything = matcher.match(NOISY_RUTTE_POST, k=50)
    dated = {m.id: m.date for m in everything}
    assert dated["politifact-2024-11-rutte-expel-us"] == "2024-11-10" and dated["fixture-einstein-math"] is None
    before = matcher.match(NOISY_RUTTE_POST, k=50, before="2024-11-10")
    assert before and all(m.date is not None and m.date < "2024-11-10" for m in before)
    assert [m.id for m in before] == [m.id for m in everything if m.date is not None and m.date < "2024-11-10"]
    assert matcher.match(NOISY_RUTTE_POST, k=2, before="2024-11-11")[0].id in {
        "politifact-rutte-expel-us", "politifact-2024-11-rutte-expel-us"}
    assert matcher.match(NOISY_RUTTE_POST, k=50, before="2000-01-01") == []

@needs_model
def test_match_many_ranks_each_post_to_its_own_claim(store):
    matcher = FactCheckMatcher(store)
    posts = ["5G towers are spreading the virus!!! wake up people #5Gcoronavirus #COVID19",
             "Einstein FAILED math in school and look how he turned out 😂 #motivation",
             NOISY_RUTTE_POST]
    tops = [ms[0].id for ms in matcher.match_many(posts, k=3)]
    assert tops[0] == "fixture-5g-covid" and tops[1] == "fixture-einstein-math"
    assert tops[2].endswith("rutte-expel-us")


@needs_model
def test_matcher_pickles_cold_and_warm(store):
    matcher = FactCheckMatcher(store)
    cold = as_shipped(matcher)
    matcher.warm_up()
    assert pickled_size(matcher) < 2_000  # the index and the encoder stay behind
    assert cold.match("Rutte threatened to expel the US from NATO", 1)[0].id.endswith("rutte-expel-us")


@needs_model
def test_duplicate_records_are_listed_together_first_ingested_first(tmp_path):
    store = tmp_path / "store"
    rows = [{"id": "orig", "claim": 'Rutte said he would "expel" the US from NATO.', "rating": "False"},
            {"id": "other", "claim": "Stoltenberg wrote a memoir about Trump and Norway.", "rating": "True"},
            {"id": "copy", "claim": "Rutte said he would 'expel' the US from NATO", "rating": "False"}]
    path = tmp_path / "dups.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    ingest_fact_checks_report(path, store)
    matches = FactCheckMatcher(store).match("Rutte: I will expel the US from NATO", k=3)
    assert [m.id for m in matches[:2]] == ["orig", "copy"]
    assert matches[0].similarity == matches[1].similarity
    assert len({m.id for m in matches}) == 3


@needs_model
def test_index_is_rebuilt_when_records_change_and_refused_for_another_encoder(tmp_path):
    from pipeline.factchecks.index import build_store_index

    store = tmp_path / "store"
    ingest_fact_checks_report(ROOT / "corpus" / "factchecks.jsonl", store)
    build_store_index(store)  # the caller's step, as `claimsift ingest` does
    manifest_path = index_dir(store) / "manifest.json"
    assert json.loads(manifest_path.read_text())["records"] == 2
    ingest_fact_checks_report(DATA / "factchecks_sample.csv", store)
    matcher = FactCheckMatcher(store)
    assert len(matcher) == 4  # stale index noticed and rebuilt on warm-up
    assert json.loads(manifest_path.read_text())["records"] == 4
    manifest = json.loads(manifest_path.read_text())
    manifest["encoder"]["model"] = "some/other-model"
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(UserError, match="refusing to mix embedding models"):
        FactCheckMatcher(store).warm_up()


@needs_model
def test_empty_store_matches_nothing(tmp_path):
    assert FactCheckMatcher(tmp_path / "nothing").match("anything at all") == []


@needs_model
def test_cli_match_and_evaluate(store, tmp_path):
    from typer.testing import CliRunner

    from pipeline.cli import app

    queries = tmp_path / "queries.jsonl"
    queries.write_text(json.dumps({"id": "q1", "query": NOISY_RUTTE_POST}) + "\n"
                       + json.dumps({"id": "q2", "query": "5G spreads covid #5G"}) + "\n"
                       + json.dumps({"id": "q3"}) + "\n")
    out = tmp_path / "pred.jsonl"
    result = CliRunner().invoke(app, ["match", "--store", str(store), "--data", str(queries), "--out", str(out)])
    assert result.exit_code == 1, result.output  # q3 has no query; the others are still matched
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["q1", "q2", "q3"]
    assert len(rows[0]["matches"]) == 10 and rows[0]["matches"][0]["id"].endswith("rutte-expel-us")
    scores = [m["score"] for m in rows[0]["matches"]]
    assert scores == sorted(scores, reverse=True)
    assert rows[2]["matches"] == [] and "query" in rows[2]["error"]

    gold = tmp_path / "gold.jsonl"
    gold.write_text(json.dumps({"query": NOISY_RUTTE_POST, "relevant": ["politifact-rutte-expel-us",
                                                                       "politifact-2024-11-rutte-expel-us"]}) + "\n"
                    + json.dumps({"query": "5G spreads covid #5G", "relevant": ["fixture-5g-covid"]}) + "\n")
    result = CliRunner().invoke(app, ["evaluate", "matching", "--store", str(store), "--data", str(gold), "--json"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.output)
    assert metrics["map@5"] == 1.0 and metrics["mrr"] == 1.0 and metrics["queries"] == 2


@pytest.mark.slow
@needs_model
@pytest.mark.skipif(not (DATASETS / "checkthat2020-task2-claim-retrieval").is_dir(),
                    reason="../shared/datasets/checkthat2020-task2-claim-retrieval is absent")
def test_checkthat2020_dev_tweets_find_their_verified_claims(tmp_path):
    """The 197 dev tweets against their verified claims among 1,000 others drawn at random (the
    whole set of 10,375, the issue's MAP@5 >= 0.90, is `python bench/bench_matching.py`'s: 0.908).
    MAP@5 on this slice 0.960 (recall@5 0.990)."""
    import random

    from pipeline.corpus.factchecks import write_fact_checks
    from pipeline.factchecks.training import checkthat_queries, checkthat_records

    records = checkthat_records(DATASETS)
    dev = checkthat_queries(DATASETS, "dev")
    relevant = {claim_id for query in dev for claim_id in query["relevant"]}
    others = [r for r in records if r.id not in relevant]
    store = tmp_path / "store"
    write_fact_checks([r for r in records if r.id in relevant] + random.Random(0).sample(others, 1000), store)
    matcher = FactCheckMatcher(store)
    rankings = [[m.id for m in ms] for ms in matcher.match_many([q["query"] for q in dev], k=10)]
    metrics = ranking_metrics(rankings, [q["relevant"] for q in dev], ks=(1, 5, 10))
    assert len(records) == 10375 and metrics["queries"] == 197
    assert metrics["map@5"] >= 0.945, metrics


@needs_model
def test_min_similarity_keeps_only_strong_matches_and_has_records_is_cheap(store, tmp_path, monkeypatch):
    matcher = FactCheckMatcher(store)
    with monkeypatch.context() as patched:  # answered without loading anything
        patched.setattr(FactCheckMatcher, "warm_up", lambda self: pytest.fail("has_records loaded the matcher"))
        assert matcher.has_records()
    assert not FactCheckMatcher(tmp_path / "empty").has_records()
    strong = matcher.match("NATO chief Rutte threatened to expel the US if Trump surrenders Ukraine", k=10,
                           min_similarity=0.5)
    assert strong and all(m.similarity >= 0.5 for m in strong)
    assert {m.id for m in strong} <= {"politifact-rutte-expel-us", "politifact-2024-11-rutte-expel-us",
                                      "euroverify-rutte-expel-us", "fc-c32d129b17a028ab"}
    assert matcher.match("I had pancakes for breakfast", k=10, min_similarity=0.5) == []


def test_lexical_scores_over_texts_of_only_stop_words_are_zero():
    # a store whose fact-checks all read "x" or "It is.": bm25s failed on the empty
    # vocabulary with a traceback at the end of ingest
    from pipeline.factchecks.index import _Lexical

    lexical = _Lexical(["x", "It is."], stemmer=None)
    assert lexical.scores(["harbour"]).tolist() == [0.0, 0.0]


def test_cli_match_rows_with_errors_exit_1_and_name_the_file(tmp_path, monkeypatch):
    # match --data exited 0 on rows with errors and its error rows did not name the file, unlike check --data
    from types import SimpleNamespace

    from typer.testing import CliRunner

    import pipeline.factchecks.matcher as matcher_module
    from pipeline.cli import app

    class FakeMatcher:
        model_label = "fake"

        def __init__(self, *args, **kwargs) -> None:
            pass

        def warm_up(self) -> None:
            pass

        def __len__(self) -> int:
            return 1

        def match_many(self, queries, k):
            return [[SimpleNamespace(id="fc1", similarity=0.5, rating="False", verdict="REFUTED")] for _ in queries]

    monkeypatch.setattr(matcher_module, "FactCheckMatcher", FakeMatcher)
    queries = tmp_path / "queries.jsonl"
    queries.write_text(json.dumps({"id": "q1", "query": "a claim"}) + "\n" + json.dumps({"id": "q2"}) + "\n")
    out = tmp_path / "pred.jsonl"
    result = CliRunner().invoke(app, ["match", "--store", str(tmp_path), "--data", str(queries), "--out", str(out)])
    assert result.exit_code == 1, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows[0]["matches"][0]["id"] == "fc1" and "error" not in rows[0]
    assert rows[1]["error"] == f"{queries}, line 2: missing field(s) query"
    # the key check --data and score's rejected file use; match's error rows said "row"
    assert [r["line"] for r in rows] == [1, 2] and not any("row" in r for r in rows)
