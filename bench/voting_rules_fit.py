"""Voting rules (which passages vote) re-chosen for the learned verdict model on the corpora's
fitting claims: for each variant of ``VerdictRules``, the voter flags of the cached verdict-fit rows
are recomputed (retrieval again, the stance readings kept) and the shipped set-up is scored by
leave-one-corpus-out as served (no voting passage -> NOT_ENOUGH_INFO). Tune and train splits only.

    python bench/voting_rules_fit.py --cache-dir out/verdict_fit

The rows come from ``claimsift train verdict --from-corpora`` (its cache). Figures (no claim text)
go to bench/results/voting_rules_fit_tune.json.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.core.io import atomic_write_text  # noqa: E402
from pipeline.datasets.claims import read_corpus_claims  # noqa: E402
from pipeline.datasets.corpora import build_dataset  # noqa: E402
from pipeline.datasets.stores import documents_by_table_id  # noqa: E402
from pipeline.retrieval.retrieve import people_in  # noqa: E402
from pipeline.training import verdict_fit  # noqa: E402
from pipeline.verdict.checker import Checker  # noqa: E402
from pipeline.verdict.rules import VerdictRules  # noqa: E402

VARIANTS = {"shipped": VerdictRules(), "coverage 0.15": VerdictRules(min_coverage=0.15),
            "coverage 0": VerdictRules(min_coverage=0.0), "floor 0.3": VerdictRules(relevance_floor=0.3),
            "depth 5": VerdictRules(depth=5), "coverage 0.15 depth 5": VerdictRules(min_coverage=0.15, depth=5)}
FEATURE_SET, WEIGHTING = "evidence-v4", "corpus-and-class"


def cached_rows(cache_dir: Path) -> list[dict]:
    rows = []
    for path in sorted(cache_dir.glob("*.jsonl")):
        found = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        if found and found[0].get("joint_reading") == verdict_fit.JOINT_READING:
            rows += found
    return rows


def voter_flags(rows: list[dict]) -> tuple[list[dict], dict[str, list[list[bool]]]]:
    flags: dict[str, list[list[bool]]] = {name: [] for name in VARIANTS}
    ordered = []
    for corpus in dict.fromkeys(r["corpus"] for r in rows):
        built = build_dataset(corpus)
        store = built.folder / "store"
        claims = {c.id: c for c in read_corpus_claims(built.claims)}
        doc_of_name = documents_by_table_id(store)
        checker = Checker(store, verdict_spec="rules", stance_input="previous", screen_stance_spec=None)
        view = checker.corpus_view
        mine = [r for r in rows if r["corpus"] == corpus]
        for offset in range(0, len(mine), 64):
            batch = mine[offset:offset + 64]
            texts = [r["claim"] for r in batch]
            excluded = [{d for n in claims[r["id"]].exclude_documents for d in doc_of_name.get(n, ())} for r in batch]
            evidence_lists = checker.retrieve(texts, top_k=5, exclude_docs=excluded)
            for row, evidence, subject, text in zip(batch, evidence_lists, checker.subjects(texts), texts):
                if [e.sentence for e in evidence] != [p["sentence"] for p in row["passages"]]:
                    raise SystemExit(f"{corpus}/{row['id']}: retrieval no longer gives the cached passages; "
                                     "collect the rows again")
                people = people_in(text, view)
                for name, rules in VARIANTS.items():
                    voting = set(rules.voter_positions(text, evidence, people, subject, view.reported_claims))
                    flags[name].append([i in voting for i in range(len(row["passages"]))])
                ordered.append(row)
    return ordered, flags


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", type=Path, default=verdict_fit.CACHE_DIR)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "voting_rules_fit_tune.json")
    args = parser.parse_args()
    rows, flags = voter_flags(cached_rows(args.cache_dir))
    y = np.array([r["label"] for r in rows])
    corpora = np.array([r["corpus"] for r in rows])
    results = {"rows": len(rows), "feature_set": FEATURE_SET, "weighting": WEIGHTING, "variants": {}}
    for name, rules in VARIANTS.items():
        variant = [dict(r, passages=[dict(p, voter=f) for p, f in zip(r["passages"], fl)])
                   for r, fl in zip(rows, flags[name])]
        no_voters = verdict_fit.without_voters(variant)
        X = verdict_fit.features_of(variant, FEATURE_SET)
        best = None
        for C in verdict_fit.C_GRID:
            figures, _ = verdict_fit.leave_one_corpus_out(X, y, corpora, C=C, weighting=WEIGHTING,
                                                          feature_set=FEATURE_SET, nei_stage=True, no_voters=no_voters)
            mean = round(float(np.mean([f["macro_f1"] for f in figures.values()])), 4)
            if best is None or mean > best["mean_macro_f1"]:
                best = {"C": C, "mean_macro_f1": mean, "per_corpus": {c: f["macro_f1"] for c, f in figures.items()}}
        results["variants"][name] = {"rules": rules.label(), "no_voter_share": round(float(no_voters.mean()), 4),
                                     **(best or {})}
        print(json.dumps({"variant": name, **results["variants"][name]}), flush=True)
    atomic_write_text(args.out, json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
