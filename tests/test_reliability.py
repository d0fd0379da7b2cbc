"""Issue 19, "nothing lost, nothing crashed": each case driven through the command line as a user
would, in a real process (`python -m pipeline.cli`, the `claimsift` entry point's module).

`score` runs with its models replaced by the keyword scorer (tests/cli_fake_scorer.py): what is
tested there is reading, checking and writing, not the models. The concurrency cases start real
processes against one store and wait for real locks; `CLAIMSIFT_LOCK_TIMEOUT` keeps them short.
"""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.corpus.store import SCHEMA_VERSION

ROOT = Path(__file__).resolve().parent.parent
FAKE_SCORER_CLI = Path(__file__).resolve().parent / "cli_fake_scorer.py"
SEEDS = ROOT / "seeds"


def start_claimsift(*args: object, env: dict | None = None) -> subprocess.Popen:
    """Start the command line without waiting for it (for two users at once)."""
    return subprocess.Popen([sys.executable, "-m", "pipeline.cli"] + [str(a) for a in args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=os.environ | (env or {}))


def one_clear_line(result: subprocess.CompletedProcess) -> str:
    """The error a person sees: one line on stderr, no traceback."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


POSTS = [{"id": "a1", "text": "NATO has 32 members since Sweden joined in 2024."},
         {"id": "a2", "text": "Good morning everyone!"},
         {"id": "a3", "text": "Poland spends 4.12% of its GDP on defence."}]


# ---- 1. an output that is the input ----------------------------------------------------------------
@pytest.mark.parametrize("command", [
    ["score", "{data}", "--store", "{store}", "--out", "{data}"],
    ["check", "--data", "{data}", "--out", "{data}", "--store", "{store}"],
    ["checkworthy", "--data", "{data}", "--out", "{data}"],
    ["stance", "--data", "{data}", "--out", "{data}"],
    ["score", "{data}", "--store", "{store}", "--out", "{link}"],
])
def test_an_output_that_is_the_input_is_refused_before_anything_is_written(tmp_path, command, run_cli, write_jsonl):
    data = write_jsonl(tmp_path / "same.jsonl", [{"text": p["text"], "claim": p["text"], "evidence": p["text"],
                                                 "id": p["id"]} for p in POSTS])
    (tmp_path / "link.jsonl").symlink_to(data)
    before = data.read_bytes()
    names = {"data": data, "store": tmp_path / "store", "link": tmp_path / "link.jsonl"}
    # score with its models faked: with a real store and models the old code overwrote the input
    result = run_cli(*[part.format(**names) for part in command],
                     script=FAKE_SCORER_CLI if command[0] == "score" else None)
    assert result.returncode == 2
    assert "is the input" in one_clear_line(result)
    assert data.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.jsonl", "same.jsonl"]


@pytest.mark.parametrize("command", [
    ["check", "--data", "{data}", "--out", "{folder}", "--store", "{store}"],
    ["checkworthy", "--data", "{data}", "--out", "{folder}"],
    ["stance", "--data", "{data}", "--out", "{folder}"],
    ["match", "--data", "{data}", "--out", "{folder}", "--store", "{store}"],
    ["check", "--data", "{data}", "--out", "{under_file}", "--store", "{store}"],
    ["evaluate", "corpus", "--documents", "{data}", "--claims", "{data}", "--out", "{folder}", "--store", "{store}"],
    ["evaluate", "corpus", "--documents", "{data}", "--claims", "{data}", "--claims-out", "{folder}"],
])
def test_an_output_that_is_a_folder_or_under_a_file_is_refused_before_any_work(tmp_path, command, run_cli,
                                                                                write_jsonl):
    data = write_jsonl(tmp_path / "in.jsonl", [{"text": p["text"], "claim": p["text"], "evidence": p["text"],
                                               "query": p["text"], "id": p["id"]} for p in POSTS])
    (tmp_path / "out.jsonl").mkdir()
    names = {"data": data, "store": tmp_path / "store", "folder": tmp_path / "out.jsonl",
             "under_file": data / "sub" / "out.jsonl"}
    result = run_cli(*[part.format(**names) for part in command])
    assert result.returncode == 2
    line = one_clear_line(result)
    assert "is a folder, not a file" in line or "is a file, not a folder" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "out.jsonl"]


# ---- 7. a table saved with a byte-order mark (Excel's "CSV UTF-8") ---------------------------------
@pytest.mark.slow
def test_score_reads_a_csv_and_a_jsonl_with_a_byte_order_mark(tmp_path, run_cli):
    csv_file = tmp_path / "posts.csv"
    csv_file.write_text("text,id\n" + "".join(f'"{p["text"]}",{p["id"]}\n' for p in POSTS), encoding="utf-8-sig")
    jsonl_file = tmp_path / "posts.jsonl"
    jsonl_file.write_text("".join(json.dumps(p) + "\n" for p in POSTS), encoding="utf-8-sig")
    for source in (csv_file, jsonl_file):
        out = tmp_path / f"{source.suffix[1:]}.out.jsonl"
        result = run_cli("score", source, "--store", tmp_path, "--out", out, script=FAKE_SCORER_CLI)
        assert result.returncode == 0, result.stderr
        assert [row["post_id"] for row in read_jsonl(out)] == ["a1", "a2", "a3"]


# ---- 11. smaller cases ----------------------------------------------------------------------------
@pytest.mark.slow
def test_score_says_how_many_rows_were_rejected_and_strict_exits_1(tmp_path, run_cli, write_jsonl):
    source = write_jsonl(tmp_path / "posts.jsonl", POSTS + [{"id": "a4", "text": ""}])
    result = run_cli("score", source, "--store", tmp_path, "--out", tmp_path / "o.jsonl", script=FAKE_SCORER_CLI)
    assert result.returncode == 0, result.stderr
    assert f"1 row rejected: see {tmp_path / 'o.jsonl.rejected.jsonl'}" in " ".join(result.stderr.split())
    strict = run_cli("score", source, "--store", tmp_path, "--out", tmp_path / "s.jsonl", "--strict",
                       script=FAKE_SCORER_CLI)
    assert strict.returncode == 1
    assert [row["post_id"] for row in read_jsonl(tmp_path / "s.jsonl")] == ["a1", "a2", "a3"]


def test_one_invalid_utf8_line_rejects_that_row_only_and_names_it(tmp_path, run_cli):
    for name, header, rows in (("posts.jsonl", b"", [json.dumps(p).encode() for p in POSTS]),
                               ("posts.csv", b"id,text\n", [f'{p["id"]},"{p["text"]}"'.encode() for p in POSTS])):
        rows.insert(1, rows[0].replace(b"NATO", b"NAT\xff\xfe"))
        source = tmp_path / name
        source.write_bytes(header + b"\n".join(rows) + b"\n")
        out = tmp_path / f"{name}.out.jsonl"
        result = run_cli("score", source, "--store", tmp_path, "--out", out, script=FAKE_SCORER_CLI)
        assert result.returncode == 0, result.stderr
        assert [row["post_id"] for row in read_jsonl(out)] == ["a1", "a2", "a3"]
        rejected = read_jsonl(tmp_path / f"{name}.out.jsonl.rejected.jsonl")
        assert len(rejected) == 1 and "invalid UTF-8" in rejected[0]["reason"]
        assert rejected[0]["line"] == (2 if name.endswith(".jsonl") else 3)


@pytest.mark.slow
def test_resume_refuses_an_input_changed_in_place_with_the_same_size_and_time(tmp_path, run_cli, write_jsonl):
    source = write_jsonl(tmp_path / "posts.jsonl", POSTS * 4)
    out = tmp_path / "o.jsonl"
    interrupted = run_cli("score", source, "--store", tmp_path, "--out", out, "--batch-size", "3",
                            env={"FAKE_SCORER_INTERRUPT_AFTER": "1"}, script=FAKE_SCORER_CLI)
    assert interrupted.returncode == 130 and (tmp_path / "o.jsonl.parts").is_dir(), interrupted.stderr
    stat = source.stat()
    data = source.read_bytes()
    source.write_bytes(data.replace(b"Poland", b"Latvia"))  # same length
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert source.stat().st_size == stat.st_size and source.stat().st_mtime_ns == stat.st_mtime_ns
    resumed = run_cli("score", source, "--store", tmp_path, "--out", out, "--batch-size", "3", "--resume",
                        script=FAKE_SCORER_CLI)
    assert resumed.returncode == 2
    assert "cannot resume" in one_clear_line(resumed) and "input" in resumed.stderr
    source.write_bytes(data)
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    finished = run_cli("score", source, "--store", tmp_path, "--out", out, "--batch-size", "3", "--resume",
                         script=FAKE_SCORER_CLI)
    assert finished.returncode == 0, finished.stderr
    assert len(read_jsonl(out)) == 12


@pytest.mark.slow
def test_a_store_path_that_is_a_file_is_one_clear_error(tmp_path, run_cli):
    not_a_folder = tmp_path / "store"
    not_a_folder.write_text("my notes\n")
    (tmp_path / "doc.txt").write_text("Some text.\n")
    for command in (["ingest", tmp_path / "doc.txt", "--store", not_a_folder, "--no-index"],
                    ["inspect", "--store", not_a_folder],
                    ["index", "--store", not_a_folder]):
        result = run_cli(*command)
        assert result.returncode == 2, result.stderr
        assert "is a file, not a store folder" in one_clear_line(result)
    assert not_a_folder.read_text() == "my notes\n"


def test_inspect_on_a_corrupt_store_is_one_clear_error(tmp_path, run_cli):
    store = tmp_path / "store"
    store.mkdir()
    (store / "corpus.sqlite").write_bytes(b"this is not a database" * 200)
    result = run_cli("inspect", "--store", store)
    assert result.returncode == 2
    assert "corpus.sqlite is not a readable store" in one_clear_line(result)


def test_a_nul_byte_after_the_first_8_kb_rejects_the_file_with_a_plain_rejected_label(tmp_path, run_cli):
    text = ("A plain sentence about the budget. " * 300).encode()
    (tmp_path / "late_nul.txt").write_bytes(text + b"\x00 hidden binary")
    result = run_cli("ingest", tmp_path / "late_nul.txt", "--store", tmp_path / "store", "--no-index")
    assert result.returncode == 1
    assert "late_nul.txt: binary file (NUL byte at byte 10500, line 1)" in result.stderr
    assert "[red]" not in result.stderr and "rejected " in result.stderr
    assert json.loads(run_cli("inspect", "--store", tmp_path / "store", "--json").stdout)["documents"] == 0


@pytest.mark.slow
def test_a_symlinked_folder_is_skipped_with_a_message(tmp_path, run_cli):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "doc.txt").write_text("The council met on Monday.\n")
    folder = tmp_path / "inputs"
    folder.mkdir()
    (folder / "linked").symlink_to(elsewhere, target_is_directory=True)
    result = run_cli("ingest", folder, "--store", tmp_path / "store", "--no-index")
    assert result.returncode == 0, result.stderr
    assert f"skipped {folder / 'linked'}: a symbolic link to a folder (not followed)" in " ".join(result.stderr.split())


@pytest.mark.parametrize("command", ["check", "match"])
def test_check_data_on_an_empty_file_is_an_error_not_an_empty_success(tmp_path, run_cli, command):
    (tmp_path / "claims.jsonl").write_bytes(b"")
    result = run_cli(command, "--data", tmp_path / "claims.jsonl", "--out", tmp_path / "pred.jsonl",
                     "--store", tmp_path / "store")
    assert result.returncode == 2
    assert "claims.jsonl: the file is empty" in one_clear_line(result)
    assert not (tmp_path / "pred.jsonl").exists()


def test_a_jsonl_line_that_is_not_utf8_is_named_by_its_line(tmp_path):
    from pipeline.core.errors import InputError
    from pipeline.core.io import jsonl_lines
    from pipeline.core.io import read_jsonl as strict_read_jsonl

    path = tmp_path / "claims.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"claim": "first"}\n{"claim": "caf\xe9"}\n{"claim": "third"}\n')
    lines = list(jsonl_lines(path))
    assert [(n, r) for n, r, _ in lines] == [(1, {"claim": "first"}), (2, None), (3, {"claim": "third"})]
    assert "invalid UTF-8 (byte 0xe9" in str(lines[1][2])
    with pytest.raises(InputError) as error:
        list(strict_read_jsonl(path))
    assert error.value.row == 2 and "claims.jsonl, row 2: invalid UTF-8" in str(error.value)
    with pytest.raises(InputError, match="is a folder, not a file"):
        list(jsonl_lines(tmp_path))
    path.write_text('{"claim": "unclosed"\n', encoding="utf-8")
    assert list(jsonl_lines(path)) == [(1, None, "not valid JSON (Expecting ',' delimiter at column 21)")]
    # an escaped emoji is fine; half of one cannot be written as UTF-8 anywhere later
    path.write_text('{"claim": "ok \\ud83d\\ude00"}\n{"claim": "cut \\ud83d in two"}\n', encoding="utf-8")
    lines = list(jsonl_lines(path))
    assert lines[0][1] == {"claim": "ok \U0001f600"} and lines[1][1] is None
    assert "\\ud83d is half of a UTF-16 pair" in str(lines[1][2])


def test_a_jsonl_line_giving_a_key_twice_is_named_by_its_line_and_key(tmp_path):
    # check/match --data answered {"claim": "a", "claim": "b"} for "b", silently
    from pipeline.core.io import jsonl_lines

    path = tmp_path / "claims.jsonl"
    path.write_text('{"id": "c1", "claim": "NATO was founded in 1949.", "claim": "NATO was founded in 1950."}\n'
                    '{"id": "c2", "claim": "Sweden joined NATO in 2024.", "meta": {"x": 1, "x": 2}}\n', encoding="utf-8")
    assert list(jsonl_lines(path)) == [
        (1, None, "the key 'claim' appears twice in this object; remove one"),
        (2, {"id": "c2", "claim": "Sweden joined NATO in 2024.", "meta": {"x": 2}}, None)]
    # checkworthy/stance --data refuse the file for any key given twice, naming the row
    from pipeline.checkworthy.data import read_jsonl_texts
    from pipeline.core.errors import InputError
    from pipeline.stance.data import load_labelled_file

    path.write_text('{"text": "NATO was founded in 1949.", "text": "NATO was founded in 1950."}\n', encoding="utf-8")
    with pytest.raises(InputError, match="row 1: the key 'text' appears twice in this object"):
        read_jsonl_texts(path, labelled=False)
    path.write_text('{"claim": "NATO has 32 members.", "evidence": "Sweden became the 32nd.", "evidence": "x"}\n',
                    encoding="utf-8")
    with pytest.raises(InputError, match="row 1: the key 'evidence' appears twice in this object"):
        load_labelled_file(path, require_label=False)


def test_repeated_keys_are_those_of_the_top_level_object_in_every_thread():
    # one decoder serves every call, noting the object that repeats a key per thread
    from concurrent.futures import ThreadPoolExecutor

    from pipeline.core.io import loads_noting_repeats

    lines = ['{"a": {"x": 1, "x": 2}, "a": 3, "b": 1, "b": 2}', '{"a": {"x": 1, "x": 2}}', '[{"x": 1, "x": 2}]',
             '{"id": 1, "text": "t"}'] * 500
    expected = [({"a": 3, "b": 2}, ["a", "b"]), ({"a": {"x": 2}}, []), ([{"x": 2}], []), ({"id": 1, "text": "t"}, [])]
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(loads_noting_repeats, lines)) == expected * 500
    with pytest.raises(ValueError, match="Unexpected UTF-8 BOM"):  # as json.loads
        loads_noting_repeats("\ufeff{}")


def test_readers_of_claims_splits_and_triplets_refuse_only_a_repeated_key_they_read(tmp_path):
    # evaluate claims --data, the corpus claims (dataset builders, evaluate corpus) and the split manifest
    # refused a file for any key given twice, one they never read ("note") included
    from pipeline.core.errors import InputError
    from pipeline.core.splits import SplitManifest
    from pipeline.datasets.claims import read_corpus_claims
    from pipeline.evaluation.claims import read_labelled_claims

    claim = '"claim": "NATO was founded in 1949.", "label": "SUPPORTED"'
    split = '"corpus": "c", "id": "1", "claim_hash": "h", "evidence_hashes": [], "group": "g", "split": "train"'
    path = tmp_path / "rows.jsonl"
    for read, row, key in ((read_labelled_claims, claim, "label"), (read_corpus_claims, '"id": "1", ' + claim, "label"),
                           (SplitManifest.load, split, "split")):
        path.write_text("{" + row + ', "note": 1, "note": 2}\n', encoding="utf-8")
        assert read(path), read
        path.write_text("{" + row + f', "{key}": "x"}}\n', encoding="utf-8")
        with pytest.raises(InputError, match=f"the key '{key}' appears twice in this object"):
            read(path)


# ---- 8. duplicate rows at inference ---------------------------------------------------------------
@pytest.mark.slow
def test_stance_predicts_every_row_of_a_file_with_duplicates(tmp_path, run_cli, write_jsonl):
    pair = {"claim": "NATO has 32 members.", "evidence": "Sweden became the 32nd member of NATO in 2024."}
    rows = [pair, {"claim": "NATO has 12 members.", "evidence": pair["evidence"]}, pair, pair]
    data = write_jsonl(tmp_path / "pairs.jsonl", rows)
    result = run_cli("stance", "--data", data, "--out", tmp_path / "pred.jsonl", "--model", "stance@v2")
    assert result.returncode == 0, result.stderr
    predictions = read_jsonl(tmp_path / "pred.jsonl")
    assert len(predictions) == 4 and predictions[0] == predictions[2] == predictions[3]


# ---- 9. check --data keeps the input's ids ---------------------------------------------------------
@pytest.mark.slow
def test_check_data_keeps_every_id_column_of_the_input(tmp_path, seed_store, run_cli):
    data = tmp_path / "claims.jsonl"
    data.write_text(json.dumps({"claim_id": "c-7", "claim": "Mark Rutte threatened to expel the US from NATO.",
                                "id": 7}) + "\n"
                    + json.dumps({"claim": "", "tweet_id": "99", "note": "empty"}) + "\n", encoding="utf-8-sig")
    result = run_cli("check", "--data", data, "--out", tmp_path / "out.jsonl", "--store", seed_store,
                       "--stance-model", "stance@v2")
    assert result.returncode == 1, result.stderr  # the empty claim is rejected, the other checked
    checked, rejected = read_jsonl(tmp_path / "out.jsonl")
    assert (checked["line"], checked["claim_id"], checked["id"]) == (1, "c-7", 7) and checked["verdict"]
    assert (rejected["line"], rejected["tweet_id"]) == (2, "99") and "empty" in rejected["error"]
    assert "note" not in rejected


@pytest.mark.slow
def test_html_publication_dates_come_from_metadata_never_from_the_body(tmp_path, run_cli):
    body = ("<p>The government said in 2024 that spending would rise. Officials plan to present the full budget "
            "to parliament after the summer recess, according to the finance ministry.</p><p>Analysts expect the "
            "increase to be modest, and several committees will review the figures before any vote.</p>")
    (tmp_path / "undated.html").write_text(f"<html><head><title>Budget</title></head><body><article>{body}"
                                           "</article></body></html>")
    (tmp_path / "dated.html").write_text(
        '<html><head><title>Budget</title><meta property="article:published_time" content="2023-05-17T08:00:00Z">'
        f"</head><body><article>{body.replace('modest', 'small')}</article></body></html>")
    store = tmp_path / "store"
    result = run_cli("ingest", tmp_path / "undated.html", tmp_path / "dated.html", "--store", store, "--no-index")
    assert result.returncode == 0, result.stderr
    published = json.loads(run_cli("inspect", "--store", store, "--json").stdout)["published"]
    assert published == {"first": "2023-05-17", "last": "2023-05-17", "undated": 1}


# ---- 2. table ids are scoped to their source -------------------------------------------------------
@pytest.mark.slow
def test_the_same_id_in_two_files_names_two_documents(tmp_path, run_cli, write_jsonl):
    store = tmp_path / "store"
    write_jsonl(tmp_path / "t1.jsonl", [{"id": 1, "text": "The first table's first story."},
                                        {"id": 2, "text": "The first table's second story."}])
    write_jsonl(tmp_path / "t2.jsonl", [{"id": 1, "text": "The second table's own story."}])
    assert run_cli("ingest", tmp_path / "t1.jsonl", "--store", store, "--no-index").returncode == 0
    result = run_cli("ingest", tmp_path / "t2.jsonl", "--store", store, "--no-index")
    assert result.returncode == 0, result.stderr
    assert "1 added, 0 replaced" in " ".join(result.stderr.split())
    assert json.loads(run_cli("inspect", "--store", store, "--json").stdout)["documents"] == 3
    # Asked for, global ids replace across files, and say so.
    write_jsonl(tmp_path / "t3.jsonl", [{"id": 1, "text": "A third table replacing id 1."}])
    glob = run_cli("ingest", tmp_path / "t3.jsonl", "--store", tmp_path / "global", "--no-index", "--global-ids")
    assert glob.returncode == 0
    glob = run_cli("ingest", tmp_path / "t1.jsonl", "--store", tmp_path / "global", "--no-index", "--global-ids")
    assert "1 added, 1 replaced" in " ".join(glob.stderr.split())
    assert "t1.jsonl: 1 replaced the document of that name from t3.jsonl" in " ".join(glob.stderr.split())


@pytest.mark.slow
def test_a_store_written_before_scoped_ids_is_migrated(tmp_path, run_cli, write_jsonl):
    store = tmp_path / "store"
    write_jsonl(tmp_path / "t1.jsonl", [{"id": 1, "text": "The first story."}, {"id": 2, "text": "The second."}])
    assert run_cli("ingest", tmp_path / "t1.jsonl", "--store", store, "--no-index").returncode == 0
    with sqlite3.connect(store / "corpus.sqlite") as connection:  # as the schema-1 ingester named rows
        connection.execute("UPDATE documents SET name = substr(name, length('t1.jsonl#id=') + 1)")
        connection.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
        assert sorted(r[0] for r in connection.execute("SELECT name FROM documents")) == ["1", "2"]
    write_jsonl(tmp_path / "t1.jsonl", [{"id": 1, "text": "The first story, corrected."},
                                        {"id": 2, "text": "The second."}])
    result = run_cli("ingest", tmp_path / "t1.jsonl", "--store", store, "--no-index")
    assert result.returncode == 0, result.stderr
    assert "0 added, 1 replaced, 1 unchanged" in " ".join(result.stderr.split())
    with sqlite3.connect(store / "corpus.sqlite") as connection:
        assert sorted(r[0] for r in connection.execute("SELECT name FROM documents")) == [
            "t1.jsonl#id=1", "t1.jsonl#id=2"]
        assert connection.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == str(
            SCHEMA_VERSION)


# ---- 6. a huge text without line breaks -----------------------------------------------------------
def _long_line(n_chars: int) -> str:
    """Text without a line break: sentences of long words (few tokens, so spaCy reads it fast)."""
    import random

    rng = random.Random(7)
    words, size = [], 0
    while size < n_chars:
        word = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(40))
        words.append(word + ("." if len(words) % 12 == 11 else ""))
        size += 41
    return " ".join(words)


@pytest.mark.slow
def test_a_text_over_a_million_characters_without_line_breaks_is_split_and_ingested(tmp_path, run_cli):
    (tmp_path / "one_line.txt").write_text(_long_line(1_100_000))
    (tmp_path / "small.txt").write_text("A small document that must not be lost.\n")
    result = run_cli("ingest", tmp_path / "one_line.txt", tmp_path / "small.txt", "--store", tmp_path / "store",
                       "--no-index", "--json")
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["added"]) == 7  # six parts of at most 200,000 characters + small.txt
    with sqlite3.connect(tmp_path / "store" / "corpus.sqlite") as connection:
        lengths = [n for (n,) in connection.execute("SELECT LENGTH(text) FROM documents")]
    assert max(lengths) <= 200_000 and sum(lengths) > 1_099_000


@pytest.mark.slow
def test_one_file_that_cannot_be_analysed_never_drops_the_others(tmp_path, run_cli):
    # Over the analyser's limit (2,000,000 characters) as one part: spaCy refuses it (E088).
    (tmp_path / "one_line.txt").write_text(_long_line(2_100_000))
    (tmp_path / "small.txt").write_text("A small document that must not be lost.\n")
    result = run_cli("ingest", tmp_path / "one_line.txt", tmp_path / "small.txt", "--store", tmp_path / "store",
                       "--no-index", "--max-doc-chars", "3000000")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "one_line.txt: could not be analysed" in " ".join(result.stderr.split())
    assert json.loads(run_cli("inspect", "--store", tmp_path / "store", "--json").stdout)["documents"] == 1


# ---- 3. two ingests into one store at once ---------------------------------------------------------
def _news_text(n_paragraphs: int, seed: int) -> str:
    import random

    rng = random.Random(seed)
    people = ["Maria Lopez", "John Smith", "Anna Berg", "Tom Okafor", "Lena Novak"]
    places = ["Brussels", "Warsaw", "Madrid", "Oslo", "Vienna"]
    paragraphs = []
    for i in range(n_paragraphs):
        person, place = rng.choice(people), rng.choice(places)
        paragraphs.append(f'"We will raise the budget by {rng.randint(2, 9)} percent," {person} said in {place} '
                          f"on Monday. The council in {place} discussed item {i} for {rng.randint(2, 6)} hours, "
                          f"and {person} told reporters that the vote was expected next week.")
    return "\n\n".join(paragraphs) + "\n"


@pytest.mark.slow
def test_a_second_ingest_writes_while_the_first_is_still_analysing(tmp_path, run_cli):
    store = tmp_path / "store"
    (tmp_path / "big.txt").write_text(_news_text(600, seed=1))  # analysed for many seconds
    (tmp_path / "small.txt").write_text("A short note from the second user.\n")
    first = start_claimsift("ingest", tmp_path / "big.txt", "--store", store, "--no-index")
    deadline = time.monotonic() + 120
    while not (store / "corpus.sqlite").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    second = run_cli("ingest", tmp_path / "small.txt", "--store", store, "--no-index",
                       env={"CLAIMSIFT_LOCK_TIMEOUT": "5"})
    first_still_running = first.poll() is None
    first_out, first_err = first.communicate(timeout=600)
    assert second.returncode == 0, second.stderr
    assert first.returncode == 0, first_err
    assert first_still_running, "the second ingest waited for the first one's analysis"
    assert json.loads(run_cli("inspect", "--store", store, "--json").stdout)["documents"] == 2


@pytest.mark.slow
def test_a_writer_held_up_too_long_says_so_in_one_line(tmp_path, run_cli):
    store = tmp_path / "store"
    (tmp_path / "a.txt").write_text("The first document.\n")
    assert run_cli("ingest", tmp_path / "a.txt", "--store", store, "--no-index").returncode == 0
    (tmp_path / "b.txt").write_text("The second document.\n")
    holder = sqlite3.connect(store / "corpus.sqlite", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer, holding the lock for the whole run
    try:
        started = time.monotonic()
        result = run_cli("ingest", tmp_path / "b.txt", "--store", store, "--no-index",
                           env={"CLAIMSIFT_LOCK_TIMEOUT": "2"})
        waited = time.monotonic() - started
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[0] == f"waiting for another process writing to {store} to finish…"
    assert lines[-1].startswith(f"error: {store}: another process has been writing to this store for longer "
                                "than 2 s") and len(lines) == 2
    assert waited >= 2
    assert run_cli("ingest", tmp_path / "b.txt", "--store", store, "--no-index").returncode == 0


# ---- 10. the language of a claim -------------------------------------------------------------------
# Each case starts claimsift, which loads lingua's language models (validate_claim itself is tested
# in-process in test_check.py).
@pytest.mark.slow
@pytest.mark.parametrize("claim, refused", [
    ("Climate change isn't increasing extreme weather damage costs.", False),
    ("Weather Channel Co-Founder John Coleman Calls Global Warming a Hoax", False),
    ("Rutte", False),  # too short to tell: checked
    ("Der NATO-Chef hat gedroht, die USA aus dem Bündnis auszuschließen", True),
    ("Путин заявил, что НАТО угрожает России", True),
])
def test_only_claims_surely_in_another_language_are_refused(tmp_path, claim, refused, run_cli):
    # The claim is validated before the store is opened: an accepted claim meets the missing store.
    result = run_cli("check", claim, "--store", tmp_path / "no-store")
    assert result.returncode == 2
    line = one_clear_line(result)
    assert ("in another language" in line) == refused, line
    assert ("no corpus store" in line) == (not refused), line


# ---- 11. control characters in a claim -------------------------------------------------------------
def test_a_claim_of_only_terminal_escape_codes_is_empty(tmp_path, run_cli):
    result = run_cli("check", "\x1b[2J\x1b[31m\x07", "--store", tmp_path / "no-store")
    assert result.returncode == 2 and "the claim is empty" in one_clear_line(result)


# ---- 4. two index builds at once; 5. a stale index -------------------------------------------------
@pytest.mark.slow
def test_two_index_builds_at_once_build_one_index(tmp_path, seed_store, run_cli):
    import shutil

    store = tmp_path / "store"
    shutil.copytree(seed_store, store, ignore=shutil.ignore_patterns("index"))
    builds = [start_claimsift("index", "--store", store, "--backend", "onnx") for _ in range(2)]
    results = [build.communicate(timeout=600) + (build.returncode,) for build in builds]
    for _, err, code in results:
        assert code == 0 and "Traceback" not in err, err
    # One built it; the other waited for the lock and found the index current.
    assert sorted(" 0 embedded" in err for _, err, _ in results) == [False, True], results
    assert any("waiting for another process building the index" in err for _, err, _ in results)
    index = store / "index"
    assert sorted(p.name for p in index.iterdir() if not p.name.startswith(".build")) == ["CURRENT", "v1"]
    from pipeline.retrieval.index import load_index

    assert load_index(store).size == json.loads(run_cli("inspect", "--store", store, "--json").stdout)["sentences"]


@pytest.mark.slow
def test_check_on_a_store_whose_index_is_stale_says_so(tmp_path, seed_store, run_cli):
    import shutil

    store = tmp_path / "store"
    shutil.copytree(seed_store, store)
    (tmp_path / "new.txt").write_text("Mark Rutte visited Oslo on Tuesday to meet the Norwegian prime minister.\n")
    assert run_cli("ingest", tmp_path / "new.txt", "--store", store, "--no-index").returncode == 0
    result = run_cli("check", "\x1b[31mRutte threatened to expel the US from NATO\x1b[0m", "--store", store,
                       "--json", "--stance-model", "stance@v2")
    assert result.returncode == 0, result.stderr
    assert "warning: the evidence index of" in result.stderr and "is out of date" in result.stderr
    assert f"claimsift index --store {store}" in " ".join(result.stderr.split())
    assert json.loads(result.stdout)["claim"] == "Rutte threatened to expel the US from NATO"
    assert run_cli("index", "--store", store, "--backend", "onnx").returncode == 0
    fresh = run_cli("check", "Rutte threatened to expel the US from NATO", "--store", store, "--json",
                      "--stance-model", "stance@v2")
    assert fresh.returncode == 0 and "out of date" not in fresh.stderr
