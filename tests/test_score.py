"""Batch scoring: reading, validation, rejected rows, outputs, bad input and write errors.

The job's machinery is tested with ``KeywordScorer`` (tests/score_fakes.py), a tiny
deterministic stand-in for the models; the real models are exercised in the slow tests at the
end and in test_score_resume.py / test_score_dask.py.
"""
from __future__ import annotations

import csv
import errno
import gzip
import json
import os
import subprocess
from collections import Counter
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.core.errors import InputError, UserError
from pipeline.scoring import checkpoint as checkpoint_module
from pipeline.scoring.models import ModelScorer
from pipeline.scoring.output import claim_as_checked, iter_output, read_score_provenance
from pipeline.scoring.posts import PostReader
from pipeline.scoring.scorer import score_file, score_frame
from score_fakes import POSTS, KeywordScorer, PinnedKeywordScorer
from shipping import as_shipped, pickled_size

REPO = Path(__file__).resolve().parent.parent
DATASETS = REPO.parent / "shared" / "datasets"
TWEETS = DATASETS / "checkthat2022-task1-tweets" / "CT22_english_tweet_objects.jsonl.gz"
SAMPLE_POSTS = REPO / "corpus" / "sample_posts.jsonl"

def run(tmp_path: Path, source: Path, name: str = "out.parquet", **options) -> tuple:
    out = tmp_path / name
    summary = score_file(source, out, KeywordScorer(), progress=False, **options)
    rejected = [json.loads(line) for line in (tmp_path / f"{name}.rejected.jsonl").read_text().splitlines()]
    return summary, list(iter_output(out)), rejected


# -- reading the formats ---------------------------------------------------------------------------
def test_jsonl_rows_are_scored_in_order_with_ids_lines_and_claims(tmp_path, write_jsonl):
    summary, rows, rejected = run(tmp_path, write_jsonl(tmp_path / "posts.jsonl", POSTS), chunk_size=2)
    assert [r["post_id"] for r in rows] == ["a1", "a2", "a3", "a4", "a5"]
    assert [r["line"] for r in rows] == [1, 2, 3, 4, 5]
    assert (summary.read, summary.scored, summary.rejected, summary.chunks) == (5, 5, 0, 3)
    first = rows[0]
    assert first["n_claims"] == 1 and first["claims"][0]["text"] == "NATO has 32 members."
    claim = first["claims"][0]
    assert first["text"][claim["start"]:claim["end"]] == claim["text"]
    (said,) = KeywordScorer().score_posts([first["text"]])[0]["claims"]  # what the scorer said, written as said
    assert (claim["verdict"], claim["confidence"]) == (said["verdict"], said["confidence"])
    evidence = claim["evidence"][0]
    assert set(evidence) >= {"doc_id", "sentence", "stance", "score", "p_supports", "decisive"}
    assert evidence["url"] == f"https://example.org/{evidence['doc_id']}"  # the document's, kept in Parquet
    assert rows[1]["n_claims"] == 0 and rows[1]["claims"] == []
    fact_checks = [f for r in rows for c in r["claims"] for f in c["fact_checks"]]
    assert fact_checks and set(fact_checks[0]) == {"id", "claim", "rating", "verdict", "publisher", "url", "date",
                                                   "similarity"}
    assert summary.claims == sum(r["n_claims"] for r in rows) == 3
    assert rejected == []
    assert not (tmp_path / "out.parquet.parts").exists(), "parts are removed after a complete run"


def test_parquet_and_jsonl_outputs_hold_the_same_rows(tmp_path, write_jsonl):
    source = write_jsonl(tmp_path / "posts.jsonl", POSTS)
    _, as_parquet, _ = run(tmp_path, source, "out.parquet", chunk_size=2)
    _, as_jsonl, _ = run(tmp_path, source, "out.jsonl", chunk_size=3)
    assert as_parquet == as_jsonl
    schema = pq.read_schema(tmp_path / "out.parquet")
    assert schema.field("claims").type.value_type.field("evidence").type.value_type.field("doc_id").type == pa.string()


def test_csv_tsv_gzip_and_parquet_inputs_read_like_jsonl(tmp_path, write_jsonl):
    _, reference, _ = run(tmp_path, write_jsonl(tmp_path / "posts.jsonl", POSTS), "ref.jsonl")
    with open(tmp_path / "posts.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["id", "text"])
        writer.writeheader()
        writer.writerows(POSTS)
    with open(tmp_path / "posts.tsv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["text", "id"], delimiter="\t")
        writer.writeheader()
        writer.writerows(POSTS)
    with gzip.open(tmp_path / "posts.jsonl.gz", "wt") as handle:
        handle.write("\n".join(json.dumps(p) for p in POSTS) + "\n")
    pq.write_table(pa.Table.from_pylist(POSTS), tmp_path / "posts.parquet", row_group_size=2)
    for name in ("posts.jsonl.gz", "posts.parquet", "posts.csv", "posts.tsv"):
        _, rows, rejected = run(tmp_path, tmp_path / name, f"{name}.out.jsonl", chunk_size=2)
        assert [without_line(r) for r in rows] == [without_line(r) for r in reference], name
        assert rejected == []
    # CSV lines count the header: the first post is on line 2
    _, rows, _ = run(tmp_path, tmp_path / "posts.csv", "lines.jsonl")
    assert [r["line"] for r in rows] == [2, 3, 4, 5, 6]


def without_line(row: dict) -> dict:
    return {k: v for k, v in row.items() if k != "line"}


def test_multiline_csv_records_keep_their_starting_line(tmp_path):
    path = tmp_path / "posts.csv"
    path.write_text('id,text\n1,"first line\nsecond line 2020."\n2,plain 42\n3,too,many\n', encoding="utf-8")
    _, rows, rejected = run(tmp_path, path, "out.jsonl")
    assert [(r["post_id"], r["line"]) for r in rows] == [("1", 2), ("2", 4)]
    assert rows[0]["text"] == "first line\nsecond line 2020."
    assert rejected == [{"line": 5, "post_id": "3", "reason": "record has 3 fields, the header has 2"}]


def test_raw_tweet_objects_use_full_text_and_id_str(tmp_path, write_jsonl):
    tweet = {"id": 1359350943356174337, "id_str": "1359350943356174337", "text": "truncated…",
             "full_text": "India sent 100,000 vaccines to Barbados.", "truncated": False}
    _, rows, _ = run(tmp_path, write_jsonl(tmp_path / "tweets.jsonl", [tweet]), "out.jsonl")
    assert rows[0]["post_id"] == "1359350943356174337"
    assert rows[0]["text"] == "India sent 100,000 vaccines to Barbados."


def test_half_an_emoji_rejects_a_tweet_only_in_the_fields_score_reads(tmp_path):
    # a raw tweet whose full_text is whole but whose unread `text` or user.description holds half an
    # emoji was rejected as invalid JSON, losing a scorable post
    path = tmp_path / "tweets.jsonl"
    path.write_text('{"id_str": "1", "text": "cut \\ud83d", "full_text": "Whole text.", '
                    '"user": {"description": "bio \\ud83d"}}\n'
                    '{"id_str": "2", "text": "x", "full_text": "Cut \\ud83d text."}\n', encoding="utf-8")
    records = list(PostReader(path))
    assert [(r.post_id, r.text, r.reason) for r in records[:1]] == [("1", "Whole text.", None)]
    assert records[1].reason is not None and "\\ud83d is half of a UTF-16 pair" in records[1].reason
    assert records[1].post_id == "2"  # was None: the rejected row named by its line alone


def test_a_key_given_twice_rejects_a_row_only_when_score_reads_it(tmp_path):
    # {"text": "a", "text": "b"} was scored as "b" without a word: json keeps the last, other readers the first
    path = tmp_path / "posts.jsonl"
    path.write_text('{"id": "1", "text": "Rutte said NATO will spend 2% of GDP.", "text": "RT @nato: happy birthday"}\n'
                    '{"id": "2", "text": "Stoltenberg met Zelensky in Kyiv.", "id": "3"}\n'
                    '{"id": "4", "text": "Sweden joined NATO in 2024.", "note": "a", "note": "b", '
                    '"user": {"name": "x", "name": "y"}}\n', encoding="utf-8")
    records = [(r.line, r.post_id, r.reason) for r in PostReader(path)]
    assert records == [(1, "1", "the key 'text' appears twice in this object; remove one"),
                       (2, None, "the key 'id' appears twice in this object; remove one"),
                       (3, "4", None)]


def test_a_parquet_column_given_twice_is_one_line_naming_it(tmp_path):
    # pyarrow's KeyError ('Field "text" exists 2 times in schema') ended score in a traceback
    table = pa.table([pa.array(["p1"]), pa.array(["Rutte said NATO will spend 2%."]), pa.array(["RT"])],
                     names=["id", "text", "text"])
    pq.write_table(table, tmp_path / "posts.parquet")
    with pytest.raises(InputError) as error:
        list(PostReader(tmp_path / "posts.parquet"))
    assert str(error.value) == (f"{tmp_path / 'posts.parquet'}: the column 'text' appears twice in the Parquet "
                                "schema; rename or remove one")
    unread = pa.table([pa.array(["p1"]), pa.array(["Sweden joined NATO."]), pa.array(["a"]), pa.array(["b"])],
                      names=["id", "text", "note", "note"])
    pq.write_table(unread, tmp_path / "notes.parquet")
    assert [(r.post_id, r.text) for r in PostReader(tmp_path / "notes.parquet")] == [("p1", "Sweden joined NATO.")]


@pytest.mark.skipif(not TWEETS.exists(), reason=f"shared dataset absent: {TWEETS}")
def test_checkthat_tweet_dump_reads_every_object_streaming():
    reader = PostReader(TWEETS)
    count, first = 0, None
    for record in reader:
        first = first or record
        assert record.accepted, record
        count += 1
    assert count == 4520
    assert first.post_id == "1359350943356174337" and first.text.startswith("India's gift of 100,000")
    done, total = reader.progress()
    assert total == TWEETS.stat().st_size and done == total


# -- rejected rows ---------------------------------------------------------------------------------
def test_every_unscorable_row_is_rejected_with_its_line_and_reason(tmp_path, write_jsonl):
    rows = [{"id": 1, "text": "Valid post 1."}, {"id": 2, "text": ""}, {"id": 3, "text": 42},
            {"id": 4, "text": None}, {"id": 5, "body": "no text field"}, {"id": 6, "text": "x" * 101},
            {"id": 7, "text": ["a", "list"]}, {"id": 8, "text": "   \n  "}]
    source = write_jsonl(tmp_path / "posts.jsonl",
                         rows + ['{"id": 9, "text": "broken', "", '["a", "list"]', '{"id": 12, "text": "Valid 12."}'])
    summary, scored, rejected = run(tmp_path, source, max_chars=100, chunk_size=3)
    assert [r["post_id"] for r in scored] == ["1", "12"]
    assert [(r["line"], r["reason"]) for r in rejected] == [
        (2, "text is empty"), (3, "text is int, not a string"), (4, "text is null"), (5, "no 'text' field"),
        (6, "text has 101 characters, over the limit of 100"), (7, "text is list, not a string"),
        (8, "text is empty"), (9, "not valid JSON (Unterminated string starting at column 19)"),
        (10, "blank line"), (11, "line is a JSON list, not an object"),
    ]
    assert rejected[0]["post_id"] == "2"
    assert summary.read == 12 == summary.scored + summary.rejected
    assert (summary.scored, summary.rejected) == (2, 10)


def test_an_invalid_utf8_jsonl_row_is_rejected_naming_its_id_where_the_id_is_intact(tmp_path):
    path = tmp_path / "posts.jsonl"
    path.write_bytes(b'{"id": "ok1", "text": "Fine 1."}\n'
                     b'{"id": "bad8", "text": "caf\xe9 2."}\n'  # the bad byte in the text only
                     b'{"id": "b\xe9d9", "text": "caf\xe9 3."}\n'  # in the id too
                     b'{"id": "bad10", "text": "cut \xe9\n'  # not JSON
                     b'{"id_str": "11", "full_text": "caf\xe9 4."}\n')
    summary, rows, rejected = run(tmp_path, path, "out.jsonl")
    assert [r["post_id"] for r in rows] == ["ok1"]
    assert [(r["line"], r["post_id"]) for r in rejected] == [(2, "bad8"), (3, None), (4, None), (5, "11")]
    assert all(r["reason"].startswith("invalid UTF-8 (byte 0xe9") for r in rejected)  # rejected as before
    assert (summary.scored, summary.rejected) == (1, 4)


def test_rows_repeating_an_earlier_id_or_without_one_are_scored_and_reported(tmp_path, write_jsonl):
    posts = [{"id": f"p{i}", "text": f"Post {i} says 3 things."} for i in range(1, 21)]
    posts[16]["id"] = "p1"  # line 17 repeats line 1's id
    posts[18]["id"] = "p1"
    posts[5]["text"] = ""  # rejected: not in the output, so its id repeats nothing there
    posts[6]["id"] = "p6"
    posts[9] = {"text": "No id at all, 10."}
    source = write_jsonl(tmp_path / "posts.jsonl", posts)
    summary, rows, _ = run(tmp_path, source, "out.jsonl", chunk_size=4)
    assert summary.read == 20 and len(rows) == 19  # every row kept, repeats and all
    assert [r["line"] for r in rows if r["post_id"] == "p1"] == [1, 17, 19]
    assert (summary.repeated_ids, summary.missing_ids) == (2, 1)
    assert summary.first_repeated_id == {"line": 17, "post_id": "p1", "first_line": 1}
    assert summary.id_warnings() == [
        "warning: 2 rows repeat an earlier row's id (first: line 17 repeats line 1's \"p1\"); "
        "post_id is not unique in the output",
        "warning: 1 row has no id (post_id null or empty in the output)"]
    meta = json.loads((tmp_path / "out.jsonl.meta.json").read_text())
    assert meta["post_ids"] == {"repeated": 2, "missing": 1,
                                "first_repeat": {"line": 17, "post_id": "p1", "first_line": 1}}

    csv_source = tmp_path / "posts.csv"  # an empty id cell is no id; the header is line 1
    csv_source.write_text("id,text\na,First 1.\n,Second 2.\na,Third 3.\nb,Fourth 4.\n", encoding="utf-8")
    summary, rows, _ = run(tmp_path, csv_source, "csv.parquet")
    assert [r["post_id"] for r in rows] == ["a", "", "a", "b"]
    assert (summary.repeated_ids, summary.missing_ids) == (1, 1)
    provenance = read_score_provenance(tmp_path / "csv.parquet")
    assert provenance is not None and provenance["post_ids"]["first_repeat"] == {"line": 4, "post_id": "a",
                                                                                 "first_line": 2}

    unique, _, _ = run(tmp_path, write_jsonl(tmp_path / "unique.jsonl", POSTS), "unique.jsonl")
    assert (unique.repeated_ids, unique.missing_ids, unique.id_warnings()) == (0, 0, [])


def test_cli_says_on_stderr_that_post_id_is_not_unique(tmp_path, write_jsonl, run_cli):
    source = write_jsonl(tmp_path / "posts.jsonl", POSTS + [{"id": "a1", "text": "Again 6."}, {"text": "No id 7."}])
    result = run_cli("score", source, "--store", tmp_path / "store", "--out", tmp_path / "o.jsonl", "--json",
                     "--no-progress", script=REPO / "tests" / "cli_fake_scorer.py")
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "warning: 1 row repeats an earlier row's id (first: line 6 repeats line 1's \"a1\"); "
        "post_id is not unique in the output",
        "warning: 1 row has no id (post_id null or empty in the output)"]
    summary = json.loads(result.stdout)
    assert (summary["read"], summary["scored"], summary["repeated_ids"], summary["missing_ids"]) == (7, 7, 1, 1)

def test_sample_posts_hold_claims_chatter_and_rows_to_reject(tmp_path):
    summary, rows, rejected = run(tmp_path, SAMPLE_POSTS, "out.jsonl", chunk_size=5)
    assert summary.read == sum(1 for _ in SAMPLE_POSTS.open()) and summary.rejected == 3
    assert rows[0]["text"].startswith("Breaking. NATO Secretary General Mark Rutte says")
    assert {r["reason"] for r in rejected} == {"text is empty", "text is int, not a string", "no 'text' field"}


# -- whole-file problems ---------------------------------------------------------------------------
@pytest.mark.parametrize("name, content, problem", [
    ("empty.jsonl", b"", "the file is empty"),
    ("blank.jsonl", b"\n\n  \n", "only whitespace"),
    ("fake.parquet", b'{"text": "not parquet"}\n', "not a Parquet file"),
    ("really_parquet.jsonl", None, "Parquet file, not JSONL"),
    ("not_gzip.jsonl.gz", b'{"text": "plain"}\n', "not gzip-compressed"),
    ("damaged.jsonl.gz", b"\x1f\x8b\x08\x00garbage-after-a-gzip-header", "cannot read the file"),
    ("binary.jsonl", b"\x00\x01\x02garbage\x00" * 10, "binary data"),
    ("csv_named.jsonl", b"id,text\n1,hello\n2,world\n", "not JSONL"),
    ("no_text.csv", b"id,body\n1,hello\n", "no 'text' column (columns: id, body)"),
    ("header_only.csv", b"id,text\n", "no posts in the file"),
    ("posts.xlsx", b"PK\x03\x04", "unknown input format"),
])
def test_a_bad_file_is_a_clear_error_naming_the_file(tmp_path, name, content, problem):
    path = tmp_path / name
    if content is None:
        pq.write_table(pa.Table.from_pylist(POSTS), path)
    else:
        path.write_bytes(content)
    with pytest.raises(InputError) as error:
        score_file(path, tmp_path / "out.parquet", KeywordScorer(), progress=False)
    assert problem in str(error.value) and name in str(error.value)
    assert not (tmp_path / "out.parquet.parts").exists(), "no checkpoint for a file that cannot be read"


@pytest.mark.parametrize("name", ["posts.jsonl", "posts.csv", "posts.parquet"])
def test_a_misspelled_id_column_is_refused_naming_the_columns(tmp_path, name):
    # --id-column postid (for post_id) made every post_id null, with no word of it
    path = tmp_path / name
    frame = pd.DataFrame({"post_id": ["a1", "a2"], "text": ["NATO expels the US.", "Another post."]})
    if name.endswith(".jsonl"):
        path.write_text(frame.to_json(orient="records", lines=True), encoding="utf-8")
    elif name.endswith(".csv"):
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path)
    with pytest.raises(InputError) as error:
        list(PostReader(path, id_column="postid"))
    assert name in str(error.value) and "no 'postid' column" in str(error.value)
    assert "post_id, text" in str(error.value) and "\n" not in str(error.value)
    assert [r.post_id for r in PostReader(path, id_column="post_id")] == ["a1", "a2"]
    assert [r.post_id for r in PostReader(path)] == [None, None]  # the default id column is optional


def test_a_csv_header_naming_a_column_twice_is_refused(tmp_path):
    # score read the first `text` column and ingest the last: the same file meant two things
    path = tmp_path / "posts.csv"
    path.write_text("id,text,text\n1,first,second\n", encoding="utf-8")
    with pytest.raises(InputError) as error:
        list(PostReader(path))
    assert "posts.csv" in str(error.value) and "the column 'text' appears twice in the header" in str(error.value)
    path.write_text("id,text,id\n1,first,2\n", encoding="utf-8")
    with pytest.raises(InputError, match="the column 'id' appears twice"):
        list(PostReader(path))
    # a repeated column score never reads was refused too, losing a file that was read fine before
    path.write_text("id,text,note,note\n1,first,a,b\n", encoding="utf-8")
    assert [(r.post_id, r.text) for r in PostReader(path)] == [("1", "first")]


def test_an_unclosed_quote_in_a_csv_is_rejected_naming_the_lines_it_swallowed(tmp_path):
    path = tmp_path / "posts.csv"
    path.write_text('id,text\n1,"Unclosed quote\n2,row two\n3,row three\n', encoding="utf-8")
    rows = list(PostReader(path))
    assert len(rows) == 1 and rows[0].line == 2 and not rows[0].accepted
    assert "not closed by the end of the file: lines 2-4 were read as this one record" in str(rows[0].reason)


def test_a_quote_error_in_a_csv_names_every_line_its_record_took_in(tmp_path):
    # the record of an opened quote took line 3 in and failed there: line 3 was lost without a word
    path = tmp_path / "posts.csv"
    path.write_text('id,text\n1,"Vaccines cause autism\n2,Rutte said "yes" today\n3,NATO was founded in 1949.\n',
                    encoding="utf-8")
    rows = [(r.line, r.text, r.reason) for r in PostReader(path)]
    assert rows[1:] == [(4, "NATO was founded in 1949.", None)]
    assert rows[0][0] == 2 and "lines 2-3 were read as this one record, not as rows" in str(rows[0][2])


def test_a_tsv_is_read_plain_or_csv_quoted_and_never_loses_a_row(tmp_path):
    # CSV quoting took a plain TSV's `"Fake news" is…` as an opened quote: rejected, and the rows after
    # such a tweet read into it and lost silently. Plain lines are read plain; CheckThat! 2020's quoted
    # fields (doubled quotes, a field over two lines) still read as quoted.
    path = tmp_path / "posts.tsv"
    path.write_text('id\ttext\n'
                    '1\tHe said "no" to it\n'
                    '2\t"Fake news" is what Trump called the report\n'
                    '3\t"Vaccines cause autism, says a viral post\n'
                    '4\tRutte said "yes" to 2% of GDP\n'
                    '5\tJust 12" of snow, said the "forecast\n'
                    '6\t"Folks, when you say ""The virus isn\'t a big deal"", think again"\n'
                    '7\t"A quoted field\nover two lines"\n'
                    '8\tSweden joined NATO in 2024.\n', encoding="utf-8")
    rows = [(r.line, r.post_id, r.text, r.reason) for r in PostReader(path)]
    assert rows == [(2, "1", 'He said "no" to it', None),
                    (3, "2", '"Fake news" is what Trump called the report', None),
                    (4, "3", '"Vaccines cause autism, says a viral post', None),
                    (5, "4", 'Rutte said "yes" to 2% of GDP', None),
                    (6, "5", 'Just 12" of snow, said the "forecast', None),
                    (7, "6", 'Folks, when you say "The virus isn\'t a big deal", think again', None),
                    (8, "7", "A quoted field\nover two lines", None),
                    (10, "8", "Sweden joined NATO in 2024.", None)]


def test_a_plain_tsv_quote_never_takes_in_rows_across_a_blank_line_a_short_line_or_one_column(tmp_path):
    # the quote opened on row 2 closed at row 3's `55"`: the blank line between (no fields) kept the
    # record quoted, and row 3 was lost inside row 2 silently
    path = tmp_path / "posts.tsv"
    path.write_text('id\ttext\tlabel\n2\t"Vaccines cause autism, claims a post\t1\n\n3\tMy new TV is 55"\t0\n',
                    encoding="utf-8")
    rows = [(r.line, r.post_id, r.text, r.reason) for r in PostReader(path)]
    assert rows == [(2, "2", '"Vaccines cause autism, claims a post', None), (3, None, None, "blank line"),
                    (4, "3", 'My new TV is 55"', None)]
    # a row short of tabs that opens a quote: it is named as short, the row after it read as its own
    path.write_text('id\ttext\tlabel\n2\t"Vaccines cause autism\n3\tMy new TV is 55"\t0\n', encoding="utf-8")
    rows = [(r.line, r.post_id, r.text, r.reason) for r in PostReader(path)]
    assert rows == [(2, "2", None, "record has 2 fields, the header has 3"), (3, "3", 'My new TV is 55"', None)]
    # one column: every line has the header's width, so the header's width cannot tell; a quote CSV quoting
    # does not allow (`He said "no"`, before or after) shows the file plain, and no row is taken into another's
    # text. (With no such quote the file reads as a quoted field over lines, as pandas reads it:
    # test_a_one_column_tsv_keeps_a_quoted_field_over_lines_as_one_row.)
    for rows in ([2, 3, 4], [3, 4, 2]):
        lines = {2: 'He said "no" to it', 3: '"Vaccines cause autism', 4: 'My new TV is 55"'}
        path.write_text("text\n" + "".join(lines[i] + "\n" for i in rows), encoding="utf-8")
        assert [(r.line, r.text) for r in PostReader(path, id_column="id")] == [
            (line, lines[i]) for line, i in enumerate(rows, start=2)]
    # a 2020-style field over lines, a blank line inside it, still reads as one quoted field
    path.write_text('id\ttext\tlabel\n1\t"a\n\nb"\t0\n2\tc\t1\n', encoding="utf-8")
    assert [(r.line, r.text) for r in PostReader(path)] == [(2, "a\n\nb"), (5, "c")]


@pytest.mark.parametrize("suffix", [".tsv", ".csv"])
def test_a_one_column_tsv_keeps_a_quoted_field_over_lines_as_one_row(tmp_path, suffix):
    # A one-column TSV was read plain whenever a quoted record spanned lines (every line has the
    # header's one field): a post over two lines, as pandas writes it, became two posts.
    texts = ["first line\nsecond line", 'He said "no" to it', "plain post", "a\n\nblank line inside", "last"]
    path = tmp_path / f"posts{suffix}"
    pd.DataFrame({"text": texts}).to_csv(path, sep="\t" if suffix == ".tsv" else ",", index=False)
    assert '"first line\nsecond line"' in path.read_text(encoding="utf-8")
    records = list(PostReader(path))
    assert [(r.line, r.text, r.reason) for r in records] == [
        (2, texts[0], None), (4, texts[1], None), (5, texts[2], None), (6, texts[3], None), (9, texts[4], None)]
    assert [r.text for r in records] == pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",")["text"].tolist()

    # Nothing else in the file to tell: read quoted too (the csv module and pandas read it so).
    path.write_text('text\n"a\nb"\n', encoding="utf-8")
    assert [(r.line, r.text) for r in PostReader(path)] == [(2, "a\nb")]

    # Bad rows are still named by their line, with the problem.
    path.write_text('text\n"a\nb"\n\n' + "x" * 50 + "\n", encoding="utf-8")
    assert [(r.line, r.text, r.reason) for r in PostReader(path, max_chars=20)] == [
        (2, "a\nb", None), (4, None, "blank line"), (5, None, "text has 50 characters, over the limit of 20")]


def test_a_one_column_tsv_that_shows_it_is_plain_after_its_first_lines_reads_plain_from_there(tmp_path):
    # The first 1,000 lines decide; a quote CSV quoting does not allow, later, switches to plain for the rest.
    lines = [f"post {i}" for i in range(1, 1200)] + ['He said "no" to it', '"Vaccines cause autism', 'My new TV is 55"']
    path = tmp_path / "posts.tsv"
    path.write_text("text\n" + "".join(line + "\n" for line in lines), encoding="utf-8")
    assert [r.text for r in PostReader(path)] == lines


@pytest.mark.skipif(not DATASETS.is_dir(), reason=f"shared datasets absent: {DATASETS}")
def test_checkthat_tsvs_quoted_and_plain_read_as_pandas_reads_them():
    for rel, column in (("checkthat2020-task1-tweets/training_v2.tsv", "tweet_text"),  # quoted, "" inside
                        ("checkthat2020-task2-claim-retrieval/verified_claims.docs.tsv", "vclaim"),  # fields over lines
                        ("checkthat2022-task1-tweets/CT22_english_1B_claim_train.tsv", "tweet_text")):  # plain
        expected = pd.read_csv(DATASETS / rel, sep="\t", dtype=str, keep_default_na=False)[column].tolist()
        records = list(PostReader(DATASETS / rel, text_column=column, max_chars=100_000))
        assert [r.text for r in records] == expected and all(r.accepted for r in records), rel


def test_damaged_parquet_data_is_a_clear_error_naming_the_row(tmp_path):
    path = tmp_path / "posts.parquet"
    pq.write_table(pa.Table.from_pylist(POSTS), path, row_group_size=2)
    offset = pq.ParquetFile(path).metadata.row_group(1).column(0).data_page_offset
    damaged = bytearray(path.read_bytes())
    damaged[offset:offset + 16] = b"\xff" * 16  # the second row group's page header: footer intact
    path.write_bytes(bytes(damaged))
    rows = []
    with pytest.raises(InputError) as error:
        rows.extend(PostReader(path, batch_rows=2))
    assert [r.line for r in rows] == [1, 2]
    assert error.value.row == 3 and "posts.parquet, row 3: damaged Parquet data" in str(error.value)
    assert "\n" not in str(error.value)


def test_missing_input_and_bad_output_name_are_clear_errors(tmp_path, write_jsonl):
    with pytest.raises(InputError, match="no such file"):
        score_file(tmp_path / "nope.jsonl", tmp_path / "out.parquet", KeywordScorer(), progress=False)
    source = write_jsonl(tmp_path / "posts.jsonl", POSTS)
    with pytest.raises(UserError, match=r"must end in \.parquet or \.jsonl"):
        score_file(source, tmp_path / "out.csv", KeywordScorer(), progress=False)
    (tmp_path / "a_file").write_text("")
    with pytest.raises(UserError, match="not a folder"):
        score_file(source, tmp_path / "a_file" / "out.parquet", KeywordScorer(), progress=False)
    (tmp_path / "a_folder.jsonl").mkdir()
    with pytest.raises(UserError, match=r"a_folder\.jsonl: is a folder, not a file"):
        score_file(source, tmp_path / "a_folder.jsonl", KeywordScorer(), progress=False)
    assert not (tmp_path / "a_folder.jsonl.parts").exists(), "refused before anything is scored"
    summary = score_file(source, tmp_path / "new" / "folder" / "out.parquet", KeywordScorer(), progress=False)
    assert summary.scored == 5 and (tmp_path / "new" / "folder" / "out.parquet").is_file()


def test_missing_store_is_a_clear_error_before_any_model_loads(tmp_path, monkeypatch, write_jsonl):
    source = write_jsonl(tmp_path / "posts.jsonl", POSTS)
    scorer = ModelScorer(tmp_path / "no-store")
    monkeypatch.setattr(ModelScorer, "warm_up", lambda self: pytest.fail("models loaded before the store was checked"))
    with pytest.raises(UserError, match="no corpus store here; build one with `claimsift ingest DOCUMENTS --store "):
        score_file(source, tmp_path / "out.parquet", scorer, progress=False)


def test_missing_model_is_a_clear_error_naming_the_training_command(tmp_path, write_jsonl):
    from pipeline.corpus.store import DB_NAME

    store = tmp_path / "store"
    store.mkdir()
    (store / DB_NAME).write_bytes(b"")  # only its presence matters before models load
    scorer = ModelScorer(store, models_dir=tmp_path / "no-models")
    with pytest.raises(UserError, match=r"no model 'checkworthy' .*; train it with `claimsift train checkworthy`"):
        score_file(write_jsonl(tmp_path / "posts.jsonl", POSTS), tmp_path / "out.parquet", scorer, progress=False)


@pytest.mark.slow
def test_cli_missing_store_prints_one_line_and_exits_2(tmp_path, write_jsonl):
    source = write_jsonl(tmp_path / "posts.jsonl", POSTS)
    result = subprocess.run([str(REPO / ".venv" / "bin" / "claimsift"), "score", str(source),
                             "--store", str(tmp_path / "no-store"), "--out", str(tmp_path / "o.parquet")],
                            capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "no corpus store" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("top_k", ["0", "-3", "51"])
def test_cli_top_k_out_of_range_is_refused(tmp_path, write_jsonl, run_cli, top_k):
    # --top-k 0 once scored every claim NOT_ENOUGH_INFO on no evidence, exit 0
    source = write_jsonl(tmp_path / "posts.jsonl", POSTS)
    result = run_cli("score", source, "--store", tmp_path / "store", "--out", tmp_path / "o.jsonl", "--top-k", top_k,
                     script=REPO / "tests" / "cli_fake_scorer.py")
    assert result.returncode == 2 and "--top-k" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "o.jsonl").exists()


def test_a_missing_stance_model_the_verdict_model_was_fitted_on_names_the_folder_to_copy(tmp_path, write_jsonl):
    # "train it with `claimsift train stance`" registered another stance model, which the verdict
    # model does not read
    from pipeline.corpus.store import DB_NAME

    store = tmp_path / "store"
    store.mkdir()
    (store / DB_NAME).write_bytes(b"")
    models = tmp_path / "models"
    cards = {"checkworthy/v1": {}, "stance/v6": {}, "verdict/v8": {"stance_model": {"model": "stance", "version": "v5"}}}
    for folder, card in cards.items():
        (models / folder).mkdir(parents=True)
        (models / folder / "card.json").write_text(json.dumps(card))
        (models / folder).parent.joinpath("CURRENT").write_text(Path(folder).name + "\n")
    scorer = ModelScorer(store, models_dir=models)
    with pytest.raises(UserError) as error:
        score_file(write_jsonl(tmp_path / "posts.jsonl", POSTS), tmp_path / "out.parquet", scorer, progress=False)
    message = str(error.value)
    assert "verdict@v8 was fitted on stance@v5" in message and f"{models / 'stance' / 'v5'}/" in message
    assert "claimsift train" not in message


def _models_to_promote(tmp_path: Path) -> Path:
    """A copy of the shipped models folder: the verdict and stance models whole (promoting checks
    their files), the others' cards only (enough to resolve them)."""
    import shutil

    models = tmp_path / "models"
    for name in ("verdict", "stance"):
        shutil.copytree(REPO / "models" / name, models / name)
    for name in ("checkworthy", "stance-embed", "query-adapter"):
        shutil.copytree(REPO / "models" / name, models / name, ignore=_all_but_cards)
    return models


def _all_but_cards(folder: str, names: list[str]) -> list[str]:
    """``shutil.copytree``'s ``ignore``: a registry's cards and CURRENT files only (enough to resolve and pin)."""
    return [n for n in names if (Path(folder) / n).is_file() and n not in ("card.json", "CURRENT", "HISTORY.jsonl")]


def _empty_store(tmp_path: Path) -> Path:
    from pipeline.corpus.store import DB_NAME

    store = tmp_path / "store"
    store.mkdir()
    (store / DB_NAME).write_bytes(b"")  # only its presence matters before models load
    return store


def _another_verdict_model(models: Path, fitted: str) -> str:
    """A verdict model fitted on another stance model than ``fitted``: promoting it moves both."""
    from pipeline.registry.registry import Registry
    from pipeline.verdict.aggregator import fitted_stance_spec

    return next(f"verdict@{v}" for v in Registry(models).versions("verdict")
                if fitted_stance_spec(f"verdict@{v}", models) not in (None, fitted))


def test_a_promotion_during_the_job_changes_neither_what_a_worker_loads_nor_the_fingerprint(tmp_path, monkeypatch):
    # Each Dask worker resolved CURRENT when it warmed up: a `models promote` during a long job, or a
    # worker joining later, gave one output the verdicts of two models under one fingerprint.

    import pipeline.scoring.models as scoring_models
    from pipeline.registry.registry import Registry
    from pipeline.verdict.aggregator import fitted_stance_spec

    models = _models_to_promote(tmp_path)
    registry = Registry(models)
    verdict = f"verdict@{registry.current_version('verdict')}"
    fitted = fitted_stance_spec(verdict, models)
    scorer = ModelScorer(_empty_store(tmp_path), models_dir=models)
    scorer.check_ready()  # where the job starts, before the scorer is shipped
    fingerprint = scorer.fingerprint()
    pinned = fingerprint["models"]
    assert (pinned["verdict"], pinned["stance"]) == (verdict, fitted)
    assert pinned["checkworthy"] == f"checkworthy@{registry.current_version('checkworthy')}"

    other = _another_verdict_model(models, fitted)
    registry.promote(other)
    registry.promote(next(f"stance@{v}" for v in registry.versions("stance") if f"stance@{v}" != fitted))
    shipped = as_shipped(scorer)  # what a worker receives, and warms up after the promotions
    assert shipped.fingerprint() == fingerprint
    loaded: dict[str, dict] = {}

    def recording(role: str) -> type:
        class Model:
            def __init__(self, *args, **options) -> None:
                loaded[role] = {"args": args, **options}

            def warm_up(self) -> None:
                pass
        return Model

    monkeypatch.setattr(scoring_models, "Encoder", lambda backend: None)
    monkeypatch.setattr(scoring_models, "CheckworthyModel", recording("checkworthy"))
    monkeypatch.setattr(scoring_models, "Checker", recording("checker"))
    shipped.warm_up()
    assert loaded["checkworthy"]["args"] == (pinned["checkworthy"],)
    assert (loaded["checker"]["verdict_spec"], loaded["checker"]["stance_spec"]) == (verdict, fitted)
    assert loaded["checker"]["matcher_spec"] == pinned["matcher"]
    # A job started now reads the promoted models, so it is not a resume of this one's checkpoint.
    later = ModelScorer(tmp_path / "store", models_dir=models).fingerprint()["models"]
    assert later["verdict"] == other and later["stance"] == fitted_stance_spec(other, models) != fitted


@pytest.mark.slow
def test_a_shipped_scorer_loads_the_pinned_models_after_a_promotion(seed_store, tmp_path):
    import shutil

    from pipeline.registry.registry import Registry

    models = tmp_path / "models"
    shutil.copytree(REPO / "models", models)
    scorer = ModelScorer(seed_store, models_dir=models, fact_checks=False)
    scorer.check_ready()
    fingerprint = scorer.fingerprint()
    pinned = fingerprint["models"]
    Registry(models).promote(_another_verdict_model(models, pinned["stance"]))
    shipped = as_shipped(scorer)
    shipped.warm_up()
    assert shipped._models is not None
    detector, checker = shipped._models
    stance = checker.stance_models["stance"]
    assert (detector.label, checker.verdict_model, f"{stance['model']}@{stance['version']}") == \
        (pinned["checkworthy"], pinned["verdict"], pinned["stance"])
    assert shipped.fingerprint() == fingerprint


def test_a_checkpoint_is_not_resumed_once_another_verdict_model_is_promoted(tmp_path, write_jsonl):
    from pipeline.registry.registry import Registry
    from pipeline.verdict.aggregator import fitted_stance_spec

    models = _models_to_promote(tmp_path)
    store, source, out = _empty_store(tmp_path), write_jsonl(tmp_path / "posts.jsonl", POSTS), tmp_path / "out.jsonl"
    first = PinnedKeywordScorer(store, models_dir=models)
    first.fail_on_chunk = 2
    with pytest.raises(RuntimeError, match="killed"):
        score_file(source, out, first, chunk_size=2, progress=False)
    registry = Registry(models)
    current = f"verdict@{registry.current_version('verdict')}"
    registry.promote(_another_verdict_model(models, str(fitted_stance_spec(current, models))))
    with pytest.raises(UserError, match=rf"differs from the checkpoint \(scorer: was .*'verdict': '{current}'"):
        score_file(source, out, PinnedKeywordScorer(store, models_dir=models), chunk_size=2, progress=False,
                   resume=True)
    registry.promote(current)  # the models it was started with: it resumes
    summary = score_file(source, out, PinnedKeywordScorer(store, models_dir=models), chunk_size=2,
                         progress=False, resume=True)
    assert summary.resumed_chunks == 1 and summary.scored == len(POSTS)


def test_a_stance_model_the_verdict_model_was_not_fitted_on_is_used_with_one_warning(tmp_path, capsys):
    from pipeline.registry.registry import Registry
    from pipeline.verdict.aggregator import fitted_stance_spec

    models = _models_to_promote(tmp_path)
    verdict = f"verdict@{Registry(models).current_version('verdict')}"
    fitted = fitted_stance_spec(verdict, models)
    other = next(f"stance@{v}" for v in Registry(models).versions("stance") if f"stance@{v}" != fitted)
    store = _empty_store(tmp_path)
    scorer = ModelScorer(store, models_dir=models, stance_spec=other)
    scorer.check_ready()
    assert scorer.fingerprint()["models"]["stance"] == other  # a deliberate experiment: not refused
    warnings = capsys.readouterr().err.splitlines()
    assert warnings == [f"warning: {verdict} was fitted on {fitted}'s stance probabilities; reading with {other} "
                        "instead gives its weights another model's probabilities (verdicts may be worse than measured)"]
    ModelScorer(store, models_dir=models, stance_spec=fitted).check_ready()
    assert capsys.readouterr().err == ""  # the stance model it was fitted on, named: nothing to say


def test_cli_stance_model_reaches_the_checker_is_pinned_and_recorded_in_the_manifest(tmp_path, write_jsonl,
                                                                                   invoke_cli, monkeypatch):
    # `check --stance-model` existed; `score` had no such option, so a batch could not be scored with the
    # stance model a person had just checked claims with.
    import shutil

    import pipeline.scoring.models as scoring_models
    from pipeline.core.errors import UserError
    from pipeline.registry.registry import Registry
    from pipeline.verdict.aggregator import fitted_stance_spec

    models = tmp_path / "models"
    shutil.copytree(REPO / "models", models, ignore=_all_but_cards)  # pinning reads cards only
    verdict = f"verdict@{Registry(models).current_version('verdict')}"
    fitted = fitted_stance_spec(verdict, models)
    other = next(f"stance@{v}" for v in Registry(models).versions("stance") if f"stance@{v}" != fitted)
    given: list[dict] = []

    class Stub:
        def __init__(self, *args, **options) -> None:
            self.options = options

        def warm_up(self) -> None:
            pass

    class CheckerStub(Stub):
        def warm_up(self) -> None:
            given.append(self.options)

    class Scorer(PinnedKeywordScorer):  # the real pinning and warm_up, the keyword scorer's scores
        fail_on_chunk = 2  # a crash mid-run keeps the checkpoint, and its manifest, to read and resume

        def __init__(self, *args, **options) -> None:
            super().__init__(*args, models_dir=models, **options)

        def score_posts(self, texts):
            self.warm_up()  # builds the Checker, as ModelScorer.score_posts does
            return super().score_posts(texts)

    monkeypatch.setattr(scoring_models, "ModelScorer", Scorer)  # what `claimsift score` builds
    monkeypatch.setattr(scoring_models, "Encoder", lambda backend: None)
    monkeypatch.setattr(scoring_models, "CheckworthyModel", Stub)
    monkeypatch.setattr(scoring_models, "Checker", CheckerStub)
    source, out = write_jsonl(tmp_path / "posts.jsonl", POSTS), tmp_path / "out.jsonl"
    command = ("score", source, "--store", _empty_store(tmp_path), "--out", out, "--batch-size", 2, "--no-progress")

    crashed = invoke_cli(*command, "--stance-model", other)
    assert isinstance(crashed.exception, RuntimeError) and str(crashed.exception) == "killed"
    assert [(g["stance_spec"], g["verdict_spec"]) for g in given] == [(other, verdict)]
    warning = (f"warning: {verdict} was fitted on {fitted}'s stance probabilities; reading with {other} instead")
    assert crashed.stderr.count(warning) == 1  # said once, where the job starts
    manifest = json.loads((tmp_path / "out.jsonl.parts" / "manifest.json").read_text())
    assert manifest["config"]["scorer"]["models"]["stance"] == other
    assert manifest["config"]["scorer"]["models"]["verdict"] == verdict

    # The stance model recorded is the job's: resuming with another one (here the default) is refused.
    refused = invoke_cli(*command, "--resume")
    assert isinstance(refused.exception, UserError) and "what changed: scorer.models.stance" in str(refused.exception)
    Scorer.fail_on_chunk = None
    resumed = invoke_cli(*command, "--resume", "--stance-model", other)
    assert resumed.exit_code == 0, resumed.output
    assert [g["stance_spec"] for g in given] == [other, other]
    assert len(list(iter_output(out))) == len(POSTS)


@pytest.mark.parametrize("name, said", [("no-such-stance", "no model 'no-such-stance' under "),
                                         (" ", "--stance-model needs a registry name")])
def test_cli_an_unknown_stance_model_is_one_line_of_error_before_anything_is_written(tmp_path, write_jsonl,
                                                                                    run_cli, name, said):
    source, out = write_jsonl(tmp_path / "posts.jsonl", POSTS), tmp_path / "o.jsonl"
    result = run_cli("score", source, "--store", _empty_store(tmp_path), "--out", out, "--stance-model", name)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"error: {said}") and result.stderr.strip().count("\n") == 0
    assert "Traceback" not in result.stderr
    assert not out.exists() and not (tmp_path / "o.jsonl.parts").exists()


@pytest.mark.slow
def test_model_scorer_is_cheap_to_pickle_before_and_after_warm_up(seed_store):
    scorer = ModelScorer(seed_store, top_k=3)
    assert pickled_size(scorer) < 5_000
    scorer.warm_up()
    assert pickled_size(scorer) < 5_000  # the models (hundreds of MB) stay behind
    assert as_shipped(scorer).top_k == 3


# -- checkpoints without --resume, write errors -----------------------------------------------------
def test_a_second_run_on_the_same_output_is_refused_while_the_first_runs(tmp_path, write_jsonl):
    import fcntl

    source = write_jsonl(tmp_path / "posts.jsonl", POSTS)
    out = tmp_path / "out.jsonl"
    with open(tmp_path / ".out.jsonl.lock", "a") as first_run:  # as a running `score` holds it
        fcntl.flock(first_run, fcntl.LOCK_EX | fcntl.LOCK_NB)
        for resume in (False, True):  # --resume once deleted the running job's temporary files
            with pytest.raises(UserError, match="another claimsift score is writing this output"):
                score_file(source, out, KeywordScorer(), chunk_size=2, resume=resume, progress=False)
        assert not (tmp_path / "out.jsonl.parts").exists()
    assert score_file(source, out, KeywordScorer(), chunk_size=2, progress=False).scored == 5


def deny_writing(monkeypatch, path: Path, deny_all: bool = False) -> None:
    """``path`` as another user's 0644 file is to us (tests run as root, which the mode would not stop)."""
    import builtins

    real_open, real_os_open = builtins.open, os.open

    def guarded_open(file, mode="r", *args, **kwargs):
        if Path(str(file)) == path and (deny_all or set(mode) & set("wax+")):
            raise PermissionError(errno.EACCES, "Permission denied", str(file))
        return real_open(file, mode, *args, **kwargs)

    def guarded_os_open(file, flags, *args, **kwargs):
        if Path(str(file)) == path and (deny_all or flags & (os.O_WRONLY | os.O_RDWR)):
            raise PermissionError(errno.EACCES, "Permission denied", str(file))
        return real_os_open(file, flags, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded_open)
    monkeypatch.setattr(os, "open", guarded_os_open)


def test_another_users_lock_file_beside_the_output_does_not_stop_a_run(tmp_path, monkeypatch, write_jsonl):
    source = write_jsonl(tmp_path / "posts.jsonl", POSTS)
    out = tmp_path / "out.jsonl"
    lock = tmp_path / ".out.jsonl.lock"
    lock.touch()  # left by the first user's run: flock needs only to read it
    deny_writing(monkeypatch, lock)
    assert score_file(source, out, KeywordScorer(), chunk_size=2, progress=False).scored == 5


def test_a_lock_file_that_cannot_be_opened_is_named_without_a_resume_hint(tmp_path, monkeypatch, write_jsonl):
    source = write_jsonl(tmp_path / "posts.jsonl", POSTS)
    lock = tmp_path / ".out.jsonl.lock"
    deny_writing(monkeypatch, lock, deny_all=True)
    with pytest.raises(UserError, match="cannot open the lock file") as error:
        score_file(source, tmp_path / "out.jsonl", KeywordScorer(), chunk_size=2, progress=False)
    assert "--resume" not in str(error.value)


def test_a_partial_run_is_refused_without_resume(tmp_path, monkeypatch, write_jsonl):
    source = write_jsonl(tmp_path / "posts.jsonl", POSTS)
    real_commit = checkpoint_module.Checkpoint.commit_chunk
    calls = []

    def failing_commit(self, index, *args, **kwargs):
        calls.append(index)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(self.part_paths(index)[0]))
        return real_commit(self, index, *args, **kwargs)

    monkeypatch.setattr(checkpoint_module.Checkpoint, "commit_chunk", failing_commit)
    with pytest.raises(UserError) as error:
        score_file(source, tmp_path / "out.parquet", KeywordScorer(), chunk_size=2, progress=False)
    message = str(error.value)
    assert "No space left on device" in message and "1 finished chunk" in message and "--resume" in message
    monkeypatch.setattr(checkpoint_module.Checkpoint, "commit_chunk", real_commit)
    assert not (tmp_path / "out.parquet").exists()
    with pytest.raises(UserError, match="holds a partial run .* rerun with --resume .* or delete"):
        score_file(source, tmp_path / "out.parquet", KeywordScorer(), chunk_size=2, progress=False)
    summary = score_file(source, tmp_path / "out.parquet", KeywordScorer(), chunk_size=2, progress=False,
                         resume=True)
    assert (summary.resumed_chunks, summary.read, summary.scored) == (1, 5, 5)
    _, reference, _ = run(tmp_path, source, "ref.parquet", chunk_size=2)
    assert list(iter_output(tmp_path / "out.parquet")) == reference


def test_a_partial_run_written_with_other_row_fields_is_not_resumed_into_one_output(tmp_path, monkeypatch,
                                                                                   write_jsonl):
    source = write_jsonl(tmp_path / "posts.jsonl", POSTS)
    real_commit = checkpoint_module.Checkpoint.commit_chunk

    def failing_commit(self, index, *args, **kwargs):
        if index == 1:
            raise OSError(errno.ENOSPC, "No space left on device", str(self.part_paths(index)[0]))
        return real_commit(self, index, *args, **kwargs)

    monkeypatch.setattr(checkpoint_module.Checkpoint, "commit_chunk", failing_commit)
    with pytest.raises(UserError):
        score_file(source, tmp_path / "out.parquet", KeywordScorer(), chunk_size=2, progress=False)
    monkeypatch.setattr(checkpoint_module.Checkpoint, "commit_chunk", real_commit)
    # The parts of a claimsift whose rows had other fields (no ``row_fields`` recorded then).
    manifest_path = tmp_path / "out.parquet.parts" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    del manifest["config"]["row_fields"]
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(UserError, match=r"cannot resume .*: the checkpoint was written by another version of "
                                        r"claimsift \(its output rows have other fields\).* delete"):
        score_file(source, tmp_path / "out.parquet", KeywordScorer(), chunk_size=2, progress=False, resume=True)
    assert not (tmp_path / "out.parquet").exists()


def test_disk_full_while_writing_a_part_leaves_no_torn_file_and_keeps_the_checkpoint(tmp_path, monkeypatch, write_jsonl):
    source = write_jsonl(tmp_path / "posts.jsonl", POSTS)
    real_write = pq.write_table
    writes = []

    def disk_full_on_third(table, where, **kwargs):
        writes.append(where)
        if len(writes) == 3:
            Path(where).write_bytes(b"half a part")  # what a full disk leaves behind
            raise OSError(errno.ENOSPC, "No space left on device", str(where))
        return real_write(table, where, **kwargs)

    monkeypatch.setattr(pq, "write_table", disk_full_on_third)
    with pytest.raises(UserError, match="No space left on device.*keeps 2 finished chunk"):
        score_file(source, tmp_path / "out.parquet", KeywordScorer(), chunk_size=2, progress=False)
    parts = tmp_path / "out.parquet.parts"
    assert sorted(p.name for p in parts.iterdir()) == [
        "done.jsonl", "manifest.json", "part-000000.parquet", "part-000000.rejected.jsonl",
        "part-000001.parquet", "part-000001.rejected.jsonl", "part-000002.rejected.jsonl"]
    assert len((parts / "done.jsonl").read_text().splitlines()) == 2


def test_permission_error_on_the_output_is_a_clear_error(tmp_path, monkeypatch, write_jsonl):
    source = write_jsonl(tmp_path / "posts.jsonl", POSTS)

    real_mkdir = Path.mkdir

    def denied(path, *args, **kwargs):
        if path.name.endswith(".parts"):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_mkdir(path, *args, **kwargs)

    # Tests may run as root, where chmod does not deny anything: deny the folder creation itself.
    monkeypatch.setattr(Path, "mkdir", denied)
    with pytest.raises(UserError, match=r"cannot write .*out\.parquet\.parts: Permission denied"):
        score_file(source, tmp_path / "out.parquet", KeywordScorer(), progress=False)


def test_a_failure_while_assembling_keeps_the_parts_for_resume(tmp_path, monkeypatch, write_jsonl):
    source = write_jsonl(tmp_path / "posts.jsonl", POSTS)
    out = tmp_path / "out.parquet"
    real_replace = os.replace

    def fail_on_output(src, dst):
        if Path(dst) == out:
            raise OSError(errno.EIO, "Input/output error", str(dst))
        return real_replace(src, dst)

    monkeypatch.setattr(checkpoint_module.os, "replace", fail_on_output)
    with pytest.raises(UserError, match="Input/output error.*keeps 3 finished chunk"):
        score_file(source, out, KeywordScorer(), chunk_size=2, progress=False)
    monkeypatch.setattr(checkpoint_module.os, "replace", real_replace)
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    summary = score_file(source, out, KeywordScorer(), chunk_size=2, progress=False, resume=True)
    assert summary.resumed_chunks == 3 and summary.scored_this_run == 0 and summary.scored == 5


# -- notebooks ---------------------------------------------------------------------------------------
def test_score_frame_returns_one_row_per_input_row_with_the_same_index():
    df = pd.DataFrame({"id": ["x", "y", "z", None], "text": ["NATO has 32 members.", "", None, "Hello"]},
                      index=[10, 11, 12, 13])
    scored = score_frame(df, scorer=KeywordScorer(), chunk_size=2)
    assert list(scored.index) == [10, 11, 12, 13]
    assert scored["post_id"].tolist()[:3] == ["x", "y", "z"] and pd.isna(scored.loc[13, "post_id"])
    assert scored.loc[10, "n_claims"] == 1 and scored.loc[10, "claims"][0]["text"] == "NATO has 32 members."
    assert scored["rejected"].tolist()[1:3] == ["text is empty", "text is null"]
    assert scored["rejected"].isna().tolist() == [True, False, False, True]
    assert scored.loc[13, "n_claims"] == 0
    # The domain that read each post is shown as in the file output (its scores' scale depends on it).
    assert scored.columns.tolist() == ["post_id", "checkworthiness", "checkworthy_domain", "n_claims", "claims",
                                       "rejected"]
    with pytest.raises(UserError, match="unknown domain 'tweets'"):
        score_frame(df, domain="tweets")
    with pytest.raises(UserError, match="top_k 0 is not a whole number from 1 to 50"):
        score_frame(df, top_k=0)


# -- the real models on the sample posts and the seed store --------------------------------------------
@pytest.fixture(scope="module")
def sample_scores(request, tmp_path_factory):
    from score_fakes import real_models_missing

    missing = real_models_missing()
    if missing:
        pytest.skip(missing)
    seed_store = request.getfixturevalue("seed_store")
    out = tmp_path_factory.mktemp("sample") / "sample.jsonl"
    summary = score_file(SAMPLE_POSTS, out, ModelScorer(seed_store), chunk_size=8, progress=False)
    return summary, {row["post_id"]: row for row in iter_output(out)}, seed_store


@pytest.mark.slow
def test_sample_posts_with_the_real_models(sample_scores):
    from pipeline.corpus.store import Corpus

    summary, rows, seed_store = sample_scores
    assert (summary.read, summary.scored, summary.rejected) == (17, 14, 3)
    names = dict(zip(Corpus(seed_store).documents()["doc_id"], Corpus(seed_store).documents()["name"]))
    threads = rows["threads-2024-11-10"]
    assert threads["n_claims"] >= 1
    claim = threads["claims"][0]
    assert "expel" in claim["text"] and claim["verdict"] == "REFUTED"
    assert [c["verdict"] for c in rows["p09"]["claims"]] == ["REFUTED"]  # the same claim in other words
    # The evidence comes from the two fact-checks of this very post.
    sources = {Path(names[e["doc_id"]]).name[:3] for e in claim["evidence"]}
    assert sources & {"000", "001"}, sources
    for post_id in ("p10", "p11", "p12", "p13"):  # chatter: nothing to check, no model time spent
        assert rows[post_id]["n_claims"] == 0, rows[post_id]
    for row in rows.values():
        for claim in row["claims"]:
            # the claim as checked: the span of the post as read, escape sequences and control characters out
            assert claim_as_checked(row["text"][claim["start"]:claim["end"]]) == claim["text"]
            assert 0 <= claim["confidence"] <= 1 and len(claim["evidence"]) >= 1
            assert all(e["doc_id"] in names for e in claim["evidence"])
            assert all(e["document"] == names[e["doc_id"]] and e["source"] == "seeds" for e in claim["evidence"])
    # The summary counts the verdicts the rows hold.
    assert summary.verdicts == dict(Counter(claim["verdict"] for row in rows.values() for claim in row["claims"]))


@pytest.fixture(scope="module")
def one_document_store(tmp_path_factory) -> Path:
    """A store of one short English report, indexed: enough evidence for the real models to run."""
    from pipeline.corpus.ingest import ingest
    from pipeline.retrieval.index import update_index
    from score_fakes import real_models_missing

    missing = real_models_missing()
    if missing:
        pytest.skip(missing)
    folder = tmp_path_factory.mktemp("one-document")
    document = folder / "heat.txt"
    document.write_text("Heat caused more than 47,000 deaths in Europe in the summer of 2023, researchers estimated "
                        "in a study published in Nature Medicine.\n", encoding="utf-8")
    report = ingest([document], folder / "store")
    assert not report.rejected, report.rejected
    update_index(folder / "store")
    return folder / "store"


def test_a_post_is_refused_for_its_language_only_when_no_sentence_of_it_is_english():
    from pipeline.scoring.models import post_language_refusal

    german = "Die Strompreise in Deutschland sind 2024 um sieben Prozent gesunken, sagt der BDEW."
    assert post_language_refusal(german).startswith("the post is in another language (de, confidence ")
    # mixed: the identifier gives the whole post to German; its English sentence holds a claim to check
    mixed = "Breaking: Bundesregierung beschließt Rentenerhöhung um fünf Prozent. The German government raised pensions by 5% today."
    assert post_language_refusal(mixed) is None
    english = "Heat killed more than 47,000 people in Europe in summer 2023, a Nature Medicine study says."
    assert post_language_refusal(english) is None
    # not in English, whatever English-looking words its links, handles or other script hold
    for foreign in ["Die Regierung hat die Steuer erhöht, sagt der Verband https://example.org/the-tax-that-they-raised",
                    "Die Regierung hat die Steuer erhöht, sagt @the_that_news heute Abend in Berlin.",
                    "美国总统今天宣布了新的关税政策，这将影响两国之间的贸易关系 the that"]:
        assert post_language_refusal(foreign) is not None, foreign


def test_a_sentence_with_english_function_words_keeps_the_post_without_asking_the_identifier(monkeypatch):
    import pipeline.scoring.models as models

    def never(text):
        raise AssertionError(f"the identifier read {text!r}")

    monkeypatch.setattr(models, "other_language", never)
    quoted = "Die Regierung sagt: what they promised is the plan. Die Opposition widerspricht heftig."
    assert models.post_language_refusal(quoted) is None


@pytest.mark.parametrize("engine", ["local", "frame"])
def test_every_post_the_scorer_refuses_goes_to_the_rejected_rows(tmp_path, write_jsonl, engine):
    from score_fakes import RefusingKeywordScorer

    posts = [{"id": "p1", "text": "REFUSE: Die Strompreise sind um 7 Prozent gesunken."},
             {"id": "p2", "text": "NATO has 32 members."},
             {"id": "p3", "text": "REFUSE: Les prix ont baissé de 7 pour cent."}]
    if engine == "frame":
        frame = score_frame(pd.DataFrame(posts), scorer=RefusingKeywordScorer())
        assert frame["rejected"].fillna("").tolist() == ["refused by the scorer", "", "refused by the scorer"]
        return
    source = write_jsonl(tmp_path / "posts.jsonl", posts)
    summary = score_file(source, tmp_path / "out.jsonl", RefusingKeywordScorer(), chunk_size=2, progress=False)
    rejected = [json.loads(line) for line in (tmp_path / "out.jsonl.rejected.jsonl").read_text().splitlines()]
    assert (summary.read, summary.scored, summary.rejected) == (3, 1, 2)
    assert [r["post_id"] for r in iter_output(tmp_path / "out.jsonl")] == ["p2"]
    assert [(r["line"], r["post_id"], r["reason"]) for r in rejected] == [(1, "p1", "refused by the scorer"),
                                                                          (3, "p3", "refused by the scorer")]


@pytest.mark.slow
@pytest.mark.parametrize("domain", ["post", "speech", "auto"])
def test_a_post_in_another_language_is_rejected_naming_it_on_every_domain_path(one_document_store, tmp_path,
                                                                                 write_jsonl, domain):
    # The probe's German post went to the speech path (a single plain sentence) and came out as a post
    # without a claim: its sentence scored under the threshold, and its language was never said. A post
    # that mixes languages is scored.
    posts = [{"id": "en1", "text": "Heat killed more than 47,000 people in Europe in summer 2023, a Nature Medicine "
                                   "study says."},
             {"id": "de1", "text": "Die Strompreise in Deutschland sind 2024 um sieben Prozent gesunken, sagt der BDEW."},
             {"id": "en2", "text": "Good morning everyone, what a lovely sunny day!"},
             {"id": "mixed", "text": "Bundesregierung beschließt Rentenerhöhung um fünf Prozent. The German "
                                     "government raised pensions by five percent today."}]
    source = write_jsonl(tmp_path / "posts.jsonl", posts)
    scorer = ModelScorer(one_document_store, checkworthy_domain=domain)
    summary = score_file(source, tmp_path / "out.jsonl", scorer, progress=False)
    rows = list(iter_output(tmp_path / "out.jsonl"))
    rejected = [json.loads(line) for line in (tmp_path / "out.jsonl.rejected.jsonl").read_text().splitlines()]
    assert summary.read == len(posts) == summary.scored + summary.rejected == len(rows) + len(rejected)
    assert [r["post_id"] for r in rows] == ["en1", "en2", "mixed"]
    assert [(r["line"], r["post_id"]) for r in rejected] == [(2, "de1")]
    assert rejected[0]["reason"].startswith("the post is in another language (de, confidence ")
    if domain == "speech":
        assert {r["checkworthy_domain"] for r in rows} == {"speech"}
    # The notebook's frame says the same, in its `rejected` column.
    frame = score_frame(pd.DataFrame(posts), scorer=scorer)
    assert frame["rejected"].notna().tolist() == [False, True, False, False]
    assert frame.loc[1, "rejected"] == rejected[0]["reason"] and pd.isna(frame.loc[1, "checkworthiness"])


def test_the_fingerprint_names_every_model_role_whatever_the_options(tmp_path):
    # A role recorded only when on made a resume without fact-checks read as a checkpoint of another claimsift.
    on, off = ModelScorer(tmp_path).fingerprint(), ModelScorer(tmp_path, fact_checks=False).fingerprint()
    assert set(on["models"]) == set(off["models"]) and off["models"]["matcher"] is None


def test_checkpoints_of_other_verdict_rules_are_not_resumed(tmp_path):
    """The fingerprint names the voting logic's version and settings: a checkpoint made under
    other rules must not be resumed as if its verdicts were this run's."""
    from pipeline.verdict.rules import VerdictRules

    default = ModelScorer(tmp_path).fingerprint()
    other = ModelScorer(tmp_path, rules=VerdictRules(min_coverage=0.0)).fingerprint()
    assert default["models"]["voting_rules"].startswith(f"rules-v{VerdictRules.LOGIC_VERSION}(")
    assert default != other


def test_the_fingerprint_names_the_screen_model_and_the_settled_stance_runtime(tmp_path):
    """Workers must run stance the way the job was started: "auto" is settled once, on the
    client, and shipped settled; bfloat16 and float32 give other last digits."""
    from pipeline.stance.backends import native_bf16

    scorer = ModelScorer(tmp_path)
    fingerprint = scorer.fingerprint()
    assert fingerprint["stance_backend"] == ("bf16" if native_bf16() else "onnx")
    assert as_shipped(scorer).stance_backend == fingerprint["stance_backend"]
    # Whichever runtime "auto" settled on here, another one named explicitly is another fingerprint.
    other = "torch" if fingerprint["stance_backend"] == "onnx" else "onnx"
    assert ModelScorer(tmp_path, stance_backend=other).fingerprint() != fingerprint
    assert ModelScorer(tmp_path, stance_backend="onnx-int8").fingerprint()["stance_backend"] == "onnx-int8"
    # By default the stance model reads every passage; a screen model, where one is named, is named here.
    assert fingerprint["models"]["screen_stance"] is None
    assert ModelScorer(tmp_path, screen_stance_spec="stance@v2").fingerprint()["models"]["screen_stance"] == "stance@v2"


def test_score_refuses_an_unknown_stance_backend_in_one_line(tmp_path, run_cli, write_jsonl):
    posts = write_jsonl(tmp_path / "posts.jsonl", [{"id": "1", "text": "NATO has 32 members."}])
    result = run_cli("score", posts, "--store", tmp_path, "--out", tmp_path / "out.jsonl", "--stance-backend", "gpu")
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "unknown --stance-backend 'gpu'; use auto, bf16, onnx, onnx-int8, torch" in result.stderr
    assert not (tmp_path / "out.jsonl").exists()


# -- the --table view ------------------------------------------------------------------------------
def _table_evidence(doc_id: str, sentence: str, **names) -> dict:
    return {"doc_id": doc_id, **names, "published": None, "sentence": sentence, "start": 0, "end": len(sentence),
            "stance": "REFUTES", "p_supports": 0.0, "p_refutes": 0.9, "p_not_enough_info": 0.1, "score": 1.0,
            "decisive": True}


def _table_claim(text: str, evidence: dict) -> dict:
    return {"text": text, "start": 0, "end": len(text), "checkworthiness": 0.8, "verdict": "REFUTED",
            "confidence": 0.9, "skipped": None, "evidence": [evidence], "fact_checks": []}


def test_the_results_table_names_each_passages_source_not_its_document_id(tmp_path, write_jsonl):
    from rich.console import Console

    from pipeline.cli.score import results_table

    claims = [
        _table_claim("Rutte said he would expel the US.",
                     _table_evidence("37d82e167afe39b4", "Riggio said Rutte never said this.",
                                     source="seeds/rutte-factcheck.txt", title="Rutte post")),
        # Written by an older claimsift, or a document without a source: the title, else the id.
        _table_claim("NATO has 32 members.",
                     _table_evidence("0123456789abcdef", "NATO has 32 members.", title="[bold]Members[/bold] page")),
        _table_claim("Poland spends 4% on defence.",
                     _table_evidence("fedcba9876543210", "Poland spends 4.12% of GDP on defence.")),
    ]
    output = write_jsonl(tmp_path / "out.jsonl", [
        {"post_id": "a1", "line": 1, "text": "Three claims.", "checkworthiness": 0.8, "checkworthy_domain": "post",
         "n_claims": len(claims), "claims": claims}])
    console = Console(record=True, width=200)
    console.print(results_table(output))
    text = console.export_text()
    assert "seeds/rutte-factcheck.txt" in text and "37d82e167afe39b4" not in text
    assert "[bold]Members[/bold] page" in text and "0123456789abcdef" not in text  # escaped, not markup
    assert "fedcba9876543210" in text


# -- input the probe found: a mistyped JSONL text field, JSON arrays, odd ids, UTF-16, control characters --
def test_a_misspelled_jsonl_text_field_is_refused_up_front_naming_the_fields(tmp_path, write_jsonl):
    # every row was rejected ("no 'body' field") and the run exited 0, after the models loaded
    source = write_jsonl(tmp_path / "posts.jsonl", POSTS)
    with pytest.raises(InputError) as error:
        score_file(source, tmp_path / "out.parquet", KeywordScorer(), text_column="body", progress=False)
    assert str(error.value) == (f"{source}: no 'body' column in the first 5 rows (columns: id, text); "
                                "choose one with --text-column")
    assert not (tmp_path / "out.parquet.parts").exists()
    # the default too: no row of the first ones has a text (nor a tweet's full_text)
    with pytest.raises(InputError, match="no 'text' column in the first 1 rows"):
        list(PostReader(write_jsonl(tmp_path / "body.jsonl", [{"id": 1, "body": "Post 1."}, "not json"])))
    # one row of the first ones with the field is enough: the others are rejected alone, as before
    rows = list(PostReader(write_jsonl(tmp_path / "some.jsonl", [{"id": 1, "body": "x"}, {"id": 2, "text": "Two 2."}])))
    assert [(r.line, r.reason) for r in rows] == [(1, "no 'text' field"), (2, None)]
    tweets = write_jsonl(tmp_path / "tweets.jsonl", [{"id_str": "9", "full_text": "A tweet 9."}])
    assert [(r.post_id, r.text) for r in PostReader(tweets)] == [("9", "A tweet 9.")]


@pytest.mark.parametrize("name, indent", [("posts.json", None), ("posts.json", 2), ("posts.json.gz", None)])
def test_a_json_file_holding_an_array_of_posts_is_read_as_its_elements(tmp_path, name, indent):
    # read as one JSONL line: "read 1 = rejected 1", exit 0; pretty-printed: refused
    elements = POSTS[:3] + [["a", "list"], {"id": "a5", "body": "no text"}, POSTS[4]]
    content = json.dumps(elements, indent=indent).encode()
    path = tmp_path / name
    path.write_bytes(gzip.compress(content) if name.endswith(".gz") else content)
    summary, rows, rejected = run(tmp_path, path, "out.jsonl", chunk_size=2)
    assert [(r["line"], r["post_id"]) for r in rows] == [(1, "a1"), (2, "a2"), (3, "a3"), (6, "a5")]
    assert rejected == [{"line": 4, "post_id": None, "reason": "array element is a JSON list, not an object"},
                        {"line": 5, "post_id": "a5", "reason": "no 'text' field"}]
    assert (summary.read, summary.scored, summary.rejected) == (6, 4, 2)
    reader = PostReader(path)
    assert len(list(reader)) == 6 and reader.progress() == (6, 6)


@pytest.mark.parametrize("content, problem", [
    ('[{"id": 1, "text": "One 1."}, {"id": 2, "text": "cut', "is a JSON array, but not valid JSON (Unterminated string"),
    ('[{"id": 1, "text": "One 1."}\n{"id": 2, "text": "Two."}]', "expecting ',' or ']' after an element at line 2"),
    ('[{"id": 1, "text": "One 1."}', "the array is not closed"),
    ('[{"id": 1, "text": "One 1."}] [', "more data after the array"),
    ("[ ]", "the JSON array is empty"),
    ('[{"id": 1, "body": "One 1."}]', "no 'text' column in the first 1 elements of the JSON array (columns: id, body)"),
])
def test_a_json_array_that_cannot_be_read_is_refused_before_any_row(tmp_path, content, problem):
    path = tmp_path / "posts.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError) as error:
        list(PostReader(path))
    assert problem in str(error.value) and str(path) in str(error.value) and "\n" not in str(error.value)


def test_a_json_array_too_large_to_read_whole_is_refused_with_the_jq_command(tmp_path, monkeypatch):
    from pipeline.scoring import posts as posts_module

    path = tmp_path / "posts.json"
    path.write_text(json.dumps(POSTS), encoding="utf-8")
    monkeypatch.setattr(posts_module, "MAX_JSON_ARRAY_CHARS", 100)
    with pytest.raises(InputError, match=r"is a JSON array over 0 MiB, too large to read whole, not JSON Lines: "
                                         r"convert it to JSON Lines with `jq -c '\.\[\]'`"):
        list(PostReader(path))
    # only a .json file is read as an array: a .jsonl line holding one is a rejected row, as before
    (tmp_path / "posts.jsonl").write_text(json.dumps(POSTS) + "\n", encoding="utf-8")
    assert [r.reason for r in PostReader(tmp_path / "posts.jsonl")] == ["line is a JSON list, not an object"]


def test_ids_that_are_no_ids_count_as_missing_and_integral_floats_are_integers(tmp_path, write_jsonl):
    # {"id": true} was "True", {"id": {"x": 1}} "{'x': 1}", NaN "nan": none counted as missing
    lines = ['{"id": true, "text": "Post 1."}', '{"id": {"x": 1}, "text": "Post 2."}', '{"id": [1], "text": "Post 3."}',
             '{"id": NaN, "text": "Post 4."}', '{"id": null, "text": "Post 5."}', '{"id": Infinity, "text": "Post 6."}',
             '{"id": 12.0, "text": "Post 7."}', '{"id": 1.5, "text": "Post 8."}', '{"id": 13, "text": "Post 9."}',
             '{"id": "14", "text": "Post 10."}', '{"id": false, "text": ""}']
    summary, rows, rejected = run(tmp_path, write_jsonl(tmp_path / "posts.jsonl", lines), "out.jsonl")
    assert [r["post_id"] for r in rows] == [None, None, None, None, None, None, "12", "1.5", "13", "14"]
    assert rejected == [{"line": 11, "post_id": None, "reason": "text is empty"}]
    assert (summary.missing_ids, summary.repeated_ids) == (6, 0)
    assert summary.id_warnings() == ["warning: 6 rows have no id (post_id null or empty in the output)"]


def test_a_floating_point_id_column_gives_integers_and_one_warning_where_digits_are_lost(tmp_path, capsys):
    # pandas writes integer ids with one gap as doubles: 1359350943356174337 became "1.3593509433561743e+18"
    frame = pd.DataFrame({"id": [12, None, 1359350943356174337, 1370008076489789440],
                          "text": ["Post 1.", "Post 2.", "Post 3.", "Post 4."]})
    assert frame["id"].dtype == "float64"
    path = tmp_path / "posts.parquet"
    frame.to_parquet(path)
    reader = PostReader(path)
    assert [r.post_id for r in reader] == ["12", None, "1.3593509433561743e+18", "1.3700080764897894e+18"]
    warning = (f"warning: {path}: the id column `id` holds floating-point numbers: ids over 2**53 have lost digits "
               "(write ids as text)")
    assert reader.warnings == [warning] and capsys.readouterr().err.splitlines() == [warning]
    # small integral floats alone lose nothing: no warning
    frame.iloc[:2].to_parquet(path)
    reader = PostReader(path)
    assert [r.post_id for r in reader] == ["12", None] and reader.warnings == []
    # the same column written as CSV by pandas: 12.0 and 1.3593509433561743e+18
    csv_path = tmp_path / "posts.csv"
    frame.to_csv(csv_path, index=False)
    reader = PostReader(csv_path)
    assert [r.post_id for r in reader] == ["12", "", "1.3593509433561743e+18", "1.3700080764897894e+18"]
    assert reader.warnings == [warning.replace(str(path), str(csv_path))]
    # text ids that only look numeric are kept as read
    csv_path.write_text("id,text\n12.5,One 1.\n12e4,Two 2.\n007,Three 3.\n9007199254740993.0,Four 4.\n", encoding="utf-8")
    reader = PostReader(csv_path)
    assert [r.post_id for r in reader] == ["12.5", "12e4", "007", "9007199254740993.0"] and len(reader.warnings) == 1


@pytest.mark.parametrize("encoding, name", [("utf-16", "UTF-16"), ("utf-16-le", "UTF-16"), ("utf-16-be", "UTF-16"),
                                            ("utf-32", "UTF-32")])
@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".tsv.gz"])
def test_utf16_or_utf32_input_is_refused_in_one_line(tmp_path, encoding, name, suffix):
    # Excel's "Unicode Text" and df.to_csv(encoding="utf-16") were "binary data …: is it really text?"
    text = ('{"id": "u1", "text": "Rutte threatened to expel the US."}\n' if suffix == ".jsonl"
            else "id,text\nu1,Rutte threatened to expel the US.\n")
    path = tmp_path / f"posts{suffix}"
    data = text.encode(encoding)
    path.write_bytes(gzip.compress(data) if suffix.endswith(".gz") else data)
    with pytest.raises(InputError) as error:
        list(PostReader(path))
    assert str(error.value) == f"{path}: the file is {name} encoded: re-save it as UTF-8"


def test_claim_text_is_written_as_checked_and_the_post_as_read(tmp_path, write_jsonl):
    post = "\u001b[31mRutte threatened to expel the US from NATO.\u0000 with NUL"
    source = write_jsonl(tmp_path / "posts.jsonl", [{"id": "a22", "text": post}])
    for name in ("out.jsonl", "out.parquet"):
        _, rows, _ = run(tmp_path, source, name)
        claim = rows[0]["claims"][0]
        assert rows[0]["text"] == post  # the post stays as read
        assert claim["text"] == "Rutte threatened to expel the US from NATO. with NUL"
        assert (claim["start"], claim["end"]) == (0, len(post))  # into the post as read
        assert isinstance(claim["needs_review"], bool)


def test_model_scorer_writes_each_claim_as_checked_with_needs_review():
    from types import SimpleNamespace

    from pipeline.core.types import Verdict

    raw = "\u001b[31mRutte threatened to expel the US from NATO.\u0000"
    span = SimpleNamespace(text=raw, start=0, end=len(raw), score=0.9)
    skipped = SimpleNamespace(text="\u0007🙂🙂", start=0, end=3, score=0.8)
    detector = SimpleNamespace(score_posts_routed=lambda texts, domain: [
        SimpleNamespace(score=0.9, claims=[span, skipped], domain="post")])
    checked = []

    def check_many(claims):
        checked.extend(claims)
        return [Verdict(claim=c, verdict="REFUTED", confidence=0.3, needs_review=True) for c in claims]

    posts = ModelScorer()._score_posts(detector, SimpleNamespace(check_many=check_many), [raw])
    claim, other = posts[0]["claims"]
    assert checked == ["Rutte threatened to expel the US from NATO."] == [claim["text"]]
    assert (claim["needs_review"], claim["start"], claim["end"]) == (True, 0, len(raw))
    assert other["text"] == "🙂🙂" and "needs_review" not in other and other["skipped"]
    from pipeline.scoring.output import _claim_row

    assert _claim_row(claim)["needs_review"] is True and _claim_row(other)["needs_review"] is None


def test_needs_review_is_a_field_of_every_claim_and_a_new_row_schema(tmp_path, write_jsonl):
    from pipeline.scoring.output import ROW_FIELDS_VERSION, output_schema

    claim_fields = output_schema().field("claims").type.value_type
    assert claim_fields.field("needs_review").type == pa.bool_()
    assert ROW_FIELDS_VERSION >= 3  # parts written without it are not resumed into one output
    _, rows, _ = run(tmp_path, write_jsonl(tmp_path / "posts.jsonl", POSTS), "out.jsonl")
    claims = [c for r in rows for c in r["claims"]]
    assert claims and all(isinstance(c["needs_review"], bool) for c in claims)
    assert [c["needs_review"] for c in claims] == [c["confidence"] < 0.45 for c in claims]


def test_the_review_desk_never_writes_control_characters_into_its_pages(tmp_path, write_jsonl):
    import re

    from starlette.testclient import TestClient

    from pipeline.review.app import ReviewConfig, create_app

    post = "\u001b[31mRutte threatened to expel the US from NATO.\u0000 with NUL\u0007 and\r\nmore"
    source = write_jsonl(tmp_path / "posts.jsonl", [{"id": "c\u0001", "text": post}])
    scores = tmp_path / "scores" / "out.jsonl"
    scores.parent.mkdir()
    score_file(source, scores, KeywordScorer(), progress=False)
    # a scores file of an older claimsift kept the claim as read: the desk must not pass that on either
    row = json.loads(scores.read_text(encoding="utf-8"))
    row["claims"][0]["text"] = post[:row["claims"][0]["end"]]
    scores.write_text(json.dumps(row) + "\n", encoding="utf-8")
    config = ReviewConfig(store=tmp_path / "no-store", scores=scores, labels_dir=tmp_path / "labels")
    client = TestClient(create_app(config), base_url="http://127.0.0.1:8000")
    for url in ("/queue", "/queue?q=expel", "/queue?q=rutte", "/claim/1/0"):
        page = client.get(url)
        assert page.status_code == 200, (url, page.text)
        assert "Rutte threatened to expel the US" in page.text, url
        assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f]", page.text), url
