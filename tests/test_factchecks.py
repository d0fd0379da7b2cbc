"""Fact-check records: rating map, reading tables and ClaimReview JSON-LD, storage, bad input."""
from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from pipeline.corpus.factchecks import (
    RATING_TO_VERDICT,
    ingest_fact_checks,
    ingest_fact_checks_report,
    load_fact_checks,
    read_fact_check_file,
    verdict_for_rating,
    write_fact_checks,
)

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).parent.parent


@pytest.mark.parametrize("rating, verdict", [
    ("FALSE", "REFUTED"), ("False", "REFUTED"), ("Pants on Fire!", "REFUTED"), ("pants-on-fire", "REFUTED"),
    ("Mostly False", "REFUTED"), ("True", "SUPPORTED"), ("Mostly True", "SUPPORTED"),
    ("Half True", "CONFLICTING"), ("half-true", "CONFLICTING"), ("Mixture", "CONFLICTING"),
    ("Misleading", "CONFLICTING"), ("bogus", "REFUTED"),
    ("Zombie claim", "NOT_ENOUGH_INFO"), ("", "NOT_ENOUGH_INFO"), (None, "NOT_ENOUGH_INFO"), ("3/5", "NOT_ENOUGH_INFO"),
])
def test_rating_maps_to_project_verdict(rating, verdict):
    assert verdict_for_rating(rating) == verdict


def test_rating_map_uses_only_project_verdicts():
    from pipeline.core.types import VERDICT_LABELS

    assert set(RATING_TO_VERDICT.values()) <= set(VERDICT_LABELS)


def test_jsonl_records_keep_rating_verbatim_and_reject_rows_with_reasons():
    records, rejected = read_fact_check_file(DATA / "factchecks_sample.jsonl")
    by_id = {r.id: r for r in records}
    rutte = by_id["politifact-rutte-expel-us"]
    assert (rutte.rating, rutte.verdict, rutte.publisher, rutte.date) == ("False", "REFUTED", "PolitiFact", "2024-11-10")
    assert by_id["fixture-5g-covid"].rating == "Pants on Fire!"
    # Unknown rating: kept, verbatim, NOT_ENOUGH_INFO; empty rating: kept as "unknown".
    assert (by_id["fixture-vaccine-chip"].rating, by_id["fixture-vaccine-chip"].verdict) == ("Zombie claim",
                                                                                          "NOT_ENOUGH_INFO")
    no_rating = [r for r in records if r.claim.startswith("Drinking hot water")]
    assert len(no_rating) == 1 and no_rating[0].rating == "unknown" and no_rating[0].id.startswith("fc-")
    # Every non-blank line is either a record or a rejection naming its row.
    assert len(records) + len(rejected) == 10
    assert {(r.row, r.reason.split(" (")[0]) for r in rejected} == {(8, "no claim"), (10, "not valid JSON")}
    assert all(r.path.endswith("factchecks_sample.jsonl") for r in rejected)


def test_csv_records_and_row_numbers():
    records, rejected = read_fact_check_file(DATA / "factchecks_sample.csv")
    assert [r.id for r in records] == ["csv-1", "csv-3"]
    assert [(r.row, "no claim" in r.reason) for r in rejected] == [(3, True)]  # the line, as score counts: header = 1


def test_claimreview_jsonld_fields():
    records, rejected = read_fact_check_file(DATA / "claimreview_sample.jsonld")
    euro = records[0]
    assert euro.claim.startswith("Mark Rutte, secretary-general of NATO")
    assert (euro.rating, euro.verdict, euro.publisher, euro.claimant) == ("bogus", "REFUTED", "EuroVerify (Euronews)",
                                                                          "Threads post")
    numeric = records[1]
    assert (numeric.rating, numeric.verdict, numeric.date) == ("3/5", "NOT_ENOUGH_INFO", "2025-01-05")
    assert [(r.row, "no claim" in r.reason) for r in rejected] == [(3, True)]


def test_malformed_jsonld_is_reported_with_file_and_position():
    records, rejected = read_fact_check_file(DATA / "claimreview_malformed.jsonld")
    assert records == []
    assert len(rejected) == 1
    assert rejected[0].path.endswith("claimreview_malformed.jsonld") and rejected[0].row == 5
    assert "line 5, column 45" in rejected[0].reason


def test_ingest_is_idempotent_and_keeps_ids(tmp_path):
    store = tmp_path / "store"
    first = ingest_fact_checks_report(DATA / "factchecks_sample.jsonl", store)
    assert len(first.added) == 8 and len(first.rejected) == 2 and first.unknown_rating
    again = ingest_fact_checks_report(DATA / "factchecks_sample.jsonl", store)
    assert (len(again.added), len(again.updated), len(again.unchanged)) == (0, 0, 8)
    records = load_fact_checks(store)
    assert len(records) == 8 and records[0].id == "politifact-rutte-expel-us"
    with sqlite3.connect(store / "corpus.sqlite") as connection:
        assert connection.execute("SELECT COUNT(*) FROM fact_checks").fetchone()[0] == 8


def test_changed_rating_updates_the_record_in_place(tmp_path):
    store = tmp_path / "store"
    records, _ = read_fact_check_file(DATA / "factchecks_sample.jsonl")
    write_fact_checks(records, store)
    from dataclasses import replace

    revised = replace(records[4], rating="Half True", verdict=verdict_for_rating("Half True"))
    report = write_fact_checks([revised], store)
    assert report.updated == [revised.id]
    stored = load_fact_checks(store)
    assert [r.id for r in stored] == [r.id for r in records]  # order kept
    assert stored[4].verdict == "CONFLICTING"


def test_claimsift_ingest_dispatches_fact_check_files(tmp_path):
    """The corpus ingest hands fact-check files to ingest_fact_checks and reports their rejections."""
    from pipeline.corpus.ingest import ingest

    store = tmp_path / "store"
    files = [tmp_path / "checks.jsonl", tmp_path / "broken.jsonld"]
    shutil.copy(ROOT / "corpus" / "factchecks.jsonl", files[0])
    shutil.copy(DATA / "claimreview_malformed.jsonld", files[1])
    report = ingest(files, store)
    assert [Path(p).name for p in report.fact_check_files] == ["checks.jsonl"]
    # Malformed JSON-LD is rejected with its file and position (by the ingest's JSON sniffing).
    assert [Path(r.path).name for r in report.rejected] == ["broken.jsonld"]
    assert "line 5, column 45" in report.rejected[0].reason
    records = load_fact_checks(store)
    assert {r.publisher for r in records} == {"PolitiFact", "EuroVerify (Euronews)"}
    assert report.fact_checks_changed  # the caller (claimsift ingest) rebuilds the matcher's index
    from pipeline.factchecks.index import build_store_index

    build_store_index(store)
    manifest = json.loads((store / "factcheck_index" / "manifest.json").read_text())
    assert manifest["records"] == 2 and manifest["encoder"]["dimension"] == 384


def test_ingest_fact_checks_returns_rejections_only(tmp_path):
    rejected = ingest_fact_checks(DATA / "factchecks_sample.csv", tmp_path / "store")
    assert [(r.row, "no claim" in r.reason) for r in rejected] == [(3, True)]
    assert [r.id for r in load_fact_checks(tmp_path / "store")] == ["csv-1", "csv-3"]


def test_demo_fact_checks_come_from_the_seeds():
    records, rejected = read_fact_check_file(ROOT / "corpus" / "factchecks.jsonl")
    assert not rejected
    seeds = {Path(r.source).name: (ROOT / r.source).read_text() for r in records}
    assert set(seeds) == {"000_6cff62f9dfef07af.txt", "001_5fb9f27d840b8ced.txt"}
    assert "We rate this post False." in seeds["001_5fb9f27d840b8ced.txt"]
    assert "“bogus”" in seeds["000_6cff62f9dfef07af.txt"]
    assert all(r.verdict == "REFUTED" and r.url == "" for r in records)


def test_cli_factcheck_ingest_reports_counts_and_rejections(tmp_path):
    from typer.testing import CliRunner

    from pipeline.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["factcheck", "ingest", str(DATA / "factchecks_sample.csv"), "--store",
                                 str(tmp_path / "store"), "--json"])
    assert result.exit_code == 1  # a row was rejected: not silent, and not a success
    report = json.loads(result.stdout)[0]
    assert (report["added"], report["unchanged"]) == (2, 0)
    assert report["rejected"][0]["row"] == 3
    ratings = json.loads(runner.invoke(app, ["factcheck", "ratings", "--json"]).stdout)
    assert ratings["pants on fire"] == "REFUTED" and ratings["unknown"] == "NOT_ENOUGH_INFO"


@pytest.mark.skipif(not (ROOT.parent / "shared" / "datasets" / "checkthat2020-task2-claim-retrieval").is_dir(),
                    reason="../shared/datasets/checkthat2020-task2-claim-retrieval is absent")
def test_convert_checkthat_writes_ingestable_records_and_queries(tmp_path):
    from typer.testing import CliRunner

    from pipeline.cli import app

    result = CliRunner().invoke(app, ["factcheck", "convert-checkthat", "--out", str(tmp_path),
                                      "--data", str(ROOT.parent / "shared" / "datasets")])
    assert result.exit_code == 0, result.output
    records, rejected = read_fact_check_file(tmp_path / "verified_claims.factchecks.jsonl")
    assert len(records) == 10375 and not rejected
    assert records[0].id == "0" and records[0].title.startswith("Did 122 Prisoners")
    assert all(r.rating == "unknown" and r.verdict == "NOT_ENOUGH_INFO" for r in records)
    dev = [json.loads(line) for line in (tmp_path / "dev.matching.jsonl").read_text().splitlines()]
    assert len(dev) == 197 and all(q["relevant"] and q["query"] for q in dev)
    assert {r for q in dev for r in q["relevant"]} <= {r.id for r in records}


def test_parquet_and_json_record_lists_are_fact_check_tables(tmp_path):
    import pandas as pd

    rows = [{"id": 7, "claim": "Rutte will expel the US from NATO.", "rating": "Pants on Fire", "date": "2024-11-10"},
            {"id": 8, "claim": None, "rating": "True", "date": None}]
    pd.DataFrame(rows).to_parquet(tmp_path / "checks.parquet")
    records, rejected = read_fact_check_file(tmp_path / "checks.parquet")
    assert [(r.id, r.verdict, r.date) for r in records] == [("7", "REFUTED", "2024-11-10")]
    assert [(r.row, "no claim" in r.reason) for r in rejected] == [(2, True)]
    (tmp_path / "checks.json").write_text(json.dumps(rows, default=str))
    records, rejected = read_fact_check_file(tmp_path / "checks.json")
    assert [r.id for r in records] == ["7"] and [r.row for r in rejected] == [2]
