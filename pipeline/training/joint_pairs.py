"""Stance pairs for the joint reading: a claim against the passages the Checker shows it, read together.

The verdict model reads, besides each passage, the stance model's reading of the claim against its
passages shown joined into one text (``joint_reading_text``): evidence that decides only together
(a question, then its answer; two halves of a fact). A stance model trained on single passages has
never read such a text. This module checks each train-split claim of the public corpora against its
corpus, as the Checker retrieves, and writes one pair per claim:

- the passage text is ``joint_reading_text`` of the passages shown (best first);
- the label is the claim's verdict as a stance (SUPPORTED → SUPPORTS, REFUTED → REFUTES,
  NOT_ENOUGH_INFO as it is; CONFLICTING claims give no pair: a stance has no such class);
- a claim with gold evidence none of which is among the passages read (no gold text matched, no
  passage from a gold document) is labelled NOT_ENOUGH_INFO: what was shown does not decide it;
- a claim whose passages shown include one from a gold document of a tune or report claim, or a
  sentence that is a held-out claim's gold evidence word for word (FEVER repeats a page's sentences
  in the documents of other pages), gives no pair, so that no held-out claim's evidence enters
  training (as ``hard_negatives`` does).

``claimsift train stance --joint-pairs FILE`` adds the rows to the training pairs.
"""
from __future__ import annotations

import json
import random
import time
from collections import Counter
from pathlib import Path
from typing import Callable, Sequence

from pipeline.core.io import atomic_write_text, write_jsonl
from pipeline.core.splits import MANIFEST_PATH, SplitManifest, text_hash
from pipeline.datasets.claims import first_gold_rank
from pipeline.datasets.corpora import DEFAULT_CORPORA_DIR, DEFAULT_DATA_DIR, corpus_with_store
from pipeline.datasets.stores import documents_by_table_id, table_ids
from pipeline.retrieval.query_adapter import NO_ADAPTER
from pipeline.training.hard_negatives import MINED_CORPORA, checkable_train_claims, unique_pairs
from pipeline.verdict.aggregator import JOINT_PASSAGES, joint_reading_text
from pipeline.verdict.checker import Checker

STANCE_OF_VERDICT = {"SUPPORTED": "SUPPORTS", "REFUTED": "REFUTES", "NOT_ENOUGH_INFO": "NOT_ENOUGH_INFO"}
SOURCE = "joint"


def joint_pairs_of_corpus(corpus: str, *, per_corpus: int | None, rng: random.Random,
                          data_dir: Path | str = DEFAULT_DATA_DIR, corpora_dir: Path | str = DEFAULT_CORPORA_DIR
                          ) -> tuple[list[dict], dict]:
    """The joint-reading pairs of ``per_corpus`` train-split claims of ``corpus`` (drawn with
    ``rng``; each row also names the ``documents`` its passages come from), and counts of what
    happened to the claims."""
    built = corpus_with_store(corpus, data_dir, corpora_dir)
    documents_of = documents_by_table_id(built.store_dir)
    name_of = table_ids(built.store_dir)
    held_out_docs = {d for c, s in zip(built.claims, built.splits) if s != "train"
                     for name in c.gold_documents for d in documents_of.get(name, ())}
    _, held_out_evidence = SplitManifest.load(MANIFEST_PATH).held_out(("tune", "report"))
    chosen = checkable_train_claims(built.claims, built.splits, lambda claim: claim.label in STANCE_OF_VERDICT)
    rng.shuffle(chosen)
    chosen = chosen[:per_corpus] if per_corpus is not None else chosen
    # Retrieved as encoded, whatever the verdict model uses (as hard_negatives mines).
    checker = Checker(built.store_dir, query_adapter=NO_ADAPTER)
    counts: Counter = Counter()
    rows = []
    started = time.perf_counter()
    for offset in range(0, len(chosen), 64):
        batch = chosen[offset:offset + 64]
        excluded = [{d for name in c.exclude_documents for d in documents_of.get(name, ())} for c in batch]
        for claim, shown in zip(batch, checker.retrieve([c.claim for c in batch], top_k=checker.top_k,
                                                        exclude_docs=excluded)):
            read = shown[:JOINT_PASSAGES]
            if not read:
                counts["nothing shown"] += 1
                continue
            if any(e.doc_id in held_out_docs or text_hash(e.sentence) in held_out_evidence for e in read):
                counts["a passage from a held-out claim's evidence"] += 1
                continue
            label = STANCE_OF_VERDICT[claim.label]
            if claim.gold_evidence and label != "NOT_ENOUGH_INFO":
                gold_docs = {d for name in claim.gold_documents for d in documents_of.get(name, ())}
                if first_gold_rank([e.sentence for e in read], claim.gold_evidence) is None \
                        and not any(e.doc_id in gold_docs for e in read):
                    label = "NOT_ENOUGH_INFO"
                    counts["evidence not shown: NOT_ENOUGH_INFO"] += 1
            counts[label] += 1
            rows.append({"claim": claim.claim, "evidence": joint_reading_text(read), "label": label,
                         "source": SOURCE, "corpus": corpus, "claim_id": claim.id,
                         "documents": [name_of.get(e.doc_id, "") for e in read]})
    stats = {"corpus": corpus, "claims": len(chosen), "pairs": len(rows), **dict(counts),
             "seconds": round(time.perf_counter() - started, 1)}
    return rows, stats


def make_joint_pairs(out: Path | str, corpora: Sequence[str] = MINED_CORPORA, *, per_corpus: int | None = None,
                     seed: int = 13, data_dir: Path | str = DEFAULT_DATA_DIR,
                     corpora_dir: Path | str = DEFAULT_CORPORA_DIR, log: Callable[[str], None] = print) -> dict:
    """Write the joint-reading pairs of every corpus in ``corpora`` to one JSONL (atomically) plus ``OUT.stats.json``."""
    rng = random.Random(seed)
    rows, stats = [], []
    for corpus in corpora:
        corpus_rows, corpus_stats = joint_pairs_of_corpus(corpus, per_corpus=per_corpus, rng=rng,
                                                          data_dir=data_dir, corpora_dir=corpora_dir)
        log(f"{corpus}: {corpus_stats}")
        # The documents read are for checking the held-out rule (``documents``), not training data.
        rows += [{k: v for k, v in row.items() if k != "documents"} for row in corpus_rows]
        stats.append(corpus_stats)
    rows = unique_pairs(rows)
    out = Path(out)
    write_jsonl(out, rows)
    summary = {"out": str(out), "rows": len(rows), "per_corpus": per_corpus, "seed": seed,
               "passages": JOINT_PASSAGES, "labels": dict(Counter(r["label"] for r in rows)), "corpora": stats}
    atomic_write_text(out.with_suffix(".stats.json"), json.dumps(summary, indent=1) + "\n")
    return summary
