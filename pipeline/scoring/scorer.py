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

    post_id          string   id column of the input (tweet ``id_str``); null when absent
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
        evidence             list of struct: doc_id, source, title, published, sentence, start, end,
                             stance, p_supports, p_refutes, p_not_enough_info, score, decisive
        fact_checks          list of struct: earlier fact-checks that match the claim: id, claim,
                             rating, verdict, publisher, url, date, similarity (empty when the
                             store holds no fact-check records)

Rejected rows go to ``OUT.rejected.jsonl``: ``{"line", "post_id", "reason"}``.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Protocol, Sequence

from pipeline.verdict.checker import SCREEN_STANCE
from pipeline.verdict.rules import VerdictRules
from pipeline.scoring.checkpoint import Checkpoint, write_jsonl
from pipeline.core.errors import InputError, UserError
from pipeline.verdict.packs import rule_pack_names
from pipeline.scoring.posts import DEFAULT_MAX_CHARS, PostReader, PostRecord

DEFAULT_CHUNK_SIZE = 256
ROW_GROUP_ROWS = 8192
# Fields of ``pipeline.factchecks.matcher.FactCheckMatch.to_dict()`` kept in the output.
FACT_CHECK_FIELDS = ("id", "claim", "rating", "verdict", "publisher", "url", "date", "similarity")
OUTPUT_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl"}


# -- the scorer ------------------------------------------------------------------------------------
class PostScorer(Protocol):
    """What the job needs from a scorer: picklable, lazy, batched."""

    def fingerprint(self) -> dict: ...

    def warm_up(self) -> None: ...

    def score_posts(self, texts: Sequence[str]) -> list[dict]:
        """One ``{"checkworthiness": float, "claims": [claim dict]}`` per text, in order."""
        ...


class ModelScorer:
    """The project's models: check-worthiness first, then a verdict for each check-worthy claim."""

    def __init__(self, store_dir: Path | str = "corpus/store", checkworthy_spec: str = "checkworthy",
                 stance_spec: str = "stance", encoder_backend: str = "onnx", top_k: int = 5,
                 fact_checks: bool = True, models_dir: Path | str | None = None,
                 rules: VerdictRules = VerdictRules(), screen_stance_spec: str | None = SCREEN_STANCE,
                 stance_backend: str = "auto", checkworthy_domain: str = "auto",
                 rule_packs: Sequence[str] = ()) -> None:
        # Absolute, so that Dask workers started elsewhere find the same store (same path there).
        self.store_dir = Path(store_dir).resolve()
        self.checkworthy_spec = checkworthy_spec
        self.checkworthy_domain = checkworthy_domain  # auto, post or speech (pipeline.checkworthy.sentences.route_domain)
        self.stance_spec = stance_spec
        self.screen_stance_spec = screen_stance_spec
        # "auto" is settled once, where the job starts, and shipped settled: every worker then
        # runs stance the same way (bfloat16 and float32 differ in the last digits).
        self.stance_backend = stance_backend
        self.encoder_backend = encoder_backend
        self.top_k = top_k
        self.fact_checks = fact_checks
        self.models_dir = models_dir
        self.rules = rules
        # Names of the opt-in rule packs (``pipeline.verdict.packs``), checked here, where the job starts;
        # workers receive the names and load the packs themselves.
        self.rule_packs = rule_pack_names(rule_packs)
        self._models = None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_models"] = None
        return state

    def fingerprint(self) -> dict:
        """What decides the scores: a checkpoint made with other models must not be resumed."""
        from pipeline.registry.registry import Registry

        registry = Registry(self.models_dir) if self.models_dir else Registry()
        versions = {}
        for role, spec in self._model_specs().items():
            if spec == "rules":  # the Checker's default verdict: tuned rules, versioned by their settings
                versions[role] = self.rules.label()
                continue
            try:
                versions[role] = registry.resolve(spec).label
            except FileNotFoundError:  # check_ready reports it; the verdict model may be rules
                versions[role] = None
        return {"scorer": "ModelScorer", "store": str(self.store_dir.resolve()), "models": versions,
                "encoder_backend": self.encoder_backend, "stance_backend": self.settled_stance_backend(),
                "top_k": self.top_k, "fact_checks": self.fact_checks, "checkworthy_domain": self.checkworthy_domain,
                "rule_packs": list(self.rule_packs)}

    def settled_stance_backend(self) -> str:
        from pipeline.stance.backends import settled_backend

        self.stance_backend = settled_backend(self.stance_backend)
        return self.stance_backend

    def _model_specs(self) -> dict[str, str]:
        """The registry spec each role loads (the stance model falls back to the embedding one
        while no cross-encoder is promoted)."""
        from pipeline.stance.model import StanceModel

        stance = StanceModel(self.stance_spec, models_dir=self.models_dir).resolve_spec()
        specs = {"checkworthy": self.checkworthy_spec, "stance": stance, "verdict": "rules"}
        return specs | ({"screen_stance": self.screen_stance_spec} if self.screen_stance_spec else {})

    def check_ready(self) -> None:
        """Fail fast, before any model loads (and before a Dask cluster starts), when the store or
        a model is missing."""
        try:
            from pipeline.corpus.store import Corpus
        except ImportError:
            exists = self.store_dir.is_dir()
        else:
            exists = Corpus(self.store_dir).exists()
        if not exists:
            raise UserError(f"{self.store_dir}: no corpus store here; build one with "
                            f"`claimsift ingest seeds --store {self.store_dir}`")
        from pipeline.registry.registry import Registry

        registry = Registry(self.models_dir) if self.models_dir else Registry()
        specs = self._model_specs()
        for spec, how in ((specs["checkworthy"], "claimsift train checkworthy"),
                          (specs["stance"], "claimsift train stance")):
            try:
                registry.resolve(spec)
            except FileNotFoundError as exc:
                raise UserError(f"{exc}; train it with `{how}`") from None

    def warm_up(self) -> None:
        if self._models is not None:
            return
        from pipeline.verdict.checker import Checker
        from pipeline.checkworthy.model import CheckworthyModel
        from pipeline.registry.embedding import Encoder

        options = {"models_dir": self.models_dir} if self.models_dir else {}
        # One MiniLM for claim detection, retrieval and fact-check matching: each copy is ~160 MB
        # per process (measured with the ONNX backend).
        encoder = Encoder(self.encoder_backend)
        detector = CheckworthyModel(self.checkworthy_spec, encoder_backend=self.encoder_backend, encoder=encoder,
                                    **options)
        detector.warm_up()
        checker = Checker(self.store_dir, top_k=self.top_k, stance_spec=self.stance_spec,
                          encoder_backend=self.encoder_backend, fact_checks=self.fact_checks,
                          rules=self.rules, encoder=encoder, screen_stance_spec=self.screen_stance_spec,
                          stance_backend=self.settled_stance_backend(), rule_packs=self.rule_packs, **options)
        checker.warm_up()
        self._models = (detector, checker)

    def score_posts(self, texts: Sequence[str]) -> list[dict]:
        from pipeline.verdict.validation import InvalidClaimError, validate_claim

        self.warm_up()
        detector, checker = self._models
        # One batched model call per chunk and domain.
        routed = detector.score_posts_routed(list(texts), self.checkworthy_domain)
        posts, to_check = [], []  # to_check: (post index, claim index, claim text)
        for post_score, spans, domain in ((r.score, r.claims, r.domain) for r in routed):
            claims = []
            for span in spans:
                claim = {"text": span.text, "start": int(span.start), "end": int(span.end),
                         "checkworthiness": round(float(span.score), 4)}
                try:
                    to_check.append((len(posts), len(claims), validate_claim(span.text)))
                except InvalidClaimError as exc:
                    claim["skipped"] = str(exc)
                claims.append(claim)
            posts.append({"checkworthiness": round(float(post_score), 4), "checkworthy_domain": domain,
                          "claims": claims})
        verdicts = checker.check_many([c for _, _, c in to_check]) if to_check else []
        for (post_at, claim_at, _), verdict in zip(to_check, verdicts):
            posts[post_at]["claims"][claim_at].update(verdict.to_dict() | {"text": posts[post_at]["claims"][claim_at]["text"]})
        return posts


# -- rows ------------------------------------------------------------------------------------------
def _evidence_row(item: dict) -> dict:
    probs = item.get("stance_probs") or {}
    return {
        "doc_id": item.get("doc_id"), "source": item.get("source"), "title": item.get("title"),
        "published": item.get("published"), "sentence": item.get("sentence"),
        "start": item.get("start"), "end": item.get("end"), "stance": item.get("stance"),
        "p_supports": probs.get("SUPPORTS"), "p_refutes": probs.get("REFUTES"),
        "p_not_enough_info": probs.get("NOT_ENOUGH_INFO"), "score": item.get("score"),
        "decisive": bool(item.get("decisive", False)),
    }


def _claim_row(claim: dict) -> dict:
    return {
        "text": claim["text"], "start": claim.get("start"), "end": claim.get("end"),
        "checkworthiness": claim.get("checkworthiness"), "verdict": claim.get("verdict"),
        "confidence": claim.get("confidence"), "skipped": claim.get("skipped"),
        "evidence": [_evidence_row(e) for e in claim.get("evidence", [])],
        "fact_checks": [{k: f.get(k) for k in FACT_CHECK_FIELDS} for f in claim.get("fact_checks", [])],
    }


def post_row(record: PostRecord, result: dict) -> dict:
    """One output row: the fixed schema of ``OUTPUT_SCHEMA``, whatever the scorer returned."""
    claims = [_claim_row(c) for c in result.get("claims", [])]
    return {"post_id": record.post_id, "line": record.line, "text": record.text,
            "checkworthiness": result.get("checkworthiness"), "checkworthy_domain": result.get("checkworthy_domain"),
            "n_claims": len(claims), "claims": claims}


def rejected_row(record: PostRecord) -> dict:
    return {"line": record.line, "post_id": record.post_id, "reason": record.reason}


def output_schema():
    import pyarrow as pa

    evidence = pa.struct([("doc_id", pa.string()), ("source", pa.string()), ("title", pa.string()),
                          ("published", pa.string()), ("sentence", pa.string()), ("start", pa.int32()),
                          ("end", pa.int32()), ("stance", pa.string()), ("p_supports", pa.float64()),
                          ("p_refutes", pa.float64()), ("p_not_enough_info", pa.float64()),
                          ("score", pa.float64()), ("decisive", pa.bool_())])
    fact_check = pa.struct([(name, pa.float64() if name == "similarity" else pa.string())
                            for name in FACT_CHECK_FIELDS])
    claim = pa.struct([("text", pa.string()), ("start", pa.int32()), ("end", pa.int32()),
                       ("checkworthiness", pa.float64()), ("verdict", pa.string()), ("confidence", pa.float64()),
                       ("skipped", pa.string()), ("evidence", pa.list_(evidence)),
                       ("fact_checks", pa.list_(fact_check))])
    return pa.schema([("post_id", pa.string()), ("line", pa.int64()), ("text", pa.string()),
                      ("checkworthiness", pa.float64()), ("checkworthy_domain", pa.string()), ("n_claims", pa.int32()),
                      ("claims", pa.list_(claim))])


def _write_parquet_part(path: Path, rows: list[dict]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows, schema=output_schema()), path, compression="zstd")


def _assemble_parquet(target: Path, parts: list[Path]) -> None:
    """Concatenate the parts into row groups of about ``ROW_GROUP_ROWS`` rows.

    Fewer, larger row groups than one per part: the file's footer (and the memory a reader or
    this writer spends on it) grows with the number of row groups, not with the rows.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = output_schema()
    pending, pending_rows = [], 0
    with pq.ParquetWriter(target, schema, compression="zstd") as writer:
        for part in parts:  # a row group's worth of parts in memory at a time
            table = pq.read_table(part, schema=schema)
            pending.append(table)
            pending_rows += table.num_rows
            if pending_rows >= ROW_GROUP_ROWS:
                writer.write_table(pa.concat_tables(pending), row_group_size=max(pending_rows, 1))
                pending, pending_rows = [], 0
        if pending:
            writer.write_table(pa.concat_tables(pending), row_group_size=max(pending_rows, 1))


def _assemble_jsonl(target: Path, parts: list[Path]) -> None:
    import shutil

    with open(target, "wb") as out:
        for part in parts:
            with open(part, "rb") as handle:
                shutil.copyfileobj(handle, out, 1 << 20)


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

    @property
    def posts_per_second(self) -> float:
        return self.scored_this_run / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict:
        return dict(self.__dict__) | {"posts_per_second": round(self.posts_per_second, 2)}


def rejected_path(output: Path) -> Path:
    return output.with_name(output.name + ".rejected.jsonl")


def output_format(output: Path) -> str:
    kind = OUTPUT_FORMATS.get(output.suffix.lower())
    if kind is None:
        raise UserError(f"{output}: the output must end in .parquet or .jsonl")
    return kind


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
        self._bar = None

    def __enter__(self) -> "_Progress":
        if self.enabled:
            from rich.console import Console
            from rich.progress import (BarColumn, Progress, TaskProgressColumn, TextColumn,
                                       TimeElapsedColumn, TimeRemainingColumn)

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
               resume: bool = False, chunk_size: int = DEFAULT_CHUNK_SIZE, text_column: str = "text",
               id_column: str = "id", max_chars: int = DEFAULT_MAX_CHARS, scheduler: str | None = None,
               workers: int = 2, progress: bool | None = None) -> ScoreSummary:
    """Score every post of ``input_path`` into ``output_path``; see the module docstring."""
    with _system_arrow_pool():
        return _score_file(input_path, output_path, scorer, engine=engine, resume=resume, chunk_size=chunk_size,
                           text_column=text_column, id_column=id_column, max_chars=max_chars,
                           scheduler=scheduler, workers=workers, progress=progress)


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
                resume: bool, chunk_size: int, text_column: str, id_column: str, max_chars: int,
                scheduler: str | None, workers: int, progress: bool | None) -> ScoreSummary:
    started = time.monotonic()
    input_path, output_path = Path(input_path), Path(output_path)
    kind = output_format(output_path)
    if chunk_size < 1:
        raise UserError("--batch-size must be at least 1")
    if engine not in ("local", "dask"):
        raise UserError(f"unknown engine {engine!r}: local or dask")
    reader = PostReader(input_path, text_column=text_column, id_column=id_column, max_chars=max_chars)
    check_ready = getattr(scorer, "check_ready", None)
    if callable(check_ready):
        check_ready()
    if output_path.parent.exists() and not output_path.parent.is_dir():
        raise UserError(f"{output_path.parent}: not a folder, cannot write {output_path.name} in it")
    config = {"input": _input_fingerprint(input_path) if input_path.is_file() else str(input_path),
              "chunk_size": chunk_size, "text_column": text_column, "id_column": id_column,
              "max_chars": max_chars, "output_format": kind, "scorer": scorer.fingerprint()}
    checkpoint = Checkpoint(output_path, ".parquet" if kind == "parquet" else ".jsonl")
    write_part = _write_parquet_part if kind == "parquet" else (lambda path, rows: write_jsonl(path, rows))
    summary = ScoreSummary(output=str(output_path), rejected_output=str(rejected_path(output_path)), engine=engine)

    records = iter(reader)
    first = next(records, None)  # whole-file problems (empty, wrong format) surface before any checkpoint
    if first is None:
        raise InputError(input_path, "no posts in the file (a header and nothing else?): nothing to score")
    counted = _Counter(_prepend(first, records))
    with _writing(checkpoint):
        output_path.parent.mkdir(parents=True, exist_ok=True)  # `make demo` writes to out/ on a fresh clone
        checkpoint.open(config, resume)
    summary.resumed_chunks = len(checkpoint.done)

    def commit(index: int, chunk: list[PostRecord], results: list[dict]) -> None:
        accepted = [r for r in chunk if r.accepted]
        if len(results) != len(accepted):
            raise RuntimeError(f"the scorer returned {len(results)} results for {len(accepted)} posts")
        rows = [post_row(r, res) for r, res in zip(accepted, results)]
        rejected = [rejected_row(r) for r in chunk if not r.accepted]
        with _writing(checkpoint):
            checkpoint.commit_chunk(index, lambda path: write_part(path, rows), rejected, read=len(chunk),
                                    scored=len(rows), claims=sum(row["n_claims"] for row in rows))
        summary.scored_this_run += len(rows)
        bar.advance(len(rows))

    with _Progress(reader, progress) as bar:
        if engine == "local":
            n_chunks = _run_local(counted, chunk_size, scorer, checkpoint, commit)
        else:
            from pipeline.scoring.dask_engine import run_dask

            n_chunks = run_dask(_chunks(counted, chunk_size), scorer, checkpoint.done, commit, scheduler, workers)
    summary.chunks = n_chunks
    with _writing(checkpoint):
        checkpoint.assemble(n_chunks, summary_rejected := rejected_path(output_path),
                            _assemble_parquet if kind == "parquet" else _assemble_jsonl)
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


class _Counter:
    """Counts the records that pass through, resumed chunks included."""

    def __init__(self, records: Iterator[PostRecord]) -> None:
        self.records = records
        self.n = 0

    def __iter__(self) -> Iterator[PostRecord]:
        for record in self.records:
            self.n += 1
            yield record


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


def _prepend(first: PostRecord, rest: Iterator[PostRecord]) -> Iterator[PostRecord]:
    yield first
    yield from rest


def _write_error(exc: OSError, checkpoint: Checkpoint) -> UserError:
    finished = len(checkpoint.done)
    where = exc.filename or checkpoint.folder
    return UserError(f"cannot write {where}: {exc.strerror or exc}. The checkpoint in {checkpoint.folder} keeps "
                     f"{finished} finished chunk(s); fix the problem and rerun with --resume")


def _run_local(records: Iterable[PostRecord], chunk_size: int, scorer: PostScorer, checkpoint: Checkpoint,
               commit: Callable[[int, list[PostRecord], list[dict]], None]) -> int:
    n_chunks = 0
    for index, chunk in _chunks(records, chunk_size):
        n_chunks = index + 1
        if index in checkpoint.done:
            continue
        texts = [r.text for r in chunk if r.accepted]
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


def iter_output(output: Path | str) -> Iterator[dict]:
    """The rows of a scoring output (Parquet or JSONL), streamed."""
    output = Path(output)
    if output_format(output) == "jsonl":
        with open(output, encoding="utf-8") as handle:
            for line in handle:
                yield json.loads(line)
        return
    import pyarrow.parquet as pq

    for batch in pq.ParquetFile(output).iter_batches(batch_size=512):
        yield from batch.to_pylist()


def score_frame(df: "Any", store_dir: Path | str = "corpus/store", text_column: str = "text",
                id_column: str = "id", scorer: PostScorer | None = None, chunk_size: int = DEFAULT_CHUNK_SIZE,
                max_chars: int = DEFAULT_MAX_CHARS) -> "Any":
    """Score the posts of a DataFrame in memory: one output row per input row, same index.

    Columns: ``post_id``, ``checkworthiness``, ``n_claims``, ``claims`` (list of claim dicts as in
    the file output) and ``rejected`` (null, or why the row could not be scored).
    """
    import pandas as pd

    from pipeline.scoring.posts import validate_post

    if text_column not in df.columns:
        raise UserError(f"the DataFrame has no '{text_column}' column (columns: {', '.join(map(str, df.columns))})")
    scorer = scorer or ModelScorer(store_dir)
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
        accepted = [r for r in chunk if r.accepted]
        results = iter(scorer.score_posts([r.text for r in accepted]) if accepted else [])
        for record in chunk:
            if record.accepted:
                row = post_row(record, next(results))
                out.append({"post_id": row["post_id"], "checkworthiness": row["checkworthiness"],
                            "n_claims": row["n_claims"], "claims": row["claims"], "rejected": None})
            else:
                out.append({"post_id": record.post_id, "checkworthiness": None, "n_claims": 0, "claims": [],
                            "rejected": record.reason})
    return pd.DataFrame(out, index=df.index, columns=["post_id", "checkworthiness", "n_claims", "claims", "rejected"])


def _missing(value: object) -> bool:
    try:
        import pandas as pd

        return value is None or bool(pd.isna(value))
    except (TypeError, ValueError):
        return False
