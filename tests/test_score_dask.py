"""The Dask engine: the same job on a 2-worker LocalCluster gives the local engine's output,
with the scorer loaded once per worker, not once per chunk."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.scoring.output import iter_output, read_score_provenance
from pipeline.scoring.scorer import score_file
from score_fakes import KeywordScorer

TESTS = Path(__file__).resolve().parent
pytest.importorskip("distributed")


def make_posts(path: Path, n: int) -> Path:
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(n):
            if i % 13 == 4:
                handle.write("{not json\n")
            else:
                handle.write(json.dumps({"id": i, "text": f"Post {i}. NATO spends {i}% more. Hi there."}) + "\n")
    return path


@pytest.fixture()
def worker_path(monkeypatch):
    # Worker processes must import tests/score_fakes.py to unpickle the test scorer.
    monkeypatch.setenv("PYTHONPATH", str(TESTS))


@pytest.mark.slow
def test_dask_local_cluster_matches_local_engine_and_warms_up_once_per_worker(tmp_path, worker_path):
    source = make_posts(tmp_path / "posts.jsonl", 120)
    local = tmp_path / "local.parquet"
    score_file(source, local, KeywordScorer(), chunk_size=10, progress=False)

    warm_log = tmp_path / "warm_ups.log"
    distributed_out = tmp_path / "dask.parquet"
    summary = score_file(source, distributed_out, KeywordScorer(warm_up_log=str(warm_log)), chunk_size=10,
                         engine="dask", workers=2, progress=False)
    assert (summary.engine, summary.chunks, summary.read) == ("dask", 12, 120)
    assert summary.read == summary.scored + summary.rejected and summary.rejected == 9
    assert list(iter_output(distributed_out)) == list(iter_output(local))
    assert (tmp_path / "dask.parquet.rejected.jsonl").read_bytes() == (tmp_path / "local.parquet.rejected.jsonl").read_bytes()
    # What produced the output is recorded by the assembly both engines share (``created`` aside).
    recorded = [{k: v for k, v in (read_score_provenance(path) or {}).items() if k != "created"}
                for path in (distributed_out, local)]
    assert recorded[0] == recorded[1] and recorded[0]["scorer"] == KeywordScorer().fingerprint()
    # 12 chunks over 2 workers: the scorer warmed up exactly once in each worker process.
    pids = warm_log.read_text().split()
    assert len(pids) == 2 and len(set(pids)) == 2


@pytest.mark.slow
def test_dask_on_a_given_scheduler_resumes_a_local_checkpoint(tmp_path, worker_path):
    from distributed import LocalCluster

    source = make_posts(tmp_path / "posts.jsonl", 60)
    reference = tmp_path / "ref.jsonl"
    score_file(source, reference, KeywordScorer(), chunk_size=10, progress=False)

    # A run that stopped after 3 chunks (its parts are what a killed run leaves), finished on Dask:
    # the engines share chunking and part files, so either can resume the other.
    out = tmp_path / "out.jsonl"
    from pipeline.scoring import checkpoint as checkpoint_module

    real_commit = checkpoint_module.Checkpoint.commit_chunk

    def stop_at_3(self, index, *args, **kwargs):
        if index == 3:
            raise KeyboardInterrupt
        return real_commit(self, index, *args, **kwargs)

    checkpoint_module.Checkpoint.commit_chunk = stop_at_3
    try:
        with pytest.raises(KeyboardInterrupt):
            score_file(source, out, KeywordScorer(), chunk_size=10, progress=False)
    finally:
        checkpoint_module.Checkpoint.commit_chunk = real_commit

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=40) as cluster:
        summary = score_file(source, out, KeywordScorer(), chunk_size=10, engine="dask",
                             scheduler=cluster.scheduler_address, resume=True, progress=False)
    assert (summary.resumed_chunks, summary.chunks, summary.read) == (3, 6, 60)
    assert out.read_bytes() == reference.read_bytes()


@pytest.mark.slow
def test_dask_with_the_real_models_equals_the_local_engine(request, tmp_path):
    from pipeline.scoring.models import ModelScorer
    from score_fakes import real_models_missing

    missing = real_models_missing()
    if missing:
        pytest.skip(missing)
    seed_store = request.getfixturevalue("seed_store")
    sample = TESTS.parent / "corpus" / "sample_posts.jsonl"
    local, distributed_out = tmp_path / "local.parquet", tmp_path / "dask.parquet"
    score_file(sample, local, ModelScorer(seed_store), chunk_size=4, progress=False)
    summary = score_file(sample, distributed_out, ModelScorer(seed_store), chunk_size=4, engine="dask", workers=2,
                         progress=False)
    assert (summary.read, summary.scored, summary.chunks) == (17, 14, 5)
    assert list(iter_output(distributed_out)) == list(iter_output(local))
