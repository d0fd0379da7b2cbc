"""The default path against an opt-in rule pack on corpora other than the seeds: the same claims of
each corpus (a split of the manifest, a fixed subset) checked with no pack and with each pack
named, figures side by side in bench/results/rule_packs_<split>.json (figures only, no claim text).

    nice -n 10 python bench/corpus_eval.py --split tune --limit 200 healthver liar   # builds the stores
    nice -n 10 python bench/rule_packs_corpora.py healthver liar --split tune --limit 200 --pack nato

A rule may stay on by default only with a gain on at least two corpora that are not the seeds and
a loss on none: this is where that is measured. It also counts the evidence passages where
'false' is part of a fixed phrase ('a false positive'), which the default path no longer reads as
a denial, so that the fix's reach is known.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.core.io import atomic_write_text
from pipeline.datasets.corpora import DEFAULT_CORPORA_DIR
from pipeline.evaluation.corpus import evaluate_corpus  # noqa: E402
from pipeline.lang.en import DENIAL_CUE  # noqa: E402
from pipeline.verdict.checker import Checker  # noqa: E402

OLD_FALSE = re.compile(r"\bfalse\b", re.IGNORECASE)
FIGURES = ("n", "accuracy", "macro_f1", "f1", "evidence_recall@5", "claims_per_s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpora", nargs="+")
    parser.add_argument("--split", default="tune")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--pack", action="append", default=[], help="a rule pack to compare (repeatable)")
    parser.add_argument("--corpora-dir", type=Path, default=DEFAULT_CORPORA_DIR)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    configurations = [()] + [(pack,) for pack in args.pack]
    report = {"split": args.split, "limit": args.limit, "corpora": {},
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "command": "python bench/rule_packs_corpora.py " + " ".join(sys.argv[1:])}
    for name in args.corpora:
        folder = args.corpora_dir / name
        results = {}
        for packs in configurations:
            checker = Checker(folder / "store", rule_packs=packs)
            evaluation = evaluate_corpus(None, folder / "claims.jsonl", folder / "store", corpus=name,
                                         split=args.split, limit=args.limit, checker=checker)
            results[packs] = evaluation
        bare = results[()]
        entry = {"none": {k: bare.summary.get(k) for k in FIGURES}}
        passages = [e.sentence for r in bare.results for e in r.verdict.evidence]
        entry["false_no_longer_a_denial"] = sum(bool(OLD_FALSE.search(s)) and not DENIAL_CUE.search(s)
                                                for s in passages)
        entry["passages_read"] = len(passages)
        for packs in configurations[1:]:
            other = results[packs]
            changed = [(a.claim.label, a.verdict.verdict, b.verdict.verdict)
                       for a, b in zip(bare.results, other.results) if a.verdict.verdict != b.verdict.verdict]
            entry["+".join(packs)] = {k: other.summary.get(k) for k in FIGURES} | {
                "verdicts_changed": len(changed),
                "changed_right": sum(gold == with_pack for gold, _, with_pack in changed),
                "changed_wrong": sum(gold == without for gold, without, _ in changed)}
        report["corpora"][name] = entry
        print(json.dumps({name: entry}), flush=True)
    out = args.out or ROOT / "bench" / "results" / f"rule_packs_{args.split}.json"
    atomic_write_text(out, json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
