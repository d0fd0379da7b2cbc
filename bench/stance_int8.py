"""End-to-end verdicts with the stance cross-encoders run by ONNX Runtime in float32 (``onnx``)
and with int8 weights (``onnx-int8``), on the same claims of the public corpora: macro-F1 of
each, and the share of claims given the same verdict. One JSON in bench/results/.

    nice -n 10 python bench/stance_int8.py --split tune --limit 200 --out bench/results/stance_int8_tune.json

The stores are built (or reused) as ``bench/verdict_models.py`` builds them.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.core.io import atomic_write_text  # noqa: E402
from pipeline.datasets.corpora import build_dataset  # noqa: E402
from pipeline.evaluation.corpus import evaluate_corpus  # noqa: E402
from pipeline.verdict.checker import Checker  # noqa: E402

CORPORA = ("averitec", "fever", "covidfact", "liar", "healthver", "seeds")
BACKENDS = ("onnx", "onnx-int8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpora", nargs="*", default=list(CORPORA))
    parser.add_argument("--split", default="tune")
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    results = json.loads(args.out.read_text()) if args.out.is_file() else {}
    for name in args.corpora:
        built = build_dataset(name)
        frames = {}
        row: dict = {}
        for backend in BACKENDS:
            started = time.perf_counter()
            evaluation = evaluate_corpus(built.documents, built.claims, built.folder / "store", corpus=name,
                                         split=args.split, limit=args.limit,
                                         checker=Checker(built.folder / "store", stance_backend=backend))
            s = evaluation.summary
            frames[backend] = evaluation.frame.set_index("claim_id")
            row[backend] = {k: s[k] for k in ("n", "accuracy", "macro_f1", "f1", "evidence_recall@5",
                                              "claims_per_s")} | {"seconds": round(time.perf_counter() - started, 1),
                                                                  "runtime": s["checker"]["stance"]}
        a, b = frames["onnx"], frames["onnx-int8"].loc[frames["onnx"].index]
        row["same_verdict"] = round(float((a["predicted"] == b["predicted"]).mean()), 4)
        row["mean_abs_confidence_change"] = round(float((a["confidence"] - b["confidence"]).abs().mean()), 4)
        row["macro_f1_change"] = round(row["onnx-int8"]["macro_f1"] - row["onnx"]["macro_f1"], 4)
        results[name] = row
        atomic_write_text(args.out, json.dumps(results, indent=1) + "\n")
        print(json.dumps({"corpus": name, **{k: row[k] for k in ("same_verdict", "macro_f1_change")},
                          "f1": [row[b]["macro_f1"] for b in BACKENDS]}), flush=True)


if __name__ == "__main__":
    main()
