"""Benchmark for `claimsift score` (a command, not a test).

On the CheckThat! 2022 tweet objects (4,520 posts) against the seed corpus store:

1. raw encoder throughput: the same post texts embedded with the same model and backend
   (MiniLM, batch 64), posts/s: the ceiling any scoring of these posts could approach;
2. the local engine: posts/s (model loading excluded and reported apart, as ``load_s``) and peak RSS;
   ``load_s`` holds every model ``ModelScorer.warm_up`` loads, the check-worthiness networks among
   them since they load there (before, the first chunk loaded them inside ``score_s``: 2-5 s with
   checkworthy@v6's two mpnet networks on a busy 2-core machine);
3. the Dask engine on a 2-worker LocalCluster: posts/s including the cluster start and the
   per-worker model load (that is what a user waits for), and peak RSS of the whole process
   tree (driver, nannies, workers);
4. with ``--memory``: the job's own machinery (read, chunk, checkpoint, assemble) on 10,000
   and 100,000 posts (the tweets repeated) with a scorer that finds nothing, peak RSS each.

Each measurement runs in its own process; peak RSS is the peak of the sum over the process tree,
sampled every 50 ms. Results go to bench/results/score.json.

    .venv/bin/python bench/bench_score.py                 # all 4,520 tweets (minutes on 2 cores)
    .venv/bin/python bench/bench_score.py --limit 1000    # a subset: say so when you report it
    .venv/bin/python bench/bench_score.py --limit 1000 --engines local --stance-backends onnx,onnx-int8
                                                          # stance runtimes side by side, one encoder run
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TWEETS = ROOT.parent / "shared" / "datasets" / "checkthat2022-task1-tweets" / "CT22_english_tweet_objects.jsonl.gz"
RESULTS = ROOT / "bench" / "results" / "score.json"


class EmptyScorer:
    """Finds no claim: what the job costs without any model."""

    def fingerprint(self) -> dict:
        return {"scorer": "EmptyScorer"}

    def warm_up(self) -> None:
        pass

    def score_posts(self, texts):
        return [{"checkworthiness": 0.0, "claims": []} for _ in texts]


# -- children: one measurement each ------------------------------------------------------------------
def child_encoder(args: argparse.Namespace) -> dict:
    from pipeline.registry.embedding import Encoder
    from pipeline.scoring.posts import PostReader

    texts = [r.text for r in PostReader(args.input) if r.accepted]
    encoder = Encoder(args.encoder_backend)
    started = time.perf_counter()
    encoder.warm_up()
    loaded = time.perf_counter()
    encoder.encode(texts)
    done = time.perf_counter()
    return {"posts": len(texts), "load_s": round(loaded - started, 2), "encode_s": round(done - loaded, 2),
            "posts_per_s": round(len(texts) / (done - loaded), 1)}


def child_score(args: argparse.Namespace) -> dict:
    from pipeline.scoring.models import ModelScorer
    from pipeline.scoring.scorer import score_file

    scorer = EmptyScorer() if args.empty else ModelScorer(args.store, encoder_backend=args.encoder_backend,
                                                          models_dir=args.models_dir,
                                                          stance_backend=args.stance_backend)
    load_s = 0.0
    if args.engine == "local":
        started = time.perf_counter()
        scorer.warm_up()  # apart: the steady rate is what a long job sees
        load_s = time.perf_counter() - started
    started = time.perf_counter()
    summary = score_file(args.input, args.out, scorer, engine=args.engine, workers=args.workers,
                         chunk_size=args.batch_size, progress=False)
    seconds = time.perf_counter() - started
    return {"engine": args.engine, "workers": args.workers if args.engine == "dask" else 1,
            "read": summary.read, "scored": summary.scored, "rejected": summary.rejected, "claims": summary.claims,
            "verdicts": summary.verdicts, "load_s": round(load_s, 2), "score_s": round(seconds, 2),
            "posts_per_s": round(summary.scored / seconds, 2), "scorer": scorer.fingerprint()}


# -- the parent --------------------------------------------------------------------------------------
def run_child(argv: list[str]) -> dict:
    """Run one measurement; return its JSON line plus the peak RSS of its process tree."""
    import psutil

    process = subprocess.Popen([sys.executable, __file__, *argv], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True,
                               env=os.environ | {"PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"})
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        root = psutil.Process(process.pid)
        while not stop.is_set():
            try:
                tree = [root] + root.children(recursive=True)
                total = 0
                for p in tree:
                    try:
                        total += p.memory_info().rss
                    except psutil.Error:
                        pass
                peak = max(peak, total)
            except psutil.Error:
                break
            stop.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = process.communicate()
    stop.set()
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"measurement {argv} failed:\n{err[-3000:]}")
    result = json.loads(out.strip().splitlines()[-1])
    result["peak_rss_mb"] = round(peak / 2**20, 1)
    return result


def subset(source: Path, limit: int | None, folder: Path) -> Path:
    if not limit:
        return source
    target = folder / f"tweets_{limit}.jsonl"
    with gzip.open(source, "rt", encoding="utf-8") as handle, open(target, "w", encoding="utf-8") as out:
        for i, line in enumerate(handle):
            if i == limit:
                break
            out.write(line)
    return target


def repeated(source: Path, n: int, folder: Path) -> Path:
    """n posts made by cycling the tweet texts (ids made unique)."""
    from pipeline.scoring.posts import PostReader

    texts = [r.text for r in PostReader(source) if r.accepted]
    target = folder / f"posts_{n}.jsonl"
    with open(target, "w", encoding="utf-8") as out:
        for i in range(n):
            out.write(json.dumps({"id": str(i), "text": texts[i % len(texts)]}) + "\n")
    return target


def ensure_store(store: Path | None, folder: Path) -> Path:
    if store is not None and store.exists():
        return store
    from pipeline.corpus.ingest import ingest
    from pipeline.retrieval.index import update_index

    target = store or folder / "seed-store"
    ingest([ROOT / "seeds"], target)
    update_index(target)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", nargs="?", default="bench", choices=["bench", "_encoder", "_score"])
    parser.add_argument("--input", type=Path, default=TWEETS)
    parser.add_argument("--store", type=Path, default=None, help="seed store (default: built in a temp dir)")
    parser.add_argument("--models-dir", type=Path, default=None, help="model registry (default: models/)")
    parser.add_argument("--limit", type=int, default=None, help="first N tweets only")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--encoder-backend", default="onnx")
    parser.add_argument("--stance-backend", default="auto", help="auto, bf16, onnx, onnx-int8 or torch")
    parser.add_argument("--stance-backends", default=None,
                        help="several, comma-separated, measured one after the other against the same encoder "
                             "run (results keyed ENGINE:BACKEND)")
    parser.add_argument("--engines", default="local,dask")
    parser.add_argument("--memory", action="store_true", help="also the 10k / 100k streaming measurement")
    parser.add_argument("--engine", default="local")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--empty", action="store_true")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()

    if args.mode == "_encoder":
        print(json.dumps(child_encoder(args)))
        return
    if args.mode == "_score":
        print(json.dumps(child_score(args)))
        return

    results: dict = {"input": str(args.input), "limit": args.limit, "encoder_backend": args.encoder_backend,
                     "batch_size": args.batch_size, "cpu_count": os.cpu_count(),
                     "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        posts = subset(args.input, args.limit, folder)
        store = ensure_store(args.store, folder)
        common = ["--input", str(posts), "--store", str(store), "--encoder-backend", args.encoder_backend,
                  "--batch-size", str(args.batch_size), "--workers", str(args.workers)]
        if args.models_dir:
            common += ["--models-dir", str(args.models_dir)]
        results["encoder"] = run_child(["_encoder", *common])
        print("encoder", results["encoder"], flush=True)
        backends = (args.stance_backends or args.stance_backend).split(",")
        for engine in [e for e in args.engines.split(",") if e]:
            for backend in backends:
                key = engine if len(backends) == 1 else f"{engine}:{backend}"
                measured = run_child(["_score", *common, "--engine", engine, "--stance-backend", backend,
                                      "--out", str(folder / f"{key}.parquet")])
                measured["ratio_to_encoder"] = round(measured["posts_per_s"] / results["encoder"]["posts_per_s"], 3)
                results[key] = measured
                print(key, measured, flush=True)
        if {"local", "dask"} <= set(results):
            import pyarrow.parquet as pq

            same = pq.read_table(folder / "local.parquet").equals(pq.read_table(folder / "dask.parquet"))
            results["dask_output_equals_local"] = bool(same)
        if args.memory:
            results["memory"] = {}
            for n in (10_000, 100_000):
                source = repeated(args.input, n, folder)
                measured = run_child(["_score", "--input", str(source), "--empty", "--engine", "local",
                                      "--out", str(folder / f"mem{n}.parquet"), "--batch-size", str(args.batch_size)])
                results["memory"][str(n)] = measured
                print("memory", n, measured, flush=True)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
