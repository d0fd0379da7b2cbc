"""How to read a post's own check-worthiness, out of fold on the training tweets (a command, not a
test): the max over its sentences (checkworthy@v6-v8) or the post read whole, and for the whole
post, its exact MiniLM embedding or its sentences' embeddings pooled (weighted by characters, by
tokens, or not at all). Dev is never read.

The post network's out-of-fold scores (whole tweet and sentence by sentence) come from a finished
`claimsift train checkworthy --post-work-dir DIR` run (the plan's fold files); the regression is
refitted on the same folds, as training does. Scores are mixed with the network at each weight,
uncalibrated (calibration keeps the order: AP and best F1 do not change), no band.

    .venv/bin/python bench/checkworthy_post_reading.py --work-dir /tmp/cwpost \
        --out bench/results/checkworthy_post_reading.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets")
    parser.add_argument("--work-dir", type=Path, required=True, help="the --post-work-dir of a finished run")
    parser.add_argument("--base", default="all-mpnet-base-v2")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    from sklearn.metrics import average_precision_score

    from pipeline.checkworthy import data as cd
    from pipeline.checkworthy import post as cp
    from pipeline.checkworthy.classifier import CheckworthyClassifier
    from pipeline.checkworthy.data import normalise_key
    from pipeline.checkworthy.training import LABELLED_POST_SETS, SENTENCE_LEARNING_RATES
    from pipeline.core.metrics import best_f1_threshold, f1_metrics
    from pipeline.registry.base_models import base_model
    from pipeline.registry.embedding import Encoder

    started = time.perf_counter()
    sets = cd.load_sets(args.data)
    texts, labels, sources = cd.training_data(sets)
    domains = ["speech" if s.startswith("claimbuster") else "post" for s in sources]
    post_texts, post_labels, post_sources = cp.post_training_data(sets)
    parts = [cp.post_sentences(t) for t in post_texts]
    spec = base_model(args.base)
    plan = cp.PostNetPlan(base=spec.name, epochs=args.epochs, folds=3, learning_rate=SENTENCE_LEARNING_RATES[spec.name])
    folder = args.work_dir / plan.key(post_texts, post_labels)
    fold = cp.stratified_folds(post_labels, plan.folds, plan.seed)
    net_whole = np.full(len(post_texts), np.nan)
    net_sentences: list[list[float]] = [[] for _ in post_texts]
    for k in range(plan.folds):
        path = folder / f"fold{k}.json"
        if not path.is_file():
            raise SystemExit(f"{path}: missing; train the plan's folds first (claimsift train checkworthy "
                             f"--post-epochs {args.epochs:g} --post-base {spec.name} --post-work-dir {args.work_dir})")
        saved = json.loads(path.read_text(encoding="utf-8"))
        for i, whole, sentences in zip(saved["rows"], saved["whole"], saved["sentences"]):
            net_whole[i], net_sentences[i] = whole, sentences

    encoder = Encoder(backend="onnx")
    encoder.warm_up()
    unique = list(dict.fromkeys(texts + post_texts + [s for p in parts for s in p]))
    vectors = {}
    for lo in range(0, len(unique), 256):
        vectors.update(zip(unique[lo:lo + 256], encoder.encode(unique[lo:lo + 256])))

    def embed(items):
        return np.stack([vectors[t] for t in items])

    tokenizer = encoder._tokenizer
    weightings = {"characters": lambda s: len(s), "tokens": lambda s: len(tokenizer.encode(s).ids),
                  "unweighted": lambda s: 1.0}
    fold_of = {normalise_key(t): int(k) for t, k in zip(post_texts, fold)}
    lr_sentences: list[list[float]] = [[] for _ in post_texts]
    lr_whole = {name: np.zeros(len(post_texts)) for name in ("exact", *weightings)}
    for k in range(plan.folds):
        keep = [i for i, t in enumerate(texts) if fold_of.get(normalise_key(t)) != k]
        model = CheckworthyClassifier(encoder_backend="onnx")
        model.fit([texts[i] for i in keep], labels[keep], domain=[domains[i] for i in keep],
                  embeddings=embed([texts[i] for i in keep]))
        held = [i for i in np.flatnonzero(fold == k) if parts[i]]
        flat = [s for i in held for s in parts[i]]
        scores = iter(model.predict_proba(flat, domain="post", embeddings=embed(flat))[:, 1].tolist())
        for i in held:
            lr_sentences[i] = [next(scores) for _ in parts[i]]
        whole_texts = [post_texts[i] for i in held]
        lr_whole["exact"][held] = model.predict_proba(whole_texts, domain="post", embeddings=embed(whole_texts))[:, 1]
        for name, weight_of in weightings.items():
            pooled = cp.whole_post_embeddings(embed(flat), [weight_of(s) for s in flat], [len(parts[i]) for i in held])
            lr_whole[name][held] = model.predict_proba(whole_texts, domain="post", embeddings=pooled)[:, 1]

    # As served: a post without a sentence (no words) scores 0 whichever way it is read.
    net_whole[[i for i, p in enumerate(parts) if not p]] = 0.0
    tune = np.array([i for i, s in enumerate(post_sources) if s in LABELLED_POST_SETS])
    y = post_labels[tune]

    def figures(scores: np.ndarray) -> dict:
        return {"average_precision": round(float(average_precision_score(y, scores)), 4),
                "f1": f1_metrics(y, scores, best_f1_threshold(y, scores))["f1"]}

    def sentence_max(w: float) -> np.ndarray:
        return np.array([max(((1 - w) * a + w * b for a, b in zip(lr_sentences[i], net_sentences[i])), default=0.0)
                         for i in tune])

    rows = []
    for w in (0.0, 0.4, 0.6, 1.0):
        whole_exact = (1 - w) * lr_whole["exact"][tune] + w * net_whole[tune]
        rows.append({"reading": "sentences, max", "network_weight": w, **figures(sentence_max(w))})
        rows.append({"reading": "whole, exact embedding", "network_weight": w, **figures(whole_exact)})
        for name in weightings:
            rows.append({"reading": f"whole, sentence embeddings pooled ({name})", "network_weight": w,
                         **figures((1 - w) * lr_whole[name][tune] + w * net_whole[tune])})
        rows.append({"reading": "max(sentences max, whole exact)", "network_weight": w,
                     **figures(np.maximum(sentence_max(w), whole_exact))})
    result = {"tweets": int(len(tune)), "positives": int(y.sum()), "plan": plan.key(post_texts, post_labels),
              "work_dir": str(args.work_dir), "network": f"{spec.name}, {args.epochs:g} epoch(s), LoRA",
              "seconds": round(time.perf_counter() - started, 1), "rows": rows}
    for row in rows:
        print(f"{row['reading']:48s} w={row['network_weight']:.1f}  AP {row['average_precision']:.4f}  "
              f"F1 {row['f1']:.4f}")
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
