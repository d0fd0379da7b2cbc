"""The review queue over a scoring output (``claimsift score``), queried without loading it.

A scoring output holds one row per post with a nested list of claims (``pipeline.scoring.scorer``). The
queue lists claims, so the first time a file is served it is flattened once into a claims
table, one row per claim, sorted most check-worthy first, and written as Parquet beside the
file (``<scores>.claims.parquet``; under ``~/.cache/claimsift/review`` when that folder is not
writable). A JSONL output is first converted to Parquet the same way (``<scores>.parquet``),
so a claim's full row (evidence, fact-checks) is read by its ``line`` with row-group pruning
rather than by scanning the file. The words of every claim and post and the sources of its
evidence go to a third file (``<scores>.terms.parquet``: term, rank, sorted by term) that the
text and source filters look up, and what a queue row shows to a SQLite table keyed by rank
(``<scores>.rows.sqlite``): a page of claims scattered over a million is 50 primary-key reads,
where Parquet would decode every row group that holds one of them. Both caches are written to a temporary file and renamed
(a reader never sees half a file) and record the size and modification time of the file they
came from; a changed file is flattened again.

Every page of the queue is a few DuckDB queries over these files (the count, the ranks of the
page, their rows), so memory stays flat whatever the file's size.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import tempfile
import threading
import time
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from pipeline.core.errors import UserError
from pipeline.core.io import read_only_sqlite
from pipeline.scoring.output import output_schema
from pipeline.verdict.validation import TERMINAL_ESCAPE

# Imported where used, not here (slow to load; most callers of this module never need them): duckdb, pyarrow.

CACHE_FORMAT = 6
PAGE_SIZE = 50
ROW_GROUP_ROWS = 20_000
MAX_PAGE_SIZE = 500
SKIPPED = "SKIPPED"  # the verdict column of a claim that was not checked (e.g. not English)
_META_KEY = b"claimsift_review_source"


class ScoresError(UserError):
    """A scores file that cannot be served: missing, unreadable, not a scoring output."""


class NotInScores(UserError):
    """A page, post or claim the scores file does not have."""


@dataclass(frozen=True)
class QueueFilter:
    """What the reviewer asked the queue for; every field optional."""

    verdict: str = ""
    min_confidence: float | None = None
    max_confidence: float | None = None
    published_from: str = ""  # evidence published on or after (ISO date)
    published_to: str = ""
    text: str = ""  # every word of it in the claim or its post (whole words, any case)
    source: str = ""  # a source of one of the claim's evidence documents

    def query_string(self) -> dict[str, str]:
        """The filter as query parameters (for links to other pages of the same queue)."""
        out = {"verdict": self.verdict, "min_conf": _num(self.min_confidence), "max_conf": _num(self.max_confidence),
               "from": self.published_from, "to": self.published_to, "q": self.text, "source": self.source}
        return {k: v for k, v in out.items() if v}


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


@dataclass(frozen=True)
class QueueRow:
    rank: int
    line: int
    post_id: str | None
    post_text: str
    post_checkworthiness: float | None
    claim_index: int
    claim_text: str
    claim_checkworthiness: float | None
    verdict: str
    confidence: float | None
    skipped: str | None
    n_evidence: int


@dataclass(frozen=True)
class QueuePage:
    rows: tuple[QueueRow, ...]
    total: int  # claims matching the filter
    page: int  # 1-based
    page_size: int
    seconds: float = 0.0

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


@dataclass(frozen=True)
class Facets:
    claims: int
    posts: int
    verdicts: dict[str, int] = field(default_factory=dict)
    sources: tuple[str, ...] = ()


def _source_stamp(path: Path) -> dict:
    stat = path.stat()
    return {"path": str(path.resolve()), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns, "format": CACHE_FORMAT}


def _cache_dir_for(path: Path) -> Path:
    """Beside the scores file when that folder is writable, else a per-file cache folder."""
    if os.access(path.parent, os.W_OK):
        return path.parent
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    root = Path(os.environ.get("CLAIMSIFT_CACHE", Path.home() / ".cache" / "claimsift")) / "review" / digest
    root.mkdir(parents=True, exist_ok=True)
    return root


def _fresh(cache: Path, stamp: dict) -> bool:
    import pyarrow.parquet as pq

    if not cache.is_file():
        return False
    try:
        meta = pq.read_metadata(cache).metadata or {}
    except Exception:  # a foreign or broken file under the cache's name: rebuild it
        return False
    raw = meta.get(_META_KEY)
    return raw is not None and json.loads(raw) == stamp


def _atomic_parquet(target: Path, write) -> None:
    """``write(temp_path)`` then rename over ``target``: readers see the old file or the new one."""
    handle, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(handle)
    try:
        write(Path(temp))
        os.chmod(temp, 0o644)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _jsonl_batches(path: Path, rows_per_batch: int = 4096) -> Iterator[list[dict]]:
    batch: list[dict] = []
    with open(path, encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ScoresError(f"{path}, line {line_no}: not valid JSON ({exc.msg}); is this a "
                                  "`claimsift score` output?") from None
            if not isinstance(row, dict) or "claims" not in row or "text" not in row:
                raise ScoresError(f"{path}, line {line_no}: not a scored post (no 'text' and 'claims'); is this "
                                  "a `claimsift score` output?")
            batch.append(row)
            if len(batch) == rows_per_batch:
                yield batch
                batch = []
    if batch:
        yield batch


def _convert_jsonl(source: Path, target: Path, stamp: dict) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq


    schema = output_schema().with_metadata({_META_KEY: json.dumps(stamp).encode()})

    def write(temp: Path) -> None:
        with pq.ParquetWriter(temp, schema, compression="zstd") as writer:
            for rows in _jsonl_batches(source):
                writer.write_table(pa.Table.from_pylist(rows, schema=schema))

    _atomic_parquet(target, write)


# One row per claim, most check-worthy first; `rank` keeps that order for the page query. Evidence dates
# are kept as days (YYYY-MM-DD), once here rather than in every date filter: a date with a time
# ("2024-05-03T14:00:00") sorts after "2024-05-03" as text, and a file written by another tool may hold
# DATE or TIMESTAMP values, whose text starts the same way.
_FLATTEN_SQL = """
WITH claims AS (
    SELECT line, post_id, text AS post_text, checkworthiness AS post_checkworthiness,
           unnest(claims) AS claim, generate_subscripts(claims, 1) - 1 AS claim_index
    FROM read_parquet(?)
)
SELECT row_number() OVER (ORDER BY claim.checkworthiness DESC NULLS LAST, post_checkworthiness DESC NULLS LAST,
                                   line, claim_index) AS rank,
       line, post_id, post_text, post_checkworthiness, CAST(claim_index AS INTEGER) AS claim_index,
       claim.text AS claim_text, claim.checkworthiness AS claim_checkworthiness,
       coalesce(claim.verdict, 'SKIPPED') AS verdict, claim.confidence AS confidence, claim.skipped AS skipped,
       CAST(len(claim.evidence) AS INTEGER) AS n_evidence,
       list_distinct([e.source FOR e IN claim.evidence IF e.source IS NOT NULL]) AS sources,
       list_distinct([left(CAST(e.published AS VARCHAR), 10) FOR e IN claim.evidence IF e.published IS NOT NULL])
           AS published_dates
FROM claims
ORDER BY rank
"""


# The words of each claim and its post, and its evidence sources, as (term, rank) sorted by term:
# a text or source filter looks its terms up with row-group pruning instead of scanning every
# claim's text (900 ms on a million posts).
WORD_PATTERN = r"[\p{L}\p{N}]+"
# A terminal escape sequence (ESC [ 31 m) in a post as read: "\x1b[31mRutte" was the word "31mrutte".
TERMINAL_ESCAPE_PATTERN = TERMINAL_ESCAPE.pattern
SOURCE_TERM = "source:"  # cannot collide with a word: words hold letters and digits only
MAX_QUERY_WORDS = 8
_TERMS_SQL = f"""
SELECT DISTINCT term, rank FROM (
    SELECT rank, unnest(regexp_extract_all(regexp_replace(lower(concat_ws(' ', claim_text, post_text)),
                                                          '{TERMINAL_ESCAPE_PATTERN}', ' ', 'g'),
                                           '{WORD_PATTERN}')) AS term
    FROM read_parquet(?)
    UNION ALL
    SELECT rank, '{SOURCE_TERM}' || unnest(sources) AS term FROM read_parquet(?)
)
WHERE length(term) <= 64
ORDER BY term, rank
"""


def query_words(text: str) -> list[str]:
    """The words a text filter looks for (all of them, whole words, any case)."""
    return list(dict.fromkeys(re.findall(r"[^\W_]+", text.lower())))[:MAX_QUERY_WORDS]


def _made(path: Path | None) -> Path:
    """A cache file of a ScoresTable, which its ``prepare`` has made (every query calls it first)."""
    assert path is not None, "ScoresTable.prepare() makes the caches before any query"
    return path


class ScoresTable:
    """A scoring output served to the review desk; cheap to construct, caches built by ``prepare``."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.posts_path: Path | None = None  # Parquet with the full rows
        self.claims_path: Path | None = None  # the flat claims table
        self.terms_path: Path | None = None  # (term, rank) of words and sources
        self.rows_path: Path | None = None  # SQLite: what the queue shows, by rank
        self._lock = threading.Lock()
        self._connection_lock = threading.Lock()
        self._connection = None
        self._facets: Facets | None = None
        self._stamp: dict | None = None  # the scores file the caches were made from

    def prepare(self) -> "ScoresTable":
        """Convert and flatten (a fresh cache is reused); again when the scores file has changed
        since (a new run written over it): a running desk kept showing the old rows."""
        with self._lock:
            if self.claims_path is not None and self.path.is_file() and _source_stamp(self.path) == self._stamp:
                return self
            self._facets = None
            with self._connection_lock:
                self._connection = None  # its Parquet footer cache may hold the replaced files'
            if not self.path.is_file():
                raise ScoresError(f"{self.path}: no scores file here; make one with `claimsift score POSTS "
                                  f"--store STORE --out {self.path}`")
            suffix = self.path.suffix.lower()
            if suffix not in (".jsonl", ".parquet", ".pq"):
                raise ScoresError(f"{self.path}: a scores file ends in .jsonl or .parquet")
            stamp = _source_stamp(self.path)
            cache_dir = _cache_dir_for(self.path)
            if suffix == ".jsonl":
                posts = cache_dir / (self.path.name + ".parquet")
                if not _fresh(posts, stamp):
                    _convert_jsonl(self.path, posts, stamp)
            else:
                posts = self.path
                self._check_parquet(posts)
            claims = cache_dir / (self.path.name + ".claims.parquet")
            if not _fresh(claims, stamp):
                self._flatten(posts, claims, stamp)
            terms = cache_dir / (self.path.name + ".terms.parquet")
            if not _fresh(terms, stamp):
                self._index_terms(claims, terms, stamp)
            rows = cache_dir / (self.path.name + ".rows.sqlite")
            if not _fresh_rows(rows, stamp):
                _build_rows(claims, rows, stamp)
            self.posts_path, self.claims_path, self.terms_path, self.rows_path = posts, claims, terms, rows
            self._stamp = stamp
            return self

    def _check_parquet(self, path: Path) -> None:
        import pyarrow.parquet as pq

        try:
            names = set(pq.read_schema(path).names)
        except Exception as exc:  # pyarrow raises several types for a file that is not Parquet
            raise ScoresError(f"{path}: not a readable Parquet file ({exc})") from None
        missing = {"line", "text", "claims", "checkworthiness"} - names
        if missing:
            raise ScoresError(f"{path}: not a `claimsift score` output (no {', '.join(sorted(missing))} column)")

    def _flatten(self, posts: Path, target: Path, stamp: dict) -> None:
        def write(temp: Path) -> None:
            meta = json.dumps(stamp).replace("'", "''")
            # Small row groups: a page is read by its ranks, and min/max statistics on the sorted
            # rank column let DuckDB skip every row group but the one or two holding them.
            self._cursor().execute(
                f"COPY ({_FLATTEN_SQL}) TO '{_sql_path(temp)}' (FORMAT parquet, COMPRESSION zstd, "
                f"ROW_GROUP_SIZE {ROW_GROUP_ROWS}, KV_METADATA {{{_META_KEY.decode()}: '{meta}'}})", [str(posts)])

        _atomic_parquet(target, write)

    def _index_terms(self, claims: Path, target: Path, stamp: dict) -> None:
        def write(temp: Path) -> None:
            meta = json.dumps(stamp).replace("'", "''")
            con = self._cursor()
            con.execute("SET preserve_insertion_order = false")
            con.execute(f"COPY ({_TERMS_SQL}) TO '{_sql_path(temp)}' (FORMAT parquet, COMPRESSION zstd, "
                        f"ROW_GROUP_SIZE 100000, KV_METADATA {{{_META_KEY.decode()}: '{meta}'}})",
                        [str(claims), str(claims)])

        _atomic_parquet(target, write)

    def _cursor(self):
        import duckdb

        with self._connection_lock:  # prepare() may drop the connection between two reads of it
            if self._connection is None:
                # The footers of the (unchanging) cache files are parsed once, not on every query.
                self._connection = duckdb.connect(config={"threads": max(1, min(4, os.cpu_count() or 1))})
                self._connection.execute("SET parquet_metadata_cache = true")
            # A cursor per query: one DuckDB connection is not to be shared between threads.
            return self._connection.cursor()

    # ---- queries -----------------------------------------------------------------------------
    def facets(self) -> Facets:
        """Counts for the queue's header and the source menu; computed once per file (the caches
        are rebuilt, and a new table made, when the file changes)."""
        self.prepare()
        stamp, facets = self._stamp, self._facets
        if facets is None:
            facets = self._count_facets()
            with self._lock:
                if self._stamp == stamp:  # not counted from a file replaced meanwhile
                    self._facets = facets
        return facets

    def _count_facets(self) -> Facets:
        con = self._cursor()
        source = _sql_path(_made(self.claims_path))
        claims, posts = con.execute(f"SELECT count(*), count(DISTINCT line) FROM read_parquet('{source}')").fetchone()
        verdicts = dict(con.execute(f"SELECT verdict, count(*) FROM read_parquet('{source}') GROUP BY verdict "
                                    "ORDER BY count(*) DESC").fetchall())
        sources = [row[0] for row in con.execute(
            f"SELECT DISTINCT unnest(sources) AS s FROM read_parquet('{source}') ORDER BY s LIMIT 200").fetchall()]
        return Facets(int(claims), int(posts), {str(k): int(v) for k, v in verdicts.items()}, tuple(sources))

    def page(self, flt: QueueFilter, page: int = 1, page_size: int = PAGE_SIZE) -> QueuePage:
        if page < 1:
            raise UserError(f"there is no page {page}: pages start at 1")
        page_size = max(1, min(page_size, MAX_PAGE_SIZE))
        self.prepare()
        started = time.perf_counter()
        con = self._cursor()
        offset = (page - 1) * page_size
        claims = _sql_path(_made(self.claims_path))
        matching = self._term_ranks(con, flt)
        where, params = _where(flt)
        if matching is not None:
            total = len(matching)
            ranks = matching[offset:offset + page_size].tolist()
        elif where:
            # The count, then the page's ranks: two scans of the small filter columns only.
            total = int(con.execute(f"SELECT count(*) FROM read_parquet('{claims}'){where}", params).fetchone()[0])
            ranks = [r for (r,) in con.execute(f"SELECT rank FROM read_parquet('{claims}'){where} ORDER BY rank "
                                               "LIMIT ? OFFSET ?", params + [page_size, offset]).fetchall()]
        else:
            total = self.facets().claims
            ranks = list(range(offset + 1, min(offset + page_size, total) + 1))
        pages = max(1, -(-total // page_size))
        if page > pages:
            raise NotInScores(f"page {page} does not exist: this queue has {pages} page{'s' if pages > 1 else ''}")
        rows = _read_rows(_made(self.rows_path), ranks) if ranks else []
        return QueuePage(tuple(QueueRow(*row) for row in rows), total, page, page_size,
                         time.perf_counter() - started)

    def _term_ranks(self, con, flt: QueueFilter):
        """The sorted ranks of the claims that pass a filter holding words or a source (a numpy
        array), or None when it holds neither.

        Each word and the source is one lookup in the terms file (row groups of other terms are
        skipped by their statistics); the other filters, if any, one scan of the claims table's
        small columns; the sets meet in a tally over all ranks (linear, whatever their sizes)."""
        terms = query_words(flt.text) + ([SOURCE_TERM + flt.source] if flt.source else [])
        if not terms:
            return None
        found = [con.execute(f"SELECT rank FROM read_parquet('{_sql_path(_made(self.terms_path))}') WHERE term = ?",
                             [term]).fetchnumpy()["rank"] for term in terms]
        # Sized by the ranks found too: counts of a file replaced meanwhile must not make it too small.
        size = max([self.facets().claims] + [int(ranks.max()) for ranks in found if len(ranks)]) + 1
        tally = np.zeros(size, dtype=np.uint8)
        for ranks in found:
            tally[ranks] += 1
        wanted = len(terms)
        where, params = _where(flt)
        if where and tally.max(initial=0) == wanted:
            tally[con.execute(f"SELECT rank FROM read_parquet('{_sql_path(_made(self.claims_path))}'){where}",
                              params).fetchnumpy()["rank"]] += 1
            wanted += 1
        return np.flatnonzero(tally == wanted)

    def post(self, line: int) -> dict | None:
        """The full scored row of the post on ``line`` (evidence and fact-checks included)."""
        self.prepare()
        con = self._cursor()
        cursor = con.execute(f"SELECT * FROM read_parquet('{_sql_path(_made(self.posts_path))}') WHERE line = ? LIMIT 1",
                             [int(line)])
        row = cursor.fetchone()
        if row is None:
            return None
        return dict(zip([d[0] for d in cursor.description], row))


ROW_COLUMNS = ("rank", "line", "post_id", "post_text", "post_checkworthiness", "claim_index", "claim_text",
               "claim_checkworthiness", "verdict", "confidence", "skipped", "n_evidence")  # QueueRow's fields


def _fresh_rows(path: Path, stamp: dict) -> bool:
    if not path.is_file():
        return False
    try:
        with closing(read_only_sqlite(path)) as con:
            row = con.execute("SELECT value FROM meta WHERE key = 'source'").fetchone()
    except sqlite3.Error:  # a foreign or broken file under the cache's name: rebuild it
        return False
    return row is not None and json.loads(row[0]) == stamp


def _build_rows(claims: Path, target: Path, stamp: dict) -> None:
    import pyarrow.parquet as pq

    handle, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(handle)
    try:
        with closing(sqlite3.connect(temp)) as con:
            con.execute("PRAGMA journal_mode = OFF")  # a temporary file, renamed into place when complete
            con.execute("PRAGMA synchronous = OFF")
            con.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            con.execute("CREATE TABLE rows (rank INTEGER PRIMARY KEY, line INTEGER, post_id TEXT, post_text TEXT, "
                        "post_checkworthiness REAL, claim_index INTEGER, claim_text TEXT, claim_checkworthiness REAL, "
                        "verdict TEXT, confidence REAL, skipped TEXT, n_evidence INTEGER)")
            insert = f"INSERT INTO rows VALUES ({', '.join('?' for _ in ROW_COLUMNS)})"
            for batch in pq.ParquetFile(claims).iter_batches(batch_size=20_000, columns=list(ROW_COLUMNS)):
                con.executemany(insert, zip(*(batch.column(name).to_pylist() for name in ROW_COLUMNS)))
            con.execute("INSERT INTO meta VALUES ('source', ?)", [json.dumps(stamp)])
            con.commit()
        os.chmod(temp, 0o644)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _read_rows(path: Path, ranks: list[int]) -> list[tuple]:
    with closing(read_only_sqlite(path)) as con:
        marks = ", ".join("?" for _ in ranks)
        return con.execute(f"SELECT {', '.join(ROW_COLUMNS)} FROM rows WHERE rank IN ({marks}) ORDER BY rank",
                           ranks).fetchall()


def _sql_path(path: Path) -> str:
    # read_parquet takes a literal here (a parameter would stop DuckDB from planning the scan
    # ahead); the path is the server's own, and quotes are doubled all the same.
    return str(path).replace("'", "''")


def _where(flt: QueueFilter) -> tuple[str, list]:
    """The filters on the claims table's own columns (text and source go through the terms)."""
    clauses: list[str] = []
    params: list = []
    if flt.verdict:
        clauses.append("verdict = ?")
        params.append(flt.verdict)
    if flt.min_confidence is not None:
        clauses.append("confidence >= ?")
        params.append(flt.min_confidence)
    if flt.max_confidence is not None:
        clauses.append("confidence <= ?")
        params.append(flt.max_confidence)
    if flt.published_from or flt.published_to:
        # Some evidence document dated inside the range: the span from the oldest to the newest
        # evidence overlapping it listed claims with none in it. The dates are days (_FLATTEN_SQL).
        clauses.append("len(list_filter(published_dates, lambda d: d >= ? AND d <= ?)) > 0")
        params += [flt.published_from or "0000-00-00", flt.published_to or "9999-99-99"]
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params
