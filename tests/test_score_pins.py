"""What batch scoring settles where the job starts besides the model versions: the fact-check
matcher (or fact-checks off) and the build of the store's evidence index. A worker (a pickled
scorer) reads exactly these, and ``--resume`` refuses a checkpoint made with others."""
from __future__ import annotations

from pathlib import Path

import pytest

import pipeline.scoring.models as scoring_models
from pipeline.core.errors import UserError
from pipeline.corpus.factchecks import FactCheck, write_fact_checks
from pipeline.retrieval.index import IndexChangedError, current_index_identity, load_index, update_index
from pipeline.scoring.models import ModelScorer
from pipeline.scoring.scorer import score_file
from score_fakes import PinnedKeywordScorer
from shipping import as_shipped

MODELS = Path(__file__).resolve().parent.parent / "models"
POSTS = [{"id": f"p{i}", "text": text} for i, text in enumerate(
    ["NATO has 32 members.", "Good morning!", "Poland spends 4.12% of GDP on defence.", "No numbers here"])]


def _stub(given: dict) -> type:
    class Stub:
        def __init__(self, *args, **options) -> None:
            given.update(options)

        def warm_up(self) -> None:
            pass
    return Stub


def _recording_checker(monkeypatch) -> dict:
    """The options the scorer gives its Checker on warm_up, no model loaded."""
    given: dict = {}
    monkeypatch.setattr(scoring_models, "Encoder", lambda backend: None)
    monkeypatch.setattr(scoring_models, "CheckworthyModel", _stub({}))
    monkeypatch.setattr(scoring_models, "Checker", _stub(given))
    return given


def _store(tmp_path: Path, fact_checks: bool) -> Path:
    store = tmp_path / "store"
    store.mkdir()
    if fact_checks:
        write_fact_checks([FactCheck(id="fc1", claim="NATO has 40 members.", rating="False", verdict="false")], store)
    else:
        from pipeline.corpus.store import DB_NAME

        (store / DB_NAME).write_bytes(b"")  # only its presence matters before models load
    return store


@pytest.mark.parametrize("fact_checks", [True, False])
def test_a_matcher_missing_at_job_start_turns_fact_checks_off_for_every_worker(tmp_path, monkeypatch, capsys,
                                                                              fact_checks):
    # The matcher was pinned as None and each worker then loaded whatever "matcher" was current:
    # workers starting before and after a `train matcher` gave one output two ways of matching.
    monkeypatch.setattr(scoring_models, "DEFAULT_MODELS_DIR", tmp_path / "no-models")
    scorer = ModelScorer(_store(tmp_path, fact_checks), models_dir=MODELS)
    scorer.check_ready()
    assert scorer.fingerprint()["models"]["matcher"] is None
    warnings = capsys.readouterr().err.splitlines()
    if fact_checks:  # as `check` does, the job goes without; said once, where it starts
        assert len(warnings) == 1 and warnings[0].startswith("warning: scoring without fact-check matches: ")
        assert "claimsift train matcher" in warnings[0]
    else:  # no record to match: nothing lost, nothing to say
        assert warnings == []
    shipped = as_shipped(scorer)
    monkeypatch.setattr(scoring_models, "DEFAULT_MODELS_DIR", MODELS)  # a matcher appears meanwhile
    given = _recording_checker(monkeypatch)
    shipped.warm_up()
    assert given["fact_checks"] is False
    assert ModelScorer(scorer.store_dir, models_dir=MODELS).fingerprint()["models"]["matcher"] is not None


def test_a_matcher_found_at_job_start_is_the_one_every_worker_loads(tmp_path, monkeypatch):
    scorer = ModelScorer(_store(tmp_path, fact_checks=True), models_dir=MODELS)
    scorer.check_ready()
    pinned = scorer.fingerprint()["models"]["matcher"]
    assert pinned is not None and "@" in pinned
    given = _recording_checker(monkeypatch)
    as_shipped(scorer).warm_up()
    assert (given["fact_checks"], given["matcher_spec"]) == (True, pinned)


@pytest.mark.slow
def test_a_checkpoint_made_before_a_reindex_is_not_resumed(seed_store_copy, tmp_path, write_jsonl):
    source, out = write_jsonl(tmp_path / "posts.jsonl", POSTS), tmp_path / "out.jsonl"
    first = PinnedKeywordScorer(seed_store_copy, fact_checks=False)
    first.fail_on_chunk = 2
    with pytest.raises(RuntimeError, match="killed"):
        score_file(source, out, first, chunk_size=2, progress=False)
    before = first.fingerprint()["evidence_index"]
    assert before is not None and before == current_index_identity(seed_store_copy)
    update_index(seed_store_copy, rebuild=True)
    after = current_index_identity(seed_store_copy)
    assert after is not None and after != before
    with pytest.raises(UserError, match=r"differs from the checkpoint .*; what changed: scorer\.evidence_index;") as error:
        score_file(source, out, PinnedKeywordScorer(seed_store_copy, fact_checks=False), chunk_size=2,
                   progress=False, resume=True)
    assert before in str(error.value) and after in str(error.value)


@pytest.mark.slow
def test_a_shipped_scorer_refuses_an_index_rebuilt_after_it_was_pinned(seed_store_copy, monkeypatch):
    scorer = ModelScorer(seed_store_copy, fact_checks=False)
    scorer.check_ready()  # where the job starts, before the scorer is shipped
    pinned = scorer.fingerprint()["evidence_index"]
    assert load_index(seed_store_copy, identity=pinned).identity == pinned
    update_index(seed_store_copy, rebuild=True)  # a re-index during the run
    shipped = as_shipped(scorer)  # what a worker starting now receives
    assert shipped.fingerprint()["evidence_index"] == pinned
    given = _recording_checker(monkeypatch)
    shipped.warm_up()
    assert given["index_identity"] == pinned
    with pytest.raises(IndexChangedError, match=r"the evidence index changed since this job started \(from v1 .* to v2 "):
        load_index(seed_store_copy, identity=pinned)
    monkeypatch.undo()  # the real Checker: it refuses before its models load
    monkeypatch.setattr(scoring_models, "CheckworthyModel", _stub({}))
    worker = as_shipped(scorer)
    with pytest.raises(IndexChangedError, match="one output must not mix the two"):
        worker.warm_up()
