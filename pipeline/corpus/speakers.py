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
        if not name or not all(w[:1].isupper() for w in name.split()):
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

    def full(self, name: str) -> str:
        name = _bare_name(name, self.titles)
        words = name.split()
        if not words:
            return name
        last = _fold(words[-1])
        candidates: dict[str, str] = {}
        for full in self.full_names:
            full_words = full.split()
            if len(full_words) > len(words) and _fold(full_words[-1]) == last:
                candidates.setdefault(_fold(full), full)
        return next(iter(candidates.values())) if len(candidates) == 1 else name

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


def resolve_speaker(text: str, head: "Token", people: People) -> tuple[str, int, int, bool]:
    """Speaker name, offsets, and whether it names a person, from the head of the subject."""
    phrase = _phrase(head) or [head]
    p_start, p_end = phrase[0].idx, phrase[-1].idx + len(phrase[-1].text)
    if head.lower_.rstrip(".") == "al" and head.i > 0 and head.doc[head.i - 1].lower_ == "et":
        # "Zhou et al. (2020) mentioned that": a citation's authors; the parser makes "al" the head
        # (and a person of its own), which named the speaker "al".
        authors = [t for t in phrase if t.i <= head.i]
        return text[authors[0].idx:head.idx + len(head.text)], authors[0].idx, head.idx + len(head.text), True
    # A person named inside the phrase (its head, an apposition, a possessor) is the speaker.
    excluded: set[int] = set()
    for child in head.children:
        if child.dep_ in ("relcl", "acl") and child.i > head.i:
            excluded.update(t.i for t in child.subtree)
    subtree = [t for t in head.subtree if t.i not in excluded]
    indices = {t.i for t in subtree}
    ents = [ent for ent in people.persons if ent.root.i in indices]
    if ents:
        chosen = next((e for e in ents if e.start <= head.i < e.end), ents[0])
        return people.full(chosen.text), chosen.start_char, chosen.end_char, True
    named = [t for t in subtree if t.pos_ == "PROPN" and _fold(t.text) in people.last_names]
    if named:
        token = next((t for t in named if t.i == head.i), named[0])
        return people.full(token.text), token.idx, token.idx + len(token.text), True
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
