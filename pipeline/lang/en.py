"""English cue words and patterns: how English text denies, reports a claim, attributes words
to someone, states an intention, and titles a person. Grammar and vocabulary of the language,
not of any topic (``pipeline.verdict.packs`` holds topic rules, off by default).
"""
from __future__ import annotations

import functools
import re

# Function words of English that are no common word of another Latin-script language (not "is", "was",
# "will", "has", "are", "of", "to", "in", "on", nor Danish "have", Dutch "been", Swedish "and" and "from"):
# a sentence with two of them holds English.
ENGLISH_ONLY_WORDS = frozenset({"the", "that", "this", "with", "you", "your", "what", "they", "their", "there",
                                "which", "would", "were", "about", "our"})
# Verbs of a claim that someone said or did something ("X threatened …", "X told Y …").
SAID_VERBS = (r"say|says|said|saying|claimed|claiming|threaten\w*|told|tell|tells|telling|warn\w*|vow\w*|"
              r"promis\w*|announc\w*|stated|declar\w*|accus\w*|admit\w*|insist\w*|suggested|propos\w*|urg\w*|"
              r"called|calls|calling|rated|rates|rating|prais\w*|credit\w*|describ\w*|blast\w*|mock\w*|wrote|posted|tweeted|quot\w*")
SAID_CUE = re.compile(rf"\b({SAID_VERBS})\b", re.IGNORECASE)
# Words that make a claim about what someone said or did, rather than about the world: the verbs,
# and the words that are also nouns ("a post", "the claim"), which retrieval may pull quotes for
# but which attribute nothing to a person (so a denial does not vote on them: ``check``).
ATTRIBUTION_CUE = re.compile(
    rf"\b({SAID_VERBS}|claim\w*|threat\w*|tell\w*|state[sd]?|suggest\w*|call\w*|write\w*|post\w*|tweet\w*)\b",
    re.IGNORECASE,
)
# Fixed phrases where "false" judges nothing said: "a false positive", "a false alarm".
NOT_A_JUDGEMENT_OF_FALSE = (r"positives?|negatives?|alarms?|starts?|teeth|dawn|dichotomy|dichotomies|"
                            r"economy|economies|ceilings?|bottoms?|memory|memories|imprisonment|arrest")
# Sentences that deny that something was said or happened: evidence against attribution claims.
DENIAL_CUE = re.compile(
    r"\b(never said|never did|has not said|did not say|didn't say|no evidence|no credible evidence|"
    rf"bogus|denie[sd]|deny|denying|fabricated|fake|false(?![\s-]+(?:{NOT_A_JUDGEMENT_OF_FALSE})\b)|"
    r"misattributed|not true|untrue|hoax)\b",
    re.IGNORECASE,
)
# Words that point back to what was said just before ("this call", "it"). Not "this post" or
# "the claim": in "We rate this post False." they point at the article's subject, the claim
# under check, whatever the sentence before it says.
ANAPHOR = re.compile(r"\b(this|these|those|such|it)\b(?!\s+(post|claim|rumou?r|video|image|photo|quote|tweet|"
                     r"story|message|meme)s?\b)", re.IGNORECASE)
# Sentences that report that a claim is circulating ("a post alleges that …") restate the claim
# without vouching for it: fact-check articles are full of them, and a stance model reads them
# as support.
REPORTED_CLAIM = re.compile(
    r"\b(alleg\w*|claims? (have|has) circulated|circulat\w* (on|across) social media|rumou?r\w*|"
    r"(post|posts|tweet|video|message)s? (said|says|claimed|claims|suggest\w*)|purported\w*|"
    r"went viral|viral (post|claim)|falsely (claim|say|said)\w*)\b",
    re.IGNORECASE,
)
# Words that call what is reported false ("posts falsely claim …").
FALSELY = re.compile(r"\b(falsely|wrongly|baseless\w*|debunk\w*|misleading\w*)\b", re.IGNORECASE)

# A claim about an intention ("X plans to spend more next year") or about an event to come.
INTENTION_CUE = re.compile(
    r"\b(plans?|planning|planned|intends?|intending|aims?|aiming|wants?|hopes?|seeks?|expects?|pledge[sd]?|"
    r"vow(s|ed)?|promise[sd]?|is going|are going|is set|are set)\s+to\b", re.IGNORECASE)
FUTURE_CUE = re.compile(r"\b(will|shall|is to|are to)\b", re.IGNORECASE)
# A passage that speaks of plans, targets or the future itself, so it can answer such a claim.
FORWARD_LOOKING = re.compile(
    r"\b(will|shall|would|plan\w*|intend\w*|intention\w*|aim\w*|target\w*|goal\w*|pledg\w*|commit\w*|"
    r"promis\w*|vow\w*|expect\w*|could|might|may|future|next|upcoming|scheduled|proposal\w*|propos\w*|"
    r"set to|going to|by 20\d\d)\b", re.IGNORECASE)
YEAR_MENTION = re.compile(r"\b(?:19|20)\d\d\b")

# Heads of names that are not names alone ("the United States", "the Czech Republic").
GENERIC_NAME_HEADS = frozenset({"states", "republic", "union", "kingdom", "emirates", "nations", "islands",
                                "commission", "council", "parliament", "ministry", "department", "party", "government"})

# Words that title a person before the name ("Prime Minister X", "Dr X", "former Senator X").
# Which organisation or nation a title names ("the Dutch prime minister") is read from the
# document's own entities instead (``pipeline.corpus.nlp``).
TITLE_WORDS = frozenset({
    "president", "president-elect", "secretary", "general", "prime", "minister", "pm", "mr", "mrs", "ms", "dr",
    "chancellor", "senator", "sen.", "rep.", "gov.", "governor", "mr.", "mrs.", "ms.", "dr.", "then-secretary",
    "former", "finance", "foreign", "defence", "defense", "spokesperson", "chief"})


@functools.lru_cache(maxsize=1024)
def mention_pattern(name: str) -> re.Pattern:
    """A mention of ``name`` as a whole word; a short one ("us", "u.s.") only in capitals, as
    English writes abbreviations, so "told us" is not a mention of "US"."""
    short = len(name.replace(".", "")) <= 3
    return re.compile(rf"(?<![\w.]){re.escape(name.upper() if short else name)}(?![\w])",
                      0 if short else re.IGNORECASE)
