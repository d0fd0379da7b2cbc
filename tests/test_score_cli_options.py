"""``claimsift score``'s options as a user meets them: values it cannot run with refused in one line
before anything is read, a Dask scheduler it cannot reach, notes when an output is replaced or there
is nothing to resume, resume refusals said in words, flags shown as flags in ``--help``, and a
``--table`` that lists the claims found.

The command line runs with the keyword scorer of tests/score_fakes.py (tests/cli_fake_scorer.py):
no model loads.
"""
from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.core.errors import UserError
from pipeline.scoring import checkpoint as checkpoint_module
from pipeline.scoring import dask_engine
from pipeline.scoring.scorer import score_file
from score_fakes import POSTS, KeywordScorer

TESTS = Path(__file__).resolve().parent
FAKE_CLI = TESTS / "cli_fake_scorer.py"

def one_line(result: subprocess.CompletedProcess) -> str:
    """The error a person sees: one line on stderr, no traceback."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def score(tmp_path: Path, *options: object, env: dict | None = None,
          timeout: float = 120) -> subprocess.CompletedProcess:
    """``claimsift score`` (its fake-scorer stand-in) in a process group of its own, killed whole when it
    outlives ``timeout``: a hung Dask LocalCluster keeps processes that hold its output pipes open."""
    posts = tmp_path / "posts.jsonl"
    if not posts.exists():
        posts.write_text("".join(json.dumps(p) + "\n" for p in POSTS), encoding="utf-8")
    args = ["score", posts, "--store", tmp_path / "store", "--out", tmp_path / "out.jsonl", "--no-progress", *options]
    child = subprocess.Popen([sys.executable, str(FAKE_CLI), *map(str, args)], cwd=TESTS.parent, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ | (env or {}),
                             start_new_session=True)
    try:
        stdout, stderr = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.communicate()
        pytest.fail(f"claimsift score {' '.join(map(str, options))} still ran after {timeout} s")
    return subprocess.CompletedProcess(child.args, child.returncode, stdout, stderr)


# -- 1. values the job cannot run with -------------------------------------------------------------
@pytest.mark.parametrize("options, refusal", [
    (("--workers", "0"), "--workers must be at least 1"),
    # A LocalCluster of no worker waited for one forever, with no output, leaving OUT.parts behind.
    (("--engine", "dask", "--workers", "0"), "--workers must be at least 1"),
    (("--max-chars", "-1"), "--max-chars must be at least 1"),  # rejected every row, exit 0
    (("--max-chars", "0"), "--max-chars must be at least 1"),
])
def test_workers_and_max_chars_below_one_are_refused_in_one_line(tmp_path, options, refusal):
    result = score(tmp_path, *options, timeout=60)
    assert result.returncode == 2 and one_line(result) == f"error: {refusal}"
    assert not (tmp_path / "out.jsonl").exists() and not (tmp_path / "out.jsonl.parts").exists()


def test_the_python_api_refuses_them_too(tmp_path, write_jsonl):
    source = write_jsonl(tmp_path / "posts.jsonl", POSTS)
    with pytest.raises(UserError, match="--workers must be at least 1"):
        score_file(source, tmp_path / "out.jsonl", KeywordScorer(), workers=0, progress=False)  # whatever the engine
    with pytest.raises(UserError, match="--max-chars must be at least 1"):
        score_file(source, tmp_path / "out.jsonl", KeywordScorer(), max_chars=-1, progress=False)
    assert not (tmp_path / "out.jsonl.parts").exists()


def test_an_unknown_encoder_backend_is_refused_before_anything_runs(tmp_path):
    result = score(tmp_path, "--encoder-backend", "foo")
    assert result.returncode == 2
    assert one_line(result) == "error: unknown --encoder-backend 'foo'; use onnx or torch"
    assert not (tmp_path / "out.jsonl").exists()


# -- 2. a scheduler that cannot be reached ---------------------------------------------------------
def test_an_unreachable_scheduler_is_one_line_not_a_traceback(tmp_path):
    # dask reads its config from the environment: a 1 s connect timeout instead of 30 s.
    result = score(tmp_path, "--scheduler", "tcp://127.0.0.1:1",
                   env={"DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "1s"}, timeout=60)
    assert result.returncode == 2
    line = one_line(result)
    assert line.startswith("error: cannot reach the Dask scheduler tcp://127.0.0.1:1: timed out"), line
    assert not (tmp_path / "out.jsonl").exists()


def test_a_connection_failure_where_the_client_is_made_is_a_user_error(tmp_path, monkeypatch, write_jsonl):
    def refused(address, *args, **kwargs):
        raise OSError(f"Timed out trying to connect to {address} after 30 s")

    monkeypatch.setattr(dask_engine, "Client", refused)
    source = write_jsonl(tmp_path / "posts.jsonl", POSTS)
    with pytest.raises(UserError, match=r"^cannot reach the Dask scheduler tcp://10\.0\.0\.9:8786: timed out trying "
                                        r"to connect after 30 s"):
        score_file(source, tmp_path / "out.jsonl", KeywordScorer(), scheduler="tcp://10.0.0.9:8786", engine="dask",
                   progress=False)


# -- 4. replacing a finished output, resuming nothing ---------------------------------------------
@pytest.mark.parametrize("name", ["out.jsonl", "out.parquet"])
def test_a_rerun_onto_a_finished_output_says_it_replaces_it(tmp_path, capsys, write_jsonl, name):
    out = tmp_path / name
    score_file(write_jsonl(tmp_path / "posts.jsonl", POSTS), out, KeywordScorer(), progress=False)
    assert "note:" not in capsys.readouterr().err
    fewer = write_jsonl(tmp_path / "fewer.jsonl", POSTS[:2])
    summary = score_file(fewer, out, KeywordScorer(), progress=False)  # replaced all the same
    assert summary.scored == 2
    assert f"note: replacing {out} (a finished run of 5 rows)" in capsys.readouterr().err


def test_a_file_that_is_no_finished_run_is_replaced_without_a_count(tmp_path, capsys, write_jsonl):
    out = tmp_path / "out.jsonl"
    out.write_text("something else\n")
    score_file(write_jsonl(tmp_path / "posts.jsonl", POSTS), out, KeywordScorer(), progress=False)
    err = capsys.readouterr().err
    assert f"note: replacing {out}\n" in err and "finished run" not in err


def test_the_cli_says_so_and_exits_as_before(tmp_path):
    first = score(tmp_path)
    assert first.returncode == 0 and "note:" not in first.stderr, first.stderr
    again = score(tmp_path, "--resume")
    assert again.returncode == 0, again.stderr
    assert f"note: nothing to resume at {tmp_path / 'out.jsonl'}.parts: scoring from the start" in again.stderr
    assert f"note: replacing {tmp_path / 'out.jsonl'} (a finished run of 5 rows)" in again.stderr


# -- 5. resume refusals in words --------------------------------------------------------------------
def _partial_run(tmp_path: Path, monkeypatch, source: Path, out: Path, scorer=None) -> None:
    real_commit = checkpoint_module.Checkpoint.commit_chunk

    def failing(self, index, *args, **kwargs):
        if index == 1:
            raise OSError(errno.ENOSPC, "No space left on device", "x")
        return real_commit(self, index, *args, **kwargs)

    monkeypatch.setattr(checkpoint_module.Checkpoint, "commit_chunk", failing)
    with pytest.raises(UserError):
        score_file(source, out, scorer or KeywordScorer(), chunk_size=2, progress=False)
    monkeypatch.setattr(checkpoint_module.Checkpoint, "commit_chunk", real_commit)


def _refusal(source: Path, out: Path, scorer=None, **options) -> str:
    with pytest.raises(UserError) as refused:
        score_file(source, out, scorer or KeywordScorer(), chunk_size=2, progress=False, resume=True, **options)
    message = str(refused.value)
    parts = f"{out}.parts"
    assert message.startswith(f"cannot resume {parts}: ")
    assert message.endswith(f"; rerun with the same input and options, or delete {parts} to start over")
    return message[len(f"cannot resume {parts}: "):-len(f"; rerun with the same input and options, or delete "
                                                          f"{parts} to start over")]


def test_an_input_changed_since_the_checkpoint_is_said_in_words(tmp_path, monkeypatch, write_jsonl):
    source, out = write_jsonl(tmp_path / "posts.jsonl", POSTS), tmp_path / "out.jsonl"
    _partial_run(tmp_path, monkeypatch, source, out)
    write_jsonl(source, POSTS + [{"id": "new", "text": "A post added after the crash."}])
    assert _refusal(source, out) == "the input file changed since the checkpoint (size/content)"


def test_a_checkpoint_whose_scorer_recorded_other_settings_is_of_another_claimsift(tmp_path, monkeypatch,
                                                                                   write_jsonl):
    # A setting this claimsift records and the checkpoint's did not (or the reverse): "rerun with the same
    # options" could never be followed.
    source, out = write_jsonl(tmp_path / "posts.jsonl", POSTS), tmp_path / "out.jsonl"
    _partial_run(tmp_path, monkeypatch, source, out, _StanceScorer("stance@v1"))
    manifest_path = tmp_path / "out.jsonl.parts" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["config"]["scorer"]["models"]["rule_version"] = 1
    manifest_path.write_text(json.dumps(manifest))
    assert _refusal(source, out, _StanceScorer("stance@v1")) == ("the checkpoint was written by another version of "
                                                                 "claimsift")


@pytest.mark.parametrize("saved", [None, 1])
def test_a_checkpoint_of_another_claimsift_is_said_in_words(tmp_path, monkeypatch, write_jsonl, saved):
    source, out = write_jsonl(tmp_path / "posts.jsonl", POSTS), tmp_path / "out.jsonl"
    _partial_run(tmp_path, monkeypatch, source, out)
    manifest_path = tmp_path / "out.jsonl.parts" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    if saved is None:  # written before row_fields was recorded
        del manifest["config"]["row_fields"]
    else:
        manifest["config"]["row_fields"] = manifest["config"]["row_fields"] - saved
    manifest_path.write_text(json.dumps(manifest))
    assert _refusal(source, out) == ("the checkpoint was written by another version of claimsift "
                                     "(its output rows have other fields)")


class _StanceScorer(KeywordScorer):
    def __init__(self, stance: str) -> None:
        super().__init__()
        self.stance = stance

    def fingerprint(self) -> dict:
        return {"scorer": "KeywordScorer", "models": {"stance": self.stance}}


def test_other_models_and_options_are_still_named(tmp_path, monkeypatch, write_jsonl):
    source, out = write_jsonl(tmp_path / "posts.jsonl", POSTS), tmp_path / "out.jsonl"
    _partial_run(tmp_path, monkeypatch, source, out, _StanceScorer("stance@v1"))
    assert "what changed: scorer.models.stance" in _refusal(source, out, _StanceScorer("stance@v2"))
    assert "max_chars: was 10000, now 500" in _refusal(source, out, max_chars=500)


# -- 6. flags in --help -----------------------------------------------------------------------------
def _commands(group, path=()):
    import click

    for name, command in sorted(getattr(group, "commands", {}).items()):
        yield path + (name,)
        if isinstance(command, click.Group):
            yield from _commands(command, path + (name,))


def test_score_help_shows_its_flags_as_flags(invoke_cli):
    result = invoke_cli("score", "--help")
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output
    for flag in ("--resume", "--table", "--json", "--strict", "--no-progress"):
        assert flag in result.output
    assert "<int>" in result.output  # an option that takes a value still shows its type


def test_no_command_shows_a_flag_as_taking_a_value(invoke_cli):
    import typer

    from pipeline.cli import app

    shown = []
    for path in _commands(typer.main.get_command(app)):
        result = invoke_cli(*path, "--help")
        assert result.exit_code == 0, (path, result.output)
        if "<bool>" in result.output:
            shown.append(" ".join(path))
    assert shown == []


# -- 7. the --table view ----------------------------------------------------------------------------
def _claim(text: str, verdict: str = "REFUTED") -> dict:
    evidence = {"doc_id": "d1", "source": "seeds/rutte-factcheck.txt", "title": "t", "published": None,
                "sentence": "Riggio said Rutte never said this. " * 3, "start": 0, "end": 10, "stance": "REFUTES",
                "p_supports": 0.0, "p_refutes": 0.9, "p_not_enough_info": 0.1, "score": 1.0, "decisive": True}
    return {"text": text, "start": 0, "end": len(text), "checkworthiness": 0.8, "verdict": verdict,
            "confidence": 0.9, "skipped": None, "evidence": [evidence], "fact_checks": []}


def _row(line: int, text: str, claims: list[dict]) -> dict:
    return {"post_id": str(line), "line": line, "text": text, "checkworthiness": 0.8 if claims else 0.1,
            "checkworthy_domain": "post", "n_claims": len(claims), "claims": claims}


def _render(output: Path, width: int = 100, **options) -> list[str]:
    from rich.console import Console

    from pipeline.cli.score import results_table

    console = Console(record=True, width=width)
    console.print(results_table(output, **options))
    return console.export_text().splitlines()


def test_the_table_lists_the_claims_found_and_counts_the_posts_without_one(tmp_path, write_jsonl):
    chatter = "Good morning everyone, what a lovely day it is here in the city, coffee first and then " * 3
    rows = [_row(i + 1, chatter, []) for i in range(40)]
    long_post = "Intro words before the claim. " + "NATO has 32 members and more to come. " * 6
    rows[6] = _row(7, long_post, [_claim("NATO has 32 members and more to come.")])
    rows[20] = _row(21, "Rutte said he would expel the US.", [_claim("Rutte said he would expel the US.", "SUPPORTED")])
    output = write_jsonl(tmp_path / "out.jsonl", rows)
    lines = _render(output)
    text = "\n".join(lines)
    assert max(len(line) for line in lines) <= 100
    assert len(lines) < 30, text  # two claims, not 40 posts wrapped over 20 lines each
    assert text.count("no check-worthy claim") == 1 and "Good morning" not in text  # counted, not listed
    assert "NATO has 32 members and more to come." in text and "Rutte said he would expel the US." in text
    assert "post: Intro words before the claim." in text  # where the post says more than its claim
    assert text.count("Rutte said he would expel the US.") == 1  # the post is not repeated under its claim
    caption = " ".join(text.split("┘")[-1].split())
    assert caption == f"2 claims; 38 of 40 posts had no check-worthy claim; all results in {output}"


def test_the_table_shows_the_first_claims_and_says_how_many_there_are(tmp_path, write_jsonl):
    rows = [_row(i + 1, f"Post {i} says {i} things.", [_claim(f"Post {i} says {i} things.")]) for i in range(12)]
    output = write_jsonl(tmp_path / "out.jsonl", rows)
    text = "\n".join(_render(output, width=200, limit=5))
    assert "Post 4 says 4 things." in text and "Post 5 says" not in text
    assert "the first 5 of 12 claims shown; every post had a claim" in text
