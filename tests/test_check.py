"""Checking claims against the seed corpus: verdicts, evidence, dates, bad input, CLI."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.check import InvalidClaimError, validate_claim

DATA = Path(__file__).resolve().parent / "data"
THREADS_CLAIM = "NATO chief Rutte threatened to expel the US if Trump surrenders Ukraine"
RIGGIO = '"Secretary General Rutte has never said this," Riggio said.'


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], capture_output=True, text=True, timeout=300)


def test_the_threads_claim_is_refuted_by_the_riggio_denial(seed_checker):
    verdict = seed_checker.check(THREADS_CLAIM)
    assert verdict.verdict == "REFUTED"
    assert verdict.confidence > 0.5
    sentences = [e.sentence for e in verdict.evidence]
    assert RIGGIO in sentences
    decisive = [verdict.evidence[i].sentence for i in verdict.decisive]
    assert any("never said" in s or "denied" in s for s in decisive), decisive
    for item in verdict.evidence:  # offsets point into the stored document text
        assert item.end - item.start == len(item.sentence)


def test_a_supported_fact_is_supported(seed_checker):
    verdict = seed_checker.check("Mark Rutte took over as NATO secretary general on 1 October 2024.")
    assert verdict.verdict == "SUPPORTED"
    assert any("On 1 October 2024, Mark Rutte became" in e.sentence for e in verdict.evidence[:3])


def test_before_keeps_only_evidence_published_earlier(seed_checker):
    verdict = seed_checker.check(THREADS_CLAIM, before="2024-11-11")
    assert verdict.evidence, "seed 001 is dated 2024-11-10 and must remain"
    assert all(e.published is not None and e.published < "2024-11-11" for e in verdict.evidence)
    nothing = seed_checker.check(THREADS_CLAIM, before="2000-01-01")
    assert nothing.evidence == () and nothing.verdict == "NOT_ENOUGH_INFO"


@pytest.mark.parametrize("claim, reason", [
    ("", "empty"),
    ("   \n ", "empty"),
    ("x" * 10_000, "10,000 characters"),
    ("🔥🔥🔥", "no words"),
    ("https://example.com/some/page", "no words"),
    ("Путин заявил, что НАТО угрожает России", "English"),
])
def test_bad_claims_get_clear_reasons(claim, reason):
    with pytest.raises(InvalidClaimError, match=reason):
        validate_claim(claim)


def test_check_many_keeps_order(seed_checker):
    claims = ["Poland spent 4.12% of its GDP on defence.", THREADS_CLAIM]
    verdicts = seed_checker.check_many(claims)
    assert [v.claim for v in verdicts] == claims


@pytest.mark.slow
def test_cli_json_and_batch(seed_store, tmp_path):
    result = run_cli("check", THREADS_CLAIM, "--store", str(seed_store), "--json")
    assert result.returncode == 0, result.stderr
    obj = json.loads(result.stdout)
    assert obj["verdict"] == "REFUTED"
    for key in ("doc_id", "source", "sentence", "start", "end", "stance", "stance_probs", "score"):
        assert key in obj["evidence"][0]
    data = tmp_path / "claims.jsonl"
    data.write_text(json.dumps({"claim": THREADS_CLAIM}) + "\n{broken\n" + json.dumps({"claim": "🔥"}) + "\n"
                    + json.dumps({"claim": "NATO has no mechanism to expel members."}) + "\n")
    out = tmp_path / "pred.jsonl"
    result = run_cli("check", "--store", str(seed_store), "--data", str(data), "--out", str(out))
    assert result.returncode == 1  # some lines were rejected
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["line"] for x in lines] == [1, 2, 3, 4]
    assert lines[0]["verdict"] == "REFUTED" and "not JSON" in lines[1]["error"] and "no words" in lines[2]["error"]
    assert lines[3]["verdict"] in {"SUPPORTED", "REFUTED", "CONFLICTING", "NOT_ENOUGH_INFO"}


def test_cli_errors_are_one_line_without_traceback(tmp_path):
    missing = run_cli("check", "Rutte said something", "--store", str(tmp_path / "nope"))
    assert missing.returncode == 2 and "no corpus store" in missing.stderr and "Traceback" not in missing.stderr
    empty = run_cli("check", "", "--store", str(tmp_path))
    assert empty.returncode == 2 and "empty" in empty.stderr and "Traceback" not in empty.stderr
    bad_date = run_cli("check", "x claim here", "--before", "yesterday")
    assert bad_date.returncode == 2 and "YYYY-MM-DD" in bad_date.stderr


@pytest.mark.slow
def test_dev_set_quality(seed_checker):
    """The README's figures: evidence hit@5 and verdict accuracy on tests/data/seed_claims.jsonl.

    The issue's verdict target is 0.85; stance@v1 with the tuned rules measures 0.61, so this
    guards the measured level against regressions rather than claiming the target.
    """
    from pipeline.claims_eval import evaluate_claims, read_labelled_claims

    report = evaluate_claims(seed_checker, read_labelled_claims(DATA / "seed_claims.jsonl"), k=5)
    assert report["evidence_hit@5"] >= 0.95, report
    assert report["verdict_accuracy"] >= 0.58, report
