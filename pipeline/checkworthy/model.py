"""Check-worthiness: which sentences of a post state a claim worth fact-checking.

Three layers, each usable alone:

- ``DomainAdaptedLogisticRegression``: the numeric core, a scikit-learn classifier. Debate
  transcripts (ClaimBuster) and tweets (CheckThat!) call different things check-worthy, so each
  feature gets a shared weight plus one weight per domain ("frustratingly easy" domain
  adaptation, Daumé 2007); pooled training then helps both domains instead of blurring them.
  On dev this lifts CheckThat! 2022 1A average precision from 0.58 to 0.67 and ClaimBuster's
  from 0.86 to 0.88 over one shared logistic regression on the same features.
- ``CheckworthyClassifier``: texts in, probabilities out. Features: the MiniLM sentence
  embedding, TF-IDF word 1–2-grams and character 2–5-grams, and a few cheap cues (numbers,
  quantities, capitalised names, hedges, questions, URLs, hashtags, length).
- ``CheckworthyModel``: the shipped model from the registry, with the thresholds tuned on dev,
  a cheap sentence splitter for posts, ``detect`` and ``score_post``. For debate and speech
  transcripts its score mixes in a fine-tuned sentence classifier on all-mpnet-base-v2
  (``pipeline.checkworthy.sentence_classifier``, fine-tuned on the debates), with the weight tuned on the
  held-out ClaimBuster debates; scoring social posts never runs it.

Persisted as JSON + .npy (vocabularies, idf weights, coefficients): nothing is unpickled.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from pipeline.checkworthy.classifier import CheckworthyClassifier
from pipeline.checkworthy.post import POST_ADAPTER_FILE, POST_CONFIG_FILE, post_calibrated
from pipeline.checkworthy.sentence_classifier import SentenceClassifier, has_sentence_classifier
from pipeline.checkworthy.sentences import AUTO, has_words, route_domain, split_sentences
from pipeline.registry.registry import Registry

# -- text features -------------------------------------------------------------------------------


# -- the numeric core ----------------------------------------------------------------------------


# -- texts in, probabilities out -----------------------------------------------------------------


# -- posts: sentences and spans ------------------------------------------------------------------

@dataclass(frozen=True)
class ClaimSpan:
    """A check-worthy sentence of a post; ``post[start:end] == text``."""

    text: str
    start: int
    end: int
    score: float


@dataclass(frozen=True)
class ScoredPost:
    """A post's score (max over its sentences), its check-worthy sentences and the domain whose
    model and threshold scored it."""

    score: float
    claims: list[ClaimSpan]
    domain: str


# -- which domain a row is: its form, never its topic ----------------------------------------------


# -- the shipped model ---------------------------------------------------------------------------

class CheckworthyModel:
    """The registered check-worthiness model: cheap to construct and to pickle; ``warm_up`` loads.

    ``spec`` is a registry name (``checkworthy``: its CURRENT version), ``name@version`` or a
    version directory. Loading verifies every file against the hash in the model card.
    """

    def __init__(self, spec: str = "checkworthy", models_dir: Path | str | None = None,
                 encoder_backend: str | None = None, encoder=None, networks: str | None = None) -> None:
        """``networks``: a domain (``auto``: both) whose networks ``warm_up`` loads too
        (``warm_up_networks``); None: they load on first use."""
        self.spec = spec
        self.networks = networks
        self.models_dir = models_dir
        self.encoder_backend = encoder_backend
        self.encoder = encoder  # an Encoder to share with other stages, or None
        self._classifier: CheckworthyClassifier | None = None
        self._sentence_classifier: SentenceClassifier | None = None
        self._post_classifier: SentenceClassifier | None = None
        self._card: dict | None = None
        self._label = ""

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_classifier"] = None
        state["_sentence_classifier"] = None
        state["_post_classifier"] = None
        state["_card"] = None
        return state

    def warm_up(self) -> None:
        if self._classifier is not None:
            return

        registry = Registry(self.models_dir) if self.models_dir else Registry()
        ref = registry.load_ref(self.spec)
        classifier = CheckworthyClassifier.load(ref.path)
        if self.encoder_backend:
            classifier.set_params(encoder_backend=self.encoder_backend)
        if self.encoder is not None:
            classifier.__dict__["_encoder_instance"] = self.encoder
        if classifier.use_embeddings:
            classifier._encoder().warm_up()
        if has_sentence_classifier(ref.path):
            # Loaded on first use: only domains with a mixing weight above 0 need it.
            self._sentence_classifier = SentenceClassifier(ref.path)
        if "post_classifier" in ref.card:

            # The network fine-tuned on tweets (card ``post_classifier``); loaded on first use.
            self._post_classifier = SentenceClassifier(ref.path, adapter_file=POST_ADAPTER_FILE,
                                                       config_file=POST_CONFIG_FILE)
        self._card = ref.card
        self._label = ref.label
        self._classifier = classifier
        if self.networks is not None:
            self.warm_up_networks(self.networks)

    def warm_up_networks(self, domain: str = AUTO) -> None:
        """Load now the networks that scoring in ``domain`` may run (``auto``: both domains'), which
        otherwise load on first use: the post network and the speech one (an ONNX session each,
        exported once into the cache). A batch job calls this where it loads its models, so that
        the load is not paid by its first chunk (nor counted in its throughput)."""
        self.warm_up()
        for name in self.thresholds if domain == AUTO else [domain]:  # as ``score`` chooses
            if name == "post" and self._post_classifier is not None:
                if float(self.card["post_classifier"]["weight"]) > 0:
                    self._post_classifier.warm_up()
            elif self.mix_weights.get(name, 0.0) > 0 and self._sentence_classifier is not None:
                self._sentence_classifier.warm_up()

    @property
    def label(self) -> str:
        self.warm_up()
        return self._label

    @property
    def card(self) -> dict:
        self.warm_up()
        assert self._card is not None  # set by warm_up
        return self._card

    @property
    def thresholds(self) -> dict[str, float]:
        """Decision threshold per domain, tuned on dev (card ``thresholds``)."""
        return {k: float(v) for k, v in self.card["thresholds"].items()}

    @property
    def threshold(self) -> float:
        """The threshold for social posts, the stage's use."""
        return self.thresholds["post"]

    @property
    def classifier(self) -> CheckworthyClassifier:
        self.warm_up()
        assert self._classifier is not None  # set by warm_up
        return self._classifier

    @property
    def sentence_classifier(self) -> SentenceClassifier | None:
        """The fine-tuned classifier mixed into speech scores (``mix_weights``), or None where the
        model has none; its network loads on first use."""
        self.warm_up()
        return self._sentence_classifier

    @property
    def post_classifier(self) -> SentenceClassifier | None:
        """The network that re-scores posts in the uncertain band (card ``post_classifier``), or
        None where the model has none."""
        self.warm_up()
        return self._post_classifier

    @property
    def mix_weights(self) -> dict[str, float]:
        """Per domain, the weight of the fine-tuned sentence classifier in the score (card
        ``sentence_classifier_weight``); 0 where the model has none or it does not help."""
        weights = self.card.get("sentence_classifier_weight") or {}
        if self._sentence_classifier is None:
            return {domain: 0.0 for domain in self.thresholds}
        return {domain: float(weights.get(domain, 0.0)) for domain in self.thresholds}

    def score(self, texts: Sequence[str], domain: str = "post", embeddings: np.ndarray | None = None) -> np.ndarray:
        """Probability that each text is check-worthy."""
        if len(texts) == 0:
            return np.zeros(0, dtype=np.float64)
        scores = self.classifier.predict_proba(list(texts), domain=domain, embeddings=embeddings)[:, 1]
        if domain == "post" and self._post_classifier is not None:
            return self._post_network_score(list(texts), scores)
        weight = self.mix_weights.get(domain, 0.0)  # 0 where there is no sentence classifier
        if weight > 0 and self._sentence_classifier is not None:
            scores = (1 - weight) * scores + weight * self._sentence_classifier.positive_proba(list(texts))
        return scores

    def _post_network_score(self, texts: list[str], lr_scores: np.ndarray) -> np.ndarray:
        """Posts: the fine-tuned post network mixed with the logistic regression, then calibrated
        (card ``post_classifier``: weight, band_from, calibration, all chosen out-of-fold on the
        training tweets). The network, the slow part, runs only on sentences whose regression
        score reaches ``band_from``; below it the network's share counts as 0."""
        return post_stage_scores(texts, lr_scores, self._post_classifier, self.card["post_classifier"])

    def predict(self, texts: Sequence[str], domain: str = "post") -> np.ndarray:
        return (self.score(texts, domain) >= self.thresholds[domain]).astype(np.int64)

    def sentences(self, post: str) -> list[tuple[int, int]]:
        """Offsets of the sentences of ``post`` that could hold a claim (they have words)."""
        return [(s, e) for s, e in split_sentences(post) if has_words(post[s:e])]

    def score_sentences(self, post: str) -> list[ClaimSpan]:
        """Every sentence of the post with its score, check-worthy or not."""
        offsets = self.sentences(post)
        scores = self.score([post[s:e] for s, e in offsets])
        return [ClaimSpan(post[s:e], s, e, float(p)) for (s, e), p in zip(offsets, scores)]

    def detect(self, post: str) -> list[ClaimSpan]:
        """The check-worthy sentences of a post, in order, with offsets into it."""
        return self.score_post(post)[1]

    def score_post(self, post: str) -> tuple[float, list[ClaimSpan]]:
        """(post score, its check-worthy sentences): the post score is the max over sentences."""
        spans = self.score_sentences(post) if isinstance(post, str) else []
        if not spans:
            return 0.0, []
        threshold = self.threshold
        return max(span.score for span in spans), [span for span in spans if span.score >= threshold]

    def domains_of(self, posts: Sequence[str], domain: str = AUTO) -> list[str]:
        """The domain each post is scored in: ``domain`` itself, or with ``auto`` each post's
        ``route_domain``."""
        if domain != AUTO and domain not in self.thresholds:
            raise ValueError(f"unknown domain {domain!r}; known: {AUTO}, {', '.join(self.thresholds)}")
        if domain != AUTO:
            return [domain] * len(posts)
        return [route_domain(p) if isinstance(p, str) else "post" for p in posts]

    def sentence_scores_routed(self, posts: Sequence[str], domain: str = AUTO
                               ) -> tuple[list[str], list[list[tuple[int, int]]], list[list[float]]]:
        """Per post: its domain (``domains_of``), its sentences' spans and their scores, each
        sentence scored by its post's domain (one batched call per domain); a post that is not
        text has no sentence."""
        domains = self.domains_of(posts, domain)
        offsets = [self.sentences(p) if isinstance(p, str) else [] for p in posts]
        scores: list[list[float]] = [[] for _ in posts]
        for name in dict.fromkeys(domains):
            rows = [i for i, d in enumerate(domains) if d == name]
            flat = [posts[i][s:e] for i in rows for s, e in offsets[i]]
            flat_scores = iter(self.score(flat, domain=name).tolist())
            for i in rows:
                scores[i] = [float(next(flat_scores)) for _ in offsets[i]]
        return domains, offsets, scores

    def score_posts_routed(self, posts: Sequence[str], domain: str = AUTO) -> list[ScoredPost]:
        """Every post split into sentences and scored by its domain (``sentence_scores_routed``);
        a post's score is the max over its sentences and its claims are the sentences at or
        above its domain's threshold."""
        domains, offsets, scores = self.sentence_scores_routed(posts, domain)
        out = []
        for post, spans, row_scores, name in zip(posts, offsets, scores, domains):
            threshold = self.thresholds[name]
            scored = [ClaimSpan(post[s:e], s, e, score) for (s, e), score in zip(spans, row_scores)]
            out.append(ScoredPost(max(row_scores, default=0.0), [c for c in scored if c.score >= threshold], name))
        return out

    def score_posts(self, posts: Sequence[str]) -> list[tuple[float, list[ClaimSpan]]]:
        """``score_post`` for many posts with one batched model call (much faster)."""
        offsets = [self.sentences(p) if isinstance(p, str) else [] for p in posts]
        flat = [p[s:e] for p, spans in zip(posts, offsets) for s, e in spans]
        scores = iter(self.score(flat).tolist())
        threshold = self.threshold
        out = []
        for post, spans in zip(posts, offsets):
            scored = [ClaimSpan(post[s:e], s, e, float(next(scores))) for s, e in spans]
            best = max((span.score for span in scored), default=0.0)
            out.append((best, [span for span in scored if span.score >= threshold]))
        return out


def post_stage_scores(texts: Sequence[str], lr_scores: np.ndarray, network, spec: dict) -> np.ndarray:
    """Post scores from the regression's and, inside the band, the post network's (a
    ``SentenceClassifier``), with the stage of a card's ``post_classifier``."""
    lr_scores = np.asarray(lr_scores, dtype=np.float64)
    weight, band_from = float(spec["weight"]), float(spec["band_from"])
    slope, intercept = (float(v) for v in spec["calibration"])
    network_scores = np.zeros(len(texts), dtype=np.float64)
    in_band = np.flatnonzero(lr_scores >= band_from) if weight > 0 else np.zeros(0, dtype=np.int64)
    if in_band.size:
        network_scores[in_band] = network.positive_proba([texts[int(i)] for i in in_band])
    return post_calibrated(lr_scores, network_scores, weight, slope, intercept)


# -- training ------------------------------------------------------------------------------------


