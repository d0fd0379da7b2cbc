"""A post network without fine-tuning: a logistic regression on frozen all-mpnet-base-v2 sentence
embeddings (mean pooling), saved as a ``SentenceClassifier`` whose LoRA update is zero.

Fine-tuning mpnet on the training tweets, once per fold and once on all, takes hours on 2 cores;
encoding them once with the frozen network takes minutes, and a logistic regression on the
vectors fits in seconds, so the regularisation and the mix with the post regression can be chosen
by cross-validation on the training tweets. The regression is written as the classifier's linear
head on mean pooling (class 1's logit ``w·x + b``, class 0's 0, so its softmax is the
regression's sigmoid) over an adapter that leaves the base weights unchanged (PEFT initialises
LoRA's B matrices to zero; rank 1 keeps the file small). The served model then loads, hash-checks
and runs it on ONNX Runtime exactly like the fine-tuned post network of ``checkworthy@v4``.

Folds group near-duplicate tweets (the same words once links and handles are removed), so a
reposted tweet is never scored by a model trained on its twin.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from pipeline.checkworthy.features import clean_text
from pipeline.checkworthy.post import post_sentences
from pipeline.checkworthy.sentence_classifier import ADAPTER_FILE, SentenceClassifierConfig, save_sentence_classifier
from pipeline.core.metrics import best_f1_threshold, f1_metrics
from pipeline.registry.base_models import MPNET, base_model_path, load_base_encoder
from pipeline.stance.backends import base_model_hash

# Imported where used, not here (slow to load; most callers of this module never need them): torch,
# transformers, scikit-learn.

FROZEN_C_GRID = (0.3, 1.0, 3.0, 10.0)
MIN_STD = 1e-4
FROZEN_LORA_RANK = 1  # the adapter is the identity (B = 0); rank 1 keeps its file at ~0.4 MB


@dataclass(frozen=True)
class FrozenHeadPlan:
    base: str = MPNET
    folds: int = 5
    seed: int = 13
    max_length: int = 128
    c_grid: tuple[float, ...] = FROZEN_C_GRID


def near_duplicate_key(text: str) -> str:
    """The words of a tweet without links, handles, case and punctuation (first 80 characters)."""
    words = re.sub(r"\W+", " ", clean_text(text).lower().replace(" url ", " ").replace("@user", ""))
    return words.strip()[:80]


def grouped_folds(texts: Sequence[str], labels: Sequence[int] | np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Stratified folds in which near-duplicate tweets (``near_duplicate_key``) share a fold."""
    from sklearn.model_selection import StratifiedGroupKFold

    keys = [near_duplicate_key(t) for t in texts]
    ids = {key: i for i, key in enumerate(dict.fromkeys(keys))}
    groups = np.array([ids[key] for key in keys])
    out = np.zeros(len(texts), dtype=np.int64)
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    for k, (_, held) in enumerate(splitter.split(np.zeros(len(texts)), np.asarray(labels), groups)):
        out[held] = k
    return out


def frozen_embeddings(texts: Sequence[str], base: str = MPNET, max_length: int = 128, batch_size: int = 32,
                      cache: Path | None = None, num_threads: int | None = 1,
                      log: Callable[[str], None] = print) -> np.ndarray:
    """Mean-pooled last hidden states of the frozen ``base`` (not normalised: the head reads them
    as the served network computes them), one row per text; kept in ``cache`` (a .npy keyed by the
    texts, base and length) when given. One intra-op thread by default (2 shared cores)."""
    texts = list(texts)
    path: Path | None = None
    if cache is not None:
        digest = hashlib.sha256(f"{base}\t{max_length}\t{base_model_hash(base)}".encode())
        for text in texts:
            digest.update(text.encode() + b"\n")
        path = Path(cache) / f"frozen-{digest.hexdigest()[:16]}.npy"
        if path.is_file():
            return np.load(path, allow_pickle=False)
    import torch

    threads_before = torch.get_num_threads()
    if num_threads:
        torch.set_num_threads(num_threads)
    try:
        return _encode(texts, base, batch_size, max_length, cache, path, log)
    finally:
        torch.set_num_threads(threads_before)  # the rest of the training keeps the process's threads


def _encode(texts: list[str], base: str, batch_size: int, max_length: int, cache: Path | None, path: Path | None,
            log: Callable[[str], None]) -> np.ndarray:
    import torch
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base_model_path(base))
    model = load_base_encoder(base).eval()
    out = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
    order = np.argsort([len(t) for t in texts])  # similar lengths per batch: little padding
    started = time.monotonic()
    with torch.inference_mode():
        for lo in range(0, len(texts), batch_size):
            idx = order[lo:lo + batch_size]
            batch = tokenizer([texts[i] for i in idx], truncation=True, max_length=max_length, padding=True,
                              return_tensors="pt")
            hidden = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            out[idx] = ((hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)).numpy()
            if (lo // batch_size) % 50 == 0:
                log(f"frozen {base}: {min(lo + batch_size, len(texts))}/{len(texts)} texts encoded "
                    f"({time.monotonic() - started:.0f} s)")
    if cache is not None and path is not None:
        Path(cache).mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            np.save(handle, out, allow_pickle=False)
        os.replace(tmp, path)
    return out


def fit_head(vectors: np.ndarray, labels: np.ndarray, c: float):
    """The class-balanced logistic regression of the head; standardised inside, returned as
    (coef, intercept) on the raw vectors. Dimensions that barely vary (mpnet's mean pooling has a
    dead one, standard deviation ~1e-34) get weight 0: standardising them would give weights
    beyond any float range once mapped back to the raw vectors."""
    from sklearn.linear_model import LogisticRegression

    std = vectors.std(axis=0)
    mean, scale = vectors.mean(axis=0), np.where(std > MIN_STD, std, np.inf)
    model = LogisticRegression(C=c, class_weight="balanced", max_iter=5000)
    model.fit((vectors - mean) / scale, labels)
    coef = model.coef_[0] / scale
    return coef, float(model.intercept_[0] - coef @ mean)


def head_scores(vectors: np.ndarray, coef: np.ndarray, intercept: float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-(vectors @ coef + intercept)))


@dataclass(frozen=True)
class FrozenOutOfFold:
    """Per training tweet, its sentences' scores by the head fitted without its fold, for the
    chosen ``c``; ``fold`` per tweet; ``by_c``: out-of-fold F1/AP of each candidate."""

    sentences: list[list[float]]
    fold: np.ndarray
    c: float
    by_c: dict


def out_of_fold(texts: list[str], labels: np.ndarray, tune: np.ndarray, text_vectors: np.ndarray,
                sentence_vectors: list[np.ndarray], plan: FrozenHeadPlan) -> FrozenOutOfFold:
    """Heads fitted on whole tweets of the other folds score each held-out tweet's sentences;
    ``c`` is the candidate with the best out-of-fold AP of the post score (max over sentences) on
    the ``tune`` tweets (those labelled for check-worthiness)."""
    from sklearn.metrics import average_precision_score

    labels = np.asarray(labels, dtype=np.int64)
    fold = grouped_folds(texts, labels, plan.folds, plan.seed)
    results: dict[float, list[list[float]]] = {}
    by_c: dict[str, dict] = {}
    for c in plan.c_grid:
        sentences: list[list[float]] = [[] for _ in texts]
        for k in range(plan.folds):
            train = np.flatnonzero(fold != k)
            coef, intercept = fit_head(text_vectors[train], labels[train], c)
            for i in np.flatnonzero(fold == k):
                sentences[i] = head_scores(sentence_vectors[i], coef, intercept).tolist()
        posts = np.array([max(s) if s else 0.0 for s in sentences])[tune]
        y = labels[tune]
        by_c[str(c)] = {"average_precision": round(float(average_precision_score(y, posts)), 4),
                        "f1_at_best_threshold": f1_metrics(y, posts, best_f1_threshold(y, posts))["f1"]}
        results[c] = sentences
    best = max(plan.c_grid, key=lambda c: (by_c[str(c)]["average_precision"], -c))
    return FrozenOutOfFold(sentences=results[best], fold=fold, c=best, by_c=by_c)


def frozen_head_network(coef: np.ndarray, intercept: float, plan: FrozenHeadPlan):
    """The head as a ``SentenceClassifier`` network over the unchanged base: (net, config)."""
    import torch

    from pipeline.stance.backends import build_cross_encoder

    net = build_cross_encoder(FROZEN_LORA_RANK, 2 * FROZEN_LORA_RANK, 0.0, 0.0, n_labels=2, base=plan.base)
    with torch.no_grad():
        net.head.weight.zero_()
        net.head.bias.zero_()
        net.head.weight[1] = torch.as_tensor(coef, dtype=torch.float32)
        net.head.bias[1] = float(intercept)
    net.eval()
    config = SentenceClassifierConfig(lora_rank=FROZEN_LORA_RANK, lora_alpha=2 * FROZEN_LORA_RANK,
                                      max_length=plan.max_length, base_model_sha256=base_model_hash(plan.base),
                                      base_model=plan.base)
    return net, config


def _head_in_float32(net, path: Path) -> None:
    """The saved head again in float32 (the adapter file stores float16, ~3 digits; the head is
    the whole model here and 768 weights cost nothing)."""
    from safetensors.torch import load_file, save_file

    state = load_file(str(path))
    state["head.weight"] = net.head.weight.detach().float().contiguous()
    state["head.bias"] = net.head.bias.detach().float().contiguous()
    save_file(state, str(path))


def train_frozen_head(texts: list[str], labels: np.ndarray, tune: np.ndarray, plan: FrozenHeadPlan,
                      work_dir: Path, log: Callable[[str], None] = print) -> tuple[FrozenOutOfFold, Path, dict]:
    """Out-of-fold sentence scores of the training tweets and the head on all of them, saved as a
    sentence classifier in ``work_dir``; (out-of-fold, folder, info)."""
    labels = np.asarray(labels, dtype=np.int64)
    parts = [post_sentences(t) for t in texts]
    unique = list(dict.fromkeys(texts + [s for p in parts for s in p]))
    started = time.monotonic()
    vectors = frozen_embeddings(unique, plan.base, plan.max_length, cache=Path(work_dir), log=log)
    encode_seconds = time.monotonic() - started
    row = {t: i for i, t in enumerate(unique)}
    text_vectors = vectors[[row[t] for t in texts]]
    sentence_vectors = [vectors[[row[s] for s in p]] if p else np.zeros((0, vectors.shape[1])) for p in parts]
    oof = out_of_fold(texts, labels, tune, text_vectors, sentence_vectors, plan)
    log(f"frozen head out-of-fold (C: AP, F1): {oof.by_c}; chosen C {oof.c}")
    coef, intercept = fit_head(text_vectors, labels, oof.c)
    net, config = frozen_head_network(coef, intercept, plan)
    folder = Path(work_dir) / f"frozen-head-{hashlib.sha256(coef.tobytes()).hexdigest()[:12]}"
    folder.mkdir(parents=True, exist_ok=True)
    save_sentence_classifier(net, config, folder)
    _head_in_float32(net, folder / ADAPTER_FILE)
    info = {"kind": "frozen embeddings + logistic regression", "c": oof.c, "out_of_fold_by_c": oof.by_c,
            "train_rows": len(texts), "positives": int(labels.sum()), "texts_encoded": len(unique),
            "encode_seconds": round(encode_seconds, 1), "folds": plan.folds, "fold_groups": "near_duplicate_key",
            "max_length": plan.max_length}
    (folder / "info.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return oof, folder, info
