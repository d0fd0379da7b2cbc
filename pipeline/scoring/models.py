"""What scores a post: the check-worthiness model, then the Checker on each check-worthy sentence, with
the earlier fact-checks that match it. Models load once per process (a Dask worker keeps its own);
which versions load, and which build of the store's evidence index they read, is settled once,
where the job starts (``ModelScorer.pin_models``, ``ModelScorer.pin_index``); so is the state of the
store's documents and fact-check records it reads (``ModelScorer.pin_store``), which a resume checks."""
from __future__ import annotations

import sqlite3
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Protocol, Sequence

from pipeline.checkworthy.model import CheckworthyModel
from pipeline.checkworthy.sentences import split_sentences
from pipeline.core.errors import UserError
from pipeline.core.paths import DEFAULT_STORE
from pipeline.corpus.factchecks import fact_checks_fingerprint
from pipeline.corpus.language import MIN_LATIN_SHARE, MIN_WORDS, NOT_LANGUAGE, latin_share
from pipeline.corpus.language import warm_up as warm_up_language
from pipeline.corpus.store import documents_identity
from pipeline.lang.en import ENGLISH_ONLY_WORDS
from pipeline.registry.embedding import Encoder
from pipeline.registry.registry import DEFAULT_MODELS_DIR, ModelNotFoundError, Registry
from pipeline.retrieval.index import current_index_identity
from pipeline.stance.backends import settled_backend
from pipeline.stance.model import StanceModel
from pipeline.verdict.checker import (
    DEFAULT_VERDICT,
    SCREEN_STANCE,
    Checker,
    fitted_stance_mismatch,
    stance_spec_to_read,
)
from pipeline.verdict.packs import rule_pack_names
from pipeline.verdict.rules import VerdictRules
from pipeline.verdict.validation import URL, WORD, InvalidClaimError, claim_as_checked, other_language, validate_claim


class PostScorer(Protocol):
    """What the job needs from a scorer: picklable, lazy, batched."""

    def fingerprint(self) -> dict: ...

    def warm_up(self) -> None: ...

    def score_posts(self, texts: Sequence[str]) -> list[dict]:
        """One ``{"checkworthiness": float, "claims": [claim dict]}`` per text, in order, or
        ``{"rejected": reason}`` for a text the scorer cannot score (``post_language_refusal``)."""
        ...


def _missing_model(exc: FileNotFoundError, spec: str, role: str, registry: Registry, fitted: str | None,
                   verdict: str) -> str:
    """What to do about a model check_ready cannot find. Training registers a new version: right for
    an unpinned name, never for a pinned one (a verdict model reads only its own stance model's
    probabilities), so a pinned version is named with the folder to copy."""
    copy = registry.copy_advice(spec)
    if copy is None:
        return f"{exc}; train it with `claimsift train {role}`"
    if role == "stance" and spec == fitted:
        return (f"{verdict} was fitted on {spec}'s stance probabilities, and {spec} is missing ({exc}); "
                f"{copy} (a newly trained stance model would not match it)")
    return f"{exc}; {copy}"


def current_model_labels(models_dir: Path | str | None = None) -> dict[str, str | None]:
    """The models a default ``claimsift score`` run would pin now, by role, labelled as its outputs
    record them (``ModelScorer.resolve_models`` and ``model_labels``, the one resolution for both),
    a model that cannot be found as None: what the review desk records for a scores file written
    before outputs recorded their models. Only model cards are read: no model loads, and neither the
    store nor its index is opened (fact-checks off, so no matcher is resolved)."""
    scorer = ModelScorer(models_dir=models_dir, fact_checks=False)
    return scorer.model_labels(scorer.resolve_models(missing_ok=True))


# The --domain choices of a scoring job: ``auto`` routes each post by its form.
CHECKWORTHY_DOMAINS = ("auto", "post", "speech")


def _reads_as_english(text: str) -> bool:
    """Text in Latin script with two English-only function words in it, links, @handles and #hashtags left
    out (a German post's ``/the-tax-that-they-raised`` is no English)."""
    readable = NOT_LANGUAGE.sub(" ", text)
    words = {word.casefold() for word in WORD.findall(readable)}
    return latin_share(readable) >= MIN_LATIN_SHARE and len(ENGLISH_ONLY_WORDS & words) >= 2


def post_language_refusal(text: str) -> str | None:
    """Why a post cannot be scored, when it is surely in another language than English, else None.

    Checked before either domain's check-worthiness model reads the post (otherwise a foreign post whose
    sentences all score under the threshold comes out as a post without a claim, its language never
    said). A post that mixes languages (a quote and its translation) is scored when one of its sentences
    long enough to tell is not surely another language: the identifier gives a mixed text to its
    majority language, and the English sentences hold claims to check."""
    checked = claim_as_checked(text)
    if _reads_as_english(checked):
        return None  # not read by the identifier: 0.7 ms a post, 5% of a batch job's time
    guess = other_language(checked)
    if guess is None:
        return None
    for start, end in split_sentences(text):  # split only here: few posts come this far
        checked = claim_as_checked(text[start:end])
        if len(WORD.findall(URL.sub(" ", checked))) >= MIN_WORDS and other_language(checked) is None:
            return None
    return (f"the post is in another language ({guess.language}, confidence {guess.confidence:.2f}); "
            "the models are English-only")


class ModelScorer:
    """The project's models: check-worthiness first, then a verdict for each check-worthy claim."""

    def __init__(self, store_dir: Path | str = DEFAULT_STORE, checkworthy_spec: str = "checkworthy",
                 stance_spec: str | None = None, encoder_backend: str = "onnx", top_k: int = 5,
                 fact_checks: bool = True, models_dir: Path | str | None = None,
                 rules: VerdictRules = VerdictRules(), screen_stance_spec: str | None = SCREEN_STANCE,
                 stance_backend: str = "auto", checkworthy_domain: str = "auto",
                 rule_packs: Sequence[str] = (), verdict_spec: str = DEFAULT_VERDICT) -> None:
        # Absolute, so that Dask workers started elsewhere find the same store (same path there).
        self.store_dir = Path(store_dir).resolve()
        self.checkworthy_spec = checkworthy_spec
        self.checkworthy_domain = checkworthy_domain  # auto, post or speech (pipeline.checkworthy.sentences.route_domain)
        self.stance_spec = stance_spec  # None: the one the verdict model was fitted on (Checker)
        self.verdict_spec = verdict_spec  # "rules": the hand-set thresholds of ``rules``
        self.screen_stance_spec = screen_stance_spec
        # "auto" is settled once, where the job starts, and shipped settled: every worker then
        # runs stance the same way (bfloat16 and float32 differ in the last digits).
        self.stance_backend = stance_backend
        self.encoder_backend = encoder_backend
        self.top_k = top_k
        self.fact_checks = fact_checks
        self.models_dir = models_dir
        self.rules = rules
        # Names of the opt-in rule packs (``pipeline.verdict.packs``), checked here, where the job starts;
        # workers receive the names and load the packs themselves.
        self.rule_packs = rule_pack_names(rule_packs)
        # Every role's exact model (``verdict@v8``; None: no screen model), settled once where the
        # job starts and shipped so: a worker starting later, or a promotion or rollback during
        # the run, must not give one output the verdicts of two models.
        self.pinned: dict[str, str | None] | None = None
        # The evidence index build read (``current_index_identity``; None: the store had none),
        # settled and shipped the same way: a re-index during the run must not either.
        self.pinned_index: str | None = None
        self._index_pinned = False
        # The store's documents and fact-check records as the job found them (``pin_store``).
        self.pinned_store: dict[str, str | None] | None = None
        self._models: tuple[CheckworthyModel, Checker] | None = None
        self._encoder: Encoder | None = None  # the one both share, set by warm_up

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_models"] = None
        state["_encoder"] = None
        return state

    def fingerprint(self) -> dict:
        """What decides the scores: a checkpoint made with other models must not be resumed. The
        models named are the pinned ones, which every worker loads (``pin_models``)."""
        return {"scorer": "ModelScorer", "store": str(self.store_dir.resolve()), "evidence_index": self.pin_index(),
                **self.pin_store(),
                # Every role named, None where off: a checkpoint of a job without fact-checks differs from this
                # one by an option (fact_checks), not by what the claimsift that wrote it records.
                "models": {"screen_stance": None, "matcher": None, **self.model_labels(self.pin_models())},
                "encoder_backend": self.encoder_backend,
                "stance_backend": self.settled_stance_backend(),
                "top_k": self.top_k, "fact_checks": self.fact_checks, "checkworthy_domain": self.checkworthy_domain,
                "rule_packs": list(self.rule_packs), "post_language_rule": 2}

    def settled_stance_backend(self) -> str:
        self.stance_backend = settled_backend(self.stance_backend)
        return self.stance_backend

    def _registry(self, role: str) -> Registry:
        # The fact-check matcher reads the default models folder (``Checker._fact_check_matcher``).
        return Registry(self.models_dir or DEFAULT_MODELS_DIR) if role != "matcher" else Registry(DEFAULT_MODELS_DIR)

    def model_labels(self, pinned: dict[str, str | None]) -> dict[str, str | None]:
        """``pin_models``' (or ``resolve_models``') specs as the fingerprint and a scoring output
        record them, by role: ``verdict@v8``, the hand-set rules by their settings, a version folder
        given by its path by its label; with the voting rules, which choose the passages that vote
        whatever aggregates their votes."""
        versions: dict[str, str | None] = {}
        for role, spec in pinned.items():
            if spec == "rules":  # the hand-set thresholds, versioned by their settings
                versions[role] = self.rules.label()
            elif spec is None or "@" in spec:
                versions[role] = spec
            else:  # a version folder given by its path
                versions[role] = self._registry(role).resolve(spec).label
        versions["voting_rules"] = self.rules.label()
        return versions

    def pin_models(self) -> dict[str, str | None]:
        """Resolve every model once, here, where the job starts (``check_ready``, ``fingerprint``):
        ``verdict@v8`` for ``verdict``, the stance model that version was fitted on (else the
        current one, or the embedding one while no cross-encoder is promoted), ``checkworthy@v3``...
        Workers then load exactly these, whatever is promoted or rolled back meanwhile. A model
        that cannot be found is a ``UserError`` saying what to do."""
        if self.pinned is None:
            self.pinned = self.resolve_models()
        return self.pinned

    def resolve_models(self, missing_ok: bool = False) -> dict[str, str | None]:
        """Every role's model spec as the registry stands now (``pin_models`` settles it once for a
        job). ``missing_ok``: a model that cannot be found is None rather than a ``UserError`` (the
        review desk naming, for a scores file that records none, what a run would use today:
        ``current_model_labels``); nothing loads either way, only cards are read."""
        verdict = self.verdict_spec
        if verdict == DEFAULT_VERDICT:  # CURRENT read once: the stance model below is the one it names
            version = self._registry("verdict").current_version(DEFAULT_VERDICT)
            verdict = f"{DEFAULT_VERDICT}@{version}" if version else "rules"  # none yet: the hand-set rules
        found = verdict if verdict == "rules" else self._pinned("verdict", verdict, None, verdict, missing_ok)
        verdict = found or verdict  # (None only with missing_ok: the spec not found is still the one named below)
        stance: str | None
        try:
            stance, fitted = stance_spec_to_read(verdict, self.stance_spec or None, self.models_dir)
        except UserError:  # the verdict model cannot be found (caught above unless missing_ok)
            if not missing_ok:
                raise
            stance, fitted = None, None
        pinned: dict[str, str | None] = {
            "checkworthy": self._pinned("checkworthy", self.checkworthy_spec, fitted, verdict, missing_ok),
            "stance": None if stance is None else self._pinned("stance", stance, fitted, verdict, missing_ok),
            "verdict": found}
        if self.screen_stance_spec:
            screen = StanceModel(self.screen_stance_spec, models_dir=self.models_dir).resolve_spec()
            try:
                pinned["screen_stance"] = self._pinned("screen_stance", screen, fitted, verdict)
            except UserError:  # as the Checker does: no screen model, the stance model reads every passage
                pinned["screen_stance"] = None
        if self.fact_checks:
            try:
                pinned["matcher"] = self._pinned("matcher", "matcher", fitted, verdict)
            except UserError as exc:
                # Fact-checks off for the whole job, as the Checker goes without a matcher it cannot
                # load; workers honour the None, whatever matcher appears meanwhile.
                pinned["matcher"] = None
                if self._store_has_fact_checks():  # else no matcher would be used anyway
                    print(f"warning: scoring without fact-check matches: {exc}", file=sys.stderr)
        if self.stance_spec:
            mismatch = fitted_stance_mismatch(verdict, self.stance_spec, self.models_dir)
            if mismatch:  # said once, here, not by every worker
                print(f"warning: {mismatch}", file=sys.stderr)
        return pinned

    def pin_index(self) -> str | None:
        """Which build of the store's evidence index the job reads, settled once, here, where it
        starts (``check_ready``, ``fingerprint``): a worker refuses any other (``load_index``), since
        a re-index keeps no older build to go back to."""
        if not self._index_pinned:
            self.pinned_index = current_index_identity(self.store_dir)
            self._index_pinned = True
        return self.pinned_index

    def pin_store(self) -> dict[str, str | None]:
        """The state of the store's documents (``documents_identity``) and, when the job matches
        fact-checks, of its fact-check records (their count and digest, what the matching index is
        built from), settled once where the job starts. No text is read or hashed: counts, the last
        row and sentence id, and a digest of each record's id and content hash. A checkpoint records
        them and ``--resume`` refuses one made against another state (``pipeline.scoring.scorer``): a
        re-ingest between a crash and its resume would give one output the results of two corpora."""
        if self.pinned_store is None:
            records: str | None = None
            if self.fact_checks and self.pin_models().get("matcher") is not None:
                try:
                    count, digest = fact_checks_fingerprint(self.store_dir)
                    records = f"{count} records, digest {digest}" if count else "0 records"
                except sqlite3.Error:  # a store that cannot be read is reported where it is read
                    records = None
            self.pinned_store = {"documents": documents_identity(self.store_dir), "fact_check_records": records}
        return self.pinned_store

    def refuse_a_changed_store(self) -> None:
        """Before each chunk: a ``UserError`` if the store's documents are no longer those the job
        pinned where it started (``pin_store``; nothing pinned, as for a scorer used on its own:
        nothing to compare). A re-ingest during a run would give the chunks after it the evidence
        of another corpus, which ``--resume`` refuses too; the chunks finished before it are kept."""
        if self.pinned_store is None:
            return
        was, now = self.pinned_store["documents"], documents_identity(self.store_dir)
        if now != was:
            raise UserError(f"the store {self.store_dir} changed while this run was scoring (documents: was {was}, "
                            f"now {now or 'unreadable'}), and one output must not mix results from two corpora; "
                            "the chunks finished before it are kept: resume against the store as it was, or start "
                            "over")

    def _store_has_fact_checks(self) -> bool:
        try:
            return fact_checks_fingerprint(self.store_dir)[0] > 0
        except sqlite3.Error:  # a store that cannot be read is reported where it is read
            return False

    def _pinned(self, role: str, spec: str, fitted: str | None, verdict: str, missing_ok: bool = False) -> str | None:
        """``spec`` as ``name@version`` (a version folder given by its path stays that path);
        ``missing_ok``: None for a model that cannot be found."""
        registry = self._registry(role)
        try:
            ref = registry.resolve(spec)
        except ModelNotFoundError as exc:
            if missing_ok:
                return None
            raise UserError(_missing_model(exc, spec, role, registry, fitted, verdict)) from None
        except ValueError:  # a spec the registry cannot read
            if missing_ok:
                return None
            raise
        return str(ref.path) if (Path(spec) / "card.json").is_file() else ref.label

    def check_ready(self) -> None:
        """Fail fast, before any model loads (and before a Dask cluster starts), when the store or
        a model is missing; pins the models (``pin_models``)."""
        try:
            from pipeline.corpus.store import Corpus
        except ImportError:
            exists = self.store_dir.is_dir()
        else:
            exists = Corpus(self.store_dir).exists()
        if not exists:
            raise UserError(f"{self.store_dir}: no corpus store here; build one with "
                            f"`claimsift ingest DOCUMENTS --store {self.store_dir}` (in Python: "
                            "`pipeline.build_corpus(DOCUMENTS, store_dir)`)")
        self.pin_index()
        self.pin_models()
        self.pin_store()

    def warm_up(self) -> None:
        if self._models is not None:
            return

        pinned = self.pin_models()  # shipped pinned to a worker; pinned here when used alone
        index = self.pin_index()
        # One MiniLM for claim detection, retrieval and fact-check matching: each copy is ~160 MB
        # per process (measured with the ONNX backend).
        encoder = Encoder(self.encoder_backend)
        # The language identifier and the check-worthiness networks load here too (else the first chunk loads
        # them, inside the job's time).
        warm_up_language()
        detector = CheckworthyModel(str(pinned["checkworthy"]), encoder_backend=self.encoder_backend,
                                    encoder=encoder, models_dir=self.models_dir, networks=self.checkworthy_domain)
        detector.warm_up()
        checker = Checker(self.store_dir, top_k=self.top_k, stance_spec=pinned["stance"],
                          verdict_spec=str(pinned["verdict"]), encoder_backend=self.encoder_backend,
                          fact_checks=self.fact_checks and pinned.get("matcher") is not None,
                          rules=self.rules, encoder=encoder,
                          screen_stance_spec=pinned.get("screen_stance"),
                          stance_backend=self.settled_stance_backend(), rule_packs=self.rule_packs,
                          models_dir=self.models_dir, matcher_spec=pinned.get("matcher") or "matcher",
                          index_identity=index)
        checker.warm_up()
        self._models = (detector, checker)
        self._encoder = encoder

    def score_posts(self, texts: Sequence[str]) -> list[dict]:
        self.refuse_a_changed_store()
        self.warm_up()
        assert self._models is not None  # set by warm_up
        detector, checker = self._models
        # The claims are sentences check-worthiness has just embedded: retrieval and fact-check
        # matching reuse those vectors (the same bit for bit) instead of encoding them again.
        with self._encoder.remembering() if self._encoder is not None else nullcontext():
            return self._score_posts(detector, checker, texts)

    def _score_posts(self, detector: CheckworthyModel, checker: Checker, texts: Sequence[str]) -> list[dict]:
        refusals = [post_language_refusal(text) for text in texts]
        # One batched model call per chunk and domain, on the posts in English.
        routed = iter(detector.score_posts_routed([t for t, r in zip(texts, refusals) if r is None],
                                                  self.checkworthy_domain))
        posts: list[dict] = []
        to_check: list[tuple[int, int, str]] = []  # (post index, claim index, claim text)
        for refusal in refusals:
            if refusal is not None:
                posts.append({"rejected": refusal})
                continue
            scored = next(routed)
            post_score, spans, domain = scored.score, scored.claims, scored.domain
            claims: list[dict] = []
            for span in spans:
                # The claim's text as checked (escape sequences and control characters out, as the
                # checker reads it); start and end still point into the post as read.
                claim = {"text": claim_as_checked(span.text), "start": int(span.start), "end": int(span.end),
                         "checkworthiness": round(float(span.score), 4)}
                try:
                    to_check.append((len(posts), len(claims), validate_claim(span.text)))  # = claim["text"]
                except InvalidClaimError as exc:
                    claim["skipped"] = str(exc)
                claims.append(claim)
            posts.append({"checkworthiness": round(float(post_score), 4), "checkworthy_domain": domain,
                          "claims": claims})
        verdicts = checker.check_many([c for _, _, c in to_check]) if to_check else []
        for (post_at, claim_at, checked), verdict in zip(to_check, verdicts):
            # verdict.to_dict() carries needs_review (its "claim" is the checked text, kept as "text")
            posts[post_at]["claims"][claim_at].update(verdict.to_dict() | {"text": checked})
        return posts
