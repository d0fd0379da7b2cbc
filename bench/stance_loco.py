"""Stance models compared end to end: the default verdict recipe's leave-one-corpus-out search
(``fit_verdict_model``) on the same fitting rows for each, nothing registered.

    nice -n 10 python bench/stance_loco.py stance@v5 stance@v6 [--joint-max-length 256]

The rows are the tune splits of the five corpora (LIAR-PLUS's too, not its train split, so that a
stance model trained on LIAR-PLUS's train split can be compared), checked by the stance model
reading each passage after the sentence before it, with no query adapter (verdict@v13's set-up);
they are cached per stance model's file hashes in ``out/verdict_fit``. One JSON line per model: the
mean and per-corpus macro-F1 of the chosen set-up, and the set-up.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.datasets.corpora import build_dataset  # noqa: E402
from pipeline.training.verdict_fit import collect, fit_verdict_model  # noqa: E402
from pipeline.verdict.checker import Checker  # noqa: E402

PARTS = (("averitec", "tune"), ("fever", "tune"), ("covidfact", "tune"), ("healthver", "tune"), ("liar", "tune"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stance_models", nargs="+", help="registry specs, e.g. stance@v5")
    parser.add_argument("--joint-max-length", type=int, default=None,
                        help="tokens of the joint reading (default: the stance model's own length)")
    args = parser.parse_args()
    for spec in args.stance_models:
        rows: list[dict] = []
        for corpus in dict.fromkeys(c for c, _ in PARTS):
            checker = Checker(build_dataset(corpus).folder / "store", stance_spec=spec, screen_stance_spec=None,
                              stance_input="previous", verdict_spec="rules", query_adapter="none")
            rows += [row for c, split in PARTS if c == corpus
                     for row in collect(corpus, split, checker, joint_max_length=args.joint_max_length,
                                        log=lambda m: None)]
        _, report = fit_verdict_model(rows, log=lambda m: None)
        loco = report["leave_one_corpus_out"]
        print(json.dumps({"stance": spec, "joint_max_length": args.joint_max_length, "mean": loco["mean_macro_f1"],
                          **{k: v["macro_f1"] for k, v in loco["per_corpus"].items()}, "chosen": report["chosen"]}),
              flush=True)


if __name__ == "__main__":
    main()
