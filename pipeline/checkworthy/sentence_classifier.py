"""A fine-tuned sentence classifier: a packaged sentence-transformers model (all-mpnet-base-v2 for
the shipped one, all-MiniLM-L6-v2 also supported) with a LoRA adapter on every linear layer and a
linear head on mean pooling, the same network as the stance cross-encoder but reading one text.
Only the adapter and head are saved (float16 safetensors: ~1.4 MB on MiniLM, ~5.3 MB on mpnet);
they load on top of the installed base model, whose hash is checked, and run on ONNX Runtime (same
probabilities as torch, faster).

Used by check-worthiness for transcripts of debates and speeches, where reading the sentence as
a whole beats bag-of-words and frozen embeddings. ClaimBuster held-out F1: the logistic
regression 0.805; MiniLM classifier alone 0.829 (3 epochs); mpnet classifier alone 0.864 after
one epoch (see the checkworthy model card for the shipped figures).
"""
from __future__ import annotations

import hashlib
import json
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from pipeline.core.errors import UserError
from pipeline.registry.base_models import MINILM, base_model_path
from pipeline.stance.backends import (
    base_model_hash,
    build_cross_encoder,
    cross_encoder_logits,
    load_cross_encoder,
    load_onnx_cross_encoder,
    onnx_cross_encoder_logits,
    softmax,
)
from pipeline.stance.training import (
    CHECKPOINT_STATE,
    load_training_checkpoint,
    save_cross_encoder,
    save_training_checkpoint,
)

# Imported where used, not here (slow to load; most callers of this module never need them): torch,
# transformers.

ADAPTER_FILE = "sentence_adapter_head.safetensors"
CONFIG_FILE = "sentence_classifier.json"
FILES = (ADAPTER_FILE, CONFIG_FILE)


@dataclass(frozen=True)
class SentenceClassifierConfig:
    lora_rank: int = 16
    lora_alpha: int = 32
    max_length: int = 96
    labels: tuple[str, ...] = ("0", "1")
    base_model_sha256: str = ""
    base_model: str = MINILM


def train_sentence_classifier(texts: Sequence[str], labels: Sequence[int] | np.ndarray, *, epochs: float = 2.0,
                              learning_rate: float = 5e-4, lora_rank: int = 16, batch_size: int = 32,
                              max_length: int = 96, seed: int = 13, time_budget_s: float | None = None,
                              num_threads: int | None = 1, base: str = MINILM,
                              log: Callable[[str], None] = print, checkpoint: Callable | None = None,
                              stop_after_epochs: int | None = None, checkpoint_dir: Path | None = None,
                              checkpoint_every: int = 10):
    """Fine-tune on binary labels with class-balanced loss; returns (net, config, info).
    ``checkpoint(net, config, epoch)`` is called after each full epoch (to save the adapter).
    ``stop_after_epochs``: stop after that many full epochs of the ``epochs`` schedule (the
    learning rate has not decayed to 0 then: the run is that schedule's checkpoint).
    ``checkpoint_dir``: every ``checkpoint_every`` steps (and at each epoch's end) the adapter,
    head and optimiser state are saved there, and a run with the same data and settings resumes
    from the last one: an mpnet epoch on a few thousand texts outlasts a working session on 2
    cores. The shuffles are replayed, so a resumed run sees the batches of a fresh one (dropout
    draws differ).

    Linear warm-up then linear decay over whichever ends first, the epochs or the time budget.
    One intra-op thread by default: on 2 shared cores a second one mostly spin-waits.
    """
    import torch
    from transformers import AutoTokenizer


    if num_threads:
        torch.set_num_threads(num_threads)
    torch.manual_seed(seed)
    rng = random.Random(seed)
    texts = list(texts)
    y = np.asarray(labels, dtype=np.int64)
    if len(texts) != len(y) or not len(texts):
        raise ValueError(f"{len(texts)} texts but {len(y)} labels")
    config = SentenceClassifierConfig(lora_rank=lora_rank, lora_alpha=2 * lora_rank, max_length=max_length,
                                      base_model_sha256=base_model_hash(base), base_model=base)
    tokenizer = AutoTokenizer.from_pretrained(base_model_path(base))
    net = build_cross_encoder(config.lora_rank, config.lora_alpha, n_labels=2, base=base)
    for name, param in net.named_parameters():
        param.requires_grad = "lora_" in name or name.startswith("head.")
    trainable = [p for p in net.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(trainable, lr=learning_rate, weight_decay=0.01)
    counts = np.bincount(y, minlength=2).astype(np.float64)
    loss_fn = torch.nn.CrossEntropyLoss(weight=torch.tensor(counts.sum() / (2 * np.clip(counts, 1, None)),
                                                            dtype=torch.float32))
    steps_per_epoch = len(texts) // batch_size or 1
    total_steps = max(1, int(round(steps_per_epoch * epochs)))
    warmup = max(1, int(0.06 * total_steps))
    last_step = min(total_steps, steps_per_epoch * stop_after_epochs) if stop_after_epochs else total_steps
    run_settings = {"texts_sha256": _texts_fingerprint(texts, y), "seed": seed, "epochs": epochs,
                    "batch_size": batch_size, "learning_rate": learning_rate, "lora_rank": lora_rank,
                    "max_length": max_length, "base": base}
    step, elapsed_before = 0, 0.0
    if checkpoint_dir is not None and _saved_step(Path(checkpoint_dir)) > last_step:
        # Saved by a run of the same schedule that went further (no or a later stop_after_epochs):
        # resumed, it would return a network trained past this run's stop, its epoch callbacks skipped.
        log(f"{checkpoint_dir}: a checkpoint past this run's last step ({last_step}); starting from the beginning")
    elif checkpoint_dir is not None:
        resumed = load_training_checkpoint(Path(checkpoint_dir), run_settings, trainable, optimiser, log=log)
        if resumed:
            step, elapsed_before = int(resumed["step"]), float(resumed["elapsed"])

    def save_progress() -> None:
        if checkpoint_dir is not None and step < last_step:
            save_training_checkpoint(Path(checkpoint_dir), run_settings, trainable, optimiser,
                                     {"step": step, "elapsed": time.monotonic() - started})

    net.train()
    started = time.monotonic() - elapsed_before
    resume_from, stopped_early, epoch = step, False, 0
    while step < last_step and not stopped_early:
        order = list(range(len(texts)))
        rng.shuffle(order)  # drawn for every epoch, resumed or not, to replay a fresh run's order
        epoch += 1
        first_step = (epoch - 1) * steps_per_epoch
        for batch_no, lo in enumerate(range(0, steps_per_epoch * batch_size, batch_size)):
            if first_step + batch_no < resume_from:
                continue
            elapsed = time.monotonic() - started
            if step >= last_step:
                break
            if time_budget_s is not None and elapsed > time_budget_s:
                stopped_early = True
                break
            progress = max(step / total_steps, elapsed / time_budget_s if time_budget_s else 0.0)
            for group in optimiser.param_groups:
                group["lr"] = learning_rate * min((step + 1) / warmup, max(0.0, 1.0 - progress))
            idx = order[lo:lo + batch_size]
            batch = tokenizer([texts[i] for i in idx], truncation=True, max_length=max_length, padding=True,
                              return_tensors="pt")
            loss = loss_fn(net(**batch), torch.tensor(y[idx]))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optimiser.step()
            optimiser.zero_grad()
            step += 1
            if step % 50 == 0 or step == total_steps:
                log(f"sentence classifier step {step}/{total_steps} loss {loss.item():.4f} "
                    f"elapsed {(time.monotonic() - started) / 60:.1f} min")
            if step % checkpoint_every == 0 and step % steps_per_epoch:
                save_progress()
        else:
            if step % steps_per_epoch == 0 and step > resume_from:
                if checkpoint is not None:
                    net.eval()
                    checkpoint(net, config, step // steps_per_epoch)
                    net.train()
                # After the epoch's callback, so that a resumed run never skips one.
                save_progress()
    net.eval()
    info = {"steps": step, "planned_steps": total_steps, "epochs": epochs, "batch_size": batch_size,
            "learning_rate": learning_rate, "train_rows": len(texts), "positives": int(y.sum()), "seed": seed,
            "train_seconds": round(time.monotonic() - started, 1), "stopped_by_time_budget": stopped_early,
            "stopped_after_epochs": stop_after_epochs, "resumed_at_step": resume_from or None}
    return net, config, info


def _saved_step(folder: Path) -> int:
    """The step of the training checkpoint in ``folder`` (-1 where there is none to read)."""
    try:
        return int(json.loads((folder / CHECKPOINT_STATE).read_text(encoding="utf-8"))["step"])
    except (OSError, ValueError, KeyError, TypeError):
        return -1


def hash_labelled_texts(digest, texts: Sequence[str], labels: Sequence[int] | np.ndarray) -> None:
    """Feed labelled texts into a hashlib ``digest`` (the training data's part of a run's identity)."""
    for text, label in zip(texts, labels):
        digest.update(f"{int(label)}\t{text}\n".encode("utf-8"))


def _texts_fingerprint(texts: Sequence[str], labels: np.ndarray) -> str:
    digest = hashlib.sha256()
    hash_labelled_texts(digest, texts, labels)
    return digest.hexdigest()


def save_sentence_classifier(net, config: SentenceClassifierConfig, folder: Path, adapter_file: str = ADAPTER_FILE,
                             config_file: str = CONFIG_FILE) -> list[str]:

    save_cross_encoder(net, folder, adapter_file)
    (folder / config_file).write_text(json.dumps(asdict(config), indent=2) + "\n", encoding="utf-8")
    return [adapter_file, config_file]


def has_sentence_classifier(folder: Path) -> bool:
    return (Path(folder) / CONFIG_FILE).is_file()


class SentenceClassifier:
    """The saved classifier of a model folder (files already hash-checked by the registry);
    loads on first use and scores texts with ``positive_proba``. Runs on ONNX Runtime (exported
    once into the claimsift cache, like the stance model; hash checked at load), or on torch
    with ``backend="torch"`` or where the export fails."""

    def __init__(self, folder: Path | str, backend: str = "onnx", adapter_file: str = ADAPTER_FILE,
                 config_file: str = CONFIG_FILE) -> None:
        self.folder = Path(folder)
        self.backend = backend
        # A model folder may hold more than one classifier (check-worthiness: speech and post).
        self.adapter_file = adapter_file
        self.config_file = config_file
        self._net = None
        self._session = None
        self._tokenizer = None
        self._config: SentenceClassifierConfig | None = None

    def __getstate__(self) -> dict:
        return {"folder": self.folder, "backend": self.backend, "adapter_file": self.adapter_file,
                "config_file": self.config_file, "_net": None, "_session": None, "_tokenizer": None, "_config": None}

    @property
    def runtime(self) -> str:
        self.warm_up()
        return "onnxruntime" if self._session is not None else "torch"

    def warm_up(self) -> None:
        if self._tokenizer is not None:
            return

        if not (self.folder / self.config_file).is_file():
            raise UserError(f"{self.folder}: no {self.config_file} here")
        raw = json.loads((self.folder / self.config_file).read_text(encoding="utf-8"))
        config = SentenceClassifierConfig(**{**raw, "labels": tuple(raw.get("labels", ("0", "1")))})
        if self.backend == "onnx":
            self._session, self._tokenizer = load_onnx_cross_encoder(self.folder, asdict(config), self.adapter_file,
                                                                     prefix="sentence")
        if self._session is None:
            self._net, self._tokenizer = load_cross_encoder(self.folder, asdict(config), self.adapter_file)
        self._config = config

    def positive_proba(self, texts: Sequence[str], batch_size: int = 16) -> np.ndarray:
        """P(label 1) per text, in input order, in batches of ``batch_size`` texts of about one token
        count (``batched_pair_logits``): the smaller the batch, the less a short sentence is padded
        to a longer one's length."""
        self.warm_up()
        texts = list(texts)
        if not texts:
            return np.zeros(0, dtype=np.float64)
        assert self._config is not None  # set by warm_up
        if self._session is not None:
            logits = onnx_cross_encoder_logits(self._session, self._tokenizer, texts, None,
                                               self._config.max_length, batch_size)
        else:
            logits = cross_encoder_logits(self._net, self._tokenizer, texts, None, self._config.max_length, batch_size)
        return softmax(logits.astype(np.float64))[:, 1]
