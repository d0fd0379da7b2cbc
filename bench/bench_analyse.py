"""Analysis throughput: the project's pipeline beside raw ``nlp.pipe`` of the same model.

The seed corpus (NFKC-normalised, as ingested) is repeated until it holds ``--mb`` megabytes of
text. Each variant runs in its own child process, so each peak RSS is its own:

- ``raw``: ``spacy.load(model, exclude=["lemmatizer"])`` and ``nlp.pipe`` — the baseline;
- ``claimsift``: :class:`pipeline.corpus.nlp.Analyser` — the same model and exclusions plus the
  project's tokenizer tweak, layout sentence starts and quote finder, and the conversion of
  every Doc to sentences/entities/quotes dataclasses (what ingestion stores);

each with ``n_process`` 1 and 2. Usage::

    nice .venv/bin/python bench/bench_analyse.py            # 5 MB, n_process 1 and 2
    nice .venv/bin/python bench/bench_analyse.py --mb 0.5   # a quick look

Prints a table and writes ``bench/results/bench_analyse.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def corpus(megabytes: float) -> list[str]:
    from pipeline.corpus.readers import normalise

    seeds = [normalise(p.read_text(encoding="utf-8")) for p in sorted((ROOT / "seeds").glob("*.txt"))]
    texts: list[str] = []
    size = 0
    while size < megabytes * 1_000_000:
        for text in seeds:
            texts.append(text)
            size += len(text.encode("utf-8"))
    return texts


def peak_rss_mb() -> float:
    """Peak RSS of the largest single process (this one or a worker)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round(max(own, children) / 1024, 1)  # ru_maxrss is in KiB on Linux


def cpu_seconds() -> float:
    """CPU time of this process and its finished workers: on a shared machine it measures the
    work done far more steadily than the wall clock does."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class TotalRss:
    """Samples the summed RSS of this process and its workers (n_process > 1 starts some)."""

    def __init__(self, every_s: float = 0.5) -> None:
        import threading

        import psutil

        self.peak = 0
        self._process = psutil.Process()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(every_s,), daemon=True)
        self._thread.start()

    def _run(self, every_s: float) -> None:
        while not self._stop.wait(every_s):
            total = 0
            for process in [self._process, *self._process.children(recursive=True)]:
                try:
                    total += process.memory_info().rss
                except Exception:  # a worker that just exited
                    pass
            self.peak = max(self.peak, total)

    def stop_mb(self) -> float:
        self._stop.set()
        self._thread.join()
        return round(self.peak / 2**20, 1)


def run_variant(variant: str, megabytes: float, n_process: int, batch_size: int) -> dict:
    texts = corpus(megabytes)
    characters = sum(len(t) for t in texts)
    sampler = TotalRss()
    cpu_started = cpu_seconds()
    started = time.perf_counter()
    tokens = 0
    if variant == "raw":
        import spacy

        from pipeline.corpus.nlp import DEFAULT_MODEL, EXCLUDED_PIPES

        nlp = spacy.load(DEFAULT_MODEL, exclude=list(EXCLUDED_PIPES))
        nlp.max_length = 2_000_000
        loaded = time.perf_counter()
        for doc in nlp.pipe(texts, batch_size=batch_size, n_process=n_process):
            tokens += len(doc)
        extra = {}
    else:
        from pipeline.core.types import Document
        from pipeline.corpus.nlp import Analyser

        analyser = Analyser(batch_size=batch_size, n_process=n_process)
        analyser.warm_up()
        loaded = time.perf_counter()
        documents = (Document(doc_id=str(i), text=t, name=str(i)) for i, t in enumerate(texts))
        sentences = quotes = 0
        for analysed in analyser.analyse_many(documents):
            sentences += len(analysed.sentences)
            quotes += len(analysed.quotes)
            tokens += 0  # counted below from the raw tokenizer, which both variants share
        extra = {"sentences": sentences, "quotes": quotes}
    finished = time.perf_counter()
    cpu = cpu_seconds() - cpu_started
    total_peak = sampler.stop_mb()
    if variant != "raw":
        import spacy

        from pipeline.corpus.quotes import split_glued_marks

        tokenizer = spacy.blank("en")
        split_glued_marks(tokenizer)
        tokens = sum(len(tokenizer.make_doc(t)) for t in texts)
    seconds = finished - loaded
    return {"variant": variant, "n_process": n_process, "batch_size": batch_size, "documents": len(texts),
            "characters": characters, "tokens": tokens, "load_s": round(loaded - started, 2),
            "seconds": round(seconds, 2), "docs_per_s": round(len(texts) / seconds, 2),
            "tokens_per_s": round(tokens / seconds), "cpu_s": round(cpu, 2), "peak_rss_mb": peak_rss_mb(),
            "peak_total_rss_mb": total_peak, **extra}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=float, default=5.0, help="megabytes of text (default 5)")
    parser.add_argument("--n-process", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--variant", choices=["raw", "claimsift"], help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "bench_analyse.json")
    args = parser.parse_args()
    if args.variant:  # child process: one measurement, JSON on stdout
        print(json.dumps(run_variant(args.variant, args.mb, args.n_process[0], args.batch_size)))
        return
    results = []
    for n_process in args.n_process:
        for variant in ("raw", "claimsift"):
            command = [sys.executable, __file__, "--variant", variant, "--mb", str(args.mb),
                       "--n-process", str(n_process), "--batch-size", str(args.batch_size)]
            output = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT)
            result = json.loads(output.stdout.strip().splitlines()[-1])
            results.append(result)
            print(f"{variant:9s} n_process={n_process}: {result['docs_per_s']:7.2f} docs/s "
                  f"{result['tokens_per_s']:8d} tokens/s  {result['seconds']:7.1f} s  "
                  f"peak RSS {result['peak_rss_mb']:7.1f} MB (all processes {result['peak_total_rss_mb']:7.1f} MB)",
                  flush=True)
    overhead = {}
    for n_process in args.n_process:
        raw = next(r for r in results if r["variant"] == "raw" and r["n_process"] == n_process)
        ours = next(r for r in results if r["variant"] == "claimsift" and r["n_process"] == n_process)
        overhead[str(n_process)] = {"wall": round(ours["seconds"] / raw["seconds"] - 1, 3),
                                    "cpu": round(ours["cpu_s"] / raw["cpu_s"] - 1, 3)}
        print(f"n_process={n_process}: claimsift costs {overhead[str(n_process)]['wall']:+.1%} wall time, "
              f"{overhead[str(n_process)]['cpu']:+.1%} CPU time over raw nlp.pipe")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version()}, "megabytes": args.mb,
               "results": results, "overhead_vs_raw": overhead}
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=2))
    os.replace(tmp, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
