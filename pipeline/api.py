"""The notebook API: a small surface over the pipeline that returns pandas DataFrames and
plain dataclasses (with ``_repr_html_`` where a table or highlight helps).

Every name here is also available lazily from the package (``import pipeline`` stays cheap;
``pipeline.check_claim`` imports what it needs on first use)::

    import pipeline

    corpus = pipeline.build_corpus(["seeds"], "/tmp/store")          # ingest + index
    corpus.documents(); corpus.entities(); corpus.quotes()          # DataFrames
    verdict = pipeline.check_claim("Rutte threatened to expel the US", store_dir="/tmp/store")
    verdict                                                         # evidence, decisive sentence highlighted
    pipeline.evidence_frame(verdict)                                # the evidence as a DataFrame
    pipeline.check_claims(["claim one", "claim two"], store_dir="/tmp/store", top_k=10, before="2025-01-01")
    pipeline.score_frame(posts_df, store_dir="/tmp/store")           # one row per post
    result = pipeline.train("checkworthy", "my_labels.jsonl", models_dir=registry)   # not promoted
    comparison = pipeline.evaluate(result.model, "checkworthy", "eval.jsonl", models_dir=registry)
    comparison                                                      # metric table + plots
    pipeline.promote(result.model, models_dir=registry); pipeline.rollback("checkworthy", models_dir=registry)

Stages one by one: ``pipeline.Corpus`` (store), ``pipeline.Checker`` (retrieve + stance +
verdict; keep one to check many claims), ``pipeline.StanceModel``, ``pipeline.CheckworthyModel``.

``pipeline.verdict.checker`` is the checking *module* (``pipeline/verdict/checker.py``), not a function: use
``check_claim`` (or ``pipeline.api.check``).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

import numpy as np

from pipeline.checkworthy.model import CheckworthyModel
from pipeline.checkworthy.sentences import AUTO
from pipeline.core.errors import UserError
from pipeline.core.paths import DEFAULT_STORE
from pipeline.core.types import STANCE_LABELS
from pipeline.corpus.ingest import ingest
from pipeline.corpus.inputs import expand_inputs
from pipeline.corpus.readers import Rejection
from pipeline.corpus.store import Corpus
from pipeline.evaluation.compare import compare_models
from pipeline.evaluation.compare import evaluate_model as _evaluate_model
from pipeline.factchecks.index import build_store_index
from pipeline.registry.registry import DEFAULT_MODELS_DIR, Registry, model_rows
from pipeline.retrieval.index import update_index
from pipeline.scoring.scorer import score_frame as _score_frame
from pipeline.training import data as training_data
from pipeline.training.retrain import DEFAULT_DATASETS_DIR, retrain, user_minimum
from pipeline.verdict.checker import Checker
from pipeline.verdict.validation import (
    CLAIMS,
    InvalidClaimError,
    refuse_data_frame,
    refuse_single_string,
    valid_before,
    valid_top_k,
    validate_claim,
)

if TYPE_CHECKING:
    import pandas as pd

# Imported where used, not here (slow to load; most callers of this module never need them): pandas.

# -- corpus ---------------------------------------------------------------------------------------

def _store_path(store_dir: object, call: str) -> Path:
    # A list here is most often the paths to ingest, given in the store's place.
    if not isinstance(store_dir, (str, os.PathLike)):
        raise UserError(f"store_dir must be one path (the store folder), got {type(store_dir).__name__}; "
                        f"call {call}")
    return Path(store_dir)


def load_corpus(store_dir: Path | str = DEFAULT_STORE):
    """The corpus store at ``store_dir`` (``documents()``, ``sentences()``, ``entities()``,
    ``quotes()`` return DataFrames; ``summary()`` the counts). Raises ``UserError`` where there
    is no store (a mistyped path read as an empty corpus); nothing is created."""
    corpus = Corpus(_store_path(store_dir, "load_corpus(store_dir)"))  # refuses a file; creates nothing
    if not corpus.exists():
        raise UserError(f"{corpus.path}: no corpus store here; build one with "
                        f"`claimsift ingest DOCUMENTS --store {corpus.path}` (in Python: "
                        "`pipeline.build_corpus(DOCUMENTS, store_dir)`)")
    return corpus


def build_corpus(paths: Path | str | Iterable[Path | str], store_dir: Path | str, index: bool = True):
    """Ingest ``paths`` (files or folders, or one of them) into the store at ``store_dir`` and,
    unless ``index=False``, build its evidence index; returns the ``Corpus``. Re-running is cheap:
    unchanged documents are skipped. Raises ``UserError`` naming any rejected input, as
    ``claimsift ingest`` exits 1: after ingesting and indexing the accepted documents."""
    # A str is iterable too: read as a list it was ingested character by character ("/" walked the disk).
    store = _store_path(store_dir, "build_corpus(paths, store_dir)")  # before the paths: swapped, they were read first
    given = [Path(paths)] if isinstance(paths, (str, os.PathLike)) else [Path(p) for p in paths]
    # Refused here, before ingest creates the store: else an empty store folder was left behind.
    if not given:
        raise UserError("nothing to ingest: no paths given")
    found: list[Rejection] = []
    if not expand_inputs(given, found):
        why = "; ".join(str(r) for r in found[:5]) or f"no supported files in {', '.join(map(str, given))}"
        raise UserError(f"nothing to ingest: {why}")
    report = ingest(given, store)
    if report.fact_checks_changed:
        build_store_index(store)
    if index:
        update_index(store)
    if report.rejected:
        more = f" (and {len(report.rejected) - 5} more)" if len(report.rejected) > 5 else ""
        accepted = len(report.added) + len(report.replaced) + len(report.unchanged) + len(report.duplicates)
        done = "ingested and indexed" if index else "ingested (not indexed: index=False)"
        kept = (f"the {accepted} accepted document(s) were {done} in {store} "
                f"(pipeline.load_corpus({str(store)!r}) opens it)" if accepted else "no document was ingested")
        raise UserError(f"rejected inputs: {'; '.join(str(r) for r in report.rejected[:5])}{more}; {kept}")
    return load_corpus(store)


def entity_counts(corpus) -> pd.DataFrame:
    """Entities by type (label) and text: DataFrame ``label, text, mentions``, most mentioned first."""
    entities = corpus.entities()
    frame = entities.groupby(["label", "text"]).size().reset_index(name="mentions")
    return frame.sort_values(["mentions", "label", "text"], ascending=[False, True, True]).reset_index(drop=True)


def quotes_by_speaker(corpus) -> pd.DataFrame:
    """Who is quoted saying what: DataFrame ``speaker, kind, cue, content, title, published``."""
    quotes = corpus.quotes()
    docs = corpus.documents()[["doc_id", "title", "published"]]
    frame = quotes.merge(docs, on="doc_id", how="left")
    return frame[["speaker", "kind", "cue", "content", "title", "published", "doc_id"]].sort_values(
        ["speaker", "published"], na_position="last").reset_index(drop=True)


# -- checking -------------------------------------------------------------------------------------

def _valid_settings(before: object, top_k: object) -> tuple[str | None, int | None]:
    """``before`` and ``top_k`` checked as ``claimsift check`` checks them, before any model loads."""
    return valid_before(before), None if top_k is None else valid_top_k(top_k)


def checker(store_dir: Path | str = DEFAULT_STORE, **options):
    """A ``Checker`` for many claims (models load once, on first use). Options: ``top_k``,
    ``stance_spec``, ``verdict_spec``, ``models_dir``, ``encoder_backend``, ``retrieval``,
    ``query_adapter`` ("none", or a registry spec such as "query-adapter": the map on claim
    vectors before dense search; default: the one the verdict model was fitted with)."""
    if "top_k" in options:
        options["top_k"] = valid_top_k(options["top_k"])
    return Checker(_store_path(store_dir, "pipeline.checker(store_dir)"), **options)


def check(claim: str, store_dir: Path | str = DEFAULT_STORE, *, before: str | date | None = None,
          top_k: int | None = None, **options):
    """Check one claim; returns a ``Verdict`` (shows its evidence with the decisive sentence
    highlighted in a notebook). ``before``: only evidence published before this date (YYYY-MM-DD,
    or a ``datetime.date``, ``datetime.datetime`` or pandas ``Timestamp``, taken as its date);
    ``top_k``: evidence passages to judge, 1 to 50 (default 5)."""
    before, top_k = _valid_settings(before, top_k)
    return checker(store_dir, **options).check(claim, before=before, top_k=top_k)


check_claim = check


VERDICT_COLUMNS = ["claim", "verdict", "confidence", "needs_review", "n_evidence", "decisive_sentence",
                   "decisive_stance", "decisive_document", "decisive_source"]


def verdicts_frame(verdicts: Sequence) -> pd.DataFrame:
    """One row per verdict: ``claim, verdict, confidence, needs_review, n_evidence,
    decisive_sentence, decisive_stance, decisive_document, decisive_source`` (a None verdict gives
    a row of None, with confidence NaN and n_evidence 0). ``decisive_document`` is the first
    decisive passage's document (its name in the store), ``decisive_source`` that document's
    source as ingested (None where it has none). ``needs_review``: the verdict model's confidence is in
    the band where it is right at most half the time (see the README)."""
    import pandas as pd

    rows: list[dict[str, Any]] = []
    for v in verdicts:
        if v is None:
            # No confidence at all, not 0.0: a mean over the column skips it.
            rows.append({"claim": None, "verdict": None, "confidence": np.nan, "needs_review": None, "n_evidence": 0,
                         "decisive_sentence": None, "decisive_stance": None, "decisive_document": None,
                         "decisive_source": None})
            continue
        decisive = [v.evidence[i] for i in v.decisive if i < len(v.evidence)]
        first = decisive[0] if decisive else None
        rows.append({"claim": v.claim, "verdict": v.verdict, "confidence": round(float(v.confidence), 4),
                     "needs_review": bool(v.needs_review),
                     "n_evidence": len(v.evidence), "decisive_sentence": first.sentence if first else None,
                     "decisive_stance": first.stance if first else None,
                     "decisive_document": (first.document or first.doc_id) if first else None,
                     "decisive_source": (first.source or None) if first else None})
    # object, not pandas' str dtype: that turns a missing verdict or decisive sentence into NaN.
    return pd.DataFrame(rows, columns=VERDICT_COLUMNS, dtype=object).astype(
        {"confidence": np.float64, "n_evidence": np.int64})


def check_claims(claims: Sequence[str], store_dir: Path | str = DEFAULT_STORE, *, before: str | date | None = None,
                 top_k: int | None = None, checker_instance=None, return_verdicts: bool = False,
                 **options) -> pd.DataFrame | tuple[pd.DataFrame, list]:
    """Check many claims in one batch: one row per claim, in order (``verdicts_frame`` columns
    plus ``rejected``). ``claims``: a list, a tuple or a pandas Series (a DataFrame's column,
    ``df["claim"]``, whose index the frame keeps, so ``df.assign(verdict=frame["verdict"])``
    lines up; the DataFrame itself is refused). A claim the checker refuses (empty, too long, not
    English) keeps its row with ``verdict`` None, ``confidence`` NaN (missing: ``mean()`` skips it,
    where 0.0 would count as a checked claim's), n_evidence 0, and the reason in ``rejected`` (None
    for the claims checked). The frame holds plain values only (it saves to
    Parquet); with ``return_verdicts=True`` the ``Verdict`` objects come too, one per row (None
    for a rejected claim): ``frame, verdicts = check_claims(..., return_verdicts=True)``."""
    import pandas as pd

    refuse_single_string(claims, CLAIMS)
    refuse_data_frame(claims, CLAIMS, column="claim")
    if isinstance(claims, Mapping):  # iterated, a dict gave its keys as the claims
        raise UserError(f"{CLAIMS} must be a list, a tuple or a pandas Series of texts, not a "
                        f"{type(claims).__name__}; pass list(d.values()) for a dict's values")
    before, top_k = _valid_settings(before, top_k)
    index = claims.index if isinstance(claims, pd.Series) else None
    claims = list(claims)
    reasons: list[str | None] = []
    for claim in claims:
        try:
            validate_claim(claim)
            reasons.append(None)
        except InvalidClaimError as exc:
            reasons.append(str(exc))
    instance = checker_instance or checker(store_dir, **options)
    accepted = [c for c, reason in zip(claims, reasons) if reason is None]
    checked = iter(instance.check_many(accepted, before=before, top_k=top_k) if accepted else [])
    verdicts = [next(checked) if reason is None else None for reason in reasons]
    frame = verdicts_frame(verdicts)
    frame["claim"] = pd.Series(claims, dtype=object)
    frame["rejected"] = pd.Series(reasons, dtype=object)  # None, not NaN, where the claim was checked
    if index is not None:
        frame.index = index
    return (frame, verdicts) if return_verdicts else frame


EVIDENCE_COLUMNS = ["doc_id", "document", "source", "title", "published", "url", "sentence", "sentence_index", "start", "end",
                    "context", "stance", "score", *(f"p_{label}" for label in STANCE_LABELS), "read_as", "decisive"]


# Text columns as objects, as verdicts_frame's: pandas' str dtype turns a missing date into NaN, which
# is truthy (``if published:``) and is not None.
EVIDENCE_DTYPES = {**{c: object for c in ("doc_id", "document", "source", "title", "published", "url", "sentence",
                                          "context", "stance", "read_as")}, "sentence_index": np.int64, "start": np.int64, "end": np.int64, "score": np.float64,
                   **{f"p_{label}": np.float64 for label in STANCE_LABELS}, "decisive": bool}


def evidence_frame(verdict) -> pd.DataFrame:
    """A verdict's evidence as a DataFrame, one row per passage, ``decisive`` marked; the same
    columns (``EVIDENCE_COLUMNS``) whatever the evidence, none at all included. ``url``: the
    document's, else empty. ``read_as``: what the stance model read where it was not the sentence,
    else empty."""
    import pandas as pd

    if not hasattr(verdict, "evidence"):
        raise UserError(f"evidence_frame takes a Verdict, got {type(verdict).__name__}"
                        + (" (a claim check_claims refused has no verdict: see its `rejected` column)"
                           if verdict is None else ""))
    rows = []
    for i, e in enumerate(verdict.evidence):
        row = e.to_dict()
        probs = row.pop("stance_probs")
        row.update({f"p_{k}": v for k, v in probs.items()})
        row.setdefault("read_as", "")
        row["decisive"] = i in verdict.decisive
        rows.append(row)
    # Columns named: without them a verdict with no evidence gave a frame with no columns at all;
    # typed: an empty frame's columns were all objects, and a concat of frames took that dtype.
    return pd.DataFrame(rows, columns=EVIDENCE_COLUMNS).astype(EVIDENCE_DTYPES)


def score_frame(df, store_dir: Path | str = DEFAULT_STORE, text_column: str = "text", **options):
    """Score posts: one output row per input row (same index) with the check-worthy claims found in
    it, each with a verdict and evidence (see ``pipeline.scoring.scorer``). ``df``: a DataFrame with
    a ``text_column``, or the texts alone (a Series or a list). Options: ``id_column``, ``top_k``,
    ``domain`` (auto, post or speech), ``max_chars``, and ``scorer``: a ``pipeline.ModelScorer(store_dir)``
    kept between calls, so that the models load once rather than on every call."""
    import pandas as pd

    refuse_single_string(df, "texts")
    if isinstance(df, pd.Series):
        df = df.to_frame(text_column)
    elif not isinstance(df, pd.DataFrame):
        if not isinstance(df, Iterable):
            raise UserError(f"expected a DataFrame, a Series or a list of texts, got {type(df).__name__}")
        df = pd.DataFrame({text_column: list(df)})
    return _score_frame(df, store_dir=store_dir, text_column=text_column, **options)


def checkworthiness_frame(texts: Sequence[str], domain: str = AUTO, model: str = "checkworthy",
                          models_dir: Path | str | None = None) -> pd.DataFrame:
    """Check-worthiness of every sentence of ``texts``: DataFrame ``text_index, sentence, start,
    end, score, checkworthy, post_score, domain``. ``domain`` as in ``claimsift checkworthy
    --domain``: ``auto`` (the default) routes each text by its form, ``post`` (social media) or
    ``speech`` (debates and speeches) forces one. ``score`` is the sentence's own, ``post_score``
    its text's (``CheckworthyModel.score_posts_routed``) and ``checkworthy`` whether the sentence
    is one of its text's claims. Texts without a sentence get no row."""
    import pandas as pd

    refuse_single_string(texts, "texts")
    refuse_data_frame(texts, "texts", column="text")
    texts = list(texts)
    not_texts = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if not_texts:  # else they were dropped without a row or a word
        shown = ", ".join(f"{i} ({type(texts[i]).__name__})" for i in not_texts[:5])
        more = f" and {len(not_texts) - 5} more" if len(not_texts) > 5 else ""
        raise UserError(f"texts must be strings; not at position(s) {shown}{more}: drop or fill them first "
                        "(e.g. df['text'].dropna())")
    detector = CheckworthyModel(model, models_dir=models_dir or None)
    if domain != AUTO and domain not in detector.thresholds:
        raise UserError(f"unknown domain {domain!r}; use {AUTO} or one the model knows: "
                        f"{', '.join(detector.thresholds)}")
    scored = detector.score_posts_routed(texts, domain)
    rows = [(i, post, sentence) for i, post in enumerate(scored) for sentence in post.sentences]
    return pd.DataFrame({"text_index": [i for i, _, _ in rows], "sentence": [s.text for _, _, s in rows],
                         "start": [s.start for _, _, s in rows], "end": [s.end for _, _, s in rows],
                         "score": np.array([s.score for _, _, s in rows], dtype=np.float64),
                         "checkworthy": np.array([s in post.claims for _, post, s in rows], dtype=bool),
                         "post_score": np.array([post.score for _, post, _ in rows], dtype=np.float64),
                         "domain": [post.domain for _, post, _ in rows]})


# -- models: train, evaluate, registry ------------------------------------------------------------

def validate_training_file(path: Path | str, task: str, datasets_dir: Path | str | None = None,
                           evaluation_files: Sequence[Path | str] = (), include_public: bool = True):
    """Check a labelled file as ``train`` would (added to the public data unless
    ``include_public=False``, which asks more of it); returns a ``ValidationReport`` (``.ok``,
    ``.problems`` with row numbers, ``.summary()``) instead of raising."""
    root = Path(datasets_dir or DEFAULT_DATASETS_DIR)
    keys = training_data.evaluation_keys(task, root, evaluation_files)
    report, _ = training_data.validate(path, task, evaluation=keys,
                                       **user_minimum(include_public, root if root.is_dir() else None))
    return report


def train(task: str, data: Path | str, **options):
    """Validate ``data`` and train a new version of the ``task`` model (``stance`` or
    ``checkworthy``) on it, added to the public training data unless ``include_public=False``.
    The version is registered but NOT promoted. Options: see ``pipeline.training.retrain.retrain``
    (``models_dir``, ``datasets_dir``, ``base``, ``public_sample``, ``params``, ``kind``...).
    Returns a ``RetrainResult``."""
    return retrain(task, data, **options)


def evaluate(candidate: str, current: str, data: Path | str, *, task: str | None = None,
             models_dir: Path | str | None = None, report: Path | str | None = None, **options):
    """Compare two models on a labelled file; returns a ``Comparison`` (``to_frame()``, plots in
    ``_repr_html_``); ``report`` also writes the HTML report."""

    comparison = compare_models(candidate, current, data, task=task, models_dir=models_dir, **options)
    if report is not None:
        comparison.write_html(report)
    return comparison


def evaluate_model(model: str, data: Path | str, *, task: str | None = None,
                   models_dir: Path | str | None = None, **options) -> pd.DataFrame:
    """One model on a labelled file: every metric of its task (primary first) with a bootstrap
    95% interval, as a DataFrame."""

    return _evaluate_model(model, data, task=task, models_dir=models_dir, **options)


def models(models_dir: Path | str | None = None) -> pd.DataFrame:
    """Every registered model version: DataFrame ``name, version, current, metric, value, created``."""
    import pandas as pd


    return pd.DataFrame(model_rows(_registry(models_dir)))


def _registry(models_dir: Path | str | None):
    return Registry(models_dir or DEFAULT_MODELS_DIR)


def promote(spec: str, models_dir: Path | str | None = None):
    """Make ``name@version`` current (atomic); returns its ``ModelRef``."""
    return _registry(models_dir).promote(spec)


def rollback(name: str, models_dir: Path | str | None = None):
    """Make the previously current version of ``name`` current again; returns its ``ModelRef``."""
    return _registry(models_dir).rollback(name)


def temporary_registry(copy_from: Path | str | None = None, names: Sequence[str] | None = None) -> Path:
    """A scratch registry folder for experiments, optionally holding a copy of ``copy_from``'s
    models (all, or ``names``); the shipped ``models/`` is never touched. Delete it when done."""
    target = Path(tempfile.mkdtemp(prefix="claimsift-models-"))
    if copy_from is not None:
        source = Path(copy_from)
        for folder in sorted(p for p in source.iterdir() if p.is_dir() and not p.name.startswith(".")):
            if names is None or folder.name in names:
                shutil.copytree(folder, target / folder.name, ignore=shutil.ignore_patterns(".partial-*"))
    return target
