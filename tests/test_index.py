"""The evidence index: manifest, incremental updates, refusal of foreign vectors, atomic swaps."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from pipeline.core.errors import UserError
from pipeline.corpus.store import Corpus
from pipeline.registry.embedding import Encoder
from pipeline.retrieval.index import (
    SENTENCE_CONTEXT,
    EvidenceIndex,
    IndexMismatchError,
    current_index_dir,
    load_index,
    stale_index_message,
    update_index,
)

SEEDS = Path(__file__).resolve().parent.parent / "seeds"

pytestmark = pytest.mark.slow  # every test here reads or copies the seed store


def test_manifest_names_model_and_counts(seed_store):
    index = load_index(seed_store, expected_encoder=Encoder().tag)
    n_sentences = len(Corpus(seed_store).sentences())
    assert index.size == n_sentences > 100
    assert index.manifest["encoder"]["model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert index.manifest["dimension"] == 384
    assert index.manifest["count"] == n_sentences
    assert index.manifest["faiss"] == "IndexFlatIP"  # exact search at this size


def test_dense_and_lexical_search_find_the_denial(seed_store):
    encoder = Encoder()
    index = load_index(seed_store)
    sentences = Corpus(seed_store).sentences().set_index("sentence_id")
    query = "Rutte never said he would expel the United States"
    _, dense_ids = index.search_dense(encoder.encode([query]), 5)
    _, lexical_ids = index.search_lexical([query], 5)
    dense_texts = [sentences.loc[i, "text"] for i in dense_ids[0]]
    lexical_texts = [sentences.loc[i, "text"] for i in lexical_ids[0] if i >= 0]
    # Denials that do not name what they deny, found through the sentence read before them.
    assert any("has never said this" in t or "“bogus” claim" in t for t in dense_texts), dense_texts
    assert any("expel" in t for t in lexical_texts), lexical_texts
    from pipeline.retrieval.retrieve import CorpusView, retrieve

    best = retrieve([query], encoder.encode([query]), index, CorpusView.from_store(seed_store))[0][0]
    assert "has never said this" in best.sentence


def test_each_sentence_is_indexed_with_its_title_and_the_sentence_before_it(seed_store):
    import pandas as pd

    from pipeline.retrieval.index import (
        INDEX_READING,
        PREVIOUS_CHARS,
        index_context,
        index_titles,
        indexed_texts,
        stale_index_message,
    )

    assert index_context(current_index_dir(seed_store)) == INDEX_READING == "title+previous/2"
    assert stale_index_message(seed_store) is None
    # The seeds are plain text: ingest's fallback title is each file's first line ("Skip to
    # content" for one), which is no title to read a sentence with.
    seed_documents = Corpus(seed_store).documents()
    assert "Skip to content" in set(seed_documents["title"]) and index_titles(seed_documents) == {}

    documents = pd.DataFrame({"doc_id": ["a", "b", "c"],
                              "title": ["Aleister Crowley", "Skip to content", "A very long heading " * 40],
                              "text": ["He was born in 1875.\nHe died in 1947.", "Skip to content\nMenu", "x"]})
    titles = index_titles(documents)
    assert titles == {"a": "Aleister Crowley", "c": ("A very long heading " * 40)[:300]}
    long_sentence = "word " * 400
    sentences = pd.DataFrame({"doc_id": ["a", "a", "b", "b", "b"], "index": [0, 1, 0, 1, 2],
                              "text": ["He was born in 1875.", "He died in 1947.", "Skip to content", long_sentence,
                                       "No."]})
    texts = indexed_texts(sentences, titles)
    assert texts[:3] == ["Aleister Crowley: He was born in 1875.",
                         "Aleister Crowley: He was born in 1875. He died in 1947.", "Skip to content"]
    assert texts[4] == long_sentence[-PREVIOUS_CHARS:] + " No."  # the sentence itself is never cut off
    assert indexed_texts(sentences, titles, "none") == sentences["text"].tolist()
    with pytest.raises(UserError, match="unknown sentence context"):
        indexed_texts(sentences, titles, "paragraph")


def test_an_index_read_another_way_is_rebuilt_whole(seed_store_copy):
    directory = current_index_dir(seed_store_copy)
    manifest = json.loads((directory / "manifest.json").read_text())
    manifest["context_rules"] = 1
    (directory / "manifest.json").write_text(json.dumps(manifest))
    from pipeline.retrieval.index import stale_index_message

    assert "claimsift index --store" in stale_index_message(seed_store_copy)
    update = update_index(seed_store_copy)
    assert update.embedded == update.total == len(Corpus(seed_store_copy).sentences())
    assert stale_index_message(seed_store_copy) is None
    (current_index_dir(seed_store_copy) / "manifest.json").unlink()  # a build that died half-way
    assert "no readable manifest" in stale_index_message(seed_store_copy)
    assert update_index(seed_store_copy).embedded == update.total


def test_retrieval_skips_the_sentences_of_a_replaced_document_an_index_behind_the_store_holds(seed_store_copy,
                                                                                               tmp_path):
    from pipeline.corpus.ingest import ingest
    from pipeline.retrieval.retrieve import CorpusView, retrieve

    extra = tmp_path / "extra.txt"
    extra.write_text("Governor Jones vetoed the budget bill on Friday. The legislature may override the veto.\n")
    ingest([extra], seed_store_copy)
    update_index(seed_store_copy)
    extra.write_text("Governor Jones signed the budget bill on Friday. The legislature welcomed it.\n")
    ingest([extra], seed_store_copy)  # as `ingest --no-index`: the index still holds the old version
    assert "claimsift index --store" in stale_index_message(seed_store_copy)
    encoder = Encoder()
    claim = "Governor Jones vetoed the budget bill"
    (evidence,) = retrieve([claim], encoder.encode([claim]), load_index(seed_store_copy),
                           CorpusView.from_store(seed_store_copy), top_k=5)
    stored = set(Corpus(seed_store_copy).sentences()["text"])
    assert evidence and all(e.sentence in stored for e in evidence)
    assert not any("vetoed" in e.sentence for e in evidence)


def test_stopword_only_query_matches_nothing_lexically(seed_store):
    _, ids = load_index(seed_store).search_lexical(["the of and"], 5)
    assert (ids == -1).all()


def test_update_embeds_only_new_sentences(seed_store_copy, tmp_path):
    unchanged = update_index(seed_store_copy)
    assert unchanged.embedded == 0 and unchanged.removed == 0
    before = load_index(seed_store_copy)
    before_vectors = np.array(before.vectors())  # the old version directory is removed on update
    extra = tmp_path / "extra.txt"
    extra.write_text("NATO allies met in Vilnius in July 2023. The summit discussed Ukraine's accession.\n")
    from pipeline.corpus.ingest import ingest

    ingest([extra], seed_store_copy)
    update = update_index(seed_store_copy)
    assert update.embedded == 2
    after = load_index(seed_store_copy)
    assert after.size == before.size + 2
    # Old vectors are carried over, not recomputed.
    common = np.intersect1d(before.ids, after.ids)
    old = dict(zip(before.ids.tolist(), before_vectors))
    new = dict(zip(after.ids.tolist(), np.asarray(after.vectors())))
    assert all(np.array_equal(old[i], new[i]) for i in common[:20])


def test_index_from_another_model_is_refused(seed_store_copy):
    directory = current_index_dir(seed_store_copy)
    manifest = json.loads((directory / "manifest.json").read_text())
    manifest["encoder"] = {"model": "some/other-model", "dimension": 768}
    (directory / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexMismatchError, match="other-model"):
        load_index(seed_store_copy, expected_encoder=Encoder().tag)
    with pytest.raises(IndexMismatchError, match="rebuild"):
        update_index(seed_store_copy)


def test_an_index_in_use_keeps_answering_after_another_process_rebuilds_it(seed_store_copy):
    # A long job (an evaluation, a verdict fit) holds the index while another process finds it
    # stale and rebuilds it: the retired folder goes, the loaded index still reads its vectors.
    index = load_index(seed_store_copy)
    query = Encoder().encode(["Rutte never said NATO would expel members."])[0]
    sentence_ids = index.ids[:50].tolist()
    before = index.similarities(query, sentence_ids)
    update_index(seed_store_copy, rebuild=True)
    assert not index.directory.exists()
    assert index.similarities(query, sentence_ids) == before


def test_an_index_replaced_while_it_is_being_loaded_is_loaded_again(tmp_path, monkeypatch):
    root = tmp_path / "store" / "index"
    for version in ("v1", "v2"):
        (root / version).mkdir(parents=True)
    (root / "CURRENT").write_text("v1\n")

    def load(directory, expected_encoder=None):
        if directory.name == "v1":  # another process's build swaps CURRENT and removes v1 mid-load
            (root / "CURRENT").write_text("v2\n")
            (root / "v1").rmdir()
            raise FileNotFoundError(2, "No such file or directory", str(directory / "ids.npy"))
        return f"loaded {directory.name}"

    monkeypatch.setattr(EvidenceIndex, "load", load)
    assert load_index(tmp_path / "store") == "loaded v2"
    (root / "v3").mkdir()
    (root / "CURRENT").write_text("v3\n")
    monkeypatch.setattr(EvidenceIndex, "load", lambda d, e=None: (_ for _ in ()).throw(FileNotFoundError(d)))
    with pytest.raises(FileNotFoundError):  # the same version failing again is not retried
        load_index(tmp_path / "store")


def _two_sentence_index(tmp_path):
    """A store folder holding only a current index version of two sentences: (store, version folder)."""
    store = tmp_path / "store"
    version = store / "index" / "v1"
    EvidenceIndex.build(version, [1, 2], ["Rutte denied it.", "NATO met in June."], np.eye(2, 8, dtype=np.float32),
                        {"model": "m", "dimension": 8}, SENTENCE_CONTEXT)
    (store / "index" / "CURRENT").write_text("v1\n")
    return store, version


@pytest.mark.parametrize("lost", ["ids.npy", "dense.faiss", "bm25", "vectors.npy"])
def test_an_index_version_with_a_file_missing_names_the_folder_and_the_rebuild(tmp_path, lost):
    # a version damaged without a rebuild (a file deleted by hand, a copy cut short) was a
    # FileNotFoundError traceback
    store, version = _two_sentence_index(tmp_path)
    if (version / lost).is_dir():
        shutil.rmtree(version / lost)
    else:
        (version / lost).unlink()
    with pytest.raises(UserError) as error:
        load_index(store)
    message = str(error.value)
    assert str(version) in message and lost in message and "\n" not in message
    assert f"claimsift index --store {store} --rebuild" in message


@pytest.mark.parametrize("manifest", [None, '{"format": 3, "enc', "null", b"\xff\xfe{}"])
def test_an_index_version_with_a_missing_or_torn_manifest_names_the_folder_and_the_rebuild(tmp_path, manifest):
    # a manifest cut short was read outside the damage check: a JSONDecodeError traceback
    store, version = _two_sentence_index(tmp_path)
    if manifest is None:
        (version / "manifest.json").unlink()
    elif isinstance(manifest, bytes):
        (version / "manifest.json").write_bytes(manifest)
    else:
        (version / "manifest.json").write_text(manifest)
    with pytest.raises(UserError) as error:
        load_index(store)
    message = str(error.value)
    assert str(version) in message and "manifest.json" in message and "\n" not in message
    assert f"claimsift index --store {store} --rebuild" in message


def test_another_users_build_lock_does_not_stop_a_build(tmp_path, monkeypatch):
    # the lock file stays, owned by whoever built first; opening it to append needed write access
    import builtins
    import errno
    import os

    from pipeline.retrieval.index import LOCK_NAME, build_lock

    lock = tmp_path / "store" / "index" / LOCK_NAME
    lock.parent.mkdir(parents=True)
    lock.touch()
    real_open, real_os_open = builtins.open, os.open

    def guarded_open(file, mode="r", *args, **kwargs):
        if Path(str(file)) == lock and set(mode) & set("wax+"):
            raise PermissionError(errno.EACCES, "Permission denied", str(file))
        return real_open(file, mode, *args, **kwargs)

    def guarded_os_open(file, flags, *args, **kwargs):
        if Path(str(file)) == lock and flags & (os.O_WRONLY | os.O_RDWR):
            raise PermissionError(errno.EACCES, "Permission denied", str(file))
        return real_os_open(file, flags, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded_open)
    monkeypatch.setattr(os, "open", guarded_os_open)
    with build_lock(tmp_path / "store"):
        pass


def test_an_update_over_a_version_with_a_file_missing_embeds_everything_again(tmp_path):
    from pipeline.corpus.ingest import ingest
    from test_ingest import LineAnalyser

    class FakeEncoder:
        tag = {"model": "fake", "dimension": 8}

        def encode(self, texts, show_progress=False):
            vectors = np.random.default_rng(len(texts)).normal(size=(len(texts), 8)).astype(np.float32)
            return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    store = tmp_path / "store"
    (tmp_path / "doc.txt").write_text("Rutte denied it.\nNATO met in June.\n", encoding="utf-8")
    ingest([tmp_path / "doc.txt"], store, analyser=LineAnalyser())
    update_index(store, encoder=FakeEncoder())
    (current_index_dir(store) / "ids.npy").unlink()
    assert stale_index_message(store) is None  # check's warning before the load was a FileNotFoundError too
    update = update_index(store, encoder=FakeEncoder())
    assert update.embedded == update.total == 2
    assert load_index(store).size == 2


def test_an_index_of_sentences_of_only_stop_words_builds_and_loads(tmp_path):
    # bm25s fails on an empty vocabulary: a store holding only "It is." could not be indexed
    vectors = np.eye(2, 8, dtype=np.float32)
    EvidenceIndex.build(tmp_path / "v1", [1, 2], ["It is.", "x"], vectors, {"model": "m", "dimension": 8}, "none")
    index = EvidenceIndex.load(tmp_path / "v1")
    assert index.lexical is None and index.search_lexical(["harbour"], 5)[1].shape == (1, 0)


def test_crash_during_build_keeps_previous_index(seed_store_copy, monkeypatch):
    previous = current_index_dir(seed_store_copy)

    def explode(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(EvidenceIndex, "build", classmethod(lambda cls, *a, **k: explode()))
    with pytest.raises(RuntimeError, match="disk full"):
        update_index(seed_store_copy, rebuild=True)
    assert current_index_dir(seed_store_copy) == previous
    assert not [p for p in previous.parent.iterdir() if p.name.startswith(".partial-")]
    assert load_index(seed_store_copy).size > 0


def test_missing_index_and_store_are_clear_errors(tmp_path, seed_store_copy):
    with pytest.raises(UserError, match="no corpus store"):
        update_index(tmp_path / "nowhere")
    shutil.rmtree(seed_store_copy / "index")
    with pytest.raises(UserError, match="claimsift index"):
        load_index(seed_store_copy)
