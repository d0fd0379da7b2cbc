"""Review desk queue pages on a million scored posts: p50 / p95 per kind of query.

Writes ``--rows`` synthetic scored posts (the schema of ``pipeline.scoring.output.output_schema``: 0-3
claims per post, 2-4 evidence passages per claim, verdicts, confidences, sources and dates drawn
at random with a fixed seed) to a Parquet file, lets the desk flatten it once (timed apart: a
one-off per file), then requests queue pages through the app itself (Starlette's test client:
routing, middleware, DuckDB queries and the Jinja2 page, no network), each kind of query
``--repeats`` times with pages spread over the queue (text: a rare word, in ~0.05% of the claims,
and two common words, each in over half of them: the worst case), and reports wall-clock p50 / p95 per kind
and over all. Usage::

    nice .venv/bin/python bench/bench_review_queue.py                 # 1,000,000 posts
    nice .venv/bin/python bench/bench_review_queue.py --rows 100000   # a quick look

Prints a table and writes ``bench/results/review_queue.json``. The synthetic file is kept in
``--work`` (default: a temporary folder, removed afterwards).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

VERDICTS = ["SUPPORTED", "REFUTED", "NOT_ENOUGH_INFO", "CONFLICTING"]
STANCES = ["SUPPORTS", "REFUTES", "NOT_ENOUGH_INFO"]
WORDS = ("nato spending budget defence minister rutte summit alliance treaty members percent gdp troops "
         "election president ukraine russia poland estonia germany france report claim official vote law "
         "tax health vaccine climate energy price inflation border court police school").split()


RARE_WORDS = 20_000  # w00000 … w19999: each in about 0.05% of the claims, as a name or a topic word would be


def _word(rng: random.Random) -> str:
    return f"w{rng.randrange(RARE_WORDS):05d}" if rng.random() < 0.3 else rng.choice(WORDS)


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(_word(rng) for _ in range(n)).capitalize() + "."


def write_synthetic(path: Path, rows: int, seed: int = 7, chunk: int = 50_000) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipeline.scoring.output import output_schema

    rng = random.Random(seed)
    sources = [f"source-{i:03d}" for i in range(200)]
    schema = output_schema()
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for lo in range(0, rows, chunk):
            batch = []
            for line in range(lo + 1, min(lo + chunk, rows) + 1):
                text = _sentence(rng, rng.randint(8, 30))
                claims = []
                for _ in range(rng.choice((0, 1, 1, 1, 2, 3))):
                    verdict = rng.choice(VERDICTS)
                    evidence = [{"doc_id": f"{rng.getrandbits(64):016x}", "source": rng.choice(sources),
                                 "title": _sentence(rng, 6), "published": f"20{rng.randint(15, 25)}-{rng.randint(1, 12):02d}-"
                                 f"{rng.randint(1, 28):02d}", "sentence": _sentence(rng, rng.randint(8, 25)),
                                 "start": 0, "end": 100, "stance": rng.choice(STANCES), "p_supports": rng.random(),
                                 "p_refutes": rng.random(), "p_not_enough_info": rng.random(), "score": rng.random(),
                                 "decisive": rng.random() < 0.3} for _ in range(rng.randint(2, 4))]
                    claims.append({"text": _sentence(rng, rng.randint(6, 18)), "start": 0, "end": 10,
                                   "checkworthiness": round(rng.random(), 4), "verdict": verdict,
                                   "confidence": round(rng.random(), 4), "skipped": None, "evidence": evidence,
                                   "fact_checks": []})
                batch.append({"post_id": f"p{line}", "line": line, "text": text,
                              "checkworthiness": round(rng.random(), 4), "n_claims": len(claims), "claims": claims})
            writer.write_table(pa.Table.from_pylist(batch, schema=schema))


def queries(pages: int, rng: random.Random) -> dict[str, list[str]]:
    """Kinds of queue request -> URLs (pages spread over what each filter leaves)."""
    def spread(base: str, last: int) -> list[str]:
        return [f"{base}{'&' if '?' in base else '?'}page={rng.randint(1, max(1, last))}" for _ in range(1)]

    return {
        "first page": ["/queue"],
        "deep page": spread("/queue", pages),
        "verdict": ["/queue?verdict=REFUTED"],
        "confidence": ["/queue?min_conf=0.9&max_conf=1"],
        "evidence date": ["/queue?from=2024-01-01&to=2024-06-30"],
        "source": ["/queue?source=source-042"],
        "rare word": [f"/queue?q=w{rng.randrange(RARE_WORDS):05d}"],
        "common words": ["/queue?q=vaccine+border"],
        "all filters": ["/queue?verdict=SUPPORTED&min_conf=0.5&from=2020-01-01&source=source-007&q=tax"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "review_queue.json")
    args = parser.parse_args()

    from starlette.testclient import TestClient

    from pipeline.review.app import ReviewConfig, create_app
    from pipeline.review.scores import ScoresTable

    work = args.work or Path(tempfile.mkdtemp(prefix="review-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    scores = work / f"scores_{args.rows}.parquet"
    try:
        started = time.perf_counter()
        if not scores.is_file():
            write_synthetic(scores, args.rows)
        generate_s = time.perf_counter() - started
        started = time.perf_counter()
        table = ScoresTable(scores).prepare()
        flatten_s = time.perf_counter() - started
        claims = table.facets().claims
        print(f"{args.rows:,} posts, {claims:,} claims; {scores.stat().st_size / 1e6:.0f} MB scores, "
              f"{table.claims_path.stat().st_size / 1e6:.0f} MB claims table; flattened once in {flatten_s:.1f} s",
              flush=True)

        config = ReviewConfig(store=work / "no-store", scores=scores, labels_dir=work / "labels")
        client = TestClient(create_app(config), base_url="http://127.0.0.1:8000")
        client.get("/queue")  # the first request builds the facets (once per file)
        rng = random.Random(11)
        pages = -(-claims // config.page_size)
        timings: dict[str, list[float]] = {}
        for _ in range(args.repeats):
            for kind, urls in queries(pages, rng).items():
                for url in urls:
                    t0 = time.perf_counter()
                    response = client.get(url)
                    timings.setdefault(kind, []).append((time.perf_counter() - t0) * 1000)
                    if response.status_code != 200:
                        raise RuntimeError(f"{url}: HTTP {response.status_code}")

        def summary(values: list[float]) -> dict:
            ordered = sorted(values)
            return {"n": len(values), "p50_ms": round(statistics.median(ordered), 1),
                    "p95_ms": round(ordered[max(0, int(round(0.95 * len(ordered))) - 1)], 1),
                    "max_ms": round(ordered[-1], 1)}

        per_kind = {kind: summary(values) for kind, values in timings.items()}
        overall = summary([v for values in timings.values() for v in values])
        print(f"{'query':<16}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}")
        for kind, row in per_kind.items():
            print(f"{kind:<16}{row['p50_ms']:>9}{row['p95_ms']:>9}{row['max_ms']:>9}")
        print(f"{'all':<16}{overall['p50_ms']:>9}{overall['p95_ms']:>9}{overall['max_ms']:>9}")
        result = {
            "benchmark": "review desk queue pages (HTTP through the app, DuckDB over the flattened claims table)",
            "rows": args.rows, "claims": claims, "page_size": config.page_size, "repeats": args.repeats,
            "scores_mb": round(scores.stat().st_size / 1e6, 1),
            "claims_table_mb": round(table.claims_path.stat().st_size / 1e6, 1),
            "generate_s": round(generate_s, 1), "flatten_once_s": round(flatten_s, 1),
            "per_query": per_kind, "overall": overall, "target_p95_ms": 300,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                        "load_average_1_5_15": [round(x, 1) for x in os.getloadavg()]},
            "command": "nice .venv/bin/python bench/bench_review_queue.py" + (
                f" --rows {args.rows}" if args.rows != 1_000_000 else ""),
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"written {args.out}")
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
