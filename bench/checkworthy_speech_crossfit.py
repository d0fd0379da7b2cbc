"""ClaimBuster held-out debates, cross-fitted: how check-worthiness models compare on debate
sentences when the speech mix weight and threshold are not chosen on the sentences scored.

A model's card figure for the 1,797 held-out ClaimBuster sentences uses a mix weight (regression
against the fine-tuned sentence classifier) and a threshold chosen on those same sentences. Here,
for every way of splitting the 7 held-out id blocks (about one debate each) into 3 and 4, the weight
and threshold are chosen on one part (``best_mix_weight``, ``best_f1_threshold``: the training
code's own choosers) and F1 is measured on the other, both ways round (70 scored halves per model,
the same halves for every model, so differences are paired). Also the served F1 (the card's weight
and threshold) with a 95% interval from a bootstrap over the blocks.

    .venv/bin/python bench/checkworthy_speech_crossfit.py --models checkworthy@v7,checkworthy@v8 \
        --out bench/results/checkworthy_speech_crossfit.json
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.checkworthy import data as cd  # noqa: E402
from pipeline.checkworthy.model import CheckworthyModel  # noqa: E402
from pipeline.checkworthy.training import best_mix_weight  # noqa: E402
from pipeline.core.io import atomic_write_text  # noqa: E402
from pipeline.core.metrics import best_f1_threshold, f1_metrics  # noqa: E402

BOOTSTRAP_ROUNDS = 1000


def halves(groups: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """(tune mask, score mask) for every split of the blocks into a third-to-half and the rest, both ways."""
    blocks = sorted(set(groups.tolist()))
    out = []
    for chosen in itertools.combinations(blocks, len(blocks) // 2):
        first = np.isin(groups, chosen)
        out += [(first, ~first), (~first, first)]
    return out


def crossfit_f1(labels: np.ndarray, regression: np.ndarray, network: np.ndarray, tune: np.ndarray,
                scored: np.ndarray) -> float:
    weight = best_mix_weight(labels[tune], regression[tune], network[tune])
    mixed = (1 - weight) * regression + weight * network
    threshold = best_f1_threshold(labels[tune], mixed[tune])
    return float(f1_metrics(labels[scored], mixed[scored], threshold)["f1"])


def bootstrap_interval(labels: np.ndarray, predicted: np.ndarray, groups: np.ndarray, seed: int = 13) -> list[float]:
    blocks = sorted(set(groups.tolist()))
    rows = {b: np.flatnonzero(groups == b) for b in blocks}
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(BOOTSTRAP_ROUNDS):
        take = np.concatenate([rows[b] for b in rng.choice(blocks, size=len(blocks), replace=True)])
        truth, guess = labels[take], predicted[take]
        tp = float(np.sum(truth * guess))
        denominator = float(np.sum(truth) + np.sum(guess))
        values.append(2 * tp / denominator if denominator else 0.0)
    return [round(float(np.percentile(values, 2.5)), 4), round(float(np.percentile(values, 97.5)), 4)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets")
    parser.add_argument("--models", default="checkworthy", help="comma-separated registry specs")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    heldout = cd.load_sets(args.data)["claimbuster_heldout"]
    texts, labels = list(heldout.texts), np.asarray(heldout.labels, dtype=np.int64)
    groups = np.asarray(heldout.groups)
    splits = halves(groups)
    report: dict = {"set": "claimbuster_heldout", "rows": len(texts), "positives": int(labels.sum()),
                    "blocks": len(set(groups.tolist())), "scored_halves": len(splits), "models": {}}
    per_model: dict[str, np.ndarray] = {}
    for spec in args.models.split(","):
        model = CheckworthyModel(spec)
        regression = model.classifier.predict_proba(texts, domain="speech")[:, 1]
        network = model.sentence_classifier.positive_proba(texts) if model.sentence_classifier else regression
        served = model.score(texts, domain="speech")
        predicted = (served >= model.thresholds["speech"]).astype(np.int64)
        values = np.array([crossfit_f1(labels, regression, network, tune, scored) for tune, scored in splits])
        per_model[model.label] = values
        alone = f1_metrics(labels, network, best_f1_threshold(labels, network))
        report["models"][model.label] = {
            "served_f1": round(float(f1_metrics(labels, served, model.thresholds["speech"])["f1"]), 4),
            "served_f1_bootstrap_95": bootstrap_interval(labels, predicted, groups),
            "crossfit_f1_mean": round(float(values.mean()), 4),
            "crossfit_f1_min": round(float(values.min()), 4),
            "crossfit_f1_max": round(float(values.max()), 4),
            "network_alone_f1_at_its_best_threshold": alone["f1"],
            "network_alone_average_precision": alone["average_precision"],
        }
        print(model.label, json.dumps(report["models"][model.label]), flush=True)
    labels_in_order = list(per_model)
    for first, second in itertools.combinations(labels_in_order, 2):
        difference = per_model[second] - per_model[first]
        report[f"{second} minus {first}"] = {"crossfit_f1_mean": round(float(difference.mean()), 4),
                                             "halves_where_higher": int(np.sum(difference > 0)),
                                             "halves_where_lower": int(np.sum(difference < 0))}
    text = json.dumps(report, indent=1)
    print(text)
    if args.out:
        atomic_write_text(args.out, text + "\n")


if __name__ == "__main__":
    main()
