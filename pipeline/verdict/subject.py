"""What a claim is about: its subject (the name it is about and the documents that name it) and its
content terms (how much of what it says a passage covers)."""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Collection, Container, Iterable, Protocol, Sequence

from pipeline.core.types import Evidence
from pipeline.lang.en import GENERIC_NAME_HEADS, mention_pattern
from pipeline.retrieval.retrieve import SAID_CUE, CorpusView
from pipeline.verdict.validation import URL


class NameAliases(Protocol):
    """What a subject needs of a rule pack (``verdict.packs.RulePack`` is one): other names of a
    name. Declared here so that the subject does not import the packs, which import the rules."""

    def aliases(self, name: str) -> Iterable[str]: ...

# Imported where used, not here (slow to load; most callers of this module never need them): PyStemmer, spacy.


@dataclass(frozen=True)
class ClaimSubject:
    """The name a claim is about, and the documents whose named entities include it (or an
    alias of it). Aliases come from the rule packs in use (``pipeline.verdict.packs``); by default a
    subject has none and is found as the corpus's entities spell it."""

    name: str
    documents: tuple[Collection[str], ...] = ()  # the corpus's own sets, not copies: a common name has many
    aliases: tuple[str, ...] = ()  # other names, lower case

    @classmethod
    def of(cls, name: str | None, view: CorpusView, packs: Sequence["NameAliases"] = ()) -> "ClaimSubject | None":
        if name is None:
            return None
        key = name.lower()
        aliases = tuple(dict.fromkeys(alias for pack in packs for alias in pack.aliases(key)))
        found = (view.name_documents.get(alias) for alias in (key, *aliases))
        return cls(name, tuple(documents for documents in found if documents), aliases)

    def named_in(self, doc_id: str) -> bool:
        return any(doc_id in documents for documents in self.documents)


def claim_subject(doc, known_names: Container[str] = ()) -> str | None:
    """The name a parsed claim is about: the head of the main verb's subject when that is a
    name ("Rutte" in "Mark Rutte met Trump …", "Poland" in "Poland plans …"); None for a
    subject that is not ("All NATO members meet …", "A NATO spokesperson called …").
    ``known_names``: lower-case names the corpus knows, for subjects the tagger calls nouns."""
    for token in doc:
        if token.dep_ != "ROOT":
            continue
        for child in token.children:
            if child.dep_ not in ("nsubj", "nsubjpass") or not child.text[:1].isupper():
                continue
            # The tagger calls some names nouns ("Belgium meets …", "Trump is …"); a capitalised
            # noun is a name where capitals are not owed to the start of the sentence, or where
            # the corpus knows it as one ("Countries …" is neither).
            if child.pos_ == "PROPN" or (child.pos_ == "NOUN" and (child.i > 0 or child.text.lower() in known_names)):
                return _whole_name(child, known_names)
    return None


def _whole_name(head, known_names: Container[str]) -> str:
    """"States" -> "United States", "Republic" -> "Czech Republic": the head with its compound
    words where the head is a generic word; otherwise the head ("Rutte", not "Mark Rutte",
    since passages name people by surname)."""
    if head.text.lower() in known_names or head.text.lower() not in GENERIC_NAME_HEADS:
        return head.text
    words = [t for t in head.lefts if t.dep_ == "compound" and t.text[:1].isupper()] + [head]
    return " ".join(t.text for t in words)


def names_subject(subject: ClaimSubject, passage: Evidence) -> bool:
    """The passage's sentence and neighbours, or its member-reading, name the subject; or the
    passage speaks as "we" in a document that names it (a PolitiFact article's "We rate this
    post False" is PolitiFact's rating). Not any passage of such a document: an article that
    names Poland once is not about Poland in every sentence."""
    if re.search(r"\b(we|our)\b", passage.sentence, re.IGNORECASE) and subject.named_in(passage.doc_id):
        return True
    text = " ".join((passage.context or passage.sentence, passage.read_as, passage.title))
    return any(mention_pattern(name).search(text) for name in (subject.name.lower(), *subject.aliases))


TERM = re.compile(r"[^\W\d_]+|\d+(?:[.,]\d+)*")


@functools.lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


# The same claims and passages are measured against each other many times per check.
@functools.lru_cache(maxsize=8192)
def content_terms(text: str) -> frozenset[str]:
    """Content words, stemmed and cut to five characters (so "hosts" meets "host", "defence"
    meets "defense", "expelling" meets "expel"), and numbers."""
    from spacy.lang.en.stop_words import STOP_WORDS

    stemmer = _stemmer()
    out = set()
    for token in TERM.findall(URL.sub(" ", text)):
        lower = token.lower()
        if lower in STOP_WORDS or (len(lower) < 3 and not lower.isdigit()):
            continue
        out.add(lower if lower[0].isdigit() else stemmer.stemWord(lower)[:5])
    return frozenset(out)


def what_is_said(claim: str, people: Sequence[str]) -> frozenset[str]:
    """The claim's content terms less the people's names and the verbs of saying: "Rutte said
    Trump's leadership would weaken the alliance" -> leadership, weaken, alliance."""
    said_verbs = " ".join(match.group(0) for match in SAID_CUE.finditer(claim))
    return content_terms(claim) - content_terms(" ".join(people)) - content_terms(said_verbs)


def term_coverage(claim: str, passage: str) -> float:
    """Share of the claim's content terms that the passage contains."""
    terms = content_terms(claim)
    return len(terms & content_terms(passage)) / len(terms) if terms else 1.0
