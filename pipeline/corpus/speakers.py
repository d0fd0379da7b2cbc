"""Who said it: the reporting verbs, the people a document names (with their titles and the pronouns that
point back to them), and the speaker a quote is attributed to."""
from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING

from pipeline.lang.en import TITLE_WORDS

if TYPE_CHECKING:
    from spacy.tokens import Doc, Token
from pipeline.corpus.layout import MARKS

# Imported where used, not here (slow to load; most callers of this module never need them): spacy.


def _forms(*lemmas: str) -> dict[str, str]:
    """Inflected form -> lemma for regular and the listed irregular verbs."""
    irregular = {"say": ["said", "says", "saying"], "tell": ["told", "tells", "telling"],
                 "write": ["wrote", "writes", "writing", "written"], "feel": ["felt", "feels", "feeling"]}
    table: dict[str, str] = {}
    for lemma in lemmas:
        forms = {lemma}
        if lemma in irregular:
            forms.update(irregular[lemma])
        else:
            stem = lemma[:-1] if lemma.endswith("e") else lemma
            forms.update({lemma + ("es" if lemma.endswith(("s", "sh", "ch", "x")) else "s"), stem + "ed", stem + "ing"})
            if lemma.endswith("y") and lemma[-2] not in "aeiou":
                forms.update({lemma[:-1] + "ies", lemma[:-1] + "ied"})
            if lemma in ("admit", "regret", "commit"):
                forms.update({lemma + "ted", lemma + "ting"})
        for form in forms:
            table[form] = lemma
    return table


# Verbs that report what someone said: with a clausal complement they give reported speech.
REPORTING_VERBS = _forms(
    "say", "tell", "add", "write", "state", "claim", "allege", "announce", "deny", "insist", "argue", "warn",
    "note", "remind", "stress", "explain", "report", "disclose", "admit", "reveal", "suggest", "ask", "question",
    "confirm", "declare", "post", "tweet", "reply", "respond", "comment", "acknowledge", "assert", "predict",
    "promise", "emphasize", "emphasise", "mention", "complain", "vow", "concede", "boast")


# Verbs through which quoted words are attributed (`called NATO "obsolete"`), beside the above.
ATTRIBUTING_VERBS = REPORTING_VERBS | _forms(
    "call", "describe", "praise", "criticize", "criticise", "dub", "label", "brand", "term", "express", "feel",
    "mock", "blast", "slam", "hail", "urge")


ROLE_NOUNS = {"minister", "president", "president-elect", "secretary", "chief", "leader", "candidate", "premier",
              "chancellor", "spokesperson", "spokesman", "spokeswoman", "general", "official", "ambassador"}


# Which nation or organisation titles a person ("Dutch Prime Minister X", "NATO chief X") is read
# from the document's own entities (``People``); the English title words are language knowledge.
NAMING_LABELS = frozenset({"NORP", "GPE", "ORG"})


PRONOUNS = {"he", "she", "him", "her"}


# Lower-case particles inside a person's name ("Ruben del Campo", "Ursula von der Leyen"); a later
# mention may capitalise them ("Del Campo said").
NAME_PARTICLES = frozenset({"de", "del", "della", "der", "den", "di", "da", "dos", "das", "du", "la", "le",
                            "van", "von", "ter", "ten", "bin", "ibn", "al", "el"})


# Entity labels whose span is a speaker's name as a whole: a proper noun inside it (the "Riverland" of
# "the Riverland Electoral Commission") is part of that name, not a speaker of its own.
INSTITUTION_LABELS = frozenset({"ORG", "GPE", "NORP"})


def lemma_of(token: "Token") -> str | None:
    """The lemma of a verb through which words can be attributed, else None."""
    if token.tag_[:2] != "VB" or token.is_title and token.i > token.sent.start and token.dep_ != "ROOT":
        return None
    return ATTRIBUTING_VERBS.get(token.lower_)


def is_reporting(token: "Token") -> bool:
    return token.tag_[:2] == "VB" and token.lower_ in REPORTING_VERBS


def own_subject(verb: "Token") -> "Token | None":
    for child in verb.children:
        if child.dep_ in ("nsubj", "nsubjpass"):
            if child.lower_ in ("who", "that", "which") and verb.dep_ == "relcl":
                return verb.head
            return child
    return None


def subject_of(verb: "Token") -> "Token | None":
    """The subject of a verb, or of the clause it hangs from (`…, adding that`, `keen to stress`,
    `took to X to say`); a reporting verb higher up wins over other verbs."""
    own = own_subject(verb)
    if own is not None:
        return own
    chain = []
    token = verb
    for _ in range(5):
        if token.head is token or token.dep_ == "relcl":
            break
        token = token.head
        chain.append(token)
    with_subject = [(t, own_subject(t)) for t in chain if t.tag_[:2] == "VB" or t.pos_ in ("VERB", "AUX")]
    with_subject = [(t, s) for t, s in with_subject if s is not None]
    for t, s in with_subject:
        if is_reporting(t):
            return s
    return with_subject[0][1] if with_subject else None


def _strip_possessive(text: str) -> str:
    return re.sub(r"(’s|'s|’|')$", "", text).strip()


def _fold(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)).casefold()


def _bare_name(text: str, titles: frozenset[str] = TITLE_WORDS) -> str:
    words = _strip_possessive(text.strip()).split()
    while len(words) > 1 and words[0].casefold() in titles:
        words = words[1:]
    return " ".join(words)


def _name_shaped(name: str) -> bool:
    """Whether words look like a person's name: capitalised, with lower-case particles only inside it
    ("Ruben del Campo", not "del Campo" or "the minister")."""
    words = name.split()
    return bool(words) and all(w[:1].isupper() or (0 < k < len(words) - 1 and w.casefold() in NAME_PARTICLES)
                               for k, w in enumerate(words))


def _same_initial(mention: list[str], full: list[str]) -> bool:
    """A mention of two or more words (folded) that names the person of ``full`` by a short first name:
    the same last name and first initial ("Joe Biden" for "Joseph R. Biden"; "JP Morgan" is not "Paul
    Morgan")."""
    return (len(mention) >= 2 and mention[-1] == full[-1] and mention[0] not in NAME_PARTICLES
            and mention[0][:1] == full[0][:1])


class People:
    """The people of one document: full names, and mentions that a pronoun or a description
    (`he`, `the former Dutch prime minister`) can refer back to."""

    def __init__(self, doc: "Doc", inside_quote) -> None:
        self.full_names: list[str] = []
        self.last_names: set[str] = set()
        self.persons = [ent for ent in doc.ents if ent.label_ == "PERSON"]
        # Words of the nations and organisations the document names stand before a name as titles
        # ("Kenyan President William Ruto"), unless the document also uses them in a person's name
        # ("Jordan Peterson" beside "Amman, Jordan").
        in_names = {token.text.casefold() for ent in self.persons for token in ent}
        self.titles = TITLE_WORDS | ({token.text.casefold() for ent in doc.ents if ent.label_ in NAMING_LABELS
                                      for token in ent} - in_names)
        for ent in self.persons:
            self.learn(ent.text)
        self.doc = doc
        self.inside_quote = inside_quote
        self.mentions: list[tuple[int, str]] = []  # offset, name

    def learn(self, text: str) -> None:
        name = _bare_name(text, self.titles)
        if not _name_shaped(name):
            return
        if len(name.split()) >= 2 and name not in self.full_names:
            self.full_names.append(name)
        self.last_names.add(_fold(name.split()[-1]))

    def collect_mentions(self) -> None:
        for token in self.doc:
            if token.pos_ != "PROPN" or _fold(token.text) not in self.last_names:
                continue
            if self.inside_quote(token.idx) or token.dep_ in ("pobj", "dobj", "dative", "oprd", "compound"):
                continue
            self.mentions.append((token.idx, self.full(token.text)))
        self.mentions.sort()

    def add_mention(self, offset: int, name: str) -> None:
        self.mentions.append((offset, name))
        self.mentions.sort()

    def full(self, name: str, titles: frozenset[str] | None = None) -> str:
        """The one full name of the document that ``name`` is a shorter mention of (its last words, compared
        without case or accents: "Del Campo" for "Ruben del Campo", not "JP Morgan" for "Paul Morgan"),
        else ``name``; ``titles``: the words stripped before it (default: the document's)."""
        name = _bare_name(name, self.titles if titles is None else titles)
        words = [_fold(word) for word in name.split()]
        if not words:
            return name
        candidates: dict[str, str] = {}
        for full in self.full_names:
            full_words = [_fold(word) for word in full.split()]
            if len(full_words) > len(words) and (full_words[-len(words):] == words or _same_initial(words, full_words)):
                candidates.setdefault(_fold(full), full)
        return next(iter(candidates.values())) if len(candidates) == 1 else name

    def known(self, name: str) -> str | None:
        """The full name of a person of the document that ``name`` mentions, where there is one: it
        outweighs the entity label the tagger gave the mention ("Del Campo" tagged as a place). The
        mention is read whole: the words of organisations are not stripped from it as titles (the "JP"
        of "JP Morgan", another name than "Paul Morgan's")."""
        full = self.full(name, TITLE_WORDS)
        folded = {_fold(f) for f in self.full_names}
        return full if _fold(full) in folded else None

    def titled(self, offset: int, role: str) -> str | None:
        """The latest person introduced earlier with this role right before the name
        (`the outgoing Dutch prime minister Mark Rutte` for `The Dutch prime minister`)."""
        text = self.doc.text
        found = None
        for ent in self.persons:
            if ent.start_char >= offset:
                break
            before = text[max(0, ent.start_char - 60):ent.start_char].lower().rstrip(" ,")
            if before.endswith(role):
                found = self.full(ent.text)
        return found

    def antecedent(self, offset: int) -> str | None:
        before = [name for at, name in self.mentions if at < offset]
        return before[-1] if before else None


def _phrase(head: "Token") -> list["Token"]:
    """The noun phrase of a speaker without its relative clauses and trailing punctuation."""
    dropped: set[int] = set()
    for child in head.children:
        if child.dep_ in ("relcl", "acl", "advcl", "appos", "punct", "cc", "conj", "prep", "npadvmod") \
                and child.i > head.i:
            if child.dep_ == "prep" and child.lower_ in ("of", "for", "on", "from", "at", "in"):
                continue
            dropped.update(t.i for t in child.subtree)
    tokens = [t for t in head.subtree if t.i not in dropped]
    while tokens and (tokens[-1].is_punct or tokens[-1].is_space):
        tokens.pop()
    while tokens and (tokens[0].is_punct or tokens[0].is_space):
        tokens.pop(0)
    return tokens


def _proper_run(head: "Token") -> list["Token"]:
    """The proper noun that heads a subject with the proper nouns and name particles compounded right
    before it (`Ruben del Campo` of `AEMET spokesperson Ruben del Campo`); [] for a common noun, and
    for a lower-case word the tagger took for a proper noun (`the state department`)."""
    if head.pos_ != "PROPN" or head.is_lower:
        return []
    doc = head.doc
    start = head.i
    while start > 0:
        before = doc[start - 1]
        if before.dep_ not in ("compound", "flat") or not start - 1 < before.head.i <= head.i:
            break
        particle = before.lower_ in NAME_PARTICLES and start > 1 and doc[start - 2].pos_ == "PROPN"
        if (before.pos_ != "PROPN" and not particle) or before.lower_ in TITLE_WORDS | ROLE_NOUNS:
            break  # `European Commission President | Ursula von der Leyen`: a title ends the name
        start -= 1
    while start < head.i and doc[start].is_lower:
        start += 1  # a particle whose first name the run did not reach
    return list(doc[start:head.i + 1])


def _institution(head: "Token", run: list["Token"], phrase: list["Token"]) -> list["Token"]:
    """The tokens of the organisation, place or group named by the proper noun heading a subject: the
    entity that covers it, widened over the proper nouns compounded before it and over an ``of`` or
    ``for`` part of the name the tagger left out (`Americans for Prosperity`), without a leading
    article (`Riverland Electoral Commission` of `the Riverland Electoral Commission`), and kept
    inside the subject's phrase (the tagger's `Kleefisch, Mitchell` in `backed by Walker and
    Kleefisch, Mitchell said` is `Mitchell`); [] where no such entity covers a capitalised head (a
    common noun the tagger put inside one, `The social media meme`, names nothing)."""
    if head.is_lower or head.ent_iob_ not in ("B", "I") or head.ent_type_ not in INSTITUTION_LABELS:
        return []
    doc = head.doc
    start, end = head.i, head.i + 1
    while start > 0 and doc[start].ent_iob_ == "I":
        start -= 1
    while end < len(doc) and doc[end].ent_iob_ == "I":
        end += 1
    if run:
        start = min(start, run[0].i)
    start, end = max(start, head.left_edge.i), min(end, head.right_edge.i + 1)
    tail = [t for t in phrase if t.i >= end]
    if tail and tail[0].i == end and tail[0].lower_ in ("of", "for") and tail[-1].pos_ == "PROPN" and all(
            t.pos_ == "PROPN" or (t.is_lower and t.pos_ in ("ADP", "CCONJ", "DET")) for t in tail[1:]) \
            and tail[-1].i - end == len(tail) - 1:
        end = tail[-1].i + 1
    while start < head.i and (doc[start].pos_ == "DET" or doc[start].is_punct):
        start += 1
    return list(doc[start:end])


def resolve_speaker(text: str, head: "Token", people: People) -> tuple[str, int, int, bool]:
    """Speaker name, offsets, and whether it names a person, from the head of the subject.

    The speaker is the whole name the head belongs to: a proper noun inside a longer name (the
    "Riverland" of "the Riverland Electoral Commission") never stands for it, even where the
    document also uses it alone; a title or description before a person's name ("AEMET
    spokesperson") is not part of the name; a mention of a person named in full earlier in the
    document ("Del Campo" after "Ruben del Campo") is that person, whatever entity label the tagger
    gave it."""
    phrase = _phrase(head) or [head]
    p_start, p_end = phrase[0].idx, phrase[-1].idx + len(phrase[-1].text)
    if head.lower_.rstrip(".") == "al" and head.i > 0 and head.doc[head.i - 1].lower_ == "et":
        # "Zhou et al. (2020) mentioned that": a citation's authors; the parser makes "al" the head
        # (and a person of its own), which named the speaker "al".
        authors = [t for t in phrase if t.i <= head.i]
        return text[authors[0].idx:head.idx + len(head.text)], authors[0].idx, head.idx + len(head.text), True
    run = _proper_run(head)
    institution = _institution(head, run, phrase)
    if institution:
        i_start, i_end = institution[0].idx, institution[-1].idx + len(institution[-1].text)
        i_name = _strip_possessive(text[i_start:i_end])
        known = people.known(i_name)
        if known is not None:
            return known, i_start, i_end, True
        if any(t.ent_type_ == "PERSON" for t in institution) and _name_shaped(i_name):
            # The tagger cut a person's name in two (`Ursula von der` a person, `Leyen` a place).
            people.learn(i_name)
            return people.full(i_name), i_start, i_end, True
    # Proper nouns inside the head's own name are parts of it, not names of their own.
    inside = {t.i for t in institution or run} - {head.i}
    # A person named inside the phrase (its head, an apposition, a possessor) is the speaker.
    excluded: set[int] = set()
    for child in head.children:
        if child.dep_ in ("relcl", "acl") and child.i > head.i:
            excluded.update(t.i for t in child.subtree)
    subtree = [t for t in head.subtree if t.i not in excluded]
    indices = {t.i for t in subtree} - inside
    ents = [ent for ent in people.persons if ent.root.i in indices]
    if ents:
        chosen = next((e for e in ents if e.start <= head.i < e.end), ents[0])
        return people.full(chosen.text), chosen.start_char, chosen.end_char, True
    # A surname of the document's people, unless it ends an organisation's name (`JP Morgan` after `Paul Morgan`).
    named = [t for t in subtree if t.pos_ == "PROPN" and _fold(t.text) in people.last_names and t.i not in inside
             and not (institution and t.i == head.i)]
    if named:
        token = next((t for t in named if t.i == head.i), named[0])
        return people.full(token.text), token.idx, token.idx + len(token.text), True
    if institution:
        return _strip_possessive(text[i_start:i_end]), i_start, i_end, False
    lower = head.lower_
    words = text[p_start:p_end].lower().split()
    role_like = len(words) >= 2 and words[0] == "the" and (words[-1] in ROLE_NOUNS or words[-1].endswith("-elect"))
    if role_like:
        role = " ".join(words[-2:]) if len(words) >= 3 else words[-1]
        found = people.titled(head.idx, role)
        if found is not None:
            return found, p_start, p_end, True
    if lower in PRONOUNS or role_like:
        found = people.antecedent(head.idx)
        if found is not None:
            return found, p_start, p_end, True
    described = [t for t in phrase if t.i < run[0].i] if run else []
    if described and described[-1].pos_ == "NOUN" and described[-1].is_lower and described[-1].head.i in {
            t.i for t in run}:
        # `AEMET spokesperson Ruben del Campo`: the name is the proper nouns after the description.
        r_start, r_end = run[0].idx, head.idx + len(head.text)
        name = _strip_possessive(text[r_start:r_end])
        role = described[-1].lower_
        if head.ent_type_ == "PERSON" or role in ROLE_NOUNS or role in TITLE_WORDS or len(run) >= 2:
            people.learn(name)
            return people.full(name), r_start, r_end, True
        return name, r_start, r_end, False
    if head.pos_ == "PROPN" and all(t.pos_ == "PROPN" or t.is_punct for t in phrase) and head.ent_type_ not in (
            "ORG", "NORP", "GPE") or head.ent_type_ == "PERSON":
        name = _strip_possessive(text[p_start:p_end])
        return people.full(name), p_start, p_end, True
    return text[p_start:p_end], p_start, p_end, False


def trim_span(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and (text[start].isspace() or text[start] in MARKS):
        start += 1
    while end > start and (text[end - 1].isspace() or text[end - 1] in ",;:—–-"):
        end -= 1
    return start, end


def title_like(text: str) -> bool:
    words = [w for w in re.findall(r"[A-Za-z][\w’'-]*", text)]
    small = {"of", "the", "a", "an", "and", "in", "on", "for", "to", "during", "at", "by"}
    content = [w for w in words if w.lower() not in small]
    return len(content) >= 2 and all(w[0].isupper() for w in content)
