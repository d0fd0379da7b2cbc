"""The query adapter: a learned linear map on claim vectors before dense search
(``pipeline.retrieval.query_adapter``, fitted by ``pipeline.training.retriever_fit``)."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from conftest import DATA, ROOT
from pipeline.core.errors import UserError
from pipeline.registry.registry import Registry
from pipeline.retrieval.index import current_index_dir
from pipeline.retrieval.query_adapter import CONFIG_FILE, MATRIX_FILE, QUERY_ADAPTER, QueryAdapter


@pytest.fixture(scope="module")
def encoder():
    from pipeline.registry.embedding import Encoder

    loaded = Encoder()
    loaded.warm_up()
    return loaded


def _registry_copy(tmp_path):
    target = tmp_path / "models"
    shutil.copytree(ROOT / "models" / QUERY_ADAPTER, target / QUERY_ADAPTER)
    return target


def test_the_shipped_adapter_maps_claim_vectors_to_unit_vectors_of_its_encoder(encoder):
    adapter = QueryAdapter()
    claims = ["Gargling salt water kills the coronavirus.", "The top income tax rate was 7 percent in 1913."]
    vectors = encoder.encode(claims)
    adapted = adapter.adapt(vectors)
    assert adapted.shape == vectors.shape
    assert np.allclose(np.linalg.norm(adapted, axis=1), 1.0, atol=1e-5)
    # A map near the identity: each claim stays nearest its own original vector.
    assert (np.argmax(adapted @ vectors.T, axis=1) == [0, 1]).all()
    assert 0.5 < float((adapted * vectors).sum(axis=1).min()) < 0.9999
    adapter.check_encoder(encoder.tag)  # learned on this encoder's vectors
    card = Registry().load_ref(f"{QUERY_ADAPTER}@{adapter.tag['version']}").card
    assert "train query-adapter" in card["reproduce"] and card["excluded_corpora"] == ["liar"]
    # Measured where no claim of the corpus was fitted on: never below the unadapted first stage.
    for corpus, figures in card["metrics"]["leave_one_corpus_out_train_split"].items():
        assert figures["adapter_fitted_without_this_corpus"]["recall@5"] >= figures["without_adapter"]["recall@5"], corpus


def test_a_model_that_is_not_a_query_adapter_is_refused():
    with pytest.raises(UserError, match="not a query adapter"):
        QueryAdapter("stance@v5").warm_up()


def test_a_triplets_file_with_bad_lines_names_each_one(tmp_path, write_jsonl):
    from pipeline.core.errors import InputError
    from pipeline.training.retriever_fit import read_triplets

    good = {"corpus": "c", "claim_id": "1", "claim": "a claim", "positive": "its evidence", "negative": "other"}
    path = write_jsonl(tmp_path / "triplets.jsonl", [good, "{not json", {**good, "positive": None},
                                                      {**good, "extra": "x"}, good])
    with pytest.raises(InputError) as caught:
        read_triplets(path)
    message = str(caught.value)
    assert str(path) in message and all(f"line {n}" in message for n in (2, 3, 4))
    assert "line 1" not in message and "line 5" not in message
    assert len(read_triplets(write_jsonl(tmp_path / "ok.jsonl", [good, good]))) == 2
    with pytest.raises(InputError, match="no triplets"):
        read_triplets(write_jsonl(tmp_path / "empty.jsonl", []))


def test_each_corpus_is_measured_with_a_map_fitted_without_it_and_without_the_excluded_ones(
        tmp_path, write_jsonl, monkeypatch):
    from pipeline.training import retriever_fit

    corpora = ["a", "b", "c", "liar"]
    rows = [{"corpus": c, "claim_id": f"{c}{i}", "claim": f"claim {c} {i}", "positive": f"pos {c} {i}",
             "negative": f"neg {c} {i} held"} if i == 0 else
            {"corpus": c, "claim_id": f"{c}{i}", "claim": f"claim {c} {i}", "positive": f"pos {c} {i}",
             "negative": f"neg {c} {i}"} for c in corpora for i in range(3)]
    path = write_jsonl(tmp_path / "triplets.jsonl", rows)
    # The first triplet of each corpus holds a held-out claim's evidence ("held"): never fitted on.
    monkeypatch.setattr(retriever_fit, "held_out_evidence", lambda corpora, corpora_dir: ["held"])
    # Each triplet's vector carries its index, so a fit's inputs say which triplets it saw.
    index_vectors = np.arange(len(rows), dtype=np.float32)[:, None].repeat(2, axis=1)
    monkeypatch.setattr(retriever_fit, "encoded_triplets",
                        lambda triplets, encoder, cache_dir, log: (index_vectors, index_vectors, index_vectors))
    fits: list[set[str]] = []

    def fake_fit(claims, positives, negatives, **_):
        fits.append({rows[int(i)]["corpus"] for i in claims[:, 0]} | {f"#{int(i)}" for i in claims[:, 0]})
        return np.eye(2, dtype=np.float32)

    monkeypatch.setattr(retriever_fit, "fit_query_adapter", fake_fit)
    measured: list[str] = []
    monkeypatch.setattr(retriever_fit, "first_stage_recall",
                        lambda corpus, split, matrix, **_: measured.append(f"{corpus}/{split}")
                        or {"claims": 3, "recall@5": 0.5, "recall@10": 0.5})
    captured = {}
    monkeypatch.setattr(retriever_fit, "register_adapter",
                        lambda models_dir, matrix, tag, **kw: captured.update(kw) or "query-adapter@v9")
    retriever_fit.train_query_adapter(tmp_path / "models", path, exclude=("liar",), log=lambda _: None)
    shipped, *loco = fits
    assert "liar" not in shipped and {"a", "b", "c"} <= shipped
    held = {f"#{i}" for i, row in enumerate(rows) if row["negative"].endswith("held")}
    assert not any(fit & held for fit in fits)
    for corpus, fit in zip(["a", "b", "c", "liar"], loco):
        assert corpus not in fit and "liar" not in fit
    assert "a/train" in measured and "c/tune" in measured
    assert captured["extra"]["fitted_on"] == ["a/train", "b/train", "c/train"]
    assert captured["extra"]["left_out_holding_held_out_evidence"] == 4


def test_a_tampered_adapter_is_refused(tmp_path):
    models = _registry_copy(tmp_path)
    version = Registry(models).current_version(QUERY_ADAPTER)
    matrix_path = models / QUERY_ADAPTER / version / MATRIX_FILE
    matrix = np.load(matrix_path, allow_pickle=False)
    matrix[0, 0] += 1.0
    np.save(matrix_path, matrix, allow_pickle=False)
    with pytest.raises(UserError, match="sha256"):
        QueryAdapter(models_dir=models).warm_up()


def test_an_adapter_learned_on_another_encoder_is_refused(tmp_path, encoder):
    models = _registry_copy(tmp_path)
    folder = models / QUERY_ADAPTER / Registry(models).current_version(QUERY_ADAPTER)
    config = json.loads((folder / CONFIG_FILE).read_text())
    config["encoder"]["model"] = "sentence-transformers/all-mpnet-base-v2"
    (folder / CONFIG_FILE).write_text(json.dumps(config))
    card = json.loads((folder / "card.json").read_text())
    Registry.write_card(folder, name=card["name"], version=card["version"], description=card["description"],
                        training_data=card["training_data"], metrics=card["metrics"])  # hashes match again
    adapter = QueryAdapter(models_dir=models)
    with pytest.raises(UserError, match="all-mpnet-base-v2"):
        adapter.check_encoder(encoder.tag)


def _seed_triplets():
    """Each seed claim with a sentence that settles it (its first gold evidence) and the evidence
    of the next claim about another matter as the negative."""
    rows = [json.loads(line) for line in (DATA / "seed_claims.jsonl").read_text().splitlines() if line.strip()]
    rows = [r for r in rows if r.get("evidence")]
    out = []
    for row, other in zip(rows, rows[7:] + rows[:7]):
        if row["evidence"][0][1] != other["evidence"][0][1]:
            out.append((row["claim"], row["evidence"][0][1], other["evidence"][0][1]))
    return out


def test_fitting_moves_claims_towards_what_settles_them_and_the_penalty_holds_the_map(encoder):
    from pipeline.training.retriever_fit import fit_query_adapter

    triplets = _seed_triplets()
    assert len(triplets) >= 25
    claims, positives, negatives = (encoder.encode([t[i] for t in triplets]) for i in range(3))

    def margin(matrix):
        adapted = claims @ matrix.T
        adapted /= np.linalg.norm(adapted, axis=1, keepdims=True)
        return float(np.mean((adapted * positives).sum(axis=1) - (adapted * negatives).sum(axis=1)))

    identity = np.eye(claims.shape[1], dtype=np.float32)
    learned = fit_query_adapter(claims, positives, negatives, penalty=0.1, epochs=30, batch_size=16)
    assert margin(learned) > margin(identity) + 0.02
    held = fit_query_adapter(claims, positives, negatives, penalty=1e4, epochs=30, batch_size=16)
    assert np.abs(held - identity).max() < 0.01
    assert abs(margin(held) - margin(identity)) < 0.01
    # Each claim twice (two triplets, one batch): masked, its second positive is not pushed away.
    twice = [np.concatenate([a, a]) for a in (claims, positives, negatives)]
    ids = [str(i) for i in range(len(triplets))] * 2
    masked = fit_query_adapter(*twice, penalty=0.1, epochs=30, batch_size=2 * len(triplets), claim_ids=ids)
    unmasked = fit_query_adapter(*twice, penalty=0.1, epochs=30, batch_size=2 * len(triplets))
    assert margin(masked) > margin(unmasked) > margin(identity)


@pytest.mark.slow
def test_the_checker_retrieves_with_the_adapter_its_verdict_model_was_fitted_with(seed_store):
    from pipeline.verdict.aggregator import VerdictAggregator
    from pipeline.verdict.checker import Checker

    assert Checker(seed_store).retrieval_adapter == VerdictAggregator.load("verdict").query_adapter
    assert Checker(seed_store, verdict_spec="verdict@v9").retrieval_adapter == "query-adapter@v1"
    assert Checker(seed_store, verdict_spec="verdict@v8").retrieval_adapter == "none"  # fitted before adapters
    assert Checker(seed_store, verdict_spec="rules").retrieval_adapter == "none"
    assert Checker(seed_store, verdict_spec="verdict@v9", query_adapter="none").retrieval_adapter == "none"
    asked = Checker(seed_store, query_adapter="query-adapter@v1")
    assert asked.retrieval_adapter == "query-adapter@v1" and asked.retrieval_adapter_tag["sha256"]
    claim = "Poland spends more of its GDP on defence than any other NATO member."
    adapted = asked.retrieve([claim], top_k=10)[0]
    plain = Checker(seed_store, query_adapter="none").retrieve([claim], top_k=10)[0]
    assert [e.score for e in adapted] != [e.score for e in plain]
    # Shipped to a Dask worker by its __getstate__ (what pickling sends; copy uses the same
    # protocol without a byte stream to load): nothing loaded, and it loads its adapter again there.
    import copy

    shipped = copy.copy(asked)
    assert shipped._loaded is None
    assert [e.score for e in shipped.retrieve([claim], top_k=10)[0]] == [e.score for e in adapted]


@pytest.mark.slow
def test_a_verdict_model_whose_adapter_is_missing_says_what_to_do(seed_store, tmp_path):
    from pipeline.verdict.checker import Checker

    models = tmp_path / "models"
    for name in ("stance", "verdict"):
        shutil.copytree(ROOT / "models" / name, models / name)
    with pytest.raises(UserError, match="retrieves through query-adapter@v1.*--query-adapter none"):
        Checker(seed_store, models_dir=models, verdict_spec="verdict@v9").warm_up()
    Checker(seed_store, models_dir=models, verdict_spec="verdict@v9", query_adapter="none").warm_up()


@pytest.mark.slow
def test_an_unknown_adapter_asked_for_on_the_command_line_is_one_line_of_error(seed_store, run_cli):
    result = run_cli("check", "Mark Rutte took over as NATO secretary general on 1 October 2024.",
                     "--store", str(seed_store), "--query-adapter", "query-adapter@v99")
    assert result.returncode == 2, result.stderr
    assert "query adapter" in result.stderr and "query-adapter@v99" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_a_map_for_your_own_corpus_is_registered_beside_the_current_one_and_compared_with_it(
        seed_store_copy, tmp_path, run_cli, write_jsonl):
    from pipeline.datasets.corpora import build_dataset

    models = tmp_path / "models"
    for name in ("stance", "verdict", QUERY_ADAPTER):
        shutil.copytree(ROOT / "models" / name, models / name)
    current = Registry(models).current_version(QUERY_ADAPTER)
    # The seed claims stand in for a user's labelled claims: gold evidence texts, no gold documents.
    claims = build_dataset("seeds", corpora_dir=tmp_path / "corpora").claims
    seed_store = seed_store_copy  # the vectors cache is written beside the store
    result = run_cli("train", "query-adapter", "--claims", claims, "--store", seed_store, "--out", models)
    assert result.returncode == 0, result.stderr
    registry = Registry(models)
    new = registry.versions(QUERY_ADAPTER)[-1]
    assert new != current and registry.current_version(QUERY_ADAPTER) == current  # never made current
    card = registry.load_ref(f"{QUERY_ADAPTER}@{new}").card
    compared = card["metrics"]["your_tune_split"]
    assert compared["claims"] >= 5
    assert {"without_adapter", f"current ({QUERY_ADAPTER}@{current})", "new"} <= set(compared)
    assert card["metrics"]["mining"]["triplets"] >= 20 and card["training_data"][0]["licence"] == "yours"
    assert card["fitted_on"] == ["yours/train"] and f"--store {seed_store}" in card["reproduce"]
    assert "--documents" not in card["reproduce"]  # the store was given, not documents
    assert any((seed_store / ".query_adapter_cache").iterdir())
    adapter = QueryAdapter(f"{QUERY_ADAPTER}@{new}", models_dir=models)
    assert not np.allclose(adapter.matrix, np.eye(adapter.matrix.shape[0]), atol=1e-4)

    # Claims whose evidence the corpus does not hold: one line saying so, nothing registered.
    unrelated = write_jsonl(tmp_path / "unrelated.jsonl", [
        {"id": f"u{i}", "claim": f"The city council of Springfield approved budget number {i} on Tuesday.",
         "label": "SUPPORTED", "gold_evidence": [f"Springfield's council passed budget {i} unanimously."]}
        for i in range(40)])
    refused = run_cli("train", "query-adapter", "--claims", unrelated, "--store", seed_store, "--out", models)
    assert refused.returncode == 2 and "gold evidence sentence" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr and Registry(models).versions(QUERY_ADAPTER)[-1] == new

    # A store whose index reads sentences another way (built by an older version): refused before
    # mining, with the command that rebuilds it.
    manifest_path = current_index_dir(seed_store) / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["context_rules"] = 1
    manifest_path.write_text(json.dumps(manifest))
    stale = run_cli("train", "query-adapter", "--claims", claims, "--store", seed_store, "--out", models)
    assert stale.returncode == 2 and f"claimsift index --store {seed_store}" in stale.stderr, stale.stderr
    assert "Traceback" not in stale.stderr and Registry(models).versions(QUERY_ADAPTER)[-1] == new
