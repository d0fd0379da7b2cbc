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
from pipeline.checkworthy.post import POST_ADAPTER_FILE, POST_CONFIG_FILE, post_calibrated, whole_post_embeddings
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
    """A post's score, its check-worthy sentences (its claims), the domain whose model and
    thresholds scored it, and every sentence with its own score. The score is the max over the
    sentences, or, for a post read whole (``CheckworthyModel.post_reading``), the post's own."""

    score: float
    claims: list[ClaimSpan]
    domain: str
    sentences: tuple[ClaimSpan, ...] = ()


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
                stage = self.card["post_classifier"]
                whole_weight = float(stage["whole"]["weight"]) if self.post_reading == "whole" else 0.0
                if float(stage["weight"]) > 0 or whole_weight > 0:
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
    def post_reading(self) -> str:
        """How a post's own score is read in the post domain (card ``post_classifier.post_score``,
        chosen out of fold in training): ``sentences``, the max over its sentences' scores, or
        ``whole``, the post read as one text (the regression on its whole text and its sentences'
        pooled embeddings, the post network on the whole post, mixed and calibrated by the stage
        ``post_classifier.whole``). Tweets are labelled whole, and out of fold the whole reading
        ranks them better; which sentences are claims is still read sentence by sentence."""
        spec = self.card.get("post_classifier") or {}
        return "whole" if spec.get("post_score") == "whole" else "sentences"

    @property
    def claim_thresholds(self) -> dict[str, float]:
        """Per domain, the score a sentence needs to be a claim: the domain's threshold, except for
        posts read whole, whose ``thresholds.post`` is for the post's score; their sentences use the
        sentence stage's own (``post_classifier.threshold``)."""
        out = dict(self.thresholds)
        if self.post_reading == "whole":
            out["post"] = float(self.card["post_classifier"]["threshold"])
        return out

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
        """Whether each text, read as one sentence, is a claim (``claim_thresholds``)."""
        return (self.score(texts, domain) >= self.claim_thresholds[domain]).astype(np.int64)

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
        """(post score, its check-worthy sentences) of a social post (``score_posts_routed``)."""
        scored = self.score_posts_routed([post], "post")[0]
        return scored.score, scored.claims

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
        domains, offsets, scores, _ = self._routed(posts, domain)
        return domains, offsets, scores

    def _routed(self, posts: Sequence[str], domain: str
                ) -> tuple[list[str], list[list[tuple[int, int]]], list[list[float]], dict[int, float]]:
        """``sentence_scores_routed`` plus, by post position, the whole-post scores of the posts
        read whole (``post_reading``) that have a sentence."""
        posts = list(posts)  # indexed by position below (a pandas Series would index by label)
        domains = self.domains_of(posts, domain)
        offsets = [self.sentences(p) if isinstance(p, str) else [] for p in posts]
        scores: list[list[float]] = [[] for _ in posts]
        whole: dict[int, float] = {}
        for name in dict.fromkeys(domains):
            rows = [i for i, d in enumerate(domains) if d == name]
            flat = [posts[i][s:e] for i in rows for s, e in offsets[i]]
            read_whole = name == "post" and self.post_reading == "whole" and bool(flat)
            vectors = self.classifier.embed(flat) if read_whole and self.classifier.use_embeddings else None
            flat_scores = iter(self.score(flat, domain=name, embeddings=vectors).tolist())
            for i in rows:
                scores[i] = [float(next(flat_scores)) for _ in offsets[i]]
            if read_whole:
                with_sentences = [i for i in rows if offsets[i]]
                whole.update(zip(with_sentences, self._whole_post_scores(
                    [posts[i] for i in with_sentences], [len(offsets[i]) for i in with_sentences], flat, vectors)))
        return domains, offsets, scores, whole

    def _whole_post_scores(self, posts: list[str], counts: list[int], sentences: list[str],
                           sentence_vectors: np.ndarray | None) -> list[float]:
        """The posts' own scores (``post_reading`` whole): the regression on each whole post, its
        embedding pooled from its sentences' (``counts[i]`` consecutive ``sentences`` each), then
        the card's whole-post stage (the network on the posts in its band, mix, calibration)."""
        embeddings = None
        if sentence_vectors is not None:
            embeddings = whole_post_embeddings(sentence_vectors, [len(s) for s in sentences], counts)
        lr_scores = self.classifier.predict_proba(posts, domain="post", embeddings=embeddings)[:, 1]
        spec = self.card["post_classifier"]["whole"]
        return post_stage_scores(posts, lr_scores, self._post_classifier, spec).tolist()

    def score_posts_routed(self, posts: Sequence[str], domain: str = AUTO) -> list[ScoredPost]:
        """Every post split into sentences and scored by its domain (``sentence_scores_routed``).
        A post's score is the max over its sentences, and its claims are the sentences at or above
        its domain's threshold; a post read whole (``post_reading``) has its own score, and its
        claims, when that score reaches the threshold, are the sentences at or above the sentence
        stage's threshold, or its best sentence where none is."""
        domains, offsets, scores, whole = self._routed(posts, domain)
        claim_thresholds = self.claim_thresholds
        out = []
        for i, (post, spans, row_scores, name) in enumerate(zip(posts, offsets, scores, domains)):
            sentences = tuple(ClaimSpan(post[s:e], s, e, score) for (s, e), score in zip(spans, row_scores))
            claims = [c for c in sentences if c.score >= claim_thresholds[name]]
            if i not in whole:
                out.append(ScoredPost(max(row_scores, default=0.0), claims, name, sentences))
                continue
            if whole[i] < self.thresholds[name]:
                claims = []
            elif not claims:
                claims = [max(sentences, key=lambda c: c.score)]
            out.append(ScoredPost(whole[i], claims, name, sentences))
        return out

    def score_posts(self, posts: Sequence[str]) -> list[tuple[float, list[ClaimSpan]]]:
        """``score_post`` for many posts with one batched model call (much faster)."""
        return [(scored.score, scored.claims) for scored in self.score_posts_routed(posts, "post")]


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


