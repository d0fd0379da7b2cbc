"""Benchmark the shipped check-worthiness model: quality and speed per encoder backend.

For each backend (onnx, torch) in a fresh process: dev metrics (CheckThat! 2022 1A dev scored as
posts, ClaimBuster held-out as speech), posts/s of ``score_posts`` on real tweets (the CheckThat!
2022 tweet objects), raw encoder sentences/s on the same sentences, speech sentences/s (with the
fine-tuned sentence classifier, and that classifier alone), load time and peak RSS.

    .venv/bin/python bench/bench_checkworthy.py --data ../shared/datasets --posts 1000 --out bench_cw.json
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def read_posts(data: Path, limit: int) -> list[str]:
    posts = []
    with gzip.open(data / "checkthat2022-task1-tweets" / "CT22_english_tweet_objects.jsonl.gz", "rt",
                   encoding="utf-8") as handle:
        for line in handle:
            obj = json.loads(line)
            text = obj.get("full_text") or obj.get("text")
            if isinstance(text, str) and text.strip():
                posts.append(text)
            if len(posts) >= limit:
                break
    return posts


def run_one(backend: str, data: Path, n_posts: int) -> dict:
    import numpy as np

    from pipeline import checkworthy_data as cd
    from pipeline.checkworthy import CheckworthyModel, f1_metrics

    started = time.perf_counter()
    model = CheckworthyModel(encoder_backend=backend)
    model.warm_up()
    load_s = time.perf_counter() - started
    sets = cd.load_sets(data)
    dev = sets["ct22_1a_dev"]
    heldout = sets["claimbuster_heldout"]
    # Speech: the logistic regression plus the fine-tuned sentence classifier (loaded, and exported
    # to ONNX on a first run, before the clock starts).
    model.score(heldout.texts[:8], domain="speech")
    t0 = time.perf_counter()
    speech_scores = model.score(heldout.texts, domain="speech")
    speech_s = time.perf_counter() - t0
    quality = {
        "ct22_1a_dev": f1_metrics(dev.labels, np.array([s for s, _ in model.score_posts(dev.texts)]), model.threshold),
        "claimbuster_heldout": f1_metrics(heldout.labels, speech_scores, model.thresholds["speech"]),
    }
    speech = {"sentences": len(heldout.texts), "sentences_per_s": round(len(heldout.texts) / speech_s, 1)}
    if model._sentence_classifier is not None:
        t0 = time.perf_counter()
        model._sentence_classifier.positive_proba(heldout.texts)
        speech |= {"classifier_alone_sentences_per_s": round(len(heldout.texts) / (time.perf_counter() - t0), 1),
                   "classifier_runtime": model._sentence_classifier.runtime,
                   "classifier_base": model._sentence_classifier._config.base_model}
    posts = read_posts(data, n_posts)
    model.score_posts(posts[:32])  # warm caches
    t0 = time.perf_counter()
    results = model.score_posts(posts)
    post_s = time.perf_counter() - t0
    sentences = [post[s:e] for post in posts for s, e in model.sentences(post)]
    encoder = model.classifier._encoder()
    t0 = time.perf_counter()
    encoder.encode(sentences)
    encode_s = time.perf_counter() - t0
    return {
        "backend": backend, "model": model.label, "load_s": round(load_s, 2), "quality": quality, "speech": speech,
        "posts": len(posts), "sentences": len(sentences),
        "posts_per_s": round(len(posts) / post_s, 1), "sentences_per_s": round(len(sentences) / post_s, 1),
        "encoder_only_sentences_per_s": round(len(sentences) / encode_s, 1),
        "model_over_encoder_time": round(post_s / encode_s, 3),
        "check_worthy_posts": sum(1 for score, _ in results if score >= model.threshold),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets")
    parser.add_argument("--posts", type=int, default=1000)
    parser.add_argument("--backends", default="onnx,torch")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one backend in this process
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.data, args.posts)))
        return
    results = []
    for backend in args.backends.split(","):
        # One process per backend, so peak RSS is that backend's alone.
        out = subprocess.run([sys.executable, __file__, "--one", backend, "--data", str(args.data),
                              "--posts", str(args.posts)], capture_output=True, text=True, check=True)
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(json.dumps(results[-1], indent=1), flush=True)
    report = {"cpu_count": os.cpu_count(), "load_average": os.getloadavg(), "results": results}
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
