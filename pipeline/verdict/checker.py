"""Check a claim against the corpus: retrieve evidence, classify stance per passage, aggregate
into a verdict. ``Checker`` loads every model once; it is cheap to construct and to pickle, so
it can be shipped to Dask workers and warmed up there.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Collection, Sequence, cast

import numpy as np

from pipeline.core.errors import UserError
from pipeline.core.paths import DEFAULT_STORE
from pipeline.core.types import STANCE_LABELS, Evidence, StanceLabel, Verdict
from pipeline.corpus.nlp import DEFAULT_MODEL
from pipeline.corpus.store import Corpus
from pipeline.registry.embedding import Encoder
from pipeline.registry.registry import DEFAULT_MODELS_DIR, ModelNotFoundError, Registry
from pipeline.retrieval.index import EvidenceIndex, load_index
from pipeline.retrieval.query_adapter import NO_ADAPTER, QUERY_ADAPTER, QueryAdapter
from pipeline.retrieval.retrieve import CorpusView, RetrievalConfig, denies_what_went_before, people_in, retrieve
from pipeline.stance.model import StanceModel
from pipeline.stance.rerank import Reranker
from pipeline.verdict.aggregator import VerdictAggregator, fitted_stance_spec, joint_reading_text
from pipeline.verdict.packs import RulePack, load_rule_packs, rule_pack_names
from pipeline.verdict.rules import VerdictRules, adjusted_stance, text_before
from pipeline.verdict.subject import ClaimSubject, claim_subject
from pipeline.verdict.validation import (
    refuse_data_frame,
    refuse_single_string,
    valid_before,
    valid_top_k,
    validate_claim,
)

if TYPE_CHECKING:
    from pipeline.factchecks.matcher import FactCheckMatcher

# Imported where used, not here (slow to load; most callers of this module never need them): spacy.


# A claim about an intention ("Poland plans to spend 5% in 2026") is not settled by what was
# done: "Poland allocated 4.12% last year" neither supports nor refutes the plan. Nor is a claim
# about an event still to come when the passage was written ("NATO will hold its 2026 summit
# in Ankara" against a 2025 article on the summit held in The Hague). The cues
# (``INTENTION_CUE``, ``FUTURE_CUE``, ``FORWARD_LOOKING``) are English, in ``pipeline.lang.en``.


@dataclass(frozen=True)
class _Loaded:
    """What ``Checker.warm_up`` loads, once."""

    encoder: Encoder
    index: EvidenceIndex
    view: CorpusView
    stance: StanceModel
    aggregator: VerdictAggregator
    matcher: FactCheckMatcher | None
    screen: StanceModel | None
    parser: Any  # spaCy's Language, for the claim's subject (``claim_subject``)
    packs: tuple[RulePack, ...] = ()  # the rule packs in use, bound to the corpus
    query_adapter: QueryAdapter | None = None  # maps claim vectors before dense search
    verdict_spec: str = "verdict"  # the verdict model loaded, as resolved once (``verdict@v8``)


# A second, faster stance model for the passages shown that do not vote: none by default, since
# the shipped stance model is itself the fast MiniLM cross-encoder and reads them all.
SCREEN_STANCE: str | None = None
# The registry's current verdict model, learned from claim labels of several corpora
# (``training.verdict_fit``); "rules" is the hand-set thresholds of ``VerdictRules``.
DEFAULT_VERDICT = "verdict"


STANCE_INPUTS = ("sentence", "previous", "context")
# The stance model reads 128 tokens of claim and passage, about 400 characters of passage after a
# claim of usual length, and cuts the passage's end: the sentence before is cut from its start
# instead, so that the sentence judged is read whole.
STANCE_PASSAGE_CHARS = 400
MIN_BEFORE_CHARS = 40  # less room than this: a fragment of the sentence before says nothing
STANCE_READING_RULES = 2  # version of stance_text's cuts (verdict-fit rows read otherwise are read again)


def stance_text(passage: Evidence, stance_input: str = "sentence") -> str:
    """What the stance model reads for a passage: a rule pack's rewriting (``read_as``) first;
    then ``sentence``: the sentence alone (or after what a denial points back to,
    ``read_alone_or_after``); ``previous``: the sentence after the end of the one before it,
    as the index reads it, so that an answer is read with its question; ``context``: the
    sentence with its neighbours on both sides."""
    if passage.read_as:
        return passage.read_as
    if stance_input == "context" and passage.context:
        return passage.context
    if stance_input == "previous":
        before = text_before(passage).strip()
        room = STANCE_PASSAGE_CHARS - len(passage.sentence) - 1
        if before and room >= MIN_BEFORE_CHARS:
            cut = before[-room:]
            if len(cut) < len(before):
                cut = cut.split(" ", 1)[-1]  # start on a whole word
            return f"{cut} {passage.sentence}"
    return read_alone_or_after(passage)


def read_alone_or_after(passage: Evidence) -> str:
    """What the stance model reads for a passage: the sentence, or, for a denial that points back
    ("Rutte has never said this," Riggio said.), the sentence before it and the denial together,
    since "this" alone gives the model nothing to refute."""
    before = text_before(passage)
    if before and denies_what_went_before(passage.sentence):
        return f"{before} {passage.sentence}"
    return passage.sentence


class Checker:
    """``stance_spec``: the model that reads the passages that vote (None: the one the verdict
    model was fitted on, else the current ``stance``); ``screen_stance_spec``: the
    one for the other passages shown (None, or a model the registry lacks: the stance model
    reads them all). Verdicts do not depend on the screen model. ``rule_packs``: names of the
    opt-in rule packs to use (``pipeline.verdict.packs``; none by default), applied in this order."""

    def __init__(self, store_dir: Path | str = DEFAULT_STORE, top_k: int = 5, stance_spec: str | None = None,
                 verdict_spec: str = DEFAULT_VERDICT, encoder_backend: str = "torch",
                 retrieval: RetrievalConfig = RetrievalConfig(), fact_checks: bool = True,
                 models_dir: Path | str | None = None, stance_input: str | None = None,
                 rules: VerdictRules = VerdictRules(), encoder=None,
                 screen_stance_spec: str | None = SCREEN_STANCE, stance_backend: str = "auto",
                 rule_packs: Sequence[str] = (), reranker: "Reranker | None" = None,
                 query_adapter: str | None = None, matcher_spec: str = "matcher",
                 index_identity: str | None = None) -> None:
        self.store_dir = Path(store_dir)
        self.top_k = valid_top_k(top_k)
        self.stance_spec = stance_spec
        self.screen_stance_spec = screen_stance_spec
        self.stance_backend = stance_backend  # see pipeline.stance.model.StanceModel
        self.verdict_spec = verdict_spec
        self.encoder_backend = encoder_backend
        self.retrieval = retrieval
        self.fact_checks = fact_checks
        self.models_dir = models_dir
        if stance_input is not None and stance_input not in STANCE_INPUTS:
            raise UserError(f"unknown stance input {stance_input!r}; known: {', '.join(STANCE_INPUTS)}")
        # What the stance model reads of a passage (``stance_text``); None: what the verdict model
        # was fitted on (the hand-set rules: the sentence).
        self.stance_input = stance_input
        self.rules = rules  # used when verdict_spec == "rules"
        self.rule_packs = rule_pack_names(rule_packs)  # names only, so the checker pickles small
        # An Encoder shared with other stages (each copy of MiniLM costs ~160 MB), or None.
        self.encoder = encoder
        # A second stage that re-orders the first stage's best candidates (``pipeline.stance.rerank``), or None.
        self.reranker = reranker
        # The map applied to claim vectors before dense search (``pipeline.retrieval.query_adapter``):
        # a registry spec, "none", or None: the one the verdict model was fitted with (none for
        # the hand-set rules and for verdict models from before query adapters).
        self.query_adapter = query_adapter
        self.matcher_spec = matcher_spec  # the fact-check matcher's registry spec (``FactCheckMatcher``)
        # The evidence index build to check against (``current_index_identity``, read where a job
        # started), another one refused; None: the store's current index.
        self.index_identity = index_identity
        self._loaded: _Loaded | None = None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_loaded"] = None
        return state

    def warm_up(self) -> None:
        if self._loaded is not None:
            return

        if not Corpus(self.store_dir).exists():
            raise UserError(f"{self.store_dir}: no corpus store here; build one with "
                            f"`claimsift ingest DOCUMENTS --store {self.store_dir}` (in Python: "
                            "`pipeline.build_corpus(DOCUMENTS, store_dir)`)")
        # Resolved once: the verdict model and the stance model it names must come from the same
        # reading of CURRENT, whatever is promoted meanwhile.
        verdict_spec = self._resolved_verdict_spec()
        stance_spec, fitted = self._present_models(verdict_spec)
        encoder = self.encoder or Encoder(self.encoder_backend)
        index = load_index(self.store_dir, expected_encoder=encoder.tag, identity=self.index_identity)
        view = CorpusView.from_store(self.store_dir)
        if verdict_spec == "rules":
            aggregator = VerdictAggregator(support_threshold=self.rules.support_threshold,
                                           refute_threshold=self.rules.refute_threshold)
        else:
            aggregator = VerdictAggregator.load(verdict_spec, models_dir=self.models_dir)
        stance = self._stance_model(verdict_spec, stance_spec, fitted)
        screen = self._screen_model(stance)
        matcher = self._fact_check_matcher()
        encoder.warm_up()
        packs = load_rule_packs(self.rule_packs, view, self.store_dir)
        if self.reranker is not None:
            self.reranker.warm_up(loaded=stance)
        adapter_spec = str(self.query_adapter if self.query_adapter is not None
                           else getattr(aggregator, "query_adapter", NO_ADAPTER))
        adapter = None
        if adapter_spec != NO_ADAPTER:
            adapter = QueryAdapter(adapter_spec, models_dir=self.models_dir)
            try:
                adapter.warm_up()
            except UserError as exc:
                if self.query_adapter is not None:
                    raise
                raise UserError(f"{self.verdict_model} retrieves through {adapter_spec}, which cannot be loaded "
                                f"({exc}); copy models/{QUERY_ADAPTER}/ beside it or pass "
                                f"query_adapter=\"none\" (--query-adapter none)") from exc
            adapter.check_encoder(encoder.tag)
        self._loaded = _Loaded(encoder, index, view, stance, aggregator, matcher, screen, claim_parser(), packs,
                               adapter, verdict_spec)

    def _parts(self) -> _Loaded:
        """What warm_up loaded (loading it first where needed)."""
        self.warm_up()
        assert self._loaded is not None  # set by warm_up
        return self._loaded

    def _resolved_verdict_spec(self) -> str:
        if self.verdict_spec != DEFAULT_VERDICT:
            return self.verdict_spec
        version = Registry(self.models_dir or DEFAULT_MODELS_DIR).current_version(DEFAULT_VERDICT)
        return f"{DEFAULT_VERDICT}@{version}" if version else DEFAULT_VERDICT

    def _present_models(self, verdict_spec: str) -> tuple[str, str | None]:
        """The stance spec to load and the one the verdict model was fitted on (None: not known),
        once the cards say, before anything loads, that both models are here. Training registers a
        new version: a pinned version that is missing is named with its folder to copy."""
        registry = Registry(self.models_dir or DEFAULT_MODELS_DIR)
        if verdict_spec not in ("rules", DEFAULT_VERDICT):  # DEFAULT_VERDICT here: none current, the rules
            try:
                registry.resolve(verdict_spec)
            except ModelNotFoundError as exc:
                advice = registry.copy_advice(verdict_spec)
                raise UserError(f"{exc}; {advice}" if advice else str(exc)) from None
        spec, fitted = stance_spec_to_read(verdict_spec, self.stance_spec, self.models_dir)
        try:
            registry.resolve(spec)
        except ModelNotFoundError as exc:
            advice = registry.copy_advice(spec)
            if advice is None:
                raise UserError(f"{exc}; train one with `claimsift train stance`") from None
            if fitted is None:
                raise UserError(f"{exc}; {advice}") from None
            raise UserError(f"{verdict_spec} was fitted on {fitted}'s stance probabilities, and {fitted} is missing "
                            f"({exc}); {advice} (a newly trained stance model would not match it), or pass "
                            "stance_spec=\"stance\" (--stance-model stance) to use the current one") from None
        return spec, fitted

    def _stance_model(self, verdict_spec: str, spec: str, fitted: str | None) -> StanceModel:
        stance = StanceModel(spec, models_dir=self.models_dir, backend=self.stance_backend)
        try:
            stance.warm_up()
        except (UserError, ModelNotFoundError) as exc:
            if fitted is None:
                raise
            raise UserError(f"{verdict_spec} was fitted on {fitted}'s stance probabilities, which cannot be "
                            f"loaded ({exc}); {stance.registry.copy_advice(fitted)} or pass stance_spec=\"stance\" "
                            "(--stance-model stance) to use the current one") from exc
        return stance

    def stance_mismatch(self) -> str | None:
        """A line for a ``stance_spec`` that is not the stance model the verdict model was fitted
        on (``fitted_stance_mismatch``), or None."""
        if self.stance_spec is None:
            return None
        return fitted_stance_mismatch(self.verdict_model, self.stance_spec, self.models_dir)

    def _screen_model(self, stance):
        if not self.screen_stance_spec:
            return None
        screen = StanceModel(self.screen_stance_spec, models_dir=self.models_dir, backend=self.stance_backend)
        try:
            label = screen.registry.resolve(screen.resolve_spec()).label
        except ModelNotFoundError:
            return None  # e.g. a scratch registry holding one stance model: it reads every passage
        if label == stance.tag["model"] + "@" + stance.tag["version"]:
            return None
        screen.warm_up()  # a screen model that fails its hash check is an error, as any model is
        return screen

    @property
    def voting_rules(self) -> VerdictRules:
        """``rules`` as the rule packs in use set them (a pack may turn a voting rule on)."""
        self.warm_up()
        rules = self.rules
        for pack in self._parts().packs:
            rules = pack.voting_rules(rules)
        return rules

    @property
    def stance_models(self) -> dict:
        """The tags of the stance models in use (for checkpoints and reports)."""
        self.warm_up()
        stance, screen = self._parts().stance, self._parts().screen
        return {"stance": stance.tag, **({"screen": screen.tag} if screen is not None else {})}

    @property
    def corpus_view(self) -> CorpusView:
        """The corpus as retrieval and the voting rules read it: its sentences and documents, the
        names they hold and the claims they report."""
        self.warm_up()
        return self._parts().view

    @property
    def bound_rule_packs(self) -> tuple[RulePack, ...]:
        """The rule packs in use, bound to the corpus (``rule_packs`` holds their names)."""
        self.warm_up()
        return self._parts().packs

    def stance_reader(self, votes: bool = True) -> "StanceModel":
        """The stance model that reads the passages that vote; with ``votes=False``, the screen
        model that reads the others (the stance model itself where there is no screen model)."""
        parts = self._parts()
        if votes or parts.screen is None:
            return parts.stance
        return parts.screen

    def _fact_check_matcher(self):
        if not self.fact_checks:
            return None
        try:
            from pipeline.factchecks.matcher import FactCheckMatcher
        except ImportError:
            return None
        matcher = FactCheckMatcher(self.store_dir, spec=self.matcher_spec, encoder=self.encoder)
        has_records = getattr(matcher, "has_records", None)
        if callable(has_records) and not has_records():
            return None
        try:
            matcher.warm_up()
        except UserError:
            return None
        return matcher

    def check(self, claim: str, before: str | None = None, top_k: int | None = None) -> Verdict:
        """The verdict on one claim with its evidence. ``before``: only evidence published before
        this date (YYYY-MM-DD, or a date, datetime or Timestamp); ``top_k``: passages judged, 1 to
        50 (default: the Checker's). An invalid claim raises ``InvalidClaimError`` (a UserError)."""
        return self.check_many([claim], before=before, top_k=top_k)[0]

    def retrieve(self, claims: Sequence[str], before: str | None = None, top_k: int | None = None,
                 exclude_docs: Sequence[Collection[str]] | None = None) -> list[list[Evidence]]:
        """``exclude_docs``: per claim, document ids it may not draw evidence from."""
        self.warm_up()
        encoder, index, view = self._parts().encoder, self._parts().index, self._parts().view
        vectors = encoder.encode(list(claims))
        adapter = self._parts().query_adapter
        if adapter is not None:
            vectors = adapter.adapt(vectors)
        top_k = top_k or self.top_k
        if self.reranker is None:
            return retrieve(claims, vectors, index, view, self.retrieval, before=before, top_k=top_k,
                            exclude_docs=exclude_docs, packs=self._parts().packs)
        candidates = retrieve(claims, vectors, index, view, self.retrieval, before=before,
                              top_k=max(top_k, self.reranker.candidates), exclude_docs=exclude_docs,
                              packs=self._parts().packs)
        return self.reranker.rerank(claims, candidates, top_k)

    def check_many(self, claims: Sequence[str], before: str | None = None, top_k: int | None = None,
                   exclude_docs: Sequence[Collection[str]] | None = None) -> list[Verdict]:
        """One verdict per claim, in order; all claims are embedded and classified in batches.
        ``exclude_docs``: per claim, document ids it may not draw evidence from (``retrieve``)."""
        refuse_single_string(claims)  # else read character by character, each one a claim
        refuse_data_frame(claims)  # else its column names were the claims
        before = valid_before(before)  # a date or Timestamp as YYYY-MM-DD; a string not a date filtered nothing
        top_k = None if top_k is None else valid_top_k(top_k)  # else 0 meant 5 and -3 every sentence
        claims = [validate_claim(c) for c in claims]
        aggregator, matcher = self._loaded_aggregator(), self._parts().matcher
        verdicts = []
        inputs = self._judged_with_voters(claims, before, top_k, exclude_docs)
        joint = (self.joint_readings(claims, [judged for judged, _ in inputs], max_length=aggregator.joint_max_length)
                 if aggregator.needs_joint_reading
                 else [None] * len(claims))
        for claim, (judged, positions), joint_probs in zip(claims, inputs, joint):
            aggregated = aggregator.aggregate(claim, [judged[i] for i in positions], shown=judged,
                                              joint_probs=joint_probs)
            # The aggregator numbers the voters; the verdict lists every passage.
            verdict = replace(aggregated, evidence=tuple(judged),
                              decisive=tuple(positions[i] for i in aggregated.decisive))
            if matcher is not None:
                verdict = replace(verdict, fact_checks=tuple(m.to_dict() for m in matcher.match(claim, k=3, min_similarity=0.5, before=before)))
            verdicts.append(verdict)
        return verdicts

    def joint_readings(self, claims: Sequence[str], shown_lists: Sequence[Sequence[Evidence]],
                       max_length: int | None = None) -> list[list[float] | None]:
        """Per claim, the stance model's probabilities (``STANCE_LABELS``) for the claim against
        its passages shown read together (``joint_reading_text``), up to ``max_length`` tokens (the
        verdict model's ``joint_max_length``; None: the stance model's own); None where none was shown."""
        self.warm_up()
        wanted = [i for i, shown in enumerate(shown_lists) if shown]
        out: list[list[float] | None] = [None] * len(claims)
        if wanted:
            probs = self._parts().stance.predict_proba([claims[i] for i in wanted],
                                                       [joint_reading_text(shown_lists[i]) for i in wanted],
                                                       max_length=max_length)
            for i, row in zip(wanted, probs):
                out[i] = [float(p) for p in row]
        return out

    @property
    def verdict_model(self) -> str:
        """The verdict model in use, resolved (``verdict@v7``), or ``rules`` (for reports)."""
        if self.verdict_spec != DEFAULT_VERDICT:
            return self.verdict_spec
        spec = self._loaded.verdict_spec if self._loaded is not None else self._resolved_verdict_spec()
        return spec if spec != DEFAULT_VERDICT else "rules"  # none current: the hand-set rules

    @property
    def retrieval_adapter(self) -> str:
        """The query adapter in use, resolved (``query-adapter@v1``), or "none" (for reports)."""
        adapter = self._parts().query_adapter
        return f"{adapter.tag['model']}@{adapter.tag['version']}" if adapter is not None else NO_ADAPTER

    @property
    def retrieval_adapter_tag(self) -> dict:
        """The query adapter's tag, with the sha256 of its matrix (for caches), or {} for none."""
        adapter = self._parts().query_adapter
        return adapter.tag if adapter is not None else {}

    @property
    def passage_reading(self) -> str:
        """What the stance model reads of each passage (``stance_text``): the ``stance_input``
        asked for, else the one the verdict model was fitted on."""
        if self.stance_input is not None:
            return self.stance_input
        return getattr(self._loaded_aggregator(), "stance_input", "sentence")

    def _loaded_aggregator(self):
        self.warm_up()
        return self._parts().aggregator

    def aggregator_inputs(self, claims: Sequence[str], before: str | None = None, top_k: int | None = None,
                          exclude_docs: Sequence[Collection[str]] | None = None) -> list[tuple[list[Evidence], list[int]]]:
        """Per claim, what the verdict aggregator reads: every passage shown with its stance, and
        the positions of those that vote. A verdict model is fitted on these."""
        return self._judged_with_voters([validate_claim(c) for c in claims], before, top_k, exclude_docs)

    def _judged_with_voters(self, claims: Sequence[str], before: str | None, top_k: int | None,
                            exclude_docs: Sequence[Collection[str]] | None) -> list[tuple[list[Evidence], list[int]]]:
        # Claims already validated: the language check is not run twice on the check path.
        self.warm_up()
        view = self._parts().view
        evidence_lists = self.retrieve(claims, before=before, top_k=top_k, exclude_docs=exclude_docs)
        subjects = self.subjects(claims)
        rules = self.voting_rules
        voting = [rules.voter_positions(claim, evidence, people_in(claim, view), subject, view.reported_claims)
                  for claim, evidence, subject in zip(claims, evidence_lists, subjects)]
        judged_lists = self.judge(claims, evidence_lists, voting=voting, subjects=subjects)
        return [(judged, list(positions)) for judged, positions in zip(judged_lists, voting)]

    def subjects(self, claims: Sequence[str]) -> list[ClaimSubject | None]:
        """Each claim's subject (``claim_subject``), with the documents that name it."""
        self.warm_up()
        view = self._parts().view
        return [ClaimSubject.of(claim_subject(doc, view.name_documents), view, self._parts().packs)
                for doc in self._parts().parser.pipe(claims, batch_size=256)]

    def judge(self, claims: Sequence[str], evidence_lists: Sequence[Sequence[Evidence]],
              voting: Sequence[Sequence[int]] | None = None,
              subjects: Sequence[ClaimSubject | None] | None = None) -> list[list[Evidence]]:
        """Each passage with its stance towards its claim, classified in batches. ``voting``: per
        claim, the positions of the passages that vote; the others go to the screen model.
        ``subjects``: ``self.subjects(claims)``, if already known."""

        self.warm_up()
        subjects = self.subjects(claims) if subjects is None else subjects
        stance, screen, packs = self._parts().stance, self._parts().screen, self._parts().packs
        plans = self.voting_rules.deeds_cannot_decide_plans
        reading = self.passage_reading
        pairs = [(c, stance_text(e, reading)) for c, ev in zip(claims, evidence_lists) for e in ev]
        if voting is not None and screen is not None:
            votes = [j in voters for voters, ev in zip(map(set, voting), evidence_lists) for j in range(len(ev))]
        else:
            votes = [True] * len(pairs)
        probs = np.zeros((len(pairs), len(STANCE_LABELS)))
        for model, wanted in ((stance, True), (screen, False)):
            rows = [i for i, vote in enumerate(votes) if vote is wanted]
            if rows and model is not None:  # no screen model: every passage is read by the stance model
                probs[rows] = model.predict_proba([pairs[i][0] for i in rows], [pairs[i][1] for i in rows])
        judged_lists, cursor = [], 0
        for claim, evidence, subject in zip(claims, evidence_lists, subjects):
            judged = []
            for item in evidence:
                row = probs[cursor]
                cursor += 1
                stance_probs: dict[str, float] = {label: float(p) for label, p in zip(STANCE_LABELS, row)}
                for pack in packs:
                    stance_probs = pack.stance(claim, item, stance_probs, subject.name if subject else None)
                stance_probs = adjusted_stance(claim, item, stance_probs, plans=plans)
                # The keys are the stance labels: the model's columns, kept by the packs and rules.
                labelled = cast(dict[StanceLabel, float], stance_probs)
                judged.append(replace(item, stance=max(labelled, key=labelled.__getitem__), stance_probs=labelled))
            judged_lists.append(judged)
        return judged_lists


def stance_spec_to_read(verdict_spec: str, stance_spec: str | None = None,
                        models_dir: Path | str | None = None) -> tuple[str, str | None]:
    """The stance model a ``Checker`` with verdict model ``verdict_spec`` (resolved: ``verdict@v13``,
    or ``rules``) reads the passages that vote with, as a spec for the registry, and the one that
    verdict model was fitted on (None: ``stance_spec`` was given, or its card does not say):
    ``stance_spec`` where given, else the fitted one, else the current ``stance`` (``stance-embed``
    while no cross-encoder is current: ``StanceModel.resolve_spec``). The one resolution for the
    Checker, the batch scorer's pins and the review desk's labels, so that none of them names a
    stance model the Checker does not read with. A verdict model that cannot be found is a ``UserError``."""
    # The verdict model's weights fit one stance model's probabilities: promoting or rolling back
    # either model alone must not pair them with another one's.
    fitted = None if stance_spec is not None else fitted_stance_spec(verdict_spec, models_dir)
    spec = stance_spec if stance_spec is not None else fitted or "stance"
    return StanceModel(spec, models_dir=models_dir).resolve_spec(), fitted


def fitted_stance_mismatch(verdict_spec: str, stance_spec: str, models_dir: Path | str | None = None) -> str | None:
    """Where the stance model asked for is not the one verdict model ``verdict_spec`` was fitted
    on: one line saying so, or None. Not refused (a deliberate experiment), but its verdicts weigh
    probabilities the verdict model's weights were not fitted to."""
    try:
        fitted = fitted_stance_spec(verdict_spec, models_dir)
    except UserError:
        return None  # a missing verdict model is reported where it loads
    if fitted is None:
        return None
    stance = StanceModel(stance_spec, models_dir=models_dir)
    try:
        label = stance.registry.resolve(stance.resolve_spec()).label
    except ModelNotFoundError:
        return None  # reported where it loads
    if label == fitted:
        return None
    return (f"{verdict_spec} was fitted on {fitted}'s stance probabilities; reading with {label} instead "
            "gives its weights another model's probabilities (verdicts may be worse than measured)")


def claim_parser():
    """The small English spaCy pipeline, tagger and parser only (about 2 ms a claim)."""
    import spacy


    return spacy.load(DEFAULT_MODEL, exclude=["lemmatizer", "ner"])


def check(claim: str, store_dir: Path | str = DEFAULT_STORE, **options) -> Verdict:
    """One-off check for notebooks; keep a ``Checker`` to check many claims without reloading."""
    return Checker(store_dir, **options).check(claim)
