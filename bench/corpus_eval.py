"""End-to-end figures of the default Checker on every public corpus: one JSON per corpus and
split in bench/results/corpus_eval_<corpus>_<split>.json (figures only, no claim text).

    nice -n 10 python bench/corpus_eval.py --split tune --limit 300
    nice -n 10 python bench/corpus_eval.py --split report --limit 300 averitec fever

Equivalent to ``claimsift evaluate corpus --dataset NAME --split SPLIT --limit N --out FILE`` per
corpus; the corpora and their stores are built once under out/corpora/ and reused.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.core.io import atomic_write_text
from pipeline.datasets.corpora import DATASETS, DEFAULT_CORPORA_DIR, DEFAULT_DATA_DIR, build_dataset
from pipeline.evaluation.corpus import evaluate_corpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpora", nargs="*", default=list(DATASETS))
    parser.add_argument("--split", default="tune")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--corpora-dir", type=Path, default=DEFAULT_CORPORA_DIR)
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    import torch

    for name in args.corpora:
        started = time.perf_counter()
        built = build_dataset(name, args.data_dir, args.corpora_dir)
        build_s = time.perf_counter() - started
        evaluation = evaluate_corpus(built.documents, built.claims, built.folder / "store", corpus=name,
                                     split=args.split, limit=args.limit)
        summary = {**evaluation.summary, "corpus_build": {k: v for k, v in built.info.items() if k != "sources"},
                   "corpus_build_seconds_this_run": round(build_s, 2),
                   "command": f"claimsift evaluate corpus --dataset {name} --split {args.split}"
                              + (f" --limit {args.limit}" if args.limit else ""),
                   "machine": {"cpus": torch.get_num_threads(), "python": platform.python_version(),
                               "torch": torch.__version__},
                   "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
        summary.pop("store", None)
        summary["store"] = {k: v for k, v in evaluation.summary["store"].items() if k != "dir"}
        path = args.results / f"corpus_eval_{name}_{args.split}.json"
        atomic_write_text(path, json.dumps(summary, indent=1) + "\n")
        print(json.dumps({k: summary[k] for k in ("corpus", "split", "n", "accuracy", "macro_f1",
                                                   "evidence_recall@5", "claims_per_s", "majority_baseline")}
                         | {"store_seconds": summary["store"]["seconds"]}), flush=True)


if __name__ == "__main__":
    main()
