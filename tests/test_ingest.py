"""Ingestion: formats, normalisation, ids, dates, replacement, bad input, bounded memory.

A light stand-in analyser (one sentence per line, no model) keeps these tests fast; the real
spaCy analysis is covered in test_analyse.py and test_corpus_cli.py.
"""
from __future__ import annotations

import json
import re
import sqlite3
import types
from pathlib import Path

import pandas as pd
import pytest

from pipeline.core.errors import UserError
from pipeline.core.types import Sentence
from pipeline.corpus.factchecks import read_fact_check_file
from pipeline.corpus.ingest import ingest
from pipeline.corpus.nlp import AnalysedDocument
from pipeline.corpus.readers import (
    Rejection,
    date_in_text,
    doc_id_of,
    normalise,
    normalise_date,
    stream_paragraph_parts,
)
from pipeline.corpus.store import Corpus

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"


class LineAnalyser:
    """One sentence per non-empty line; optionally fails on a document containing a marker."""

    tag = "line-analyser-1"

    def __init__(self, fail_on: str | None = None) -> None:
        self.fail_on = fail_on
        self.seen: list[str] = []

    def analyse_many(self, documents):
        for document in documents:
            self.seen.append(document.name)
            if self.fail_on and self.fail_on in document.text:
                raise RuntimeError("simulated crash in the middle of a batch")
            sentences, offset = [], 0
            for line in document.text.split("\n"):
                if line.strip():
                    start = document.text.index(line, offset)
                    sentences.append(Sentence(document.doc_id, len(sentences), start, start + len(line), line))
                offset += len(line) + 1
            yield AnalysedDocument(document, tuple(sentences), (), ())


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


# ---- normalisation, ids, dates --------------------------------------------------------------------
def test_nfkc_turns_no_break_spaces_into_spaces_and_keeps_curly_quotes():
    raw = "Rutte\u00a0said “yes” and it’s ﬁne\r\n"
    assert normalise(raw) == "Rutte said “yes” and it’s fine"


def test_seed_no_break_spaces_are_normalised():
    raw = (SEEDS / "003_dfdb264944fe67fb.txt").read_text(encoding="utf-8")
    assert "\u00a0" in raw
    assert "\u00a0" not in normalise(raw)


def test_doc_id_is_a_stable_content_hash():
    assert doc_id_of("abc") == doc_id_of("abc") == "ba7816bf8f01cfea"
    assert doc_id_of("abc") != doc_id_of("abd")


def test_publication_date_found_at_the_top_of_the_text():
    text = normalise((SEEDS / "001_5fb9f27d840b8ced.txt").read_text(encoding="utf-8"))
    assert date_in_text(text) == "2024-11-10"
    assert date_in_text("Published: November 10, 2024\nBody") == "2024-11-10"
    # A date deep inside a story is an event, not the publication date.
    assert date_in_text(normalise((SEEDS / "004_9211b67a98e8e849.txt").read_text(encoding="utf-8"))) is None


def test_metadata_dates_are_normalised():
    assert normalise_date("2024-11-10T08:00:00Z") == "2024-11-10"
    assert normalise_date("November 10, 2024") == "2024-11-10"
    assert normalise_date("") is None and normalise_date(float("nan")) is None


def test_a_relative_or_impossible_date_is_no_date():
    # "yesterday" was dated by the day of reading and 2024-13-45 kept as it was: both reached
    # `published` and the --before cut-off of evaluate corpus claims
    assert [normalise_date(v) for v in ("yesterday", "2 days ago", "2024-13-45", "2023-02-29")] == [None] * 4
    assert normalise_date("2024-02-29") == "2024-02-29"
    assert normalise_date("2019") == "2019-01-01"  # was the month of the day it was read


# ---- formats --------------------------------------------------------------------------------------
def test_directory_is_read_recursively_and_seed_dates_stored(tmp_path):
    store = tmp_path / "store"
    report = ingest([SEEDS], store, analyser=LineAnalyser())
    assert len(report.added) == 5 and not report.rejected
    documents = Corpus(store).documents().set_index("name")
    assert documents.loc["seeds/001_5fb9f27d840b8ced.txt", "published"] == "2024-11-10"
    assert documents.loc["seeds/000_6cff62f9dfef07af.txt", "published"] is None
    write(tmp_path / "in" / "a" / "b" / "deep.md", "# Deep title\n\nBody text here.")
    report = ingest([tmp_path / "in"], store, analyser=LineAnalyser())
    assert report.added == [doc_id_of("Deep title\n\nBody text here.")]  # Markdown is stored as its plain text
    assert Corpus(store).documents().set_index("name").loc["in/a/b/deep.md", "title"] == "Deep title"


def test_html_boilerplate_is_stripped(tmp_path):
    article = " ".join(f"NATO spokesperson Daniele Riggio said the claim number {i} is bogus." for i in range(12))
    html = f"""<html><head><title>Fact check: Rutte never said it</title>
    <meta property="article:published_time" content="2024-11-10"></head><body>
    <nav><a href="/">Home</a> <a href="/news">News</a> Subscribe to our newsletter</nav>
    <article><h1>Fact check: Rutte never said it</h1><p>{article}</p><p>{article}</p></article>
    <footer>Copyright 2024 Example Media. All rights reserved. Cookie settings</footer></body></html>"""
    store = tmp_path / "store"
    report = ingest([write(tmp_path / "page.html", html)], store, analyser=LineAnalyser())
    assert len(report.added) == 1, report.rejected
    row = Corpus(store).documents().iloc[0]
    assert "Daniele Riggio" in row["text"]
    assert "Cookie settings" not in row["text"] and "Subscribe to our newsletter" not in row["text"]
    assert row["title"] == "Fact check: Rutte never said it"
    assert row["published"] == "2024-11-10"


def test_tables_jsonl_csv_parquet_with_metadata(tmp_path):
    rows = [{"id": "a1", "text": "First\u00a0story.", "title": "One", "url": "http://x/1", "source": "X",
             "published": "2024-01-02"},
            {"id": "a2", "text": "Second story.", "title": "Two", "url": "", "source": "", "published": None}]
    jsonl = write(tmp_path / "t.jsonl", "\n".join(json.dumps(r) for r in rows))
    pd.DataFrame([dict(r, id="c" + r["id"]) for r in rows]).to_csv(tmp_path / "t.csv", index=False)
    pd.DataFrame([dict(r, id="p" + r["id"]) for r in rows]).to_parquet(tmp_path / "t.parquet")
    store = tmp_path / "store"
    report = ingest([jsonl, tmp_path / "t.csv", tmp_path / "t.parquet"], store, analyser=LineAnalyser())
    # Same texts in three tables: stored once (content-hash ids); the later copies are duplicates, said by a
    # note, not "unchanged" (they were never stored under their own names).
    assert len(report.added) == 2 and len(report.duplicates) == 4 and not report.unchanged and not report.rejected
    assert "X#id=ca1 has the same text as X#id=a1: stored once" in report.notes
    documents = Corpus(store).documents().set_index("name")  # an id is scoped to its source column or file
    assert documents.loc["X#id=a1", "text"] == "First story."
    assert documents.loc["X#id=a1", "published"] == "2024-01-02" and documents.loc["X#id=a1", "url"] == "http://x/1"
    assert documents.loc["t.jsonl#id=a2", "source"] == "t.jsonl"


# ---- re-ingest and replacement ------------------------------------------------------------------------
def test_reingest_is_a_no_op_and_keeps_sentence_ids(tmp_path):
    store = tmp_path / "store"
    ingest([SEEDS], store, analyser=LineAnalyser())
    before = Corpus(store).sentences()
    analyser = LineAnalyser()
    report = ingest([SEEDS], store, analyser=analyser)
    assert report.added == [] and len(report.unchanged) == 5 and analyser.seen == []
    pd.testing.assert_frame_equal(before, Corpus(store).sentences())


def test_changed_document_replaces_old_version_and_its_derived_rows(tmp_path):
    store = tmp_path / "store"
    source = write(tmp_path / "docs" / "note.txt", "Old first line.\nOld second line.")
    other = write(tmp_path / "docs" / "other.txt", "Untouched.")
    ingest([tmp_path / "docs"], store, analyser=LineAnalyser())
    corpus = Corpus(store)
    old_id = corpus.documents().set_index("name").loc["docs/note.txt", "doc_id"]
    other_ids = corpus.sentences(doc_id_of("Untouched."))["sentence_id"].tolist()
    source.write_text("New first line.\nNew second line.\nNew third line.")
    report = ingest([tmp_path / "docs"], store, analyser=LineAnalyser())
    new_id = doc_id_of("New first line.\nNew second line.\nNew third line.")
    assert report.replaced == [new_id] and report.removed == [old_id] and report.unchanged == [doc_id_of("Untouched.")]
    assert old_id not in set(corpus.documents()["doc_id"])
    assert old_id not in set(corpus.sentences()["doc_id"])
    assert corpus.sentences(new_id)["text"].tolist() == ["New first line.", "New second line.", "New third line."]
    assert corpus.sentences(doc_id_of("Untouched."))["sentence_id"].tolist() == other_ids
    assert other.exists()


def test_a_crash_in_one_input_rejects_it_alone_and_leaves_nothing_of_it(tmp_path):
    store = tmp_path / "store"
    ingest([SEEDS / "000_6cff62f9dfef07af.txt"], store, analyser=LineAnalyser())
    before = set(Corpus(store).documents()["name"])
    write(tmp_path / "new" / "a.txt", "A fine document.")
    write(tmp_path / "new" / "b.txt", "This one BOOM crashes the analyser.")
    report = ingest([tmp_path / "new"], store, analyser=LineAnalyser(fail_on="BOOM"))
    assert [(Path(r.path).name, r.reason) for r in report.rejected] == [
        ("b.txt", "could not be analysed (RuntimeError: simulated crash in the middle of a batch)")]
    assert set(Corpus(store).documents()["name"]) == before | {"new/a.txt"}
    with sqlite3.connect(store / "corpus.sqlite") as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


# ---- bad input ------------------------------------------------------------------------------------
def test_bad_inputs_are_rejected_by_name_and_the_rest_is_ingested(tmp_path):
    good = write(tmp_path / "good.txt", "A good document about NATO.")
    empty = write(tmp_path / "empty.txt", "")
    binary = write(tmp_path / "image.txt", bytes(range(256)) * 4)
    latin1 = write(tmp_path / "latin1.txt", "first line\nCaf\xe9 au lait\n".encode("latin-1"))
    jsonl = write(tmp_path / "posts.jsonl", '{"id": "ok1", "text": "Fine row."}\n{"id": "bad", "text": \n'
                                            '{"id": "ok2", "text": "Another fine row."}\n[1, 2]\n{"id": "x", "text": ""}\n')
    no_text = write(tmp_path / "table.csv", "id,body\n1,hello\n")
    missing = tmp_path / "does-not-exist.txt"
    store = tmp_path / "store"
    report = ingest([good, empty, binary, latin1, jsonl, no_text, missing], store, analyser=LineAnalyser())
    reasons = {(Path(r.path).name, r.row): r.reason for r in report.rejected}
    assert reasons[("empty.txt", None)] == "empty file"
    assert "binary" in reasons[("image.txt", None)]
    assert "invalid UTF-8" in reasons[("latin1.txt", None)] and "line 2" in reasons[("latin1.txt", None)]
    assert "not valid JSON" in reasons[("posts.jsonl", 2)]
    assert "not an object" in reasons[("posts.jsonl", 4)]
    assert "empty" in reasons[("posts.jsonl", 5)]
    assert "no `text` column" in reasons[("table.csv", None)] and "body" in reasons[("table.csv", None)]
    assert "no such file" in reasons[("does-not-exist.txt", None)]
    assert len(report.rejected) == 8
    # A mistyped path alone left an empty store behind, which later commands took for a corpus.
    alone = ingest([missing], tmp_path / "typo-store", analyser=LineAnalyser())
    assert [r.reason for r in alone.rejected] == ["no such file or directory"]
    assert not (tmp_path / "typo-store").exists()
    names = set(Corpus(store).documents()["name"])
    assert names == {"good.txt", "posts.jsonl#id=ok1", "posts.jsonl#id=ok2"}
    # Nothing of a rejected file is half-written.
    assert not {"empty.txt", "image.txt", "latin1.txt", "table.csv"} & names


def test_a_row_without_text_names_the_file_row_fields_found_and_fields_accepted(tmp_path):
    # "no text in this row" did not say that `body` is not read, nor what is
    jsonl = write(tmp_path / "feed.jsonl", '{"id": 1, "text": "A row with text."}\n'
                                           '{"id": 2, "title": "Ballots", "body": "A row with a body."}\n')
    first = write(tmp_path / "body.jsonl", '{"id": 1, "body": "Only a body."}\n')
    csv = write(tmp_path / "desk.csv", "id,body\n1,hello\n")
    records = write(tmp_path / "records.json", '[{"id": 1, "body": "Only a body."}]')
    report = ingest([jsonl, first, csv, records], tmp_path / "store", analyser=LineAnalyser())
    accepted = ("and optionally id, title, url, source, published (or date, published_at, publish_date, "
                "datePublished); or `claim` and `rating` for fact-checks")
    assert sorted(str(r) for r in report.rejected) == sorted([
        f"{jsonl}, row 2: no `text` field in this row (fields: id, title, body); expected a `text` field, {accepted}",
        f"{first}: no `text` field (fields of its first record: id, body); expected a `text` field, {accepted}",
        f"{csv}: no `text` column (columns: id, body); expected a `text` column, {accepted}",
        f"{records}: JSON file is neither schema.org ClaimReview objects nor a list of records with a `text` field "
        f"(fields of its first record: id, body); expected a `text` field, {accepted}"])
    assert report.added == [doc_id_of("A row with text.")]


def test_a_repeated_id_in_one_table_is_rejected_never_swapped_in(tmp_path):
    jsonl = write(tmp_path / "t.jsonl", '{"id": "a", "text": "First text of a."}\n{"id": "b", "text": "Text of b."}\n'
                                        '{"id": "a", "text": "Second text of a."}\n')
    store = tmp_path / "store"
    for _ in range(2):  # the second ingest once swapped the two texts of "a"
        report = ingest([jsonl], store, analyser=LineAnalyser())
        assert [(Path(r.path).name, r.row) for r in report.rejected] == [("t.jsonl", 3)]
        assert "the same id as row 1 (t.jsonl#id=a)" in report.rejected[0].reason
        assert not report.replaced
        documents = Corpus(store).documents().set_index("name")
        assert documents.loc["t.jsonl#id=a", "text"] == "First text of a." and len(documents) == 2


def test_a_published_value_that_is_not_a_date_rejects_its_row(tmp_path):
    # "not-a-date" and 123 were dropped silently: the document was stored undated, with no word of it
    jsonl = write(tmp_path / "t.jsonl", '{"id": "a", "text": "Dated text.", "published": "2024-11-10"}\n'
                                        '{"id": "b", "text": "Bad date text.", "published": "not-a-date"}\n'
                                        '{"id": "c", "text": "Number date text.", "published": 123}\n'
                                        '{"id": "d", "text": "Undated text.", "published": ""}\n')
    report = ingest([jsonl], tmp_path / "store", analyser=LineAnalyser())
    assert [(Path(r.path).name, r.row) for r in report.rejected] == [("t.jsonl", 2), ("t.jsonl", 3)]
    assert "published 'not-a-date' is not a date" in report.rejected[0].reason
    assert "published 123 is not a date" in report.rejected[1].reason
    assert set(Corpus(tmp_path / "store").documents()["name"]) == {"t.jsonl#id=a", "t.jsonl#id=d"}


def test_a_date_column_under_another_common_name_is_read(tmp_path):
    # A CSV export's `date` column was ignored: every row stored undated, a bad date accepted unseen
    csv = write(tmp_path / "desk.csv", "id,title,date,text\n"
                                       "d1,Heat,2023-11-20,Heat deaths rose in 2023.\n"
                                       "d2,Ice,31/02/2024,Sea ice fell.\n"
                                       "d3,Wind,,Wind power grew.\n")
    jsonl = write(tmp_path / "t.jsonl", '{"id": "a", "text": "A text.", "published_at": "2024-01-05T10:00:00Z"}\n'
                                        '{"id": "b", "text": "B text.", "published": "2024-02-01", "date": "2020-01-01"}\n')
    report = ingest([csv, jsonl], tmp_path / "store", analyser=LineAnalyser())
    assert [(Path(r.path).name, r.row) for r in report.rejected] == [("desk.csv", 3)]
    assert "date '31/02/2024' is not a date" in report.rejected[0].reason
    published = Corpus(tmp_path / "store").documents().set_index("name")["published"].to_dict()
    assert published["desk.csv#id=d1"] == "2023-11-20" and published["desk.csv#id=d3"] is None
    assert published["t.jsonl#id=a"] == "2024-01-05"
    assert published["t.jsonl#id=b"] == "2024-02-01"  # `published`, the documented name, comes first


def test_real_published_formats_are_dates_not_rejected_rows(tmp_path):
    # Twitter's created_at, compact 20240115 (text or integer) and pandas' float year were "not a date",
    # so a valid document was lost with its row
    assert normalise_date("Tue Jan 16 10:00:00 +0000 2024") == "2024-01-16"
    assert normalise_date("20240115") == normalise_date(20240115) == "2024-01-15"
    assert normalise_date(2019.0) == "2019-01-01"
    assert [normalise_date(v) for v in ("20241345", "Tue Jan 45 10:00:00 +0000 2024", 123.0)] == [None] * 3
    jsonl = write(tmp_path / "t.jsonl", '{"id": "a", "text": "Tweet text.", "published": "Tue Jan 16 10:00:00 +0000 2024"}\n'
                                        '{"id": "b", "text": "Compact text.", "published": 20240115}\n'
                                        '{"id": "c", "text": "Year text.", "published": 2019.0}\n')
    report = ingest([jsonl], tmp_path / "store", analyser=LineAnalyser())
    assert report.rejected == []
    published = Corpus(tmp_path / "store").documents().set_index("name")["published"].to_dict()
    assert published == {"t.jsonl#id=a": "2024-01-16", "t.jsonl#id=b": "2024-01-15", "t.jsonl#id=c": "2019-01-01"}


def test_a_csv_header_naming_a_column_twice_is_rejected(tmp_path):
    # ingest read the last `text` column and score the first: the same file meant two things
    table = write(tmp_path / "t.csv", "id,text,text\n1,First text.,Second text.\n")
    report = ingest([table], tmp_path / "store", analyser=LineAnalyser())
    assert [(Path(r.path).name, r.row) for r in report.rejected] == [("t.csv", None)]
    assert "the column 'text' appears twice in the header" in report.rejected[0].reason
    assert not report.added


def test_half_an_emoji_rejects_a_row_only_in_the_fields_ingest_reads(tmp_path):
    # a row whose text was whole but whose unread `raw` held half an emoji was rejected, losing the document
    jsonl = write(tmp_path / "t.jsonl", '{"id": "a", "text": "Whole text.", "raw": {"bio": "cut \\ud83d"}}\n'
                                        '{"id": "b", "text": "Cut \\ud83d text."}\n')
    report = ingest([jsonl], tmp_path / "store", analyser=LineAnalyser())
    assert [(r.row, "\\ud83d is half of a UTF-16 pair" in r.reason) for r in report.rejected] == [(2, True)]
    assert set(Corpus(tmp_path / "store").documents()["name"]) == {"t.jsonl#id=a"}


def test_a_repeated_column_ingest_never_reads_leaves_the_table_readable(tmp_path):
    # `note,note` refused the whole file, which was read fine before: only a column ingest reads is ambiguous
    table = write(tmp_path / "t.csv", "id,text,note,note\n1,First text.,a,b\n")
    report = ingest([table], tmp_path / "store", analyser=LineAnalyser())
    assert report.rejected == [] and len(report.added) == 1
    dated = write(tmp_path / "d.csv", "id,text,published,published\n1,Other text.,2024-01-01,2024-02-01\n")
    report = ingest([dated], tmp_path / "store", analyser=LineAnalyser())
    assert "the column 'published' appears twice in the header" in report.rejected[0].reason
    checks = write(tmp_path / "f.csv", "claim,rating,Rating,note,note\nA claim.,False,True,a,b\n")
    records, rejected = read_fact_check_file(checks)
    assert not records and "the column 'Rating' appears twice in the header" in rejected[0].reason
    checks.write_text("claim,rating,note,note\nA claim.,False,a,b\n", encoding="utf-8")
    records, rejected = read_fact_check_file(checks)
    assert [r.claim for r in records] == ["A claim."] and rejected == []


def test_a_line_separator_inside_a_jsonl_string_and_an_unclosed_csv_quote(tmp_path):
    # U+2028 is valid inside a JSON string; splitlines() cut the row there and rejected it twice.
    jsonl = write(tmp_path / "t.jsonl", '{"id": "u1", "text": "First part.\u2028Second part."}\n'
                                        '{"id": "u2", "text": "Plain row."}\n')
    # An unclosed quote silently read the rows after it into one document.
    table = write(tmp_path / "t.csv", 'id,text\n1,Fine row.\n2,"Unclosed quote\n3,Swallowed row.\n')
    report = ingest([jsonl, table], tmp_path / "store", analyser=LineAnalyser())
    assert [(Path(r.path).name, r.row) for r in report.rejected] == [("t.csv", 3)]  # its line; the header is 1
    assert report.rejected[0].reason.endswith("quote opened in this row is not closed by the end of the file: "
                                              "lines 3-4 were read as this one row, not as rows of their own")
    names = set(Corpus(tmp_path / "store").documents()["name"])
    assert names == {"t.jsonl#id=u1", "t.jsonl#id=u2", "t.csv#id=1"}


def test_a_damaged_parquet_page_is_one_line_naming_the_file(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"id": ["a", "b"], "text": ["Row one.", "Row two."]}), path)
    offset = pq.ParquetFile(path).metadata.row_group(0).column(1).data_page_offset
    damaged = bytearray(path.read_bytes())
    damaged[offset:offset + 16] = b"\xff" * 16  # the page header; the footer is intact
    path.write_bytes(bytes(damaged))
    report = ingest([path], tmp_path / "store", analyser=LineAnalyser())
    assert [(Path(r.path).name, r.row) for r in report.rejected] == [("t.parquet", 1)]
    assert report.rejected[0].reason.startswith("damaged Parquet data") and "\n" not in report.rejected[0].reason


def test_a_file_name_that_is_not_utf8_is_rejected_for_its_name(tmp_path):
    import os

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "ok.txt").write_text("A fine document.")
    with open(os.path.join(os.fsencode(folder), b"caf\xe9.txt"), "w") as handle:
        handle.write("A fine text under a Latin-1 name.")
    report = ingest([folder], tmp_path / "store", analyser=LineAnalyser())
    assert len(report.rejected) == 1 and report.rejected[0].reason == "the file name is not UTF-8 (byte 0xe9); rename the file"
    assert set(Corpus(tmp_path / "store").documents()["name"]) == {"in/ok.txt"}


def test_invalid_utf8_deep_in_a_streamed_file_rejects_all_of_it(tmp_path):
    path = tmp_path / "big.txt"
    with open(path, "wb") as handle:
        for i in range(400):
            handle.write(f"Paragraph {i} says something about NATO spending.\n\n".encode())
        handle.write(b"broken \xff\xfe bytes\n")
    store = tmp_path / "store"
    ingest([write(tmp_path / "ok.txt", "Kept.")], store, analyser=LineAnalyser())
    report = ingest([path], store, analyser=LineAnalyser(), max_doc_chars=1000)
    assert len(report.rejected) == 1 and "invalid UTF-8" in report.rejected[0].reason
    assert set(Corpus(store).documents()["name"]) == {"ok.txt"}  # no part of big.txt stayed


def test_large_text_is_streamed_in_paragraph_aligned_parts(tmp_path):
    paragraphs = [f"Paragraph {i}: " + "NATO allies discussed spending. " * (1 + i % 7) for i in range(300)]
    path = write(tmp_path / "big.txt", "\n\n".join(paragraphs) + "\n")
    parts = list(stream_paragraph_parts(path, max_chars=2000))
    assert len(parts) > 5
    assert all(len(p) <= 2000 for p in parts)
    assert "".join(parts) == path.read_text()
    assert all(p.endswith("\n") for p in parts[:-1])  # every cut is at a paragraph break
    store = tmp_path / "store"
    report = ingest([path], store, analyser=LineAnalyser(), max_doc_chars=2000)
    documents = Corpus(store).documents()
    assert len(report.added) == len(documents) >= 5
    assert documents["name"].str.match(r"big\.txt#part\d{4}$").all()
    stored = Corpus(store).sentences()["text"].tolist()
    assert [s.strip() for s in stored] == [p.strip() for p in paragraphs]


def test_fact_check_tables_are_dispatched(tmp_path, monkeypatch):
    calls = []

    def ingest_fact_checks_report(path, store_dir):
        calls.append((Path(path).name, Path(store_dir)))
        return types.SimpleNamespace(rejected=[Rejection(str(path), 3, "unknown rating")], added=[], updated=[])

    monkeypatch.setattr("pipeline.corpus.ingest.ingest_fact_checks_report", ingest_fact_checks_report)
    table = write(tmp_path / "reviews.jsonl", json.dumps({"claim": "Rutte threatened", "rating": "False"}) + "\n")
    review = write(tmp_path / "review.jsonld", json.dumps({"@context": "https://schema.org", "@type": "ClaimReview",
                                                            "claimReviewed": "x", "reviewRating": {}}))
    store = tmp_path / "store"
    report = ingest([table, review], store, analyser=LineAnalyser())
    assert [name for name, _ in calls] == ["reviews.jsonl", "review.jsonld"]
    assert report.rejected[0].row == 3 and report.rejected[0].reason == "unknown rating"
    assert Corpus(store).documents().empty


def test_document_changed_into_a_copy_of_another_drops_its_old_version(tmp_path):
    store = tmp_path / "store"
    write(tmp_path / "d" / "a.txt", "Text A.")
    b = write(tmp_path / "d" / "b.txt", "Text B.")
    ingest([tmp_path / "d"], store, analyser=LineAnalyser())
    b.write_text("Text A.")
    report = ingest([tmp_path / "d"], store, analyser=LineAnalyser())
    assert report.removed == [doc_id_of("Text B.")]
    assert Corpus(store).documents()["text"].tolist() == ["Text A."]


def test_ingest_and_score_number_the_rows_of_one_csv_alike(tmp_path):
    # ingest counted data rows (header excluded), score lines (header = line 1): the same bad row was
    # "row 2" to one and "line 3" to the other. Both now give the line the record starts on.
    from pipeline.scoring.posts import PostReader

    table = write(tmp_path / "posts.csv", 'id,text\n101,"Rutte said the Netherlands will raise defence spending."\n'
                                          '102,\n\n103,"The NATO summit in Vilnius\nended on 12 July 2023."\n104,\n'
                                          ',Fact-checkers found no such quote.\n')
    report = ingest([table], tmp_path / "store", analyser=LineAnalyser())
    assert [(r.row, r.reason) for r in report.rejected] == [(3, "text is empty"), (7, "text is empty")]
    scored = [(r.line, r.reason) for r in PostReader(table) if r.reason and r.reason != "blank line"]
    assert scored == [(3, "text is empty"), (7, "text is empty")]
    # an id-less row keeps the name it had (its data-row position): the name is its identity in the store
    names = set(Corpus(tmp_path / "store").documents()["name"])
    assert names == {"posts.csv#id=101", "posts.csv#id=103", "posts.csv#row5"}


def test_a_jsonl_row_giving_a_key_twice_is_rejected_naming_the_key(tmp_path):
    # the second "text" replaced the first silently; a repeated key ingest never reads is harmless
    jsonl = write(tmp_path / "t.jsonl", '{"id": "a", "text": "Rutte said NATO will spend 2%.", "text": "RT @nato"}\n'
                                        '{"id": "b", "text": "Sweden joined NATO in 2024.", "note": 1, "note": 2}\n')
    report = ingest([jsonl], tmp_path / "store", analyser=LineAnalyser())
    assert [(r.row, r.reason) for r in report.rejected] == [(1, "the key 'text' appears twice in this object; "
                                                                "remove one")]
    assert set(Corpus(tmp_path / "store").documents()["name"]) == {"t.jsonl#id=b"}
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table([pa.array(["p1"]), pa.array(["A text."]), pa.array(["B text."])], names=["id", "text", "text"]),
                   tmp_path / "t.parquet")
    report = ingest([tmp_path / "t.parquet"], tmp_path / "store", analyser=LineAnalyser())
    assert [r.reason for r in report.rejected] == ["the column 'text' appears twice in the header; rename or remove one"]


def test_a_csv_record_that_fails_names_every_line_it_took_in(tmp_path):
    # the quote opened on line 2 took line 3 into its record, which failed there: line 3 was lost unnamed
    table = write(tmp_path / "t.csv", 'id,text\n1,"Vaccines cause autism\n2,Rutte said "yes" today\n'
                                      '3,NATO was founded in 1949.\n')
    report = ingest([table], tmp_path / "store", analyser=LineAnalyser())
    assert [r.row for r in report.rejected] == [2] and "lines 2-3 were read as this one row" in report.rejected[0].reason
    assert set(Corpus(tmp_path / "store").documents()["name"]) == {"t.csv#id=3"}


# ---- names of the files of one call -----------------------------------------------------------------
def test_files_of_one_name_in_two_folders_are_two_documents(tmp_path):
    # each argument was named from its own base: both files were "report.txt" and the second replaced the first
    x = write(tmp_path / "x" / "report.txt", "Report of desk X.")
    y = write(tmp_path / "y" / "report.txt", "Report of desk Y.")
    store = tmp_path / "store"
    report = ingest([x, y], store, analyser=LineAnalyser())
    assert len(report.added) == 2 and not report.replaced and not report.rejected
    assert set(Corpus(store).documents()["name"]) == {"x/report.txt", "y/report.txt"}
    write(tmp_path / "r1" / "2016" / "vote.txt", "Vote one.")
    write(tmp_path / "r2" / "2016" / "vote.txt", "Vote two.")
    report = ingest([tmp_path / "r1" / "2016", tmp_path / "r2" / "2016"], store, analyser=LineAnalyser())
    assert len(report.added) == 2 and not report.replaced
    assert {"r1/2016/vote.txt", "r2/2016/vote.txt"} <= set(Corpus(store).documents()["name"])


def test_one_argument_or_files_of_one_folder_keep_their_names(tmp_path):
    a = write(tmp_path / "d" / "a.txt", "Text A.")
    b = write(tmp_path / "d" / "b.txt", "Text B.")
    write(tmp_path / "d" / "sub" / "c.txt", "Text C.")
    ingest([tmp_path / "d"], tmp_path / "s1", analyser=LineAnalyser())
    assert set(Corpus(tmp_path / "s1").documents()["name"]) == {"d/a.txt", "d/b.txt", "d/sub/c.txt"}
    ingest([a, b], tmp_path / "s2", analyser=LineAnalyser())
    assert set(Corpus(tmp_path / "s2").documents()["name"]) == {"a.txt", "b.txt"}
    ingest([a], tmp_path / "s3", analyser=LineAnalyser())
    assert set(Corpus(tmp_path / "s3").documents()["name"]) == {"a.txt"}
    # a folder and a file beside it: the names they had (both bases are tmp_path)
    e = write(tmp_path / "e.txt", "Text E.")
    ingest([tmp_path / "d", e], tmp_path / "s4", analyser=LineAnalyser())
    assert set(Corpus(tmp_path / "s4").documents()["name"]) == {"d/a.txt", "d/b.txt", "d/sub/c.txt", "e.txt"}


def test_one_file_given_twice_is_read_once_and_is_no_clash(tmp_path):
    a = write(tmp_path / "d" / "a.txt", "Text A.")
    report = ingest([tmp_path / "d", a, a], tmp_path / "store", analyser=LineAnalyser())
    assert report.added == [doc_id_of("Text A.")] and not report.unchanged and not report.rejected
    assert set(Corpus(tmp_path / "store").documents()["name"]) == {"d/a.txt"}


def test_two_files_that_would_still_share_a_name_reject_the_later(tmp_path, monkeypatch):
    # No common folder (paths on two Windows drives): each argument is named from its own base, and a
    # clash is a rejection naming both files, never a silent replacement.
    from pipeline.corpus import inputs

    monkeypatch.setattr(inputs, "_common_base", lambda bases: None, raising=False)
    x = write(tmp_path / "x" / "report.txt", "Report of desk X.")
    y = write(tmp_path / "y" / "report.txt", "Report of desk Y.")
    report = ingest([x, y], tmp_path / "store", analyser=LineAnalyser())
    assert report.added == [doc_id_of("Report of desk X.")] and not report.replaced
    [rejection] = report.rejected
    assert rejection.path == str(y) and str(x) in rejection.reason and "report.txt" in rejection.reason
    assert Corpus(tmp_path / "store").documents()["text"].tolist() == ["Report of desk X."]


def test_an_edited_file_ingested_alone_replaces_the_version_its_folder_named(tmp_path):
    # archive/articles/x.txt, ingested with archive/, then edited and ingested by its own path, was named
    # x.txt: a second document beside its old version, which kept being cited
    store = tmp_path / "store"
    a = write(tmp_path / "docs" / "sub" / "a.txt", "Old text of a.")
    write(tmp_path / "docs" / "sub" / "b.txt", "Text of b.")
    ingest([tmp_path / "docs"], store, analyser=LineAnalyser())
    a.write_text("New text of a.")
    report = ingest([a], store, analyser=LineAnalyser())
    assert report.replaced == [doc_id_of("New text of a.")] and report.removed == [doc_id_of("Old text of a.")]
    assert not report.added
    assert report.notes == ["1 file keeps the name it was first stored under: a.txt as docs/sub/a.txt"]
    assert Corpus(store).document_names() == {"docs/sub/a.txt": doc_id_of("New text of a."),
                                              "docs/sub/b.txt": doc_id_of("Text of b.")}
    # from the folder below too (named sub/a.txt there), and again from the top: still one version
    a.write_text("Third text of a.")
    assert ingest([tmp_path / "docs" / "sub"], store, analyser=LineAnalyser()).replaced == [doc_id_of("Third text of a.")]
    report = ingest([tmp_path / "docs"], store, analyser=LineAnalyser())
    assert not report.added and not report.replaced and len(report.unchanged) == 2
    assert set(Corpus(store).document_names()) == {"docs/sub/a.txt", "docs/sub/b.txt"}
    # a table's rows: by the table's name, so the rows of the new version replace those of the old one
    table = write(tmp_path / "tables" / "t.jsonl", '{"id": 1, "text": "Row one."}\n{"id": 2, "text": "Row two."}\n')
    ingest([tmp_path / "tables"], store, analyser=LineAnalyser())
    table.write_text('{"id": 1, "text": "Row one, corrected."}\n')
    report = ingest([table], store, analyser=LineAnalyser())
    assert report.replaced == [doc_id_of("Row one, corrected.")] and len(report.removed) == 2
    assert {name for name in Corpus(store).document_names() if name.startswith("tables/")} == {"tables/t.jsonl#id=1"}


def test_a_file_of_the_same_path_ending_elsewhere_never_takes_a_stored_name(tmp_path):
    store = tmp_path / "store"
    write(tmp_path / "nyt" / "articles" / "x.txt", "The Times's text.")
    ingest([tmp_path / "nyt" / "articles"], store, analyser=LineAnalyser())  # stored as articles/x.txt
    # another paper's articles/x.txt, given alone: its path ends with the stored name, yet it is another file
    wapo = write(tmp_path / "wapo" / "articles" / "x.txt", "The Post's text.")
    report = ingest([wapo], store, analyser=LineAnalyser())
    assert report.added == [doc_id_of("The Post's text.")] and not report.replaced
    assert Corpus(store).document_names() == {"articles/x.txt": doc_id_of("The Times's text."),
                                              "x.txt": doc_id_of("The Post's text.")}
    # the Times's file edited and given alone replaces its own version, not the Post's x.txt
    (tmp_path / "nyt" / "articles" / "x.txt").write_text("The Times's text, corrected.")
    report = ingest([tmp_path / "nyt" / "articles" / "x.txt"], store, analyser=LineAnalyser())
    assert report.replaced == [doc_id_of("The Times's text, corrected.")]
    assert Corpus(store).document_names() == {"articles/x.txt": doc_id_of("The Times's text, corrected."),
                                              "x.txt": doc_id_of("The Post's text.")}


def test_the_note_on_a_stored_file_of_the_same_file_name_says_how_to_remove_the_old_version(tmp_path):
    # A store written before locations were recorded (schema 2), or a copy edited elsewhere: only the person
    # knows whether the stored file is an old version of this one; the note says how to remove it if so
    store = tmp_path / "store"
    a = write(tmp_path / "docs" / "sub" / "a.txt", "Old text of a.")
    write(tmp_path / "docs" / "b.txt", "Text of b.")
    ingest([a], store, analyser=LineAnalyser())  # alone first: a.txt
    with sqlite3.connect(store / "corpus.sqlite") as connection:
        connection.execute("UPDATE documents SET location = ''")  # as written before schema 3
    a.write_text("New text of a.")
    report = ingest([tmp_path / "docs"], store, analyser=LineAnalyser())
    assert report.notes == ["docs/sub/a.txt was added as a new document; the store also holds a.txt, the name of "
                            "this file when it is ingested alone. If that is an older version of it, remove it "
                            f"(claimsift remove a.txt --store {store})"]
    assert [d["name"] for d in Corpus(store).remove(["a.txt"])] == ["a.txt"]
    assert Corpus(store).document_names() == {"docs/sub/a.txt": doc_id_of("New text of a."),
                                              "docs/b.txt": doc_id_of("Text of b.")}
    # a copy edited elsewhere
    copy = write(tmp_path / "elsewhere" / "a.txt", "Newest text of a.")
    report = ingest([copy], store, analyser=LineAnalyser())
    assert report.notes == ["a.txt was added as a new document; the store also holds docs/sub/a.txt, a file of that "
                            f"name from elsewhere ({a.resolve().as_posix()}). If one is an older version of the other, "
                            f"remove the older: claimsift remove docs/sub/a.txt --store {store}, or claimsift remove "
                            f"a.txt --store {store}"]
    # a file of another name is no such case
    c = write(tmp_path / "c.txt", "Text of c.")
    report = ingest([c], store, analyser=LineAnalyser())
    assert report.added and not report.notes


def test_remove_deletes_documents_by_name_or_by_the_file_they_came_from_and_refuses_unknown_names(tmp_path):
    store = tmp_path / "store"
    write(tmp_path / "docs" / "a.txt", "Text of a.")
    write(tmp_path / "docs" / "t.jsonl", '{"id": 1, "text": "Row one."}\n{"id": 2, "text": "Row two."}\n')
    ingest([tmp_path / "docs"], store, analyser=LineAnalyser())
    with pytest.raises(UserError, match="no document named 'docs/gone.txt'"):
        Corpus(store).remove(["docs/a.txt", "docs/gone.txt"])
    assert len(Corpus(store).document_names()) == 3  # nothing removed
    removed = Corpus(store).remove(["docs/t.jsonl"])  # the table: its rows
    assert sorted(d["name"] for d in removed) == ["docs/t.jsonl#id=1", "docs/t.jsonl#id=2"]
    assert [(d["id"], d["name"]) for d in Corpus(store).remove(["docs/a.txt"])] == [(doc_id_of("Text of a."),
                                                                                      "docs/a.txt")]
    assert Corpus(store).document_names() == {}


def test_a_store_written_before_locations_is_read_and_brought_up_to_date(tmp_path):
    store = tmp_path / "store"
    a = write(tmp_path / "docs" / "a.txt", "Text of a.")
    ingest([tmp_path / "docs"], store, analyser=LineAnalyser())
    with sqlite3.connect(store / "corpus.sqlite") as connection:  # as schema 2 wrote it
        connection.execute("ALTER TABLE documents DROP COLUMN location")
        connection.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    assert Corpus(store).origins_by_location() == {}
    a.write_text("Edited text of a.")
    report = ingest([tmp_path / "docs"], store, analyser=LineAnalyser())
    assert report.replaced == [doc_id_of("Edited text of a.")]
    with sqlite3.connect(store / "corpus.sqlite") as connection:
        assert connection.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("3",)
    assert Corpus(store).origins_by_location() == {a.resolve().as_posix(): "docs/a.txt"}


def test_a_store_written_before_locations_learns_them_as_its_files_come_in_again(tmp_path):
    store = tmp_path / "store"
    a = write(tmp_path / "docs" / "sub" / "a.txt", "Old text of a.")
    ingest([tmp_path / "docs"], store, analyser=LineAnalyser())
    with sqlite3.connect(store / "corpus.sqlite") as connection:
        connection.execute("UPDATE documents SET location = ''")  # as written before schema 3
    a.write_text("New text of a.")
    # given alone before the folder came in again: the store cannot know it is this file
    report = ingest([a], store, analyser=LineAnalyser())
    assert report.added == [doc_id_of("New text of a.")]
    assert report.notes == ["a.txt was added as a new document; the store also holds docs/sub/a.txt, the name of "
                            "this file when it is ingested with its folder. If that is an older version of it, "
                            f"remove it (claimsift remove docs/sub/a.txt --store {store})"]
    Corpus(store).remove(["a.txt"])
    a.write_text("Old text of a.")
    assert ingest([tmp_path / "docs"], store, analyser=LineAnalyser()).unchanged == [doc_id_of("Old text of a.")]
    a.write_text("New text of a.")  # the folder came in again: its files' locations are known now
    assert ingest([a], store, analyser=LineAnalyser()).replaced == [doc_id_of("New text of a.")]
    assert set(Corpus(store).document_names()) == {"docs/sub/a.txt"}


def test_a_stored_file_of_the_same_file_name_from_elsewhere_is_said_to_be_so_with_where_it_came_from(tmp_path):
    # The note called the stored bridge.txt "the name of this file when it is ingested alone" though the store
    # knew it came from another folder; following it and the next note sent a person back and forth.
    store = tmp_path / "store"
    older = write(tmp_path / "other" / "bridge.txt", "The bridge opened in 1998.")
    ingest([older], store, analyser=LineAnalyser())
    write(tmp_path / "archive" / "2024" / "bridge.txt", "The bridge opened in 1999.")
    report = ingest([tmp_path / "archive"], store, analyser=LineAnalyser())
    assert report.notes == ["archive/2024/bridge.txt was added as a new document; the store also holds bridge.txt, a "
                            f"file of that name from elsewhere ({older.resolve().as_posix()}). If one is an older "
                            f"version of the other, remove the older: claimsift remove bridge.txt --store {store}, or "
                            f"claimsift remove archive/2024/bridge.txt --store {store}"]


def test_files_that_keep_their_stored_names_are_one_note(tmp_path):
    store = tmp_path / "store"
    for n in range(5):
        write(tmp_path / "archive" / "2024" / f"{n}.txt", f"Text number {n}.")
    ingest([tmp_path / "archive"], store, analyser=LineAnalyser())
    report = ingest([tmp_path / "archive" / "2024"], store, analyser=LineAnalyser())  # named 2024/0.txt, …
    assert len(report.unchanged) == 5
    assert report.notes == ["5 files keep the names they were first stored under: 2024/0.txt as archive/2024/0.txt; "
                            "2024/1.txt as archive/2024/1.txt; 2024/2.txt as archive/2024/2.txt; and 2 more"]


def test_a_file_given_alone_then_with_its_folder_keeps_the_name_it_was_first_stored_under(tmp_path):
    store = tmp_path / "store"
    a = write(tmp_path / "docs" / "sub" / "a.txt", "Old text of a.")
    write(tmp_path / "docs" / "b.txt", "Text of b.")
    ingest([a], store, analyser=LineAnalyser())
    a.write_text("New text of a.")
    report = ingest([tmp_path / "docs"], store, analyser=LineAnalyser())
    assert report.replaced == [doc_id_of("New text of a.")] and report.removed == [doc_id_of("Old text of a.")]
    assert Corpus(store).document_names() == {"a.txt": doc_id_of("New text of a."),
                                              "docs/b.txt": doc_id_of("Text of b.")}


# ---- what the report says --------------------------------------------------------------------------
def test_two_files_of_one_text_are_stored_once_and_said_not_counted_unchanged(tmp_path):
    x = write(tmp_path / "x.txt", "The same text.")
    y = write(tmp_path / "y.txt", "The same text.")
    report = ingest([x, y], tmp_path / "store", analyser=LineAnalyser())
    assert report.added == [doc_id_of("The same text.")] and not report.unchanged
    assert report.duplicates == ["y.txt"] and report.notes == ["y.txt has the same text as x.txt: stored once"]
    # stored by an earlier ingest, it is a duplicate too (counted "unchanged", it was never stored under its name)
    report = ingest([y], tmp_path / "store", analyser=LineAnalyser())
    assert report.duplicates == ["y.txt"] and not report.unchanged and not report.added
    assert report.notes == ["y.txt has the same text as x.txt, already in the store: kept once, under that name"]
    report = ingest([x, y], tmp_path / "store", analyser=LineAnalyser())
    assert report.unchanged == [doc_id_of("The same text.")] and report.duplicates == ["y.txt"]


def test_many_duplicates_of_one_table_are_one_note(tmp_path):
    rows = [{"id": i, "text": "Retweeted text."} for i in range(6)]
    table = write(tmp_path / "t.jsonl", "\n".join(json.dumps(r) for r in rows))
    report = ingest([table], tmp_path / "store", analyser=LineAnalyser())
    assert len(report.added) == 1 and len(report.duplicates) == 5
    [note] = report.notes
    assert note.startswith("t.jsonl: 5 documents have the same text as one stored before them in this ingest")


def test_the_summary_line_counts_removals_and_duplicates(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    import pipeline.corpus.ingest
    from pipeline.cli import app

    monkeypatch.setattr(pipeline.corpus.ingest, "Analyser", LineAnalyser)
    store = tmp_path / "store"
    write(tmp_path / "d" / "a.txt", "Text A.")
    b = write(tmp_path / "d" / "b.txt", "Text B.")
    write(tmp_path / "d" / "c.txt", "Text A.")
    result = CliRunner().invoke(app, ["ingest", str(tmp_path / "d"), "--store", str(store), "--no-index"])
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert f"{store}: 2 added, 0 replaced, 0 unchanged, 1 duplicate, 0 rejected" in output
    assert "note d/c.txt has the same text as d/a.txt: stored once" in output
    b.write_text("Text A.")  # b's old version is removed, replaced by nothing
    result = CliRunner().invoke(app, ["ingest", str(tmp_path / "d"), "--store", str(store), "--no-index"])
    # b and c are copies of a stored document: duplicates, not among the documents left unchanged
    assert (f"{store}: 0 added, 0 replaced, 1 removed, 1 unchanged, 2 duplicates, 0 rejected"
            in " ".join(result.output.split()))
    result = CliRunner().invoke(app, ["ingest", str(tmp_path / "d"), "--store", str(store), "--no-index", "--json"])
    report = json.loads(result.stdout)
    assert [entry["name"] for entry in report["unchanged"]] == ["d/a.txt"]
    assert report["duplicates"] == [{"id": doc_id_of("Text A."), "name": name, "title": "Text A.",
                                     "stored_as": "d/a.txt"} for name in ("d/b.txt", "d/c.txt")]


def test_ingest_json_lists_documents_by_name_and_title_beside_their_id(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    import pipeline.corpus.ingest
    from pipeline.cli import app

    monkeypatch.setattr(pipeline.corpus.ingest, "Analyser", LineAnalyser)
    store = tmp_path / "store"
    a = write(tmp_path / "d" / "a.txt", "Heat record in Spain\nJuly was the hottest July.")
    write(tmp_path / "d" / "t.jsonl", '{"id": 7, "title": "Obesity", "text": "One in eight people."}\n')
    result = CliRunner().invoke(app, ["ingest", str(tmp_path / "d"), "--store", str(store), "--no-index", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["added"] == [
        {"id": doc_id_of("Heat record in Spain\nJuly was the hottest July."), "name": "d/a.txt",
         "title": "Heat record in Spain"},
        {"id": doc_id_of("One in eight people."), "name": "d/t.jsonl#id=7", "title": "Obesity"}]
    a.write_text("Heat record in Spain\nJuly 2023 was the hottest July.")
    report = json.loads(CliRunner().invoke(app, ["ingest", str(a), "--store", str(store), "--no-index",
                                                 "--json"]).stdout)
    assert report["replaced"] == [{"id": doc_id_of("Heat record in Spain\nJuly 2023 was the hottest July."),
                                   "name": "d/a.txt", "title": "Heat record in Spain"}]
    assert report["removed"] == [{"id": doc_id_of("Heat record in Spain\nJuly was the hottest July."),
                                  "name": "d/a.txt", "title": "Heat record in Spain"}]


def test_a_folder_says_which_files_it_skipped_for_their_type(tmp_path):
    folder = tmp_path / "odd"
    write(folder / "a.txt", "Text A.")
    write(folder / "scan.pdf", b"%PDF-1.4")
    for name in ("b.docx", "c.docx", "d.docx", "e.docx"):
        write(folder / "sub" / name, b"PK")
    write(folder / ".git" / "config", "hidden: never said")
    write(folder / ".hidden.pdf", b"%PDF")
    report = ingest([folder], tmp_path / "store", analyser=LineAnalyser())
    assert len(report.added) == 1
    [note] = report.notes
    assert note.startswith(f"skipped 5 files of an unsupported type in {folder} (.docx: sub/b.docx, sub/c.docx, "
                           "sub/d.docx and 1 more; .pdf: scan.pdf); supported: ")
    assert all(suffix in note for suffix in (".txt", ".markdown", ".htm", ".ndjson", ".jsonld", ".parquet"))
    assert ".git" not in note and ".hidden" not in note


def test_a_document_in_another_language_is_stored_with_a_note(tmp_path):
    spanish = write(tmp_path / "espanol.txt", "El gobernador de Texas firmó la ley de identificación de votantes en "
                                              "2011. La ley exige que los votantes presenten una identificación con "
                                              "fotografía antes de votar.")
    english = write(tmp_path / "english.txt", "The governor of Texas signed the voter identification law in 2011.")
    report = ingest([spanish, english], tmp_path / "store", analyser=LineAnalyser())
    assert len(report.added) == 2 and not report.rejected
    assert report.notes == ["espanol.txt looks like Spanish (es): claimsift checks English claims; it is stored "
                            "but its sentences will rarely match"]


def test_the_help_names_every_supported_extension_and_how_texts_are_split():
    from typer.testing import CliRunner

    from pipeline.cli import app
    from pipeline.corpus.readers import SUPPORTED

    result = CliRunner().invoke(app, ["ingest", "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    words = set(result.output.replace(",", " ").split())
    assert SUPPORTED <= words, SUPPORTED - words
    assert "last paragraph break, else at a line break, sentence end or space" in " ".join(result.output.split())
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    row = next(line for line in readme.splitlines() if line.startswith("| `claimsift ingest PATH"))
    assert SUPPORTED <= set(re.findall(r"\.[a-z]+", row)), SUPPORTED - set(re.findall(r"\.[a-z]+", row))


def test_markdown_is_stored_as_its_plain_text(tmp_path):
    # stored raw, headings, '*Speaker:* **ted-cruz**' and '[text](url)' became sentences and evidence
    page = write(tmp_path / "note.md", "# PolitiFact: Ted **Cruz** on congress\n\n*Speaker:* **ted-cruz**\n\n"
                                       "## Ruling notes\n\nCruz said it, according to [the transcript](http://x/t).\n"
                                       "A second line of that paragraph.\n\n- Source: [PolitiFact](http://p/1)\n"
                                       "- Rating: `false`\n\n<!-- internal -->\n")
    store = tmp_path / "store"
    report = ingest([page], store, analyser=LineAnalyser())
    text = ("PolitiFact: Ted Cruz on congress\n\nSpeaker: ted-cruz\n\nRuling notes\n\nCruz said it, according to "
            "the transcript.\nA second line of that paragraph.\n\nSource: PolitiFact\nRating: false")
    assert report.added == [doc_id_of(text)] and not report.rejected
    row = Corpus(store).documents().iloc[0]
    assert row["text"] == text and row["title"] == "PolitiFact: Ted Cruz on congress"
    sentences = Corpus(store).sentences()  # offsets point into the stored text
    assert all(text[start:end] == sentence for start, end, sentence in
               zip(sentences["start"], sentences["end"], sentences["text"]))
    assert ingest([write(tmp_path / "only.md", "<!-- nothing -->\n")], store,
                  analyser=LineAnalyser()).rejected[0].reason == "no text in this Markdown file (only markup)"

