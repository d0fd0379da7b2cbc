"""Labelled check-worthiness data: the shared public sets and user JSONL files.

Every source becomes a ``LabelledSet`` of (text, label 0/1) rows plus a ``group`` per row (the
unit that must not straddle a train/dev split). Which files train and which tune is decided
here, once, so the training command and the tests agree:

- train: ClaimBuster 2-class ``train.json`` minus a held-out block of debates; CheckThat! 2020
  task 1 ``training_v2.tsv``; CheckThat! 2022 1A ``train``; the CheckThat! 2022 1B ``train``
  tweets labelled "not a verifiable claim" (1A is exactly the 1B claims, so a non-claim is not
  check-worthy either; these teach the model what chit-chat tweets look like).
- dev (tuning and reported metrics): CheckThat! 2022 1A ``dev``; the ClaimBuster held-out
  debates; CheckThat! 2020 task 1 ``dev_v2.tsv``; 1A dev plus the 1B dev non-claims ("all
  tweets", closer to what a dump of posts holds).

Any training tweet whose id or text also appears in a dev or test file is dropped (the 2020 and
2022 CheckThat! sets share tweets), and training texts are de-duplicated.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline.core.errors import InputError
from pipeline.core.io import parse_object, read_tsv_rows

CLAIMBUSTER = "claimbuster-2class/train.json"
CT20_TRAIN = "checkthat2020-task1-tweets/training_v2.tsv"
CT20_DEV = "checkthat2020-task1-tweets/dev_v2.tsv"
CT22 = "checkthat2022-task1-tweets/CT22_english_{task}_{split}.tsv"
CT22_1A = {"train": CT22.format(task="1A_checkworthy", split="train"),
           "dev": CT22.format(task="1A_checkworthy", split="dev"),
           "test": CT22.format(task="1A_checkworthy", split="test")}
CT22_1B = {"train": CT22.format(task="1B_claim", split="train"),
           "dev": CT22.format(task="1B_claim", split="dev"),
           "test": CT22.format(task="1B_claim", split="test")}

LICENCES = {
    "claimbuster-2class": "GPL-3.0 (utaresearch/claimbuster-spotter repository)",
    "checkthat2020-task1-tweets": "free for general research use (CLEF 2020 CheckThat! task 1)",
    "checkthat2022-task1-tweets": "free for general research use (CLEF 2022 CheckThat! task 1)",
}

# ClaimBuster's 2-class file carries no debate field, but sentence ids run consecutively
# through each debate transcript, so blocks of consecutive ids approximate debates; every
# fifth block is held out so that held-out sentences rarely share a debate with training ones.
CLAIMBUSTER_BLOCK = 1000
CLAIMBUSTER_HELDOUT_EVERY = 5
CLAIMBUSTER_HELDOUT_OFFSET = 2


@dataclass(frozen=True)
class LabelledSet:
    name: str
    texts: list[str]
    labels: np.ndarray  # int64 0/1
    groups: list[str] = field(default_factory=list)
    files: tuple[str, ...] = ()
    dataset: str = ""

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def positives(self) -> int:
        return int(self.labels.sum())

    def provenance(self) -> dict:
        return {"dataset": self.dataset, "files": list(self.files),
                "licence": LICENCES.get(self.dataset, "not stated"), "rows": len(self),
                "positives": self.positives, "name": self.name}


def normalise_key(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def _read_tsv(path: Path) -> list[dict]:
    if not path.is_file():
        raise InputError(path, "file not found (is --data the shared datasets folder?)")
    # The 2020 files quote a field holding a quote the CSV way (28 training tweets); read plain, they
    # kept the quoting as text (``"Folks, when you say ""The corona..."``).
    return read_tsv_rows(path)


def _claimbuster(data: Path) -> tuple[LabelledSet, LabelledSet]:
    path = data / CLAIMBUSTER
    if not path.is_file():
        raise InputError(path, "file not found (is --data the shared datasets folder?)")
    rows = json.loads(path.read_text(encoding="utf-8"))
    parts: dict[bool, list[dict]] = {False: [], True: []}
    for row in rows:
        block = int(row["sentence_id"]) // CLAIMBUSTER_BLOCK
        parts[block % CLAIMBUSTER_HELDOUT_EVERY == CLAIMBUSTER_HELDOUT_OFFSET].append(row)
    out = []
    for heldout, name in ((False, "claimbuster_train"), (True, "claimbuster_heldout")):
        chosen = parts[heldout]
        out.append(LabelledSet(
            name=name, texts=[r["text"] for r in chosen],
            labels=np.array([int(r["label"]) for r in chosen], dtype=np.int64),
            groups=[f"cb-block-{int(r['sentence_id']) // CLAIMBUSTER_BLOCK}" for r in chosen],
            files=(CLAIMBUSTER,), dataset="claimbuster-2class"))
    return out[0], out[1]


def _tweets(data: Path, rel: str, name: str, label_column: str, keep_label: int | None = None,
            as_label: int | None = None) -> LabelledSet:
    rows = _read_tsv(data / rel)
    texts, labels, ids = [], [], []
    for row in rows:
        label = int(row[label_column])
        if keep_label is not None and label != keep_label:
            continue
        texts.append(row["tweet_text"])
        labels.append(label if as_label is None else as_label)
        ids.append(row["tweet_id"])
    return LabelledSet(name=name, texts=texts, labels=np.array(labels, dtype=np.int64), groups=ids,
                       files=(rel,), dataset=rel.split("/")[0])


def load_sets(data: Path | str) -> dict[str, LabelledSet]:
    """All sources, keyed by name; ``train_*`` sets are already cleaned of dev/test overlap."""
    data = Path(data)
    if not data.is_dir():
        raise InputError(data, "datasets folder not found")
    cb_train, cb_heldout = _claimbuster(data)
    sets = {
        "claimbuster_train": cb_train,
        "ct20_train": _tweets(data, CT20_TRAIN, "ct20_train", "check_worthiness"),
        "ct22_1a_train": _tweets(data, CT22_1A["train"], "ct22_1a_train", "class_label"),
        "ct22_1b_train_nonclaims": _tweets(data, CT22_1B["train"], "ct22_1b_train_nonclaims", "class_label",
                                           keep_label=0, as_label=0),
        "ct22_1a_dev": _tweets(data, CT22_1A["dev"], "ct22_1a_dev", "class_label"),
        "claimbuster_heldout": cb_heldout,
        "ct20_dev": _tweets(data, CT20_DEV, "ct20_dev", "check_worthiness"),
    }
    nonclaims_dev = _tweets(data, CT22_1B["dev"], "ct22_1b_dev_nonclaims", "class_label", keep_label=0, as_label=0)
    dev_1a = sets["ct22_1a_dev"]
    sets["ct22_all_tweets_dev"] = LabelledSet(
        name="ct22_all_tweets_dev", texts=dev_1a.texts + nonclaims_dev.texts,
        labels=np.concatenate([dev_1a.labels, nonclaims_dev.labels]), groups=dev_1a.groups + nonclaims_dev.groups,
        files=(CT22_1A["dev"], CT22_1B["dev"]), dataset="checkthat2022-task1-tweets")

    # Tweets of any dev or test file must never be trained on.
    blocked_ids: set[str] = set()
    blocked_texts: set[str] = set()
    for rel in (CT20_DEV, CT22_1A["dev"], CT22_1A["test"], CT22_1B["dev"], CT22_1B["test"]):
        for row in _read_tsv(data / rel):
            blocked_ids.add(row["tweet_id"])
            blocked_texts.add(normalise_key(row["tweet_text"]))
    blocked_texts.update(normalise_key(t) for t in cb_heldout.texts)
    for name in [n for n in sets if n.endswith("_train") or n.endswith("_train_nonclaims")]:
        sets[name] = _without(sets[name], blocked_ids, blocked_texts)
    return sets


def _without(part: LabelledSet, blocked_ids: set[str], blocked_texts: set[str]) -> LabelledSet:
    keep = [i for i, (text, group) in enumerate(zip(part.texts, part.groups))
            if group not in blocked_ids and normalise_key(text) not in blocked_texts]
    return LabelledSet(name=part.name, texts=[part.texts[i] for i in keep], labels=part.labels[keep],
                       groups=[part.groups[i] for i in keep], files=part.files, dataset=part.dataset)


TRAIN_SETS = ("claimbuster_train", "ct20_train", "ct22_1a_train", "ct22_1b_train_nonclaims")
DEV_SETS = ("ct22_1a_dev", "claimbuster_heldout", "ct20_dev", "ct22_all_tweets_dev")


def training_data(sets: dict[str, LabelledSet], names: tuple[str, ...] = TRAIN_SETS) -> tuple[list[str], np.ndarray, list[str]]:
    """Concatenate the named sets, dropping repeated texts (the first label seen wins)."""
    texts: list[str] = []
    labels: list[int] = []
    sources: list[str] = []
    seen: set[str] = set()
    for name in names:
        part = sets[name]
        for text, label in zip(part.texts, part.labels):
            key = normalise_key(text)
            if not key or key in seen:
                continue
            seen.add(key)
            texts.append(text)
            labels.append(int(label))
            sources.append(name)
    return texts, np.array(labels, dtype=np.int64), sources


# -- user files ----------------------------------------------------------------------------

def read_jsonl_texts(path: Path | str, labelled: bool, text_field: str = "text",
                     label_field: str = "label") -> tuple[list[str], np.ndarray | None]:
    """Read a JSONL file of ``text`` (and ``label`` 0/1) rows, refusing anything doubtful.

    Problems are collected over the whole file and reported together, naming the rows (1-based
    line numbers), so a user fixes a bad file in one pass.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(path, "is a folder, not a file")
    if not path.is_file():
        raise InputError(path, "file not found")
    texts: list[str] = []
    labels: list[int] = []
    problems: dict[str, list[int]] = {}
    first_line: dict[str, int] = {}
    unknown_labels: dict[str, int] = {}

    def problem(kind: str, line: int) -> None:
        problems.setdefault(kind, []).append(line)

    with open(path, "rb") as handle:  # bytes: a line that is not UTF-8 is named with the others
        for line_no, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8-sig" if line_no == 1 else "utf-8")  # -sig: a byte-order mark is not text
            except UnicodeDecodeError:
                problem("invalid UTF-8", line_no)
                continue
            if not line.strip():
                problem("empty line", line_no)
                continue
            row, invalid = parse_object(line.rstrip())  # also refuses half a surrogate pair ("\\ud83d")
            if row is None:
                problem(invalid or "not a JSON object", line_no)
                continue
            text = row.get(text_field)
            if text_field not in row:
                problem(f"missing column {text_field!r}", line_no)
                continue
            if not isinstance(text, str):
                problem(f"{text_field!r} is not a string", line_no)
                continue
            if not text.strip():
                problem(f"empty {text_field!r}", line_no)
                continue
            if labelled:
                if label_field not in row:
                    problem(f"missing column {label_field!r}", line_no)
                    continue
                label = row[label_field]
                if isinstance(label, bool) or label not in (0, 1, "0", "1"):
                    problem("unknown label (expected 0 or 1)", line_no)
                    unknown_labels.setdefault(repr(label), line_no)
                    continue
                key = normalise_key(text)
                if key in first_line:
                    problem(f"duplicate text (first seen on row {first_line[key]})", line_no)
                    continue
                first_line[key] = line_no
                labels.append(int(label))
            texts.append(text)
    if problems:
        parts = [f"{kind} on {_rows(lines)}" for kind, lines in problems.items()]
        if unknown_labels:
            parts.append(f"labels seen: {', '.join(list(unknown_labels)[:5])}")
        first_row = min(min(lines) for lines in problems.values())
        raise InputError(path, "; ".join(parts), row=first_row)
    if not texts:
        raise InputError(path, "no rows: the file is empty")
    return texts, (np.array(labels, dtype=np.int64) if labelled else None)


def _rows(lines: list[int], limit: int = 10) -> str:
    shown = ", ".join(str(n) for n in lines[:limit])
    more = f" and {len(lines) - limit} more" if len(lines) > limit else ""
    return f"row{'s' if len(lines) > 1 else ''} {shown}{more}"
