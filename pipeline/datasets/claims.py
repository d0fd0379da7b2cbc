"""The labelled claims of a corpus (JSONL), and whether a passage shown matches a claim's gold evidence.

Evidence texts are compared as lower-case words (``core.splits.text_key``: punctuation and tokenisation
do not matter); a passage sentence matches when it is a whole-word part of a gold text, or a gold text
is a whole-word part of it, the contained side having at least ``MIN_MATCH_WORDS`` words (shorter ones
must be equal), so "No." matches nothing."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from pipeline.core.errors import InputError
from pipeline.core.io import jsonl_lines
from pipeline.core.splits import text_key
from pipeline.core.types import VERDICT_LABELS
from pipeline.corpus.readers import normalise_date

MIN_MATCH_WORDS = 4


@dataclass(frozen=True)
class CorpusClaim:
    id: str
    claim: str
    label: str
    date: str | None = None
    gold_evidence: tuple[str, ...] = ()
    gold_documents: tuple[str, ...] = ()
    exclude_documents: tuple[str, ...] = ()
    line: int = 0


def _text_list(obj: dict, key: str, problems: list[str], line_no: int) -> tuple[str, ...]:
    value = obj.get(key)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, (str, int)) for v in value):
        problems.append(f"line {line_no}: `{key}` must be a list of texts")
        return ()
    return tuple(str(v) for v in value)


# the keys a claims row is read by: only these make a key given twice ambiguous
_CLAIM_KEYS = ("id", "claim", "label", "date", "gold_evidence", "gold_documents", "exclude_documents")


def read_corpus_claims(path: Path | str) -> list[CorpusClaim]:
    """The labelled claims of ``path``; every bad line is reported together (line numbers)."""
    path = Path(path)
    rows: list[CorpusClaim] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for line_no, obj, problem in jsonl_lines(path, reads=_CLAIM_KEYS):
        if obj is None:
            problems.append(f"line {line_no}: {problem}")
            continue
        claim_id, claim, label = obj.get("id"), obj.get("claim"), obj.get("label")
        if not isinstance(claim_id, (str, int)) or not str(claim_id).strip():
            problems.append(f"line {line_no}: no `id`")
            continue
        claim_id = str(claim_id).strip()
        if claim_id in seen:
            problems.append(f"line {line_no}: id {claim_id!r} already used on line {seen[claim_id]}")
            continue
        seen[claim_id] = line_no
        if label not in VERDICT_LABELS:
            problems.append(f"line {line_no}: label {label!r} is not one of {', '.join(VERDICT_LABELS)}")
            continue
        # Whether the Checker accepts the claim (language, length) is decided when it is checked:
        # a refused claim is counted and named there, not a reason to refuse the file.
        if not isinstance(claim, str) or not claim.strip():
            problems.append(f"line {line_no}: no `claim` text")
            continue
        claim = " ".join(claim.split())
        date = obj.get("date")
        iso = normalise_date(date) if date not in (None, "") else None
        if date not in (None, "") and iso is None:
            problems.append(f"line {line_no}: date {date!r} is not a date")
            continue
        rows.append(CorpusClaim(claim_id, claim, label, iso,
                                gold_evidence=_text_list(obj, "gold_evidence", problems, line_no),
                                gold_documents=_text_list(obj, "gold_documents", problems, line_no),
                                exclude_documents=_text_list(obj, "exclude_documents", problems, line_no),
                                line=line_no))
    if problems:
        more = f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""
        raise InputError(path, "; ".join(problems[:20]) + more)
    if not rows:
        raise InputError(path, "no labelled claims")
    return rows


def evidence_matches(sentence: str, gold: str) -> bool:
    """``sentence`` (a passage shown) is, or contains, the gold evidence text (module doc)."""
    s, g = text_key(sentence), text_key(gold)
    if not s or not g:
        return False
    if s == g:
        return True

    def inside(short: str, long: str) -> bool:
        return len(short.split()) >= MIN_MATCH_WORDS and f" {short} " in f" {long} "

    return inside(s, g) or inside(g, s)


def first_gold_rank(passages: Sequence[str], gold: Sequence[str]) -> int | None:
    """1-based position of the first passage that matches a gold text, or None."""
    for rank, sentence in enumerate(passages, 1):
        if any(evidence_matches(sentence, g) for g in gold):
            return rank
    return None
