"""Benchmark: match one post at a time against the 10,375 CheckThat! 2020 verified claims.

    .venv/bin/python bench/bench_matching.py [--backend onnx|torch] [--store /tmp/ct-store]
        [--datasets ../shared/datasets] [--out bench/results/matching.json]

Builds (or re-uses) a store holding the verified claims as fact-check records, warms the
matcher up, then times ``FactCheckMatcher.match`` on each of the 197 dev tweets, one by one
(the ``check`` path), and ``match_many`` over all of them (the batch path). Reports p50/p95
latency, throughput, warm-up and index build times, peak RSS, and the dev MAP@5 of the same run.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=Path, default=ROOT.parent / "shared" / "datasets")
    parser.add_argument("--store", type=Path, default=Path("/tmp/claimsift-bench-matching/store"))
    parser.add_argument("--backend", default="onnx", choices=("onnx", "torch"))
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    from pipeline.core.metrics import ranking_metrics
    from pipeline.corpus.factchecks import load_fact_checks, write_fact_checks
    from pipeline.factchecks.index import build_store_index
    from pipeline.factchecks.matcher import FactCheckMatcher
    from pipeline.factchecks.training import checkthat_queries, checkthat_records

    result: dict = {"backend": args.backend, "cpu_count": os.cpu_count(), "k": args.k}
    records = checkthat_records(args.datasets)
    if len(load_fact_checks(args.store)) != len(records):
        write_fact_checks(records, args.store)
    started = time.perf_counter()
    # The index is per encoder model (both backends share a tag), so force a build to time it.
    from pipeline.registry.embedding import Encoder

    build_store_index(args.store, encoder=Encoder(backend=args.backend))
    result["index_build_s"] = round(time.perf_counter() - started, 2)

    matcher = FactCheckMatcher(args.store, backend=args.backend)
    started = time.perf_counter()
    matcher.warm_up()
    matcher.match("warm-up post", args.k)
    result["warm_up_s"] = round(time.perf_counter() - started, 2)
    result["records"] = len(matcher)

    dev = checkthat_queries(args.datasets, "dev")
    latencies, cpu, rankings = [], [], []
    result["load_average_before"] = [round(x, 2) for x in os.getloadavg()]
    for q in dev:
        started, started_cpu = time.perf_counter(), time.process_time()
        matches = matcher.match(q["query"], args.k)
        latencies.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
        rankings.append([m.id for m in matches])

    def summary(values: list[float]) -> dict:
        values = sorted(values)
        return {"p50": round(statistics.median(values), 2), "p95": round(values[int(0.95 * (len(values) - 1))], 2),
                "max": round(values[-1], 2), "n": len(values)}

    # Wall time depends on what else runs on the machine; CPU time (all threads of this process)
    # is what one match costs, and bounds the wall time on an otherwise idle machine.
    result["single_ms"] = summary(latencies)
    result["single_cpu_ms"] = summary(cpu)
    result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    started = time.perf_counter()
    matcher.match_many([q["query"] for q in dev], args.k)
    batch_s = time.perf_counter() - started
    result["batch_posts_per_s"] = round(len(dev) / batch_s, 1)
    metrics = ranking_metrics(rankings, [q["relevant"] for q in dev], ks=(1, 5, 10))
    result["dev"] = {k: metrics[k] for k in ("map@1", "map@5", "mrr", "recall@10")}
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
