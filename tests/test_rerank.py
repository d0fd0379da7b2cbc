"""The second-stage ranker (pipeline.stance.rerank): how it mixes scores, that it re-orders real
candidates of the seed store, and that it ships to workers without its model."""
from __future__ import annotations

import pytest

from pipeline.core.types import Evidence
from pipeline.stance.rerank import Reranker, mixed_scores, ranked_by_mix
from shipping import as_shipped, pickled_size

KREMLIN_CLAIM = "The Kremlin confirmed that Trump phoned Putin after the election."
KREMLIN_DENIAL = "The Kremlin denies that this call took place"
THREADS_CLAIM = "NATO chief Rutte threatened to expel the US if Trump surrenders Ukraine"
RIGGIO = '"Secretary General Rutte has never said this," Riggio said.'


def _passage(sentence: str, score: float) -> Evidence:
    return Evidence(doc_id="d", sentence=sentence, start=0, end=len(sentence), score=score)


def test_the_weight_moves_the_order_from_the_first_stage_to_the_cross_encoder():
    candidates = [_passage("first", 2.0), _passage("second", 1.0), _passage("third", 0.5)]
    relevance = [0.1, 0.9, 0.2]
    assert [e.sentence for e, _ in ranked_by_mix(candidates, relevance, 0.0)] == ["first", "second", "third"]
    assert [e.sentence for e, _ in ranked_by_mix(candidates, relevance, 1.0)] == ["second", "third", "first"]
    # 0.5 * (1.0, 0.5, 0.25) + 0.5 * (0.1, 0.9, 0.2)
    assert mixed_scores([2.0, 1.0, 0.5], relevance, 0.5).round(3).tolist() == [0.55, 0.7, 0.225]


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="weight"):
        Reranker(weight=1.5)
    with pytest.raises(ValueError, match="candidates"):
        Reranker(candidates=0)


@pytest.mark.slow
def test_the_ranker_moves_the_evidence_up_among_real_candidates(seed_store):
    from pipeline.verdict.checker import Checker

    checker = Checker(seed_store, fact_checks=False, screen_stance_spec=None)
    retrieved = checker.retrieve([KREMLIN_CLAIM], top_k=20)[0]

    def rank(passages):
        return next(i for i, e in enumerate(passages) if KREMLIN_DENIAL in e.sentence)

    # The first stage ranks this denial first (it is indexed with the sentence before it); put it
    # last, with the lowest first-stage score, to see the re-ranker bring it back among the five.
    import dataclasses

    denial = retrieved[rank(retrieved)]
    others = [e for e in retrieved if e is not denial]
    candidates = others + [dataclasses.replace(denial, score=min(e.score for e in others) - 0.01)]
    reranked = Reranker().rerank([KREMLIN_CLAIM], [candidates], top_k=5)[0]
    assert rank(candidates) == len(candidates) - 1 >= 10
    assert rank(reranked) < 5, [e.sentence for e in reranked]
    assert [e.score for e in reranked] == sorted((e.score for e in reranked), reverse=True)
    assert {e.sentence for e in reranked} <= {e.sentence for e in candidates}


@pytest.mark.slow
def test_a_warm_ranker_ships_without_its_model():
    reranker = Reranker(candidates=12, weight=0.3)
    reranker.warm_up()
    shipped = as_shipped(reranker)
    assert pickled_size(reranker) < 2_000  # the cross-encoder stays behind
    assert (shipped.spec, shipped.candidates, shipped.weight) == ("stance@v2", 12, 0.3)
    assert shipped.relevance([KREMLIN_CLAIM], [KREMLIN_DENIAL]).round(4).tolist() == \
        reranker.relevance([KREMLIN_CLAIM], [KREMLIN_DENIAL]).round(4).tolist()


@pytest.mark.slow
def test_the_threads_claim_stays_refuted_with_the_ranker(seed_store):
    from pipeline.verdict.checker import Checker

    checker = Checker(seed_store, reranker=Reranker())
    verdict = checker.check(THREADS_CLAIM)
    assert verdict.verdict == "REFUTED"
    decisive = [verdict.evidence[i].sentence for i in verdict.decisive]
    assert RIGGIO in decisive, decisive
    assert pickled_size(checker) < 5_000  # nor does the checker carry its ranker's model
