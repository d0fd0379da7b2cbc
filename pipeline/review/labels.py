"""Reviewers' labels: kept apart from the rebuildable store, append-only, exportable for training.

Labels live in a folder of their own (default ``labels/`` beside the store folder, e.g.
``corpus/labels`` for ``corpus/store``), so ``make clean`` and a re-ingest never touch them.
One JSON object per line in ``labels.jsonl``; a label is never rewritten: a correction of a
correction is a new line, and the newest line per key is the label in force (the older ones
are its history). Each line names what it labels by content hashes (post, claim, passage), so
a label still points at the same text after the store or the scores are rebuilt, and carries
the texts themselves, so an export needs nothing else.

Writers append under an exclusive ``flock`` on ``labels.lock`` and fsync before unlocking;
readers take the shared lock. Two review desks (or a desk and an export) on the same folder
therefore never interleave or read half a line.
"""
from __future__ import annotations

import datetime as _dt
import fcntl
import hashlib
import json
import os
import unicodedata
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from pipeline.core.errors import UserError
from pipeline.core.io import write_jsonl
from pipeline.core.types import STANCE_LABELS, VERDICT_LABELS

LABELS_FILE = "labels.jsonl"
LOCK_FILE = "labels.lock"
TASKS = ("verdict", "stance", "checkworthy")
EXPORT_TASKS = TASKS


def content_hash(text: str) -> str:
    """sha256 of the NFKC text with whitespace collapsed, first 16 hex digits (as document ids)."""
    normal = " ".join(unicodedata.normalize("NFKC", text).split())
    return hashlib.sha256(normal.encode("utf-8")).hexdigest()[:16]


def default_labels_dir(store_dir: Path | str) -> Path:
    """``labels/`` next to the store folder: outside what `make clean` and a re-ingest rebuild."""
    return Path(store_dir).resolve().parent / "labels"


@dataclass(frozen=True)
class LabelRecord:
    """One reviewer decision on one thing: a claim's verdict, a passage's stance or a post's
    check-worthiness. ``predicted`` is what the models said; ``label`` what the reviewer says."""

    task: str
    label: str | int
    predicted: str | int | None
    reviewer: str
    post_hash: str
    claim_hash: str = ""
    passage_hash: str = ""
    post_text: str = ""
    claim: str = ""
    evidence: str = ""  # the passage (stance)
    passages: tuple[str, ...] = ()  # the evidence passages shown with the verdict (verdict)
    doc_id: str = ""
    post_id: str | None = None
    scores_file: str = ""
    models: dict = field(default_factory=dict)  # model versions that made the prediction
    time: str = ""
    id: str = ""

    @property
    def key(self) -> tuple[str, ...]:
        if self.task == "checkworthy":
            return ("checkworthy", self.post_hash)
        if self.task == "verdict":
            return ("verdict", self.post_hash, self.claim_hash)
        return ("stance", self.post_hash, self.claim_hash, self.passage_hash)

    @property
    def corrected(self) -> bool:
        return self.predicted is not None and self.label != self.predicted

    def to_dict(self) -> dict:
        out = asdict(self)
        out["passages"] = list(self.passages)
        return out

    @classmethod
    def from_dict(cls, row: dict) -> "LabelRecord":
        known = {name: row[name] for name in cls.__dataclass_fields__ if name in row}
        known["passages"] = tuple(known.get("passages") or ())
        return cls(**known)


def validate_label(task: str, label: object) -> str | int:
    """The label in the task's vocabulary, or a UserError naming the vocabulary."""
    if task == "verdict" and label in VERDICT_LABELS:
        return str(label)
    if task == "stance" and label in STANCE_LABELS:
        return str(label)
    if task == "checkworthy" and str(label) in ("0", "1"):
        return int(str(label))
    vocab = {"verdict": VERDICT_LABELS, "stance": STANCE_LABELS, "checkworthy": ("0", "1")}.get(task)
    if vocab is None:
        raise UserError(f"unknown label task {task!r}; expected one of {', '.join(TASKS)}")
    raise UserError(f"{label!r} is not a {task} label; expected one of {', '.join(map(str, vocab))}")


class LabelStore:
    """The labels folder; cheap to construct, the folder is created on the first write."""

    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LABELS_FILE

    def __repr__(self) -> str:
        return f"LabelStore({str(self.folder)!r})"

    @contextmanager
    def _locked(self, exclusive: bool) -> Iterator[None]:
        if exclusive:
            self.folder.mkdir(parents=True, exist_ok=True)
        elif not self.folder.is_dir():
            yield
            return
        with open(self.folder / LOCK_FILE, "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def append(self, records: Iterable[LabelRecord],
               check: Callable[[list[LabelRecord]], None] | None = None) -> list[LabelRecord]:
        """Stamp (time, id) and append the records, all or none, in one locked write. ``check``
        sees every label already written, under the same lock, and may raise to write nothing: a
        test of what is in force and the write that depends on it, with no writer between."""
        now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="microseconds")
        stamped = [LabelRecord.from_dict(r.to_dict() | {"time": now, "id": uuid.uuid4().hex,
                                                        "label": validate_label(r.task, r.label)})
                   for r in records]
        for record in stamped:
            if not record.reviewer.strip():
                raise UserError("a label needs the reviewer's name")
        if not stamped:
            return []
        payload = "".join(json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in stamped).encode("utf-8")
        with self._locked(exclusive=True):
            if check is not None:
                check(self._read())
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                _repair_torn_tail(fd, self.path)
                os.write(fd, payload)
                os.fsync(fd)
            finally:
                os.close(fd)
        return stamped

    def records(self) -> list[LabelRecord]:
        """Every label ever written, oldest first (a line torn by a crash is skipped)."""
        if not self.path.is_file():
            return []
        with self._locked(exclusive=False):
            return self._read()

    def _read(self) -> list[LabelRecord]:
        """The records, the caller holding a lock (a second flock of this process would wait for it)."""
        out: list[LabelRecord] = []
        if not self.path.is_file():
            return out
        with open(self.path, encoding="utf-8") as handle:
            for line in handle:
                try:
                    out.append(LabelRecord.from_dict(json.loads(line)))
                except (json.JSONDecodeError, TypeError):
                    continue
        return out

    def latest(self, records: list[LabelRecord] | None = None) -> dict[tuple[str, ...], LabelRecord]:
        """The label in force for each key: the newest line."""
        current: dict[tuple[str, ...], LabelRecord] = {}
        for record in records if records is not None else self.records():
            current[record.key] = record
        return current

    def for_claim(self, post_hash: str, claim_hash: str) -> tuple[dict[tuple[str, ...], LabelRecord], list[LabelRecord]]:
        """The labels in force on one claim of one post (and its post), and their history, newest first."""
        mine = [r for r in self.records()
                if r.post_hash == post_hash and (r.task == "checkworthy" or r.claim_hash == claim_hash)]
        return self.latest(mine), list(reversed(mine))

    def export_rows(self, task: str) -> list[dict]:
        """The labels in force in the training schema of ``task`` (see ``export``)."""
        if task not in EXPORT_TASKS:
            raise UserError(f"unknown task {task!r}; expected one of {', '.join(EXPORT_TASKS)}")
        chosen = [r for r in self.latest().values() if r.task == task]
        # Training rows are keyed by their texts (training_data refuses duplicates): where two
        # posts carry the same claim and passage, the newest label of that text pair stands.
        by_text: dict[tuple[str, ...], LabelRecord] = {}
        for record in sorted(chosen, key=lambda r: r.time):
            text_key = {"stance": (record.claim, record.evidence), "checkworthy": (record.post_text,),
                        "verdict": (record.claim,)}[task]
            by_text[tuple(" ".join(t.split()).lower() for t in text_key)] = record
        rows: list[dict[str, Any]] = []
        for record in by_text.values():
            provenance: dict[str, Any] = {"reviewer": record.reviewer, "time": record.time, "predicted": record.predicted,
                          "models": record.models, "label_id": record.id}
            if task == "stance":
                rows.append({"claim": record.claim, "evidence": record.evidence, "label": record.label,
                             "doc_id": record.doc_id} | provenance)
            elif task == "checkworthy":
                rows.append({"text": record.post_text, "label": int(record.label), "post_id": record.post_id}
                            | provenance)
            else:
                rows.append({"claim": record.claim, "label": record.label, "evidence": list(record.passages)}
                            | provenance)
        return rows

    def export(self, task: str, out: Path | str) -> int:
        """Write the labels in force for ``task`` as JSONL, atomically; returns the rows written.

        Schemas (other columns are provenance, ignored by training): ``stance``: claim, evidence,
        label (SUPPORTS / REFUTES / NOT_ENOUGH_INFO); ``checkworthy``: text, label (0 / 1);
        ``verdict``: claim, label (SUPPORTED / REFUTED / NOT_ENOUGH_INFO / CONFLICTING), evidence
        (the passages shown with the verdict)."""
        rows = self.export_rows(task)
        # A temporary file of its own, removed on failure: two exports to one file never write into one
        write_jsonl(out, rows)
        return len(rows)


def _repair_torn_tail(fd: int, path: Path) -> None:
    """After a crash mid-write the file may end without a newline: start the next line afresh."""
    size = os.fstat(fd).st_size
    if size == 0:
        return
    with open(path, "rb") as handle:
        handle.seek(size - 1)
        if handle.read(1) != b"\n":
            os.write(fd, b"\n")


class LabelConflict(UserError):
    """A label form that no longer fits what it would label: the claim changed, or another reviewer
    labelled it, since the page was loaded."""


def no_newer_label_by_another(post_hash: str, claim_hash: str, basis: str,
                              reviewer: str) -> Callable[[list[LabelRecord]], None]:
    """A ``LabelStore.append`` check: refuse when a label of this claim (or its post) newer than
    ``basis`` (the newest the page showed; "" for none) is another reviewer's."""

    def check(written: list[LabelRecord]) -> None:
        mine = [r for r in written if r.post_hash == post_hash and (r.task == "checkworthy" or r.claim_hash == claim_hash)]
        ids = [r.id for r in mine]
        if basis and basis not in ids:
            raise LabelConflict("The labels of this claim changed since the page was loaded: reload it. Nothing was saved.")
        newer = mine[ids.index(basis) + 1:] if basis else mine
        other = next((r for r in reversed(newer) if r.reviewer != reviewer), None)
        if other is not None:
            raise LabelConflict(f"{other.reviewer} labelled this claim ({other.task}: {other.label}) after you opened "
                                "the page: reload it to see that label, then save yours again. Nothing was saved.")

    return check
