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
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from pipeline.core.errors import UserError
from pipeline.core.metrics import calibration_error, classification_report
from pipeline.core.types import STANCE_LABELS
from pipeline.registry.registry import DEFAULT_MODELS_DIR, ModelIntegrityError, ModelNotFoundError, ModelRef, Registry
from pipeline.stance.backends import (
    CROSS_ENCODER_BACKENDS,
    CROSS_ENCODER_CONFIG,
    cross_encoder_logits,
    load_cross_encoder,
    load_onnx_cross_encoder,
    onnx_cross_encoder_logits,
    settled_backend,
    softmax,
)

if TYPE_CHECKING:
    from pipeline.registry.embedding import Encoder

# Imported where used, not here (slow to load; most callers of this module never need them): torch.

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

LABEL_INDEX: dict[str, int] = {label: i for i, label in enumerate(STANCE_LABELS)}
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


def fit_temperature(logits: np.ndarray, labels: Sequence[int]) -> float:
    """The temperature that minimises the negative log-likelihood of the dev labels."""
    gold = np.asarray(labels)
    best_t, best_nll = 1.0, math.inf
    for t in np.exp(np.linspace(math.log(0.2), math.log(50.0), 500)):
        probs = softmax(logits / t)
        nll = -np.log(np.clip(probs[np.arange(len(gold)), gold], 1e-12, None)).mean()
        if nll < best_nll:
            best_t, best_nll = float(t), float(nll)
    return best_t


def evaluate_probs(probs: np.ndarray, gold: Sequence[str], sources: Sequence[str] | None = None) -> dict:
    """Metrics overall and per source; ``fever_symmetric`` is scored two-way (argmax over
    SUPPORTS/REFUTES), as the benchmark has no NOT_ENOUGH_INFO class."""
    predicted = [STANCE_LABELS[i] for i in probs.argmax(axis=1)]
    out = classification_report(gold, predicted)
    out["ece"] = round(calibration_error(probs, [LABEL_INDEX[g] for g in gold]), 4)
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
            report["ece"] = round(calibration_error(probs[idx], [LABEL_INDEX[g] for g in sub_gold]), 4)
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
    (falls back to torch if the export fails), ``onnx-int8`` (that export with int8 weights: ~1.4x
    the claims/s, but activations are quantized per batch, so a pair's probabilities move by up to
    ~0.06 with the other pairs in its batch; never chosen by ``auto``) or ``torch`` (float32).
    """

    def __init__(self, spec: str = "stance", models_dir: Path | str | None = None, batch_size: int = 32,
                 quantize: bool | None = None, backend: str = "auto") -> None:
        self.spec = spec
        self.models_dir = models_dir
        self.batch_size = batch_size
        self.quantize = quantize
        self.backend = backend
        self._ref: ModelRef | None = None
        self._net = None
        self._session = None
        self._quantized = False
        self._tokenizer = None
        self._encoder: Encoder | None = None
        self._weights: np.ndarray | None = None
        self._bias: np.ndarray | None = None
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
        assert self._ref is not None  # set by warm_up
        return {"model": self._ref.name, "version": self._ref.version, "kind": self._config.get("kind"),
                **({"runtime": self.runtime} if self._config.get("kind") == "cross-encoder" else {})}

    @property
    def runtime(self) -> str:
        """What runs the cross-encoder: onnxruntime, onnxruntime-int8, torch, torch-bf16 or torch-int8."""
        self.warm_up()
        if self._session is not None:
            return "onnxruntime-int8" if settled_backend(self.backend) == "onnx-int8" else "onnxruntime"
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
        if backend in ("onnx", "onnx-int8") and not quantize:
            session, tokenizer = load_onnx_cross_encoder(path, self._config, int8=backend == "onnx-int8")
            if session is not None:
                self._session, self._tokenizer = session, tokenizer
                return
        import torch

        net, tokenizer = load_cross_encoder(path, self._config)
        if quantize:
            net = torch.ao.quantization.quantize_dynamic(net, {torch.nn.Linear}, dtype=torch.qint8)
        self._net, self._tokenizer = net, tokenizer

    def logits(self, claims: Sequence[str], passages: Sequence[str], max_length: int | None = None) -> np.ndarray:
        """Uncalibrated logits, shape (n, 3). ``max_length``: tokens read of each pair (default: the
        length the cross-encoder was trained at; the embedding kind reads whole texts)."""
        self.warm_up()
        if len(claims) != len(passages):
            raise ValueError(f"{len(claims)} claims but {len(passages)} passages")
        if len(claims) == 0:
            return np.zeros((0, len(STANCE_LABELS)), dtype=np.float32)
        length = int(max_length or self._config.get("max_length", 128))
        if self._session is not None:
            return onnx_cross_encoder_logits(self._session, self._tokenizer, claims, passages,
                                             max_length=length, batch_size=self.batch_size)
        if self._net is not None:
            return cross_encoder_logits(self._net, self._tokenizer, claims, passages,
                                        max_length=length, batch_size=self.batch_size)
        # The embedding-lr kind: warm_up loaded its encoder and weights.
        assert self._encoder is not None and self._weights is not None
        claim_vecs = self._encoder.encode(list(claims))
        passage_vecs = self._encoder.encode(list(passages))
        features = embedding_pair_features(claim_vecs, passage_vecs, claims, passages)
        features = (features - np.asarray(self._config["feature_mean"], dtype=np.float32)) / \
            np.asarray(self._config["feature_scale"], dtype=np.float32)
        return features @ self._weights.T + self._bias

    def predict_proba(self, claims: Sequence[str], passages: Sequence[str], max_length: int | None = None) -> np.ndarray:
        return softmax(self.logits(claims, passages, max_length) / self.temperature)

    def predict(self, claims: Sequence[str], passages: Sequence[str]) -> list[str]:
        return [STANCE_LABELS[i] for i in self.predict_proba(claims, passages).argmax(axis=1)]
