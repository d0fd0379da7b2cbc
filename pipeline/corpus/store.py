"""The corpus store: documents, sentences, entities and quotes in one SQLite file.

``<store dir>/corpus.sqlite`` holds everything the analysis produced, with character offsets
into each document's stored (NFKC-normalised) text, so ``text[start:end]`` gives back every
sentence, entity and quote content. Readers get pandas DataFrames; the ingester writes through
:meth:`Corpus.batch`, one transaction per batch, so a crash leaves the previous state.

Sentence ids are ``INTEGER PRIMARY KEY AUTOINCREMENT``: an unchanged document keeps its ids
across re-ingests (it is never rewritten), and ids of replaced documents are never reused, so
an index keyed by sentence id cannot confuse an old sentence with a new one.
"""
from __future__ import annotations

import datetime as _dt
import os
import sqlite3
from bisect import bisect_right
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

import pandas as pd

from pipeline.core.errors import UserError
from pipeline.core.io import read_only_sqlite
from pipeline.core.paths import DEFAULT_STORE
from pipeline.core.types import Document

if TYPE_CHECKING:
    from pipeline.corpus.nlp import AnalysedDocument

DB_NAME = "corpus.sqlite"
# 2: a table row's name is its id scoped to its source (``t1.jsonl#id=1``), not the bare id.
# 3: each document records the location of the file it came from (``location``).
SCHEMA_VERSION = 3
LOCK_TIMEOUT_ENV = "CLAIMSIFT_LOCK_TIMEOUT"
DEFAULT_LOCK_TIMEOUT_S = 600.0
# How long a writer waits quietly before it says that it is waiting for another one.
_QUIET_WAIT_MS = 200


def lock_timeout() -> float:
    """Seconds a writer waits for another process's write (store) or build (index) to finish:
    ``$CLAIMSIFT_LOCK_TIMEOUT``, default 600."""
    value = os.environ.get(LOCK_TIMEOUT_ENV, "")
    try:
        return max(0.0, float(value)) if value.strip() else DEFAULT_LOCK_TIMEOUT_S
    except ValueError:
        raise UserError(f"{LOCK_TIMEOUT_ENV}={value!r} is not a number of seconds") from None


class StoreBusyError(UserError):
    """Another process held the store's write lock for longer than the lock timeout."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL DEFAULT '',
    source TEXT NOT NULL DEFAULT '',
    url TEXT NOT NULL DEFAULT '',
    published TEXT,
    text TEXT NOT NULL,
    n_sentences INTEGER NOT NULL,
    ingested_at TEXT NOT NULL,
    origin TEXT NOT NULL DEFAULT '',
    analyser TEXT NOT NULL DEFAULT '',
    location TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS sentences (
    sentence_id INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id TEXT NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE,
    sentence_index INTEGER NOT NULL,
    start INTEGER NOT NULL,
    "end" INTEGER NOT NULL,
    text TEXT NOT NULL,
    paragraph INTEGER NOT NULL,
    UNIQUE (doc_id, sentence_index)
);
CREATE TABLE IF NOT EXISTS entities (
    entity_id INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id TEXT NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE,
    sentence_id INTEGER REFERENCES sentences(sentence_id) ON DELETE CASCADE,
    start INTEGER NOT NULL,
    "end" INTEGER NOT NULL,
    text TEXT NOT NULL,
    label TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS quotes (
    quote_id INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id TEXT NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE,
    speaker TEXT NOT NULL,
    cue TEXT NOT NULL,
    content TEXT NOT NULL,
    start INTEGER NOT NULL,
    "end" INTEGER NOT NULL,
    speaker_start INTEGER NOT NULL,
    speaker_end INTEGER NOT NULL,
    cue_start INTEGER NOT NULL,
    cue_end INTEGER NOT NULL,
    kind TEXT NOT NULL,
    sentence_id INTEGER REFERENCES sentences(sentence_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS sentences_doc ON sentences(doc_id);
CREATE INDEX IF NOT EXISTS entities_doc ON entities(doc_id);
CREATE INDEX IF NOT EXISTS quotes_doc ON quotes(doc_id);
CREATE INDEX IF NOT EXISTS documents_origin ON documents(origin);
"""

DOCUMENT_COLUMNS = ["doc_id", "name", "title", "source", "url", "published", "text", "n_sentences", "ingested_at"]
SENTENCE_COLUMNS = ["sentence_id", "doc_id", "index", "start", "end", "text", "paragraph"]
ENTITY_COLUMNS = ["doc_id", "sentence_id", "start", "end", "text", "label"]
QUOTE_COLUMNS = ["doc_id", "speaker", "cue", "content", "start", "end", "speaker_start", "speaker_end",
                 "cue_start", "cue_end", "kind", "sentence_id"]


def _connect(db_path: Path) -> sqlite3.Connection:
    # isolation_level=None: transactions are begun and ended explicitly in Corpus.batch.
    connection = sqlite3.connect(db_path, isolation_level=None, timeout=lock_timeout())
    connection.execute("PRAGMA foreign_keys = ON")
    return connection


def _unreadable(db_path: Path, exc: sqlite3.DatabaseError) -> UserError:
    if "locked" in str(exc) or "busy" in str(exc):
        return StoreBusyError(f"{db_path.parent}: another process has been writing to this store for longer than "
                              f"{lock_timeout():.0f} s; try again when it has finished (${LOCK_TIMEOUT_ENV} sets "
                              "how long to wait)")
    return UserError(f"{db_path} is not a readable store ({exc}); move it aside and ingest the documents again")


def documents_identity(store_dir: Path | str) -> str | None:
    """Which state of the store's documents a job reads, found without reading any text: how many
    documents, the largest document row and the largest sentence id ever given. A re-ingest that
    adds, replaces or removes a document changes it (a replaced document's sentences get new ids,
    never reused); re-ingesting unchanged files does not (they are never rewritten). None when the
    store has no readable database (where it is read says why)."""
    db = Path(store_dir) / DB_NAME
    if not db.is_file():
        return None
    try:
        connection = read_only_sqlite(db, timeout=lock_timeout())
        try:
            connection.execute("BEGIN")  # one snapshot for the three queries, even while an ingest commits
            if not connection.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'documents'").fetchone():
                return "0 documents"
            # Three queries, not one: each alone is answered from an index or the b-tree's last row.
            count = connection.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
            last_row = connection.execute("SELECT MAX(rowid) FROM documents").fetchone()[0] or 0
            sequence = connection.execute("SELECT seq FROM sqlite_sequence WHERE name = 'sentences'").fetchone()
        finally:
            connection.close()
    except sqlite3.Error:
        return None
    return f"{count} documents, last row {last_row}, sentence ids to {sequence[0] if sequence else 0}"


class Corpus:
    """A corpus store directory; cheap to construct, opens the database per call."""

    def __init__(self, path: Path | str = DEFAULT_STORE) -> None:
        self.path = Path(path)
        self.db_path = self.path / DB_NAME
        if self.path.exists() and not self.path.is_dir():
            raise UserError(f"{self.path}: is a file, not a store folder; give --store a folder (a new one, or one "
                            f"holding {DB_NAME})")

    def __repr__(self) -> str:
        return f"Corpus({str(self.path)!r})"

    def exists(self) -> bool:
        return self.db_path.is_file()

    # ---- reading -------------------------------------------------------------------------
    def _read(self, sql: str, params: tuple = (), columns: list[str] | None = None) -> pd.DataFrame:
        if not self.exists():
            if columns is not None:
                return pd.DataFrame(columns=columns)
            raise UserError(f"{self.path}: no corpus store here; run `claimsift ingest PATH --store {self.path}`")
        # Not read-only: after a crash mid-write the first reader must be able to roll the hot
        # journal back (a read-only connection fails with "attempt to write a readonly database").
        connection = sqlite3.connect(self.db_path, timeout=lock_timeout())
        try:
            return pd.read_sql_query(sql, connection, params=params)
        except sqlite3.DatabaseError as exc:  # pandas re-raises it as its own DatabaseError
            raise _unreadable(self.db_path, exc) from None
        except Exception as exc:
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, sqlite3.DatabaseError):
                raise _unreadable(self.db_path, cause) from None
            raise
        finally:
            connection.close()

    @staticmethod
    def _where(doc_id: str | None) -> tuple[str, tuple]:
        return (" WHERE doc_id = ?", (doc_id,)) if doc_id else ("", ())

    def documents(self) -> pd.DataFrame:
        frame = self._read("SELECT doc_id, name, title, source, url, published, text, n_sentences, ingested_at "
                           "FROM documents ORDER BY name", columns=DOCUMENT_COLUMNS)
        # An unknown date is None, not NaN, so `published is None` and string comparisons work.
        frame["published"] = pd.Series([value if isinstance(value, str) else None for value in frame["published"]],
                                       dtype=object, index=frame.index)
        return frame

    def sentences(self, doc_id: str | None = None) -> pd.DataFrame:
        where, params = self._where(doc_id)
        return self._read('SELECT sentence_id, doc_id, sentence_index AS "index", start, "end", text, paragraph '
                          f"FROM sentences{where} ORDER BY sentence_id", params, columns=SENTENCE_COLUMNS)

    def entities(self, doc_id: str | None = None) -> pd.DataFrame:
        where, params = self._where(doc_id)
        return self._read(f'SELECT doc_id, sentence_id, start, "end", text, label FROM entities{where} '
                          "ORDER BY entity_id", params, columns=ENTITY_COLUMNS)

    def quotes(self, doc_id: str | None = None) -> pd.DataFrame:
        where, params = self._where(doc_id)
        return self._read(f'SELECT doc_id, speaker, cue, content, start, "end", speaker_start, speaker_end, '
                          f"cue_start, cue_end, kind, sentence_id FROM quotes{where} ORDER BY quote_id",
                          params, columns=QUOTE_COLUMNS)

    def stored_doc_ids(self) -> set[str]:
        return set(self._read("SELECT doc_id FROM documents", columns=["doc_id"])["doc_id"])

    def document_names(self) -> dict[str, str]:
        """Each stored document's name -> its id (names only: no text is read)."""
        frame = self._read("SELECT name, doc_id FROM documents", columns=["name", "doc_id"])
        return dict(zip(frame["name"], frame["doc_id"]))

    def document_list(self, limit: int) -> list[dict]:
        """The first ``limit`` documents by name (name, title, date, sentences, id) for ``claimsift inspect``.
        Read in name order from the index on the unique name, without the texts: as fast on 100,000
        documents as on ten (9 ms for 20 of 100,000)."""
        frame = self._read("SELECT name, title, published, n_sentences, doc_id FROM documents ORDER BY name "
                           "LIMIT ?", (max(0, limit),))
        return [{"name": name, "title": title, "published": published if isinstance(published, str) else None,
                 "sentences": int(n_sentences), "id": doc_id}
                for name, title, published, n_sentences, doc_id in frame.itertuples(index=False, name=None)]

    def remove(self, names: Sequence[str], on_wait: Callable[[], None] | None = None) -> list[dict]:
        """Delete the documents named (a document's name, or the name of the file or table they came from:
        all its parts and rows), in one transaction, with their sentences, entities and quotes. Returns
        each removed document's id, name and title. A name the store does not hold is refused before
        anything is deleted (``UserError`` naming them), so a mistyped name never half-removes a list."""
        if not self.exists():
            raise UserError(f"{self.path}: no corpus store here; run `claimsift ingest PATH --store {self.path}`")
        with self.batch(on_wait) as batch:
            found = {name: batch.documents_named(name) for name in dict.fromkeys(names)}
            unknown = [name for name, documents in found.items() if not documents]
            if unknown:
                raise UserError(f"{self.path} holds no document named {', '.join(map(repr, unknown))} (nothing "
                                "removed); `claimsift inspect --store` lists the names")
            removed = {doc["id"]: doc for documents in found.values() for doc in documents}
            for doc_id in removed:
                batch.delete_document(doc_id)
        return list(removed.values())

    def origins_by_location(self) -> dict[str, str]:
        """The name of each input (file, table) the stored documents came from, by the file's location
        (``InputItem.located``); empty for a store written before locations were recorded (schema 3)."""
        if "location" not in set(self._read("SELECT name FROM pragma_table_info('documents')", columns=["name"])["name"]):
            return {}
        frame = self._read("SELECT DISTINCT location, origin FROM documents WHERE location != '' AND origin != ''",
                           columns=["location", "origin"])
        return dict(zip(frame["location"], frame["origin"]))

    def document(self, doc_id: str) -> Document:
        frame = self._read("SELECT doc_id, name, title, source, url, published, text FROM documents "
                           "WHERE doc_id = ?", (doc_id,))
        if frame.empty:
            raise UserError(f"{self.path}: no document with id {doc_id}")
        row = frame.iloc[0]
        published = row["published"] if isinstance(row["published"], str) else None
        return Document(doc_id=row["doc_id"], text=row["text"], name=row["name"], title=row["title"],
                        source=row["source"], url=row["url"], published=published)

    def summary(self) -> dict:
        """Counts for `claimsift inspect`: documents, sentences, entities by label, quotes by speaker."""
        if not self.exists():
            raise UserError(f"{self.path}: no corpus store here; run `claimsift ingest PATH --store {self.path}`")
        counts = self._read("SELECT (SELECT COUNT(*) FROM documents) AS documents, "
                            "(SELECT COUNT(*) FROM sentences) AS sentences, "
                            "(SELECT COUNT(*) FROM entities) AS entities, "
                            "(SELECT COUNT(*) FROM quotes) AS quotes, "
                            "(SELECT COALESCE(SUM(LENGTH(text)), 0) FROM documents) AS characters").iloc[0]
        labels = self._read("SELECT label, COUNT(*) AS n FROM entities GROUP BY label ORDER BY n DESC, label")
        speakers = self._read("SELECT speaker, COUNT(*) AS n FROM quotes GROUP BY speaker ORDER BY n DESC, speaker")
        dates = self._read("SELECT MIN(published) AS first, MAX(published) AS last, "
                           "SUM(published IS NULL) AS undated FROM documents").iloc[0]
        meta = dict(self._read("SELECT key, value FROM meta").itertuples(index=False, name=None))
        return {
            "store": str(self.path),
            "documents": int(counts["documents"]),
            "sentences": int(counts["sentences"]),
            "entities": int(counts["entities"]),
            "quotes": int(counts["quotes"]),
            "characters": int(counts["characters"]),
            "entities_by_label": dict(zip(labels["label"], (int(n) for n in labels["n"]))),
            "quotes_by_speaker": dict(zip(speakers["speaker"], (int(n) for n in speakers["n"]))),
            "published": {"first": dates["first"] if isinstance(dates["first"], str) else None,
                          "last": dates["last"] if isinstance(dates["last"], str) else None,
                          "undated": int(dates["undated"] or 0)},
            "analyser": meta.get("analyser", ""),
        }

    # ---- writing -------------------------------------------------------------------------
    @contextmanager
    def batch(self, on_wait: Callable[[], None] | None = None) -> Iterator["StoreBatch"]:
        """One write transaction: committed when the block ends, rolled back if it raises.

        Keep it short (analyse first, then write): one process writes at a time. Another writer
        waits for it up to ``lock_timeout()`` seconds, calling ``on_wait`` once when it starts
        waiting, then fails with StoreBusyError. The database is in WAL mode, so readers (``check``,
        ``inspect``) never wait for a writer.
        """
        self.path.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.db_path, isolation_level=None, timeout=_QUIET_WAIT_MS / 1000)
        try:
            try:
                connection.execute("PRAGMA foreign_keys = ON")
                if not _begin_quietly(connection):
                    if on_wait is not None:
                        on_wait()
                    connection.execute(f"PRAGMA busy_timeout = {int(lock_timeout() * 1000)}")
                    connection.execute("BEGIN IMMEDIATE")
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        connection.execute(statement)
                _migrate(connection)
            except sqlite3.DatabaseError as exc:
                raise _unreadable(self.db_path, exc) from None
            try:
                yield StoreBatch(connection)
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
        finally:
            connection.close()


def _begin_quietly(connection: sqlite3.Connection) -> bool:
    """WAL mode (persistent; readers never block the writer) and a write transaction, if no
    other process holds one now; False when it must wait."""
    try:
        if connection.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("BEGIN IMMEDIATE")
        return True
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            return False
        raise


def _migrate(connection: sqlite3.Connection) -> None:
    """Bring a store written by an older claimsift up to ``SCHEMA_VERSION``, inside the open
    write transaction."""
    row = connection.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    version = int(row[0]) if row else (1 if connection.execute("SELECT 1 FROM documents LIMIT 1").fetchone()
                                       else SCHEMA_VERSION)
    if version > SCHEMA_VERSION:
        raise UserError(f"the store was written by a newer claimsift (schema {version}; this one reads "
                        f"{SCHEMA_VERSION}): upgrade claimsift, or ingest the documents into a new store")
    if version < 2:
        # Table rows were named by their bare id, so an id in one file replaced the row with the
        # same id from another. Scope each to its source, as ingest now names them.
        rows = connection.execute("SELECT doc_id, name, origin, source FROM documents WHERE origin != '' "
                                  "AND name != origin AND substr(name, 1, length(origin) + 1) != origin || '#'"
                                  ).fetchall()
        for doc_id, name, origin, source in rows:
            scope = origin if source == Path(origin).name else source
            connection.execute("UPDATE documents SET name = ? WHERE doc_id = ?", (scoped_row_name(scope, name), doc_id))
    columns = {row[1] for row in connection.execute("PRAGMA table_info(documents)")}
    if "location" not in columns:
        connection.execute("ALTER TABLE documents ADD COLUMN location TEXT NOT NULL DEFAULT ''")
    connection.execute("INSERT INTO meta(key, value) VALUES ('schema_version', ?) ON CONFLICT(key) DO UPDATE "
                       "SET value = excluded.value", (str(SCHEMA_VERSION),))


def scoped_row_name(scope: str, row_id: str) -> str:
    """The stored name of a table row with an id: the id within its source (file or `source`)."""
    return f"{scope}#id={row_id}"


class StoreBatch:
    """Writes inside one open transaction; obtained from :meth:`Corpus.batch`."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._db = connection
        self._savepoints = 0

    def origin_of(self, doc_id: str) -> str:
        row = self._db.execute("SELECT origin FROM documents WHERE doc_id = ?", (doc_id,)).fetchone()
        return row[0] if row else ""

    def title_of(self, doc_id: str) -> str:
        row = self._db.execute("SELECT title FROM documents WHERE doc_id = ?", (doc_id,)).fetchone()
        return row[0] if row else ""

    def doc_id_of_name(self, name: str) -> str | None:
        row = self._db.execute("SELECT doc_id FROM documents WHERE name = ?", (name,)).fetchone()
        return row[0] if row else None

    def has_document(self, doc_id: str) -> bool:
        return self._db.execute("SELECT 1 FROM documents WHERE doc_id = ?", (doc_id,)).fetchone() is not None

    def names_from_origin(self, origin: str) -> dict[str, str]:
        """name -> doc_id of every stored document that came from one input (file or table)."""
        rows = self._db.execute("SELECT name, doc_id FROM documents WHERE origin = ?", (origin,)).fetchall()
        return dict(rows)

    def documents_named(self, name: str) -> list[dict]:
        """The documents of that name, or that came from the input (file, table) of that name."""
        rows = self._db.execute("SELECT doc_id, name, title FROM documents WHERE name = ? OR origin = ? ORDER BY name",
                                (name, name)).fetchall()
        return [{"id": doc_id, "name": doc_name, "title": title} for doc_id, doc_name, title in rows]

    def fill_location(self, doc_id: str, location: str) -> None:
        """Record where a stored document's file is, where the store does not know it yet (schema 2)."""
        self._db.execute("UPDATE documents SET location = ? WHERE doc_id = ? AND location = ''", (location, doc_id))

    def delete_document(self, doc_id: str) -> None:
        # Foreign keys cascade to sentences, entities and quotes.
        self._db.execute("DELETE FROM documents WHERE doc_id = ?", (doc_id,))

    def set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = "
                         "excluded.value", (key, value))

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested transaction: an input that fails half-way leaves nothing of itself behind."""
        self._savepoints += 1
        name = f"input_{self._savepoints}"
        self._db.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            self._db.execute(f"ROLLBACK TO {name}")
            self._db.execute(f"RELEASE {name}")
            raise
        self._db.execute(f"RELEASE {name}")

    def add(self, analysed: "AnalysedDocument", origin: str = "", analyser: str = "", location: str = "") -> None:
        document = analysed.document
        now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        self._db.execute(
            "INSERT INTO documents(doc_id, name, title, source, url, published, text, n_sentences, ingested_at, "
            "origin, analyser, location) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (document.doc_id, document.name, document.title, document.source, document.url, document.published,
             document.text, len(analysed.sentences), now, origin, analyser, location))
        sentence_ids: list[int] = []
        for sentence in analysed.sentences:
            cursor = self._db.execute(
                'INSERT INTO sentences(doc_id, sentence_index, start, "end", text, paragraph) VALUES (?, ?, ?, ?, ?, ?)',
                (document.doc_id, sentence.index, sentence.start, sentence.end, sentence.text, sentence.paragraph))
            assert cursor.lastrowid is not None  # sqlite sets it after every INSERT
            sentence_ids.append(cursor.lastrowid)
        starts = [sentence.start for sentence in analysed.sentences]

        def sentence_of(offset: int) -> int | None:
            position = bisect_right(starts, offset) - 1
            return sentence_ids[position] if position >= 0 else None

        self._db.executemany(
            'INSERT INTO entities(doc_id, sentence_id, start, "end", text, label) VALUES (?, ?, ?, ?, ?, ?)',
            [(document.doc_id, sentence_of(e.start), e.start, e.end, e.text, e.label) for e in analysed.entities])
        self._db.executemany(
            'INSERT INTO quotes(doc_id, speaker, cue, content, start, "end", speaker_start, speaker_end, cue_start, '
            "cue_end, kind, sentence_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(document.doc_id, q.speaker, q.cue, q.content, q.start, q.end, q.speaker_start, q.speaker_end,
              q.cue_start, q.cue_end, q.kind, sentence_of(q.start)) for q in analysed.quotes])
