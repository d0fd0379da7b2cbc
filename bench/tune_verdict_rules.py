"""Tune the verdict rules (``pipeline.check.VerdictRules``) on the seed dev claims.

Retrieval and stance run once per claim; the grid over depth, relevance floor and the two
thresholds then only re-reads the cached stance probabilities. Besides the best setting on all
claims, it reports leave-one-out accuracy (each claim judged with the setting that is best on the
other claims), which is what to expect on claims the rules were not tuned on.

    python bench/tune_verdict_rules.py [--store corpus/store] [--stance stance] [--out bench/results/verdict_rules.json]
"""
from __future__ import annotations

import argparse
import functools
import itertools
import json
import time
from collections import Counter
from pathlib import Path

import numpy as np

from pipeline.check import Checker, VerdictRules
from pipeline.claims_eval import read_labelled_claims
from pipeline.types import VERDICT_LABELS
from pipeline.verdict import VerdictAggregator

DEPTHS = (1, 2, 3, 4, 5)
FLOORS = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
COVERAGES = (0.0, 0.2, 0.3, 0.4, 0.5)
THRESHOLDS = tuple(round(x, 2) for x in np.arange(0.3, 0.951, 0.05))


@functools.lru_cache(maxsize=None)
def _aggregator(support: float, refute: float) -> VerdictAggregator:
    return VerdictAggregator(support_threshold=support, refute_threshold=refute)


def verdict_of(max_s: float, max_r: float, support: float, refute: float) -> str:
    """The rule the Checker applies (``VerdictAggregator.rule_verdict``) on the two maxima."""
    return _aggregator(support, refute).rule_verdict((max_s, max_r))[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", default="corpus/store")
    parser.add_argument("--data", default="tests/data/seed_claims.jsonl")
    parser.add_argument("--stance", default="stance")
    parser.add_argument("--out", default="bench/results/verdict_rules.json")
    args = parser.parse_args()

    rows = read_labelled_claims(Path(args.data))
    checker = Checker(args.store, stance_spec=args.stance, fact_checks=False)
    started = time.perf_counter()
    claims = [r.claim for r in rows]
    judged = checker.judge(claims, checker.retrieve(claims, top_k=max(DEPTHS)))
    gold = [r.label for r in rows]
    judge_seconds = time.perf_counter() - started

    # For every (depth, floor, coverage): each claim's strongest support and refutation among the voters.
    maxima = {}
    for depth, floor, coverage in itertools.product(DEPTHS, FLOORS, COVERAGES):
        rules = VerdictRules(depth=depth, relevance_floor=floor, min_coverage=coverage)
        pairs = []
        for claim, evidence in zip(claims, judged):
            voters = rules.voters(claim, evidence)
            pairs.append((max((e.stance_probs["SUPPORTS"] for e in voters), default=0.0),
                          max((e.stance_probs["REFUTES"] for e in voters), default=0.0)))
        maxima[(depth, floor, coverage)] = pairs
    grid = list(itertools.product(DEPTHS, FLOORS, COVERAGES, THRESHOLDS, THRESHOLDS))
    correct = np.zeros((len(grid), len(rows)), dtype=bool)
    for g, (depth, floor, coverage, support, refute) in enumerate(grid):
        for i, (max_s, max_r) in enumerate(maxima[(depth, floor, coverage)]):
            correct[g, i] = verdict_of(max_s, max_r, support, refute) == gold[i]
    accuracy = correct.mean(axis=1)
    # Ties broken towards the current defaults' neighbourhood: the first best in grid order.
    best = int(accuracy.argmax())
    loo = []
    for i in range(len(rows)):
        others = np.delete(correct, i, axis=1).mean(axis=1)
        loo.append(bool(correct[int(others.argmax()), i]))
    defaults = VerdictRules()
    default_key = (defaults.depth, defaults.relevance_floor, defaults.min_coverage, defaults.support_threshold,
                   defaults.refute_threshold)
    default_index = grid.index(default_key) if default_key in grid else None
    depth, floor, coverage, support, refute = grid[best]
    predicted = [verdict_of(*maxima[(depth, floor, coverage)][i], support, refute) for i in range(len(rows))]
    confusion = Counter(f"{g} -> {p}" for g, p in zip(gold, predicted) if g != p)
    per_class = {label: round(float(np.mean([p == g for p, g in zip(predicted, gold) if g == label])), 3)
                 for label in VERDICT_LABELS}
    report = {
        "data": args.data, "claims": len(rows), "stance_model": checker._loaded[3].tag,
        "best": {"depth": depth, "relevance_floor": floor, "min_coverage": coverage, "support_threshold": support,
                 "refute_threshold": refute, "accuracy": round(float(accuracy[best]), 4)},
        "settings_within_one_claim_of_best": int((accuracy >= accuracy[best] - 1 / len(rows) + 1e-9).sum()),
        "defaults": {"rules": defaults.label(),
                     "accuracy": round(float(accuracy[default_index]), 4) if default_index is not None else None},
        "leave_one_out_accuracy": round(float(np.mean(loo)), 4),
        "best_per_class_accuracy": per_class,
        "best_errors": dict(confusion.most_common()),
        "judge_seconds": round(judge_seconds, 1),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
