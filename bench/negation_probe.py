"""How well a stance model composes negation, on dev claims it never trained on.

From the SUPPORTS pairs of the grouped dev split (claim C, evidence E), spaCy's parse makes
(not-C, E) -> REFUTES, (C, not-E) -> REFUTES and (not-C, not-E) -> SUPPORTS (the rules of
``pipeline.stance.synthetic.negate``), and the original (C, E) -> SUPPORTS is kept as the control. Reports
accuracy per variant. A model that reads any negation as a refutation gets (not-C, not-E) wrong.

    python bench/negation_probe.py [--model stance@v2] [--models-dir models] [--pairs 200]
"""
from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="stance")
    parser.add_argument("--models-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets")
    parser.add_argument("--pairs", type=int, default=200, help="SUPPORTS dev pairs to negate")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "negation_probe.json")
    args = parser.parse_args()

    from pipeline.stance import data as stance_data
    from pipeline.stance.model import StanceModel
    from pipeline.stance.synthetic import negation_pairs

    started = time.monotonic()
    dev = stance_data.build_stance_splits(args.data, seed=13)["dev"]
    supports = [p for p in dev if p.label == "SUPPORTS"]
    negated = negation_pairs(supports, args.pairs, seed=13)
    # negation_pairs yields (not-C, E), (C, not-E), (not-C, not-E) per source pair, in order.
    variants = ["not-claim", "not-evidence", "both negated"]
    rows = []
    for i, pair in enumerate(negated):
        rows.append((variants[i % 3], pair.claim, pair.evidence, pair.label))
    for i in range(0, len(negated), 3):
        source = next((p for p in supports if p.group == negated[i].group and p.evidence == negated[i].evidence), None)
        if source is not None:
            rows.append(("original", source.claim, source.evidence, "SUPPORTS"))
    model = StanceModel(args.model, models_dir=args.models_dir)
    predicted = model.predict([r[1] for r in rows], [r[2] for r in rows])
    right: dict[str, list[int]] = defaultdict(list)
    for (variant, _, _, gold), guess in zip(rows, predicted):
        right[variant].append(int(guess == gold))
    report = {
        "model": model.tag,
        "source_pairs": len(negated) // 3,
        "accuracy": {v: round(sum(r) / len(r), 4) for v, r in right.items() if r},
        "pairs": {v: len(r) for v, r in right.items()},
        "examples": [{"variant": v, "claim": c, "evidence": e, "gold": g, "predicted": p}
                     for (v, c, e, g), p in list(zip(rows, predicted))[:6]],
        "seconds": round(time.monotonic() - started, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: report[k] for k in ("model", "accuracy", "pairs")}, indent=2))


if __name__ == "__main__":
    main()
