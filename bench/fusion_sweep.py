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
from dataclasses import asdict, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.retrieval_recall import claims_with_gold, excluded_documents  # noqa: E402
from pipeline.core.io import atomic_write_text  # noqa: E402
from pipeline.datasets.claims import evidence_matches  # noqa: E402
from pipeline.datasets.corpora import DEFAULT_CORPORA_DIR  # noqa: E402
from pipeline.evaluation.corpus import RECALL_AT  # noqa: E402


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
        chosen = claims_with_gold(args.corpora_dir, name, "tune", args.limit)
        index = load_index(store, expected_encoder=encoder.tag)
        view = CorpusView.from_store(store)
        texts = [c.claim for c in chosen]
        excluded = excluded_documents(store, chosen)
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
