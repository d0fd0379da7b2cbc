"""User-supplied labelled data for retraining: read, validate, refuse.

A file is JSONL, CSV (or TSV) or Parquet, in the schema of its task:

- ``stance``: ``claim``, ``evidence``, ``label`` with labels SUPPORTS / REFUTES / NOT_ENOUGH_INFO
  (the aliases of ``stance_data.LABEL_ALIASES`` are accepted: ENTAILMENT, NEUTRAL, NEI, ...);
- ``checkworthy``: ``text``, ``label`` with labels 0 (not check-worthy) / 1 (check-worthy).

Other columns are ignored. A directory stands for every such file directly inside it.

Everything is checked before anything trains, and every problem is reported at once with the
rows it occurs on, so a user fixes a file in one pass: unreadable rows, missing columns, empty
texts, unknown labels (and labels that are all in another vocabulary), duplicates (and
duplicates that contradict each other), overlap with the evaluation data (leakage: a dev or
test text in training makes every dev figure a lie), a single class, too few rows.

Row numbers are 1-based positions in the file: the physical line for JSONL, the line a record
starts on for CSV (the header is line 1, as in a spreadsheet), the row for Parquet.
"""
from __future__ import annotations

import html
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping, Sequence

from pipeline.checkworthy import data as cd
from pipeline.core.errors import InputError, UserError
from pipeline.core.io import delimited_records, json_error_text, loads_noting_repeats, parse_object, read_tsv_rows
from pipeline.core.types import STANCE_LABELS
from pipeline.stance import data as stance_data
from pipeline.stance.pairs import StancePair, claim_key
from pipeline.stance.pairs import normalise_label as stance_label

if TYPE_CHECKING:
    import pandas as pd

# Imported where used, not here (slow to load; most callers of this module never need them): pandas, pyarrow.

TASKS = ("stance", "checkworthy")
SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv", ".tsv": "csv",
            ".parquet": "parquet", ".pq": "parquet"}
MIN_ROWS = 20
MIN_PER_CLASS = 3
# The models read a few hundred words of a text; a row far longer is a pasted document or a
# broken export, and one 30 MB row took 6.7 GB of memory to vectorise.
MAX_TEXT_CHARS = 20_000
MAX_ROWS_SHOWN = 10


@dataclass(frozen=True)
class TaskSchema:
    task: str
    text_columns: tuple[str, ...]
    labels: tuple  # the task's vocabulary, in model order

    @property
    def columns(self) -> tuple[str, ...]:
        return self.text_columns + ("label",)


SCHEMAS = {
    "stance": TaskSchema("stance", ("claim", "evidence"), STANCE_LABELS),
    "checkworthy": TaskSchema("checkworthy", ("text",), (0, 1)),
}


# The keys a training row is read by, whatever its task: only these make a repeated key ambiguous.
_READ_KEYS = frozenset(column for schema in SCHEMAS.values() for column in schema.columns)


def schema_of(task: str) -> TaskSchema:
    if task not in SCHEMAS:
        raise UserError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
    return SCHEMAS[task]


# -- problems and reports -----------------------------------------------------------------------

@dataclass(frozen=True)
class Problem:
    """One kind of problem and every row it occurs on (empty for a whole-file problem)."""

    kind: str
    rows: tuple[int, ...] = ()
    detail: str = ""
    file: str = ""

    def describe(self) -> str:
        where = f" on {_rows(self.rows)}" if self.rows else ""
        detail = f" ({self.detail})" if self.detail else ""
        prefix = f"{Path(self.file).name}: " if self.file else ""
        return f"{prefix}{self.kind}{where}{detail}"

    def to_dict(self) -> dict:
        return {"kind": self.kind, "rows": list(self.rows), "detail": self.detail, "file": self.file}


def _rows(rows: Sequence[int]) -> str:
    shown = ", ".join(str(r) for r in rows[:MAX_ROWS_SHOWN])
    more = f" and {len(rows) - MAX_ROWS_SHOWN} more" if len(rows) > MAX_ROWS_SHOWN else ""
    return f"row{'s' if len(rows) > 1 else ''} {shown}{more}"


@dataclass(frozen=True)
class ValidationReport:
    task: str
    files: tuple[str, ...]
    rows_read: int
    rows_valid: int
    label_counts: dict = field(default_factory=dict)
    problems: tuple[Problem, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        head = f"{', '.join(self.files)}: {self.rows_read} rows read for task {self.task}"
        if self.ok:
            return f"{head}; all valid; labels {self.label_counts}"
        return f"{head}; {len(self.problems)} problem(s): " + "; ".join(p.describe() for p in self.problems)

    def _repr_html_(self) -> str:
        head = html.escape(f"{', '.join(self.files)}: {self.rows_read} rows read, {self.rows_valid} valid; "
                           f"labels {self.label_counts}")
        if self.ok:
            return f"<p>✔ {head}</p>"
        rows = "".join(f"<tr><td>{html.escape(p.kind)}</td><td>{html.escape(_rows(p.rows) if p.rows else 'file')}"
                       f"</td><td>{html.escape(p.detail)}</td></tr>" for p in self.problems)
        return (f"<p>✘ {head}; not trainable:</p><table><tr><th>problem</th><th>where</th><th>detail</th></tr>"
                f"{rows}</table>")

    def to_dict(self) -> dict:
        return {"task": self.task, "files": list(self.files), "rows_read": self.rows_read,
                "rows_valid": self.rows_valid, "label_counts": {str(k): v for k, v in self.label_counts.items()},
                "ok": self.ok, "problems": [p.to_dict() for p in self.problems]}


class TrainingDataError(InputError):
    """A labelled file that must not be trained on; ``report`` holds every problem found."""

    def __init__(self, report: ValidationReport, purpose: str = "not trained on") -> None:
        problems = "; ".join(p.describe() for p in report.problems)
        # The first bad row only where there is one file: "a.csv, b.jsonl, row 1" named no file's row.
        row = _first_row(report.problems) if len(report.files) == 1 else None
        super().__init__(", ".join(report.files), f"{purpose}: {problems}", row=row)
        self.report = report


def _first_row(problems: Iterable[Problem]) -> int | None:
    rows = [r for p in problems for r in p.rows]
    return min(rows) if rows else None


@dataclass(frozen=True)
class LabelledData:
    """Validated rows: ``frame`` has the task's text columns, ``label`` (normalised: a stance
    label string or 0/1), ``row`` (position in its file) and ``file``."""

    task: str
    frame: pd.DataFrame  # pandas is imported where a frame is built, not with this module
    report: ValidationReport

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def label_counts(self) -> dict:
        return dict(self.report.label_counts)

    def texts(self) -> list[str]:
        return self.frame["text"].tolist()

    def labels(self) -> list:
        return self.frame["label"].tolist()

    def stance_pairs(self) -> list:
        """``StancePair``s for the stance trainer; ``source`` is ``user:<file name>``."""
        if self.task != "stance":
            raise ValueError("stance_pairs() is for stance data")
        return [StancePair(" ".join(c.split()), " ".join(e.split()), label, f"user:{Path(f).name}", claim_key(c))
                for c, e, label, f in zip(self.frame["claim"], self.frame["evidence"], self.frame["label"],
                                          self.frame["file"])]

    def provenance(self) -> dict:
        """One ``training_data`` entry for a model card."""
        return {"dataset": "user-supplied", "files": [str(f) for f in self.report.files],
                "licence": "as supplied by the user (not checked)", "rows": len(self),
                "labels": {str(k): v for k, v in self.label_counts.items()}}


# -- reading ------------------------------------------------------------------------------------

@dataclass
class _RawRows:
    path: Path
    rows: list[tuple[int, dict]]
    problems: list[Problem]
    columns: set[str]


def files_in(path: Path | str) -> list[Path]:
    """The labelled files a path names: itself, or every supported file directly in a directory."""
    path = Path(path)
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)
        if not found:
            raise InputError(path, f"no labelled files in this folder (looked for {', '.join(sorted(SUFFIXES))})")
        return found
    if not path.is_file():
        raise InputError(path, "file not found")
    if path.suffix.lower() not in SUFFIXES:
        raise InputError(path, f"unknown format {path.suffix!r}: name the file .jsonl, .csv, .tsv or .parquet")
    return [path]


def _read_jsonl(path: Path) -> _RawRows:
    out = _RawRows(path, [], [], set())
    bad: dict[str, list[int]] = {}
    with open(path, "rb") as handle:  # bytes: a line that is not UTF-8 is a problem of that row
        for line_no, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8-sig" if line_no == 1 else "utf-8")
            except UnicodeDecodeError:
                bad.setdefault("invalid UTF-8 (re-save the file as UTF-8)", []).append(line_no)
                continue
            if not line.strip():
                continue
            try:
                row, repeated = loads_noting_repeats(line)
            except json.JSONDecodeError as exc:
                bad.setdefault(json_error_text(exc), []).append(line_no)
                continue
            if not isinstance(row, dict):
                bad.setdefault("not a JSON object", []).append(line_no)
                continue
            # {"label": 0, "label": 1} kept the last label silently
            read = next((key for key in repeated if key in _READ_KEYS), None)
            if read is not None:
                bad.setdefault(f"the key '{read}' appears twice in the object", []).append(line_no)
                continue
            if "\\u" in line:  # "\\ud83d" alone: no tokenizer takes it in a key retraining reads; elsewhere mended
                mended, _ = parse_object(line.rstrip(), reads=_READ_KEYS)
                if mended is None:
                    bad.setdefault("half of a UTF-16 surrogate pair (an emoji cut in two?)", []).append(line_no)
                    continue
                row = mended
            out.columns.update(row)
            out.rows.append((line_no, row))
    out.problems += [Problem(kind, tuple(rows), file=str(path)) for kind, rows in bad.items()]
    return out


def _read_csv(path: Path) -> _RawRows:
    out = _RawRows(path, [], [], set())
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            # strictly quoted (an unclosed quote is an error; without it the rows after it were read as
            # that row's text and its checks blamed the wrong thing, an empty label); a TSV line that
            # is not quoted as a CSV is read as plain tab-separated text. Each row is numbered by its line.
            header: list[str] | None = None
            for record in delimited_records(handle, delimiter):
                if record.fields is None:
                    problem = ("a quote opened on this row is not closed by the end of the file"
                               if "unexpected end of data" in str(record.error)
                               else f"not a readable CSV file ({record.error})")
                    if record.last > record.first:  # the rows lost with it, as score and ingest name them
                        problem += f"; lines {record.first}-{record.last} were read as this one row"
                    raise InputError(path, problem, row=record.first)
                if header is None:
                    header = [c.strip() for c in record.fields]
                    out.columns.update(c for c in header if c)
                    continue
                fields = record.fields
                # as DictReader: a short row's missing cells are None, a repeated column keeps the last
                clean = dict(zip(header, fields + [None] * (len(header) - len(fields))))
                if any(v is not None and v.strip() for v in clean.values()):
                    if len(fields) > len(header):
                        out.problems.append(Problem("more fields than the header has columns", (record.first,),
                                                    file=str(path)))
                    out.rows.append((record.first, clean))
    except UnicodeDecodeError as exc:
        # exc.start counts from the decoder's current buffer, not the file: find the line instead
        raise InputError(path, f"not UTF-8 text ({exc.reason}); re-save the file as UTF-8",
                         row=_first_line_not_utf8(path)) from None
    return out


def _first_line_not_utf8(path: Path) -> int | None:
    with open(path, "rb") as handle:
        for line_no, raw in enumerate(handle, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                return line_no
    return None


def _read_parquet(path: Path) -> _RawRows:
    import pyarrow.parquet as pq

    try:
        names = pq.read_schema(path).names
    except Exception as exc:  # pyarrow raises several types for a bad file
        raise InputError(path, f"not a readable Parquet file ({' '.join(str(exc).split())})") from None
    # read_table fails on two same-named columns with a schema dump over lines, as if the file were damaged
    repeated = next((name for i, name in enumerate(names) if name in names[:i]), None)
    if repeated is not None:
        raise InputError(path, f"the column '{repeated}' appears twice in the Parquet schema; rename or remove one")
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for a bad file
        raise InputError(path, f"not a readable Parquet file ({' '.join(str(exc).split())})") from exc
    rows = table.to_pylist()
    return _RawRows(path, [(i, row) for i, row in enumerate(rows, start=1)], [], set(table.column_names))


def read_rows(path: Path) -> _RawRows:
    kind = SUFFIXES[path.suffix.lower()]
    if path.stat().st_size == 0:
        raise InputError(path, "the file is empty")
    return {"jsonl": _read_jsonl, "csv": _read_csv, "parquet": _read_parquet}[kind](path)


# -- labels and keys ----------------------------------------------------------------------------

def normalise_label(task: str, raw: object):
    """The label in the task's vocabulary, or None when it is not one."""
    if task == "stance":

        return stance_label(raw)
    if isinstance(raw, bool):
        return None  # True/False is another vocabulary: ask for 0/1 rather than guess
    if isinstance(raw, (int, float)) and raw in (0, 1):
        return int(raw)
    if isinstance(raw, str) and raw.strip() in ("0", "1", "0.0", "1.0"):
        return int(float(raw.strip()))
    return None


def text_key(text: str) -> str:
    """Case, punctuation and spacing do not make two texts different."""
    return " ".join(re.findall(r"\w+", text.lower()))


def row_key(task: str, values: Mapping[str, str]) -> str:
    return " || ".join(text_key(values[c]) for c in SCHEMAS[task].text_columns)


def leakage_key(task: str, values: Mapping[str, str]) -> str:
    # A stance claim on both sides of a split leaks even with other evidence: the splits of
    # stance_data are grouped by claim for the same reason.
    return text_key(values["claim"] if task == "stance" else values["text"])


def evaluation_keys(task: str, datasets_dir: Path | str | None, extra_files: Sequence[Path | str] = ()) -> dict[str, str]:
    """Keys of every evaluation text -> where it comes from: the task's dev (and test) data in
    the shared datasets folder, plus any extra labelled files (e.g. the file a comparison runs on)."""
    keys: dict[str, str] = {}
    if datasets_dir is not None and Path(datasets_dir).is_dir():
        keys.update(_public_evaluation_keys(task, Path(datasets_dir)))
    for extra in extra_files:
        for path in files_in(extra):
            raw = read_rows(path)
            column = "claim" if task == "stance" else "text"
            if raw.rows and column not in raw.columns:
                # Else the leakage check against this file was silently off.
                found = ", ".join(sorted(map(str, raw.columns))) or "none"
                raise UserError(f"{path}: no {column!r} column to check leakage against (found {found}); "
                                f"the {task} schema is {', '.join(schema_of(task).columns)}")
            for _, row in raw.rows:
                value = row.get(column)
                if isinstance(value, str) and value.strip():
                    keys.setdefault(text_key(value), path.name)
    return keys


def _public_evaluation_keys(task: str, root: Path) -> dict[str, str]:
    keys: dict[str, str] = {}
    if task == "checkworthy":

        sets = cd.load_sets(root)
        for name in cd.DEV_SETS:
            for text in sets[name].texts:
                keys.setdefault(text_key(text), f"{name} ({', '.join(sets[name].files)})")
        for rel in (cd.CT22_1A["test"], cd.CT22_1B["test"]):
            path = root / rel
            if path.is_file():
                for row in read_tsv_rows(path):
                    keys.setdefault(text_key(row.get("tweet_text") or ""), rel)
    else:

        splits = stance_data.build_stance_splits(root)
        for pair in splits["dev"]:
            keys.setdefault(text_key(pair.claim), f"stance dev ({pair.source})")
        for pair in splits["fever_symmetric"]:
            keys.setdefault(text_key(pair.claim), "fever-symmetric dev")
    keys.pop("", None)
    return keys


# -- validation ---------------------------------------------------------------------------------

def validate(path: Path | str, task: str, *, evaluation: Mapping[str, str] | None = None,
             min_rows: int = MIN_ROWS, min_per_class: int = MIN_PER_CLASS,
             require_classes: bool = True) -> tuple[ValidationReport, "object"]:
    """Check a labelled file (or folder of files); return the report and the valid rows as a
    DataFrame. Never raises for a problem in the rows: they are all in the report.

    ``evaluation``: keys from ``evaluation_keys``; rows whose text is among them are leakage.
    """
    import pandas as pd

    schema = schema_of(task)
    paths = files_in(path)
    problems: list[Problem] = []
    records: list[dict] = []
    rows_read = 0
    seen: dict[str, tuple[str, int, object]] = {}
    for file in paths:
        raw = read_rows(file)
        rows_read += len(raw.rows)
        problems += raw.problems
        missing = [c for c in schema.columns if c not in raw.columns]
        if missing:
            found = ", ".join(sorted(raw.columns)) or "none"
            problems.append(Problem(f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}",
                                    detail=f"the {task} schema is {', '.join(schema.columns)}; found {found}",
                                    file=str(file)))
            continue
        by_kind: dict[str, list[int]] = {}
        unknown_labels: Counter = Counter()
        known_labels = 0
        # (row, the row it repeats: its number, or "N of FILE" when that row is in another file)
        duplicates: list[tuple[int, int | str]] = []
        contradictions: list[tuple[int, int | str]] = []
        leaks: list[tuple[int, str]] = []
        for row_no, row in raw.rows:
            values = {}
            bad = False
            for column in schema.text_columns:
                value = row.get(column)
                if value is None or (isinstance(value, float) and value != value):
                    by_kind.setdefault(f"empty {column}", []).append(row_no)
                    bad = True
                elif not isinstance(value, str):
                    by_kind.setdefault(f"{column} is not text", []).append(row_no)
                    bad = True
                elif not value.strip():
                    by_kind.setdefault(f"empty {column}", []).append(row_no)
                    bad = True
                elif len(value) > MAX_TEXT_CHARS:
                    by_kind.setdefault(f"{column} longer than {MAX_TEXT_CHARS:,} characters (the models read the "
                                       "first few hundred words; cut it or drop the row)", []).append(row_no)
                    bad = True
                else:
                    values[column] = " ".join(value.split())
            label = normalise_label(task, row.get("label"))
            known_labels += label is not None
            if label is None:
                raw_label = row.get("label")
                if raw_label is None or (isinstance(raw_label, str) and not raw_label.strip()):
                    by_kind.setdefault("empty label", []).append(row_no)
                else:
                    by_kind.setdefault("unknown label", []).append(row_no)
                    unknown_labels[repr(raw_label)] += 1
                bad = True
            if bad:
                continue
            key = row_key(task, values)
            if key in seen:
                first_file, first_row, first_label = seen[key]
                pair = (row_no, first_row if first_file == str(file) else f"{first_row} of {Path(first_file).name}")
                (contradictions if first_label != label else duplicates).append(pair)
                continue
            seen[key] = (str(file), row_no, label)
            if evaluation:
                origin = evaluation.get(leakage_key(task, values))
                if origin is not None:
                    leaks.append((row_no, origin))
                    continue
            records.append({**values, "text": values.get("text", values.get("claim")), "label": label,
                            "row": row_no, "file": str(file)})
        for kind, rows in by_kind.items():
            detail = ""
            if kind == "unknown label":
                expected = ", ".join(str(v) for v in schema.labels)
                found = ", ".join(v for v, _ in unknown_labels.most_common(6))
                vocabulary = "every label is in another vocabulary" if known_labels == 0 else ""
                detail = f"{vocabulary + '; ' if vocabulary else ''}expected {expected}; found {found}"
            problems.append(Problem(kind, tuple(rows), detail, str(file)))
        if duplicates:
            problems.append(Problem("duplicate rows", tuple(r for r, _ in duplicates),
                                    ", ".join(f"row {r} repeats row {f}" for r, f in duplicates[:5])
                                    + " (same " + " and ".join(schema.text_columns) + ")", str(file)))
        if contradictions:
            problems.append(Problem("contradictory duplicates (same text, different label)",
                                    tuple(r for r, _ in contradictions),
                                    ", ".join(f"row {r} vs row {f}" for r, f in contradictions[:5]), str(file)))
        if leaks:
            origins = Counter(o for _, o in leaks)
            problems.append(Problem("overlap with evaluation data (leakage)", tuple(r for r, _ in leaks),
                                    "also in " + "; ".join(f"{o} ({n})" for o, n in origins.most_common(3)),
                                    str(file)))
    frame = pd.DataFrame(records, columns=list(schema.text_columns) + (["text"] if task == "stance" else [])
                         + ["label", "row", "file"])
    counts = Counter(frame["label"].tolist())
    label_counts = {label: counts.get(label, 0) for label in schema.labels}
    where = ", ".join(str(p) for p in paths)
    if not problems:
        present = [label for label, n in label_counts.items() if n]
        if len(frame) < min_rows:
            problems.append(Problem("too few rows", detail=f"{len(frame)} valid rows; at least {min_rows} are "
                                    "needed to learn or measure anything", file=where))
        if len(present) == 1 and require_classes:
            problems.append(Problem("a single class", detail=f"every row is labelled {present[0]!r}; a classifier "
                                    f"needs examples of at least two of {', '.join(map(str, schema.labels))}",
                                    file=where))
        thin = [f"{label} ({n})" for label, n in label_counts.items() if 0 < n < min_per_class]
        if thin and len(present) > 1 and require_classes:
            problems.append(Problem("too few rows of a class", detail=f"{', '.join(thin)}; at least "
                                    f"{min_per_class} per class present", file=where))
    report = ValidationReport(task, tuple(str(p) for p in paths), rows_read, len(frame), label_counts,
                              tuple(problems))
    return report, frame


def load_training_data(path: Path | str, task: str, *, datasets_dir: Path | str | None = None,
                       evaluation_files: Sequence[Path | str] = (), check_leakage: bool = True,
                       min_rows: int = MIN_ROWS, min_per_class: int = MIN_PER_CLASS,
                       require_classes: bool = True) -> LabelledData:
    """Validated labelled data, or ``TrainingDataError`` listing every problem with its rows.

    Leakage is checked against the task's dev/test data in ``datasets_dir`` (when it exists) and
    against ``evaluation_files``.
    """
    evaluation = evaluation_keys(task, datasets_dir, evaluation_files) if check_leakage else None
    report, frame = validate(path, task, evaluation=evaluation, min_rows=min_rows, min_per_class=min_per_class,
                             require_classes=require_classes)
    if not report.ok:
        raise TrainingDataError(report)
    return LabelledData(task, frame, report)


def load_evaluation_data(path: Path | str, task: str, min_rows: int = 10) -> LabelledData:
    """A labelled file to evaluate on: same schema and row checks, no leakage check."""
    report, frame = validate(path, task, evaluation=None, min_rows=min_rows, require_classes=False)
    if not report.ok:
        raise TrainingDataError(report, purpose="cannot evaluate on it")
    return LabelledData(task, frame, report)
