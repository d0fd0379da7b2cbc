"""Chunk checkpoints of a scoring job, so a job killed at any moment can be resumed.

Layout beside the output ``OUT``::

    OUT.parts/manifest.json              the job's configuration (input fingerprint, options,
                                         models); written once, atomically
    OUT.parts/done.jsonl                 one line per finished chunk (file names, counts, hashes),
                                         appended and fsynced after the chunk's files are in place
    OUT.parts/part-000042.<ext>          the scored rows of chunk 42 (Parquet or JSONL)
    OUT.parts/part-000042.rejected.jsonl the rejected rows of chunk 42

Every part file is written to a temporary name, fsynced and renamed into place, so a part file
is either complete or absent. A chunk counts as finished only once its line in ``done.jsonl``
is complete and its files match the recorded sizes and hashes; a chunk killed half-way is
simply scored again. ``done.jsonl`` is an append-only log rather than a rewritten manifest so
that a job of millions of rows does not rewrite a growing file after every chunk; a torn last
line (a kill during the append) is dropped when the log is reloaded.

The final output is assembled from the parts in chunk order into a temporary file and renamed
into place; only then is the parts folder removed (renamed aside first, so a kill during the
removal cannot leave a folder that looks like a partial run).
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from pipeline.core.errors import UserError
from pipeline.core.io import jsonl_text, sha256_file

MANIFEST_VERSION = 1


@dataclass(frozen=True)
class ChunkRecord:
    index: int
    part: str  # file name inside the parts folder
    rejected_part: str
    read: int
    scored: int
    rejected: int
    claims: int
    part_bytes: int
    part_sha256: str
    rejected_bytes: int
    rejected_sha256: str

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Call ``write(tmp)`` on a temporary path beside ``path``, fsync it, rename it into place."""
    # Not mkstemp: its files are 0600; this one gets the usual permissions from the umask.
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        write(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _changed_keys(saved: object, now: object, key: str) -> list[str]:
    """The innermost keys whose values differ (``scorer.evidence_index``): two whole fingerprints
    side by side do not show what changed."""
    if not isinstance(saved, dict) or not isinstance(now, dict):
        return [key]
    return [name for k in sorted(set(saved) | set(now)) if saved.get(k) != now.get(k)
            for name in _changed_keys(saved.get(k), now.get(k), f"{key}.{k}")]


def _one_sided(saved: object, now: object) -> bool:
    """Whether a key inside two fingerprints is recorded by one of them only (a setting one claimsift
    records and another does not): no option of this job can make them equal."""
    if not isinstance(saved, dict) or not isinstance(now, dict):
        return False
    return set(saved) != set(now) or any(_one_sided(saved[k], now[k]) for k in saved if saved[k] != now[k])


def _differences(saved: dict, now: dict, keys: list[str]) -> list[str]:
    """What differs between a checkpoint's configuration and this job's, in words where a person cannot
    read the values (the input's fingerprint, the version of the output's rows); for the others (options,
    the scorer's models) the values side by side and the innermost keys that changed."""
    said = []
    if "input" in keys:
        was, is_now = saved.get("input"), now.get("input")
        if isinstance(was, dict) and isinstance(is_now, dict) and was.get("path") != is_now.get("path"):
            said.append(f"the input is another file than the checkpoint's ({was.get('path')})")
        else:
            said.append("the input file changed since the checkpoint (size/content)")
    # Keys that one claimsift records and another does not: the rows of the two would not fit one output.
    versions = [k for k in keys if k == "row_fields" or (k != "input" and (k not in saved or k not in now
                                                                            or _one_sided(saved[k], now[k])))]
    if versions:
        said.append("the checkpoint was written by another version of claimsift"
                    + (" (its output rows have other fields)" if "row_fields" in versions else ""))
    other = [k for k in keys if k != "input" and k not in versions]
    if other:
        detail = "; ".join(f"{k}: was {saved.get(k)!r}, now {now.get(k)!r}" for k in other)
        changed = [name for k in other for name in _changed_keys(saved.get(k), now.get(k), k)]
        named = f"; what changed: {', '.join(changed)}" if changed != other else ""
        said.append(f"the job differs from the checkpoint ({detail}){named}")
    return said


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class Checkpoint:
    """The parts folder of one output file."""

    def __init__(self, output: Path, part_suffix: str) -> None:
        self.output = Path(output)
        self.folder = self.output.with_name(self.output.name + ".parts")
        self.part_suffix = part_suffix
        self.manifest_path = self.folder / "manifest.json"
        self.log_path = self.folder / "done.jsonl"
        self.done: dict[int, ChunkRecord] = {}

    # -- starting and resuming ----------------------------------------------------------------
    def open(self, config: dict, resume: bool) -> None:
        """Start a new checkpoint, or load the finished chunks of a matching one (``resume``)."""
        if self.folder.exists():
            if not resume:
                raise UserError(f"{self.folder} holds a partial run ({self.logged_chunks()} chunk(s) finished): "
                                f"rerun with --resume to finish it, or delete {self.folder} to start over")
            self._resume(config)
            return
        self._discard_trash()
        self.folder.mkdir(parents=True)
        atomic_write(self.manifest_path, lambda tmp: tmp.write_text(
            json.dumps({"version": MANIFEST_VERSION, "config": config}, indent=2, sort_keys=True)))
        self.log_path.touch()
        _fsync_dir(self.folder)

    def logged_chunks(self) -> int:
        """How many chunks the log of an existing parts folder records as finished (0 without a log)."""
        return len(self._read_log()) if self.log_path.exists() else 0

    def saved_config(self) -> dict | None:
        """The configuration a partial run was started with; None when there is none to read
        (``open`` then says why)."""
        try:
            manifest = json.loads(self.manifest_path.read_text())
        except (OSError, ValueError):
            return None
        config = manifest.get("config") if isinstance(manifest, dict) else None
        return config if isinstance(config, dict) else None

    def _resume(self, config: dict) -> None:
        try:
            manifest = json.loads(self.manifest_path.read_text())
        except (OSError, ValueError):
            raise UserError(f"{self.folder} has no readable manifest.json: delete {self.folder} to start over") from None
        saved = manifest.get("config", {})
        differences = sorted(k for k in set(saved) | set(config) if saved.get(k) != config.get(k))
        if differences:
            raise UserError(f"cannot resume {self.folder}: {'; '.join(_differences(saved, config, differences))}; "
                            f"rerun with the same input and options, or delete {self.folder} to start over")
        for stale in self.folder.glob(".*.tmp"):
            stale.unlink(missing_ok=True)
        self.done = {}
        for record in self._read_log():
            if self._intact(record):
                self.done[record.index] = record
        # Rewrite the log without torn or stale lines so that later appends start on a fresh line.
        ordered = [self.done[i] for i in sorted(self.done)]
        atomic_write(self.log_path, lambda tmp: tmp.write_text(
            jsonl_text((r.to_dict() for r in ordered), sort_keys=True, ensure_ascii=True)))

    def _read_log(self) -> list[ChunkRecord]:
        records = []
        with open(self.log_path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                try:
                    records.append(ChunkRecord(**json.loads(line)))
                except (ValueError, TypeError):
                    continue  # a line torn by a kill during the append: that chunk is redone
        return records

    def _intact(self, record: ChunkRecord) -> bool:
        for name, size, sha in ((record.part, record.part_bytes, record.part_sha256),
                                (record.rejected_part, record.rejected_bytes, record.rejected_sha256)):
            path = self.folder / name
            if not path.is_file() or path.stat().st_size != size or sha256_file(path) != sha:
                return False
        return True

    # -- one finished chunk ------------------------------------------------------------------
    def part_paths(self, index: int) -> tuple[Path, Path]:
        return (self.folder / f"part-{index:06d}{self.part_suffix}",
                self.folder / f"part-{index:06d}.rejected.jsonl")

    def commit_chunk(self, index: int, write_part: Callable[[Path], None], rejected: list[dict],
                     read: int, scored: int, claims: int) -> ChunkRecord:
        part, rejected_part = self.part_paths(index)
        atomic_write(rejected_part, lambda tmp: write_jsonl(tmp, rejected))
        atomic_write(part, write_part)
        part_bytes, part_sha = part.stat().st_size, sha256_file(part)
        rejected_bytes, rejected_sha = rejected_part.stat().st_size, sha256_file(rejected_part)
        record = ChunkRecord(index=index, part=part.name, rejected_part=rejected_part.name, read=read,
                             scored=scored, rejected=len(rejected), claims=claims, part_bytes=part_bytes,
                             part_sha256=part_sha, rejected_bytes=rejected_bytes, rejected_sha256=rejected_sha)
        with open(self.log_path, "a", encoding="utf-8") as log:
            log.write(json.dumps(record.to_dict(), sort_keys=True) + "\n")
            log.flush()
            os.fsync(log.fileno())
        self.done[index] = record
        return record

    # -- the end -------------------------------------------------------------------------------
    def ordered(self, n_chunks: int) -> list[ChunkRecord]:
        missing = [i for i in range(n_chunks) if i not in self.done]
        if missing:
            raise RuntimeError(f"chunks {missing[:10]} are not finished; cannot assemble")
        return [self.done[i] for i in range(n_chunks)]

    def assemble(self, n_chunks: int, rejected_output: Path,
                 write_output: Callable[[Path, list[Path]], None]) -> None:
        """Write the final output and rejected file from the parts, each atomically."""
        records = self.ordered(n_chunks)
        parts = [self.folder / r.part for r in records]
        rejected_parts = [self.folder / r.rejected_part for r in records]
        atomic_write(rejected_output, lambda tmp: _concatenate(tmp, rejected_parts))
        atomic_write(self.output, lambda tmp: write_output(tmp, parts))

    def remove(self) -> None:
        trash = self._trash_path()
        os.replace(self.folder, trash)
        shutil.rmtree(trash, ignore_errors=True)

    def _trash_path(self) -> Path:
        return self.output.with_name(f".{self.output.name}.parts.trash")

    def _discard_trash(self) -> None:
        trash = self._trash_path()
        if trash.exists():
            shutil.rmtree(trash, ignore_errors=True)


def write_jsonl(path: Path, rows: Iterable[dict]) -> None:
    """One chunk's rows (its atomicity comes from the checkpoint's commit, not from this write)."""
    path.write_text(jsonl_text(rows), encoding="utf-8")


def _concatenate(target: Path, sources: list[Path]) -> None:
    with open(target, "wb") as out:
        for source in sources:
            with open(source, "rb") as handle:
                shutil.copyfileobj(handle, out, 1 << 20)
