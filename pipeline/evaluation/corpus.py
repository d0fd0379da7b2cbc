"""End-to-end evaluation on corpora: build a store from a document table, check every labelled
claim against the whole store with the normal ``Checker``, and measure verdicts and retrieval.

Inputs:
- documents: anything ``claimsift ingest`` reads (a ``.jsonl/.csv/.parquet`` table with ``text``
  and optional ``id, title, url, source, published``; files or folders);
- claims (JSONL): ``id``, ``claim``, ``label`` (one of the four verdicts), optional ``date``,
  ``gold_evidence`` (texts), ``gold_documents`` (document ids of the table) and
  ``exclude_documents`` (document ids this claim may not draw evidence from: a masked re-check).

Evidence recall@k: a claim counts as found when one of the first k passages shown matches one
of its gold evidence texts. Texts are compared as lower-case words (``splits.text_key``:
punctuation and tokenisation do not matter); a passage sentence matches when it is a whole-word
part of a gold text, or a gold text is a whole-word part of it, the contained side having at
least ``MIN_MATCH_WORDS`` words (shorter ones must be equal), so "No." matches nothing.

``build_dataset(NAME, data_dir)`` writes the documents and claims of a public corpus from
``../shared/datasets`` to ``out/corpora/NAME/`` in the project folder (reused while its sources
and this builder are unchanged); ``evaluate_corpus`` returns the figures and a per-claim DataFrame
(``frame``), the input an aggregator or a re-ranker is fitted on.
"""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from pipeline.core.errors import InputError, UserError
from pipeline.core.types import VERDICT_LABELS, Verdict
from pipeline.datasets.claims import MIN_MATCH_WORDS, CorpusClaim, first_gold_rank, read_corpus_claims
from pipeline.datasets.corpora import DEFAULT_CORPORA_DIR, DEFAULT_DATA_DIR, build_dataset, claim_splits, select_claims
from pipeline.datasets.stores import documents_by_table_id, ensure_store, existing_store, table_ids
from pipeline.verdict.checker import Checker
from pipeline.verdict.validation import InvalidClaimError, validate_claim

# Imported where used, not here (slow to load; most callers of this module never need them): pandas, scikit-
# learn.

RECALL_AT = 5
CHECK_BATCH = 32


@dataclass(frozen=True)
class ClaimResult:
    corpus: str
    claim: CorpusClaim
    split: str
    verdict: Verdict
    gold_rank: int | None  # first passage (1-based) matching gold evidence, within all shown

    @property
    def evidence_hit(self) -> bool | None:
        if not self.claim.gold_evidence:
            return None
        return self.gold_rank is not None and self.gold_rank <= RECALL_AT

    def to_row(self, names: dict[str, str]) -> dict:
        v, c = self.verdict, self.claim
        return {
            "corpus": self.corpus, "claim_id": c.id, "claim": c.claim, "split": self.split, "date": c.date,
            "gold": c.label, "predicted": v.verdict, "correct": v.verdict == c.label,
            "confidence": float(v.confidence), "needs_review": bool(v.needs_review),
            "evidence_doc_ids": [e.doc_id for e in v.evidence],
            "evidence_documents": [names.get(e.doc_id, "") for e in v.evidence],
            "evidence_texts": [e.sentence for e in v.evidence],
            "evidence_scores": [float(e.score) for e in v.evidence],
            "evidence_stances": [e.stance for e in v.evidence],
            "evidence_probs": [dict(e.stance_probs) for e in v.evidence],
            "decisive": list(v.decisive),
            "n_gold_evidence": len(c.gold_evidence), "gold_rank": self.gold_rank, "evidence_hit": self.evidence_hit,
            "excluded_documents": list(c.exclude_documents),
        }


@dataclass(frozen=True)
class CorpusEvaluation:
    summary: dict
    results: tuple[ClaimResult, ...]
    document_names: dict[str, str]  # store doc id -> the document's id in the table

    @property
    def frame(self):
        """One row per claim: ids, gold and predicted verdicts, confidence, and per passage
        shown the document, text, retrieval score and stance probabilities."""
        import pandas as pd

        return pd.DataFrame([r.to_row(self.document_names) for r in self.results])


def verdict_metrics(gold: Sequence[str], predicted: Sequence[str]) -> dict:
    """Accuracy, macro-F1 over the gold classes present, per-class F1 and the confusion matrix
    (rows gold, columns predicted, in ``VERDICT_LABELS`` order)."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

    present = [label for label in VERDICT_LABELS if label in set(gold)]
    per_class = f1_score(gold, predicted, labels=present, average=None, zero_division=0)
    return {
        "accuracy": round(float(accuracy_score(gold, predicted)), 4),
        "macro_f1": round(float(f1_score(gold, predicted, labels=present, average="macro", zero_division=0)), 4),
        "f1": {label: round(float(f), 4) for label, f in zip(present, per_class)},
        "labels": list(VERDICT_LABELS),
        "confusion": confusion_matrix(gold, predicted, labels=list(VERDICT_LABELS)).tolist(),
    }


def majority_baseline(train_labels: Sequence[str], gold: Sequence[str]) -> dict:
    """Always the most frequent label of ``train_labels`` (the corpus's train split)."""
    label = Counter(train_labels).most_common(1)[0][0]
    figures = verdict_metrics(gold, [label] * len(gold))
    return {"label": label, "accuracy": figures["accuracy"], "macro_f1": figures["macro_f1"]}


def _accuracy_of(results: Sequence[ClaimResult]) -> dict | None:
    if not results:
        return None
    return {"n": len(results),
            "accuracy": round(sum(r.verdict.verdict == r.claim.label for r in results) / len(results), 4),
            "predicted": dict(Counter(r.verdict.verdict for r in results))}


def evaluate_corpus(documents: Sequence[Path | str] | None, claims_path: Path | str, store_dir: Path | str, *,
                    corpus: str | None = None, split: str = "all", limit: int | None = None, checker=None,
                    manifest_path: Path | None = None,
                    progress: Callable[[int, int], None] | None = None) -> CorpusEvaluation:
    """Build (or reuse) the store, check the chosen claims against all of it, and measure.
    ``documents``: None to check against ``store_dir`` as it is (already built and indexed).
    ``corpus``: the public corpus's name (its split comes from the manifest), or None.
    ``checker``: a ``Checker`` on ``store_dir`` (default: ``Checker(store_dir)``, as shipped)."""

    claims = read_corpus_claims(claims_path)
    splits = claim_splits(corpus, claims, manifest_path)
    chosen, refused = [], []
    for claim, claim_split in select_claims(claims, splits, split, limit):
        try:
            validate_claim(claim.claim)
            chosen.append((claim, claim_split))
        except InvalidClaimError as exc:
            refused.append({"id": claim.id, "line": claim.line, "reason": str(exc)})
    if not chosen:
        raise UserError(f"{claims_path}: no claims to check in split {split!r} ({len(refused)} refused)")
    built = ensure_store(documents, store_dir) if documents else existing_store(store_dir)
    checker = checker or Checker(store_dir)
    started = time.perf_counter()
    checker.warm_up()
    warm_up_s = time.perf_counter() - started
    # Documents are named by their id in the table they came from.
    names = table_ids(store_dir)
    doc_of_name = documents_by_table_id(store_dir)
    results: list[ClaimResult] = []
    started = time.perf_counter()
    for offset in range(0, len(chosen), CHECK_BATCH):
        batch = chosen[offset:offset + CHECK_BATCH]
        excluded = []
        for claim, _ in batch:
            unknown = [d for d in claim.exclude_documents if d not in doc_of_name]
            if unknown:
                raise InputError(claims_path, f"exclude_documents names {unknown[0]!r}, not a document of the store",
                                 row=claim.line)
            excluded.append({doc_id for d in claim.exclude_documents for doc_id in doc_of_name[d]})
        verdicts = checker.check_many([c.claim for c, _ in batch], top_k=max(RECALL_AT, checker.top_k),
                                      exclude_docs=excluded)
        for (claim, claim_split), verdict in zip(batch, verdicts):
            rank = first_gold_rank([e.sentence for e in verdict.evidence], claim.gold_evidence)
            results.append(ClaimResult(corpus or Path(claims_path).stem, claim, claim_split, verdict, rank))
        if progress:
            progress(len(results), len(chosen))
    check_s = time.perf_counter() - started
    gold = [r.claim.label for r in results]
    predicted = [r.verdict.verdict for r in results]
    hits = [r.evidence_hit for r in results if r.evidence_hit is not None]
    train_labels = [c.label for c, s in zip(claims, splits) if s == "train"] or gold
    summary = {
        "corpus": corpus or str(claims_path), "split": split, "n": len(results),
        # Claims the Checker will not check (another language, too long): named, not scored.
        "n_refused": len(refused), "refused": refused,
        "labels_present": dict(Counter(gold)),
        **verdict_metrics(gold, predicted),
        f"evidence_recall@{RECALL_AT}": round(sum(hits) / len(hits), 4) if hits else None,
        "n_with_gold_evidence": len(hits),
        # Re-checks with the claim's own documents masked (FEVER): how often they come out as
        # their gold label (NOT_ENOUGH_INFO) rather than as the verdict the evidence had given.
        "masked": _accuracy_of([r for r in results if r.claim.exclude_documents]),
        # The train split's most frequent label (what a system could know), and this split's own.
        "majority_baseline": majority_baseline(train_labels, gold),
        "majority_baseline_in_split": majority_baseline(gold, gold),
        "claims_per_s": round(len(results) / check_s, 3) if check_s > 0 else None,
        "check_seconds": round(check_s, 1), "warm_up_seconds": round(warm_up_s, 1),
        "store": {"dir": str(built.store_dir), "reused": built.reused, "seconds": built.seconds,
                  "documents": built.documents, "sentences": built.sentences},
        "checker": {"stance": checker.stance_models, "passage_reading": checker.passage_reading,
                    "query_adapter": getattr(checker, "retrieval_adapter", "none"),
                    "rules": checker.rules.label(),
                    "verdict": getattr(checker, "verdict_model", checker.verdict_spec), "top_k": checker.top_k,
                    "rule_packs": list(getattr(checker, "rule_packs", ())),
                    "reranker": checker.reranker.tag if getattr(checker, "reranker", None) else None},
        "limit": limit,
        "evidence_match": (f"a passage sentence and a gold text compared as lower-case words; one a whole-word "
                           f"part of the other, the contained side >= {MIN_MATCH_WORDS} words (or equal)"),
    }
    return CorpusEvaluation(summary, tuple(results), names)


def corpus_results_frame(name: str, *, split: str = "train", limit: int | None = None,
                         data_dir: Path | str = DEFAULT_DATA_DIR, corpora_dir: Path | str = DEFAULT_CORPORA_DIR,
                         store_dir: Path | str | None = None, checker=None):
    """Per-claim results (a DataFrame, ``CorpusEvaluation.frame``) of the public corpus ``name``
    on ``split``: the rows an aggregator or re-ranker is fitted on (train) or tuned on (tune).

    The corpus (documents, claims and its store) is built once, or reused, in ``corpora_dir/name/``:
    by default ``out/corpora`` in the project folder (``DEFAULT_CORPORA_DIR``), where
    ``claimsift evaluate corpus --dataset NAME`` builds it too, whatever the working directory (a
    notebook in ``notebooks/`` included); give ``corpora_dir`` for another folder. ``store_dir``
    names another store than ``corpora_dir/name/store``."""
    built = build_dataset(name, data_dir, corpora_dir)
    evaluation = evaluate_corpus(built.documents, built.claims, store_dir or built.folder / "store", corpus=name,
                                 split=split, limit=limit, checker=checker)
    return evaluation.frame
