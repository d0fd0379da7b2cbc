"""claimsift: offline claim detection and fact-checking.

The notebook API (``pipeline.api``) is exported lazily, so ``import pipeline`` stays cheap: a
name is imported from its module on first access. See ``pipeline.api`` for the tour.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

# name -> (module, attribute)
_EXPORTS = {
    "Corpus": ("pipeline.corpus.store", "Corpus"),
    "Checker": ("pipeline.verdict.checker", "Checker"),
    "ModelScorer": ("pipeline.scoring.models", "ModelScorer"),
    "StanceModel": ("pipeline.stance.model", "StanceModel"),
    "CheckworthyModel": ("pipeline.checkworthy.model", "CheckworthyModel"),
    "Registry": ("pipeline.registry.registry", "Registry"),
    "Document": ("pipeline.core.types", "Document"),
    "Evidence": ("pipeline.core.types", "Evidence"),
    "Verdict": ("pipeline.core.types", "Verdict"),
    "Comparison": ("pipeline.evaluation.compare", "Comparison"),
    "compare_models": ("pipeline.evaluation.compare", "compare_models"),
    "load_corpus": ("pipeline.api", "load_corpus"),
    "build_corpus": ("pipeline.api", "build_corpus"),
    "entity_counts": ("pipeline.api", "entity_counts"),
    "quotes_by_speaker": ("pipeline.api", "quotes_by_speaker"),
    "checker": ("pipeline.api", "checker"),
    "check_claim": ("pipeline.api", "check_claim"),
    "check_claims": ("pipeline.api", "check_claims"),
    "verdicts_frame": ("pipeline.api", "verdicts_frame"),
    "evidence_frame": ("pipeline.api", "evidence_frame"),
    "score_frame": ("pipeline.api", "score_frame"),
    "read_score_provenance": ("pipeline.scoring.output", "read_score_provenance"),
    "checkworthiness_frame": ("pipeline.api", "checkworthiness_frame"),
    "validate_training_file": ("pipeline.api", "validate_training_file"),
    "train": ("pipeline.api", "train"),
    "evaluate": ("pipeline.api", "evaluate"),
    "evaluate_model": ("pipeline.api", "evaluate_model"),
    "models": ("pipeline.api", "models"),
    "promote": ("pipeline.api", "promote"),
    "rollback": ("pipeline.api", "rollback"),
    "temporary_registry": ("pipeline.api", "temporary_registry"),
    "evaluate_corpus": ("pipeline.evaluation.corpus", "evaluate_corpus"),
    "corpus_results_frame": ("pipeline.evaluation.corpus", "corpus_results_frame"),
    "build_dataset": ("pipeline.datasets.corpora", "build_dataset"),
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    # Only called for names not found normally. No export shares a submodule's name (pipeline.verdict.checker
    # is the module; the function is check_claim): a submodule import would overwrite it.
    if name in _EXPORTS:
        module, attribute = _EXPORTS[name]
        value = getattr(importlib.import_module(module), attribute)
        globals()[name] = value  # later accesses skip this hook
        return value
    raise AttributeError(f"module 'pipeline' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
