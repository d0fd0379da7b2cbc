"""Second-stage ranking: a cross-encoder reads the claim with each of the first stage's best
candidates (dense + BM25, ``pipeline.retrieval.retrieve``) and the two scores are mixed.

The first stage scores each sentence on its own (a cosine, shared words); a cross-encoder reads
claim and sentence together, so it can tell "the vaccine was approved in 2020" from "the vaccine
trial began in 2020". It costs one model pass per pair, so it only re-orders the first stage's
best ``candidates`` (Haystack's retriever -> ranker split).

The relevance of a pair is P(SUPPORTS) + P(REFUTES) of a MiniLM stance cross-encoder: how much the
sentence has to say about the claim, either way. The score a passage gets is
``(1 - weight) * first / best first + weight * relevance``, both in [0, 1] per claim; ``weight``
and ``candidates`` were chosen on the tune split (``bench/retrieval_recall.py``).
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Sequence

import numpy as np

from pipeline.core.types import STANCE_LABELS, Evidence
from pipeline.stance.model import StanceModel

RERANK_MODEL = "stance@v2"  # the MiniLM cross-encoder (~200 pairs/s in bfloat16)
# Chosen on the tune split (bench/results/retrieval_recall_tune.json): 20 candidates hold the
# gold for 0.69-0.97 of claims where the top 5 hold it for 0.48-0.92; 30 add little, and the
# weight 0.4 is the best sum of recall@5 over the five corpora that are not the seeds.
RERANK_CANDIDATES = 20
RERANK_WEIGHT = 0.4
RELEVANT_LABELS = ("SUPPORTS", "REFUTES")
RERANK_BY_DEFAULT = False  # what the CLI does without --rerank/--no-rerank
RERANK_HELP = (f"Re-order the first stage's best {RERANK_CANDIDATES} passages with the {RERANK_MODEL} "
               "cross-encoder before judging them (pipeline.stance.rerank).")


def reranker_if(enabled: bool) -> "Reranker | None":
    """The default re-ranker when ``enabled`` (a CLI flag), else None."""
    return Reranker() if enabled else None


class Reranker:
    """Cheap to construct and to pickle (names only); ``warm_up`` loads the cross-encoder once."""

    def __init__(self, spec: str = RERANK_MODEL, candidates: int = RERANK_CANDIDATES, weight: float = RERANK_WEIGHT,
                 models_dir: Path | str | None = None, backend: str = "auto") -> None:
        if not 0.0 <= weight <= 1.0:
            raise ValueError(f"re-rank weight must be in [0, 1], not {weight}")
        if candidates < 1:
            raise ValueError(f"re-rank candidates must be at least 1, not {candidates}")
        self.spec = spec
        self.candidates = candidates
        self.weight = weight
        self.models_dir = models_dir
        self.backend = backend
        self._model: StanceModel | None = None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_model"] = None
        return state

    def warm_up(self, loaded: "StanceModel | None" = None) -> None:
        """``loaded``: a stance model already in memory (the Checker's); used instead of loading a
        second copy when it is the model ``spec`` names."""
        if self._model is not None:
            return
        # Lazy: torch and the model weights load only where re-ranking is used.

        model = StanceModel(self.spec, models_dir=self.models_dir, backend=self.backend)
        if loaded is not None:
            tag = loaded.tag
            if model.registry.resolve(model.resolve_spec()).label == f"{tag['model']}@{tag['version']}":
                self._model = loaded
                return
        model.warm_up()
        self._model = model

    def _loaded_model(self) -> StanceModel:
        self.warm_up()
        assert self._model is not None  # set by warm_up
        return self._model

    @property
    def tag(self) -> dict:
        return {**self._loaded_model().tag, "candidates": self.candidates, "weight": self.weight}

    def relevance(self, claims: Sequence[str], passages: Sequence[str]) -> np.ndarray:
        """P(SUPPORTS) + P(REFUTES) per (claim, passage) pair."""
        model = self._loaded_model()
        if not len(claims):
            return np.zeros(0)
        probs = model.predict_proba(list(claims), list(passages))
        columns = [STANCE_LABELS.index(label) for label in RELEVANT_LABELS]
        return probs[:, columns].sum(axis=1)

    def relevance_lists(self, claims: Sequence[str], candidate_lists: Sequence[Sequence[Evidence]]) -> list[np.ndarray]:
        """The relevance of each candidate of each claim, all pairs in one batch."""
        pairs = [(claim, e.read_as or e.sentence) for claim, ev in zip(claims, candidate_lists) for e in ev]
        flat = self.relevance([c for c, _ in pairs], [p for _, p in pairs])
        out, cursor = [], 0
        for ev in candidate_lists:
            out.append(flat[cursor:cursor + len(ev)])
            cursor += len(ev)
        return out

    def rerank(self, claims: Sequence[str], candidate_lists: Sequence[Sequence[Evidence]],
               top_k: int) -> list[list[Evidence]]:
        """The ``top_k`` best of each claim's candidates by the mixed score (module doc), best
        first; each passage's ``score`` becomes that mixed score."""
        relevances = self.relevance_lists(claims, candidate_lists)
        return [[replace(e, score=float(s)) for e, s in ranked_by_mix(ev, rel, self.weight)[:top_k]]
                for ev, rel in zip(candidate_lists, relevances)]


def mixed_scores(first: Sequence[float], relevance: Sequence[float] | np.ndarray, weight: float) -> np.ndarray:
    """``(1 - weight) * first / max(first) + weight * relevance`` (first-stage scores are on no
    fixed scale across claims; dividing by the claim's best puts them in [0, 1])."""
    scores = np.asarray(first, dtype=float)
    best = scores.max() if len(scores) else 1.0
    normalised = scores / best if best > 0 else scores
    return (1.0 - weight) * normalised + weight * np.asarray(relevance, dtype=float)


def ranked_by_mix(candidates: Sequence[Evidence], relevance: Sequence[float] | np.ndarray,
                  weight: float) -> list[tuple[Evidence, float]]:
    """Candidates with their mixed score, best first; ties keep the first stage's order."""
    scores = mixed_scores([e.score for e in candidates], relevance, weight)
    order = sorted(range(len(candidates)), key=lambda i: (-scores[i], i))
    return [(candidates[i], float(scores[i])) for i in order]
