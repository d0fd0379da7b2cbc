"""Checkpoints for real: a scoring process killed with SIGKILL at arbitrary moments, resumed until
it finishes, must produce exactly the output of an uninterrupted run, with no row twice and
none missing. Plus the ways a checkpoint can be damaged or mismatched.
"""
from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from pipeline.core.errors import UserError
from pipeline.scoring import checkpoint as checkpoint_module
from pipeline.scoring.output import iter_output
from pipeline.scoring.scorer import score_file
from score_fakes import KeywordScorer

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
PYTHON = REPO / ".venv" / "bin" / "python"

CHILD = """
import sys
sys.path.insert(0, {tests!r})
from score_fakes import KeywordScorer
from pipeline.scoring.scorer import score_file
summary = score_file({source!r}, {out!r}, KeywordScorer(delay_per_post={delay}), chunk_size={chunk},
                     resume=True, progress=False)
print(summary.resumed_chunks, summary.read, summary.scored, summary.rejected)
"""


def make_posts(path: Path, n: int) -> Path:
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(n):
            if i % 37 == 5:
                handle.write('{"id": "broken\n')  # an unparseable line: must land in the rejected file
            elif i % 29 == 3:
                handle.write(json.dumps({"id": f"p{i}", "text": ""}) + "\n")
            else:
                text = f"Post {i}: NATO said {i % 11} things. Nice weather today. Poland spends {i % 5}% more."
                handle.write(json.dumps({"id": f"p{i}", "text": text}) + "\n")
    return path


def finished_chunks(out: Path) -> int:
    log = out.with_name(out.name + ".parts") / "done.jsonl"
    try:
        return sum(1 for line in log.read_text().splitlines() if line.endswith("}"))
    except OSError:
        return 0


@pytest.mark.slow
def test_kill_9_at_arbitrary_moments_then_resume_equals_an_uninterrupted_run(tmp_path):
    source = make_posts(tmp_path / "posts.jsonl", 400)
    chunk, delay = 20, 0.004
    reference = tmp_path / "reference.parquet"
    score_file(source, reference, KeywordScorer(), chunk_size=chunk, progress=False)

    out = tmp_path / "killed.parquet"
    script = CHILD.format(tests=str(TESTS), source=str(source), out=str(out), delay=delay, chunk=chunk)
    env = os.environ | {"PYTHONPATH": str(REPO)}
    kills_at = []
    # Kill when the checkpoint reaches these counts, at a moment that drifts through the chunk's
    # scoring and writing; the last kill lands during or just before the final assembly.
    for target, extra_wait in ((2, 0.0), (6, 0.013), (11, 0.041), (15, 0.07), (20, 0.0)):
        child = subprocess.Popen([str(PYTHON), "-c", script], cwd=REPO, env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while finished_chunks(out) < target and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(extra_wait)
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
            kills_at.append(finished_chunks(out))
        child.wait(timeout=30)
    print("killed at", kills_at)
    assert len(kills_at) >= 4, f"the child finished before it could be killed: {kills_at}"
    assert not out.exists() or kills_at[-1] == 20

    finish = subprocess.run([str(PYTHON), "-c", script], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=120)
    assert finish.returncode == 0, finish.stderr
    resumed, read, scored, rejected = map(int, finish.stdout.split())
    assert resumed >= 15 and read == 400 == scored + rejected

    expected = list(iter_output(reference))
    got = list(iter_output(out))
    assert got == expected
    lines = [row["line"] for row in got]
    assert len(lines) == len(set(lines)), "a row was written twice"
    rejected_lines = [json.loads(line)["line"]
                      for line in out.with_name(out.name + ".rejected.jsonl").read_text().splitlines()]
    assert sorted(lines + rejected_lines) == list(range(1, 401)), "a row is missing"
    assert (out.with_name(out.name + ".rejected.jsonl").read_bytes()
            == reference.with_name(reference.name + ".rejected.jsonl").read_bytes())
    assert not out.with_name(out.name + ".parts").exists()


def _partial_run(tmp_path: Path, monkeypatch, source: Path, out: Path, fail_at: int, chunk: int = 2) -> None:
    real_commit = checkpoint_module.Checkpoint.commit_chunk

    def failing(self, index, *args, **kwargs):
        if index == fail_at:
            raise OSError(errno.ENOSPC, "No space left on device", "x")
        return real_commit(self, index, *args, **kwargs)

    monkeypatch.setattr(checkpoint_module.Checkpoint, "commit_chunk", failing)
    with pytest.raises(UserError):
        score_file(source, out, KeywordScorer(), chunk_size=chunk, progress=False)
    monkeypatch.setattr(checkpoint_module.Checkpoint, "commit_chunk", real_commit)



def assert_same_as_an_uninterrupted_run(source: Path, out: Path, tmp_path: Path, chunk_size: int) -> None:
    reference = tmp_path / f"reference{out.suffix}"
    score_file(source, reference, KeywordScorer(), chunk_size=chunk_size, progress=False)
    assert out.read_bytes() == reference.read_bytes()


def test_a_torn_log_line_and_a_damaged_part_are_redone_on_resume(tmp_path, monkeypatch):
    source = make_posts(tmp_path / "posts.jsonl", 30)
    out = tmp_path / "out.jsonl"
    _partial_run(tmp_path, monkeypatch, source, out, fail_at=6, chunk=4)
    parts = out.with_name("out.jsonl.parts")
    with open(parts / "done.jsonl", "a") as log:
        log.write('{"index": 6, "part": "part-0000')  # a kill during the append
    damaged = parts / "part-000002.jsonl"
    damaged.write_bytes(damaged.read_bytes()[:-10])  # a part that no longer matches its record
    summary = score_file(source, out, KeywordScorer(), chunk_size=4, progress=False, resume=True)
    assert summary.resumed_chunks == 5 and summary.chunks == 8
    assert_same_as_an_uninterrupted_run(source, out, tmp_path, chunk_size=4)


def test_resume_refuses_a_checkpoint_made_for_another_job(tmp_path, monkeypatch):
    source = make_posts(tmp_path / "posts.jsonl", 20)
    out = tmp_path / "out.parquet"
    _partial_run(tmp_path, monkeypatch, source, out, fail_at=3)
    with pytest.raises(UserError, match=r"started with --batch-size 2, not 3 .* rerun with --resume and without "
                                        r"--batch-size, or delete"):
        score_file(source, out, KeywordScorer(), chunk_size=3, progress=False, resume=True)
    with open(source, "a") as handle:
        handle.write(json.dumps({"id": "new", "text": "A post added after the crash."}) + "\n")
    with pytest.raises(UserError, match=r"cannot resume .*: the input file changed since the checkpoint \(size/content\); "
                                        r"rerun with the same input and options, or delete"):
        score_file(source, out, KeywordScorer(), chunk_size=2, progress=False, resume=True)
    assert (out.with_name("out.parquet.parts") / "manifest.json").exists(), "a refusal never deletes the checkpoint"


FAKE_CLI = TESTS / "cli_fake_scorer.py"


def test_resume_without_batch_size_takes_the_checkpoints_and_refuses_another(tmp_path, run_cli):
    source = make_posts(tmp_path / "posts.jsonl", 30)
    out = tmp_path / "out.jsonl"
    command = ("score", source, "--store", tmp_path / "store", "--out", out, "--no-progress")
    killed = run_cli(*command, "--batch-size", "4", env={"FAKE_SCORER_INTERRUPT_AFTER": "2"}, script=FAKE_CLI)
    assert killed.returncode == 130 and finished_chunks(out) == 2

    other = run_cli(*command, "--resume", "--batch-size", "8", script=FAKE_CLI)
    assert other.returncode == 2 and other.stderr.strip().count("\n") == 0
    assert f"cannot resume {out}.parts: it was started with --batch-size 4, not 8" in other.stderr
    assert finished_chunks(out) == 2, "a refusal keeps the checkpoint"

    resumed = run_cli(*command, "--resume", "--json", script=FAKE_CLI)
    assert resumed.returncode == 0, resumed.stderr
    assert f"note: resuming with --batch-size 4, the one {out}.parts was started with" in resumed.stderr
    summary = json.loads(resumed.stdout)
    assert (summary["resumed_chunks"], summary["chunks"], summary["read"]) == (2, 8, 30)
    assert_same_as_an_uninterrupted_run(source, out, tmp_path, chunk_size=4)


def test_sigterm_stops_score_with_status_143_and_the_resume_hint(tmp_path, run_cli):
    # The review desk exits 0 on SIGTERM (its normal stop); score must still say it was terminated.
    source = make_posts(tmp_path / "posts.jsonl", 30)
    out = tmp_path / "out.jsonl"
    command = ("score", source, "--store", tmp_path / "store", "--out", out, "--no-progress", "--batch-size", "4")
    killed = run_cli(*command, env={"FAKE_SCORER_TERMINATE_AFTER": "2"}, script=FAKE_CLI)
    assert killed.returncode == 143, killed.stderr
    assert "Traceback" not in killed.stderr
    assert f"terminated; finished chunks are kept in {out}.parts: rerun with --resume" in killed.stderr
    assert finished_chunks(out) == 2


def test_a_plain_rerun_starts_over_a_run_stopped_before_any_chunk_finished_unless_one_runs(tmp_path, run_cli):
    import fcntl

    source = make_posts(tmp_path / "posts.jsonl", 10)
    out = tmp_path / "out.jsonl"
    parts = tmp_path / "out.jsonl.parts"
    command = ("score", source, "--store", tmp_path / "store", "--out", out, "--no-progress", "--batch-size", "4")
    killed = run_cli(*command, env={"FAKE_SCORER_INTERRUPT_AFTER": "0"}, script=FAKE_CLI)
    assert killed.returncode == 130 and (parts / "manifest.json").exists() and finished_chunks(out) == 0

    with open(tmp_path / ".out.jsonl.lock", "a") as running:  # as a run still writing the folder holds it
        fcntl.flock(running, fcntl.LOCK_EX | fcntl.LOCK_NB)
        refused = run_cli(*command, script=FAKE_CLI)
        assert refused.returncode == 2 and "another claimsift score is writing this output" in refused.stderr
        assert (parts / "manifest.json").exists(), "another run's folder is never removed"

    rerun = run_cli(*command, "--batch-size", "5", "--json", script=FAKE_CLI)  # options may change: nothing is lost
    assert rerun.returncode == 0, rerun.stderr
    assert f"note: {parts} holds a run that stopped before any chunk finished: starting over" in rerun.stderr
    assert json.loads(rerun.stdout)["read"] == 10 and not parts.exists()
    assert_same_as_an_uninterrupted_run(source, out, tmp_path, chunk_size=5)


def test_repeated_and_missing_ids_are_counted_over_the_whole_input_across_a_resume(tmp_path, monkeypatch,
                                                                                     write_jsonl):
    posts = [{"id": f"p{i}", "text": f"Post {i} says 3 things."} for i in range(1, 21)]
    posts[1]["id"] = "p1"  # both in a chunk the resume takes from the checkpoint
    posts[16]["id"] = "p1"  # one scored after the resume
    posts[17] = {"text": "No id 18."}
    source = write_jsonl(tmp_path / "posts.jsonl", posts)
    out = tmp_path / "out.jsonl"
    _partial_run(tmp_path, monkeypatch, source, out, fail_at=3, chunk=2)
    summary = score_file(source, out, KeywordScorer(), chunk_size=2, progress=False, resume=True)
    assert summary.resumed_chunks == 3
    assert (summary.repeated_ids, summary.missing_ids) == (2, 1)
    assert summary.first_repeated_id == {"line": 2, "post_id": "p1", "first_line": 1}
    assert json.loads((tmp_path / "out.jsonl.meta.json").read_text())["post_ids"]["repeated"] == 2

def test_resume_without_a_checkpoint_starts_fresh(tmp_path):
    source = make_posts(tmp_path / "posts.jsonl", 10)
    summary = score_file(source, tmp_path / "out.parquet", KeywordScorer(), chunk_size=4, progress=False, resume=True)
    assert (summary.resumed_chunks, summary.read) == (0, 10)


MEMORY_CHILD = """
import json, resource, sys
sys.path.insert(0, {tests!r})
from score_fakes import EmptyScorer
from pipeline.scoring.scorer import score_file
n = {n}
with open({source!r}, "w") as handle:
    for i in range(n):
        handle.write(json.dumps({{"id": i, "text": f"Post {{i}}: NATO members spent {{i % 7}}% more in {{2000 + i % 25}}. " * 3}}) + "\\n")
summary = score_file({source!r}, {out!r}, EmptyScorer(), chunk_size=256, progress=False)
assert summary.scored == n
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""


@pytest.mark.slow
def test_peak_memory_does_not_grow_with_the_input(tmp_path):
    """Streaming: 10x the posts, about the same peak RSS (the job's own machinery; the models
    add a constant)."""
    peaks = {}
    for n in (5_000, 50_000):
        script = MEMORY_CHILD.format(tests=str(TESTS), n=n, source=str(tmp_path / f"p{n}.jsonl"),
                                     out=str(tmp_path / f"o{n}.parquet"))
        result = subprocess.run([str(PYTHON), "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300,
                                env=os.environ | {"PYTHONPATH": str(REPO)})
        assert result.returncode == 0, result.stderr
        peaks[n] = int(result.stdout.split()[-1])
    print("peak RSS MB", peaks)
    assert peaks[50_000] <= peaks[5_000] + 25, peaks


@pytest.mark.slow
def test_cli_killed_with_the_real_models_resumes_to_the_uninterrupted_output(request, tmp_path):
    from pipeline.scoring.models import ModelScorer
    from score_fakes import real_models_missing

    missing = real_models_missing()
    if missing:
        pytest.skip(missing)
    seed_store = request.getfixturevalue("seed_store")
    sample = REPO / "corpus" / "sample_posts.jsonl"
    reference = tmp_path / "reference.jsonl"
    score_file(sample, reference, ModelScorer(seed_store), chunk_size=2, progress=False)

    out = tmp_path / "scores.jsonl"
    command = [str(REPO / ".venv" / "bin" / "claimsift"), "score", str(sample), "--store", str(seed_store),
               "--out", str(out), "--batch-size", "2", "--resume"]
    child = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while finished_chunks(out) < 3 and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert child.poll() is None, "the run finished before it could be killed"
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    killed_after = finished_chunks(out)
    assert 3 <= killed_after < 9 and not out.exists()

    finish = subprocess.run(command + ["--json"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert finish.returncode == 0, finish.stderr
    summary = json.loads(finish.stdout)
    assert summary["resumed_chunks"] == killed_after and summary["read"] == 17
    assert out.read_bytes() == reference.read_bytes()
    assert (tmp_path / "scores.jsonl.rejected.jsonl").read_bytes() == (tmp_path / "reference.jsonl.rejected.jsonl").read_bytes()
