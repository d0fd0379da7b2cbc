"""Numbers read with their units by quantulum3 (classifier off), compared claim against passage,
and the evidence-v3 verdict features built from them."""
from __future__ import annotations

import numpy as np
import pytest

from pipeline.core.types import Evidence
from pipeline.verdict.aggregator import FEATURE_SETS, claim_features
from pipeline.verdict.quantities import QUANTITY_FEATURE_NAMES, QuantityReader, compare, quantity_features


@pytest.fixture(scope="module")
def reader() -> QuantityReader:
    return QuantityReader()


def _passage(text: str, probs=(0.1, 0.1, 0.8)) -> Evidence:
    return Evidence(doc_id="d", sentence=text, start=0, end=len(text), score=1.0,
                    stance_probs=dict(zip(("SUPPORTS", "REFUTES", "NOT_ENOUGH_INFO"), probs)))


def test_units_values_and_years_are_read(reader):
    found = {(q.unit, q.value) for q in reader.read("Unemployment rose 12% in 2020, and Ohio spent $2.3 billion.")}
    assert ("percentage", 12.0) in found
    assert ("year", 2020.0) in found  # a bare four-digit year is its own unit, not a count
    assert ("dollar", 2.3e9) in found
    assert reader.read("The governor spoke on Tuesday about schools.") == ()


def test_the_pickled_unit_classifier_is_never_loaded(reader, monkeypatch):
    import joblib

    def refuse(*args, **kwargs):
        raise AssertionError("quantulum3 tried to unpickle its classifier")

    monkeypatch.setattr(joblib, "load", refuse)
    # "pound" is ambiguous (money or weight): the path that would ask the classifier.
    assert QuantityReader().read("It costs 5 pounds and weighs 3 pounds.")
    import quantulum3.classifier

    assert quantulum3.classifier.USE_CLF is False


def test_same_unit_agreeing_values_match_and_other_values_conflict(reader):
    claim = reader.read("The vaccine is 95 percent effective.")
    assert compare(claim, reader.read("Trials showed the vaccine was 95% effective.")) == (True, False)
    assert compare(claim, reader.read("Trials showed the vaccine was 62% effective.")) == (False, True)
    assert compare(claim, reader.read("The trial enrolled 43,000 people in 2020.")) == (False, False)
    years = reader.read("The law was passed in 2014.")
    assert compare(years, reader.read("It was signed into law in 2016.")) == (False, True)


def test_features_weigh_each_number_by_how_related_the_passage_reads(reader):
    claim = "Unemployment rose 12% last year."
    related_conflict = _passage("Unemployment rose 21% last year.", (0.1, 0.6, 0.3))
    unrelated_match = _passage("Sales rose 12% at the shop.", (0.05, 0.05, 0.9))
    shown = [related_conflict, unrelated_match]
    probs = np.array([[0.1, 0.6, 0.3], [0.05, 0.05, 0.9]])
    has, match, conflict = quantity_features(claim, shown, probs, reader)
    assert has == 1.0 and conflict == pytest.approx(0.7) and match == pytest.approx(0.1)
    assert list(quantity_features("Schools reopened.", shown, probs, reader)) == [0.0, 0.0, 0.0]
    row = claim_features(shown, shown, "evidence-v3", claim, reader)
    assert len(row) == len(FEATURE_SETS["evidence-v3"])
    assert list(row[-len(QUANTITY_FEATURE_NAMES):]) == pytest.approx([1.0, 0.1, 0.7])
    assert len(claim_features(shown, shown, "evidence-v2", claim, reader)) == len(FEATURE_SETS["evidence-v2"])


def test_the_parse_cache_stays_bounded_over_a_long_batch(monkeypatch):
    from pipeline.verdict import quantities

    monkeypatch.setattr(quantities, "MAX_CACHED_TEXTS", 3)
    reader = QuantityReader()
    texts = [f"The bridge is {n} metres long." for n in range(10)]
    assert [q[0].value for t in texts for q in [reader.read(t)]] == list(range(10))
    assert len(reader._cache) <= 3
