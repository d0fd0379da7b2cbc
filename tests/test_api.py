"""The notebook API (``pipeline.api``, exported lazily by ``import pipeline``) as a fresh user
calls it: one path or one claim where a list is expected, settings the CLI refuses, a partly
rejected ingest, rejected claims and empty evidence in the frames, texts without a DataFrame.

The arguments are refused before anything is built or loaded, so most tests take no store; the
slow ones share one tiny store built once per module with ``build_corpus``."""
from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import pipeline
from pipeline.core.errors import UserError
from pipeline.core.types import Evidence, Verdict
from pipeline.retrieval.index import current_index_dir
from pipeline.verdict.validation import valid_before
from score_fakes import KeywordScorer

NATO = ("NATO Secretary General Mark Rutte said on Tuesday that the alliance has no mechanism to expel "
        "a member. He spoke in Brussels after a meeting of defence ministers.\n")
BUDGET_URL = "https://example.org/news/budget?year=2024"
BUDGET = ('{"id": "1", "title": "Budget", "source": "City Gazette", "published": "2024-05-01", "url": "' + BUDGET_URL
          + '", "text": "The '
          'city council approved a budget of 12 million euros for new bicycle lanes. The mayor said construction '
          'starts in June."}\n')
CLAIM = "Rutte said NATO cannot expel a member"


@pytest.fixture(scope="module")
def partly_rejected(tmp_path_factory) -> tuple[Path, str]:
    """A store built from two good documents and one missing path: (store, the error raised)."""
    root = tmp_path_factory.mktemp("api")
    docs = root / "docs"
    docs.mkdir()
    (docs / "nato.txt").write_text(NATO, encoding="utf-8")
    (docs / "budget.jsonl").write_text(BUDGET, encoding="utf-8")
    store = root / "store"
    with pytest.raises(UserError) as raised:
        pipeline.build_corpus([docs, root / "gone.txt"], store)
    return store, str(raised.value)


@pytest.fixture(scope="module")
def checker(partly_rejected):
    return pipeline.checker(partly_rejected[0])


def _verdict(evidence: tuple[Evidence, ...] = ()) -> Verdict:
    return Verdict(claim=CLAIM, verdict="SUPPORTED" if evidence else "NOT_ENOUGH_INFO", confidence=0.8,
                   evidence=evidence, decisive=(0,) if evidence else ())


EVIDENCE = Evidence(doc_id="d1", sentence="NATO has no mechanism to expel a member.", start=0, end=40, score=0.9,
                    stance="SUPPORTS", stance_probs={"SUPPORTS": 0.8, "REFUTES": 0.1, "NOT_ENOUGH_INFO": 0.1})


class RecordingChecker:
    """Stands in for a ``Checker``: records the settings it was given, one verdict per claim."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], str | None, int | None]] = []

    def check_many(self, claims, before=None, top_k=None):
        self.calls.append((list(claims), before, top_k))
        return [_verdict((EVIDENCE,)) for _ in claims]


# -- 1. one path, one claim -----------------------------------------------------------------------

@pytest.mark.parametrize("as_type", [str, Path])
def test_build_corpus_takes_a_single_path_as_one_path(tmp_path, monkeypatch, as_type):
    # Relative, so that read as a list of characters it named "d", "o"... and not "/" (which walked the disk).
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match=r"^nothing to ingest: docs: no such file or directory$"):
        pipeline.build_corpus(as_type("docs"), tmp_path / "store")
    assert not (tmp_path / "store").exists()


@pytest.mark.slow
def test_build_corpus_ingests_a_single_folder_given_as_a_string(partly_rejected, tmp_path, monkeypatch):
    monkeypatch.chdir(partly_rejected[0].parent)
    corpus = pipeline.build_corpus("docs", tmp_path / "store", index=False)
    assert sorted(corpus.documents()["name"]) == ["City Gazette#id=1", "docs/nato.txt"]  # a table's row: its source


def test_check_claims_refuses_a_single_string_as_checkworthiness_frame_does(tmp_path):
    recorder = RecordingChecker()
    with pytest.raises(UserError, match=r"^expected a sequence of claims \(check_claim checks one\), not a single"):
        pipeline.check_claims(CLAIM, checker_instance=recorder)
    with pytest.raises(UserError, match=r"^expected a sequence of texts, not a single string$"):
        pipeline.checkworthiness_frame("One text. Two sentences.", models_dir=tmp_path / "no-models")
    assert recorder.calls == []


def test_check_claims_refuses_a_data_frame_and_takes_its_column(tmp_path):
    # Iterated, a DataFrame gives its column names: the header "claim" was checked, the rows never were.
    frame = pd.DataFrame({"claim": [CLAIM, "NATO spends 2 percent of GDP on defence"]})
    recorder = RecordingChecker()
    with pytest.raises(UserError, match=r"""^expected a sequence of claims \(check_claim checks one\), not a """
                                        r"""DataFrame; pass the column that holds them, e\.g\. df\['claim'\]$"""):
        pipeline.check_claims(frame, checker_instance=recorder)
    with pytest.raises(UserError, match=r"^expected a sequence of texts, not a DataFrame; .* df\['body'\]$"):
        pipeline.checkworthiness_frame(frame.rename(columns={"claim": "body"}), models_dir=tmp_path / "no-models")
    assert recorder.calls == []
    checked = pipeline.check_claims(frame["claim"], checker_instance=recorder)  # a Series (and a tuple) still do
    pipeline.check_claims(tuple(frame["claim"]), checker_instance=recorder)
    assert checked["claim"].tolist() == frame["claim"].tolist()
    assert [claims for claims, _, _ in recorder.calls] == [frame["claim"].tolist()] * 2


def test_a_checker_refuses_a_single_claim_string_before_anything_loads(tmp_path):
    # Read as a sequence each character was a claim: "R" was refused as "the claim has no words to check".
    instance = pipeline.Checker(tmp_path / "no-store")
    message = r"^expected a sequence of claims \(check_claim checks one\), not a single string$"
    with pytest.raises(UserError, match=message):
        instance.check_many(CLAIM)
    with pytest.raises(UserError, match=message):
        pipeline.check_claims(CLAIM, checker_instance=RecordingChecker())  # the same words as check_claims
    with pytest.raises(UserError, match=r"not a DataFrame; .* df\['claim'\]$"):
        instance.check_many(pd.DataFrame({"claim": [CLAIM]}))
    assert instance._loaded is None


def test_build_corpus_with_its_arguments_swapped_says_which_is_which(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "nato.txt").write_text(NATO, encoding="utf-8")
    for paths in ([docs], (docs,)):
        with pytest.raises(UserError) as raised:
            pipeline.build_corpus(tmp_path / "store", paths)
        assert str(raised.value) == (f"store_dir must be one path (the store folder), got {type(paths).__name__}; "
                                     "call build_corpus(paths, store_dir)")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["docs"]


def test_load_corpus_of_a_missing_store_names_the_path_and_creates_nothing(tmp_path):
    # It read as an empty corpus: documents() of shape (0, 9), whatever the typo.
    store = tmp_path / "mistyped" / "store"
    for path in (store, str(store), tmp_path):  # tmp_path: a folder, but no store in it
        with pytest.raises(UserError) as raised:
            pipeline.load_corpus(path)
        assert str(raised.value).startswith(f"{path}: no corpus store here; build one with "
                                            f"`claimsift ingest DOCUMENTS --store {path}`")
        assert "pipeline.build_corpus(" in str(raised.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_load_corpus_of_a_built_store_reads_it_unchanged(partly_rejected):
    store, _ = partly_rejected
    before = sorted((p.relative_to(store), p.stat().st_mtime_ns) for p in store.rglob("*") if p.is_file())
    corpus = pipeline.load_corpus(store)
    assert corpus.path == store and corpus.documents().shape[0] == 2
    assert sorted((p.relative_to(store), p.stat().st_mtime_ns) for p in store.rglob("*") if p.is_file()) == before


# -- 2. before and top_k, checked as the CLI checks them -------------------------------------------

BAD_BEFORE = {"yesterday": "is not a date in the form YYYY-MM-DD", 20200101: "is not a date in the form YYYY-MM-DD",
              "2020-13-45": "is not a real date (month must be in 1..12)",
              "2016-02-30": "is not a real date (day is out of range for month)"}
BAD_TOP_K = [0, -3, 2.5, 500, "5", True]


@pytest.mark.parametrize("before, why", BAD_BEFORE.items())
def test_a_bad_before_is_refused_by_every_checking_function(tmp_path, before, why):
    message = f"before {before!r} {why}"
    store = tmp_path / "no-store"  # refused before the store is looked at
    for call in (lambda: pipeline.check_claim(CLAIM, store_dir=store, before=before),
                 lambda: pipeline.check_claims([CLAIM], store_dir=store, before=before),
                 lambda: pipeline.check_claims([CLAIM], checker_instance=RecordingChecker(), before=before)):
        with pytest.raises(UserError) as raised:
            call()
        assert str(raised.value) == message


@pytest.mark.parametrize("top_k", BAD_TOP_K)
def test_a_bad_top_k_is_refused_by_every_checking_function(tmp_path, top_k):
    message = f"top_k {top_k!r} is not a whole number from 1 to 50"
    store = tmp_path / "no-store"
    for call in (lambda: pipeline.check_claim(CLAIM, store_dir=store, top_k=top_k),
                 lambda: pipeline.check_claims([CLAIM], store_dir=store, top_k=top_k),
                 lambda: pipeline.check_claims([CLAIM], checker_instance=RecordingChecker(), top_k=top_k),
                 lambda: pipeline.checker(store, top_k=top_k),
                 # The class itself, as the README says to keep one for a batch: 0 meant 5 passages,
                 # -3 and 500 every sentence of the store, "5" a TypeError deep in retrieval.
                 lambda: pipeline.Checker(store, top_k=top_k),
                 lambda: pipeline.Checker(store).check(CLAIM, top_k=top_k),
                 lambda: pipeline.Checker(store).check_many([CLAIM], top_k=top_k)):
        with pytest.raises(UserError) as raised:
            call()
        assert str(raised.value) == message


def test_good_settings_reach_the_checker_normalised():
    recorder = RecordingChecker()
    pipeline.check_claims([CLAIM], checker_instance=recorder, before="2024-05-01", top_k=np.int64(3))
    pipeline.check_claims([CLAIM], checker_instance=recorder)
    assert recorder.calls == [([CLAIM], "2024-05-01", 3), ([CLAIM], None, None)]
    assert type(recorder.calls[0][2]) is int


def test_a_date_datetime_or_timestamp_before_is_taken_as_its_date():
    # Each was refused: "is not a date in the form YYYY-MM-DD".
    recorder = RecordingChecker()
    dates = [pd.Timestamp("2016-03-04"), dt.date(2016, 3, 4), dt.datetime(2016, 3, 4, 18, 30),
             pd.Timestamp("2016-03-04 23:59", tz="Europe/Brussels")]
    for date in dates:
        pipeline.check_claims([CLAIM], checker_instance=recorder, before=date)
        assert valid_before(date) == "2016-03-04"
    assert [before for _, before, _ in recorder.calls] == ["2016-03-04"] * len(dates)
    with pytest.raises(UserError, match=r"^before NaT is a missing date; give None for no cut-off$"):
        valid_before(pd.NaT)
    # What a date column's .values gives: NumPy's datetime64, at any precision.
    column = pd.Series(pd.to_datetime(["2016-03-04 18:30", None]))
    assert valid_before(column.values[0]) == valid_before(np.datetime64("2016-03-04")) == "2016-03-04"
    with pytest.raises(UserError, match="is a missing date"):
        valid_before(column.values[1])


@pytest.mark.parametrize("option, value, message", [
    ("--before", "yesterday", "--before 'yesterday' is not a date in the form YYYY-MM-DD"),
    ("--before", "2016-02-30", "--before '2016-02-30' is not a real date (day is out of range for month)"),
    ("--top-k", "0", "--top-k 0 is not a whole number from 1 to 50"),
    ("--top-k", "51", "--top-k 51 is not a whole number from 1 to 50"),
])
def test_the_cli_refuses_the_same_settings_with_the_same_message(tmp_path, invoke_cli, option, value, message):
    result = invoke_cli("check", CLAIM, "--store", tmp_path / "no-store", option, value)
    assert isinstance(result.exception, UserError) and str(result.exception) == message


# -- 3. a partly rejected ingest, nothing to ingest -------------------------------------------------

@pytest.mark.slow
def test_a_partly_rejected_build_indexes_what_was_accepted_then_says_so(partly_rejected, checker):
    store, message = partly_rejected
    assert "gone.txt: no such file or directory" in message
    assert "the 2 accepted document(s) were ingested and indexed in" in message
    assert current_index_dir(store) is not None
    verdict = checker.check(CLAIM)  # refused before: "no evidence index"
    assert verdict.evidence and any("no mechanism to expel" in e.sentence for e in verdict.evidence)


def test_a_partly_rejected_build_counts_a_copy_of_a_stored_text_as_accepted(tmp_path):
    # A copy is stored once and counted apart from "unchanged": the message said "no document was ingested".
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "nato.txt").write_text(NATO, encoding="utf-8")
    (docs / "copy-of-nato.txt").write_text(NATO, encoding="utf-8")
    with pytest.raises(UserError) as raised:
        pipeline.build_corpus([docs, tmp_path / "gone.txt"], tmp_path / "store", index=False)
    assert "the 2 accepted document(s) were ingested (not indexed" in str(raised.value)


@pytest.mark.parametrize("paths", [[], ["gone-1.txt", "gone-2"]])
def test_nothing_to_ingest_is_refused_before_a_store_is_created(tmp_path, paths):
    with pytest.raises(UserError, match="^nothing to ingest: ") as raised:
        pipeline.build_corpus([tmp_path / p for p in paths], tmp_path / "store")
    assert all(f"{tmp_path / p}: no such file or directory" in str(raised.value) for p in paths)
    assert not (tmp_path / "store").exists()


# -- 4. the missing-store message names no demo corpus -----------------------------------------------

def test_a_missing_store_says_how_to_build_one_from_any_documents(tmp_path):
    store = tmp_path / "no-store"
    with pytest.raises(UserError) as raised:
        pipeline.check_claim(CLAIM, store_dir=store)
    message = str(raised.value)
    assert f"`claimsift ingest DOCUMENTS --store {store}`" in message and "pipeline.build_corpus(" in message
    assert "seeds" not in message
    with pytest.raises(UserError, match="pipeline.build_corpus") as raised:
        pipeline.score_frame(["NATO spends 2 percent."], store_dir=store)
    assert "seeds" not in str(raised.value)


# -- 5. rejected claims and empty evidence in the frames ------------------------------------------------

def test_a_rejected_claim_has_no_confidence_and_its_reason_apart():
    frame = pipeline.check_claims([CLAIM, "", "   "], checker_instance=RecordingChecker())
    assert frame.loc[0, "verdict"] == "SUPPORTED" and frame.loc[0, "rejected"] is None
    for row in (1, 2):
        values = frame.loc[row].to_dict()
        assert values["rejected"] == "the claim is empty"
        assert [values[c] for c in ("verdict", "needs_review", "decisive_sentence", "decisive_stance",
                                    "decisive_source")] == [None] * 5
        assert values["n_evidence"] == 0
        # Missing, not 0.0: a researcher's mean of the column is the checked claims' mean.
        assert math.isnan(values["confidence"])
        assert not any(isinstance(v, float) and math.isnan(v) for k, v in values.items() if k != "confidence"), values
    assert frame["confidence"].mean() == frame.loc[0, "confidence"] > 0
    assert frame["claim"].tolist() == [CLAIM, "", "   "]
    assert frame["confidence"].dtype == np.float64 and frame["n_evidence"].dtype == np.int64
    assert frame.loc[0, "needs_review"] is False


@pytest.mark.slow
def test_a_claim_in_another_language_has_no_confidence_and_names_its_language():
    # Slow: the language identifier's second pass loads (~0.9 GB) to confirm another language.
    german = "Die Strompreise in Deutschland sind 2024 um sieben Prozent gesunken."
    frame = pipeline.check_claims([CLAIM, german], checker_instance=RecordingChecker())
    assert frame.loc[1, "verdict"] is None and math.isnan(frame.loc[1, "confidence"])
    assert frame.loc[1, "rejected"].startswith("the claim is in another language (de, ")
    assert frame["confidence"].mean() == frame.loc[0, "confidence"]


def test_check_claims_keeps_the_index_of_a_series_so_results_assign_back():
    claims = pd.DataFrame({"claim": [CLAIM, "", CLAIM + " twice"], "label": ["a", "b", "c"]}, index=[22, 23, 40])
    refuted = claims[claims.label != "a"]
    frame = pipeline.check_claims(refuted["claim"], checker_instance=RecordingChecker())
    assert frame.index.tolist() == [23, 40]
    assigned = refuted.assign(verdict=frame["verdict"], rejected=frame["rejected"])
    assert assigned["verdict"].tolist() == [None, "SUPPORTED"]  # NaN for both, before: no index in common
    assert assigned["rejected"].tolist() == ["the claim is empty", None]
    assert pipeline.check_claims([CLAIM, CLAIM], checker_instance=RecordingChecker()).index.tolist() == [0, 1]


def test_a_check_claims_frame_saves_to_parquet_and_its_verdicts_come_on_request(tmp_path):
    # The Verdict objects were kept in frame.attrs: to_parquet failed on them, and a filtered frame
    # kept the whole list, no longer row for row.
    frame, verdicts = pipeline.check_claims([CLAIM, ""], checker_instance=RecordingChecker(), return_verdicts=True)
    assert not frame.attrs
    assert [v.verdict if v else None for v in verdicts] == frame["verdict"].tolist() == ["SUPPORTED", None]
    frame.to_parquet(tmp_path / "verdicts.parquet")
    back = pd.read_parquet(tmp_path / "verdicts.parquet")
    assert back["verdict"].iloc[0] == "SUPPORTED" and back["needs_review"].iloc[0] == False  # noqa: E712
    assert back.iloc[1][["verdict", "needs_review"]].isna().all()  # pandas reads a missing string back as NaN
    assert isinstance(pipeline.check_claims([CLAIM], checker_instance=RecordingChecker()), pd.DataFrame)


def test_a_dict_of_claims_is_refused_rather_than_checking_its_keys():
    with pytest.raises(UserError, match=r"not a dict; pass list\(d.values\(\)\)"):
        pipeline.check_claims({"a": CLAIM}, checker_instance=RecordingChecker())


def test_a_list_as_store_dir_is_refused_by_the_checking_functions(tmp_path):
    for call in (lambda: pipeline.check_claim(CLAIM, store_dir=[tmp_path]),
                 lambda: pipeline.check_claims([CLAIM], store_dir=[tmp_path]),
                 lambda: pipeline.checker([tmp_path])):
        with pytest.raises(UserError, match="store_dir must be one path"):
            call()


def test_evidence_frame_of_a_refused_claim_says_why_there_is_none():
    frame, verdicts = pipeline.check_claims([""], checker_instance=RecordingChecker(), return_verdicts=True)
    with pytest.raises(UserError, match="a claim check_claims refused has no verdict"):
        pipeline.evidence_frame(verdicts[0])


def test_evidence_frame_of_a_verdict_without_evidence_has_the_usual_columns():
    full = pipeline.evidence_frame(_verdict((EVIDENCE,)))
    empty = pipeline.evidence_frame(_verdict())
    assert full.shape[0] == 1 and empty.shape[0] == 0
    assert list(empty.columns) == list(full.columns)
    # Typed alike, so that frames of several verdicts concatenate to numbers, not objects.
    assert empty.dtypes.to_dict() == full.dtypes.to_dict()
    assert full.loc[0, "published"] is None  # a missing date stays None (pandas' str dtype made it NaN)
    assert pd.concat([empty, full])["score"].dtype == np.float64
    assert {"sentence", "url", "stance", "p_SUPPORTS", "p_REFUTES", "p_NOT_ENOUGH_INFO", "decisive"} <= set(full.columns)
    assert full.loc[0, "url"] == ""


@pytest.mark.slow
def test_evidence_frame_columns_do_not_depend_on_the_cut_off(partly_rejected, checker):
    store, _ = partly_rejected
    nothing_before = checker.check(CLAIM, before="2000-01-01")  # the one document dated is from 2024
    everything = checker.check(CLAIM)
    assert nothing_before.evidence == () and everything.evidence
    assert list(pipeline.evidence_frame(nothing_before).columns) == list(pipeline.evidence_frame(everything).columns)


@pytest.mark.slow
def test_evidence_carries_its_documents_url_and_an_empty_one_where_it_has_none(checker):
    budget_claim = "The city council approved 12 million euros for bicycle lanes"
    retrieved = [e for found in checker.retrieve([CLAIM, budget_claim]) for e in found]
    from_budget = {e.doc_id: e.url for e in retrieved if e.title == "Budget"}
    from_nato = {e.doc_id: e.url for e in retrieved if "expel" in e.sentence}  # nato.txt: a text file, no url
    assert list(from_budget.values()) == [BUDGET_URL] and list(from_nato.values()) == [""]
    assert all(e.to_dict()["url"] == e.url for e in retrieved)
    frame = pipeline.evidence_frame(checker.check(budget_claim))
    assert list(frame.columns).index("url") == list(frame.columns).index("published") + 1
    assert set(frame["url"]) <= {BUDGET_URL, ""} and BUDGET_URL in set(frame["url"])
    assert frame.loc[frame["url"] == BUDGET_URL, "doc_id"].unique().tolist() == list(from_budget)


@pytest.mark.slow
def test_evidence_names_its_document_and_the_source_given_at_ingest(partly_rejected, checker):
    # ``source`` held the document's name, so the source column a user ingested was shown nowhere
    # and a join of evidence to documents on it matched nothing.
    budget_claim = "The city council approved 12 million euros for bicycle lanes"
    retrieved = {e.title or e.sentence: e for found in checker.retrieve([CLAIM, budget_claim]) for e in found}
    budget = retrieved["Budget"]
    nato = next(e for e in retrieved.values() if "expel" in e.sentence)
    assert (budget.source, budget.document) == ("City Gazette", "City Gazette#id=1")
    assert nato.document == "docs/nato.txt" and nato.source and nato.source != nato.document
    documents = pipeline.load_corpus(partly_rejected[0]).documents()
    frame = pipeline.evidence_frame(checker.check(budget_claim))
    joined = frame.merge(documents[["name", "source"]], left_on="document", right_on="name", suffixes=("", "_doc"))
    assert len(joined) == len(frame) and (joined["source"] == joined["source_doc"]).all()
    verdicts = pipeline.check_claims([budget_claim], checker_instance=checker)
    decisive = verdicts.loc[0, "decisive_document"]
    assert decisive in set(frame["document"])
    assert verdicts.loc[0, "decisive_source"] == frame.loc[frame["document"] == decisive, "source"].iloc[0]


# -- 6. score_frame takes the texts alone ----------------------------------------------------------------

def test_score_frame_takes_a_list_or_a_series_of_texts(tmp_path):
    texts = ["NATO spends 2 percent of GDP on defence.", "Nice weather today"]
    from_list = pipeline.score_frame(texts, store_dir=tmp_path, scorer=KeywordScorer())
    assert list(from_list.index) == [0, 1] and from_list["n_claims"].tolist() == [1, 0]
    series = pd.Series(texts, index=[10, 20], name="body")
    from_series = pipeline.score_frame(series, store_dir=tmp_path, scorer=KeywordScorer())
    assert list(from_series.index) == [10, 20] and from_series["n_claims"].tolist() == [1, 0]
    with pytest.raises(UserError, match="^expected a sequence of texts, not a single string$"):
        pipeline.score_frame(texts[0], store_dir=tmp_path, scorer=KeywordScorer())
    with pytest.raises(UserError, match="^expected a DataFrame, a Series or a list of texts, got int$"):
        pipeline.score_frame(5, store_dir=tmp_path, scorer=KeywordScorer())


def test_checkworthiness_frame_names_the_texts_that_are_not_texts(tmp_path):
    # They were dropped without a row or a word; refused before the model loads.
    with pytest.raises(UserError, match=r"not at position\(s\) 0 \(NoneType\), 1 \(int\)"):
        pipeline.checkworthiness_frame([None, 3, "Masks cut infections by 50 percent in 2020."],
                                       models_dir=tmp_path / "no-models")
