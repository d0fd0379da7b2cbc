"""The post network of check-worthiness: a sentence classifier fine-tuned on labelled tweets,
with out-of-fold scores on the training tweets for everything tuned after it.

The network is the LoRA recipe of ``pipeline.checkworthy.sentence_classifier`` (MiniLM by default) trained on
the CheckThat! 2020 task 1 and 2022 1A training tweets plus the 2022 1B training non-claims. The
mixing weight with the logistic regression, the calibration and the threshold are chosen on
out-of-fold (OOF) predictions: the training tweets are split into ``folds`` stratified folds, a
network is trained on all folds but one and scores the one left out, whole and sentence by
sentence (posts are scored as the max over their sentences). The dev sets are never read here.

Each fold's scores and the final network are written into a work folder keyed by a hash of the
plan and the data, with each network's training state as it goes, so a killed run resumes where
it stopped (within a fold) and the training command can reuse the finished folds.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from pipeline.checkworthy import data as cd
from pipeline.checkworthy.sentence_classifier import (
    hash_labelled_texts,
    save_sentence_classifier,
    train_sentence_classifier,
)
from pipeline.checkworthy.sentences import has_words, split_sentences
from pipeline.core.errors import UserError
from pipeline.core.metrics import best_f1_threshold, f1_metrics
from pipeline.registry.base_models import MINILM, base_model_path
from pipeline.stance.backends import cross_encoder_logits, softmax

# Imported where used, not here (slow to load; most callers of this module never need them): scikit-learn,
# transformers.

POST_TRAIN_SETS = ("ct20_train", "ct22_1a_train", "ct22_1b_train_nonclaims")
POST_ADAPTER_FILE = "post_adapter_head.safetensors"
POST_CONFIG_FILE = "post_classifier.json"
POST_FILES = (POST_ADAPTER_FILE, POST_CONFIG_FILE)


@dataclass(frozen=True)
class PostNetPlan:
    base: str = MINILM
    epochs: float = 2.0
    learning_rate: float = 5e-4
    folds: int = 3
    max_length: int = 128
    batch_size: int = 32
    seed: int = 13

    def key(self, texts: Sequence[str], labels: Sequence[int] | np.ndarray) -> str:
        digest = hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode())
        hash_labelled_texts(digest, texts, labels)
        return digest.hexdigest()[:16]


@dataclass(frozen=True)
class OutOfFold:
    """Scores of every training tweet by the network that did not see it."""

    whole: np.ndarray  # the tweet as one text
    sentences: list[list[float]]  # per tweet, its sentences with words (may be empty)
    fold: np.ndarray  # which fold each tweet was held out in
    infos: tuple[dict, ...] = ()  # each fold network's training info
    scored: np.ndarray | None = None  # which tweets have out-of-fold scores (all unless folds were left out)

    def post(self) -> np.ndarray:
        """Max over sentences, as posts are scored in use (0 for a tweet with no sentence)."""
        return np.array([max(s) if s else 0.0 for s in self.sentences], dtype=np.float64)


def stratified_folds(labels: Sequence[int] | np.ndarray, folds: int, seed: int) -> np.ndarray:
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(labels)
    out = np.zeros(len(y), dtype=np.int64)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for k, (_, held) in enumerate(splitter.split(np.zeros(len(y)), y)):
        out[held] = k
    return out


def post_sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in split_sentences(text) if has_words(text[s:e])]


def _atomic_json(path: Path, payload: dict) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(payload, handle)
    os.replace(tmp, path)


def _torch_scores(net, tokenizer, texts: list[str], max_length: int) -> np.ndarray:
    if not texts:
        return np.zeros(0)
    net.eval()
    return softmax(cross_encoder_logits(net, tokenizer, texts, None, max_length, 64).astype(np.float64))[:, 1]


def _train(texts: list[str], labels: np.ndarray, plan: PostNetPlan, threads: int, log, checkpoint_dir: Path,
           checkpoint=None, stop_after_epochs: int | None = None):
    """The plan's network; its training state is saved in ``checkpoint_dir`` as it goes (a killed
    run resumes there) and removed once the network is trained."""
    return train_sentence_classifier(texts, labels, epochs=plan.epochs, learning_rate=plan.learning_rate,
                                     batch_size=plan.batch_size, max_length=plan.max_length, seed=plan.seed,
                                     num_threads=threads, base=plan.base, log=log, checkpoint=checkpoint,
                                     stop_after_epochs=stop_after_epochs, checkpoint_dir=checkpoint_dir)


def train_fold(texts: list[str], labels: np.ndarray, plan: PostNetPlan, work_dir: Path, k: int, *,
               threads: int = 1, log: Callable[[str], None] = print) -> Path:
    """Train the network of fold ``k`` (on every other fold) and write its scores of fold ``k``,
    whole and per sentence, to ``fold{k}.json`` in the plan's work folder; kept when already
    there. Separate folds may run in separate processes."""
    from transformers import AutoTokenizer


    labels = np.asarray(labels, dtype=np.int64)
    folder = Path(work_dir) / plan.key(texts, labels)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"fold{k}.json"
    if path.is_file():
        return path
    fold = stratified_folds(labels, plan.folds, plan.seed)
    train_idx = np.flatnonzero(fold != k)
    held = np.flatnonzero(fold == k)
    log(f"post network fold {k + 1}/{plan.folds}: training on {len(train_idx)} tweets")
    checkpoint_dir = folder / f"fold{k}.checkpoint"
    net, config, info = _train([texts[i] for i in train_idx], labels[train_idx], plan, threads, log, checkpoint_dir)
    tokenizer = AutoTokenizer.from_pretrained(base_model_path(plan.base))
    held_texts = [texts[i] for i in held]
    parts = [post_sentences(t) for t in held_texts]
    flat_scores = iter(_torch_scores(net, tokenizer, [s for p in parts for s in p], plan.max_length).tolist())
    _atomic_json(path, {"rows": held.tolist(),
                        "whole": _torch_scores(net, tokenizer, held_texts, plan.max_length).tolist(),
                        "sentences": [[next(flat_scores) for _ in p] for p in parts], "info": info})
    shutil.rmtree(checkpoint_dir, ignore_errors=True)
    return path


def out_of_fold_scores(texts: list[str], labels: np.ndarray, plan: PostNetPlan, work_dir: Path, *,
                       threads: int = 1, folds_used: int | None = None,
                       log: Callable[[str], None] = print) -> OutOfFold:
    """Train ``plan.folds`` networks, each scoring the fold it did not see; finished folds are
    read back from ``work_dir``. ``folds_used``: only the first so many folds (fewer networks to
    train when time is short); the other tweets get no out-of-fold score (``scored``)."""
    labels = np.asarray(labels, dtype=np.int64)
    folds_used = plan.folds if folds_used is None else folds_used
    fold = stratified_folds(labels, plan.folds, plan.seed)
    whole = np.full(len(texts), np.nan)
    sentences: list[list[float]] = [[] for _ in texts]
    infos = []
    for k in range(folds_used):
        path = train_fold(texts, labels, plan, work_dir, k, threads=threads, log=log)
        saved = json.loads(path.read_text(encoding="utf-8"))
        infos.append(saved["info"])
        for i, w, s in zip(saved["rows"], saved["whole"], saved["sentences"]):
            whole[i] = w
            sentences[i] = s
    scored = np.isin(fold, np.arange(folds_used))
    if np.isnan(whole[scored]).any():
        raise RuntimeError(f"{path.parent}: fold files do not cover the tweets of their folds")
    return OutOfFold(whole=whole, sentences=sentences, fold=fold, infos=tuple(infos), scored=scored)


def final_network(texts: list[str], labels: np.ndarray, plan: PostNetPlan, work_dir: Path, *,
                  threads: int = 1, stop_after_epochs: int | None = None,
                  log: Callable[[str], None] = print) -> tuple[Path, dict]:
    """The network trained on every training tweet, saved (float16 adapter + config) in
    ``work_dir``; (folder, training info). Read back when already there. ``stop_after_epochs``:
    the checkpoint after that many epochs of the plan's schedule (when time is short)."""


    labels = np.asarray(labels, dtype=np.int64)
    folder = Path(work_dir) / plan.key(texts, labels) / ("final" if not stop_after_epochs
                                                         else f"final-stop{stop_after_epochs}")
    info_path = folder / "info.json"
    lock = folder / ".training.pid"
    # Another process training the same network: wait for its result instead of training twice.
    while not info_path.is_file() and lock.is_file() and _alive(lock.read_text().strip()):
        log(f"post network: waiting for process {lock.read_text().strip()} to finish training it in {folder}")
        time.sleep(30)
    if info_path.is_file():
        return folder, json.loads(info_path.read_text(encoding="utf-8"))
    folder.mkdir(parents=True, exist_ok=True)
    lock.write_text(str(os.getpid()))

    def checkpoint(net, config, epoch: int) -> None:
        target = folder / f"epoch{epoch}"
        target.mkdir(exist_ok=True)
        save_sentence_classifier(net, config, target)
        log(f"post network: epoch {epoch} checkpoint in {target}")

    log(f"post network: final training on {len(texts)} tweets")
    try:
        net, config, info = _train(texts, labels, plan, threads, log, folder / "training.checkpoint",
                                   checkpoint=checkpoint, stop_after_epochs=stop_after_epochs)
        save_sentence_classifier(net, config, folder)
        _atomic_json(info_path, info)
        shutil.rmtree(folder / "training.checkpoint", ignore_errors=True)
    finally:
        lock.unlink(missing_ok=True)
    return folder, info


def _alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def post_training_data(sets: dict) -> tuple[list[str], np.ndarray, list[str]]:
    """The training tweets of the post network, de-duplicated (texts, labels, source set names)."""
    return cd.training_data(sets, POST_TRAIN_SETS)


@dataclass(frozen=True)
class PostStage:
    """How the post network joins the logistic regression, all chosen out-of-fold on the
    training tweets: ``weight`` of the network in the mix, the Platt ``calibration`` (slope,
    intercept) of the mixed post score, the ``threshold`` on the calibrated score with the best
    F1, and ``band_from``: the regression score from which the network runs (below it its share
    counts as 0), the highest that costs at most ``BAND_TOLERANCE`` of F1 and of AP, or, where that
    band would run the network on more than ``max_band_share`` of the sentences, the lowest band
    within that share (the threshold is then chosen again on the banded score).
    ``band_tradeoff``: for each band of ``BAND_GRID``, the share of sentences the network runs on
    and the out-of-fold F1 (at the unbanded mix's threshold, ``oof["mixed"]["threshold"]``) and AP
    it costs, so that a faster band can be picked knowingly."""

    weight: float
    calibration: tuple[float, float]
    threshold: float
    band_from: float
    band_share: float  # the share of training-tweet sentences the network runs on
    oof: dict  # out-of-fold metrics: network alone, regression alone, mixed, mixed with the band
    band_tradeoff: tuple[dict, ...] = ()
    max_band_share: float | None = None


BAND_TOLERANCE = 0.005
BAND_GRID = tuple(round(0.05 * k, 2) for k in range(0, 17))  # 0.00 .. 0.80 on the regression score


def choose_post_stage(labels: np.ndarray, lr_sentences: list[list[float]], net_sentences: list[list[float]], *,
                      max_band_share: float | None = None, weights: Sequence[float] | None = None) -> PostStage:
    """``labels`` per tweet; per tweet its sentences' out-of-fold regression and network scores.
    ``max_band_share``: the most of the sentences the network may run on (its cost in batch
    scoring); None: no limit. ``weights``: the network weights to choose from (default 0, 0.1 ..
    1; ``(0.0,)``: the regression alone)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import average_precision_score


    labels = np.asarray(labels, dtype=np.int64)

    def post(weight: float, band_from: float = 0.0, calibration: tuple[float, float] | None = None) -> np.ndarray:
        """Max over each post's sentences of the mixed score; calibrated when given (Platt)."""
        out = np.zeros(len(labels))
        for i, (lr, net) in enumerate(zip(lr_sentences, net_sentences)):
            if lr:
                lr_a, net_a = np.asarray(lr), np.asarray(net)
                net_a = np.where(lr_a >= band_from, net_a, 0.0)
                mixed = (1 - weight) * lr_a + weight * net_a
                out[i] = (mixed if calibration is None else post_calibrated(lr_a, net_a, weight, *calibration)).max()
        return out

    def best_f1(scores: np.ndarray) -> float:
        return f1_metrics(labels, scores, best_f1_threshold(labels, scores))["f1"]

    weight = max(weights or [k / 10 for k in range(11)], key=lambda w: (best_f1(post(w)), -w))
    raw = post(weight)  # the mixed score, which post_calibrated maps through sigmoid(slope * x + intercept)
    platt = LogisticRegression(C=1e4).fit(raw.reshape(-1, 1), labels)
    calibration = (float(platt.coef_[0, 0]), float(platt.intercept_[0]))
    full = post(weight, 0.0, calibration)
    threshold = best_f1_threshold(labels, full)
    full_f1 = f1_metrics(labels, full, threshold)["f1"]
    full_ap = float(average_precision_score(labels, full))
    full_threshold = threshold
    flat_lr = np.concatenate([np.asarray(s) for s in lr_sentences if s])
    band_from = 0.0
    tradeoff = []
    for candidate in BAND_GRID:
        banded = post(weight, candidate, calibration)
        f1 = f1_metrics(labels, banded, threshold)["f1"]
        ap = float(average_precision_score(labels, banded))
        tradeoff.append({"band_from": candidate, "share": round(float((flat_lr >= candidate).mean()), 4),
                         "f1": round(float(f1), 4), "average_precision": round(ap, 4)})
        if f1 >= full_f1 - BAND_TOLERANCE and ap >= full_ap - BAND_TOLERANCE:
            band_from = candidate
    if max_band_share is not None and float((flat_lr >= band_from).mean()) > max_band_share:
        affordable = [band for band in BAND_GRID if float((flat_lr >= band).mean()) <= max_band_share]
        if not affordable:
            raise UserError(f"no band of the post network runs on at most {max_band_share:.1%} of the sentences: "
                            f"the highest band ({BAND_GRID[-1]}) runs on {float((flat_lr >= BAND_GRID[-1]).mean()):.1%}")
        band_from = min(affordable)
        threshold = best_f1_threshold(labels, post(weight, band_from, calibration))
    band_share = float((flat_lr >= band_from).mean())
    oof = {"network_alone": f1_metrics(labels, post(1.0), best_f1_threshold(labels, post(1.0))),
           "regression_alone": f1_metrics(labels, post(0.0), best_f1_threshold(labels, post(0.0))),
           "mixed": f1_metrics(labels, full, full_threshold),
           "mixed_with_band": f1_metrics(labels, post(weight, band_from, calibration), threshold)}
    return PostStage(weight=weight, calibration=calibration, threshold=round(float(threshold), 4),
                     band_from=band_from, band_share=round(band_share, 4), oof=oof, band_tradeoff=tuple(tradeoff),
                     max_band_share=max_band_share)


def whole_post_embeddings(sentence_vectors: np.ndarray, sentence_lengths: Sequence[int],
                          counts: Sequence[int]) -> np.ndarray:
    """One embedding per post made from its sentences' (``counts[i]`` consecutive rows of
    ``sentence_vectors`` per post, in order): their mean weighted by their lengths, renormalised.
    The encoder's vectors are mean-pooled over tokens and normalised, so this is close to the
    embedding of the whole post, and it costs no second pass of the encoder over the posts (out
    of fold on the training tweets the regression reading it lost 0.002 AP to the exact one; weights
    by tokens instead of characters did no better).
    A post with no sentence gets a zero vector."""
    vectors = np.asarray(sentence_vectors, dtype=np.float64)
    weights = np.asarray(sentence_lengths, dtype=np.float64)
    if vectors.shape[0] != len(weights) or int(np.sum(counts)) != len(weights):
        raise ValueError(f"{vectors.shape[0]} vectors, {len(weights)} lengths and {int(np.sum(counts))} counted "
                         "sentences must agree")
    out = np.zeros((len(counts), vectors.shape[1] if vectors.ndim == 2 else 0), dtype=np.float64)
    start = 0
    for i, count in enumerate(counts):
        if count:
            pooled = weights[start:start + count] @ vectors[start:start + count]
            norm = np.linalg.norm(pooled)
            out[i] = pooled / norm if norm > 0 else pooled
        start += count
    return out.astype(np.float32)


def post_calibrated(lr_scores: np.ndarray, network_scores: np.ndarray, weight: float, slope: float,
                    intercept: float) -> np.ndarray:
    """The post score: ``sigmoid(slope * ((1 - weight) * lr + weight * network) + intercept)``."""
    mixed = (1 - weight) * np.asarray(lr_scores, dtype=np.float64) + weight * np.asarray(network_scores, dtype=np.float64)
    return 1.0 / (1.0 + np.exp(-(slope * mixed + intercept)))
