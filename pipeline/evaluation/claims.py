"""Evaluate claim checking on a labelled set: verdict accuracy, macro-F1 and evidence hit@k.

File format (JSONL): ``claim``, ``label`` (one of the four verdicts) and optional ``evidence``:
a list of ``[document file name, sentence substring]``. Evidence counts as hit when one of the
top-k passages comes from that document and contains that substring.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import Path

from pipeline.core.errors import InputError
from pipeline.core.io import jsonl_lines
from pipeline.core.types import VERDICT_LABELS, Verdict
from pipeline.corpus.store import Corpus
from pipeline.verdict.validation import InvalidClaimError, validate_claim

# Imported where used, not here (slow to load; most callers of this module never need them): scikit-learn.

PRIMARY_METRIC = "verdict_accuracy"


@dataclass(frozen=True)
class LabelledClaim:
    claim: str
    label: str
    evidence: tuple[tuple[str, str], ...]
    line: int


def read_labelled_claims(path: Path) -> list[LabelledClaim]:
    path = Path(path)
    rows, problems = [], []
    for line_no, obj, problem in jsonl_lines(path, reads=("claim", "label", "evidence")):
        if obj is None:
            problems.append(f"line {line_no}: {problem}")
            continue
        claim, label = obj.get("claim"), obj.get("label")
        if not isinstance(claim, str) or not claim.strip():
            problems.append(f"line {line_no}: no `claim` text")
            continue
        if label not in VERDICT_LABELS:
            problems.append(f"line {line_no}: label {label!r} is not one of {', '.join(VERDICT_LABELS)}")
            continue
        try:
            validate_claim(claim)
        except InvalidClaimError as exc:
            problems.append(f"line {line_no}: {exc}")
            continue
        evidence = tuple((str(name), unicodedata.normalize("NFKC", str(sub))) for name, sub in obj.get("evidence") or [])
        rows.append(LabelledClaim(claim, label, evidence, line_no))
    if problems:
        raise InputError(path, "; ".join(problems[:20]) + (f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""))
    if not rows:
        raise InputError(path, "no labelled claims")
    return rows


def evidence_hit(verdict: Verdict, gold: tuple[tuple[str, str], ...], names: dict[str, str], k: int) -> bool:
    for item in verdict.evidence[:k]:
        name = Path(names.get(item.doc_id, item.document)).name
        for gold_name, substring in gold:
            if name == Path(gold_name).name and (substring in item.sentence or substring in item.context):
                return True
    return False


def evaluate_claims(checker, rows: list[LabelledClaim], k: int = 5) -> dict:
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score


    names = dict(zip(*[Corpus(checker.store_dir).documents()[c] for c in ("doc_id", "name")]))
    verdicts = checker.check_many([r.claim for r in rows], top_k=max(k, checker.top_k))
    gold = [r.label for r in rows]
    pred = [v.verdict for v in verdicts]
    with_evidence = [(r, v) for r, v in zip(rows, verdicts) if r.evidence]
    hits = [evidence_hit(v, r.evidence, names, k) for r, v in with_evidence]
    hits1 = [evidence_hit(v, r.evidence, names, 1) for r, v in with_evidence]
    per_claim = [
        {"claim": r.claim, "label": r.label, "predicted": v.verdict, "confidence": round(v.confidence, 3),
         **({"evidence_hit": h} if r.evidence else {})}
        for r, v, h in zip(rows, verdicts, _spread(hits, rows))
    ]
    return {
        "primary_metric": PRIMARY_METRIC,
        "n": len(rows),
        "verdict_accuracy": round(accuracy_score(gold, pred), 4),
        "verdict_macro_f1": round(f1_score(gold, pred, labels=list(VERDICT_LABELS), average="macro", zero_division=0), 4),
        f"evidence_hit@{k}": round(sum(hits) / len(hits), 4) if hits else None,
        "evidence_hit@1": round(sum(hits1) / len(hits1), 4) if hits1 else None,
        "n_with_evidence": len(hits),
        "labels": list(VERDICT_LABELS),
        "confusion_matrix": confusion_matrix(gold, pred, labels=list(VERDICT_LABELS)).tolist(),
        "claims": per_claim,
    }


def _spread(hits: list[bool], rows: list[LabelledClaim]) -> list[bool | None]:
    it = iter(hits)
    return [next(it) if r.evidence else None for r in rows]
