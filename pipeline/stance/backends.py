"""The stance cross-encoder on disk and in memory: building it (transformer + LoRA adapter + head), loading
its weights (hash-checked safetensors), and the ways to run it (torch float32, native bfloat16,
an ONNX export cached per model hash, and that export with int8 weights)."""
from __future__ import annotations

import os
import sys
import time
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from pipeline.core.errors import UserError
from pipeline.core.types import STANCE_LABELS
from pipeline.registry.base_models import MINILM, base_model, base_model_path, load_base_encoder
from pipeline.registry.loading import arena_shrinking_run_options, quiet_model_loading
from pipeline.registry.registry import sha256_file

# Imported where used, not here (slow to load; most callers of this module never need them): onnxruntime,
# peft, safetensors, torch, transformers.

CROSS_ENCODER_FILE = "adapter_head.safetensors"


CROSS_ENCODER_CONFIG = "stance_config.json"


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


CROSS_ENCODER_BACKENDS = ("auto", "bf16", "onnx", "onnx-int8", "torch")


def native_bf16() -> bool:
    """Whether this processor multiplies bfloat16 in hardware (AVX512-BF16 or AMX). There torch in
    bfloat16 ran the stance cross-encoders 1.6x faster than ONNX Runtime in float32 (mpnet 34.9 vs
    21.3 pairs/s, MiniLM 204 vs 127, 2 cores) for at most 0.4 points of macro-F1; elsewhere
    bfloat16 is emulated and slow."""
    import torch

    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:  # private helpers of torch 2.x; without them, assume no
        return False


def settled_backend(backend: str) -> str:
    """``auto`` made concrete for this machine: ``bf16`` where it is native, else ``onnx``."""
    return ("bf16" if native_bf16() else "onnx") if backend == "auto" else backend


def build_cross_encoder(lora_rank: int = 8, lora_alpha: int = 16, lora_dropout: float = 0.1,
                        head_dropout: float = 0.1, n_labels: int = len(STANCE_LABELS), base: str = MINILM):
    """A base transformer (MiniLM by default) + LoRA on every linear layer of the encoder + a
    linear head on mean pooling. Also the check-worthiness sentence classifier (``n_labels=2``,
    one text per input)."""
    import torch
    from peft import LoraConfig, get_peft_model

    class PairClassifier(torch.nn.Module):
        def __init__(self, encoder, hidden: int) -> None:
            super().__init__()
            self.encoder = encoder
            self.dropout = torch.nn.Dropout(head_dropout)
            self.head = torch.nn.Linear(hidden, n_labels)

        def forward(self, input_ids, attention_mask, token_type_ids=None):
            # MPNet has no token types; BERT-style models take them.
            extra = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **extra).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
            return self.head(self.dropout(pooled))

    spec = base_model(base)
    encoder = load_base_encoder(base)
    config = LoraConfig(r=lora_rank, lora_alpha=lora_alpha, lora_dropout=lora_dropout,
                        target_modules=list(spec.lora_targets), bias="none")
    with quiet_model_loading():
        wrapped = get_peft_model(encoder, config)
    return PairClassifier(wrapped, encoder.config.hidden_size)


def base_model_hash(base: str = MINILM) -> str:
    return sha256_file(Path(base_model_path(base)) / "model.safetensors")


def load_adapter_state(net, path: Path, file_name: str = CROSS_ENCODER_FILE) -> None:
    """Copy a saved adapter and head into ``net`` (built with the same LoRA rank), unmerged."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    state = {k: v.float() for k, v in load_file(str(path / file_name)).items()}  # float16 on disk
    net.head.weight.data.copy_(state.pop("head.weight"))
    net.head.bias.data.copy_(state.pop("head.bias"))
    result = set_peft_model_state_dict(net.encoder, state)
    unexpected = getattr(result, "unexpected_keys", [])
    if unexpected:
        raise UserError(f"{path}: adapter has unexpected tensors {unexpected[:3]}")


def load_cross_encoder(path: Path, config: dict, file_name: str = CROSS_ENCODER_FILE):
    """The trained network in eval mode with the adapter merged into the base weights."""
    from transformers import AutoTokenizer

    base = config.get("base_model", MINILM)
    expected = config.get("base_model_sha256")
    if expected and base_model_hash(base) != expected:
        raise UserError(f"{path}: the installed base model ({base_model(base).package}) is not the one this "
                        "adapter was trained on (sha256 differs); reinstall the pinned package")
    net = build_cross_encoder(config["lora_rank"], config["lora_alpha"], 0.0, 0.0,
                              n_labels=len(config.get("labels", STANCE_LABELS)), base=base)
    load_adapter_state(net, path, file_name)
    net.encoder = net.encoder.merge_and_unload()
    net.eval()
    tokenizer = AutoTokenizer.from_pretrained(base_model_path(base))
    return net, tokenizer


# The merged network is exported once per adapter into a cache folder (about 90 MB, too big for
# models/) and then run by onnxruntime: measured 2.1x the pairs/s of torch on one core, same
# logits to 4e-6. The export needs the `onnx` package; without it, torch runs the model.
ONNX_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def cache_dir() -> Path:
    return Path(os.environ.get("CLAIMSIFT_CACHE") or Path.home() / ".cache" / "claimsift")


def onnx_export_path(path: Path, config: dict, file_name: str = CROSS_ENCODER_FILE, prefix: str = "stance") -> Path:
    import torch

    key = sha256_file(path / file_name)[:16] + "-" + str(config.get("base_model_sha256", ""))[:12]
    return cache_dir() / f"{prefix}-{key}-torch{torch.__version__.split('+')[0]}.onnx"


def export_onnx(net, tokenizer, target: Path, pairs: bool = True) -> None:
    """Write the network as ONNX to ``target`` atomically, with its sha256 beside it.
    ``pairs``: the network reads (claim, passage) pairs; else single texts."""
    import torch

    target.parent.mkdir(parents=True, exist_ok=True)
    sample = (tokenizer(["a claim"], ["a passage about the claim"], return_tensors="pt") if pairs
              else tokenizer(["a sentence to classify"], return_tensors="pt"))
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    inputs = [name for name in ONNX_INPUTS if name in sample]  # MPNet makes no token_type_ids
    dynamic = {name: {0: "batch", 1: "tokens"} for name in inputs} | {"logits": {0: "batch"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, tuple(sample[name] for name in inputs), str(partial), input_names=inputs,
                          output_names=["logits"], dynamic_axes=dynamic, opset_version=17, dynamo=False)
    digest = sha256_file(partial)
    os.replace(partial, target)
    sidecar = target.with_name(target.name + ".sha256")
    partial_sidecar = sidecar.with_name(f".{sidecar.name}.{os.getpid()}.partial")
    partial_sidecar.write_text(digest + "\n")
    os.replace(partial_sidecar, sidecar)


# Exports of adapters not loaded for this long are deleted when a new one is written (each is
# ~90 MB; every retrained version adds one).
ONNX_CACHE_MAX_IDLE_DAYS = 30


def prune_onnx_cache(keep: Path, max_idle_days: float = ONNX_CACHE_MAX_IDLE_DAYS) -> list[Path]:
    """Delete other exports of the same kind as ``keep`` (its name up to the first "-": stance,
    sentence) and their hash files, last loaded over ``max_idle_days`` ago; returns what was
    deleted. Loading an export touches it, so exports in use stay."""
    cutoff = time.time() - max_idle_days * 86400
    removed = []
    for export in keep.parent.glob(keep.name.split("-", 1)[0] + "-*.onnx"):
        if export == keep:
            continue
        try:
            if export.stat().st_mtime < cutoff:
                export.unlink()
                export.with_name(export.name + ".sha256").unlink(missing_ok=True)
                removed.append(export)
        except OSError:
            continue  # another process got there first, or the cache is read-only: not our business
    return removed


def load_onnx_cross_encoder(path: Path, config: dict, file_name: str = CROSS_ENCODER_FILE, prefix: str = "stance",
                            int8: bool = False):
    """(onnxruntime session, tokenizer), exporting on first use; (None, None) where it cannot be
    done (no `onnx` package for the export, unwritable cache), so torch runs the model.
    ``prefix`` "sentence": the one-text classifier of ``pipeline.checkworthy.sentence_classifier``.
    ``int8``: the export with its weights quantized to int8 (``quantize_int8``), cached beside it."""
    import onnxruntime as ort
    from transformers import AutoTokenizer

    target = onnx_export_path(path, config, file_name, prefix)
    # The cache is outside the repository: trust it only if its hash matches the one written
    # with it, and rebuild it otherwise.
    if not _cached_export_is_intact(target):
        try:
            net, tokenizer = load_cross_encoder(path, config, file_name)
            export_onnx(net, tokenizer, target, pairs=prefix == "stance")
        except Exception as exc:  # noqa: BLE001 - any failure here means: run it with torch
            print(f"claimsift: {prefix} model runs on torch (ONNX export failed: {exc})", file=sys.stderr)
            return None, None
        prune_onnx_cache(target)
    else:
        _touch(target)
    if int8:
        quantized = target.with_name(target.name.removesuffix(".onnx") + ".int8.onnx")
        if not _cached_export_is_intact(quantized):
            try:
                quantize_int8(target, quantized)
            except Exception as exc:  # noqa: BLE001 - asked for by name: say so rather than run another way
                raise UserError(f"the {prefix} model's int8 export failed ({exc}); run it with the onnx "
                                "backend instead") from exc
        else:
            _touch(quantized)
        target = quantized
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(target), options, providers=["CPUExecutionProvider"])
    return session, AutoTokenizer.from_pretrained(base_model_path(config.get("base_model", MINILM)))


def quantize_int8(source: Path, target: Path) -> None:
    """ONNX Runtime's dynamic quantization of ``source``: int8 weights, per output channel,
    activations quantized per batch as it runs (the same recipe as the int8 MiniLM encoder's
    package). Written atomically with its sha256 beside it, like ``export_onnx``."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    partial = target.with_name(f".{target.name}.{os.getpid()}.partial.onnx")
    root_logger = logging.getLogger()
    level = root_logger.level
    try:
        # It logs a suggestion to pre-process the model on the root logger, once per export; not
        # something a user can act on.
        root_logger.setLevel(logging.ERROR)
        quantize_dynamic(str(source), str(partial), weight_type=QuantType.QInt8, per_channel=True)
        digest = sha256_file(partial)
        os.replace(partial, target)
    finally:
        root_logger.setLevel(level)
        partial.unlink(missing_ok=True)
    sidecar = target.with_name(target.name + ".sha256")
    partial_sidecar = sidecar.with_name(f".{sidecar.name}.{os.getpid()}.partial")
    partial_sidecar.write_text(digest + "\n")
    os.replace(partial_sidecar, sidecar)


def _cached_export_is_intact(target: Path) -> bool:
    sidecar = target.with_name(target.name + ".sha256")
    return target.is_file() and sidecar.is_file() and sidecar.read_text().strip() == sha256_file(target)


def _touch(export: Path) -> None:
    try:
        os.utime(export)  # marks the export as in use for prune_onnx_cache
    except OSError:
        pass


def batched_pair_logits(run_batch, tokenizer, claims: Sequence[str], passages: Sequence[str] | None,
                        max_length: int, batch_size: int, tensors: str) -> np.ndarray:
    """``run_batch(tokenised batch) -> logits`` over batches of texts of about one token count, each
    padded to its longest; results go back in input order. ``passages=None``: single texts (the
    sentence classifier).

    Every text is tokenised once, unpadded and truncated to ``max_length``, then sorted by its token
    count, not its characters (URLs and emoji are short in characters and long in tokens). A row's
    inputs are the same whatever batch it joins; only how far it is padded changes, which moves its
    logits by float rounding (~1e-8 in probability on tweet sentences), so a logit is not bit for
    bit independent of the rows batched with it."""
    if not len(claims):
        return np.zeros((0, len(STANCE_LABELS)), dtype=np.float32)
    if passages is None:
        encoded = tokenizer(list(claims), truncation=True, max_length=max_length)
    else:
        encoded = tokenizer(list(claims), list(passages), truncation="only_second", max_length=max_length)
    keys = list(encoded.keys())
    lengths = [len(ids) for ids in encoded["input_ids"]]
    order = np.argsort(lengths, kind="stable")
    pad_values = {"input_ids": tokenizer.pad_token_id, "token_type_ids": getattr(tokenizer, "pad_token_type_id", 0)}
    left = getattr(tokenizer, "padding_side", "right") == "left"
    out: np.ndarray | None = None
    for lo in range(0, len(order), batch_size):
        idx = order[lo:lo + batch_size]
        width = max(lengths[i] for i in idx)
        batch: dict = {}
        for key in keys:
            padded = np.full((len(idx), width), pad_values.get(key, 0), dtype=np.int64)
            for row, i in enumerate(idx):
                values = encoded[key][i]
                if left:
                    padded[row, width - len(values):] = values
                else:
                    padded[row, :len(values)] = values
            batch[key] = padded
        if tensors == "pt":
            import torch

            batch = {key: torch.from_numpy(value) for key, value in batch.items()}
        logits = run_batch(batch)
        if out is None:
            out = np.zeros((len(claims), logits.shape[1]), dtype=np.float32)
        out[idx] = logits
    assert out is not None  # at least one batch ran
    return out


def onnx_cross_encoder_logits(session, tokenizer, claims: Sequence[str], passages: Sequence[str] | None,
                              max_length: int = 128, batch_size: int = 32) -> np.ndarray:
    shrink = arena_shrinking_run_options()  # for the call's last batch: the longest pairs
    batches = -(-len(claims) // batch_size)
    ran = [0]

    def run(batch):
        ran[0] += 1
        feeds = {name: batch[name].astype(np.int64) for name in input_names}
        return session.run(None, feeds, shrink if ran[0] == batches else None)[0]

    input_names = [node.name for node in session.get_inputs()]

    return batched_pair_logits(run, tokenizer, claims, passages, max_length, batch_size, tensors="np")


def cross_encoder_logits(net, tokenizer, claims: Sequence[str], passages: Sequence[str] | None,
                         max_length: int = 128, batch_size: int = 32) -> np.ndarray:
    import torch

    with torch.inference_mode():
        return batched_pair_logits(lambda batch: net(**batch).float().numpy(), tokenizer, claims, passages,
                                   max_length, batch_size, tensors="pt")
