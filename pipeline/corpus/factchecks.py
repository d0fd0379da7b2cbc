"""Fact-check records: a claim that a fact-checker already rated, kept in the corpus store.

A record is a claimed statement with its rating (kept verbatim), the project's verdict for that
rating, the publisher, url, date and optionally the article title and text. Records come from
tables (JSONL/CSV/Parquet with ``claim`` and ``rating`` columns, plus optional ``id``, ``title``,
``publisher``, ``url``, ``date``, ``text``) or from schema.org ``ClaimReview`` JSON-LD as
fact-checkers publish it (``claimReviewed``, ``reviewRating.alternateName``, ``author.name``,
``url``, ``datePublished``).

They live in the ``fact_checks`` table of ``<store>/corpus.sqlite`` (one transaction per file);
a record keeps its ``id`` when given, else gets a content hash, so re-ingesting it is a no-op.
The matching index beside the store (``<store>/factcheck_index/``) is rebuilt after a file
changed the table (see ``pipeline.factchecks.matcher``).

Bad input is never dropped silently: a record without a claim is rejected with its row and the
reason; a record with a missing or unknown rating is kept, with rating ``unknown`` (or its
verbatim text) and verdict NOT_ENOUGH_INFO; malformed JSON-LD is rejected with its line and
column.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import re
import sqlite3
import unicodedata
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from pipeline.core.io import read_only_sqlite
from pipeline.corpus.readers import (
    FACT_CHECK_FIELDS,
    RejectedInput,
    Rejection,
    check_bytes,
    is_fact_check_table,
    normalise_date,
    refuse_repeated_columns,
    table_rows,
)
from pipeline.corpus.store import lock_timeout

DB_NAME = "corpus.sqlite"
UNKNOWN_RATING = "unknown"

# ---- rating -> verdict: the ONE place where fact-checkers' ratings meet the project's verdicts ----
# Keys are ratings lower-cased with punctuation and repeated spaces removed (see rating_key), so
# "Pants on Fire!", "pants-on-fire" and "PANTS ON FIRE" meet the same entry. Ratings not listed
# here keep their verbatim text and map to NOT_ENOUGH_INFO: never guess a verdict.
RATING_TO_VERDICT: dict[str, str] = {
    # refuted
    "false": "REFUTED", "pants on fire": "REFUTED", "mostly false": "REFUTED", "fake": "REFUTED",
    "bogus": "REFUTED", "incorrect": "REFUTED", "wrong": "REFUTED", "fabricated": "REFUTED",
    "fabricated content": "REFUTED", "misattributed": "REFUTED", "scam": "REFUTED", "four pinocchios": "REFUTED",
    "three pinocchios": "REFUTED", "altered": "REFUTED", "altered photo": "REFUTED", "hoax": "REFUTED",
    "not true": "REFUTED", "baseless": "REFUTED", "false context": "REFUTED",
    # supported
    "true": "SUPPORTED", "mostly true": "SUPPORTED", "correct": "SUPPORTED", "accurate": "SUPPORTED",
    "correct attribution": "SUPPORTED", "geppetto checkmark": "SUPPORTED",
    # conflicting: part true, part false, or true but presented to mislead
    "half true": "CONFLICTING", "mixture": "CONFLICTING", "misleading": "CONFLICTING", "mixed": "CONFLICTING",
    "partly false": "CONFLICTING", "partly true": "CONFLICTING", "half truth": "CONFLICTING",
    "missing context": "CONFLICTING", "needs context": "CONFLICTING", "lacks context": "CONFLICTING",
    "cherry picks": "CONFLICTING", "exaggerated": "CONFLICTING", "exaggeration": "CONFLICTING",
    "two pinocchios": "CONFLICTING", "one pinocchio": "CONFLICTING", "half flip": "CONFLICTING",
    "outdated": "CONFLICTING",
    # explicitly undecided
    "unproven": "NOT_ENOUGH_INFO", "unverified": "NOT_ENOUGH_INFO", "unsupported": "NOT_ENOUGH_INFO",
    "research in progress": "NOT_ENOUGH_INFO", "legend": "NOT_ENOUGH_INFO", UNKNOWN_RATING: "NOT_ENOUGH_INFO",
}


def rating_key(rating: str) -> str:
    text = unicodedata.normalize("NFKC", rating).lower().replace("-", " ").replace("_", " ")
    text = re.sub(r"[^\w\s]", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def verdict_for_rating(rating: str | None) -> str:
    """The project's verdict for a fact-checker's rating; NOT_ENOUGH_INFO for unknown ratings."""
    return RATING_TO_VERDICT.get(rating_key(rating or ""), "NOT_ENOUGH_INFO")


def is_known_rating(rating: str | None) -> bool:
    return rating_key(rating or "") in RATING_TO_VERDICT


@dataclass(frozen=True)
class FactCheck:
    id: str
    claim: str
    rating: str  # verbatim, or "unknown"
    verdict: str  # from RATING_TO_VERDICT
    publisher: str = ""
    url: str = ""
    date: str | None = None  # ISO date
    title: str = ""
    text: str = ""
    claimant: str = ""
    source: str = ""  # the file it was ingested from

    def content_hash(self) -> str:
        payload = json.dumps({k: v for k, v in asdict(self).items() if k != "source"}, sort_keys=True)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def record_id(claim: str, publisher: str, url: str, date: str | None) -> str:
    """Content-hash id of a record given without one: the same claim from the same fact-check
    (publisher, url, date) gets the same id, so a corrected rating replaces the old one."""
    key = "\x1f".join([_clean(claim).lower(), publisher.strip().lower(), url.strip(), date or ""])
    return "fc-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def _clean(value: object) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    text = unicodedata.normalize("NFKC", str(value)).replace("\u00a0", " ")
    return re.sub(r"\s+", " ", text).strip()


def make_fact_check(fields: dict, source: str = "") -> FactCheck:
    """A FactCheck from loose fields; raises ValueError when there is no claim."""
    claim = _clean(fields.get("claim"))
    if not claim:
        raise ValueError("no claim (the `claim` field / claimReviewed is missing or empty)")
    rating = _clean(fields.get("rating")) or UNKNOWN_RATING
    publisher, url = _clean(fields.get("publisher")), _clean(fields.get("url"))
    date = normalise_date(fields.get("date")) if _clean(fields.get("date")) else None
    given_id = _clean(fields.get("id"))
    if given_id.endswith(".0") and given_id[:-2].isdigit():  # a numeric id read back as float
        given_id = given_id[:-2]
    return FactCheck(id=given_id or record_id(claim, publisher, url, date), claim=claim, rating=rating,
                     verdict=verdict_for_rating(rating), publisher=publisher, url=url, date=date,
                     title=_clean(fields.get("title")), text=str(fields.get("text") or "").strip(),
                     claimant=_clean(fields.get("claimant")), source=_clean(fields.get("source")) or source)


# ---- reading files ------------------------------------------------------------------------------
def _name_of(node: object) -> str:
    if isinstance(node, list):
        return ", ".join(n for n in (_name_of(x) for x in node) if n)
    if isinstance(node, dict):
        return _clean(node.get("name") or node.get("alternateName") or "")
    return _clean(node)


def _rating_of(review: dict) -> str:
    rating = review.get("reviewRating")
    if isinstance(rating, list):
        rating = rating[0] if rating else None
    if isinstance(rating, dict):
        for key in ("alternateName", "name"):
            if _clean(rating.get(key)):
                return _clean(rating.get(key))
        value, best = rating.get("ratingValue"), rating.get("bestRating")
        if value is not None and best is not None:  # numeric only: keep it verbatim, verdict unknown
            return f"{_clean(value)}/{_clean(best)}"
    return _clean(rating) if isinstance(rating, str) else ""


def claim_review_fields(review: dict) -> dict:
    """Map one schema.org ClaimReview object to record fields."""
    reviewed = review.get("itemReviewed")
    item = reviewed if isinstance(reviewed, dict) else {}
    return {
        "id": review.get("@id") or review.get("identifier") or "",
        "claim": review.get("claimReviewed") or item.get("text") or item.get("name") or "",
        "rating": _rating_of(review),
        "publisher": _name_of(review.get("author")) or _name_of(review.get("publisher")),
        "url": review.get("url") or "",
        "date": review.get("datePublished") or item.get("datePublished") or "",
        "title": review.get("headline") or review.get("name") or "",
        "claimant": _name_of(item.get("author")) if item else "",
        "text": review.get("reviewBody") or "",
    }


def _claim_reviews(node: object) -> Iterator[dict]:
    if isinstance(node, list):
        for value in node:
            yield from _claim_reviews(value)
    elif isinstance(node, dict):
        kind = node.get("@type")
        if kind == "ClaimReview" or (isinstance(kind, list) and "ClaimReview" in kind):
            yield node
            return
        for key in ("@graph", "itemListElement", "item", "mainEntity", "review"):
            if key in node:
                yield from _claim_reviews(node[key])


def read_fact_check_file(path: Path | str) -> tuple[list[FactCheck], list[Rejection]]:
    """Records of one file and the rejections (file, row, reason) of what could not be read.

    Rows count from 1: the JSONL line, the line a CSV row starts on (the header is line 1), the Parquet row, or the
    position of the ClaimReview object in the JSON file.
    """
    path = Path(path)
    records: list[FactCheck] = []
    rejected: list[Rejection] = []
    suffix = path.suffix.lower()
    try:
        if suffix in (".json", ".jsonld"):
            text = check_bytes(path, path.read_bytes())
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                return [], [Rejection(str(path), exc.lineno,
                                      f"malformed JSON-LD: {exc.msg} at line {exc.lineno}, column {exc.colno} "
                                      f"(char {exc.pos}); nothing in this file was ingested")]
            reviews = list(_claim_reviews(data))
            if reviews:
                rows: Iterable[tuple[int, dict | RejectedInput]] = ((n, claim_review_fields(r))
                                                                    for n, r in enumerate(reviews, 1))
            elif isinstance(data, list) and data and isinstance(data[0], dict) and is_fact_check_table(data[0]):
                rows = enumerate(data, 1)
            else:
                return [], [Rejection(str(path), None, "no schema.org ClaimReview objects and no records with "
                                                       "`claim` and `rating` in this JSON file")]
        else:
            columns, table = table_rows(path)
            if not is_fact_check_table(columns):
                return [], [Rejection(str(path), None, "not a fact-check table: it needs `claim` and `rating` "
                                                       f"columns (columns: {', '.join(columns) or 'none'})")]
            # keys are lower-cased below, so `Claim,claim` is as ambiguous as `claim,claim`
            refuse_repeated_columns(path, columns, FACT_CHECK_FIELDS, fold_case=True)
            rows = table
    except RejectedInput as exc:
        return [], [exc.rejection]
    for number, row in rows:
        if isinstance(row, RejectedInput):
            rejected.append(row.rejection)
            continue
        if not isinstance(row, dict):
            rejected.append(Rejection(str(path), number, "record is not an object"))
            continue
        row = {str(k).strip().lower(): v for k, v in row.items()}
        try:
            records.append(make_fact_check(row, source=path.name))
        except ValueError as exc:
            rejected.append(Rejection(str(path), number, str(exc)))
    return records, rejected


# ---- storage --------------------------------------------------------------------------------------
SCHEMA = """
CREATE TABLE IF NOT EXISTS fact_checks (
    id TEXT PRIMARY KEY,
    claim TEXT NOT NULL,
    rating TEXT NOT NULL,
    verdict TEXT NOT NULL,
    publisher TEXT NOT NULL DEFAULT '',
    url TEXT NOT NULL DEFAULT '',
    date TEXT,
    title TEXT NOT NULL DEFAULT '',
    text TEXT NOT NULL DEFAULT '',
    claimant TEXT NOT NULL DEFAULT '',
    source TEXT NOT NULL DEFAULT '',
    content_hash TEXT NOT NULL,
    ingested_at TEXT NOT NULL
);
"""
COLUMNS = ("id", "claim", "rating", "verdict", "publisher", "url", "date", "title", "text", "claimant", "source")


@dataclass
class FactCheckIngestReport:
    path: str
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    unknown_rating: list[str] = field(default_factory=list)  # kept, verdict NOT_ENOUGH_INFO
    rejected: list[Rejection] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"path": self.path, "added": len(self.added), "updated": len(self.updated),
                "unchanged": len(self.unchanged), "unknown_rating": len(self.unknown_rating),
                "rejected": [{"path": r.path, "row": r.row, "reason": r.reason} for r in self.rejected]}


def _connect(store_dir: Path) -> sqlite3.Connection:
    store_dir.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(store_dir / DB_NAME, isolation_level=None, timeout=lock_timeout())
    connection.execute(SCHEMA)
    return connection


def write_fact_checks(records: Iterable[FactCheck], store_dir: Path | str, path: str = "") -> FactCheckIngestReport:
    """Insert or update records in one transaction; an identical record is a no-op."""
    report = FactCheckIngestReport(path=path)
    now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    connection = _connect(Path(store_dir))
    try:
        connection.execute("BEGIN IMMEDIATE")
        try:
            for record in records:
                digest = record.content_hash()
                row = connection.execute("SELECT content_hash FROM fact_checks WHERE id = ?", (record.id,)).fetchone()
                values = [getattr(record, c) for c in COLUMNS]
                if row is None:
                    connection.execute(f"INSERT INTO fact_checks ({', '.join(COLUMNS)}, content_hash, ingested_at) "
                                       f"VALUES ({', '.join('?' * (len(COLUMNS) + 2))})", values + [digest, now])
                    report.added.append(record.id)
                elif row[0] != digest:
                    # Same record id, new content (a corrected rating, an edited claim): latest wins,
                    # and the row keeps its place (rowid) in ingestion order.
                    connection.execute(f"UPDATE fact_checks SET {', '.join(c + ' = ?' for c in COLUMNS[1:])}, "
                                       "content_hash = ?, ingested_at = ? WHERE id = ?",
                                       values[1:] + [digest, now, record.id])
                    report.updated.append(record.id)
                else:
                    report.unchanged.append(record.id)
                if not is_known_rating(record.rating):
                    report.unknown_rating.append(record.id)
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
    finally:
        connection.close()
    return report


def load_fact_checks(store_dir: Path | str) -> list[FactCheck]:
    """All records in ingestion order (the first-ingested of two duplicates comes first)."""
    db = Path(store_dir) / DB_NAME
    if not db.is_file():
        return []
    connection = read_only_sqlite(db, timeout=30)
    try:
        has_table = connection.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'fact_checks'").fetchone()
        if not has_table:
            return []
        rows = connection.execute(f"SELECT {', '.join(COLUMNS)} FROM fact_checks ORDER BY rowid").fetchall()
    finally:
        connection.close()
    return [FactCheck(**dict(zip(COLUMNS, row))) for row in rows]


def fact_checks_fingerprint(store_dir: Path | str) -> tuple[int, str]:
    """(record count, hash of ids and contents in order): what a matching index was built from."""
    db = Path(store_dir) / DB_NAME
    if not db.is_file():
        return 0, ""
    connection = read_only_sqlite(db, timeout=30)
    try:
        if not connection.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='fact_checks'").fetchone():
            return 0, ""
        digest = hashlib.sha256()
        count = 0
        for record_id_, content in connection.execute("SELECT id, content_hash FROM fact_checks ORDER BY rowid"):
            digest.update(f"{record_id_}\x1f{content}\n".encode("utf-8"))
            count += 1
    finally:
        connection.close()
    return count, digest.hexdigest()[:16]


def ingest_fact_checks_report(path: Path | str, store_dir: Path | str) -> FactCheckIngestReport:
    """Read one fact-check file and write its records to the store. The matcher's index is the
    caller's to rebuild when records were added or updated (``pipeline.factchecks.matcher.build_store_index``)."""
    path, store_dir = Path(path), Path(store_dir)
    records, rejected = read_fact_check_file(path)
    report = write_fact_checks(records, store_dir, path=str(path))
    report.rejected = rejected
    return report


def ingest_fact_checks(path: Path, store_dir: Path) -> list[Rejection]:
    """Ingest one fact-check file into the store; returns what was rejected, with file, row and reason. Records with unknown ratings are kept (verdict
    NOT_ENOUGH_INFO) and are not rejections."""
    return ingest_fact_checks_report(path, store_dir).rejected
