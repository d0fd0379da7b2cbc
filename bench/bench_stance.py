"""Inference speed of the shipped stance model on this machine, beside the raw forward pass.

    .venv/bin/python bench/bench_stance.py [--pairs 256] [--data ../shared/datasets] [--model stance] [--json]

Variants of the same network (the cross-encoder with its LoRA adapter merged):
- ``pipeline``: ``StanceModel.predict_proba`` as users call it (tokenise, length-sorted batches,
  forward, temperature, softmax);
- ``raw_forward``: the forward pass alone on pre-tokenised, pre-padded batches of the same pairs;
- ``torch-bf16``: the default where the processor multiplies bfloat16 natively (AVX512-BF16, AMX);
- ``onnxruntime``: the default elsewhere, the same network exported to ONNX (fp32);
- ``int8_dynamic``: the pipeline with ``torch.ao.quantization.quantize_dynamic`` on the linear
  layers; its macro-F1 on the same labelled pairs is compared with fp32's.
- ``embedding_fallback``: ``stance-embed`` for reference.

The machine's load average is printed with the figures: the 2 cores are shared, so compare
variants from one run, not across runs.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def bench_pairs(data_dir: Path, n: int):
    from pipeline.stance.data import build_stance_splits, load_labelled_file

    if (data_dir / "fever-dev-pairs").is_dir():
        dev = build_stance_splits(data_dir)["dev"]
        rng = np.random.default_rng(0)
        return [dev[i] for i in rng.choice(len(dev), size=min(n, len(dev)), replace=False)]
    pairs = load_labelled_file(ROOT / "tests" / "data" / "stance_pairs.jsonl")
    return (pairs * (n // len(pairs) + 1))[:n]


def timed(fn, repeat: int = 1, warm_up=None) -> tuple[float, object]:
    (warm_up or fn)()  # the first call allocates and fills caches
    fn_result, best = None, float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn_result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, fn_result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=256)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--model", default="stance", help="stance model: name, name@version or a folder")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import torch

    from pipeline.core.metrics import classification_report
    from pipeline.stance.model import StanceModel

    pairs = bench_pairs(args.data, args.pairs)
    claims = [p.claim for p in pairs]
    passages = [p.evidence for p in pairs]
    gold = [p.label for p in pairs]
    results: dict = {"pairs": len(pairs), "torch_threads": torch.get_num_threads(),
                     "load_average_1min": round(os.getloadavg()[0], 2), "variants": {}}

    def record(name: str, seconds: float, probs=None) -> None:
        entry = {"seconds": round(seconds, 2), "pairs_per_s": round(len(pairs) / seconds, 1)}
        if probs is not None:
            from pipeline.core.types import STANCE_LABELS

            predicted = [STANCE_LABELS[i] for i in np.asarray(probs).argmax(axis=1)]
            entry["macro_f1"] = classification_report(gold, predicted)["macro_f1"]
        results["variants"][name] = entry

    model = StanceModel(args.model, batch_size=args.batch_size, quantize=False, backend="torch")
    model.warm_up()
    results["model"] = model.tag
    if model.tag["kind"] == "cross-encoder":
        seconds, probs = timed(lambda: model.predict_proba(claims, passages),
                               warm_up=lambda: model.predict_proba(claims[:32], passages[:32]))
        record("pipeline_fp32", seconds, probs)

        # The default runtime ("auto": bfloat16 where the processor has it), then the other one.
        from pipeline.stance.backends import settled_backend

        default = settled_backend("auto")
        for backend in dict.fromkeys((default, "onnx", "bf16")):
            runtime = StanceModel(args.model, batch_size=args.batch_size, backend=backend)
            seconds, probs = timed(partial(runtime.predict_proba, claims, passages),
                                   warm_up=partial(runtime.predict_proba, claims[:32], passages[:32]))
            record(f"pipeline_{runtime.runtime}" + ("_default" if backend == default else ""), seconds, probs)

        net, tokenizer = model._net, model._tokenizer
        max_length = int(model._config["max_length"])
        order = np.argsort([len(c) + len(p) for c, p in zip(claims, passages)])
        batches = []
        for lo in range(0, len(order), args.batch_size):
            idx = order[lo:lo + args.batch_size]
            batches.append(tokenizer([claims[i] for i in idx], [passages[i] for i in idx], truncation="only_second",
                                     max_length=max_length, padding=True, return_tensors="pt"))

        def raw_forward():
            with torch.inference_mode():
                for batch in batches:
                    net(**batch)

        seconds, _ = timed(raw_forward, warm_up=lambda: None)
        record("raw_forward_fp32", seconds)

        quantised = StanceModel(args.model, batch_size=args.batch_size, quantize=True)
        quantised.warm_up()
        seconds, probs = timed(lambda: quantised.predict_proba(claims, passages),
                               warm_up=lambda: quantised.predict_proba(claims[:32], passages[:32]))
        record("pipeline_int8_dynamic", seconds, probs)
        qnet = quantised._net

        def raw_forward_int8():
            with torch.inference_mode():
                for batch in batches:
                    qnet(**batch)

        seconds, _ = timed(raw_forward_int8, warm_up=lambda: None)
        record("raw_forward_int8_dynamic", seconds)

    fallback = StanceModel("stance-embed", batch_size=args.batch_size)
    try:
        fallback.warm_up()
        seconds, probs = timed(lambda: fallback.predict_proba(claims, passages),
                               warm_up=lambda: fallback.predict_proba(claims[:32], passages[:32]))
        record("embedding_fallback", seconds, probs)
    except Exception as exc:  # the fallback is optional for this benchmark
        results["variants"]["embedding_fallback"] = {"error": str(exc)}

    import psutil

    results["peak_rss_mb"] = round(psutil.Process().memory_info().rss / 2**20)
    results["load_average_1min_after"] = round(os.getloadavg()[0], 2)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"{results['pairs']} pairs, torch threads {results['torch_threads']}, load average "
          f"{results['load_average_1min']} → {results['load_average_1min_after']}, model {results['model']}")
    for name, entry in results["variants"].items():
        print(f"  {name:28s} " + "  ".join(f"{k} {v}" for k, v in entry.items()))


if __name__ == "__main__":
    main()
