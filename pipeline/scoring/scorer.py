"""Batch scoring: a dump of social posts in, one scored row per post out.

For each accepted post: the check-worthiness model scores the post and finds its check-worthy
claim spans; only those claims go on to retrieval, stance and verdict, and all claims of one
chunk of posts are checked in one batched ``Checker.check_many`` call.

The job reads its input as a stream (``pipeline.scoring.posts``), cuts it into chunks of
``chunk_size`` input rows (accepted and rejected rows alike, so chunk boundaries depend on the
input alone), and commits each finished chunk as a checkpoint part (``pipeline.scoring.checkpoint``).
The final output is assembled from the parts in input order. Two engines run the same job:
``local`` scores the chunks in this process; ``dask`` sends the texts of each chunk to a
``dask.distributed`` cluster whose workers each load the models once (a worker plugin), while
this process reads the input and writes the parts, so workers need no shared file system.

Output schema (Parquet, nested; JSONL has the same fields, one JSON object per line) — see
``output_schema()``:

    post_id          string   id column of the input (tweet ``id_str``); null when absent. Not a key:
                             rows that repeat an earlier row's id, or have none, are scored all the
                             same and counted (``ScoreSummary.id_warnings``, the record's ``post_ids``)
    line             int64    1-based line (JSONL), starting line (CSV) or row (Parquet) of the post
    text             string   the post as read
    checkworthiness  float64  probability that the post holds a check-worthy claim
    checkworthy_domain string post or speech: whose check-worthiness model and threshold scored
                             the post (``--domain auto`` routes each post by its form)
    n_claims         int32
    claims           list of struct:
        text, start, end     the claim span; offsets into ``text``
        checkworthiness      float64, the span's own score
        verdict              SUPPORTED | REFUTED | NOT_ENOUGH_INFO | CONFLICTING; null when skipped
        confidence           float64; null when skipped
        skipped              null, or why the claim was not checked (e.g. not English)
        evidence             list of struct: doc_id, document (its name in the store: file, or
                             table file and row id), source (as ingested), title, published, url,
                             sentence, start, end, stance, p_supports, p_refutes,
                             p_not_enough_info, score, decisive
        fact_checks          list of struct: earlier fact-checks that match the claim: id, claim,
                             rating, verdict, publisher, url, date, similarity (empty when the
                             store holds no fact-check records)

Rejected rows go to ``OUT.rejected.jsonl``: ``{"line", "post_id", "reason"}``: rows that cannot be read
as a post, and posts surely in another language than English (``post_language_refusal``), whichever
domain would have read them.

What produced the output (the pinned model versions by role, the store and its evidence index build,
the scorer's settings, the input's fingerprint; ``pipeline.scoring.output.score_provenance``) is recorded
with it: in a Parquet file's schema metadata under ``claimsift``, beside a JSONL file in
``OUT.meta.json``; ``read_score_provenance(OUT)`` reads either. It names the rows it was written with
(their count and a SHA-256 of the file's data, ``pipeline.scoring.output.OUTPUT_SHA256_KEY``), so a file
rewritten or edited since, even with its schema metadata kept or to the same size, records nothing.

``--resume`` finishes a partial run only with the job it was started as (``Checkpoint.open``); without a
chunk size it takes the checkpoint's. A run without ``--resume`` refuses a partial run's parts folder, but
starts over one that holds no finished chunk (nothing is lost; the output's lock keeps any other run off). The store
is part of that: a checkpoint records the build of its evidence index, the state of its documents and of
its fact-check records (``ModelScorer.pin_store``), and a resume against a store that changed since (a
re-ingest, a re-index) is refused in one line naming the store and what changed. A checkpoint started
by a claimsift that did not record documents and fact-check records yet is resumed, with a warning that
they could not be checked, and its output records them as unknown (null).
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import sys
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from pipeline.core.errors import InputError, UserError
from pipeline.core.paths import DEFAULT_STORE
from pipeline.scoring.checkpoint import Checkpoint, write_jsonl
from pipeline.scoring.dask_engine import run_dask
from pipeline.scoring.models import CHECKWORTHY_DOMAINS, ModelScorer, PostScorer
from pipeline.scoring.output import (
    ROW_FIELDS_VERSION,
    assemble_jsonl,
    assemble_parquet,
    chunk_outcomes,
    finished_run_note,
    iter_output,
    output_format,
    provenance_path,
    rejected_path,
    score_provenance,
    write_parquet_part,
    write_provenance_sidecar,
)
from pipeline.scoring.posts import DEFAULT_MAX_CHARS, PostReader, PostRecord, validate_post
from pipeline.verdict.validation import valid_top_k

# Imported where used, not here (slow to load; most callers of this module never need them): pandas, pyarrow,
# rich.

DEFAULT_CHUNK_SIZE = 256


# -- the scorer ------------------------------------------------------------------------------------


# -- rows ------------------------------------------------------------------------------------------


# -- the job ---------------------------------------------------------------------------------------
@dataclass
class ScoreSummary:
    read: int = 0
    scored: int = 0
    rejected: int = 0
    claims: int = 0
    chunks: int = 0
    resumed_chunks: int = 0
    scored_this_run: int = 0
    seconds: float = 0.0
    output: str = ""
    rejected_output: str = ""
    engine: str = "local"
    verdicts: dict[str, int] = field(default_factory=dict)
    # Scored rows whose id repeats an earlier scored row's, or that have none (post_id null or empty):
    # they are scored all the same (a batch job never loses a row), but post_id is then no key of the output.
    repeated_ids: int = 0
    missing_ids: int = 0
    first_repeated_id: dict | None = None  # {"line", "post_id", "first_line"} of the first repeat

    @property
    def posts_per_second(self) -> float:
        return self.scored_this_run / self.seconds if self.seconds > 0 else 0.0

    def id_warnings(self) -> list[str]:
        """One line for rows that repeat an earlier row's id, one for rows without an id; none when every
        scored row has an id of its own."""
        lines = []
        if self.repeated_ids and self.first_repeated_id:
            first = self.first_repeated_id
            rows = "1 row repeats" if self.repeated_ids == 1 else f"{self.repeated_ids:,} rows repeat"
            lines.append(f"warning: {rows} an earlier row's id (first: line {first['line']} repeats line "
                         f"{first['first_line']}'s {json.dumps(first['post_id'])}); post_id is not unique in the output")
        if self.missing_ids:
            rows = "1 row has" if self.missing_ids == 1 else f"{self.missing_ids:,} rows have"
            lines.append(f"warning: {rows} no id (post_id null or empty in the output)")
        return lines

    def to_dict(self) -> dict:
        return dict(self.__dict__) | {"posts_per_second": round(self.posts_per_second, 2)}


def _chunks(records: Iterable[PostRecord], size: int) -> Iterator[tuple[int, list[PostRecord]]]:
    chunk: list[PostRecord] = []
    index = 0
    for record in records:
        chunk.append(record)
        if len(chunk) == size:
            yield index, chunk
            index += 1
            chunk = []
    if chunk:
        yield index, chunk


def _input_fingerprint(path: Path, edge_bytes: int = 1 << 20) -> dict:
    """What identifies the input of a checkpoint: size and time alone miss a file rewritten in
    place with the same length (or restored with its old time), so the first and last MB are
    hashed too; a change in the middle of a larger file is not seen."""
    stat = path.stat()
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        digest.update(handle.read(edge_bytes))
        if stat.st_size > edge_bytes:
            handle.seek(max(edge_bytes, stat.st_size - edge_bytes))
            digest.update(handle.read(edge_bytes))
    return {"path": str(path.resolve()), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns,
            "edges_sha256": digest.hexdigest()}


class _Progress:
    """A Rich progress bar with rate and ETA on a terminal; silent otherwise (CI, pipes)."""

    def __init__(self, reader: PostReader, enabled: bool | None) -> None:
        if enabled is None:
            enabled = sys.stderr.isatty() and not os.environ.get("CI")
        self.reader = reader
        self.enabled = enabled
        self.started = time.monotonic()
        self.posts = 0
        self._bar: Any = None  # rich's Progress while the bar is shown (rich loads only then)

    def __enter__(self) -> "_Progress":
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                Progress,
                TaskProgressColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(TextColumn("scoring"), BarColumn(), TaskProgressColumn(),
                                 TextColumn("{task.fields[posts]:,} posts  {task.fields[rate]:.1f} posts/s"),
                                 TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                                 console=Console(stderr=True), transient=False)
            self._bar.__enter__()
            self._task = self._bar.add_task("score", total=None, posts=0, rate=0.0)
        return self

    def advance(self, posts_scored: int) -> None:
        self.posts += posts_scored
        if self._bar is None:
            return
        done, total = self.reader.progress()
        elapsed = max(time.monotonic() - self.started, 1e-9)
        self._bar.update(self._task, completed=done, total=total or None, posts=self.posts,
                         rate=self.posts / elapsed)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)


def score_file(input_path: Path | str, output_path: Path | str, scorer: PostScorer, *, engine: str = "local",
               resume: bool = False, chunk_size: int | None = None, text_column: str = "text",
               id_column: str = "id", max_chars: int = DEFAULT_MAX_CHARS, scheduler: str | None = None,
               workers: int = 2, progress: bool | None = None) -> ScoreSummary:
    """Score every post of ``input_path`` into ``output_path``; see the module docstring. ``chunk_size``
    None: the checkpoint's on a resume, else ``DEFAULT_CHUNK_SIZE``."""
    with _system_arrow_pool(), ExitStack() as held:
        return _score_file(input_path, output_path, scorer, engine=engine, resume=resume, chunk_size=chunk_size,
                           text_column=text_column, id_column=id_column, max_chars=max_chars,
                           scheduler=scheduler, workers=workers, progress=progress, held=held)


@contextmanager
def _system_arrow_pool() -> Iterator[None]:
    """Arrow's default mimalloc pool keeps freed pages: over a long job of many small part
    tables its RSS crept up with the input (10k posts 166 MB, 100k 203 MB); the system allocator
    returns them and stays flat. Restored afterwards: the pool is process-wide."""
    import pyarrow as pa

    previous = pa.default_memory_pool()
    pa.set_memory_pool(pa.system_memory_pool())
    try:
        yield
    finally:
        pa.set_memory_pool(previous)


def _score_file(input_path: Path | str, output_path: Path | str, scorer: PostScorer, *, engine: str,
                resume: bool, chunk_size: int | None, text_column: str, id_column: str, max_chars: int,
                scheduler: str | None, workers: int, progress: bool | None, held: ExitStack) -> ScoreSummary:
    started = time.monotonic()
    input_path, output_path = Path(input_path), Path(output_path)
    kind = output_format(output_path)
    if chunk_size is not None and chunk_size < 1:
        raise UserError("--batch-size must be at least 1")
    if workers < 1:  # a LocalCluster of no worker waited for one forever
        raise UserError("--workers must be at least 1")
    if max_chars < 1:  # would reject every post, and exit 0
        raise UserError("--max-chars must be at least 1")
    if engine not in ("local", "dask"):
        raise UserError(f"unknown engine {engine!r}: local or dask")
    reader = PostReader(input_path, text_column=text_column, id_column=id_column, max_chars=max_chars)
    check_ready = getattr(scorer, "check_ready", None)
    if callable(check_ready):
        check_ready()
    if output_path.parent.exists() and not output_path.parent.is_dir():
        raise UserError(f"{output_path.parent}: not a folder, cannot write {output_path.name} in it")
    for target, what in ((output_path, "the output"), (rejected_path(output_path), "the rejected rows")):
        if target.is_dir():  # found before any post is scored, not when the finished output is renamed
            raise UserError(f"{target}: is a folder, not a file: cannot write {what} there. Choose another --out")
    config = {"input": _input_fingerprint(input_path) if input_path.is_file() else str(input_path),
              "text_column": text_column, "id_column": id_column,
              "max_chars": max_chars, "output_format": kind, "row_fields": ROW_FIELDS_VERSION,
              "scorer": scorer.fingerprint()}
    checkpoint = Checkpoint(output_path, ".parquet" if kind == "parquet" else ".jsonl")
    write_part = write_parquet_part if kind == "parquet" else (lambda path, rows: write_jsonl(path, rows))
    summary = ScoreSummary(output=str(output_path), rejected_output=str(rejected_path(output_path)), engine=engine)

    records = iter(reader)
    first = next(records, None)  # whole-file problems (empty, wrong format) surface before any checkpoint
    if first is None:
        raise InputError(input_path, "no posts in the file (a header and nothing else?): nothing to score")
    counted = _Counter(_prepend(first, records))
    with _writing(checkpoint):
        output_path.parent.mkdir(parents=True, exist_ok=True)  # `make demo` writes to out/ on a fresh clone
        held.enter_context(_only_run_on(output_path))
        if resume and not checkpoint.folder.exists():  # nothing lost: said, not refused (a script may always pass it)
            print(f"note: nothing to resume at {checkpoint.folder}: scoring from the start", file=sys.stderr)
        chunk_size = _chunk_size(checkpoint, chunk_size, resume)
        config["chunk_size"] = chunk_size
        if resume and checkpoint.folder.exists():
            config = _same_store(checkpoint, config)
        elif checkpoint.folder.exists() and checkpoint.logged_chunks() == 0:
            # A run stopped before any chunk finished: starting over loses nothing, and no other run can be
            # writing the folder, as it would hold the lock taken above.
            print(f"note: {checkpoint.folder} holds a run that stopped before any chunk finished: starting over",
                  file=sys.stderr)
            checkpoint.remove()
        checkpoint.open(config, resume)
    if output_path.is_file():  # said once the job is sure to run; replaced only once the new output is complete
        print(f"note: replacing {output_path}{finished_run_note(output_path, kind)}", file=sys.stderr)
    summary.resumed_chunks = len(checkpoint.done)

    def commit(index: int, chunk: list[PostRecord], results: list[dict]) -> None:
        outcomes = chunk_outcomes(chunk, results)
        rows = [row for row, _ in outcomes if row is not None]
        rejected = [refused for _, refused in outcomes if refused is not None]
        with _writing(checkpoint):
            checkpoint.commit_chunk(index, lambda path: write_part(path, rows), rejected, read=len(chunk),
                                    scored=len(rows), claims=sum(row["n_claims"] for row in rows))
        summary.scored_this_run += len(rows)
        bar.advance(len(rows))

    with _Progress(reader, progress) as bar:
        if engine == "local":
            n_chunks = _run_local(counted, chunk_size, scorer, checkpoint, commit)
        else:

            n_chunks = run_dask(_chunks(counted, chunk_size), scorer, checkpoint.done, commit, scheduler, workers)
    summary.chunks = n_chunks
    # What produced the output goes with it (for both engines, and the same on a resume as on an
    # uninterrupted run, ``created`` aside): the manifest that names the pinned models is removed below.
    # It names the rows it was written with (counted and hashed as the output is assembled), so a file
    # rewritten or edited since is not believed.
    summary.repeated_ids, summary.missing_ids = counted.repeated_ids, counted.missing_ids
    summary.first_repeated_id = counted.first_repeated_id
    provenance = score_provenance(config, post_ids={"repeated": summary.repeated_ids, "missing": summary.missing_ids,
                                                    "first_repeat": summary.first_repeated_id})
    written: dict = {}
    with _writing(checkpoint):
        if kind == "jsonl":  # never beside another run's output, not even between the two renames
            provenance_path(output_path).unlink(missing_ok=True)
        checkpoint.assemble(n_chunks, summary_rejected := rejected_path(output_path),
                            partial(assemble_parquet, provenance=provenance) if kind == "parquet"
                            else partial(assemble_jsonl, written=written))
        if kind == "jsonl":
            write_provenance_sidecar(output_path, provenance, written)
    for record in checkpoint.ordered(n_chunks):
        summary.read += record.read
        summary.scored += record.scored
        summary.rejected += record.rejected
        summary.claims += record.claims
    # Every row read is in the output or in the rejected file, once: never silently dropped.
    in_output, in_rejected = _count_rows(output_path, kind), _count_rows(summary_rejected, "jsonl")
    if not (counted.n == summary.read == summary.scored + summary.rejected
            and in_output == summary.scored and in_rejected == summary.rejected):
        raise RuntimeError(f"row accounting broken: read {counted.n} rows, checkpoint says {summary.read} = "
                           f"{summary.scored} + {summary.rejected}, files hold {in_output} + {in_rejected}; "
                           f"the parts are kept in {checkpoint.folder}")
    summary.verdicts = _count_verdicts(output_path, kind)
    try:
        checkpoint.remove()
    except OSError:
        pass  # the output is complete; a leftover parts folder is only untidy
    summary.seconds = time.monotonic() - started
    return summary


# What a scorer's fingerprint records of its store's contents, as the refusal names them.
_STORE_CONTENTS = {"evidence_index": "evidence index", "documents": "documents",
                   "fact_check_records": "fact-check records"}


def _store_state(key: str, state: object) -> str:
    # documents_identity gives None only for a database it could not read; for the evidence index
    # and the fact-check records None means none was built or matched
    if state is None and key == "documents":
        return "unreadable (the store's database could not be read)"
    return str(state)


def _same_store(checkpoint: Checkpoint, config: dict) -> dict:
    """``config`` to resume ``checkpoint`` with, once the store it reads is known to hold what it
    held when the run started; a ``UserError`` naming the store and what changed otherwise."""
    saved = checkpoint.saved_config()
    was, now = (saved or {}).get("scorer"), config.get("scorer")
    if not isinstance(was, dict) or not isinstance(now, dict) or "documents" not in now \
            or was.get("store") != now.get("store"):
        return config  # nothing to compare, or another store: ``Checkpoint.open`` says what differs
    if "documents" not in was:  # started by a claimsift that did not record them
        print(f"warning: {checkpoint.folder} was started by an older claimsift, which did not record the "
              f"documents and fact-check records of {now['store']}: resuming without checking that they "
              "are unchanged", file=sys.stderr)
        return config | {"scorer": {k: v for k, v in now.items() if k not in ("documents", "fact_check_records")}}
    changed = [f"{label}: was {_store_state(key, was.get(key))}, now {_store_state(key, now.get(key))}"
               for key, label in _STORE_CONTENTS.items() if was.get(key) != now.get(key)]
    if changed and _without_store_contents(saved or {}) == _without_store_contents(config):
        # The store alone changed (any other difference, such as --no-fact-checks, is named by ``Checkpoint.open``).
        raise UserError(f"cannot resume {checkpoint.folder}: the store {now['store']} changed since this run "
                        f"started ({'; '.join(changed)}), and one output must not mix results from two "
                        f"corpora; resume against the store as it was, or delete {checkpoint.folder} to start over")
    return config


def _without_store_contents(config: dict) -> dict:
    scorer = config.get("scorer")
    if not isinstance(scorer, dict):
        return config
    return config | {"scorer": {k: v for k, v in scorer.items() if k not in _STORE_CONTENTS}}


def _chunk_size(checkpoint: Checkpoint, given: int | None, resume: bool) -> int:
    """The chunk size of this run: the one given, else on a resume the checkpoint's (its chunk boundaries are
    the job's), else the default. One given that differs from the checkpoint's is refused."""
    saved = (checkpoint.saved_config() or {}).get("chunk_size") if resume and checkpoint.folder.exists() else None
    if not isinstance(saved, int) or isinstance(saved, bool) or saved < 1:
        saved = None  # no checkpoint, or one ``Checkpoint.open`` refuses, saying why
    if given is None:
        if saved is not None and saved != DEFAULT_CHUNK_SIZE:
            print(f"note: resuming with --batch-size {saved}, the one {checkpoint.folder} was started with",
                  file=sys.stderr)
        return saved or DEFAULT_CHUNK_SIZE
    if saved is not None and saved != given:
        raise UserError(f"cannot resume {checkpoint.folder}: it was started with --batch-size {saved}, not {given} "
                        f"(its chunks are cut every {saved} rows); rerun with --resume and without --batch-size, "
                        f"or delete {checkpoint.folder} to start over")
    return given


class _Counter:
    """Counts the records that pass through, resumed chunks included (every run reads every row, once), and
    the accepted ones (the rows of the output) whose id repeats an earlier accepted row's or is missing."""

    def __init__(self, records: Iterator[PostRecord]) -> None:
        self.records = records
        self.n = 0
        self.repeated_ids = 0
        self.missing_ids = 0
        self.first_repeated_id: dict | None = None
        # Every id with its first line, held for the whole run: about 130 bytes a row for tweet ids (the
        # string, the line, the dict slot), 650 MB at 5 million rows; a set of the ids alone would save only
        # about 30 of them and could not name the earlier line of a repeat.
        self._first_lines: dict[str, int] = {}

    def __iter__(self) -> Iterator[PostRecord]:
        for record in self.records:
            self.n += 1
            if record.accepted:
                self._count_id(record)
            yield record

    def _count_id(self, record: PostRecord) -> None:
        post_id = record.post_id
        if post_id is None or not post_id.strip():
            self.missing_ids += 1
            return
        first_line = self._first_lines.setdefault(post_id, record.line)
        if first_line != record.line:
            self.repeated_ids += 1
            if self.first_repeated_id is None:
                self.first_repeated_id = {"line": record.line, "post_id": post_id, "first_line": first_line}


def _count_rows(path: Path, kind: str) -> int:
    if kind == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    with open(path, "rb") as handle:
        return sum(1 for _ in handle)


@contextmanager
def _writing(checkpoint: Checkpoint) -> Iterator[None]:
    """A full disk or a denied permission while writing: one clear error, checkpoint intact."""
    try:
        yield
    except OSError as exc:
        raise _write_error(exc, checkpoint) from None


@contextmanager
def _only_run_on(output_path: Path) -> Iterator[None]:
    """One run at a time per output. A second one (a rerun, or --resume while the first still ran)
    deleted the first's temporary files and removed the parts folder under it. An OS lock (flock), so
    a killed run releases it; the empty lock file stays, as the index's .build.lock does. Opened
    read-only (flock needs no write access): the file stays owned by whoever ran first, so in a shared
    folder another user must be able to lock it too."""
    lock_path = output_path.with_name(f".{output_path.name}.lock")
    try:
        descriptor = os.open(lock_path, os.O_RDONLY | os.O_CREAT, 0o666)
    except OSError as exc:  # outside _writing's message: no checkpoint exists yet to resume from
        raise UserError(f"{lock_path}: cannot open the lock file that keeps two runs off --out "
                        f"({exc.strerror or exc}); make it readable, or its folder writable, "
                        "or choose another --out") from None
    with os.fdopen(descriptor, "rb") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError(f"{output_path}: another claimsift score is writing this output; wait for it to "
                            "finish (rerun with --resume if it stopped) or choose another --out") from None
        yield


def _prepend(first: PostRecord, rest: Iterator[PostRecord]) -> Iterator[PostRecord]:
    yield first
    yield from rest


def _write_error(exc: OSError, checkpoint: Checkpoint) -> UserError:
    finished = len(checkpoint.done)
    where = exc.filename or checkpoint.folder
    return UserError(f"cannot write {where}: {exc.strerror or exc}. The checkpoint in {checkpoint.folder} keeps "
                     f"{finished} finished chunk(s); fix the problem and rerun with --resume")


def accepted_texts(records: Iterable[PostRecord]) -> list[str]:
    """The texts of the accepted records, in order (an accepted record always has its text)."""
    return [r.text for r in records if r.accepted and r.text is not None]


def _run_local(records: Iterable[PostRecord], chunk_size: int, scorer: PostScorer, checkpoint: Checkpoint,
               commit: Callable[[int, list[PostRecord], list[dict]], None]) -> int:
    n_chunks = 0
    for index, chunk in _chunks(records, chunk_size):
        n_chunks = index + 1
        if index in checkpoint.done:
            continue
        texts = accepted_texts(chunk)
        commit(index, chunk, scorer.score_posts(texts) if texts else [])
    return n_chunks


# -- after the job ---------------------------------------------------------------------------------
def _count_verdicts(output: Path, kind: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in iter_output(output):
        for claim in row["claims"]:
            label = claim["verdict"] or "SKIPPED"
            counts[label] = counts.get(label, 0) + 1
    return dict(sorted(counts.items()))


def score_frame(df: "Any", store_dir: Path | str = DEFAULT_STORE, text_column: str = "text",
                id_column: str = "id", scorer: PostScorer | None = None, chunk_size: int = DEFAULT_CHUNK_SIZE,
                max_chars: int = DEFAULT_MAX_CHARS, top_k: int = 5, domain: str = "auto") -> "Any":
    """Score the posts of a DataFrame in memory: one output row per input row, same index.

    Columns: ``post_id``, ``checkworthiness``, ``checkworthy_domain`` (the model that read the post:
    ``post`` or ``speech``, whose scores are on different scales), ``n_claims``, ``claims`` (list of
    claim dicts as in the file output) and ``rejected`` (null, or why the row could not be scored).
    ``top_k`` and ``domain`` as ``claimsift score --top-k / --domain`` (used when no ``scorer`` is given).
    """
    import pandas as pd

    if text_column not in df.columns:
        raise UserError(f"the DataFrame has no '{text_column}' column (columns: {', '.join(map(str, df.columns))})")
    if domain not in CHECKWORTHY_DOMAINS:
        raise UserError(f"unknown domain {domain!r}; use {', '.join(CHECKWORTHY_DOMAINS[:-1])} or {CHECKWORTHY_DOMAINS[-1]}")
    scorer = scorer or ModelScorer(store_dir, top_k=valid_top_k(top_k), checkworthy_domain=domain)
    check_ready = getattr(scorer, "check_ready", None)
    if callable(check_ready):
        check_ready()
    ids = df[id_column].tolist() if id_column in df.columns else [None] * len(df)
    texts = df[text_column].tolist()
    records = [validate_post(i + 1, None if _missing(pid) else pid, None if _missing(text) else text,
                             True, max_chars, text_column)
               for i, (pid, text) in enumerate(zip(ids, texts))]
    out = []
    for _, chunk in _chunks(records, chunk_size):
        texts = accepted_texts(chunk)
        for row, refused in chunk_outcomes(chunk, scorer.score_posts(texts) if texts else []):
            if row is not None:
                out.append({"post_id": row["post_id"], "checkworthiness": row["checkworthiness"],
                            "checkworthy_domain": row["checkworthy_domain"], "n_claims": row["n_claims"],
                            "claims": row["claims"], "rejected": None})
            else:
                assert refused is not None  # one of the two, always
                out.append({"post_id": refused["post_id"], "checkworthiness": None, "checkworthy_domain": None,
                            "n_claims": 0, "claims": [], "rejected": refused["reason"]})
    return pd.DataFrame(out, index=df.index, columns=["post_id", "checkworthiness", "checkworthy_domain", "n_claims",
                                                      "claims", "rejected"])


def _missing(value: object) -> bool:
    try:
        import pandas as pd

        return value is None or bool(pd.isna(value))
    except (TypeError, ValueError):
        return False
