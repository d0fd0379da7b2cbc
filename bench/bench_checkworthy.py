"""Benchmark check-worthiness models: dev quality as served and speed against the raw encoder.

For each model spec (default: the current one) and backend (onnx, torch), in a fresh process:
dev metrics as the model serves them (``dev_metrics_as_served``: CheckThat! 2022 1A and 2020
dev tweets, the held-out ClaimBuster debates, each in its own domain and with ``--domain auto``);
posts/s of batch scoring on real tweets (the first ``--posts`` CheckThat! 2022 tweet objects,
unlabelled; only timed, never trained or tuned on) with ``auto`` and with ``post``, and the raw
MiniLM encoder's posts/s on the same posts' sentences in the same process; for a model with a
post network, the share of sentences it ran on (its band) and the network alone; speech
sentences/s; load time and peak RSS.

    .venv/bin/python bench/bench_checkworthy.py --models checkworthy@v3,checkworthy@v4 --backends onnx \
        --out bench/results/checkworthy_v4.json
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


def run_one(spec: str, backend: str, data: Path, n_posts: int, with_quality: bool = True) -> dict:
    from pipeline.checkworthy import data as cd
    from pipeline.checkworthy.model import CheckworthyModel
    from pipeline.checkworthy.sentences import AUTO
    from pipeline.checkworthy.training import dev_metrics_as_served

    started = time.perf_counter()
    model = CheckworthyModel(spec, encoder_backend=backend)
    model.warm_up()
    load_s = time.perf_counter() - started
    sets = cd.load_sets(data)
    heldout = sets["claimbuster_heldout"]
    # Networks loaded (and exported to ONNX on a first run) before any clock starts: also the post
    # network of a model reading posts whole, which scoring sentences alone never runs.
    model.warm_up_networks(AUTO)
    model.score(heldout.texts[:8], domain="speech")
    model.score(heldout.texts[:8], domain="post")
    speech: dict = {}
    quality: dict = {}
    if with_quality:
        t0 = time.perf_counter()
        model.score(heldout.texts, domain="speech")
        speech = {"sentences": len(heldout.texts),
                  "sentences_per_s": round(len(heldout.texts) / (time.perf_counter() - t0), 1)}
        quality = dev_metrics_as_served(model, sets)

    posts = read_posts(data, n_posts)
    model.score_posts_routed(posts[:32], AUTO)  # warm caches
    timings = {}
    for domain in (AUTO, "post"):
        t0 = time.perf_counter()
        results = model.score_posts_routed(posts, domain)
        seconds = time.perf_counter() - t0
        timings[domain] = {"posts_per_s": round(len(posts) / seconds, 1), "seconds": round(seconds, 2),
                           "check_worthy_posts": sum(1 for r in results if r.claims),
                           "rows_per_domain": {d: sum(1 for r in results if r.domain == d)
                                               for d in sorted({r.domain for r in results})}}
    sentences = [post[s:e] for post in posts for s, e in model.sentences(post)]
    encoder = model.classifier._encoder()
    t0 = time.perf_counter()
    encoder.encode(sentences)
    encode_s = time.perf_counter() - t0
    post_network = {}
    if model._post_classifier is not None:
        band_from = float(model.card["post_classifier"]["band_from"])
        lr = model.classifier.predict_proba(sentences, domain="post")[:, 1]
        t0 = time.perf_counter()
        model._post_classifier.positive_proba(sentences)
        alone_s = time.perf_counter() - t0
        post_network = {"band_from": band_from, "band_share_of_sentences": round(float((lr >= band_from).mean()), 4),
                        "network_alone_sentences_per_s": round(len(sentences) / alone_s, 1),
                        "runtime": model._post_classifier.runtime,
                        "sentence_weight": float(model.card["post_classifier"]["weight"]),
                        "post_reading": model.post_reading}
        if model.post_reading == "whole":
            # The network's share of the posts read whole: the regression on each whole post
            # (sentence embeddings pooled, as served) at or above the whole stage's band.
            from pipeline.checkworthy.post import whole_post_embeddings

            counts = [len(model.sentences(post)) for post in posts]
            pooled = whole_post_embeddings(model.classifier.embed(sentences), [len(s) for s in sentences],
                                           [c for c in counts if c])
            lr_whole = model.classifier.predict_proba([p for p, c in zip(posts, counts) if c], domain="post",
                                                      embeddings=pooled)[:, 1]
            whole_band = float(model.card["post_classifier"]["whole"]["band_from"])
            post_network |= {"whole_band_from": whole_band,
                             "band_share_of_posts": round(float((lr_whole >= whole_band).sum() / len(posts)), 4)}
    return {
        "model": model.label, "backend": backend, "load_s": round(load_s, 2), "quality": quality, "speech": speech,
        "posts": len(posts), "sentences": len(sentences), "scoring": timings, "post_network": post_network,
        "encoder_only_posts_per_s": round(len(posts) / encode_s, 1),
        "encoder_only_sentences_per_s": round(len(sentences) / encode_s, 1),
        "auto_over_encoder_posts_per_s": round(timings[AUTO]["posts_per_s"] / (len(posts) / encode_s), 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets")
    parser.add_argument("--posts", type=int, default=1000)
    parser.add_argument("--models", default="checkworthy", help="comma-separated registry specs")
    parser.add_argument("--backends", default="onnx,torch")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--speed-only", action="store_true", help="skip dev quality and speech timing (the card "
                                                                   "holds dev quality as served)")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: "spec,backend" in this process
    args = parser.parse_args()
    if args.one:
        spec, backend = args.one.split(",")
        print(json.dumps(run_one(spec, backend, args.data, args.posts, with_quality=not args.speed_only)))
        return
    results = []
    for spec in args.models.split(","):
        for backend in args.backends.split(","):
            # One process per model and backend, so peak RSS is that one's alone.
            out = subprocess.run([sys.executable, __file__, "--one", f"{spec},{backend}", "--data", str(args.data),
                                  "--posts", str(args.posts), *(["--speed-only"] if args.speed_only else [])],
                                 capture_output=True, text=True, check=True)
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(json.dumps(results[-1], indent=1), flush=True)
    report = {"cpu_count": os.cpu_count(), "load_average": os.getloadavg(), "results": results}
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
