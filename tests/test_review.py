"""The review desk (`claimsift serve`): queue, claim, labels, export, safety — through Starlette's
test client, on the scores of the sample posts (`tests/data/review_scores.jsonl`, a real
`claimsift score` output of 14 sample posts plus one post holding a <script> tag, scored against
the seed corpus) and, where the page needs the corpus, on the seed store."""
from __future__ import annotations

import json
import multiprocessing
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from pipeline.review.app import ReviewConfig, create_app
from pipeline.review.labels import LabelRecord, LabelStore, content_hash
from pipeline.review.scores import QueueFilter, ScoresTable

DATA = Path(__file__).resolve().parent / "data"
ROOT = DATA.parent.parent
SCORES = DATA / "review_scores.jsonl"
BASE = "http://127.0.0.1:8000"


def _rows() -> list[dict]:
    return [json.loads(line) for line in SCORES.read_text(encoding="utf-8").splitlines()]


@pytest.fixture()
def scores(tmp_path) -> Path:
    """A private copy: the desk writes its caches beside the scores file."""
    target = tmp_path / "scores" / "review_scores.jsonl"
    target.parent.mkdir()
    shutil.copy(SCORES, target)
    return target


def _client(store: Path, scores: Path | None, tmp_path: Path, **options) -> TestClient:
    factory = options.pop("checker_factory", None)
    config = ReviewConfig(store=store, scores=scores, labels_dir=tmp_path / "labels", **options)
    return TestClient(create_app(config, checker_factory=factory), base_url=BASE)


def _form(client: TestClient, url: str) -> dict[str, str]:
    """The hidden fields of a claim page's label form (the CSRF token, the claim it labels)."""
    page = client.get(url)
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))


def _claim_with(rows: list[dict], needle: str) -> tuple[int, int, dict]:
    for row in rows:
        for i, claim in enumerate(row["claims"]):
            if needle in row["text"]:
                return row["line"], i, claim
    raise AssertionError(needle)


# -- the queue -------------------------------------------------------------------------------------
def test_queue_lists_every_claim_most_checkworthy_first(scores, tmp_path):
    table = ScoresTable(scores)
    page = table.page(QueueFilter(), page_size=100)
    claims = [(row["line"], i, c["checkworthiness"]) for row in _rows() for i, c in enumerate(row["claims"])]
    assert page.total == len(claims) > 10
    assert [r.claim_checkworthiness for r in page.rows] == sorted((c for _, _, c in claims), reverse=True)
    assert {(r.line, r.claim_index) for r in page.rows} == {(line, i) for line, i, _ in claims}
    # the JSONL file is converted once, atomically, beside the file; no temporary left behind
    assert sorted(p.name for p in scores.parent.iterdir()) == [
        "review_scores.jsonl", "review_scores.jsonl.claims.parquet", "review_scores.jsonl.parquet",
        "review_scores.jsonl.rows.sqlite", "review_scores.jsonl.terms.parquet"]


def test_queue_filters_and_pages(scores):
    table = ScoresTable(scores)
    rows = _rows()
    refuted = [c for r in rows for c in r["claims"] if c["verdict"] == "REFUTED"]
    assert table.page(QueueFilter(verdict="REFUTED")).total == len(refuted) > 0
    sure = [c for r in rows for c in r["claims"] if (c["confidence"] or 0) >= 0.9]
    assert table.page(QueueFilter(min_confidence=0.9)).total == len(sure)
    def words(row: dict, claim: dict) -> set[str]:
        return set(re.findall(r"[^\W_]+", (claim["text"] + " " + row["text"]).lower()))

    stoltenberg = [c for r in rows for c in r["claims"] if "stoltenberg" in words(r, c)]
    assert table.page(QueueFilter(text="STOLTENBERG")).total == len(stoltenberg) > 0
    both = [c for r in rows for c in r["claims"] if {"nato", "members"} <= words(r, c)]
    nato = [c for r in rows for c in r["claims"] if "nato" in words(r, c)]
    assert table.page(QueueFilter(text="members, NATO!")).total == len(both) < len(nato)
    source = rows[0]["claims"][0]["evidence"][0]["source"]
    from_source = [c for r in rows for c in r["claims"] if any(e["source"] == source for e in c["evidence"])]
    assert table.page(QueueFilter(source=source)).total == len(from_source) > 0
    assert table.page(QueueFilter(published_from="2099-01-01")).total == 0
    assert table.page(QueueFilter(text="stoltenberg", source=source)).total == len(
        [c for c in stoltenberg if any(e["source"] == source for e in c["evidence"])])
    first, second = table.page(QueueFilter(), 1, 5), table.page(QueueFilter(), 2, 5)
    assert [r.rank for r in first.rows] == [1, 2, 3, 4, 5] and [r.rank for r in second.rows] == [6, 7, 8, 9, 10]


def test_cache_is_rebuilt_when_the_scores_file_changes(scores):
    ScoresTable(scores).page(QueueFilter())
    rows = _rows()[:3]
    scores.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    assert ScoresTable(scores).page(QueueFilter()).total == sum(len(r["claims"]) for r in rows)


def test_a_running_desk_serves_a_scores_file_written_over_its_own(scores, tmp_path):
    # prepare() returned early once it had run: the queue and claim pages kept the old rows.
    import os

    client = _client(tmp_path / "no-store", scores, tmp_path, reviewer="ana")
    assert "Estonia is the biggest" in client.get("/queue?q=Estonia").text
    rows = [r for r in _rows() if "Estonia is the biggest" not in r["text"]]
    replacement = scores.with_name("next.jsonl")
    replacement.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    os.replace(replacement, scores)
    assert "Estonia is the biggest" not in client.get("/queue?q=Estonia").text
    assert f"{sum(len(r['claims']) for r in rows)} claims" in client.get("/queue").text


def test_the_date_filter_lists_claims_with_evidence_dated_in_the_range(tmp_path):
    # It tested the span from the oldest to the newest evidence: a claim with evidence from January
    # and August was listed for May.
    rows = _rows()[:2]
    dates = [["2016-01-04", "2016-08-26"], ["2016-05-10", None]]
    for row, claim_dates in zip(rows, dates):
        for claim in row["claims"]:
            for i, evidence in enumerate(claim["evidence"]):
                evidence["published"] = claim_dates[i % 2]
    path = tmp_path / "dated.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    table = ScoresTable(path)
    may = table.page(QueueFilter(published_from="2016-05-01", published_to="2016-05-31"), page_size=100)
    assert {r.line for r in may.rows} == {rows[1]["line"]}
    assert table.page(QueueFilter(published_from="2016-08-01")).total == len(rows[0]["claims"])
    assert table.page(QueueFilter(published_to="2016-01-04")).total == len(rows[0]["claims"])


def test_a_date_with_a_time_is_inside_a_range_ending_or_starting_that_day(tmp_path):
    # "2024-05-03T14:00:00" sorts after "2024-05-03" as text: a range to 2024-05-03 left it out.
    rows = _rows()[:2]
    for row, published in zip(rows, ["2024-05-03T14:00:00", "2024-05-01"]):
        for claim in row["claims"]:
            for evidence in claim["evidence"]:
                evidence["published"] = published
    path = tmp_path / "timed.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    table = ScoresTable(path)

    def lines(**dates: str) -> set[int]:
        return {r.line for r in table.page(QueueFilter(**dates), page_size=100).rows}

    timed, plain = rows[0]["line"], rows[1]["line"]
    assert lines(published_to="2024-05-03") == {timed, plain}
    assert lines(published_from="2024-05-03", published_to="2024-05-03") == {timed}
    assert lines(published_from="2024-05-03") == {timed}
    assert lines(published_from="2024-05-04") == set()
    assert lines(published_to="2024-05-02") == {plain}
    assert lines(published_from="2024-05-01", published_to="2024-05-01") == {plain}
    # A Parquet file written by another tool may hold the dates typed (TIMESTAMP, DATE), not as text.
    import datetime as dt

    import pyarrow as pa
    import pyarrow.parquet as pq

    for row, published in zip(rows, [dt.datetime(2024, 5, 3, 14), dt.date(2024, 5, 1)]):
        for claim in row["claims"]:
            for evidence in claim["evidence"]:
                evidence["published"] = published
    for typed_rows, name in ((rows, "mixed"), ([rows[0]], "timestamp")):
        typed = tmp_path / f"{name}.parquet"
        try:
            pq.write_table(pa.Table.from_pylist(typed_rows), typed)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            continue  # a column of dates and datetimes together is not one Arrow type
        table = ScoresTable(typed)
        assert timed in lines(published_from="2024-05-03", published_to="2024-05-03")


def test_parquet_scores_are_read_in_place(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipeline.scoring.output import output_schema

    path = tmp_path / "scores.parquet"
    pq.write_table(pa.Table.from_pylist(_rows(), schema=output_schema()), path)
    table = ScoresTable(path).prepare()
    assert table.posts_path == path
    line, index, claim = _claim_with(_rows(), "Poland spends")
    assert table.post(line)["claims"][index]["verdict"] == claim["verdict"]


def test_queue_page_problems_are_messages_not_tracebacks(scores, tmp_path):
    client = _client(tmp_path / "no-store", scores, tmp_path)
    for url, status, words in [("/queue?page=0", 400, "pages start at 1"), ("/queue?page=abc", 400, "whole number"),
                               ("/queue?page=999", 404, "does not exist"), ("/queue?min_conf=2", 400, "between 0 and 1"),
                               ("/queue?from=yesterday", 400, "not a date"), ("/queue?verdict=MAYBE", 400, "unknown verdict"),
                               ("/claim/999/0", 404, "no post on line 999"), ("/claim/1/7", 404, "no claim 7"),
                               # an emoji-only search was ignored and listed every claim
                               ("/queue?q=%F0%9F%8E%89", 400, "holds no word")]:
        response = client.get(url)
        assert response.status_code == status, url
        assert words in response.text and "Traceback" not in response.text, url
    missing = _client(tmp_path / "no-store", tmp_path / "nothing.jsonl", tmp_path).get("/queue")
    assert missing.status_code == 503 and "no scores file here" in missing.text
    no_scores = _client(tmp_path / "no-store", None, tmp_path).get("/queue")
    assert "No scores file" in no_scores.text
    corpus = _client(tmp_path / "no-store", None, tmp_path).get("/corpus")
    assert corpus.status_code == 200 and "No corpus store" in corpus.text


def test_queue_renders_filters_and_links(scores, tmp_path):
    client = _client(tmp_path / "no-store", scores, tmp_path)
    page = client.get("/queue?verdict=REFUTED")
    assert page.status_code == 200
    links = re.findall(r'href="/claim/(\d+)/(\d+)"', page.text)
    refuted = {(str(r["line"]), str(i)) for r in _rows() for i, c in enumerate(r["claims"]) if c["verdict"] == "REFUTED"}
    assert set(links) == refuted


# -- escaping ----------------------------------------------------------------------------------------
def test_a_post_with_a_script_tag_is_shown_as_text(scores, tmp_path):
    client = _client(tmp_path / "no-store", scores, tmp_path)
    line, index, _ = _claim_with(_rows(), "<script>")
    for url in (f"/claim/{line}/{index}", "/queue?q=owned"):
        html = client.get(url).text
        assert "&lt;script&gt;alert(&#34;owned&#34;)&lt;/script&gt;" in html, url
        assert "<script>alert" not in html and "<b>if</b>" not in html, url


# -- labels --------------------------------------------------------------------------------------------
def test_labels_are_append_only_and_the_newest_is_in_force(tmp_path):
    store = LabelStore(tmp_path / "labels")
    base = dict(task="verdict", predicted="SUPPORTED", reviewer="ana", post_hash=content_hash("a post"),
                claim_hash=content_hash("a claim"), claim="a claim", post_text="a post", passages=("p1", "p2"))
    store.append([LabelRecord(label="REFUTED", **base)])
    store.append([LabelRecord(label="NOT_ENOUGH_INFO", **base | {"reviewer": "ben"})])
    records = store.records()
    assert [r.label for r in records] == ["REFUTED", "NOT_ENOUGH_INFO"]  # history kept
    (current,) = store.latest().values()
    assert (current.label, current.reviewer, current.corrected) == ("NOT_ENOUGH_INFO", "ben", True)
    assert [r["label"] for r in store.export_rows("verdict")] == ["NOT_ENOUGH_INFO"]
    with pytest.raises(Exception, match="not a verdict label"):
        store.append([LabelRecord(label="MAYBE", **base)])
    assert len(store.records()) == 2  # a bad batch writes nothing


def _append_many(folder: str, who: str, n: int) -> None:
    store = LabelStore(folder)
    for i in range(n):
        store.append([LabelRecord(task="checkworthy", label=i % 2, predicted=1, reviewer=who,
                                  post_hash=content_hash(f"{who} {i}"), post_text=f"{who} post {i} " + "x" * 3000)])


@pytest.mark.slow
def test_two_processes_appending_at_once_lose_nothing(tmp_path):
    folder = str(tmp_path / "labels")
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_append_many, args=(folder, who, 60)) for who in ("ana", "ben")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [w.exitcode for w in workers] == [0, 0]
    lines = (tmp_path / "labels" / "labels.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 120 and all(json.loads(line)["task"] == "checkworthy" for line in lines)


def test_a_torn_last_line_is_skipped_and_the_next_label_starts_afresh(tmp_path):
    store = LabelStore(tmp_path / "labels")
    _append_many(str(tmp_path / "labels"), "ana", 1)
    with open(store.path, "a", encoding="utf-8") as handle:
        handle.write('{"task": "checkw')  # a crash mid-write
    _append_many(str(tmp_path / "labels"), "ben", 1)
    assert [r.reviewer for r in store.records()] == ["ana", "ben"]


def test_label_export_schemas_pass_the_retraining_checks(tmp_path):
    from pipeline.training.data import validate

    store = LabelStore(tmp_path / "labels")
    for i, (stance, worthy) in enumerate([("SUPPORTS", 1), ("REFUTES", 0), ("NOT_ENOUGH_INFO", 1)]):
        common = dict(reviewer="ana", post_hash=content_hash(f"post {i}"), post_text=f"post number {i}",
                      claim_hash=content_hash(f"claim {i}"), claim=f"claim number {i}")
        store.append([LabelRecord(task="stance", label=stance, predicted="SUPPORTS", evidence=f"passage {i}",
                                  passage_hash=content_hash(f"passage {i}"), **common),
                      LabelRecord(task="checkworthy", label=worthy, predicted=1, **common),
                      LabelRecord(task="verdict", label="REFUTED", predicted="SUPPORTED", passages=(f"passage {i}",),
                                  **common)])
    for task in ("stance", "checkworthy"):
        out = tmp_path / f"{task}.jsonl"
        assert store.export(task, out) == 3
        report, frame = validate(out, task, min_rows=1, min_per_class=1)
        assert report.ok, report.summary()
        assert len(frame) == 3
    verdict = tmp_path / "verdict.jsonl"
    store.export("verdict", verdict)
    row = json.loads(verdict.read_text().splitlines()[0])
    assert {"claim", "label", "evidence"} <= set(row) and row["evidence"] == ["passage 0"]


def test_label_export_never_shares_a_temporary_file(tmp_path, monkeypatch):
    # export wrote through a fixed `.OUT.tmp`: two exports to one file wrote into one temporary file,
    # and a failed write left it behind
    import os

    store = LabelStore(tmp_path / "labels")
    store.append([LabelRecord(task="checkworthy", label=1, predicted=1, reviewer="ana",
                              post_hash=content_hash("post"), post_text="a post", claim_hash=content_hash("c"),
                              claim="a claim")])
    folder = tmp_path / "out"
    folder.mkdir()
    out = folder / "checkworthy.jsonl"
    other_run = folder / ".checkworthy.jsonl.tmp"
    other_run.write_text("another export\n", encoding="utf-8")

    def failing_replace(*args, **kwargs):
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(os, "replace", failing_replace)
        with pytest.raises(OSError):
            store.export("checkworthy", out)
    assert sorted(p.name for p in folder.iterdir()) == [".checkworthy.jsonl.tmp"]
    assert other_run.read_text() == "another export\n"
    assert store.export("checkworthy", out) == 1 and other_run.read_text() == "another export\n"


def test_label_export_command(tmp_path):
    from typer.testing import CliRunner

    from pipeline.cli import app
    from pipeline.core.errors import UserError

    store = LabelStore(tmp_path / "labels")
    store.append([LabelRecord(task="checkworthy", label=0, predicted=1, reviewer="ana", post_hash="h",
                              post_text="Good morning everyone")])
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(app, ["labels", "export", "--task", "checkworthy", "--labels",
                                      str(tmp_path / "labels"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["text"] == "Good morning everyone"
    bad = CliRunner().invoke(app, ["labels", "export", "--task", "sentiment", "--labels", str(tmp_path / "labels"),
                                   "--out", str(out)])
    assert bad.exit_code != 0
    labels_before = store.path.read_bytes()
    for target in (store.path, tmp_path / "labels"):  # the labels file itself (was overwritten), a folder
        refused = CliRunner().invoke(app, ["labels", "export", "--task", "checkworthy", "--labels",
                                           str(tmp_path / "labels"), "--out", str(target)])
        # CliRunner runs the app without main(): the UserError that main() prints as one line
        assert isinstance(refused.exception, UserError), refused.output
        assert "is the input" in str(refused.exception) or "is a folder" in str(refused.exception)
    assert store.path.read_bytes() == labels_before


# -- labelling through the app -------------------------------------------------------------------------
def test_label_a_claim_then_see_it_and_its_history(scores, tmp_path):
    client = _client(tmp_path / "no-store", scores, tmp_path, reviewer="ana")
    line, index, claim = _claim_with(_rows(), "Estonia is the biggest")
    url = f"/claim/{line}/{index}"
    form = _form(client, url)
    stances = {f"stance_{i}": "NOT_ENOUGH_INFO" for i in range(len(claim["evidence"]))}
    response = client.post(url + "/label", data={**form, "verdict": "REFUTED", "checkworthy": "1", **stances},
                           follow_redirects=False)
    assert response.status_code == 303
    page = client.get(url).text
    assert re.search(r'class="label-in-force">REFUTED</b> by ana', page)
    assert re.search(r'<option value="REFUTED" selected', page)
    # a correction of the correction keeps the history
    client.post(url + "/label", data={**form, "verdict": "NOT_ENOUGH_INFO"})
    page = client.get(url).text
    assert 'class="label-in-force">NOT ENOUGH INFO</b>' in page
    history = page[page.index("<h2>History"):]
    assert history.count("<tr>") == 1 + 2 + len(stances) + 1  # header, two verdicts, stances, check-worthiness
    records = LabelStore(tmp_path / "labels").records()
    verdicts = [r for r in records if r.task == "verdict"]
    assert [r.label for r in verdicts] == ["REFUTED", "NOT_ENOUGH_INFO"]
    assert verdicts[0].predicted == claim["verdict"] and verdicts[0].reviewer == "ana"
    assert verdicts[0].post_hash == content_hash(next(r["text"] for r in _rows() if r["line"] == line))
    assert verdicts[0].models.get("verdict") and "time" in verdicts[0].to_dict()
    queue = client.get("/queue?q=Estonia").text
    assert "→ NOT ENOUGH INFO" in queue


def test_label_writes_are_refused_without_the_form_token_from_another_site_or_read_only(scores, tmp_path):
    client = _client(tmp_path / "no-store", scores, tmp_path, reviewer="ana")
    url = "/claim/1/0"
    form = _form(client, url)
    assert client.post(url + "/label", data={"verdict": "REFUTED"}).status_code == 403
    assert client.post(url + "/label", data={"csrf": "guess", "verdict": "REFUTED"}).status_code == 403
    cross = client.post(url + "/label", data={**form, "verdict": "REFUTED"},
                        headers={"Origin": "https://evil.example"})
    assert cross.status_code == 403
    assert client.post(url + "/label", data={**form, "verdict": "REFUTED"},
                       headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
    assert not (tmp_path / "labels" / "labels.jsonl").exists()
    read_only = _client(tmp_path / "no-store", scores, tmp_path, read_only=True)
    page = read_only.get(url).text
    assert "label-form" not in page
    token = re.search(r"claimsift_csrf=([^;]+)", read_only.get(url).headers.get("set-cookie", "") or "x=y")
    response = read_only.post(url + "/label", data={"csrf": token.group(1) if token else "", "verdict": "REFUTED"})
    assert response.status_code == 403 and "read-only" in response.text
    assert not (tmp_path / "labels" / "labels.jsonl").exists()


def test_a_label_form_of_a_claim_that_changed_is_refused(scores, tmp_path):
    # The form named its claim by line and position only: after a new scores file, a saved form
    # labelled the post now on that line.
    client = _client(tmp_path / "no-store", scores, tmp_path, reviewer="ana")
    line, index, _ = _claim_with(_rows(), "Estonia is the biggest")
    url = f"/claim/{line}/{index}"
    form = _form(client, url)
    rows = _rows()
    rows[[r["line"] for r in rows].index(line)]["text"] = "Another post altogether, about Finland."
    scores.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    response = client.post(url + "/label", data={**form, "verdict": "REFUTED"})
    assert response.status_code == 409 and "not the one the page showed" in response.text
    assert not (tmp_path / "labels" / "labels.jsonl").exists()
    assert client.post(url + "/label", data={**_form(client, url), "verdict": "REFUTED"},
                       follow_redirects=False).status_code == 303
    ghost = client.post(url + "/label", data={**_form(client, url), "stance_99": "REFUTES"})
    assert ghost.status_code == 400 and "no passage 99" in ghost.text  # was dropped without a word


def test_a_stale_page_does_not_undo_another_reviewers_verdict(scores, tmp_path):
    # The verdict is always sent (unchanged, it confirms): Bob's page, loaded before Alice's
    # correction, put the model's verdict back when he saved a stance.
    alice = _client(tmp_path / "no-store", scores, tmp_path, reviewer="alice")
    bob = _client(tmp_path / "no-store", scores, tmp_path, reviewer="bob")
    line, index, claim = _claim_with(_rows(), "Estonia is the biggest")
    url = f"/claim/{line}/{index}"
    bob_form = _form(bob, url)
    alice_form = _form(alice, url)
    other = next(v for v in ("REFUTED", "SUPPORTED") if v != claim["verdict"])
    assert alice.post(url + "/label", data={**alice_form, "verdict": other}, follow_redirects=False).status_code == 303
    stale = bob.post(url + "/label", data={**bob_form, "verdict": claim["verdict"], "stance_0": "SUPPORTS"})
    assert stale.status_code == 409 and f"alice labelled this claim (verdict: {other})" in stale.text
    assert "label-in-force\">" + other.replace("_", " ") in bob.get(url).text
    fresh = bob.post(url + "/label", data={**_form(bob, url), "verdict": other, "stance_0": "SUPPORTS"},
                     follow_redirects=False)
    assert fresh.status_code == 303
    # Alice's old page is stale now too: bob labelled the verdict since.
    assert alice.post(url + "/label", data={**alice_form, "verdict": claim["verdict"]},
                      follow_redirects=False).status_code == 409  # bob labelled it since
    assert [r.reviewer for r in LabelStore(tmp_path / "labels").records() if r.task == "verdict"] == ["alice", "bob"]
    # The post's check-worthiness too: a stale page re-sent the value it showed over a newer one.
    carol = _client(tmp_path / "no-store", scores, tmp_path, reviewer="carol")
    carol_form = _form(carol, url)
    assert bob.post(url + "/label", data={**_form(bob, url), "verdict": other, "checkworthy": "0"},
                    follow_redirects=False).status_code == 303
    again = carol.post(url + "/label", data={**carol_form, "verdict": other, "checkworthy": "1"})
    assert again.status_code == 409 and "bob labelled this claim" in again.text


def test_the_conflict_check_and_the_write_are_one_step():
    # Two saves from pages of one basis both passed the check, the later silently over the other.
    import tempfile

    from pipeline.review.labels import LabelConflict, LabelRecord, no_newer_label_by_another

    with tempfile.TemporaryDirectory() as folder:
        store = LabelStore(Path(folder))
        record = LabelRecord(task="verdict", label="REFUTED", predicted="SUPPORTED", reviewer="ann", post_hash="p",
                             claim_hash="c")
        store.append([record], check=no_newer_label_by_another("p", "c", "", "ann"))
        with pytest.raises(LabelConflict, match="ann labelled this claim"):
            store.append([record.__class__(**{**record.to_dict(), "reviewer": "ben"})],
                         check=no_newer_label_by_another("p", "c", "", "ben"))
        assert [r.reviewer for r in store.records()] == ["ann"]


def test_a_reviewer_name_outside_latin1_is_remembered(scores, tmp_path):
    # The cookie header is Latin-1: "Łukasz" gave a 500 after the label was saved.
    client = _client(tmp_path / "no-store", scores, tmp_path)
    saved = client.post("/claim/1/0/label", data={**_form(client, "/claim/1/0"), "verdict": "REFUTED",
                                                   "reviewer": "Łukasz Nowak 王芳"}, follow_redirects=False)
    assert saved.status_code == 303
    assert 'value="Łukasz Nowak 王芳"' in client.get("/claim/1/0").text


def test_a_reviewer_name_is_required(scores, tmp_path):
    client = _client(tmp_path / "no-store", scores, tmp_path)
    form = _form(client, "/claim/1/0")
    response = client.post("/claim/1/0/label", data={**form, "verdict": "REFUTED", "reviewer": "  "})
    assert response.status_code == 400 and "reviewer" in response.text


# -- host and token ----------------------------------------------------------------------------------------
def test_foreign_host_headers_are_refused(scores, tmp_path):
    client = _client(tmp_path / "no-store", scores, tmp_path)
    assert client.get("/queue").status_code == 200
    assert client.get("/queue", headers={"Host": "localhost:8000"}).status_code == 200
    rebound = client.get("/queue", headers={"Host": "attacker.example:8000"})
    assert rebound.status_code == 400 and "Host" in rebound.text


def test_a_token_is_needed_on_every_request_when_set(scores, tmp_path):
    client = _client(tmp_path / "no-store", scores, tmp_path, token="s3cret", host="192.0.2.10")
    assert client.get("/queue").status_code == 401
    assert client.get("/static/style.css").status_code == 401
    assert client.get("/queue?token=wrong").status_code == 401
    assert client.get("/queue", headers={"Host": "192.0.2.10:8000"}).status_code == 401
    entered = client.get("/queue?token=s3cret&verdict=REFUTED", follow_redirects=False)
    assert entered.status_code == 303 and entered.headers["location"] == "/queue?verdict=REFUTED"
    assert client.get("/queue").status_code == 200  # the cookie now carries it
    fresh = _client(tmp_path / "no-store", scores, tmp_path, token="s3cret", host="192.0.2.10")
    assert fresh.get("/queue", headers={"Authorization": "Bearer s3cret"}).status_code == 200


def test_the_token_never_leaves_the_desk_in_a_cookie_a_redirect_or_the_log(scores, tmp_path):
    import logging

    from pipeline.review.security import TOKEN_COOKIE, RedactTokens

    client = _client(tmp_path / "no-store", scores, tmp_path, token="s3cretTOKEN", host="192.0.2.10")
    entered = client.get("/queue?token=s3cretTOKEN", follow_redirects=False)
    cookie = client.cookies.get(TOKEN_COOKIE)
    # Browsers send a host's cookies to all its ports: the cookie proves the token, it is not the token.
    assert cookie and "s3cretTOKEN" not in cookie and "s3cretTOKEN" not in entered.headers["set-cookie"]
    assert client.get("/queue").status_code == 200
    forged = _client(tmp_path / "no-store", scores, tmp_path, token="s3cretTOKEN", host="192.0.2.10")
    forged.cookies.set(TOKEN_COOKIE, "nonce." + "0" * 64)
    assert forged.get("/queue").status_code == 401
    # "//evil.example/x?token=…" redirected off the desk.
    for path in ("//evil.example/phish", "/%2F%2Fevil.example", "/\\evil.example"):
        moved = client.get(f"{path}?token=s3cretTOKEN", follow_redirects=False)
        location = moved.headers.get("location", "")
        assert location.startswith("/") and not location.startswith(("//", "/\\")), (path, location)
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("192.0.2.2:1", "GET", "/claim/1/0?token=s3cretTOKEN&x=1", "1.1", 303), None)
    RedactTokens().filter(record)
    assert "s3cretTOKEN" not in record.getMessage() and "x=1" in record.getMessage()
    encoded = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, "%s", ("/q?%74oKen=s3cretTOKEN",), None)
    RedactTokens().filter(encoded)
    assert "s3cretTOKEN" not in encoded.getMessage()  # the desk decodes the key, so the log must too


def test_a_basic_iso_date_filters_as_its_dashed_form(scores, tmp_path):
    # "20990101" passed the date check and was compared as text with "2016-…" dates.
    client = _client(tmp_path / "no-store", scores, tmp_path)
    links = [client.get(f"/queue?{q}").text.count('href="/claim/') for q in ("from=20990101", "from=2099-01-01",
                                                                              "to=20990101", "to=2099-01-01")]
    assert links[0] == links[1] == 0 and links[2] == links[3] > 0


def test_serve_refuses_an_open_address_without_a_token(monkeypatch):
    from typer.testing import CliRunner

    from pipeline.cli import app

    monkeypatch.delenv("CLAIMSIFT_REVIEW_TOKEN", raising=False)
    result = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0"])
    assert result.exit_code != 0 and "token" in str(result.exception or result.output)


def test_responses_forbid_framing_and_foreign_scripts(scores, tmp_path):
    response = _client(tmp_path / "no-store", scores, tmp_path).get("/queue")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"


# -- stopping the desk -----------------------------------------------------------------------------------------
def _serve_args(scores: Path, tmp_path: Path) -> list[str]:
    """`claimsift serve` on a free port (returned last) of this machine's loopback."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return ["serve", "--store", str(tmp_path / "no-store"), "--scores", str(scores), "--labels",
            str(tmp_path / "labels"), "--port", str(port)]


def _wait_until_it_answers(desk: subprocess.Popen, opener: urllib.request.OpenerDirector, url: str) -> None:
    """Until the desk started in ``desk`` answers ``url`` with a page (two minutes at most)."""
    deadline = time.monotonic() + 120
    while True:
        try:
            with opener.open(url, timeout=10) as page:
                assert page.status == 200
            return
        except OSError:
            assert desk.poll() is None, f"the desk stopped before it answered: {desk.communicate()}"
            assert time.monotonic() < deadline, "the desk never answered"
            time.sleep(0.2)


def test_sigterm_stops_the_desk_gracefully_with_status_0(scores, tmp_path):
    # uvicorn shut down cleanly, then raised SIGTERM again into the command line's handler: exit status 143,
    # which a service manager (systemd) counts as a failure.
    args = _serve_args(scores, tmp_path)
    queue = f"http://127.0.0.1:{args[-1]}/queue"
    no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    desk = subprocess.Popen([sys.executable, "-m", "pipeline.cli", *args], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_until_it_answers(desk, no_proxy, queue)
        desk.send_signal(signal.SIGTERM)
        _, stderr = desk.communicate(timeout=60)
    finally:
        if desk.poll() is None:
            desk.kill()
            desk.communicate()
    assert desk.returncode == 0, stderr
    assert "Traceback" not in stderr and "Application shutdown complete" in stderr, stderr


def test_a_stop_does_not_wait_without_limit_for_a_page_still_being_served(scores, tmp_path):
    # uvicorn's own default waits for open requests without limit: one stuck page kept a stopped desk running
    # until the service manager killed it.
    args = _serve_args(scores, tmp_path)
    script = (
        "import asyncio, sys\n"
        "from starlette.routing import Route\n"
        "import pipeline.review.app as desk\n"
        "desk.SHUTDOWN_GRACE_S = 1\n"
        "built = desk.create_app\n"
        "async def stuck(request):\n"
        "    await asyncio.sleep(3600)\n"
        "def create_app(config):\n"
        "    app = built(config)\n"
        "    app.router.routes.insert(0, Route('/stuck', stuck))\n"
        "    return app\n"
        "desk.create_app = create_app\n"
        "from pipeline.cli import main\n"
        f"sys.argv = ['claimsift', *{args!r}]\n"
        "main()\n")
    base = f"http://127.0.0.1:{args[-1]}"
    no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    desk = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        _wait_until_it_answers(desk, no_proxy, f"{base}/queue")
        stuck = threading.Thread(target=lambda: _open_quietly(no_proxy, f"{base}/stuck"), daemon=True)
        stuck.start()
        time.sleep(1.0)
        desk.send_signal(signal.SIGTERM)
        _, stderr = desk.communicate(timeout=30)
    finally:
        if desk.poll() is None:
            desk.kill()
            desk.communicate()
    # uvicorn logs the page it cancelled (with its traceback); the desk itself stops cleanly.
    assert desk.returncode == 0, stderr
    assert "timeout graceful shutdown exceeded" in stderr, stderr


def _open_quietly(opener: urllib.request.OpenerDirector, url: str) -> None:
    try:
        opener.open(url, timeout=120).close()
    except OSError:
        pass  # the desk closed it: what the test wants


@pytest.mark.parametrize("signal_name, status", [("SIGTERM", 0), ("SIGINT", 130)])
def test_a_signal_while_duckdb_prepares_the_scores_stops_the_desk_without_a_traceback(scores, tmp_path,
                                                                                       signal_name, status):
    # DuckDB runs the signal's handler inside its query and raises its own RuntimeError("Query interrupted") in
    # place of the handler's SystemExit (KeyboardInterrupt for Ctrl-C): a traceback and exit status 1. The query
    # here outlasts the test, so the signal (sent by the desk's process to itself, a second into it) comes while
    # DuckDB runs it; on one thread DuckDB looks for signals between its tasks (on more it may not until the
    # query ends).
    script = (
        "import os, signal, sys, threading\n"
        "from pipeline.review.scores import ScoresTable\n"
        "def count_facets(self):\n"
        "    con = self._cursor()\n"
        "    con.execute('SET threads = 1')\n"
        f"    threading.Timer(1.0, os.kill, (os.getpid(), signal.{signal_name})).start()\n"
        "    con.execute('SELECT count(*) FROM range(1000000000000) t(i) WHERE i % 7 = 3').fetchone()\n"
        "    raise AssertionError('the query ran to its end')\n"
        "ScoresTable._count_facets = count_facets\n"
        "from pipeline.cli import main\n"
        f"sys.argv = ['claimsift', *{_serve_args(scores, tmp_path)!r}]\n"
        "main()\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert "preparing" in done.stdout, done.stdout + done.stderr
    assert done.returncode == status, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert "Uvicorn running" not in done.stderr, "stopped while preparing, before serving"


# -- pages on the seed store ----------------------------------------------------------------------------------
@pytest.mark.slow
def test_claim_page_shows_the_decisive_sentence_in_its_context(seed_store, scores, tmp_path):
    client = _client(seed_store, scores, tmp_path)
    line, index, claim = _claim_with(_rows(), "Breaking. NATO Secretary General")
    decisive = next(e for e in claim["evidence"] if e["decisive"])
    page = client.get(f"/claim/{line}/{index}").text
    marked = re.findall(r'<p class="context">(.*?)<mark class="decisive">(.*?)</mark>(.*?)</p>', page, re.S)
    assert any(sentence == decisive["sentence"].replace('"', "&#34;") and before.strip() for before, sentence, _ in marked)
    link = re.search(rf'href="/corpus/doc/{decisive["doc_id"]}\?s=(\d+)#s(\d+)"', page)
    assert link and link.group(1) == link.group(2)
    document = client.get(f"/corpus/doc/{decisive['doc_id']}?s={link.group(1)}").text
    target = re.search(rf'<span class="sentence target" id="s{link.group(1)}"(.*?)id="s', document, re.S)
    assert target and "never said this" in re.sub(r"<[^>]+>", "", target.group(1))
    assert document.count('class="sentence target"') == 1
    assert 'Quoted here: <b>' in page  # Riggio's denial is a quote in that context
    checks = page[page.index("<h2>Earlier fact-checks"):]
    for fact_check in claim["fact_checks"]:  # PolitiFact's "False", EuroVerify's "bogus"
        assert fact_check["publisher"].replace("(", "").split()[0] in checks and fact_check["rating"] in checks


@pytest.mark.slow
def test_corpus_page_documents_entities_quotes_and_timeline(seed_store, tmp_path):
    from pipeline.corpus.store import Corpus

    client = _client(seed_store, None, tmp_path)
    page = client.get("/corpus").text
    summary = Corpus(seed_store).summary()
    assert page.count('href="/corpus/doc/') >= summary["documents"]
    for label in list(summary["entities_by_label"])[:3]:
        assert f'class="ent ent-{label}"' in page
    assert "Riggio" in page
    svg = client.get("/corpus/timeline.svg")
    assert svg.headers["content-type"].startswith("image/svg+xml") and "<svg" in svg.text


@pytest.mark.slow
def test_stale_or_missing_index_is_said_on_the_page(seed_store_copy, scores, tmp_path):
    from pipeline.retrieval.index import current_index_dir

    manifest = current_index_dir(seed_store_copy) / "manifest.json"
    data = json.loads(manifest.read_text())
    manifest.write_text(json.dumps(data | {"count": data["count"] - 3}))  # as if sentences were added since
    client = _client(seed_store_copy, scores, tmp_path)
    assert "evidence index of" in client.get("/claim/1/0").text and "is stale" in client.get("/corpus").text
    (seed_store_copy / "index" / "CURRENT").unlink()
    assert "no evidence index" in client.get("/claim/1/0").text
    check = client.get("/check?claim=Rutte+threatened+to+expel+the+US")
    assert check.status_code == 400 and "no evidence index" in check.text


@pytest.mark.slow
def test_check_page_gives_the_same_result_as_claimsift_check(seed_store, seed_checker, tmp_path):
    built = []

    def factory():
        built.append(1)
        return seed_checker

    client = _client(seed_store, None, tmp_path, checker_factory=factory)
    claim = "NATO chief Rutte threatened to expel the US if Trump surrenders Ukraine"
    expected = seed_checker.check(claim)
    page = client.get("/check", params={"claim": claim}).text
    assert f"v-{expected.verdict.lower()}" in page and f"{expected.confidence:.0%}" in page
    assert page.count('class="passage"') == len(expected.evidence)
    client.get("/check", params={"claim": "Poland spends 4% of GDP on defence"})
    assert built == [1]  # loaded once per app
    empty = client.get("/check", params={"claim": "https://example.com"})
    assert empty.status_code == 400 and "Traceback" not in empty.text


def test_the_check_page_links_a_passages_document_url_only_where_it_is_http(tmp_path, monkeypatch):
    import pipeline.review.app as app_module
    from pipeline.core.types import Evidence, Verdict

    sentence = "Rutte has never said this."

    def passage(doc_id: str, url: str) -> Evidence:
        return Evidence(doc_id=doc_id, sentence=sentence, start=0, end=len(sentence), score=1.0, stance="REFUTES",
                        source=f"{doc_id}.txt", url=url)

    class FakeChecker:
        def warm_up(self) -> None:
            pass

        def check(self, claim: str) -> Verdict:
            evidence = (passage("https", "https://example.org/a?x=1&y=<2>"), passage("plain", "http://example.org/b"),
                        passage("script", "javascript:alert('<b>1</b>')"), passage("none", ""))
            return Verdict(claim=claim, verdict="REFUTED", confidence=0.9, evidence=evidence, decisive=(0,))

    monkeypatch.setattr(app_module, "_store_problem", lambda store: None)
    client = _client(tmp_path / "store", None, tmp_path, checker_factory=FakeChecker)
    page = client.get("/check", params={"claim": "Rutte threatened to expel the US"}).text
    links = re.findall(r'<a href="([^"]*)" class="doc-url"', page)
    assert links == ["https://example.org/a?x=1&amp;y=&lt;2&gt;", "http://example.org/b"]
    assert "javascript:alert(&#39;&lt;b&gt;1&lt;/b&gt;&#39;)" in page  # shown as text, escaped
    assert 'href="javascript:' not in page and "<b>1</b>" not in page
    assert page.count('class="passage"') == 4 and page.count('class="doc-url"') == 2


def test_models_page_lists_versions_cards_and_the_newest_compare_report(tmp_path):
    from pipeline.registry.registry import Registry

    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "old.html").write_text("<p>old</p>")
    newest = reports / "stance-compare.html"
    newest.write_text("<h1>candidate vs current</h1>")
    import os

    os.utime(reports / "old.html", (1, 1))
    client = _client(tmp_path / "no-store", None, tmp_path, reports_dir=reports)
    page = client.get("/models").text
    registry = Registry()
    for name in registry.names():
        current = registry.current_version(name)
        if current:
            assert f'href="/models/{name}/{current}"' in page
    assert "stance-compare.html" in page
    assert "candidate vs current" in client.get("/models/report").text
    name = registry.names()[0]
    card = client.get(f"/models/{name}/{registry.versions(name)[0]}")
    assert card.status_code == 200 and "sha256" in card.text.lower()
    assert client.get("/models/nothing/v1").status_code == 404


def test_the_check_page_checker_reads_the_desks_models_folder(tmp_path, monkeypatch):
    # With --models-dir the labels recorded that folder's models as the predicting ones, while the
    # Check page's Checker loaded models/: the desk named one registry and checked with another
    import pipeline.review.app as app_module

    made: dict = {}

    class FakeChecker:
        def __init__(self, store, **options) -> None:
            made.update(store=store, **options)

    monkeypatch.setattr(app_module, "Checker", FakeChecker)
    models = tmp_path / "models"
    app = create_app(ReviewConfig(store=tmp_path / "store", labels_dir=tmp_path / "labels", models_dir=models))
    app.state.review.checker_factory()
    assert made == {"store": tmp_path / "store", "models_dir": models}


def _registry_cards(tmp_path: Path, names: tuple[str, ...]) -> Path:
    """A registry of the shipped models' cards and CURRENT files only: enough to resolve, nothing loads."""
    models = tmp_path / "models"
    for name in names:
        shutil.copytree(DATA.parent.parent / "models" / name, models / name, ignore=lambda folder, files: [
            f for f in files if (Path(folder) / f).is_file() and f not in ("card.json", "CURRENT", "HISTORY.jsonl")])
    return models


@pytest.mark.parametrize("registry", ["a stance model promoted after the verdict model's fit",
                                      "no cross-encoder nor verdict model current"])
def test_labels_record_the_stance_and_verdict_models_the_checker_reads_with(tmp_path, registry):
    # The desk resolved the roles itself: with no cross-encoder current it recorded stance None, and
    # with no verdict model current verdict None, where the Checker (and `claimsift score`) read with
    # stance-embed and judged with the hand-set rules.
    from pipeline.registry.registry import Registry
    from pipeline.scoring.models import ModelScorer
    from pipeline.verdict.aggregator import fitted_stance_spec
    from pipeline.verdict.checker import Checker
    from pipeline.verdict.rules import VerdictRules

    if registry.startswith("a stance"):
        models = _registry_cards(tmp_path, ("checkworthy", "stance", "stance-embed", "verdict"))
        verdict = f"verdict@{Registry(models).current_version('verdict')}"
        stance = fitted_stance_spec(verdict, models)
        assert stance is not None
        another = next(v for v in Registry(models).versions("stance") if f"stance@{v}" != stance)
        (models / "stance" / "CURRENT").write_text(another + "\n")
        verdict_label = verdict
    else:
        models = _registry_cards(tmp_path, ("checkworthy", "stance-embed"))
        verdict, stance = "rules", f"stance-embed@{Registry(models).current_version('stance-embed')}"
        verdict_label = VerdictRules().label()
    store = tmp_path / "store"
    app = create_app(ReviewConfig(store=store, labels_dir=tmp_path / "labels", models_dir=models))
    recorded = app.state.review.prediction_models()

    checker = Checker(store, models_dir=models)  # what the Checker reads with, resolved before anything loads
    read_with, _ = checker._present_models(checker.verdict_model)
    pinned = ModelScorer(store, models_dir=models, fact_checks=False).pin_models()  # what `claimsift score` pins
    assert checker.verdict_model == pinned["verdict"] == verdict
    assert Registry(models).resolve(read_with).label == pinned["stance"] == stance
    assert (recorded["verdict"], recorded["stance"]) == (verdict_label, stance)
    assert recorded["checkworthy"] == pinned["checkworthy"]


@pytest.mark.parametrize("names", [("checkworthy", "stance", "stance-embed", "verdict"), ("checkworthy", "stance-embed"),
                                   ("checkworthy",)])
def test_the_desk_names_the_models_a_score_run_would_pin_by_the_same_code(tmp_path, monkeypatch, names):
    # The desk's fallback (a scores file that records no models) resolved each role itself, beside
    # ModelScorer.pin_models: the two could drift (its labels already lacked the voting rules).
    import pipeline.scoring.models as scoring_models
    from pipeline.core.errors import UserError
    from pipeline.scoring.models import ModelScorer

    models = _registry_cards(tmp_path, names)
    store = tmp_path / "store"  # none: the fallback reads model cards only, never the store or its index

    def desk_models() -> dict:
        app = create_app(ReviewConfig(store=store, labels_dir=tmp_path / "labels", models_dir=models))
        return app.state.review.prediction_models()

    recorded = desk_models()
    assert recorded.pop("source") == "registry current at labelling"
    if "stance-embed" in names:  # all there: exactly the models a `claimsift score` run (fact-checks off) records
        pinned = ModelScorer(store, models_dir=models, fact_checks=False).fingerprint()["models"]
        assert recorded == {role: model for role, model in pinned.items() if model is not None}
    else:  # a run would refuse to start; the desk names what it can and None for the rest
        with pytest.raises(UserError, match="no model 'stance-embed'"):
            ModelScorer(store, models_dir=models, fact_checks=False).pin_models()
        assert recorded["stance"] is None and recorded["checkworthy"].startswith("checkworthy@")
    assert not store.exists()

    # One code path: what the scorer resolves is what the desk records.
    monkeypatch.setattr(scoring_models.ModelScorer, "resolve_models",
                        lambda self, missing_ok=False: {"checkworthy": "checkworthy@v99", "verdict": "rules"})
    assert desk_models() == {"checkworthy": "checkworthy@v99", "verdict": scoring_models.VerdictRules().label(),
                             "voting_rules": scoring_models.VerdictRules().label(),
                             "source": "registry current at labelling"}
