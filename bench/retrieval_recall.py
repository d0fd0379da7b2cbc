"""Evidence recall@5 of retrieval alone (no stance model, no verdict), per corpus, with and
without the cross-encoder re-ranker (``pipeline.stance.rerank``), on the claims of a split of the
manifest (tune: never the report split). Same corpora, stores, claim subsets and gold matching as
``claimsift evaluate corpus`` (``pipeline.evaluation.corpus``), so "before" equals its recall@5.

    nice -n 10 python bench/retrieval_recall.py covidfact liar healthver fever averitec seeds \
        --split tune --limit 200

For each claim the first stage's best ``--candidates`` passages are read once by the re-ranker;
recall@5 is then computed for every (candidates, weight) of the grid from those readings, so the
weight is chosen without re-running the model. Figures (no claim text) go to
bench/results/retrieval_recall_<split>.json.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.core.io import atomic_write_text
from pipeline.datasets.claims import evidence_matches, read_corpus_claims
from pipeline.datasets.corpora import DEFAULT_CORPORA_DIR, claim_splits
from pipeline.datasets.corpora import claims_with_gold as corpus_claims_with_gold
from pipeline.evaluation.corpus import RECALL_AT
from pipeline.retrieval.index import SENTENCE_CONTEXTS
from pipeline.stance.rerank import RERANK_MODEL, Reranker, mixed_scores  # noqa: E402

WEIGHTS = (0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0)
CANDIDATES = (10, 20, 30)


def contextual_index(index, view, encoder, directory: Path, context: str):
    """The store's index rebuilt in ``directory`` with each sentence read with ``context`` (as
    ``pipeline.retrieval.index.indexed_texts`` reads it) by both the bi-encoder and BM25."""
    from pipeline.retrieval.index import EvidenceIndex, index_titles, indexed_texts

    # Every sentence of the store, so that each has its previous sentence even where the store's
    # index is behind it; the ids searched are the index's.
    texts_by_id = dict(zip(view.sentences.index.tolist(),
                           indexed_texts(view.sentences, index_titles(view.documents), context)))
    ids = np.asarray(index.ids)
    texts = [texts_by_id[int(i)] for i in ids]
    return EvidenceIndex.build(directory, ids, texts, encoder.encode(texts), encoder.tag, context)


def claims_with_gold(corpora_dir: Path, name: str, split: str, limit: int | None) -> list:
    """The checkable claims of ``split`` (as ``evaluate corpus`` picks them) that have gold evidence."""
    claims = read_corpus_claims(corpora_dir / name / "claims.jsonl")
    return corpus_claims_with_gold(claims, claim_splits(name, claims), split, limit)


def excluded_documents(store: Path, claims) -> list[set[str]]:
    """Per claim, the store's document ids it may not draw evidence from (its masked pages)."""
    from pipeline.corpus.store import Corpus

    names = Corpus(store).documents()
    doc_of_name = defaultdict(set)
    for doc_id, doc_name in zip(names["doc_id"].astype(str), names["name"].astype(str)):
        doc_of_name[doc_name.split("#id=", 1)[-1]].add(doc_id)
    return [{d for n in c.exclude_documents for d in doc_of_name[n]} for c in claims]


def first_stage(name: str, corpora_dir: Path, split: str, limit: int | None, candidates: int,
                context: str | None = None):
    """Per claim with gold evidence: the first stage's top 5 as shipped (gold flags) and its
    best ``candidates`` (texts, scores, gold flags). ``context``: on an index of sentences read
    with that context (``contextual_index``) instead of the store's."""
    from pipeline.registry.embedding import Encoder
    from pipeline.retrieval.index import load_index
    from pipeline.retrieval.retrieve import CorpusView, RetrievalConfig, retrieve

    store = corpora_dir / name / "store"
    chosen = claims_with_gold(corpora_dir, name, split, limit)
    encoder = Encoder()
    encoder.warm_up()
    index = load_index(store, expected_encoder=encoder.tag)
    view = CorpusView.from_store(store)
    scratch = tempfile.TemporaryDirectory(prefix="context-index-") if context else None
    if scratch is not None:
        index = contextual_index(index, view, encoder, Path(scratch.name), context)
    texts = [c.claim for c in chosen]
    excluded = excluded_documents(store, chosen)
    vectors = encoder.encode(texts)
    started = time.perf_counter()
    shipped = retrieve(texts, vectors, index, view, RetrievalConfig(), top_k=RECALL_AT, exclude_docs=excluded)
    retrieval_ms = 1000 * (time.perf_counter() - started) / max(1, len(texts))
    pool = retrieve(texts, vectors, index, view, RetrievalConfig(), top_k=candidates, exclude_docs=excluded)

    def gold(claim, evidence):
        return [any(evidence_matches(e.sentence, g) for g in claim.gold_evidence) for e in evidence]

    rows = [{"shipped_gold": gold(c, s), "candidates": p, "gold": gold(c, p)}
            for c, s, p in zip(chosen, shipped, pool)]
    if scratch is not None:
        scratch.cleanup()
    return texts, rows, retrieval_ms


def recall(rows, order_of) -> float:
    hits = [any(row["gold"][i] for i in order_of(row)[:RECALL_AT]) for row in rows]
    return round(sum(hits) / len(hits), 4) if hits else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpora", nargs="+")
    parser.add_argument("--split", default="tune", choices=("train", "tune"))
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--model", default=RERANK_MODEL)
    parser.add_argument("--candidates", type=int, nargs="+", default=list(CANDIDATES),
                        help="first-stage candidate counts to re-rank (the grid)")
    parser.add_argument("--corpora-dir", type=Path, default=DEFAULT_CORPORA_DIR)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--context", nargs="+", choices=SENTENCE_CONTEXTS, default=None,
                        help="first stage only: recall@5 on indexes rebuilt (in a scratch folder) with each "
                             "sentence read with each of these contexts; the store's index is not touched")
    args = parser.parse_args()
    reranker = Reranker(args.model)
    out = args.out or ROOT / "bench" / "results" / f"retrieval_recall_{args.split}.json"
    report = {"split": args.split, "limit": args.limit,
              "model": None if args.context else reranker.tag, "weights": list(WEIGHTS),
              "candidates": args.candidates, "recall_at": RECALL_AT, "corpora": {},
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "command": "python bench/retrieval_recall.py " + " ".join(sys.argv[1:])}
    if args.context:
        report["contexts"] = args.context
        for name in args.corpora:
            for context in args.context:
                _, rows, _ = first_stage(name, args.corpora_dir, args.split, args.limit, RECALL_AT, context)
                recall_5 = round(sum(any(r["shipped_gold"]) for r in rows) / len(rows), 4) if rows else None
                report["corpora"].setdefault(name, {"n_with_gold_evidence": len(rows)})[context] = recall_5
                print(name, context, recall_5, flush=True)
            out = args.out or ROOT / "bench" / "results" / f"retrieval_context_{args.split}.json"
            atomic_write_text(out, json.dumps(report, indent=1) + "\n")
        return
    reranker.warm_up()
    for name in args.corpora:
        texts, rows, retrieval_ms = first_stage(name, args.corpora_dir, args.split, args.limit, max(args.candidates))
        started = time.perf_counter()
        relevances = reranker.relevance_lists(texts, [r["candidates"] for r in rows])
        pairs = sum(len(r["candidates"]) for r in rows)
        rerank_s = time.perf_counter() - started
        for row, rel in zip(rows, relevances):
            row["relevance"] = rel
            row["scores"] = [e.score for e in row["candidates"]]
        entry = {
            "n_with_gold_evidence": len(rows),
            "before": round(sum(any(r["shipped_gold"]) for r in rows) / len(rows), 4) if rows else None,
            **{f"recall@{k}_first_stage": round(sum(any(r["gold"][:k]) for r in rows) / len(rows), 4)
               for k in args.candidates},
            "retrieval_ms_per_claim": round(retrieval_ms, 1),
            "rerank_pairs_per_s": round(pairs / rerank_s, 1) if rerank_s > 0 else None,
            "grid": {},
        }
        for k in args.candidates:
            for w in WEIGHTS:
                def order(row, k=k, w=w):
                    scores = mixed_scores(row["scores"][:k], row["relevance"][:k], w)
                    return sorted(range(len(scores)), key=lambda i: (-scores[i], i))
                entry["grid"][f"{k}/{w}"] = recall(rows, order)
        report["corpora"][name] = entry
        print(name, json.dumps({k: v for k, v in entry.items() if k != "grid"}), flush=True)
        print("  ", " ".join(f"{key}:{value}" for key, value in entry["grid"].items()), flush=True)
        atomic_write_text(out, json.dumps(report, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
