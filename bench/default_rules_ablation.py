"""Each general rule of the default path turned off in turn, on corpora other than the seeds: does
it earn its place? (A rule stays on by default only with a gain on at least two corpora that are
not the seeds and a loss on none.) Figures in bench/results/default_rules_<split>.json (figures
only, no claim text).

    nice -n 10 python bench/corpus_eval.py --split tune --limit 200 healthver liar   # builds the stores
    nice -n 10 python bench/default_rules_ablation.py healthver liar --split tune --limit 200

The rules measured: the entity boost and the following-denial boost (retrieval), the subject
gate, the plans rule and the denial / reported-claim corrections (voting). Retrieval runs once
per retrieval setting; the stance model reads each voting passage once and every voting setting
is aggregated from those readings, as ``Checker.check_many`` does.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.core.io import atomic_write_text
from pipeline.core.types import STANCE_LABELS  # noqa: E402
from pipeline.datasets.claims import first_gold_rank, read_corpus_claims
from pipeline.datasets.corpora import DEFAULT_CORPORA_DIR, claim_splits, select_claims
from pipeline.evaluation.corpus import verdict_metrics
from pipeline.retrieval.retrieve import ENTITY_BOOST, RetrievalConfig, people_in  # noqa: E402
from pipeline.verdict.checker import Checker
from pipeline.verdict.rules import (
    VerdictRules,
    denial_cannot_support,
    discount_reported_claim,
    settled_facts_cannot_decide_plans,
    text_before,
)

# "default": every general rule on, as logic v5's default path had them; each other setting
# turns one off. (Logic v6 ships the subject gate, the plans rule and the entity boost off, on
# these figures; the nato pack turns them on.)
ALL_ON = VerdictRules(subject_required=True, deeds_cannot_decide_plans=True)
RETRIEVAL = {"default": RetrievalConfig(entity_boost=ENTITY_BOOST), "no_entity_boost": RetrievalConfig(entity_boost=0.0),
             "no_following_denials": RetrievalConfig(entity_boost=ENTITY_BOOST, follow_denials=0)}
VOTING = {"default": dict(rules=ALL_ON, plans=True, denials=True),
          "no_subject_gate": dict(rules=replace(ALL_ON, subject_required=False), plans=True, denials=True),
          "no_plans_rule": dict(rules=ALL_ON, plans=False, denials=True),
          "no_denial_corrections": dict(rules=ALL_ON, plans=True, denials=False)}


def corrected(claim, passage, probs, plans: bool, denials: bool) -> dict[str, float]:
    if denials:
        probs = denial_cannot_support(claim, passage.sentence, probs)
        probs = discount_reported_claim(passage.sentence, probs, before=text_before(passage))
    return settled_facts_cannot_decide_plans(claim, passage, probs) if plans else probs


def run_corpus(folder: Path, name: str, split: str, limit: int | None) -> dict:
    from pipeline.corpus.store import Corpus

    claims = read_corpus_claims(folder / "claims.jsonl")
    chosen = [c for c, _ in select_claims(claims, claim_splits(name, claims), split, limit)]
    store = folder / "store"
    # verdict@v6: the learned model that reads sentences alone and one at a time, as this ablation does.
    checker = Checker(store, fact_checks=False, verdict_spec="verdict@v6")
    checker.warm_up()
    loaded = checker._loaded
    view, stance, aggregator = loaded.view, loaded.stance, loaded.aggregator
    names = Corpus(store).documents()
    doc_of_name = dict(zip(names["name"].astype(str), names["doc_id"].astype(str)))
    texts = [c.claim for c in chosen]
    excluded = [{doc_of_name[d] for d in c.exclude_documents if d in doc_of_name} for c in chosen]
    subjects = checker.subjects(texts)
    people = [people_in(t, view) for t in texts]
    gold = [c.label for c in chosen]
    readings: dict[tuple[str, str], dict[str, float]] = {}
    out = {}
    for retrieval_name, retrieval in RETRIEVAL.items():
        checker.retrieval = retrieval
        evidence_lists = checker.retrieve(texts, top_k=5, exclude_docs=excluded)
        ranks = [first_gold_rank([e.sentence for e in ev], c.gold_evidence) if c.gold_evidence else None
                 for ev, c in zip(evidence_lists, chosen)]
        judged = [r is not None for r, c in zip(ranks, chosen) if c.gold_evidence]
        recall = round(sum(judged) / len(judged), 4) if judged else None
        for voting_name, voting in VOTING.items():
            if retrieval_name != "default" and voting_name != "default":
                continue
            rules = voting["rules"]
            positions = [rules.voter_positions(t, ev, p, s, view.reported_claims)
                         for t, ev, p, s in zip(texts, evidence_lists, people, subjects)]
            wanted = sorted({(t, ev[i].read_as or ev[i].sentence) for t, ev, pos in zip(texts, evidence_lists, positions)
                             for i in pos} - set(readings))
            if wanted:
                rows = stance.predict_proba([c for c, _ in wanted], [p for _, p in wanted])
                readings.update({key: dict(zip(STANCE_LABELS, map(float, row))) for key, row in zip(wanted, rows)})
            predicted = []
            for text, evidence, pos in zip(texts, evidence_lists, positions):
                voters = []
                for i in pos:
                    item = evidence[i]
                    probs = corrected(text, item, readings[(text, item.read_as or item.sentence)], **{
                        k: voting[k] for k in ("plans", "denials")})
                    voters.append(replace(item, stance=max(probs, key=probs.get), stance_probs=probs))
                predicted.append(aggregator.aggregate(text, voters).verdict)
            key = voting_name if retrieval_name == "default" else retrieval_name
            metrics = verdict_metrics(gold, predicted)
            out[key] = {"correct": sum(g == p for g, p in zip(gold, predicted)), "accuracy": metrics["accuracy"],
                        "macro_f1": metrics["macro_f1"], "evidence_recall@5": recall, "predicted": predicted}
    base = out["default"]["predicted"]
    for entry in out.values():
        changed = [(g, b, p) for g, b, p in zip(gold, base, entry.pop("predicted")) if b != p]
        entry["verdicts_changed_vs_default"] = len(changed)
        entry["right_only_with_the_rule"] = sum(g == b for g, b, _ in changed)  # the rule helps here
        entry["right_only_without_it"] = sum(g == p for g, _, p in changed)  # the rule hurts here
    return {"n": len(chosen), "labels": dict(sorted({g: gold.count(g) for g in gold}.items())), "settings": out}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpora", nargs="+")
    parser.add_argument("--split", default="tune")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--corpora-dir", type=Path, default=DEFAULT_CORPORA_DIR)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    report = {"split": args.split, "limit": args.limit, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "command": "python bench/default_rules_ablation.py " + " ".join(sys.argv[1:]), "corpora": {}}
    for name in args.corpora:
        started = time.perf_counter()
        report["corpora"][name] = run_corpus(args.corpora_dir / name, name, args.split, args.limit)
        report["corpora"][name]["seconds"] = round(time.perf_counter() - started, 1)
        print(json.dumps({name: report["corpora"][name]}), flush=True)
    out = args.out or ROOT / "bench" / "results" / f"default_rules_{args.split}.json"
    atomic_write_text(out, json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
