"""Checking claims against the seed corpus: verdicts, evidence, dates, bad input, CLI."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.verdict.validation import InvalidClaimError, validate_claim

DATA = Path(__file__).resolve().parent / "data"
THREADS_CLAIM = "NATO chief Rutte threatened to expel the US if Trump surrenders Ukraine"
RIGGIO = '"Secretary General Rutte has never said this," Riggio said.'


@pytest.mark.slow
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


@pytest.mark.slow
def test_a_supported_fact_is_supported(seed_checker):
    # stance@v3 reads "NATO's next secretary general will be … Rutte" as refuting "Rutte took
    # over on 1 October 2024" (0.52), so that seed claim comes out CONFLICTING (README limits).
    verdict = seed_checker.check("Rutte personally congratulated Trump on his election win.")
    assert verdict.verdict == "SUPPORTED"
    decisive = [verdict.evidence[i].sentence for i in verdict.decisive]
    assert any("congratulate" in s for s in decisive), decisive


@pytest.mark.slow
def test_decisive_passages_are_passages_that_voted(seed_checker):
    """The aggregator numbers the voters; the verdict lists every retrieved passage, so its
    decisive indices must be translated ("Slovakia will host NATO's next summit": the first
    two passages do not vote)."""
    from pipeline.evaluation.claims import read_labelled_claims
    from pipeline.retrieval.retrieve import people_in

    claims = [r.claim for r in read_labelled_claims(DATA / "seed_claims.jsonl")]
    claims += [r.claim for r in read_labelled_claims(DATA / "seed_claims_heldout.jsonl")]
    view = seed_checker.corpus_view
    shifted = 0
    for verdict, subject in zip(seed_checker.check_many(claims), seed_checker.subjects(claims)):
        voting = seed_checker.rules.voter_positions(verdict.claim, verdict.evidence, people_in(verdict.claim, view),
                                                    subject, view.reported_claims)
        assert set(verdict.decisive) <= set(voting), (verdict.claim, verdict.decisive, voting)
        shifted += bool(verdict.decisive) and voting != list(range(len(voting)))
    assert shifted >= 1  # claims whose voters are not the first passages, with decisive ones


@pytest.mark.slow
def test_the_screen_model_reads_only_the_passages_that_do_not_vote(seed_store):
    from pipeline.core.types import STANCE_LABELS
    from pipeline.retrieval.retrieve import people_in
    from pipeline.verdict.checker import Checker, stance_text
    from pipeline.verdict.rules import adjusted_stance

    # The default reads every passage with one model; a screen model is named to use one.
    # Float32 ONNX: a pair's probabilities do not depend on its batch there, so the comparison can
    # be tight; bfloat16 (auto's choice where the CPU has it) moves them by up to ~6e-3.
    seed_checker = Checker(seed_store, stance_spec="stance@v4", screen_stance_spec="stance@v2", stance_backend="onnx")
    models = seed_checker.stance_models
    assert set(models) == {"stance", "screen"} and models["stance"]["version"] != models["screen"]["version"]
    claim = "Slovakia will host NATO's next summit."
    evidence = seed_checker.retrieve([claim])[0]
    voting = seed_checker.rules.voter_positions(claim, evidence, people_in(claim, seed_checker.corpus_view))
    assert 0 < len(voting) < len(evidence)
    judged = seed_checker.judge([claim], [evidence], voting=[voting])[0]
    for i, item in enumerate(judged):
        reader = seed_checker.stance_reader(votes=i in voting)
        row = reader.predict_proba([claim], [stance_text(item, seed_checker.passage_reading)])[0]
        expected = adjusted_stance(claim, item, dict(zip(STANCE_LABELS, map(float, row))))
        assert item.stance_probs == pytest.approx(expected, abs=1e-4), (i, item.sentence)


@pytest.mark.slow
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
    ("Rutte threatened \udcff to expel the US", r"invalid character \(byte 0xff, not UTF-8\) at character 18"),
    ("https://example.com/some/page", "no words"),
    ("Путин заявил, что НАТО угрожает России", "English"),
    # Telling Spanish or German from English loads lingua's 0.8 GB high-accuracy models.
    pytest.param("El jefe de la OTAN Rutte amenazó con expulsar a Estados Unidos si Trump entrega Ucrania", "English",
                 marks=pytest.mark.slow),
    pytest.param("Der NATO-Chef Rutte hat gedroht, die USA aus dem Bündnis auszuschließen", "English",
                 marks=pytest.mark.slow),
])
def test_bad_claims_get_clear_reasons(claim, reason):
    with pytest.raises(InvalidClaimError, match=reason):
        validate_claim(claim)


@pytest.mark.parametrize("claim", [
    # Eight words or more and none of the old hint list's function words: refused before.
    "Kaja Kallas became NATO's first female secretary general.",
    "Sweden joined NATO before Stoltenberg became secretary general.",
])
def test_english_claims_without_common_function_words_are_accepted(claim):
    assert validate_claim(claim) == claim


def test_rules_let_only_passages_sharing_the_claims_words_vote():
    from pipeline.core.types import Evidence
    from pipeline.verdict.rules import VerdictRules
    from pipeline.verdict.subject import term_coverage

    claim = "Slovakia will host NATO's next summit."
    on_topic = Evidence(doc_id="a", sentence="Slovakia hosts the next NATO summit in Bratislava.", start=0, end=1, score=1.0)
    off_topic = Evidence(doc_id="b", sentence="Stoltenberg described the 2018 summit as critical.", start=0, end=1, score=0.9)
    weak = Evidence(doc_id="c", sentence="Slovakia will host NATO's next summit.", start=0, end=1, score=0.3)
    assert term_coverage(claim, on_topic.sentence) == 1.0
    assert term_coverage(claim, off_topic.sentence) == pytest.approx(1 / 4)
    rules = VerdictRules(depth=4, relevance_floor=0.5, min_coverage=0.3)
    assert rules.voters(claim, [on_topic, off_topic, weak]) == [on_topic]
    assert VerdictRules(min_coverage=0.0).voters(claim, [on_topic, off_topic, weak]) == [on_topic, off_topic]


@pytest.mark.slow
def test_check_many_keeps_order(seed_checker):
    claims = ["Poland spent 4.12% of its GDP on defence.", THREADS_CLAIM]
    verdicts = seed_checker.check_many(claims)
    assert [v.claim for v in verdicts] == claims


NO_EXPULSION_CLAIM = "NATO has no mechanism to expel members."


@pytest.mark.slow
def test_cli_json_and_batch(seed_store, seed_checker, tmp_path, run_cli):
    result = run_cli("check", THREADS_CLAIM, "--store", str(seed_store), "--json")
    assert result.returncode == 0, result.stderr
    obj = json.loads(result.stdout)
    assert obj["verdict"] == "REFUTED"
    for key in ("doc_id", "document", "source", "sentence", "start", "end", "stance", "stance_probs", "score"):
        assert key in obj["evidence"][0]
    # The seeds are text files in one folder: named by their file, their source the folder.
    assert all(e["document"].startswith("seeds/") and e["source"] == "seeds" for e in obj["evidence"])
    data = tmp_path / "claims.jsonl"
    data.write_text(json.dumps({"claim": THREADS_CLAIM}) + "\n{broken\n" + json.dumps({"claim": "🔥"}) + "\n"
                    + json.dumps({"claim": NO_EXPULSION_CLAIM}) + "\n")
    out = tmp_path / "pred.jsonl"
    result = run_cli("check", "--store", str(seed_store), "--data", str(data), "--out", str(out))
    assert result.returncode == 1  # some lines were rejected
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["line"] for x in lines] == [1, 2, 3, 4]
    assert lines[0]["verdict"] == "REFUTED" and "not valid JSON" in lines[1]["error"] and "no words" in lines[2]["error"]
    # The batch reads a claim as one `check` does: a passage that states it read as support (seed
    # 001: "NATO has no specific mechanism to suspend or expel member nations"), the same verdict.
    # (Which verdict is a quality question: stance@v5 reads "NATO does not have a specific
    # mechanism to suspend or expel a member" as refuting this claim, 0.89, and makes it REFUTED.)
    supports = [e["sentence"] for e in lines[3]["evidence"] if e["stance"] == "SUPPORTS"]
    assert any("no specific mechanism to suspend or expel" in s for s in supports), lines[3]
    assert lines[3]["verdict"] == seed_checker.check(NO_EXPULSION_CLAIM).verdict

    # A CSV of claims (a `claim` column) is read as `score` reads posts: rows keyed by their line
    # (the header is line 1), the `id` column kept, a bad row rejected alone.
    table = tmp_path / "claims.csv"
    table.write_text(f'id,claim\nc1,"{THREADS_CLAIM}"\nc2,\n')
    out_csv = tmp_path / "pred_csv.jsonl"
    result = run_cli("check", "--store", str(seed_store), "--data", str(table), "--out", str(out_csv))
    assert result.returncode == 1, result.stderr
    rows = [json.loads(x) for x in out_csv.read_text().splitlines()]
    assert [(x["line"], x["id"]) for x in rows] == [(2, "c1"), (3, "c2")]
    assert rows[0]["verdict"] == "REFUTED" and "claims.csv, line 3" in rows[1]["error"]

    # NOT_ENOUGH_INFO over no passage at all says why, so that it is not read as a finding.
    early = run_cli("check", THREADS_CLAIM, "--store", str(seed_store), "--before", "2000-01-01", "--json")
    assert early.returncode == 0 and json.loads(early.stdout)["evidence"] == []
    assert "no passage to judge dated before 2000-01-01: of the 5 documents" in early.stderr
    assert "4 have no date (left out by --before)" in early.stderr
    # Where documents of that time exist, the note does not say the earliest is too late.
    from pipeline.cli.check import _why_no_evidence

    later = _why_no_evidence(seed_store, "2025-01-01")
    assert "dated before it (the earliest from 2024-11-10) has a passage about this claim" in later
    assert "4 undated documents are left out by --before" in later and "the earliest is from" not in later


@pytest.mark.slow
def test_cli_errors_are_one_line_without_traceback(tmp_path, run_cli):
    missing = run_cli("check", "Rutte said something", "--store", str(tmp_path / "nope"))
    assert missing.returncode == 2 and "no corpus store" in missing.stderr and "Traceback" not in missing.stderr
    empty = run_cli("check", "", "--store", str(tmp_path))
    assert empty.returncode == 2 and "empty" in empty.stderr and "Traceback" not in empty.stderr
    bad_date = run_cli("check", "x claim here", "--before", "yesterday")
    assert bad_date.returncode == 2 and "YYYY-MM-DD" in bad_date.stderr
    nothing = run_cli("check", "--store", str(tmp_path))
    assert nothing.returncode == 2 and "nothing to check: give a CLAIM or --data FILE" in nothing.stderr
    both = run_cli("check", "x claim here", "--data", str(tmp_path / "claims.jsonl"), "--store", str(tmp_path))
    assert both.returncode == 2 and "give either a CLAIM or --data FILE, not both" in both.stderr


def test_the_check_table_names_each_passages_source_and_url_as_text_not_markup():
    from rich.console import Console

    from pipeline.cli.check import render_verdict
    from pipeline.core.types import Evidence, Verdict

    sentence = "Rutte has never said this."
    linked = Evidence(doc_id="a", sentence=sentence, start=0, end=len(sentence), score=1.0, stance="REFUTES",
                      source="[bold]factcheck[/bold].txt", url="https://example.org/rutte?x=[1]")
    bare = Evidence(doc_id="b", sentence=sentence, start=3, end=len(sentence) + 3, score=0.5, source="notes.txt")
    console = Console(record=True, width=200)
    render_verdict(Verdict(claim="Rutte said it", verdict="REFUTED", confidence=0.9, evidence=(linked, bare),
                           decisive=(0,)), console)
    text = console.export_text()
    assert "[bold]factcheck[/bold].txt" in text and "https://example.org/rutte?x=[1]" in text
    assert "notes.txt" in text and "[0:26]" in text and "[3:29]" in text
    assert text.count("https://") == 1  # a document without a URL shows none


@pytest.mark.slow
@pytest.mark.parametrize("name, packs, hit_at_5, accuracy", [
    # With the nato pack and the set-up it was written with (stance@v4, rules v6; the pack's rules
    # were written from these claims' errors, on an index of sentences read alone): hit@5 1.0 /
    # verdict accuracy 0.778 (28 of 36) and 0.952 / 0.893 (25 of 28); on that older index 0.889
    # and 0.893. The default path (stance@v5 reading each passage after the sentence before it,
    # verdict@v13 with the joint reading, no pack): 1.0 / 0.611 (22 of 36) and 0.952 / 0.429 (12
    # of 28). The floors are the measured level less one claim, so one regression fails the test.
    ("seed_claims.jsonl", ("nato",), 0.97, 0.75),
    ("seed_claims_heldout.jsonl", ("nato",), 0.90, 0.85),
    ("seed_claims.jsonl", (), 0.97, 0.58),
    ("seed_claims_heldout.jsonl", (), 0.90, 0.39),
])
def test_seed_claims_quality(seed_checker, nato_checker, name, packs, hit_at_5, accuracy):
    """The README's figures: evidence hit@5 and verdict accuracy on the seed claim sets, with
    the nato pack and without."""
    from pipeline.evaluation.claims import evaluate_claims, read_labelled_claims

    checker = nato_checker if packs else seed_checker
    assert checker.rule_packs == packs
    report = evaluate_claims(checker, read_labelled_claims(DATA / name), k=5)
    assert report["evidence_hit@5"] >= hit_at_5, report
    assert report["verdict_accuracy"] >= accuracy, report


UNRELATED_CLAIMS = [
    "Pfizer's shot causes mortality 100s of times greater in young people compared to the virus.",
    "Individuals with ESRD have one of the highest mortality rates due to COVID-19.",
    "Pregnant women were excluded from initial trials of the Pfizer-BioNTech and Moderna vaccines.",
    "Toronto and Peel Region are preparing to enter the grey zone https://t.co/abc",
    "There is no evidence that vitamin C cures COVID-19.",
]


@pytest.mark.slow
def test_claims_the_corpus_does_not_cover_are_not_enough_info(seed_checker):
    # Before the coverage gate, "We rate this post False." and "We found no credible evidence …"
    # voted on any claim: 250 of 1,289 COVID tweet claims came out REFUTED against the NATO seeds.
    verdicts = seed_checker.check_many(UNRELATED_CLAIMS)
    assert [v.verdict for v in verdicts] == ["NOT_ENOUGH_INFO"] * len(UNRELATED_CLAIMS), \
        [(v.claim, [v.evidence[i].sentence for i in v.decisive]) for v in verdicts]


def test_a_denial_covers_a_claim_about_a_person_it_names_or_sits_beside():
    from pipeline.core.types import Evidence
    from pipeline.verdict.rules import VerdictRules

    claim = "Mark Rutte said he would personally kick the United States out of the alliance."
    riggio = Evidence(doc_id="a", sentence='"Secretary General Rutte has never said this," Riggio said.', start=0, end=1,
                      score=1.0, context='Riggio told PolitiFact the claim is "bogus." "Secretary General Rutte has never '
                                         'said this," Riggio said.')
    verdict_line = Evidence(doc_id="a", sentence="We rate this post False.", start=0, end=1, score=1.0,
                            context="Rutte has also stressed publicly that Russia's war is a threat. We rate this post False.")
    # What the PolitiFact article reports (seed 001): what its denials deny.
    threads = ('"Breaking," a Nov. 10 Threads post said. "NATO Secretary General Mark Rutte says that ‘if Trump '
               'surrenders Ukraine to Putin, he will personally expel the United States from the alliance.’"')
    rules = VerdictRules(min_coverage=0.3)
    assert rules.covers(claim, riggio, people=["rutte"], reported=threads)
    assert not rules.covers(claim, riggio, people=[], reported=threads)
    assert not rules.covers(claim, riggio, people=["rutte"])  # nothing says what "this" was
    # It sits beside a sentence naming Rutte.
    assert rules.covers(claim, verdict_line, people=["rutte"], reported=threads)
    assert not rules.covers("Pfizer's shot causes mortality in young people.", verdict_line, people=[], reported=threads)
    # Denying the threat is not denying everything Rutte said.
    assert not rules.covers("Rutte called Putin responsible for the MH17 downing.", riggio, people=["rutte"],
                            reported=threads)


def test_a_labelled_claims_file_with_bad_lines_names_each_one(tmp_path):
    from pipeline.core.errors import InputError
    from pipeline.evaluation.claims import read_labelled_claims

    path = tmp_path / "claims.jsonl"
    path.write_text('{"claim": "Rutte threatened to expel the US.", "label": "REFUTED"}\n[1, 2]\n{"claim": "x\n'
                    '{"claim": "NATO was founded in 1949.", "label": "TRUE"}\n')
    with pytest.raises(InputError) as info:
        read_labelled_claims(path)
    message = str(info.value)
    assert "line 2: line is a JSON list, not an object" in message
    assert "line 3: not valid JSON" in message and "line 4: label 'TRUE'" in message


def test_a_denial_votes_on_what_a_person_said_not_on_everything_about_them():
    from pipeline.core.types import Evidence
    from pipeline.verdict.rules import VerdictRules

    riggio = Evidence(doc_id="a", sentence='"Secretary General Rutte has never said this," Riggio said.', start=0, end=1,
                      score=1.0)
    threads = ('"Breaking," a Nov. 10 Threads post said. "NATO Secretary General Mark Rutte says that ‘if Trump '
               'surrenders Ukraine to Putin, he will personally expel the United States from the alliance.’"')
    rules = VerdictRules(min_coverage=0.3)
    assert rules.covers("Rutte threatened to expel the US.", riggio, people=["rutte"])  # its own words suffice
    assert rules.covers("Rutte said he would expel the United States from the alliance.", riggio, people=["rutte"],
                        reported=threads)
    assert not rules.covers("Rutte said Putin was responsible for shooting down flight MH17.", riggio,
                            people=["rutte", "putin"], reported=threads)
    assert not rules.covers("The Threads post about Rutte was shared more than a million times.", riggio,
                            people=["rutte"], reported=threads)


@pytest.mark.parametrize("sentence, expected", [
    # A report that a claim circulates neither supports nor refutes it.
    ("A claim on social media network Threads alleges that Mark Rutte has threatened to expel the US.",
     {"SUPPORTS": 0.0, "REFUTES": 0.0, "NOT_ENOUGH_INFO": 1.0}),
    # One that calls it false still refutes.
    ("Posts falsely claim that Mark Rutte threatened to expel the US.",
     {"SUPPORTS": 0.0, "REFUTES": 0.5, "NOT_ENOUGH_INFO": 0.5}),
    ("Viral posts alleging that Rutte threatened the US are fake.",
     {"SUPPORTS": 0.0, "REFUTES": 0.5, "NOT_ENOUGH_INFO": 0.5}),
    # Not a report: unchanged.
    ("Rutte said the alliance is stronger than ever.", {"SUPPORTS": 0.2, "REFUTES": 0.5, "NOT_ENOUGH_INFO": 0.3}),
])
def test_a_reported_claim_refutes_only_when_it_calls_the_claim_false(sentence, expected):
    from pipeline.verdict.rules import discount_reported_claim

    probs = {"SUPPORTS": 0.2, "REFUTES": 0.5, "NOT_ENOUGH_INFO": 0.3}
    assert discount_reported_claim(sentence, probs) == pytest.approx(expected)


def test_a_denial_that_points_back_covers_what_the_sentence_before_it_covers():
    from pipeline.core.types import Evidence
    from pipeline.verdict.rules import VerdictRules

    wsj = ("However, the Wall Street Journal reported that Trump rang Putin shortly after his reelection to warn him "
           "against escalating the war.")
    kremlin = Evidence(doc_id="a", sentence="The Kremlin denies that this call took place.", start=0, end=1, score=1.0,
                       context=wsj + " The Kremlin denies that this call took place.")
    rules = VerdictRules(min_coverage=0.3)
    assert rules.covers("Trump phoned Putin after his reelection to warn him against escalating the war.", kremlin)
    assert not rules.covers("Rutte met Trump at the White House in January 2025.", kremlin)
    # "this post" is the article's subject, not the sentence before.
    rating = Evidence(doc_id="a", sentence="We rate this post False.", start=0, end=1, score=1.0,
                      context='"Even if I recommend it, it would never happen," Stoltenberg said. We rate this post False.')
    assert not rules.covers("Stoltenberg said expelling a member would never happen.", rating)


def test_the_stance_model_reads_an_answer_with_its_question_when_asked_to():
    from pipeline.core.errors import UserError
    from pipeline.core.types import Evidence
    from pipeline.verdict.checker import Checker, stance_text

    question = "Did the WHO declare the outbreak a pandemic in March 2020?"
    answer = Evidence(doc_id="a", sentence="Yes, on 11 March.", start=0, end=1, score=1.0,
                      context=f"{question} Yes, on 11 March. It said so in Geneva.")
    assert stance_text(answer) == "Yes, on 11 March."
    assert stance_text(answer, "previous") == f"{question} Yes, on 11 March."
    assert stance_text(answer, "context") == answer.context
    first = Evidence(doc_id="a", sentence=question, start=0, end=1, score=1.0, context=f"{question} Yes, on 11 March.")
    assert stance_text(first, "previous") == question  # a first sentence has nothing before it
    # The model reads about 400 characters of passage: a long sentence before is cut from its
    # start, on a word, so that the sentence judged is read whole; no room left, none of it.
    long_before = "The committee heard evidence from " + "many witnesses and experts " * 30 + "over two days."
    judged = "The vote was 7 to 2."
    after_long = Evidence(doc_id="a", sentence=judged, start=0, end=1, score=1.0, context=f"{long_before} {judged}")
    read = stance_text(after_long, "previous")
    assert read.endswith(judged) and len(read) <= 400 and read.split(" ", 1)[0] in long_before.split()
    assert read.startswith("many") or read.startswith("witnesses") or read.startswith("and") or read.startswith("experts")
    long_judged = "x" * 380 + " end."
    crowded = Evidence(doc_id="a", sentence=long_judged, start=0, end=1, score=1.0, context=f"{question} {long_judged}")
    assert stance_text(crowded, "previous") == long_judged
    with pytest.raises(UserError, match="unknown stance input"):
        Checker("unused", stance_input="neighbours")


@pytest.mark.slow
def test_the_joint_reading_is_the_claim_against_its_passages_together(seed_checker):
    from pipeline.verdict.aggregator import JOINT_PASSAGES, joint_reading_text

    claim = "Mark Rutte said NATO would expel members that do not pay their share."
    shown = seed_checker.retrieve([claim])[0]
    text = joint_reading_text(shown)
    assert text.startswith(shown[0].sentence) and all(e.sentence in text for e in shown[:JOINT_PASSAGES])
    joint = seed_checker.joint_readings([claim, claim], [shown, []])
    assert joint[1] is None  # nothing shown, nothing to read
    assert joint[0] is not None and sum(joint[0]) == pytest.approx(1.0, abs=1e-3)
    # The seeds deny the claim ("NATO has no mechanism to suspend or expel a member"): read
    # together, the passages refute it.
    assert joint[0][1] > max(joint[0][0], joint[0][2]), joint[0]


@pytest.mark.slow
def test_the_joint_reading_reads_as_far_as_its_verdict_model_was_fitted_to(seed_checker, monkeypatch):
    from dataclasses import replace

    from pipeline.verdict.aggregator import JOINT_MAX_LENGTH

    # Four passages about something else, then the one that decides: at the stance model's own
    # length (128 tokens) the joint text is cut before it; at the verdict model's it is read.
    claim = "Mark Rutte said NATO would expel members that do not pay their share."
    denial = seed_checker.retrieve([claim])[0][0]  # "Secretary General Rutte has never said this," Riggio said.
    filler = ("The alliance's foreign ministers met in Brussels on Tuesday to discuss the schedule of the summit, "
              "the venue, the seating plan, the press arrangements and the agenda for the working dinner.")
    passages = [replace(denial, sentence=filler)] * 4 + [denial]
    cut, whole = (seed_checker.joint_readings([claim], [passages], max_length=n)[0] for n in (None, JOINT_MAX_LENGTH))
    assert cut is not None and whole is not None
    assert whole[1] > cut[1] + 0.2 and whole[1] > max(whole[0], whole[2]), (cut, whole)
    # A check reads the joint text as far as its verdict model says (fitted at 256: read at 256).
    aggregator = seed_checker._loaded_aggregator()
    assert aggregator.needs_joint_reading
    monkeypatch.setattr(aggregator, "joint_max_length", JOINT_MAX_LENGTH)
    lengths: list = []
    read = seed_checker.joint_readings
    monkeypatch.setattr(seed_checker, "joint_readings",
                        lambda claims, shown, max_length=None: lengths.append(max_length) or read(claims, shown, max_length))
    seed_checker.check(claim)
    assert lengths == [JOINT_MAX_LENGTH]


@pytest.mark.slow
def test_the_checker_reads_passages_as_its_verdict_model_was_fitted(seed_store, seed_checker):
    from pipeline.verdict.aggregator import VerdictAggregator
    from pipeline.verdict.checker import Checker

    model = VerdictAggregator.load("verdict")
    assert seed_checker.passage_reading == model.stance_input == "previous"
    assert Checker(seed_store, verdict_spec="rules").passage_reading == "sentence"  # the thresholds' reading
    assert Checker(seed_store, verdict_spec="verdict@v6").passage_reading == "sentence"
    assert Checker(seed_store, stance_input="context").passage_reading == "context"  # asked for


@pytest.mark.slow
def test_the_checker_reads_with_the_stance_model_its_verdict_model_was_fitted_on(seed_store, tmp_path):
    import shutil

    from conftest import ROOT
    from pipeline.core.errors import UserError
    from pipeline.registry.registry import Registry
    from pipeline.scoring.models import ModelScorer
    from pipeline.verdict.aggregator import fitted_stance_spec
    from pipeline.verdict.checker import Checker

    models = tmp_path / "models"
    for name in ("stance", "verdict"):
        shutil.copytree(ROOT / "models" / name, models / name)
    fitted = fitted_stance_spec("verdict", models)
    assert fitted is not None and fitted.startswith("stance@")
    # Another stance model made current (a promotion of the stance model alone) does not change
    # what the verdict model reads; asking for the current one, or the hand-set rules, does.
    registry = Registry(models)
    other = next(v for v in reversed(registry.versions("stance")) if f"stance@{v}" != fitted)
    registry.promote(f"stance@{other}")

    def stance_of(**options) -> str:
        tag = Checker(seed_store, models_dir=models, fact_checks=False, **options).stance_models["stance"]
        return f"{tag['model']}@{tag['version']}"

    assert stance_of() == fitted
    assert stance_of(stance_spec="stance") == stance_of(verdict_spec="rules") == f"stance@{other}"
    detector = ROOT / "models" / "checkworthy" / str(Registry(ROOT / "models").current_version("checkworthy"))
    assert ModelScorer(seed_store, models_dir=models, checkworthy_spec=str(detector),
                       fact_checks=False).pin_models()["stance"] == fitted
    assert fitted_stance_spec("verdict@v1", models) == "stance@v1"  # the older card's record
    # The verdict model is resolved once: a promotion after loading changes neither it nor its stance model.
    loaded = Checker(seed_store, models_dir=models, fact_checks=False)
    loaded.warm_up()
    before = loaded.verdict_model
    registry.promote(next(f"verdict@{v}" for v in registry.versions("verdict") if f"verdict@{v}" != before))
    assert loaded.verdict_model == before and loaded.stance_models["stance"]["version"] == fitted.split("@")[1]
    registry.promote(before)
    # The verdict model's stance model missing from the models folder: what to copy or pass.
    shutil.rmtree(models / "stance" / fitted.split("@")[1])
    with pytest.raises(UserError, match=f"{fitted}.*--stance-model stance"):
        Checker(seed_store, models_dir=models, fact_checks=False).warm_up()


@pytest.mark.slow
def test_retrieval_brings_the_denial_that_follows_a_report(seed_checker):
    from pipeline.retrieval.retrieve import following_denial

    view = seed_checker.corpus_view
    texts = view.sentences["text"]
    kremlin = int(texts[texts == "The Kremlin denies that this call took place."].index[0])
    assert following_denial(view, kremlin - 1) == kremlin
    rating = int(texts[texts == "We rate this post False."].index[0])
    assert following_denial(view, rating - 1) is None
    claim = "Trump phoned Putin after his reelection to warn him against escalating the war."
    verdict = seed_checker.check(claim)
    denial = "The Kremlin denies that this call took place."
    assert denial in [verdict.evidence[i].sentence for i in verdict.decisive]
    assert verdict.verdict in ("REFUTED", "CONFLICTING")  # the report supports it; the denial refutes it


@pytest.mark.parametrize("claim, subject", [
    ("Mark Rutte met Trump at the White House in January 2025.", "Rutte"),
    ("Poland plans to spend 5% of its GDP on defence in 2026.", "Poland"),
    ("Romanian President Klaus Iohannis stayed in the race against Rutte until the end.", "Iohannis"),
    ("All NATO members now meet the 2% of GDP defence spending target.", None),  # not a name
    ("A NATO spokesperson called the claim that Rutte would expel the US bogus.", None),
    ("Yesterday I said that NATO would expel the US.", None),  # a pronoun is not a name
    ("The United States spends 3.4% of its GDP on defence.", "United States"),  # not "States"
])
def test_a_claims_subject_is_the_name_its_main_verb_is_about(claim, subject):
    from pipeline.verdict.checker import claim_parser
    from pipeline.verdict.subject import claim_subject

    assert claim_subject(claim_parser()(claim)) == subject


def test_a_name_the_tagger_calls_a_noun_is_a_subject_where_the_corpus_knows_it():
    from pipeline.verdict.checker import claim_parser
    from pipeline.verdict.subject import claim_subject

    parsed = claim_parser()("Belgium spends less than 2% of its GDP on defence.")
    assert parsed[0].pos_ == "NOUN"  # en_core_web_sm's reading, which is why the corpus is asked
    assert claim_subject(parsed) is None
    assert claim_subject(parsed, known_names={"belgium"}) == "Belgium"
    assert claim_subject(claim_parser()("Countries can leave NATO."), known_names={"belgium"}) is None


def test_a_passage_votes_only_where_it_names_the_claims_subject():
    from pipeline.core.types import Evidence
    from pipeline.verdict.rules import VerdictRules
    from pipeline.verdict.subject import ClaimSubject

    claim = "Rutte met Trump at the White House in January 2025."
    stoltenberg = Evidence(doc_id="book", score=1.0, start=0, end=1, context="Stoltenberg wrote a book.",
                           sentence="This Norwegian NATO leader detailed his meeting with Trump at the White House in 2018.")
    rutte = Evidence(doc_id="x", score=1.0, start=0, end=1, sentence="Rutte met Trump at the White House on Friday.")
    assert VerdictRules().subject_required is False  # off by default; the nato pack turns it on
    rules = VerdictRules(subject_required=True)
    subject = ClaimSubject("Rutte", documents=({"x"},))
    assert rules.voter_positions(claim, [rutte, stoltenberg], ["rutte", "trump"], subject) == [0]
    assert VerdictRules(subject_required=False).voter_positions(claim, [rutte, stoltenberg], ["rutte"], subject) == [0, 1]
    # A subject has no aliases by default (the nato pack gives "US" its other names:
    # test_pack_nato.py); short names count in capitals only; "we" in a document that names
    # the subject is the subject.
    us = Evidence(doc_id="y", score=1.0, start=0, end=1, sentence="Poland, Estonia and the United States spend most.")
    assert not names_subject_of("US", us) and names_subject_of("US", replace_sentence(us, "The US spends."))
    assert not names_subject_of("US", replace_sentence(us, "He told us the story."))
    rating = Evidence(doc_id="pf", score=1.0, start=0, end=1, sentence="We rate this post False.")
    assert names_subject_of("PolitiFact", rating, {"pf"})
    assert not names_subject_of("PolitiFact", rating, {"other"})
    assert not names_subject_of("PolitiFact", replace_sentence(rating, "The post is false."), {"pf"})


def names_subject_of(name, passage, documents=frozenset(), aliases=()):
    from pipeline.verdict.subject import ClaimSubject, names_subject

    return names_subject(ClaimSubject(name, (set(documents),), tuple(aliases)), passage)


def replace_sentence(passage, sentence):
    from dataclasses import replace

    return replace(passage, sentence=sentence)


@pytest.mark.parametrize("claim, sentence, published, settled", [
    # An intention is not decided by what was done ...
    ("Poland plans to spend 5% of its GDP on defence in 2026.",
     "Poland led NATO members in defense spending last year, allocating 4.12% of its GDP.", "2025-06-01", True),
    # ... nor an event of a later year by an article written before it.
    ("NATO will hold its 2026 summit in Ankara.", "The summit took place in Vilnius.", "2025-06-01", True),
    # A passage about plans or targets answers it; so does a denial.
    ("Estonia plans to raise its defence spending to 4% of GDP.", "Estonia aims to reach 4% by 2027.", None, False),
    ("Rutte plans to expel the US from NATO.", '"Secretary General Rutte has never said this," Riggio said.', None, False),
    # A claim about the past, or a future claim that the passage's year already covers: unchanged.
    ("Poland spent 4.12% of its GDP on defence.", "Poland allocated 4.12% of its GDP.", "2025-06-01", False),
    ("NATO will hold its 2025 summit in The Hague.", "The summit took place in The Hague.", "2025-07-01", False),
    # What someone said is a deed, even when it is a wish; a date that is not ISO is no year.
    ("Trump said he wants to leave NATO.", "In a 2018 interview Trump said the US should leave NATO.", None, False),
    ("NATO will hold its 2026 summit in Ankara.", "The summit took place in Vilnius.", "July 2025", True),
    ("NATO will hold its 2026 summit in Ankara.", "The summit took place in Vilnius.", "unknown", False),
])
def test_what_was_done_does_not_decide_what_is_planned(claim, sentence, published, settled):
    from pipeline.core.types import Evidence
    from pipeline.verdict.rules import settled_facts_cannot_decide_plans

    passage = Evidence(doc_id="a", sentence=sentence, start=0, end=1, score=1.0, published=published)
    probs = {"SUPPORTS": 0.5, "REFUTES": 0.3, "NOT_ENOUGH_INFO": 0.2}
    expected = {"SUPPORTS": 0.0, "REFUTES": 0.0, "NOT_ENOUGH_INFO": 1.0} if settled else probs
    assert settled_facts_cannot_decide_plans(claim, passage, probs) == pytest.approx(expected)


@pytest.mark.slow
def test_a_denial_of_one_thing_does_not_refute_another(seed_checker):
    """"Rutte has never said this" denies the threat its article reports, not this (with no
    rule pack; the seed claims the subject gate, the plans and the count rules decide are in
    test_pack_nato.py)."""
    verdict = seed_checker.check("Rutte called Putin responsible for the MH17 downing.")
    assert not any("never said" in verdict.evidence[i].sentence for i in verdict.decisive)


@pytest.mark.slow
def test_the_corpus_knows_which_documents_name_a_subject(seed_checker):
    from pipeline.verdict.subject import ClaimSubject

    view = seed_checker.corpus_view
    for name in ("PolitiFact", "Riggio", "Slovenia"):
        subject = ClaimSubject.of(name, view)
        named = {doc for doc in view.documents.index if subject.named_in(doc)}
        mentioning = set(view.sentences.loc[view.sentences["text"].str.contains(name), "doc_id"])
        assert named == mentioning and named, name
    # Without a rule pack "US" is only what the corpus's entities spell "US" (the nato pack adds
    # "the United States" and "Washington": test_pack_nato.py).
    us = ClaimSubject.of("US", view)
    assert us.aliases == () and us.documents == (view.name_documents["us"],)
    assert ClaimSubject.of("Atlantis", view).documents == ()


@pytest.mark.slow
def test_each_document_knows_the_claims_it_reports(seed_checker):
    reported = seed_checker.corpus_view.reported_claims
    politifact = next(doc for doc, text in reported.items() if "Breaking" in text)
    # The quotation after '"Breaking," a Nov. 10 Threads post said.' is the claim itself.
    assert "he will personally expel the United States from the alliance" in reported[politifact]
    assert any("alleges that Mark Rutte" in text for text in reported.values())
    assert len(reported) < len(seed_checker.corpus_view.documents)  # not every document reports a claim


def test_a_missing_pinned_model_names_the_version_folder_to_copy(tmp_path):
    # Training registers a new version, never the one asked for; "copy models/stance/ beside it"
    # named no version, and a missing verdict@v99 said nothing of what to do.
    import shutil

    from conftest import ROOT
    from pipeline.core.errors import UserError
    from pipeline.corpus.store import DB_NAME
    from pipeline.registry.registry import Registry
    from pipeline.verdict.aggregator import fitted_stance_spec
    from pipeline.verdict.checker import Checker

    store = tmp_path / "store"
    store.mkdir()
    (store / DB_NAME).write_bytes(b"")  # the models are looked for before the store is read
    models = tmp_path / "models"
    verdict = f"verdict@{Registry(ROOT / 'models').current_version('verdict')}"
    fitted = str(fitted_stance_spec(verdict, ROOT / "models"))
    for name in ("verdict", "stance"):
        shutil.copytree(ROOT / "models" / name, models / name)
    shutil.rmtree(models / "stance" / fitted.split("@")[1])
    for spec, folder, options in (("verdict@v99", "verdict/v99", {"verdict_spec": "verdict@v99"}),
                                  ("stance@v99", "stance/v99", {"stance_spec": "stance@v99"}),
                                  (fitted, fitted.replace("@", "/"), {})):
        with pytest.raises(UserError) as error:
            Checker(store, models_dir=models, fact_checks=False, **options).warm_up()
        message = str(error.value)
        assert f"no model '{spec}'" in message and f"copy its folder {folder}/ " in message
        assert f"to {models / folder}/" in message and "claimsift train" not in message
    assert f"{verdict} was fitted on {fitted}'s stance probabilities" in message


def test_check_with_a_stance_model_the_verdict_model_was_not_fitted_on_says_so_once(tmp_path, monkeypatch, capsys):
    # Allowed (an experiment), but the verdict model's weights fit another model's probabilities.
    from conftest import ROOT
    from pipeline.cli.check import check_command
    from pipeline.core.errors import UserError
    from pipeline.corpus.store import DB_NAME
    from pipeline.registry.registry import Registry
    from pipeline.verdict.aggregator import fitted_stance_spec
    from pipeline.verdict.checker import Checker

    store = tmp_path / "store"
    store.mkdir()
    (store / DB_NAME).write_bytes(b"")
    registry = Registry(ROOT / "models")
    verdict = f"verdict@{registry.current_version('verdict')}"
    fitted = fitted_stance_spec(verdict)
    other = next(f"stance@{v}" for v in registry.versions("stance") if f"stance@{v}" != fitted)

    def stopped(self, *args, **options):
        raise UserError("stopped before any model loads")

    monkeypatch.setattr(Checker, "check", stopped)
    for stance_model, warned in ((other, True), (fitted, False), (None, False)):
        with pytest.raises(UserError, match="stopped"):
            check_command("NATO has 32 members.", store=store, top_k=5, before=None, as_json=True, data=None,
                          out=None, stance_model=stance_model, rule_packs=None, rerank=False, query_adapter=None)
        lines = capsys.readouterr().err.splitlines()
        assert lines == ([f"warning: {verdict} was fitted on {fitted}'s stance probabilities; reading with {other} "
                          "instead gives its weights another model's probabilities (verdicts may be worse than "
                          "measured)"] if warned else [])


@pytest.mark.slow
def test_before_leaves_out_fact_checks_published_since(seed_store_copy):
    """The PolitiFact check of the Threads post is dated 2024-11-10: asked what was known before
    that day, neither its evidence nor the fact-check itself may be shown."""
    from pipeline.corpus.ingest import ingest
    from pipeline.factchecks.index import build_store_index
    from pipeline.verdict.checker import Checker

    ingest([DATA.parent.parent / "corpus" / "factchecks.jsonl"], seed_store_copy)
    build_store_index(seed_store_copy)
    checker = Checker(seed_store_copy)
    assert any(fc["publisher"] == "PolitiFact" for fc in checker.check(THREADS_CLAIM).fact_checks)
    earlier = checker.check(THREADS_CLAIM, before="2024-11-10")
    assert earlier.fact_checks == ()
    assert all((e.published or "9999") < "2024-11-10" for e in earlier.evidence)
