"""A scoring output records what produced it: the model versions pinned at job start, the store and
its evidence index build, the scorer's settings and the input (Parquet: schema metadata; JSONL: the
``OUT.meta.json`` sidecar), since the checkpoint manifest that named them is removed once the output
is complete. The review desk's labels then name the models that scored the file, not the ones a
default run would use today."""
from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from starlette.testclient import TestClient

import pipeline
from pipeline.core.errors import UserError
from pipeline.registry.registry import Registry
from pipeline.review.app import ReviewConfig, create_app
from pipeline.review.labels import LabelStore
from pipeline.scoring.output import iter_output, read_score_provenance
from pipeline.scoring.scorer import score_file
from score_fakes import KeywordScorer, PinnedKeywordScorer

REPO = Path(__file__).resolve().parent.parent
POSTS = [{"id": f"p{i}", "text": text} for i, text in enumerate(
    ["NATO has 32 members. Lovely day.", "Good morning!", "Poland spends 4.12% of GDP on defence.",
     "Rutte said he would expel the US.", "No numbers here at all"])]


def _cards(tmp_path: Path) -> Path:
    """The shipped registry's cards and CURRENT files only: enough to pin, nothing loads."""
    models = tmp_path / "models"
    for name in ("checkworthy", "stance", "stance-embed", "verdict"):
        shutil.copytree(REPO / "models" / name, models / name, ignore=lambda folder, files: [
            f for f in files if (Path(folder) / f).is_file() and f not in ("card.json", "CURRENT", "HISTORY.jsonl")])
    return models


def _store(tmp_path: Path) -> Path:
    from pipeline.corpus.store import DB_NAME

    store = tmp_path / "store"
    store.mkdir()
    (store / DB_NAME).write_bytes(b"")  # only its presence matters before models load
    return store


def _scorer(tmp_path: Path, fail_on_chunk: int | None = None) -> PinnedKeywordScorer:
    scorer = PinnedKeywordScorer(tmp_path / "store", models_dir=tmp_path / "models", fact_checks=False,
                                 checkworthy_domain="post")
    scorer.fail_on_chunk = fail_on_chunk
    return scorer


def _without_created(provenance: dict | None) -> dict:
    assert provenance is not None
    return {k: v for k, v in provenance.items() if k != "created"}


@pytest.mark.parametrize("name", ["scores.parquet", "scores.jsonl"])
def test_the_output_names_the_pinned_models_store_index_and_settings_after_the_run(tmp_path, write_jsonl, name):
    models, store = _cards(tmp_path), _store(tmp_path)
    source, out = write_jsonl(tmp_path / "posts.jsonl", POSTS), tmp_path / name
    scorer = _scorer(tmp_path)
    score_file(source, out, scorer, chunk_size=2, progress=False)
    assert not out.with_name(out.name + ".parts").exists()  # the manifest is gone: the output must say it
    fingerprint = scorer.fingerprint()
    registry = Registry(models)
    verdict = f"verdict@{registry.current_version('verdict')}"
    assert fingerprint["models"]["verdict"] == verdict and fingerprint["models"]["checkworthy"].startswith("checkworthy@")

    provenance = pipeline.read_score_provenance(out)  # the notebook API's name for it
    assert provenance is not None and pipeline.read_score_provenance is read_score_provenance
    assert provenance["models"] == fingerprint["models"]  # by role: checkworthy, stance, verdict, voting_rules
    assert provenance["store"] == {"path": str(store.resolve()), "evidence_index": fingerprint["evidence_index"],
                                   "documents": fingerprint["documents"], "fact_check_records": None}
    assert provenance["scorer"]["checkworthy_domain"] == "post"
    assert provenance["scorer"]["stance_backend"] == fingerprint["stance_backend"] != "auto"
    assert provenance["input"]["path"] == str(source.resolve()) and provenance["input"]["bytes"] == source.stat().st_size
    assert provenance["options"]["chunk_size"] == 2
    assert provenance["claimsift_version"] == pipeline.__version__ and re.match(r"\d{4}-\d\d-\d\dT", provenance["created"])

    # Where it is: one key of the Parquet schema's metadata; the JSONL sidecar, the same JSON. Each
    # also names the rows it was written with: their count and a SHA-256 of the data holding them.
    if out.suffix == ".parquet":
        assert json.loads(pq.read_schema(out).metadata[b"claimsift"]) == provenance | {"output_rows": len(POSTS)}
        digest = pq.read_metadata(out).metadata[b"claimsift.output_sha256"].decode()
        data = out.read_bytes()
        assert digest == hashlib.sha256(data[:len(data) - 8 - int.from_bytes(data[-8:-4], "little")]).hexdigest()
        assert not (tmp_path / "scores.parquet.meta.json").exists()
    else:
        sidecar = json.loads((tmp_path / "scores.jsonl.meta.json").read_text())
        assert sidecar == provenance | {"output_bytes": out.stat().st_size, "output_rows": len(POSTS),
                                        "output_sha256": hashlib.sha256(out.read_bytes()).hexdigest()}
        assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert len(list(iter_output(out))) == len(POSTS)  # the rows are untouched


@pytest.mark.parametrize("name", ["scores.parquet", "scores.jsonl"])
def test_a_resumed_run_records_what_an_uninterrupted_run_records(tmp_path, write_jsonl, name):
    _cards(tmp_path), _store(tmp_path)
    source = write_jsonl(tmp_path / "posts.jsonl", POSTS)
    reference, out = tmp_path / f"reference-{name}", tmp_path / name
    score_file(source, reference, _scorer(tmp_path), chunk_size=2, progress=False)
    with pytest.raises(RuntimeError, match="killed"):
        score_file(source, out, _scorer(tmp_path, fail_on_chunk=2), chunk_size=2, progress=False)
    assert not out.exists()
    summary = score_file(source, out, _scorer(tmp_path), chunk_size=2, progress=False, resume=True)
    assert summary.resumed_chunks == 1
    assert _without_created(read_score_provenance(out)) == _without_created(read_score_provenance(reference))
    assert read_score_provenance(out)["models"]["verdict"].startswith("verdict@")
    # The rows it names, count and digest, are those of an uninterrupted run too.
    assert _recorded(out) == _recorded(reference) and _recorded(out)["output_rows"] == len(POSTS)


def _recorded(out: Path) -> dict:
    """The record as written, ``created`` aside: with the rows it names (the Parquet digest is a key of its own)."""
    if out.suffix == ".parquet":
        metadata = pq.read_metadata(out).metadata
        raw = json.loads(metadata[b"claimsift"]) | {"output_sha256": metadata[b"claimsift.output_sha256"].decode()}
    else:
        raw = json.loads(out.with_name(out.name + ".meta.json").read_text())
    return _without_created(raw)


def test_a_jsonl_without_a_matching_sidecar_records_nothing(tmp_path, write_jsonl):
    source, out = write_jsonl(tmp_path / "posts.jsonl", POSTS), tmp_path / "scores.jsonl"
    score_file(source, out, KeywordScorer(), progress=False)
    assert read_score_provenance(out) is not None
    with open(out, "a", encoding="utf-8") as handle:  # rewritten by something else since
        handle.write(json.dumps({"post_id": "x", "claims": []}) + "\n")
    assert read_score_provenance(out) is None
    (tmp_path / "scores.jsonl.meta.json").unlink()  # a file scored before outputs recorded their models
    assert read_score_provenance(out) is None
    # A new run over the same output never leaves the old run's sidecar beside it.
    score_file(source, out, KeywordScorer(), progress=False, chunk_size=3)
    assert read_score_provenance(out)["options"]["chunk_size"] == 3
    # A record in a format this version does not know is refused, naming the file, not misread.
    sidecar = tmp_path / "scores.jsonl.meta.json"
    sidecar.write_text(json.dumps(json.loads(sidecar.read_text()) | {"format": 99}))
    with pytest.raises(UserError, match=r"scores\.jsonl\.meta\.json: .* format 99"):
        read_score_provenance(out)


def test_a_jsonl_edited_to_the_same_size_records_nothing(tmp_path, write_jsonl):
    source, out = write_jsonl(tmp_path / "posts.jsonl", POSTS), tmp_path / "scores.jsonl"
    score_file(source, out, KeywordScorer(), progress=False)
    assert read_score_provenance(out) is not None
    original = out.read_bytes()
    edited = original.replace(b'"post_id": "p0"', b'"post_id": "p9"', 1)
    assert edited != original and len(edited) == len(original)
    out.write_bytes(edited)
    assert read_score_provenance(out) is None
    out.write_bytes(original)  # the very rows it was written with: believed again
    assert read_score_provenance(out) is not None
    # A sidecar from before sidecars named their rows: read as then, with the size as its only check.
    sidecar = tmp_path / "scores.jsonl.meta.json"
    older = {k: v for k, v in json.loads(sidecar.read_text()).items() if k not in ("output_rows", "output_sha256")}
    sidecar.write_text(json.dumps(older))
    out.write_bytes(edited)
    assert read_score_provenance(out) is not None
    out.write_bytes(edited + b"\n")
    assert read_score_provenance(out) is None


def test_a_parquet_rewritten_with_its_schema_metadata_kept_records_nothing(tmp_path, write_jsonl):
    source, out = write_jsonl(tmp_path / "posts.jsonl", POSTS), tmp_path / "scores.parquet"
    score_file(source, out, KeywordScorer(), progress=False)
    assert read_score_provenance(out) is not None
    table = pq.read_table(out)
    assert b"claimsift" in table.schema.metadata  # what any reader sees, and writes back if it keeps it

    # pandas: rows filtered, a value edited, written back with the schema (and its metadata) kept.
    frame = table.to_pandas()
    frame = frame[frame["post_id"] != "p1"].reset_index(drop=True)
    frame.loc[0, "checkworthiness"] = 0.5
    filtered = tmp_path / "filtered.parquet"
    pq.write_table(pa.Table.from_pandas(frame, schema=table.schema, preserve_index=False), filtered)
    assert b"claimsift" in pq.read_schema(filtered).metadata
    assert read_score_provenance(filtered) is None

    # The same number of rows, one value edited, written by pyarrow with the metadata kept.
    edited = tmp_path / "edited.parquet"
    scores = pa.array([0.99] + table.column("checkworthiness").to_pylist()[1:], pa.float64())
    pq.write_table(table.set_column(table.schema.get_field_index("checkworthiness"), table.schema.field(
        "checkworthiness"), scores), edited)
    assert pq.read_metadata(edited).num_rows == len(POSTS) and b"claimsift" in pq.read_schema(edited).metadata
    assert read_score_provenance(edited) is None

    # Even with the file's own digest key copied over too, the digest is of other bytes.
    copied = tmp_path / "copied.parquet"
    with pq.ParquetWriter(copied, table.schema) as writer:
        writer.write_table(table.set_column(table.schema.get_field_index("checkworthiness"), table.schema.field(
            "checkworthiness"), scores))
        writer.add_key_value_metadata({"claimsift.output_sha256": pq.read_metadata(out).metadata[
            b"claimsift.output_sha256"].decode()})
    assert read_score_provenance(copied) is None

    # A record from before records named their rows: read as then (the schema metadata was its only check).
    record = json.loads(table.schema.metadata[b"claimsift"])
    del record["output_rows"]
    older = tmp_path / "older.parquet"
    pq.write_table(table.replace_schema_metadata({"claimsift": json.dumps(record)}), older)
    assert read_score_provenance(older) == read_score_provenance(out)


@pytest.mark.parametrize("name", ["scores.jsonl", "scores.parquet"])
def test_the_review_desk_records_the_models_that_scored_the_file(tmp_path, write_jsonl, name, caplog):
    models, _ = _cards(tmp_path), _store(tmp_path)
    out = tmp_path / "scores" / name
    scorer = _scorer(tmp_path)
    score_file(write_jsonl(tmp_path / "posts.jsonl", POSTS), out, scorer, chunk_size=2, progress=False)
    pinned = scorer.fingerprint()["models"]
    # Promotions after the run: a default run now would use other models than the file's.
    registry = Registry(models)
    (models / "checkworthy" / "CURRENT").write_text(next(
        v for v in registry.versions("checkworthy") if f"checkworthy@{v}" != pinned["checkworthy"]) + "\n")
    (models / "verdict" / "CURRENT").write_text(next(
        v for v in registry.versions("verdict") if f"verdict@{v}" != pinned["verdict"]) + "\n")

    def label_first_claim(scores: Path) -> dict:
        labels = tmp_path / f"labels-{scores.parent.name}"
        client = TestClient(create_app(ReviewConfig(store=tmp_path / "no-store", scores=scores, labels_dir=labels,
                                                    reviewer="ana", models_dir=models)),
                            base_url="http://127.0.0.1:8000")
        page = client.get("/claim/1/0")
        form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
        assert form.get("csrf") and form.get("claim_hash")
        response = client.post("/claim/1/0/label", data={**form, "verdict": "REFUTED", "checkworthy": "1"},
                               follow_redirects=False)
        assert response.status_code == 303
        records = LabelStore(labels).records()
        assert {r.task for r in records} == {"verdict", "checkworthy"}
        assert all(r.models == records[0].models for r in records)
        return records[0].models

    recorded = label_first_claim(out)
    assert recorded == pinned | {"source": "scores file"}
    assert recorded["checkworthy"] != f"checkworthy@{Registry(models).current_version('checkworthy')}"

    # A file that records nothing (scored before outputs did): today's resolution, said to be so.
    # A file edited since it was scored (its record kept, beside it or in its schema metadata): the
    # record no longer describes its rows, so the same.
    older, edited = tmp_path / "older" / name, tmp_path / "edited" / name
    older.parent.mkdir(), edited.parent.mkdir()
    if name.endswith(".parquet"):
        table = pq.read_table(out)
        pq.write_table(table.replace_schema_metadata(None), older)
        scores = pa.array([0.99] + table.column("checkworthiness").to_pylist()[1:], pa.float64())
        pq.write_table(table.set_column(table.schema.get_field_index("checkworthiness"),
                                        table.schema.field("checkworthiness"), scores), edited)
    else:
        shutil.copy(out, older)
        edited.write_bytes(out.read_bytes().replace(b'"text": "NATO', b'"text": "OTAN', 1))
        shutil.copy(out.with_name(name + ".meta.json"), edited.with_name(name + ".meta.json"))
    for changed, source in ((older, "registry current at labelling"),
                            (edited, "registry current at labelling (the scores file's record does not match its rows)")):
        assert read_score_provenance(changed) is None
        with caplog.at_level(logging.WARNING, logger="claimsift.review"):
            caplog.clear()
            fallback = label_first_claim(changed)
        warned = [r.getMessage() for r in caplog.records if "its rows changed since" in r.getMessage()]
        assert warned == ([f"review desk: {changed} records the models that scored it, but its rows changed since "
                           "(edited or rewritten): labels name the registry's current versions instead"]
                          if changed is edited else [])
        assert fallback["source"] == source
        assert fallback["checkworthy"] == f"checkworthy@{Registry(models).current_version('checkworthy')}"
        assert fallback["verdict"] == f"verdict@{Registry(models).current_version('verdict')}" != pinned["verdict"]
