"""Quotes in a parsed document: spans inside quotation marks, colon and reported speech, and "according
to" attributions, each with its speaker (``find_quotes``); ``QuoteFinder`` is the spaCy component."""
from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from pipeline.corpus.layout import MARKS, layout_breaks
from pipeline.corpus.speakers import (
    People,
    is_reporting,
    lemma_of,
    own_subject,
    resolve_speaker,
    subject_of,
    title_like,
    trim_span,
)

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc, Token

# Imported where used, not here (slow to load; most callers of this module never need them): spacy.


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


def split_glued_marks(nlp: "Language") -> None:
    """Let the tokenizer split quotation marks and dashes glued between words
    (`model?"—referring` is one token otherwise, which hides the end of a quotation)."""
    from spacy.tokenizer import Tokenizer
    from spacy.util import compile_infix_regex

    infixes = list(nlp.Defaults.infixes or ()) + [r'["“”]', r"[—–]"]
    assert isinstance(nlp.tokenizer, Tokenizer)  # a pipeline built by spacy.load has spaCy's own
    nlp.tokenizer.infix_finditer = compile_infix_regex(infixes).finditer


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
                if opened >= 0 and continuing and carried is not None and opened == first:
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
            if continuing and carried is not None and opened == first:
                carried.end, carried.last_paragraph = p_end, paragraph
            else:
                carried = _Marked(opened + 1, p_end, opened, -1, paragraph, last_paragraph=paragraph)
    if carried is not None:
        found.append(carried)
    found.sort(key=lambda m: m.start)
    return found


def _clause_end(doc: "Doc", tokens: list["Token"]) -> int:
    """Where a reported clause really ends: before `, which …` said of the whole statement and
    before a further `, noting that …` / `, adding …` (reported separately)."""
    for k, token in enumerate(tokens[1:], 1):
        if tokens[k - 1].text != ",":
            continue
        if token.lower_ == "which" or (is_reporting(token) and token.tag_ == "VBG") or token.lower_ in (
                "while", "following"):
            return k - 1
    for k, token in enumerate(tokens[1:-1], 1):
        # `… he would not run again and is the longest-serving leader`: a verb with no subject of
        # its own after `and` continues the clause the report hangs from, not the report.
        following = tokens[k + 1]
        if token.lower_ in ("and", "but") and following.tag_ in ("VBZ", "VBP") and following.dep_ == "conj" \
                and own_subject(following) is None and following.head.tag_ in ("VB", "VBN"):
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
    """Quotes of a parsed Doc as dicts with the fields of :class:`pipeline.core.types.Quote` (no doc_id).

    Quoted spans are attributed by the first of four readings that fits (``_trailing_attribution``,
    ``_leading_attribution``, ``_continuation``, ``_attributed_fragment``); unquoted reported speech
    and ``according to`` come from the parse (``_reported_speech``, ``_according_to``). The two sets
    are then reconciled (``_reconcile``) and every quote gets its speaker (``_assign_speakers``)."""
    text = doc.text
    quoted = quoted_spans(text, layout_breaks(text))
    starts = [t.idx for t in doc]
    quote_starts = [q.start for q in quoted]

    def token_at(offset: int) -> "Token":
        return doc[max(0, bisect_right(starts, offset) - 1)]

    def inside_quote(offset: int) -> bool:
        position = bisect_right(quote_starts, offset) - 1
        return any(q.start <= offset < q.end for q in quoted[max(0, position - 2): position + 1])

    people = People(doc, inside_quote)
    direct: list[_Candidate] = []
    previous_in_paragraph: dict[int, _Candidate] = {}
    for q in quoted:
        start, end = trim_span(text, q.start, q.end)
        if end <= start:
            continue
        found = (_trailing_attribution(doc, q, start, end, token_at)
                 or _leading_attribution(doc, q, start, end, token_at)
                 or _continuation(text, q, start, previous_in_paragraph.get(q.paragraph), end)
                 or _attributed_fragment(doc, start, end))
        if found is not None:
            direct.append(found)
            previous_in_paragraph[q.paragraph] = found
            if q.last_paragraph > q.paragraph:
                previous_in_paragraph[q.last_paragraph] = found

    reported: list[_Candidate] = []
    for token in doc:
        if inside_quote(token.idx):
            continue
        if is_reporting(token):
            candidate = _reported_speech(doc, token, inside_quote)
        elif token.lower_ == "according" and token.i + 1 < len(doc) and doc[token.i + 1].lower_ == "to":
            candidate = _according_to(doc, token)
        else:
            candidate = None
        if candidate is not None:
            reported.append(candidate)

    kept_direct, kept_reported = _reconcile(text, direct, reported)
    _assign_speakers(doc, direct + reported, people)
    return [_as_dict(text, candidate) for candidate in sorted(kept_direct + kept_reported, key=lambda c: (c.start, c.end))
            if _source(candidate).speaker is not None]


def _trailing_attribution(doc: "Doc", q: _Marked, start: int, end: int,
                          token_at: Callable[[int], "Token"]) -> _Candidate | None:
    """1. ``"…," Riggio said.`` / ``"…," said Riggio.``"""
    if q.close_at < 0:
        return None
    text = doc.text
    content_text = text[start:end]
    ends_sentence = content_text.rstrip("”\"’ ")[-1:] in ".!?"
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
    if nxt is None or not (comma or (not ends_sentence and nxt.pos_ in ("PROPN", "PRON", "DET"))
                           or (ends_sentence and starts_lower)):
        return None
    for token in after[k:]:
        if (token.is_space and "\n" in token.text) or token.text in MARKS or token.text in ".!?;" \
                or token.dep_ == "cc":
            return None
        if lemma_of(token) and token.lower_ not in ("call", "called", "calling"):
            return _Candidate(start, end, "direct", token, subject_of(token), between=(q.close_at + 1, token.idx))
        if token.tag_[:2] == "VB" and token.is_lower and token.tag_ not in ("VBG",):
            return None
    return None


def _leading_attribution(doc: "Doc", q: _Marked, start: int, end: int,
                         token_at: Callable[[int], "Token"]) -> _Candidate | None:
    """2. ``Rutte said: "…"`` / ``Rutte said, "…"`` / ``Rutte said on Sunday: "…"``."""
    if q.open_at < 0:
        return None
    open_token = token_at(q.open_at)
    colon = False
    for token in reversed(doc[max(0, open_token.i - 4): open_token.i]):
        if token.is_space and "\n" in token.text:
            return None
        if token.text == ":":
            colon = True
            continue
        if token.is_punct or token.is_space or token.pos_ == "ADV":
            continue
        if lemma_of(token) and subject_of(token) is not None:
            return _Candidate(start, end, "colon" if colon else "direct", token, subject_of(token))
        verb = _modified_verb(token) if colon else None
        if verb is not None:
            return _Candidate(start, end, "colon", verb, subject_of(verb))
        return None
    return None


# How the words between a reporting verb and its colon hang from it (`said on Sunday:`, `told
# reporters in Madrid:`): modifiers of the verb, never a clause of their own.
_VERB_MODIFIERS = ("prep", "pobj", "npadvmod", "advmod", "dobj", "dative", "det", "amod", "compound", "nummod",
                   "poss", "case")


def _modified_verb(token: "Token") -> "Token | None":
    """The reporting verb (with a subject) that the last word before a colon modifies, through
    prepositions, objects and time phrases alone; else None."""
    for _ in range(6):
        if token.dep_ not in _VERB_MODIFIERS or token.head is token:
            return None
        token = token.head
        if lemma_of(token):
            return token if subject_of(token) is not None else None
    return None


def _continuation(text: str, q: _Marked, start: int, previous: _Candidate | None, end: int) -> _Candidate | None:
    """3. A quote continuing the previous one of its paragraph: nothing but that one's attribution
    between them."""
    if previous is None or not previous.marked:
        return None
    gap_start = previous.end
    gap_end = q.open_at if q.open_at >= 0 else start
    gap = text[gap_start:gap_end]
    cue = previous.cue
    attribution_between = cue is not None and gap_start <= cue.idx < gap_end
    words = re.findall(r"[A-Za-z]{2,}", gap)
    if not words or (attribution_between and len(words) <= 25 and ";" not in gap):
        return _Candidate(start, end, previous.kind, cue, follows=previous)
    return None


def _attributed_fragment(doc: "Doc", start: int, end: int) -> _Candidate | None:
    """4. Quoted words inside a sentence attributed through its verb: ``called NATO "obsolete"``."""
    if title_like(doc.text[start:end]):
        return None
    span = doc.char_span(start, end, alignment_mode="expand")
    if span is None or len(span) == 0:
        return None
    token = span.root
    for _ in range(10):
        if lemma_of(token) and not (start <= token.idx < end):
            subject = subject_of(token)
            return _Candidate(start, end, "direct", token, subject, fragment=True) if subject is not None else None
        if token.head is token:
            return None
        token = token.head
    return None


def _reported_speech(doc: "Doc", token: "Token", inside_quote: Callable[[int], bool]) -> _Candidate | None:
    """5. Reported speech: ``X said (that) …``, ``X told Y that …``."""
    text = doc.text
    if token.dep_ in ("acl", "amod") and own_subject(token) is None:
        return None  # `the parties questioning …` describes, it does not report
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
        return None
    c_start, c_end = trim_span(text, sub[0].idx, sub[-1].idx + len(sub[-1].text))
    while c_end > c_start and text[c_end - 1] in "." and not text[c_start:c_end].count('"') % 2:
        c_end -= 1
    if c_end - c_start < 8:
        return None
    subject = subject_of(token)
    if subject is None or inside_quote(subject.idx):
        return None
    return _Candidate(c_start, c_end, "reported", token, subject, marked=False)


def _according_to(doc: "Doc", token: "Token") -> _Candidate | None:
    """6. ``according to X, …`` (``token`` is "according")."""
    text = doc.text
    to = doc[token.i + 1]
    objects = [c for c in to.children if c.dep_ == "pobj"]
    if not objects:
        return None
    sentence = token.sent
    phrase_end = max(t.i for t in to.subtree) + 1
    if token.i - sentence.start > 2:
        c_start, c_end = sentence[0].idx, token.idx
    else:
        c_start = doc[phrase_end].idx if phrase_end < len(doc) else sentence.end_char
        c_end = sentence.end_char
    c_start, c_end = trim_span(text, c_start, c_end)
    while c_start < c_end and text[c_start] in ",":
        c_start, c_end = trim_span(text, c_start + 1, c_end)
    while c_end > c_start and text[c_end - 1] in ".":
        c_end -= 1
    if c_end - c_start < 8:
        return None
    return _Candidate(c_start, c_end, "according_to", token, objects[0], marked=False)


def _reconcile(text: str, direct: list[_Candidate],
               reported: list[_Candidate]) -> tuple[list[_Candidate], list[_Candidate]]:
    """A whole quotation that the parser also saw as a reported clause stays one direct quote;
    quoted words inside a reported clause give way to the clause (it says what was said)."""
    kept_direct = list(direct)
    kept_reported: list[_Candidate] = []
    for item in reported:
        # A quotation that starts inside the clause and runs on ends the clause with it.
        for f in kept_direct:
            if item.start <= f.start < item.end < f.end:
                # Its closing mark goes with it only where its opening mark is inside the clause too.
                opened_inside = item.start < f.start and text[f.start - 1:f.start] in MARKS
                item.end = f.end + (1 if opened_inside and text[f.end:f.end + 1] in MARKS else 0)
        length = item.end - item.start
        overlapping = [(f, min(f.end, item.end) - max(f.start, item.start)) for f in kept_direct]
        overlapping = [(f, o) for f, o in overlapping if o > 0]
        drop = False
        for f, o in overlapping:
            inside = item.start <= f.start and f.end <= item.end
            same_cue = f.cue is not None and item.cue is not None and f.cue.i == item.cue.i
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
            if inside and (f.cue is not None and item.cue is not None and f.cue.i == item.cue.i or cue_outside):
                kept_direct.remove(f)
        kept_reported.append(item)
    return kept_direct, kept_reported


def _assign_speakers(doc: "Doc", candidates: list[_Candidate], people: People) -> None:
    """Speakers, in document order, so that `he` can refer to the speaker of an earlier quote.
    Every candidate gets one, also one merged away, whose quote a later one may continue."""
    text = doc.text
    people.collect_mentions()
    ordered = sorted(candidates,
                     key=lambda c: (c.subject.idx if c.subject is not None else (c.cue.idx if c.cue else c.start)))
    for candidate in ordered:
        if candidate.follows is not None:
            continue
        if candidate.subject is not None:
            name, s_start, s_end, is_person = resolve_speaker(text, candidate.subject, people)
        elif candidate.between is not None:
            tokens = [t for t in doc if candidate.between[0] <= t.idx < candidate.between[1]
                      and not (t.is_punct or t.is_space)]
            if not tokens:
                continue
            name, s_start, s_end, is_person = resolve_speaker(text, tokens[-1], people)
        else:
            continue
        candidate.speaker = (name, s_start, s_end)
        if is_person and candidate.kind != "according_to":
            people.add_mention(s_start, name)


def _source(candidate: _Candidate) -> _Candidate:
    """The first quote of a continued quotation (it holds the speaker)."""
    while candidate.follows is not None:
        candidate = candidate.follows
    return candidate


def _as_dict(text: str, candidate: _Candidate) -> dict:
    speaker = _source(candidate).speaker
    assert speaker is not None  # find_quotes keeps only quotes with a speaker
    name, s_start, s_end = speaker
    cue = candidate.cue
    return {
        "speaker": name, "cue": cue.text if cue is not None else "",
        "content": text[candidate.start:candidate.end], "start": candidate.start, "end": candidate.end,
        "speaker_start": s_start, "speaker_end": s_end,
        "cue_start": cue.idx if cue is not None else -1,
        "cue_end": cue.idx + len(cue.text) if cue is not None else -1, "kind": candidate.kind,
    }
