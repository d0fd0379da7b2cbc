"""Evidence index: every corpus sentence in a dense FAISS index and a lexical BM25 index.

Persisted beside the store under ``<store>/index/``::

    CURRENT            one line: the version directory in use
    v<N>/manifest.json encoder tag (model, package version, dimension), counts, FAISS type, the
                       context each sentence was read with (``SENTENCE_CONTEXT``)
    v<N>/ids.npy       sentence ids (int64), row i of vectors.npy is sentence ids[i]
    v<N>/vectors.npy   normalised float32 embeddings: kept so updates never re-embed old sentences
    v<N>/dense.faiss   FAISS index over the vectors (ids are row numbers)
    v<N>/bm25/         bm25s index (numpy arrays + JSON, no pickle)

An update writes a new version directory and then swaps ``CURRENT`` with one atomic rename, so a
crash mid-build leaves the previous index in use. Vectors from another encoder are refused.
"""
from __future__ import annotations

import datetime as _dt
import fcntl
import hashlib
import json
import os
import shutil
import sqlite3
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from pipeline.core.errors import UserError
from pipeline.core.io import atomic_write_text
from pipeline.corpus.store import DB_NAME, LOCK_TIMEOUT_ENV, Corpus, lock_timeout
from pipeline.registry.embedding import Encoder

# Imported where used, not here (slow to load; most callers of this module never need them): bm25s, faiss,
# PyStemmer.

INDEX_DIRNAME = "index"
# Exact inner-product search answers in ~10 ms up to this size on 2 cores (bench/bench_check.py);
# above it an HNSW graph keeps p50 retrieval under a few ms at a small recall cost.
EXACT_SEARCH_LIMIT = 200_000
HNSW_M = 32
HNSW_EF_SEARCH = 128
FORMAT_VERSION = 1
# What each sentence is read with when it is embedded and indexed for BM25 (``indexed_texts``):
# its document's title and the sentence before it. A sentence alone often cannot be found ("No.
# His career history does not include energy companies." answers a question the sentence before
# it asks; "She said it was false." names neither her nor it). The passage shown is still the
# sentence. Chosen on the tune split of every corpus (bench/retrieval_recall.py --context).
SENTENCE_CONTEXT = "title+previous"
SENTENCE_CONTEXTS = ("none", "title", "previous", "title+previous")
# How the context is cut (``index_titles``, ``indexed_texts``); bump when that changes, so that
# indexes built the other way are rebuilt. The encoder reads 256 tokens at most and the sentence
# comes last: a long title or previous sentence must not push the sentence itself out.
CONTEXT_RULES = 2
TITLE_CHARS = 300
PREVIOUS_CHARS = 600
INDEX_READING = f"{SENTENCE_CONTEXT}/{CONTEXT_RULES}"


class IndexMismatchError(UserError):
    pass


class IndexChangedError(UserError):
    """The store was re-indexed after a job pinned its index (``load_index(..., identity=...)``)."""


def index_titles(documents) -> dict[str, str]:
    """Document id -> the title to read its sentences with (columns doc_id, title, text): none
    where the title is only the document's own first line (what ingest falls back to for plain
    text, "Skip to content" included), cut to ``TITLE_CHARS``."""
    titles = {}
    for doc_id, title, text in zip(documents["doc_id"].astype(str), documents["title"].fillna("").astype(str),
                                   documents["text"].fillna("").astype(str)):
        first_line = text.split("\n", 1)[0].strip()
        fallback = title == first_line or (title.endswith("…") and first_line.startswith(title[:-1]))
        if title and not fallback:
            titles[doc_id] = title[:TITLE_CHARS]
    return titles


def indexed_texts(sentences, titles: dict[str, str], context: str = SENTENCE_CONTEXT) -> list[str]:
    """The text indexed for each row of ``sentences`` (columns doc_id, index, text): the sentence
    with its ``context`` before it (``SENTENCE_CONTEXTS``; ``titles`` from ``index_titles``, the
    previous sentence's last ``PREVIOUS_CHARS``); untitled documents and first sentences go
    without what they lack."""
    if context not in SENTENCE_CONTEXTS:
        raise UserError(f"unknown sentence context {context!r}; known: {', '.join(SENTENCE_CONTEXTS)}")
    doc_ids = sentences["doc_id"].astype(str).tolist()
    positions = sentences["index"].astype(int).tolist()
    texts = sentences["text"].astype(str).tolist()
    by_position = dict(zip(zip(doc_ids, positions), texts))
    out = []
    for doc_id, position, text in zip(doc_ids, positions, texts):
        parts = []
        title = titles.get(doc_id, "") if context in ("title", "title+previous") else ""
        if title:
            parts.append(f"{title}:")
        if context in ("previous", "title+previous") and position > 0:
            parts.append(by_position.get((doc_id, position - 1), "")[-PREVIOUS_CHARS:])
        parts.append(text)
        out.append(" ".join(part for part in parts if part))
    return out


def index_context(directory: Path) -> str | None:
    """How an index read its sentences, "<context>/<rules>" (``INDEX_READING`` for this version;
    indexes from before it was recorded: "none/1"); None when its manifest cannot be read."""
    try:
        manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict):
        return None
    return f"{manifest.get('sentence_context', 'none')}/{manifest.get('context_rules', 1)}"


def _stemmer():
    try:
        import Stemmer

        return Stemmer.Stemmer("english")
    except ImportError:  # PyStemmer is optional: BM25 still works on surface forms
        return None


def tokenize_for_bm25(texts: Sequence[str], stemmer=None):
    import bm25s

    return bm25s.tokenize(list(texts), stopwords="en", stemmer=stemmer, show_progress=False)


def build_faiss(vectors: np.ndarray):
    import faiss

    dim = vectors.shape[1]
    if len(vectors) <= EXACT_SEARCH_LIMIT:
        index: faiss.Index = faiss.IndexFlatIP(dim)
    else:
        graph = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efConstruction = 40
        graph.hnsw.efSearch = HNSW_EF_SEARCH  # a search setting: the same set before or after add
        index = graph
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


@dataclass
class EvidenceIndex:
    """A loaded index version: sentence ids, FAISS, BM25 and the manifest."""

    directory: Path
    manifest: dict
    ids: np.ndarray
    # faiss, bm25s and PyStemmer objects (or None for an empty store): libraries loaded lazily
    # and, but for faiss, untyped.
    dense: Any
    lexical: Any
    stemmer: Any = None
    # The sentence vectors, memory-mapped when the index is loaded: the open map keeps this
    # version's file readable after a newer build retires its folder (another process may rebuild).
    mapped_vectors: np.ndarray | None = None

    @property
    def size(self) -> int:
        return int(len(self.ids))

    @property
    def identity(self) -> str:
        return index_identity_of(self.directory.name, self.manifest)

    @classmethod
    def build(cls, directory: Path, ids: np.ndarray, texts: Sequence[str], vectors: np.ndarray,
              encoder_tag: dict, sentence_context: str = "none") -> "EvidenceIndex":
        """``texts``: what BM25 indexes for each id, read with ``sentence_context`` (recorded)."""
        import bm25s

        directory.mkdir(parents=True, exist_ok=True)
        ids = np.asarray(ids, dtype=np.int64)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        np.save(directory / "ids.npy", ids)
        np.save(directory / "vectors.npy", vectors)
        dense = build_faiss(vectors) if len(ids) else None
        if dense is not None:
            import faiss

            faiss.write_index(dense, str(directory / "dense.faiss"))
        stemmer = _stemmer()
        lexical = None
        tokens = tokenize_for_bm25(texts, stemmer) if len(ids) else None
        if tokens is not None and tokens.vocab:  # sentences of only stop words leave none: BM25 fails on that
            lexical = bm25s.BM25()
            lexical.index(tokens, show_progress=False)
            lexical.save(str(directory / "bm25"))
        manifest = {
            "format": FORMAT_VERSION,
            "encoder": encoder_tag,
            "dimension": int(vectors.shape[1]) if vectors.ndim == 2 else encoder_tag.get("dimension"),
            "count": int(len(ids)),
            "sentence_context": sentence_context,
            "context_rules": CONTEXT_RULES,
            "faiss": type(dense).__name__ if dense is not None else None,
            "bm25": {"library": "bm25s", "stemmer": "english" if stemmer else None, "stopwords": "en",
                     "indexed": lexical is not None},
            "built": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }
        (directory / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        return cls(directory, manifest, ids, dense, lexical, stemmer)

    @classmethod
    def load(cls, directory: Path, expected_encoder: dict | None = None) -> "EvidenceIndex":
        import bm25s
        import faiss

        reading = "manifest.json"
        try:
            # A manifest cut short or garbled is damage like a missing file, not a traceback.
            manifest = json.loads((directory / reading).read_text(encoding="utf-8"))
            if not isinstance(manifest, dict):
                raise ValueError(f"{reading} does not hold an object")
        except (OSError, ValueError):  # ValueError: invalid JSON or UTF-8
            raise _damaged(directory, reading) from None
        if expected_encoder is not None:
            check_encoder(manifest, expected_encoder, directory)
        reading = "ids.npy"
        try:
            ids = np.load(directory / reading, allow_pickle=False)
            reading = "dense.faiss"
            dense = faiss.read_index(str(directory / reading)) if len(ids) else None
            if dense is not None and hasattr(dense, "hnsw"):
                dense.hnsw.efSearch = HNSW_EF_SEARCH
            indexed = len(ids) and manifest.get("bm25", {}).get("indexed", True)
            reading = "bm25"
            lexical = bm25s.BM25.load(str(directory / reading), allow_pickle=False) if indexed else None
            reading = "vectors.npy"
            vectors = np.load(directory / reading, allow_pickle=False, mmap_mode="r") if len(ids) else None
        except (OSError, RuntimeError, ValueError):  # faiss raises RuntimeError, a torn .npy ValueError
            # A version damaged outside a build (a file deleted, a copy cut short): load_index retries
            # it only when another build replaced it meanwhile, else this line is what the user sees.
            raise _damaged(directory, reading) from None
        stemmer = _stemmer() if manifest.get("bm25", {}).get("stemmer") else None
        return cls(directory, manifest, ids, dense, lexical, stemmer, vectors)

    def vectors(self) -> np.ndarray:
        if self.mapped_vectors is not None:
            return self.mapped_vectors
        return np.load(self.directory / "vectors.npy", allow_pickle=False, mmap_mode="r")

    def similarities(self, query_vector: np.ndarray, sentence_ids: Sequence[int]) -> dict[int, float]:
        """Cosine of one query with the given sentences, one pass over the ids (sentences not in
        the index are left out)."""
        if not len(sentence_ids):
            return {}
        rows = np.flatnonzero(np.isin(self.ids, np.asarray(sentence_ids, dtype=np.int64)))
        if not len(rows):
            return {}
        scores = np.asarray(self.vectors()[rows], dtype=np.float32) @ np.asarray(query_vector, dtype=np.float32)
        return dict(zip(self.ids[rows].tolist(), scores.tolist()))

    def search_dense(self, query_vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, sentence ids), each (n_queries, k'); k' = min(k, size)."""
        if self.dense is None:
            return np.zeros((len(query_vectors), 0)), np.zeros((len(query_vectors), 0), dtype=np.int64)
        import faiss

        k = min(k, self.size)
        # OpenMP threads spin-wait; for a handful of queries one thread is several times faster
        # than two on a busy 2-core machine (35 ms vs 7 ms on 50k vectors, measured).
        faiss.omp_set_num_threads(1 if len(query_vectors) < 16 else max(1, os.cpu_count() or 1))
        scores, rows = self.dense.search(np.ascontiguousarray(query_vectors, dtype=np.float32), k)
        valid = rows >= 0
        return np.where(valid, scores, -np.inf), np.where(valid, self.ids[np.clip(rows, 0, None)], -1)

    def search_lexical(self, queries: Sequence[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        if self.lexical is None:
            return np.zeros((len(queries), 0)), np.zeros((len(queries), 0), dtype=np.int64)
        k = min(k, self.size)
        tokens = tokenize_for_bm25(queries, self.stemmer)
        # Queries made only of stopwords tokenise to nothing; bm25s then returns arbitrary rows
        # with score 0, which the fusion must not count as matches.
        rows, scores = self.lexical.retrieve(tokens, k=k, show_progress=False, n_threads=1)
        return scores, np.where(scores > 0, self.ids[rows], -1)


def check_encoder(manifest: dict, expected: dict, where: Path | str) -> None:
    built = manifest.get("encoder", {})
    if built.get("model") != expected.get("model") or built.get("dimension") != expected.get("dimension"):
        raise IndexMismatchError(
            f"{where}: the index was built with {built.get('model')} ({built.get('dimension')} dims) but this "
            f"run uses {expected.get('model')} ({expected.get('dimension')} dims); rebuild it with "
            "`claimsift index --store … --rebuild`"
        )


def index_identity_of(version: str, manifest: dict) -> str:
    """Which build an index version is: its folder and a digest of its manifest (which says when
    it was built and what it holds). The folder alone is not enough: numbering starts again at v1
    in a store whose index folder was deleted and built anew."""
    digest = hashlib.sha256(json.dumps(manifest, sort_keys=True).encode("utf-8")).hexdigest()[:12]
    return f"{version} (built {manifest.get('built', 'at an unknown time')}, manifest {digest})"


def current_index_identity(store_dir: Path, attempts: int = 5) -> str | None:
    """``index_identity_of`` the store's current index; None when it has none or its manifest
    cannot be read (``load_index`` then says why)."""
    directory = current_index_dir(store_dir)
    for _ in range(attempts):
        if directory is None:
            return None
        try:
            manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            now = current_index_dir(store_dir)  # a build swapped CURRENT and removed this version meanwhile
            if now == directory:
                return None
            directory = now
            continue
        return index_identity_of(directory.name, manifest) if isinstance(manifest, dict) else None
    return None


def index_root(store_dir: Path) -> Path:
    return Path(store_dir) / INDEX_DIRNAME


def current_index_dir(store_dir: Path) -> Path | None:
    pointer = index_root(store_dir) / "CURRENT"
    if not pointer.is_file():
        return None
    target = index_root(store_dir) / pointer.read_text().strip()
    return target if target.is_dir() else None


def load_index(store_dir: Path, expected_encoder: dict | None = None, attempts: int = 5,
               identity: str | None = None) -> EvidenceIndex:
    """The store's current index. ``identity`` (``current_index_identity`` read earlier, where a
    job started): the build to load; the store re-indexed since is an ``IndexChangedError``, as an
    update keeps no older version to go back to."""
    index = _load_current(store_dir, expected_encoder, attempts)
    if identity is not None and index.identity != identity:
        raise IndexChangedError(
            f"{store_dir}: the evidence index changed since this job started (from {identity} to {index.identity}), "
            "and one output must not mix the two; start the job again (its checkpoint, made with the old index, "
            "cannot be resumed)")
    return index


def _load_current(store_dir: Path, expected_encoder: dict | None, attempts: int) -> EvidenceIndex:
    directory = current_index_dir(store_dir)
    for _ in range(attempts - 1):
        if directory is None:
            break
        try:
            return EvidenceIndex.load(directory, expected_encoder)
        except (OSError, RuntimeError, IndexMismatchError):
            # A build in another process swapped CURRENT and removed this version while it was
            # read (files gone: FileNotFoundError, faiss's RuntimeError, a damaged version): read
            # the new one. The same version failing is a real problem, raised as it is.
            now = current_index_dir(store_dir)
            if now == directory:
                raise
            directory = now
    if directory is None:
        raise UserError(f"{store_dir}: no evidence index; build it with `claimsift index --store {store_dir}`")
    return EvidenceIndex.load(directory, expected_encoder)


@dataclass(frozen=True)
class IndexUpdate:
    version: str
    total: int
    embedded: int
    removed: int
    seconds: float

    @property
    def sentences_per_second(self) -> float:
        return self.embedded / self.seconds if self.seconds > 0 else 0.0


def _damaged(directory: Path, reading: str) -> IndexMismatchError:
    return IndexMismatchError(f"{directory}: the evidence index is damaged ({reading} is missing or unreadable); "
                              f"rebuild it with `claimsift index --store {directory.parent.parent} --rebuild`")


LOCK_NAME = ".build.lock"


class IndexBusyError(UserError):
    """Another process held the index build lock for longer than the lock timeout."""


@contextmanager
def build_lock(store_dir: Path, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """One index builder per store at a time: an exclusive lock on ``index/.build.lock``.

    An OS file lock (flock), so a builder that dies releases it. Another builder waits for it
    up to ``lock_timeout()`` seconds (calling ``on_wait`` once), then fails with IndexBusyError.
    Opened read-only (flock needs no write access): the file stays owned by whoever built first,
    so in a shared store another user must be able to lock it too.
    """
    root = index_root(store_dir)
    root.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(root / LOCK_NAME, os.O_RDONLY | os.O_CREAT, 0o666)
    except OSError as exc:
        raise UserError(f"{root / LOCK_NAME}: cannot open the lock file that keeps two index builds apart "
                        f"({exc.strerror or exc}); make it readable, or {root} writable") from None
    with os.fdopen(descriptor, "rb") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
            timeout = lock_timeout()
            deadline = time.monotonic() + timeout
            while True:
                time.sleep(0.2)
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise IndexBusyError(
                            f"{store_dir}: another process has been building the index for longer than "
                            f"{timeout:.0f} s; try again when it has finished (${LOCK_TIMEOUT_ENV} sets how "
                            "long to wait)") from None
        yield  # the lock goes with the file handle


def stale_index_message(store_dir: Path | str) -> str | None:
    """Why the index no longer matches the store's sentences (``ingest --no-index``, or a build
    that was stopped), or None when it does or there is none. Sentence ids only grow and are
    never reused, so the same count and the same largest id mean the same sentences."""
    directory = current_index_dir(Path(store_dir))
    if directory is None:
        return None
    built = index_context(directory)
    if built != INDEX_READING:
        return (f"the evidence index of {store_dir} reads each sentence as {built or 'unknown (no readable manifest)'}, "
                f"this version as {INDEX_READING}; claims are checked against the old index until you run "
                f"`claimsift index --store {store_dir}`")
    try:
        ids = np.load(directory / "ids.npy", allow_pickle=False, mmap_mode="r")
    except (OSError, ValueError):  # damaged, or replaced by a build meanwhile: load_index says which
        return None
    with sqlite3.connect(Path(store_dir) / DB_NAME) as connection:
        count, largest = connection.execute("SELECT COUNT(*), MAX(sentence_id) FROM sentences").fetchone()
    if count == len(ids) and (largest or 0) == (int(ids.max()) if len(ids) else 0):
        return None
    return (f"the evidence index of {store_dir} is out of date: it holds {len(ids):,} sentences, the store "
            f"{count:,} (documents ingested with --no-index?). Claims are checked against the old index until "
            f"you run `claimsift index --store {store_dir}`")


def update_index(store_dir: Path | str, encoder=None, rebuild: bool = False, progress: bool = False,
                 on_wait: Callable[[], None] | None = None) -> IndexUpdate:
    """Bring the index in line with the store's sentences, embedding only the new ones. One
    build at a time (``build_lock``): a build that waited for another finds the index current
    and returns at once, unless ``rebuild``."""

    store_dir = Path(store_dir)
    corpus = Corpus(store_dir)
    if not corpus.exists():
        raise UserError(f"{store_dir}: no corpus store here; run `claimsift ingest PATH --store {store_dir}` first")
    with build_lock(store_dir, on_wait):
        return _update_index(store_dir, corpus, encoder, rebuild, progress)


def _update_index(store_dir: Path, corpus, encoder, rebuild: bool, progress: bool) -> IndexUpdate:
    started = time.perf_counter()
    encoder = encoder or Encoder()
    sentences = corpus.sentences()
    wanted_ids = sentences["sentence_id"].to_numpy(dtype=np.int64)

    old_ids = np.zeros(0, dtype=np.int64)
    old_vectors = np.zeros((0, encoder.tag["dimension"]), dtype=np.float32)
    previous = current_index_dir(store_dir)
    if previous is not None and index_context(previous) != INDEX_READING:
        rebuild = True  # every vector was made from texts read another way
    if previous is not None and not rebuild:
        manifest = json.loads((previous / "manifest.json").read_text())
        check_encoder(manifest, encoder.tag, previous)
        try:
            old_ids = np.load(previous / "ids.npy", allow_pickle=False)
            old_vectors = np.load(previous / "vectors.npy", allow_pickle=False)
        except (OSError, ValueError):  # a damaged version (a file deleted, a copy cut short): embed all again
            old_ids = np.zeros(0, dtype=np.int64)
            old_vectors = np.zeros((0, encoder.tag["dimension"]), dtype=np.float32)
            rebuild = True

    known = {int(i): row for row, i in enumerate(old_ids)}
    keep_rows = [known[int(i)] for i in wanted_ids if int(i) in known]
    new_positions = [p for p, i in enumerate(wanted_ids) if int(i) not in known]
    removed = len(set(known) - set(int(i) for i in wanted_ids))
    if previous is not None and not rebuild and not new_positions and not removed:
        return IndexUpdate(previous.name, len(old_ids), 0, 0, time.perf_counter() - started)

    # Built only when something is embedded: an index already up to date costs no context work.
    texts = indexed_texts(sentences, index_titles(corpus.documents()), SENTENCE_CONTEXT)
    new_vectors = encoder.encode([texts[p] for p in new_positions], show_progress=progress)
    ids = np.concatenate([old_ids[keep_rows], wanted_ids[new_positions]]).astype(np.int64)
    vectors = np.concatenate([old_vectors[keep_rows], new_vectors]).astype(np.float32)
    text_by_id = dict(zip(wanted_ids.tolist(), texts))
    ordered_texts = [text_by_id[int(i)] for i in ids]

    root = index_root(store_dir)
    root.mkdir(parents=True, exist_ok=True)
    version = _next_version(root)
    scratch = Path(tempfile.mkdtemp(dir=root, prefix=".partial-"))
    try:
        EvidenceIndex.build(scratch, ids, ordered_texts, vectors, encoder.tag, SENTENCE_CONTEXT)
        os.replace(scratch, root / version)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise

    atomic_write_text(root / "CURRENT", version + "\n")
    for old in root.iterdir():  # older versions are no longer reachable
        if old.is_dir() and old.name != version and (old.name.startswith("v") or old.name.startswith(".partial-")):
            shutil.rmtree(old, ignore_errors=True)
    return IndexUpdate(version, len(ids), len(new_positions), removed, time.perf_counter() - started)


def _next_version(root: Path) -> str:
    numbers = [int(p.name[1:]) for p in root.iterdir() if p.is_dir() and p.name[1:].isdigit() and p.name[0] == "v"]
    return f"v{max(numbers, default=0) + 1}"
