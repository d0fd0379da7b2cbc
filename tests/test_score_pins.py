"""What batch scoring settles where the job starts besides the model versions: the fact-check
matcher (or fact-checks off), the build of the store's evidence index, the state of its documents and
fact-check records. A worker (a pickled scorer) reads exactly these, and ``--resume`` refuses a
checkpoint made with others."""
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
    with pytest.raises(UserError, match=r"the store .* changed since this run started \(evidence index: was ") as error:
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


# -- the store's documents and fact-check records ----------------------------------------------------
def _add_document(store: Path, text: str) -> None:
    """One document of one sentence, as an ingest writes it (no analyser loaded)."""
    import hashlib

    from pipeline.core.types import Document, Sentence
    from pipeline.corpus.nlp import AnalysedDocument
    from pipeline.corpus.store import Corpus

    doc_id = hashlib.sha256(text.encode()).hexdigest()[:16]
    with Corpus(store).batch() as batch:
        batch.add(AnalysedDocument(Document(doc_id, text, f"{doc_id}.txt"), (Sentence(doc_id, 0, 0, len(text), text),),
                                   (), ()), origin=f"{doc_id}.txt")


def _store_with_documents(tmp_path: Path) -> Path:
    store = tmp_path / "store"
    _add_document(store, "NATO has 32 members.")
    write_fact_checks([FactCheck(id="fc1", claim="NATO has 40 members.", rating="False", verdict="false")], store)
    return store


def _killed_run(tmp_path: Path, write_jsonl) -> tuple[Path, Path, Path]:
    """(store, posts, output) of a run killed at its second chunk against a store with one document
    and one fact-check record."""
    store = _store_with_documents(tmp_path)
    source, out = write_jsonl(tmp_path / "posts.jsonl", POSTS), tmp_path / "out.jsonl"
    first = PinnedKeywordScorer(store, models_dir=MODELS)
    first.fail_on_chunk = 2
    with pytest.raises(RuntimeError, match="killed"):
        score_file(source, out, first, chunk_size=1, progress=False)
    return store, source, out


@pytest.mark.parametrize("change", ["documents", "fact-check records"])
def test_a_checkpoint_is_not_resumed_once_the_store_was_reingested(tmp_path, write_jsonl, change):
    # The manifest pinned the models and the evidence index build but not the store's documents or
    # fact-check records: a re-ingest between a crash and its resume gave one output two corpora.
    from pipeline.scoring.output import read_score_provenance

    store = _store_with_documents(tmp_path)
    source, out = write_jsonl(tmp_path / "posts.jsonl", POSTS), tmp_path / "out.jsonl"

    def scorer(fail_on_chunk: int | None) -> PinnedKeywordScorer:
        job = PinnedKeywordScorer(store, models_dir=MODELS)
        job.fail_on_chunk = fail_on_chunk
        return job

    first = scorer(fail_on_chunk=2)
    with pytest.raises(RuntimeError, match="killed"):
        score_file(source, out, first, chunk_size=1, progress=False)
    pinned = first.fingerprint()
    assert pinned["documents"] == "1 documents, last row 1, sentence ids to 1"
    assert pinned["fact_check_records"] is not None and pinned["fact_check_records"].startswith("1 records, digest ")
    with pytest.raises(RuntimeError, match="killed"):  # the store unchanged: resumed (and killed again)
        score_file(source, out, scorer(fail_on_chunk=2), chunk_size=1, progress=False, resume=True)

    if change == "documents":
        _add_document(store, "Poland spends 4.12% of GDP on defence.")
    else:
        write_fact_checks([FactCheck(id="fc2", claim="Poland spends 1% on defence.", rating="False",
                                     verdict="false")], store)
    with pytest.raises(UserError) as refused:
        score_file(source, out, scorer(fail_on_chunk=None), chunk_size=1, progress=False, resume=True)
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith(f"cannot resume {tmp_path / 'out.jsonl.parts'}: the store {store.resolve()} changed "
                              f"since this run started ({change}: was ")
    if change == "documents":
        assert "(documents: was 1 documents, last row 1, sentence ids to 1, now 2 documents, last row 2, " \
               "sentence ids to 2)" in message
    else:
        assert "1 records, digest" in message and "now 2 records, digest" in message and "documents:" not in message
    assert message.endswith(f"or delete {tmp_path / 'out.jsonl.parts'} to start over")

    # Started over, the output records the store it was scored against.
    import shutil

    shutil.rmtree(tmp_path / "out.jsonl.parts")
    now = scorer(fail_on_chunk=None)
    score_file(source, out, now, chunk_size=1, progress=False)
    provenance = read_score_provenance(out)
    assert provenance is not None
    assert provenance["store"] == {"path": str(store.resolve()), "evidence_index": None,
                                   "documents": now.fingerprint()["documents"],
                                   "fact_check_records": now.fingerprint()["fact_check_records"]}
    assert provenance["store"]["documents"] != pinned["documents"] or change != "documents"


def test_a_checkpoint_of_an_older_claimsift_is_resumed_with_a_warning_and_records_the_store_unknown(
        tmp_path, write_jsonl, capsys):
    # Chosen: resumed, as before this pin existed (its evidence index build is still checked), saying
    # that the documents and fact-check records could not be checked; the output records them as null.
    import json

    from pipeline.scoring.output import read_score_provenance

    store, source, out = _killed_run(tmp_path, write_jsonl)
    manifest_path = tmp_path / "out.jsonl.parts" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    for key in ("documents", "fact_check_records"):  # as an older claimsift wrote it
        del manifest["config"]["scorer"][key]
    manifest_path.write_text(json.dumps(manifest))
    capsys.readouterr()
    summary = score_file(source, out, PinnedKeywordScorer(store, models_dir=MODELS), chunk_size=1,
                         progress=False, resume=True)
    assert summary.resumed_chunks == 1 and summary.scored == len(POSTS)
    warnings = capsys.readouterr().err.splitlines()
    assert warnings == [f"warning: {tmp_path / 'out.jsonl.parts'} was started by an older claimsift, which did not "
                        f"record the documents and fact-check records of {store.resolve()}: resuming without "
                        "checking that they are unchanged"]
    provenance = read_score_provenance(out)
    assert provenance is not None
    assert (provenance["store"]["documents"], provenance["store"]["fact_check_records"]) == (None, None)


def test_the_documents_of_a_store_in_a_folder_named_with_uri_characters_are_read(tmp_path):
    # The read-only URI was the path pasted in: `#` cut it short, so the store read as "0 documents"
    # whatever it held (and an empty file was created where the cut path pointed).
    # The fact-check records (load_fact_checks, fact_checks_fingerprint) were read the same way.
    from pipeline.corpus.factchecks import fact_checks_fingerprint, load_fact_checks
    from pipeline.corpus.store import documents_identity

    parent = tmp_path / "runs 50%"
    store = parent / "store #2"
    _add_document(store, "NATO has 32 members.")
    write_fact_checks([FactCheck(id="fc1", claim="NATO has 40 members.", rating="False", verdict="false")], store)
    before = sorted(p.name for p in parent.iterdir())
    assert documents_identity(store) == "1 documents, last row 1, sentence ids to 1"
    assert fact_checks_fingerprint(store)[0] == 1
    assert [record.id for record in load_fact_checks(store)] == ["fc1"]
    assert sorted(p.name for p in parent.iterdir()) == before == ["store #2"]


def test_a_store_that_cannot_be_read_at_resume_is_named_unreadable_not_none(tmp_path, write_jsonl, monkeypatch):
    # documents_identity gives None for a database it cannot read; the refusal said "now None", which
    # reads like an empty store.
    store, source, out = _killed_run(tmp_path, write_jsonl)
    monkeypatch.setattr(scoring_models, "documents_identity", lambda store_dir: None)
    with pytest.raises(UserError) as refused:
        score_file(source, out, PinnedKeywordScorer(store, models_dir=MODELS), chunk_size=1, progress=False,
                   resume=True)
    assert ("(documents: was 1 documents, last row 1, sentence ids to 1, now unreadable (the store's database "
            "could not be read))") in str(refused.value)


def test_a_store_reingested_during_a_run_stops_the_next_chunk_in_one_line(tmp_path):
    # Workers pinned the documents where the job started but never looked again: chunks scored after
    # a re-ingest read another corpus (only a resume compared the two).
    store = _store_with_documents(tmp_path)
    scorer = ModelScorer(store, models_dir=MODELS)
    scorer.fingerprint()  # what a job does where it starts: pins the documents
    worker = as_shipped(scorer)
    _add_document(store, "Poland spends 4.12% of GDP on defence.")
    with pytest.raises(UserError) as refused:
        worker.score_posts(["NATO has 32 members."])  # refused before any model loads
    message = str(refused.value)
    assert "\n" not in message and worker._models is None
    assert message.startswith(f"the store {store.resolve()} changed while this run was scoring (documents: was "
                              "1 documents, last row 1, sentence ids to 1, now 2 documents, last row 2, sentence "
                              "ids to 2)")
    # A scorer used on its own pins nothing, so there is nothing to compare.
    ModelScorer(store, models_dir=MODELS).refuse_a_changed_store()
