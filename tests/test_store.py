"""The corpus store: DataFrame columns, offsets, Document round trip, summary, transactions."""
from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from pipeline.core.errors import UserError
from pipeline.core.types import Document, Entity, Quote, Sentence
from pipeline.corpus.nlp import AnalysedDocument
from pipeline.corpus.store import DOCUMENT_COLUMNS, ENTITY_COLUMNS, QUOTE_COLUMNS, SENTENCE_COLUMNS, Corpus

TEXT = 'NATO spokesperson Daniele Riggio said it.\n\n"Rutte never said this," Riggio said.'


def analysed(extra: str = "", name: str = "riggio.txt") -> AnalysedDocument:
    """A hand-built analysis of TEXT (plus extra words, for a different document)."""
    text = TEXT + extra
    doc_id = hashlib.sha256(text.encode()).hexdigest()[:16]
    first = text.index("NATO")
    second = text.index('"Rutte')
    sentences = (Sentence(doc_id, 0, first, text.index("\n"), text[first:text.index("\n")], 0),
                 Sentence(doc_id, 1, second, len(text), text[second:], 1))
    riggio = text.index("Daniele Riggio")
    entities = (Entity(doc_id, 0, 4, "NATO", "ORG"), Entity(doc_id, riggio, riggio + 14, "Daniele Riggio", "PERSON"))
    content = text.index("Rutte never")
    speaker = text.rindex("Riggio")
    quotes = (Quote(doc_id, "Daniele Riggio", "said", "Rutte never said this", content, content + 21,
                    speaker, speaker + 6, speaker + 7, speaker + 11, "direct"),)
    return AnalysedDocument(Document(doc_id, text, name, "Title", "Example", "http://x", "2024-11-10"),
                            sentences, entities, quotes)


@pytest.fixture()
def store(tmp_path) -> Path:
    with Corpus(tmp_path / "store").batch() as batch:
        batch.add(analysed(), origin="riggio.txt", analyser="test-analyser")
    return tmp_path / "store"


def test_frames_have_the_documented_columns_and_offsets_hold(store):
    corpus = Corpus(store)
    assert corpus.exists() and (store / "corpus.sqlite").is_file()
    documents, sentences = corpus.documents(), corpus.sentences()
    entities, quotes = corpus.entities(), corpus.quotes()
    assert list(documents.columns) == DOCUMENT_COLUMNS
    assert list(sentences.columns) == SENTENCE_COLUMNS
    assert list(entities.columns) == ENTITY_COLUMNS
    assert list(quotes.columns) == QUOTE_COLUMNS
    text = documents.iloc[0]["text"]
    for frame, column in ((sentences, "text"), (entities, "text"), (quotes, "content")):
        for row in frame.itertuples(index=False):
            assert text[row.start:row.end] == getattr(row, column)
    quote = quotes.iloc[0]
    assert text[quote["speaker_start"]:quote["speaker_end"]] == "Riggio"
    assert text[quote["cue_start"]:quote["cue_end"]] == "said"
    # Entities and quotes point at the sentence that holds them.
    second_sentence = sentences.iloc[1]["sentence_id"]
    assert quote["sentence_id"] == second_sentence
    assert entities.set_index("text").loc["Daniele Riggio", "sentence_id"] == sentences.iloc[0]["sentence_id"]
    assert sentences["index"].tolist() == [0, 1] and sentences["paragraph"].tolist() == [0, 1]


def test_document_round_trip_and_summary(store):
    corpus = Corpus(store)
    original = analysed().document
    assert corpus.document(original.doc_id) == original
    with pytest.raises(UserError, match="no document"):
        corpus.document("nope")
    summary = corpus.summary()
    assert summary["documents"] == 1 and summary["sentences"] == 2 and summary["quotes"] == 1
    assert summary["entities_by_label"] == {"ORG": 1, "PERSON": 1}
    assert summary["quotes_by_speaker"] == {"Daniele Riggio": 1}
    assert summary["published"] == {"first": "2024-11-10", "last": "2024-11-10", "undated": 0}


def test_missing_store_reads_empty_and_summary_says_how_to_build_it(tmp_path):
    corpus = Corpus(tmp_path / "nothing")
    assert not corpus.exists()
    assert corpus.sentences().empty and list(corpus.sentences().columns) == SENTENCE_COLUMNS
    with pytest.raises(UserError, match="claimsift ingest"):
        corpus.summary()
    assert not (tmp_path / "nothing").exists()  # reading never creates a store


def test_delete_cascades_and_ids_are_never_reused(store):
    corpus = Corpus(store)
    first = analysed().document.doc_id
    old_ids = set(corpus.sentences()["sentence_id"])
    other = analysed(" Other.", name="other.txt")
    with corpus.batch() as batch:
        batch.delete_document(first)
        batch.add(other, origin="other.txt")
    assert set(corpus.documents()["doc_id"]) == {other.document.doc_id}
    assert set(corpus.entities()["doc_id"]) == {other.document.doc_id}
    assert set(corpus.quotes()["doc_id"]) == {other.document.doc_id}
    assert not old_ids & set(corpus.sentences()["sentence_id"])


def test_failed_batch_rolls_back_everything(store):
    corpus = Corpus(store)
    before = corpus.sentences()
    with pytest.raises(RuntimeError):
        with corpus.batch() as batch:
            batch.delete_document(analysed().document.doc_id)
            batch.add(analysed(" New.", name="new.txt"))
            raise RuntimeError("crash before commit")
    pd.testing.assert_frame_equal(before, corpus.sentences())
    assert corpus.documents()["name"].tolist() == ["riggio.txt"]


def test_savepoint_discards_one_input_only(store):
    corpus = Corpus(store)
    with corpus.batch() as batch:
        with pytest.raises(ValueError):
            with batch.savepoint():
                batch.add(analysed(" Half.", name="half.txt"))
                raise ValueError("bad input")
        batch.add(analysed(" Fine.", name="fine.txt"))
    assert corpus.documents()["name"].tolist() == ["fine.txt", "riggio.txt"]


def test_same_name_twice_is_refused_by_the_schema(store):
    with pytest.raises(sqlite3.IntegrityError):
        with Corpus(store).batch() as batch:
            batch.add(analysed(" Changed.", name="riggio.txt"))


def test_a_process_killed_mid_write_leaves_the_previous_state(store):
    import subprocess
    import sys

    code = f"""
import os, sys
sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})
from test_store import analysed
from pipeline.corpus.store import Corpus
with Corpus({str(store)!r}).batch() as batch:
    for n in range(50):
        batch.add(analysed(" more " * 20000 + str(n), name=f"big{{n}}.txt"))
    os._exit(9)  # dies inside the transaction: no rollback, no commit
"""
    result = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parent.parent)
    assert result.returncode == 9
    # WAL mode: uncommitted pages in the write-ahead log show the crash was mid-write
    assert (store / "corpus.sqlite-wal").stat().st_size > 0
    corpus = Corpus(store)
    assert corpus.documents()["name"].tolist() == ["riggio.txt"]
    assert len(corpus.sentences()) == 2
