"""The ``nato`` rule pack (``pipeline.verdict.packs.nato``), on its own: count statements ("23 NATO
members spend at least 2%"), tenures and shares of GDP read from the seed corpus and compared,
statements about all members read for one member, the aliases of the US, and the seed claims
those rules decide. The default path's independence from it is tested in ``test_packs.py``."""
from __future__ import annotations

import pytest

from pipeline.verdict.packs.nato.quantities import CountStatement, count_stance, count_statement, group_size_of

# Sentences of the seed corpus, as stored.
LISTED_EIGHT = ("As of June this year, out of the 32 NATO members, Croatia, Portugal, Italy, Canada, Belgium, "
                "Luxembourg, Slovenia and Spain were the countries not meeting the 2% commitment, according to the "
                "most recent figures.")
RECORD_23 = ("NATO defense spending data shows a record 23 members spending at or above the 2% of GDP target, with "
             "the average across the alliance also surpassing 2% for the first time.")
NINE_SHORT = ("Among the allies, nine are not at the agreed two per cent of their GDP; some, such as Belgium and "
              "Canada, have only vague plans to reach the ‘magic number’.")
ALL_MEMBERS = "Currently, all NATO members have achieved the 2% defense spending target."
SEVERAL_SHORT = "Several key allies, including Belgium, Canada, Italy and Spain, continue to fall short of 2%."
TWO_THIRDS = "He noted that two-thirds of NATO now spend at least 2% of their GDP on defence."


@pytest.mark.slow
def test_the_seed_corpus_states_the_size_of_the_group(nato_checker):
    (pack,) = nato_checker.bound_rule_packs
    assert pack.name == "nato" and pack.group_size == 32
    assert group_size_of(["Trump spoke to allies.", "NATO spending rose by 18%."]) is None


@pytest.mark.parametrize("text, low, high", [
    (LISTED_EIGHT, 24, 24),  # eight named as falling short: 32 - 8 meet it; "the 32 NATO members" is the size
    (RECORD_23, 23, 23),
    (NINE_SHORT, 23, 23),  # "two per cent" in words
    (ALL_MEMBERS, 32, 32),
    (SEVERAL_SHORT, 0, 30),
    (TWO_THIRDS, 20, 22),
    ("Most NATO members spend at least 2% of GDP on defence.", 17, 32),
    ("Fewer than ten NATO members miss the 2% spending target.", 23, 32),
    ("More than 20 NATO allies spend at least 2% of GDP.", 21, 32),
    ("Not all NATO members meet the 2% target.", 0, 31),
])
def test_count_statements_are_read_as_the_members_that_meet_the_threshold(text, low, high):
    assert count_statement(text, group_size=32) == CountStatement(low, high, 2.0)


@pytest.mark.parametrize("text, low, high", [
    ("Nine members don't spend 2% of GDP.", 23, 23),  # "n't" is a negation too
    ("23 members spend no less than 2% of GDP.", 23, 23),  # "less than" here is no shortfall
    ("23 members, not counting the US, spend 2% of GDP.", 23, 23),
    # The first count in the sentence is the one read.
    ("Nine members fall short of 2%, though all allies have committed to 2%.", 23, 23),
])
def test_negations_and_the_order_of_counts_are_read_right(text, low, high):
    assert count_statement(text, group_size=32) == CountStatement(low, high, 2.0)


@pytest.mark.parametrize("text", [
    "Poland led NATO members in defense spending last year, allocating 4.12% of its GDP.",
    "Three members raised spending by 2% this year.",  # a change in spending, not the threshold
    "All members pledged to reach 2% by 2024.",  # a pledge, not an achievement
    "40 countries fail to meet the 2% target.",  # more than the group has
    "1,000 members spend 2% of their income on dues.",
    "Trump repeatedly blasted NATO allies for not meeting the 2% defence spending target.",
    "Four countries joined NATO while Stoltenberg led it.",  # a count, but of no threshold
    "Average defence spending across NATO is still below 2% of GDP.",
])
def test_sentences_without_a_count_of_members_make_no_statement(text):
    assert count_statement(text, group_size=32) is None


def test_without_the_groups_size_only_like_counts_compare():
    short_nine = count_statement("Nine NATO allies spend less than 2% of their GDP.", group_size=None)
    assert short_nine == CountStatement(9, 9, 2.0, meet=False)
    assert count_statement(ALL_MEMBERS, group_size=None) is None  # "all" needs the size
    assert short_nine.consistent_with(count_statement(NINE_SHORT, group_size=None)) is True
    assert short_nine.consistent_with(count_statement(RECORD_23, group_size=None)) is None


@pytest.mark.parametrize("claim, passage, decided", [
    ("All NATO members now meet the 2% of GDP defence spending target.", RECORD_23, "REFUTES"),
    ("All NATO members now meet the 2% of GDP defence spending target.", SEVERAL_SHORT, "REFUTES"),
    ("Twenty-three NATO members spend at least 2% of GDP on defence.", NINE_SHORT, "SUPPORTS"),
    ("Twenty-three NATO members spend at least 2% of GDP on defence.", ALL_MEMBERS, "REFUTES"),
    ("Only two-thirds of NATO members spend at least 2% of GDP on defence.", RECORD_23, "REFUTES"),
    ("Most NATO members spend at least 2% of GDP on defence.", ALL_MEMBERS, "SUPPORTS"),
    ("Eight NATO members do not meet the 2% defence spending commitment.", LISTED_EIGHT, "SUPPORTS"),
])
def test_counts_decide_the_stance_between_count_statements(claim, passage, decided):
    model = {"SUPPORTS": 0.3, "REFUTES": 0.3, "NOT_ENOUGH_INFO": 0.4}
    probs = count_stance(claim, passage, model, group_size=32)
    assert max(probs, key=probs.get) == decided and probs[decided] == pytest.approx(0.9 + 0.1 * model[decided])
    assert sum(probs.values()) == pytest.approx(1.0)


def test_counts_of_another_group_or_year_are_not_compared():
    model = {"SUPPORTS": 0.3, "REFUTES": 0.3, "NOT_ENOUGH_INFO": 0.4}
    claim = "All NATO members now meet the 2% of GDP defence spending target."
    assert count_stance(claim, "In 2014, only three allies met the 2% guideline; now 23 do.", model, 32) == model
    assert count_stance(claim, "Nine EU members spend less than 2% of GDP on defence.", model, 32) == model


def test_counts_of_other_thresholds_or_partial_overlaps_leave_the_model_alone():
    model = {"SUPPORTS": 0.3, "REFUTES": 0.3, "NOT_ENOUGH_INFO": 0.4}
    claim = "All NATO members now meet the 2% of GDP defence spending target."
    assert count_stance(claim, "A record 23 members spend at least 3% of GDP.", model, 32) == model
    assert count_stance("Most NATO allies fall short of the 2% target.", SEVERAL_SHORT, model, 32) == model
    assert count_stance("Rutte met Trump.", RECORD_23, model, 32) == model


TEN_YEAR_TENURE = ("The former Dutch prime minister succeeds the former Norwegian prime minister, Jens Stoltenberg, "
                   "who over his ten-year tenure oversaw impactful transformation.")
DECADE_AT_THE_HELM = ("Rutte is now tipped to replace Jens Stoltenberg, who planned to step aside at the NATO summit in "
                      "Washington next month after a decade at the helm.")
PRIME_MINISTER_YEARS = ("But he is an experienced and qualified political leader, serving as Dutch prime minister from "
                        "2010 to 2024, including in leading a complex coalition government.")


@pytest.mark.parametrize("claim, passage, subject, decided", [
    ("Jens Stoltenberg led NATO for only two years.", TEN_YEAR_TENURE, "Stoltenberg", "REFUTES"),
    ("Jens Stoltenberg led NATO for only two years.", DECADE_AT_THE_HELM, "Stoltenberg", "REFUTES"),
    ("Stoltenberg led NATO for a decade.", TEN_YEAR_TENURE, "Stoltenberg", "SUPPORTS"),
    # "from 2010 to 2024" is 13 to 14 years by the months: within a year of 14.
    ("Rutte was prime minister of the Netherlands for 14 years.", "Rutte, " + PRIME_MINISTER_YEARS, "Rutte", "SUPPORTS"),
    ("Rutte served as Dutch prime minister for more than 20 years.", "Rutte, " + PRIME_MINISTER_YEARS, "Rutte", "REFUTES"),
])
def test_how_long_someone_held_a_post_decides_the_stance(claim, passage, subject, decided):
    from pipeline.verdict.packs.nato.quantities import tenure_stance

    probs = tenure_stance(claim, passage, {"SUPPORTS": 0.1, "REFUTES": 0.5, "NOT_ENOUGH_INFO": 0.4}, subject)
    assert max(probs, key=probs.get) == decided and probs[decided] > 0.9


def test_a_tenure_counts_only_for_the_subject_it_names_and_for_tenures():
    from pipeline.verdict.packs.nato.quantities import tenure_stance

    model = {"SUPPORTS": 0.1, "REFUTES": 0.5, "NOT_ENOUGH_INFO": 0.4}
    claim = "Jens Stoltenberg led NATO for only two years."
    assert tenure_stance(claim, PRIME_MINISTER_YEARS, model, "Stoltenberg") == model  # does not name him
    assert tenure_stance(claim, TEN_YEAR_TENURE, model, None) == model
    operated = '"It operated for 70 years, but it was not the same after July 12, 2018," Stoltenberg wrote.'
    assert tenure_stance(claim, operated, model, "Stoltenberg") == model  # NATO's age, not a tenure
    assert tenure_stance("Rutte met Trump for two hours.", "Rutte, over his ten-year tenure, met Trump.", model,
                         "Rutte") == model
    # "More than a decade" is not exactly ten years; a term begun is not a tenure served.
    assert tenure_stance("Stoltenberg led NATO for 12 years.", "Stoltenberg stepped aside after more than a decade "
                         "at the helm.", model, "Stoltenberg") == model
    assert tenure_stance("Stoltenberg led NATO for ten years.", "Rutte, who succeeded Stoltenberg, begins a four-year "
                         "term.", model, "Stoltenberg") == model


POLAND_LED = ("Poland led NATO members in defense spending last year, allocating 4.12% of its GDP, followed by "
              "Estonia at 3.43%, the United States, 3.38%, Latvia, 3.15%, and Greece, 3.08%, according to the data.")


@pytest.mark.parametrize("claim, names, decided", [
    ("Poland spent 3% of its GDP on defence.", ["poland"], "REFUTES"),
    ("Poland spends less than 2% of its GDP on defence.", ["poland"], "REFUTES"),
    ("Poland spent 4.12% of its GDP on defence, more than any other NATO member.", ["poland"], "SUPPORTS"),
    ("Poland spends more than 4% of its GDP on defence.", ["poland"], "SUPPORTS"),
    ("Estonia spent 3.43% of its GDP on defence.", ["estonia"], "SUPPORTS"),
    ("The US spends 3.38% of its GDP on defence.", ["us", "united states"], "SUPPORTS"),
    ("Latvia spends 4.5% of GDP on defence.", ["latvia"], "REFUTES"),
])
def test_a_members_share_of_gdp_decides_the_stance(claim, names, decided):
    from pipeline.verdict.packs.nato.quantities import share_stance

    probs = share_stance(claim, POLAND_LED, {"SUPPORTS": 0.5, "REFUTES": 0.1, "NOT_ENOUGH_INFO": 0.4}, names)
    assert max(probs, key=probs.get) == decided and probs[decided] > 0.9


def test_a_share_is_read_only_for_the_member_it_follows():
    from pipeline.verdict.packs.nato.quantities import reported_share, share_stance

    assert reported_share(POLAND_LED, ["france"]) is None
    # "… at 4.12%, 3.43% and 3.38% respectively" pairs by order, which is not read.
    respectively = ("Poland, Estonia and the US were the biggest spenders, sitting at 4.12%, 3.43% and 3.38% of GDP "
                    "respectively.")
    assert reported_share(respectively, ["estonia"]) is None
    model = {"SUPPORTS": 0.5, "REFUTES": 0.1, "NOT_ENOUGH_INFO": 0.4}
    # Not a share of GDP on either side.
    assert share_stance("NATO allies are increasing defence spending by 18%.", POLAND_LED, model, ["nato"]) == model
    assert share_stance("Poland spent 3% of its GDP on defence.", "Poland raised spending by 18%.", model,
                        ["poland"]) == model


@pytest.mark.slow
def test_statements_about_all_members_are_read_for_the_member_a_claim_names(seed_store, nato_checker):
    """Seed 004 says all NATO members have achieved 2%; seed 000 lists the eight that have not:
    with the pack, a claim about one of the eight meets both, so the verdict is CONFLICTING."""
    from pipeline.retrieval.retrieve import CorpusView
    from pipeline.verdict.packs.nato import NatoPack

    pack = NatoPack.of(CorpusView.from_store(seed_store), seed_store)
    # Members are what the corpus lists as members ("out of the 32 NATO members, Croatia, …").
    assert {"spain", "croatia", "luxembourg"} <= set(pack.group_members)
    assert not {"ukraine", "russia", "israel", "nato"} & set(pack.group_members)
    rewritten = pack.statements_about("spain", "Spain meets NATO's 2% defence spending target.")
    assert any(text.startswith("Currently, Spain have achieved the 2% defense spending target") for text in rewritten.values())
    assert pack.statements_about("ukraine", "Ukraine meets NATO's 2% target.") == {}

    verdict = nato_checker.check("Spain meets NATO's 2% defence spending target.")
    assert verdict.verdict == "CONFLICTING"
    read = {e.read_as: e.stance for e in verdict.evidence if e.read_as}
    assert any(text.startswith("Currently, Spain have achieved") and stance == "SUPPORTS" for text, stance in read.items())
    as_json = verdict.to_dict()["evidence"]
    assert any("read_as" in e for e in as_json) and not all("read_as" in e for e in as_json)


@pytest.mark.parametrize("claim, verdict", [
    # The subject gate: the Stoltenberg-book passage about a 2018 White House meeting does not vote.
    ("Rutte met Trump at the White House in January 2025.", "NOT_ENOUGH_INFO"),
    # The plans rule and the gate: Trump's 4% suggestion is not about Estonia; 3.43% is no plan.
    ("Estonia plans to raise its defence spending to 4% of GDP.", "NOT_ENOUGH_INFO"),
    # "Rutte has never said this" denies the threat its article reports, not this.
    ("Rutte called Putin responsible for the MH17 downing.", "SUPPORTED"),
    # "A record 23 members" against "all NATO members have achieved 2%". Since sentences are indexed
    # with the one before them, "a record 23 members" no longer reaches this claim's top five (the
    # pack was written for sentences read alone): a known loss, strict so that a fix shows.
    pytest.param("Twenty-three NATO members spend at least 2% of GDP on defence.", "CONFLICTING",
                 marks=pytest.mark.xfail(strict=True, reason="the count sentence is not retrieved for it")),
    ("Most NATO members spend at least 2% of GDP on defence.", "SUPPORTED"),
    # "who over his ten-year tenure …"
    ("Jens Stoltenberg led NATO for only two years.", "REFUTED"),
    # "Poland led NATO members …, allocating 4.12% of its GDP" (stance@v4 alone: SUPPORTED).
    ("Poland spent 3% of its GDP on defence.", "REFUTED"),
])
@pytest.mark.slow
def test_seed_claims_the_packs_rules_decide(nato_checker, claim, verdict):
    assert nato_checker.check(claim).verdict == verdict


def test_the_pack_knows_other_names_of_the_us():
    from pipeline.core.types import Evidence
    from pipeline.verdict.packs.nato import SUBJECT_ALIASES
    from pipeline.verdict.subject import ClaimSubject, names_subject

    us = Evidence(doc_id="y", score=1.0, start=0, end=1, sentence="Poland, Estonia and the United States spend most.")
    subject = ClaimSubject("US", aliases=SUBJECT_ALIASES["us"])
    assert names_subject(subject, us)
    assert names_subject(ClaimSubject("United States", aliases=SUBJECT_ALIASES["united states"]),
                         Evidence(doc_id="y", score=1.0, start=0, end=1, sentence="The U.S. spends."))
    assert not names_subject(subject, Evidence(doc_id="y", score=1.0, start=0, end=1, sentence="He told us the story."))


@pytest.mark.slow
def test_with_the_pack_the_us_is_also_the_united_states_and_washington(nato_checker, seed_checker):
    view = nato_checker.corpus_view
    (us,) = nato_checker.subjects(["The US spends 3.38% of its GDP on defence."])
    assert "united states" in us.aliases and "washington" in us.aliases
    assert len([d for d in view.documents.index if us.named_in(d)]) >= 4
    (bare,) = seed_checker.subjects(["The US spends 3.38% of its GDP on defence."])
    assert bare.aliases == () and len([d for d in view.documents.index if bare.named_in(d)]) < \
        len([d for d in view.documents.index if us.named_in(d)])


@pytest.mark.slow
def test_the_pack_turns_on_the_rules_the_default_path_leaves_off(nato_checker, seed_checker):
    """The subject gate, the plans rule and the entity boost did not earn a place in the default
    path on corpora other than the seeds (bench/results/default_rules_tune.json)."""
    from pipeline.retrieval.retrieve import ENTITY_BOOST, RetrievalConfig

    on, off = nato_checker.voting_rules, seed_checker.voting_rules
    assert on.subject_required and on.deeds_cannot_decide_plans
    assert not off.subject_required and not off.deeds_cannot_decide_plans
    (pack,) = nato_checker.bound_rule_packs
    assert RetrievalConfig().entity_boost == 0.0
    assert pack.retrieval_config(RetrievalConfig()).entity_boost == ENTITY_BOOST
    assert pack.retrieval_config(RetrievalConfig(entity_boost=0.5)).entity_boost == 0.5  # a chosen boost stays
