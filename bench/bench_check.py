"""Benchmark for `check` and the evidence index (a command, not a test).

1. Seed corpus: index build throughput beside the raw encoder throughput on the same sentences
   in the same run; `check` latency p50/p95 per claim after warm-up (stance included).
2. Synthetic corpus of N sentences (default 1,000,000) built from ../shared/datasets text:
   retrieval latency (dense + BM25 + fusion) p50/p95, build time and peak RSS.
   Embedding a million sentences would take over an hour on 2 cores, so the synthetic corpus
   embeds --real unique dataset sentences and makes the rest as normalised mixtures of two real
   vectors (texts concatenated to match): the index sees realistic vector statistics and sizes.

    .venv/bin/python bench/bench_check.py --datasets ../shared/datasets --sentences 1000000
Writes bench/results/check.json.
"""
from __future__ import annotations

import argparse
import csv
import json
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentiles(values: list[float]) -> dict:
    arr = np.array(values) * 1000
    return {"p50_ms": round(float(np.percentile(arr, 50)), 1), "p95_ms": round(float(np.percentile(arr, 95)), 1),
            "n": len(values)}


def dataset_sentences(datasets: Path, limit: int) -> list[str]:
    texts: list[str] = []
    with open(datasets / "fever-dev-pairs" / "dev_pairs.derived.jsonl") as handle:
        for line in handle:
            obj = json.loads(line)
            texts += [obj["claim"], obj["evidence"]]
    for obj in json.loads((datasets / "claimbuster-2class" / "train.json").read_text()):
        texts.append(obj["text"])
    with open(datasets / "checkthat2020-task2-claim-retrieval" / "verified_claims.docs.tsv") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            texts += [row["vclaim"], row["title"]]
    for path in sorted((datasets / "checkthat2020-task5-debates" / "train").glob("*.tsv")):
        for line in path.read_text(errors="replace").splitlines():
            parts = line.split("\t")
            if len(parts) >= 3:
                texts.append(parts[2])
    unique = list(dict.fromkeys(t.strip() for t in texts if t and len(t.strip()) > 20))
    return unique[:limit]


def bench_seed(results: dict) -> None:
    from pipeline.corpus.ingest import ingest
    from pipeline.corpus.store import Corpus
    from pipeline.evaluation.claims import read_labelled_claims
    from pipeline.registry.embedding import Encoder
    from pipeline.retrieval.index import update_index
    from pipeline.verdict.checker import Checker

    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "store"
        ingest([ROOT / "seeds"], store)
        texts = Corpus(store).sentences()["text"].tolist()
        encoder = Encoder()
        encoder.warm_up()
        encoder.encode(texts[:64])
        started = time.perf_counter()
        encoder.encode(texts)
        raw = len(texts) / (time.perf_counter() - started)
        update = update_index(store, encoder, rebuild=True)
        results["seed_index"] = {"sentences": len(texts), "raw_encoder_sentences_per_s": round(raw, 1),
                                 "index_build_sentences_per_s": round(update.total / update.seconds, 1)}
        claims = [r.claim for r in read_labelled_claims(ROOT / "tests" / "data" / "seed_claims.jsonl")]
        from pipeline.stance.rerank import Reranker

        # As shipped (the stance model reads the passages that vote, the screen model the rest),
        # then with the stance model reading every passage, then with the second-stage ranker.
        for key, options in (("check_latency_seed", {}), ("check_latency_seed_no_screen", {"screen_stance_spec": None}),
                             ("check_latency_seed_rerank", {"reranker": Reranker()})):
            checker = Checker(store, **options)
            started = time.perf_counter()
            checker.warm_up()
            checker.check(claims[0])
            warm = time.perf_counter() - started
            latencies = []
            for claim in claims:
                t0 = time.perf_counter()
                checker.check(claim)
                latencies.append(time.perf_counter() - t0)
            results[key] = {**percentiles(latencies), "warm_up_s": round(warm, 1), "peak_rss_mb": round(peak_rss_mb()),
                            "load_average_1m": round(__import__("os").getloadavg()[0], 1),
                            "stance_models": checker.stance_models}
        print(json.dumps(results, indent=2), flush=True)


def bench_synthetic(results: dict, datasets: Path, n_sentences: int, n_real: int, queries: int) -> None:
    from pipeline.registry.embedding import Encoder
    from pipeline.retrieval.index import EvidenceIndex

    real = dataset_sentences(datasets, n_real)
    encoder = Encoder("onnx")
    started = time.perf_counter()
    real_vectors = encoder.encode(real)
    embed_rate = len(real) / (time.perf_counter() - started)
    rng = np.random.default_rng(0)
    n_extra = max(0, n_sentences - len(real))
    a = rng.integers(0, len(real), n_extra)
    b = rng.integers(0, len(real), n_extra)
    mix = real_vectors[a] + 0.6 * real_vectors[b]
    mix /= np.linalg.norm(mix, axis=1, keepdims=True)
    vectors = np.concatenate([real_vectors, mix.astype(np.float32)])
    texts = real + [f"{real[i]} {real[j]}" for i, j in zip(a.tolist(), b.tolist())]
    del mix
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        index = EvidenceIndex.build(Path(tmp) / "v1", np.arange(len(texts)), texts, vectors, encoder.tag)
        build_s = time.perf_counter() - started
        query_texts = [real[i] for i in rng.integers(0, len(real), queries)]
        query_vectors = encoder.encode(query_texts)
        for i in range(5):  # warm-up
            index.search_dense(query_vectors[i:i + 1], 50)
            index.search_lexical(query_texts[i:i + 1], 50)
        total, dense_t, lexical_t = [], [], []
        from pipeline.retrieval.retrieve import rrf

        for q, text in enumerate(query_texts):
            t0 = time.perf_counter()
            _, d_ids = index.search_dense(query_vectors[q:q + 1], 50)
            t1 = time.perf_counter()
            _, l_ids = index.search_lexical([text], 50)
            t2 = time.perf_counter()
            rrf([d_ids[0].tolist(), l_ids[0].tolist()], [1.0, 1.0])
            t3 = time.perf_counter()
            dense_t.append(t1 - t0)
            lexical_t.append(t2 - t1)
            total.append(t3 - t0)
        results["synthetic"] = {
            "sentences": len(texts), "real_embedded": len(real), "encoder_onnx_sentences_per_s": round(embed_rate, 1),
            "faiss": index.manifest["faiss"], "build_s_faiss_plus_bm25": round(build_s, 1),
            "retrieval": percentiles(total), "dense": percentiles(dense_t), "lexical": percentiles(lexical_t),
            "peak_rss_mb": round(peak_rss_mb()),
        }
    print(json.dumps(results, indent=2), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=ROOT.parent / "shared" / "datasets")
    parser.add_argument("--sentences", type=int, default=1_000_000)
    parser.add_argument("--real", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--skip-seed", action="store_true")
    parser.add_argument("--skip-synthetic", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "check.json")
    args = parser.parse_args()
    results: dict = {"machine": {"cpus": __import__("os").cpu_count()}}
    if not args.skip_seed:
        bench_seed(results)
    if not args.skip_synthetic:
        bench_synthetic(results, args.datasets, args.sentences, args.real, args.queries)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
