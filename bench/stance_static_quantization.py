"""Static int8 quantization of the stance cross-encoder's ONNX export (fixed activation ranges,
calibrated once on training pairs), against float32 and the dynamic int8 of ``onnx-int8``: pairs/s,
how much a pair's probabilities move with its batch, dev accuracy and agreement with float32.
An experiment (docs/experiments.md#stance-with-int8-weights-opt-in), not a shipped path.

    python bench/stance_static_quantization.py [--calibration Percentile|MinMax|Entropy] [--all-ops]

Default: only the MatMul/Gemm nodes with a weight are quantized (the two attention products of
each layer, activation by activation, are left in float32), Percentile 99.99 calibration over 512
training pairs; evaluated on 512 dev pairs (``pipeline.stance.data.build_stance_splits``).
"""
from __future__ import annotations

import argparse
import logging
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.stance.backends import MINILM, base_model_path, load_onnx_cross_encoder, onnx_export_path, softmax  # noqa: E402
from pipeline.stance.data import build_stance_splits  # noqa: E402
from pipeline.stance.model import StanceModel  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="stance@v5")
    parser.add_argument("--calibration", default="Percentile")
    parser.add_argument("--all-ops", action="store_true", help="quantize every op type ORT can, not only weight MatMuls")
    parser.add_argument("--datasets", type=Path, default=ROOT.parent / "shared" / "datasets")
    args = parser.parse_args()

    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from transformers import AutoTokenizer

    logging.getLogger().setLevel(logging.ERROR)
    model = StanceModel(args.model, backend="onnx")
    model.warm_up()
    ref = model._ref
    assert ref is not None
    config = model._config
    load_onnx_cross_encoder(ref.path, config, int8=True)  # both exports in the cache
    source = onnx_export_path(ref.path, config)
    dynamic = source.with_name(source.name.removesuffix(".onnx") + ".int8.onnx")
    tokenizer = AutoTokenizer.from_pretrained(base_model_path(config.get("base_model", MINILM)))
    splits = build_stance_splits(args.datasets)
    rng = random.Random(0)
    calibration, dev = rng.sample(splits["train"], 512), rng.sample(splits["dev"], 512)
    max_length = int(config["max_length"])

    def feeds(pairs):
        encoded = tokenizer([p.claim for p in pairs], [p.evidence for p in pairs], truncation=True,
                            max_length=max_length, padding=True, return_tensors="np")
        return {k: encoded[k].astype(np.int64) for k in ("input_ids", "attention_mask", "token_type_ids")
                if k in encoded}

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter([feeds(calibration[i:i + 32]) for i in range(0, len(calibration), 32)])

        def get_next(self):
            return next(self.batches, None)

    graph = onnx.load(str(source)).graph
    weights = {i.name for i in graph.initializer}
    options: dict = {"quant_format": QuantFormat.QDQ, "per_channel": True, "weight_type": QuantType.QInt8,
                     "activation_type": QuantType.QUInt8,
                     "calibrate_method": getattr(CalibrationMethod, args.calibration),
                     "extra_options": {"ActivationSymmetric": False, "CalibPercentile": 99.99}}
    if not args.all_ops:
        options["op_types_to_quantize"] = ["MatMul", "Gemm"]
        options["nodes_to_exclude"] = [n.name for n in graph.node
                                       if n.op_type == "MatMul" and not any(x in weights for x in n.input)]
    with tempfile.TemporaryDirectory() as tmp:
        static = Path(tmp) / "static.onnx"
        started = time.perf_counter()
        quantize_static(str(source), str(static), Reader(), **options)
        print(f"quantized in {time.perf_counter() - started:.0f}s")
        gold = np.array([["SUPPORTS", "REFUTES", "NOT_ENOUGH_INFO"].index(p.label) for p in dev])
        batches = [feeds(dev[i:i + 32]) for i in range(0, len(dev), 32)]
        reference = None
        for name, path in (("float32", source), ("dynamic int8", dynamic), ("static int8", static)):
            session_options = ort.SessionOptions()
            session_options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            session = ort.InferenceSession(str(path), session_options, providers=["CPUExecutionProvider"])
            session.run(None, batches[0])
            started = time.perf_counter()
            logits = np.concatenate([session.run(None, b)[0] for b in batches])
            seconds = time.perf_counter() - started
            alone = np.concatenate([session.run(None, feeds([p]))[0] for p in dev[:32]])
            probs = softmax(logits / model.temperature)
            moved = np.abs(probs[:32] - softmax(alone / model.temperature)).max()
            reference = probs if reference is None else reference
            print(f"{name:13s} {len(dev) / seconds:6.1f} pairs/s  batch moves a pair by {moved:.4f}  "
                  f"dev accuracy {(probs.argmax(1) == gold).mean():.4f}  same label as float32 "
                  f"{(probs.argmax(1) == reference.argmax(1)).mean():.4f}", flush=True)


if __name__ == "__main__":
    main()
