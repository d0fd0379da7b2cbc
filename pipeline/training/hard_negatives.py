"""Hard NOT_ENOUGH_INFO pairs mined with the project's own retriever: "related but not evidence".

The stance model's training NEI pairs were BM25 neighbours inside one dataset's evidence pool;
at check time it reads what *our* retriever ranks near the top of a whole corpus: passages on the
claim's topic, often from the right kind of document, that say nothing about the claim. This
module checks each train-split claim of the public corpora (``corpus_eval``) against its corpus
and keeps passages ranked 2 to 30 that are

- not a gold evidence text of the claim (``corpus_eval.evidence_matches``) nor a near-copy of one
  (word Jaccard >= ``NEAR_COPY``);
- not from one of the claim's gold documents, nor from a document where a gold text was found
  among the candidates (its page);
- not from a gold document of any tune/report claim (so no held-out claim's evidence enters
  training, even as NEI for another claim);
- not read as support or refutation with high confidence by a screening stance model: gold
  annotations are incomplete, so a confident reading is more likely a missed annotation than a
  hard negative.

A few per claim (``per_claim``), drawn at random among the eligible. The result is a JSONL of
``claim, evidence, label, source`` rows (``stance_data.load_labelled_file`` reads it) that
``claimsift train stance --mined-negatives FILE`` adds to the training pairs.
"""
from __future__ import annotations

import json
import random
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from pipeline.core.io import atomic_write_text, write_jsonl
from pipeline.core.splits import text_key
from pipeline.datasets.claims import CorpusClaim, evidence_matches
from pipeline.datasets.corpora import DEFAULT_CORPORA_DIR, DEFAULT_DATA_DIR, corpus_with_store
from pipeline.datasets.stores import table_ids
from pipeline.retrieval.query_adapter import NO_ADAPTER
from pipeline.stance.model import StanceModel
from pipeline.verdict.checker import Checker
from pipeline.verdict.validation import InvalidClaimError, validate_claim

MINED_CORPORA = ("averitec", "fever", "covidfact", "healthver")
NEAR_COPY = 0.6
FIRST_RANK, LAST_RANK = 2, 30
MAX_SCREEN_CONFIDENCE = 0.7


@dataclass(frozen=True)
class MinedPair:
    corpus: str
    claim_id: str
    claim: str
    evidence: str
    rank: int
    screen_probs: tuple[float, float, float]

    def to_row(self) -> dict:
        return {"claim": self.claim, "evidence": self.evidence, "label": "NOT_ENOUGH_INFO",
                "source": f"mined-{self.corpus}", "claim_id": self.claim_id, "rank": self.rank,
                "screen_probs": [round(p, 4) for p in self.screen_probs]}


def _words(text: str) -> set[str]:
    return set(text_key(text).split())


def near_copy(a: str, b: str, threshold: float = NEAR_COPY) -> bool:
    wa, wb = _words(a), _words(b)
    return bool(wa and wb) and len(wa & wb) / len(wa | wb) >= threshold


def checkable_train_claims(claims: Sequence[CorpusClaim], splits: Sequence[str],
                           keep: Callable[[CorpusClaim], bool]) -> list[CorpusClaim]:
    """The claims of the train split that ``keep`` accepts and the Checker would check
    (``validate_claim``), in their order."""
    chosen = []
    for claim, split in zip(claims, splits):
        if split != "train" or not keep(claim):
            continue
        try:
            validate_claim(claim.claim)
        except InvalidClaimError:
            continue
        chosen.append(claim)
    return chosen


def mine_corpus(corpus: str, *, screen, per_claim: int = 2, candidates_per_claim: int = 4, limit: int | None = None,
                seed: int = 13, data_dir: Path | str = DEFAULT_DATA_DIR, corpora_dir: Path | str = DEFAULT_CORPORA_DIR,
                log: Callable[[str], None] = print) -> tuple[list[MinedPair], dict]:
    """Mined NEI pairs of one public corpus's train-split claims, and counts of what was dropped
    why. ``screen``: a ``StanceModel`` (its ``predict_proba``) that vetoes confident readings."""

    built = corpus_with_store(corpus, data_dir, corpora_dir)
    store_dir, claims, splits = built.store_dir, built.claims, built.splits
    name_of = table_ids(store_dir)
    held_out_docs = {d for c, s in zip(claims, splits) if s != "train" for d in c.gold_documents}
    chosen = checkable_train_claims(claims, splits, lambda claim: bool(claim.gold_evidence))
    rng = random.Random(seed)
    if limit is not None and limit < len(chosen):
        chosen = sorted(rng.sample(chosen, limit), key=lambda c: c.id)
    checker = Checker(store_dir, query_adapter=NO_ADAPTER)  # mined as encoded, whatever the verdict model uses
    dropped: Counter = Counter()
    proposals: list[tuple[CorpusClaim, str, int]] = []
    started = time.perf_counter()
    for offset in range(0, len(chosen), 64):
        batch = chosen[offset:offset + 64]
        for claim, evidence in zip(batch, checker.retrieve([c.claim for c in batch], top_k=LAST_RANK)):
            gold_pages = {e.doc_id for e in evidence if any(evidence_matches(e.sentence, g) for g in claim.gold_evidence)}
            eligible = []
            for rank, item in enumerate(evidence, 1):
                document = name_of.get(item.doc_id, "")
                if rank < FIRST_RANK:
                    continue
                if item.doc_id in gold_pages or document in claim.gold_documents:
                    dropped["gold page"] += 1
                elif document in held_out_docs:
                    dropped["document of a held-out claim"] += 1
                elif any(near_copy(item.sentence, g) or evidence_matches(item.sentence, g) for g in claim.gold_evidence):
                    dropped["gold or near-copy"] += 1
                elif len(item.sentence.split()) < 5:
                    dropped["under 5 words"] += 1
                else:
                    eligible.append((rank, item.sentence))
            for rank, sentence in rng.sample(eligible, min(candidates_per_claim, len(eligible))):
                proposals.append((claim, sentence, rank))
        log(f"{corpus}: retrieved for {min(offset + 64, len(chosen))}/{len(chosen)} claims "
            f"({time.perf_counter() - started:.0f} s)")
    probs = screen.predict_proba([c.claim for c, _, _ in proposals], [s for _, s, _ in proposals]) if proposals else []
    taken: Counter = Counter()
    mined = []
    for (claim, sentence, rank), row in zip(proposals, probs):
        if max(float(row[0]), float(row[1])) >= MAX_SCREEN_CONFIDENCE:
            dropped["screen reads support/refutation"] += 1
            continue
        if taken[claim.id] >= per_claim:
            continue
        taken[claim.id] += 1
        screen_probs = (float(row[0]), float(row[1]), float(row[2]))
        mined.append(MinedPair(corpus, claim.id, claim.claim, sentence, rank, screen_probs))
    stats = {"corpus": corpus, "train_claims": len(chosen), "proposed": len(proposals), "mined": len(mined),
             "claims_with_pairs": len(taken), "dropped": dict(dropped),
             "seconds": round(time.perf_counter() - started, 1)}
    log(json.dumps(stats))
    return mined, stats


def unique_pairs(rows: Sequence[dict]) -> list[dict]:
    """The first row of each (claim, evidence) wording: a claim text can recur (FEVER's masked
    re-checks, the same claim in two corpora), and a training file may not hold a pair twice."""
    seen: set[tuple[str, str]] = set()
    out = []
    for row in rows:
        key = (" ".join(row["claim"].split()), " ".join(row["evidence"].split()))
        if key not in seen:
            seen.add(key)
            out.append(row)
    return out


def mine(out: Path | str, corpora: Sequence[str] = MINED_CORPORA, *, screen_spec: str = "stance@v2",
         per_claim: int = 2, limit: int | None = None, seed: int = 13, data_dir: Path | str = DEFAULT_DATA_DIR,
         corpora_dir: Path | str = DEFAULT_CORPORA_DIR, log: Callable[[str], None] = print) -> dict:
    """Mine every corpus in ``corpora`` and write one JSONL (atomically) plus ``OUT.stats.json``."""

    screen = StanceModel(screen_spec, backend="bf16")
    rows, stats = [], []
    for corpus in corpora:
        mined, corpus_stats = mine_corpus(corpus, screen=screen, per_claim=per_claim, limit=limit, seed=seed,
                                          data_dir=data_dir, corpora_dir=corpora_dir, log=log)
        rows += [m.to_row() for m in mined]
        stats.append(corpus_stats)
    rows = unique_pairs(rows)
    out = Path(out)
    write_jsonl(out, rows)
    summary = {"out": str(out), "rows": len(rows), "screen": screen_spec, "per_claim": per_claim, "seed": seed,
               "ranks": [FIRST_RANK, LAST_RANK], "max_screen_confidence": MAX_SCREEN_CONFIDENCE,
               "near_copy_jaccard": NEAR_COPY, "corpora": stats}
    atomic_write_text(out.with_suffix(".stats.json"), json.dumps(summary, indent=1) + "\n")
    return summary
