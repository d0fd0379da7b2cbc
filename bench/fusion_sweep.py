"""First-stage recall@5 for several fusions of the dense and BM25 scores, per corpus, on the tune
split (never the report split): how the default ``RetrievalConfig`` weights were chosen across
corpora rather than on the seed claims.

    nice -n 10 python bench/fusion_sweep.py averitec fever covidfact liar healthver seeds --limit 200

Same stores, claim subsets, masking and gold matching as ``claimsift evaluate corpus``. Figures
(no claim text) go to bench/results/fusion_sweep_tune.json.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from dataclasses import asdict, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.core.io import atomic_write_text  # noqa: E402
from pipeline.datasets.claims import evidence_matches, read_corpus_claims  # noqa: E402
from pipeline.datasets.corpora import DEFAULT_CORPORA_DIR, claim_splits, select_claims  # noqa: E402
from pipeline.evaluation.corpus import RECALL_AT  # noqa: E402
from pipeline.verdict.validation import InvalidClaimError, validate_claim  # noqa: E402


def variants():
    from pipeline.retrieval.retrieve import RetrievalConfig

    base = RetrievalConfig()
    out = {"shipped": base}
    for dense in (0.3, 0.4, 0.6, 0.7, 0.8):
        out[f"linear dense={dense}"] = replace(base, dense_weight=dense, lexical_weight=round(1 - dense, 2))
    out["rrf"] = replace(base, fusion="rrf")
    out["shipped pool=100"] = replace(base, pool=100)
    return out


def main() -> None:
    from pipeline.corpus.store import Corpus
    from pipeline.registry.embedding import Encoder
    from pipeline.retrieval.index import load_index
    from pipeline.retrieval.retrieve import CorpusView, retrieve

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpora", nargs="+")
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--corpora-dir", type=Path, default=DEFAULT_CORPORA_DIR)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "fusion_sweep_tune.json")
    args = parser.parse_args()
    results = json.loads(args.out.read_text()) if args.out.is_file() else {}
    encoder = Encoder()
    configs = variants()
    results["configs"] = {name: asdict(config) for name, config in configs.items()}
    for name in args.corpora:
        store = args.corpora_dir / name / "store"
        claims = read_corpus_claims(args.corpora_dir / name / "claims.jsonl")
        chosen = []
        for claim, _ in select_claims(claims, claim_splits(name, claims), "tune", args.limit):
            try:
                validate_claim(claim.claim)
            except InvalidClaimError:
                continue
            if claim.gold_evidence:
                chosen.append(claim)
        index = load_index(store, expected_encoder=encoder.tag)
        view = CorpusView.from_store(store)
        names = Corpus(store).documents()
        doc_of_name = defaultdict(set)
        for doc_id, doc_name in zip(names["doc_id"].astype(str), names["name"].astype(str)):
            doc_of_name[doc_name.split("#id=", 1)[-1]].add(doc_id)
        texts = [c.claim for c in chosen]
        excluded = [{d for n in c.exclude_documents for d in doc_of_name[n]} for c in chosen]
        vectors = encoder.encode(texts)
        row = {"n": len(chosen)}
        for label, config in configs.items():
            found = retrieve(texts, vectors, index, view, config, top_k=RECALL_AT, exclude_docs=excluded)
            hits = [any(evidence_matches(e.sentence, g) for e in evidence for g in c.gold_evidence)
                    for c, evidence in zip(chosen, found)]
            row[label] = round(sum(hits) / len(hits), 4) if hits else None
        results[name] = row
        atomic_write_text(args.out, json.dumps(results, indent=1) + "\n")
        print(json.dumps({"corpus": name, **row}), flush=True)


if __name__ == "__main__":
    main()
