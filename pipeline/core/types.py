"""Typed, frozen records that flow between the stages.

Every record that comes from a document carries character offsets into that document's
original text (``Document.text``), so any result can be traced back to its source.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Literal, get_args

# The labels, one definition each: the Literal types annotate every field and function that holds
# a label (mypy checks the strings), the tuples give their order (model outputs, confusion matrices).
StanceLabel = Literal["SUPPORTS", "REFUTES", "NOT_ENOUGH_INFO"]
STANCE_LABELS: tuple[StanceLabel, ...] = get_args(StanceLabel)

VerdictLabel = Literal["SUPPORTED", "REFUTED", "NOT_ENOUGH_INFO", "CONFLICTING"]
VERDICT_LABELS: tuple[VerdictLabel, ...] = get_args(VerdictLabel)

QuoteKind = Literal["direct", "colon", "reported", "according_to"]
QUOTE_KINDS: tuple[QuoteKind, ...] = get_args(QuoteKind)


@dataclass(frozen=True)
class Document:
    doc_id: str  # sha256 of the normalised text, first 16 hex digits
    text: str  # NFKC-normalised text; all offsets point into this
    name: str = ""  # file name or table row id it came from
    title: str = ""
    source: str = ""
    url: str = ""
    published: str | None = None  # ISO date (YYYY-MM-DD) or None


@dataclass(frozen=True)
class Sentence:
    doc_id: str
    index: int  # position of the sentence in its document
    start: int
    end: int
    text: str
    paragraph: int = 0


@dataclass(frozen=True)
class Entity:
    doc_id: str
    start: int
    end: int
    text: str
    label: str


@dataclass(frozen=True)
class Quote:
    doc_id: str
    speaker: str  # resolved full name where unambiguous, else the surface form
    cue: str
    content: str
    start: int  # offsets of the content
    end: int
    speaker_start: int = -1
    speaker_end: int = -1
    cue_start: int = -1
    cue_end: int = -1
    kind: QuoteKind = "direct"


@dataclass(frozen=True)
class Evidence:
    """A retrieved passage and what the stance model made of it."""

    doc_id: str
    sentence: str
    start: int
    end: int
    score: float  # fused retrieval score
    context: str = ""  # the sentence with its neighbours
    title: str = ""
    source: str = ""  # the document's source as ingested (a table's ``source`` column, else its file or folder)
    published: str | None = None
    url: str = ""  # the document's, as ingested; empty where it had none
    document: str = ""  # the document's name in the store: its file, or a table's file and row id
    sentence_index: int = -1
    stance: StanceLabel = "NOT_ENOUGH_INFO"
    stance_probs: dict[StanceLabel, float] = field(default_factory=dict)
    # What the stance model read, where it is not the sentence: a statement about all members of
    # a group rewritten for the member the claim names ("all NATO members have" -> "Spain have").
    read_as: str = ""

    def to_dict(self) -> dict:
        return {
            "doc_id": self.doc_id,
            "document": self.document,
            "source": self.source,
            "title": self.title,
            "published": self.published,
            "url": self.url,
            "sentence": self.sentence,
            "sentence_index": self.sentence_index,
            "start": self.start,
            "end": self.end,
            "context": self.context,
            "stance": self.stance,
            "stance_probs": {k: round(float(v), 4) for k, v in self.stance_probs.items()},
            "score": round(float(self.score), 4),
            **({"read_as": self.read_as} if self.read_as else {}),
        }


@dataclass(frozen=True)
class Verdict:
    claim: str
    verdict: VerdictLabel
    confidence: float
    evidence: tuple[Evidence, ...] = ()
    decisive: tuple[int, ...] = ()  # indices into evidence that decided the verdict
    fact_checks: tuple[dict, ...] = ()
    # The verdict model is not confident enough to stand alone: a person should read the evidence.
    needs_review: bool = False

    def to_dict(self) -> dict:
        out = {
            "claim": self.claim,
            "verdict": self.verdict,
            "confidence": round(float(self.confidence), 4),
            "needs_review": self.needs_review,
            "evidence": [e.to_dict() | {"decisive": i in self.decisive} for i, e in enumerate(self.evidence)],
        }
        if self.fact_checks:
            out["fact_checks"] = list(self.fact_checks)
        return out

    def _repr_html_(self) -> str:
        """Notebook view: the evidence with the decisive sentences highlighted."""
        return verdict_html(self)


# -- HTML views for notebooks (``_repr_html_``): plain strings, no JavaScript, no external
# resources, so they render the same in Jupyter, VS Code and an exported HTML file.
VERDICT_COLOURS = {"SUPPORTED": "#1b7f3b", "REFUTED": "#b3261e", "NOT_ENOUGH_INFO": "#6b6b6b",
                   "CONFLICTING": "#b26a00"}
STANCE_COLOURS = {"SUPPORTS": "#1b7f3b", "REFUTES": "#b3261e", "NOT_ENOUGH_INFO": "#6b6b6b"}


def highlight(context: str, sentence: str, css: str = "background:#fff2a8") -> str:
    """``context`` escaped, with ``sentence`` marked where it occurs (whitespace-insensitive)."""
    if not context:
        return f"<mark style='{css}'>{html.escape(sentence)}</mark>"
    at = context.find(sentence)
    if at < 0:
        squashed = " ".join(sentence.split())
        at = " ".join(context.split()).find(squashed)
        if at < 0:
            return html.escape(context)
        context, sentence = " ".join(context.split()), squashed
    end = at + len(sentence)
    return (html.escape(context[:at]) + f"<mark style='{css}'>{html.escape(context[at:end])}</mark>"
            + html.escape(context[end:]))


def _badge(text: str, colour: str) -> str:
    return (f"<span style='background:{colour};color:white;border-radius:3px;padding:1px 6px;"
            f"font-size:90%'>{html.escape(text)}</span>")


def evidence_row_html(index: int, evidence: "Evidence", decisive: bool) -> str:
    probs = ", ".join(f"{k[:3]} {v:.2f}" for k, v in evidence.stance_probs.items())
    where = " · ".join(html.escape(str(x)) for x in (evidence.document or evidence.source, evidence.title,
                                                      evidence.published) if x)
    mark_css = "background:#ffd54f;font-weight:600" if decisive else "background:#fff2a8"
    style = " style='background:#fffbe6'" if decisive else ""
    return (f"<tr{style}><td>{index}{' ★' if decisive else ''}</td>"
            f"<td>{_badge(evidence.stance, STANCE_COLOURS.get(evidence.stance, '#444'))}<br>"
            f"<small>{html.escape(probs)}</small></td><td>{evidence.score:.3f}</td>"
            f"<td style='text-align:left'>{highlight(evidence.context, evidence.sentence, mark_css)}"
            f"<br><small style='color:#666'>{where} · doc {html.escape(evidence.doc_id)} "
            f"[{evidence.start}:{evidence.end}]</small></td></tr>")


def verdict_html(verdict: "Verdict") -> str:
    """The verdict, its confidence and every evidence passage; decisive passages are starred,
    shaded, and their sentence highlighted within its context."""
    colour = VERDICT_COLOURS.get(verdict.verdict, "#444")
    rows = "".join(evidence_row_html(i, e, i in verdict.decisive) for i, e in enumerate(verdict.evidence))
    table = ("<table style='border-collapse:collapse;font-size:13px'>"
             "<tr><th>#</th><th>stance</th><th>score</th><th style='text-align:left'>passage (sentence highlighted)"
             f"</th></tr>{rows}</table>") if verdict.evidence else "<p><i>no evidence retrieved</i></p>"
    checks = ""
    if verdict.fact_checks:
        items = "".join(f"<li>{html.escape(str(fc.get('claim') or fc.get('title') or fc))}"
                        f"{' — ' + html.escape(str(fc.get('rating'))) if fc.get('rating') else ''}</li>"
                        for fc in verdict.fact_checks)
        checks = f"<p><b>Matching fact-checks</b></p><ul>{items}</ul>"
    return (f"<div style='font-family:system-ui,sans-serif'><p><b>Claim:</b> {html.escape(verdict.claim)}</p>"
            f"<p>{_badge(verdict.verdict, colour)} confidence {verdict.confidence:.2f}; "
            f"{len(verdict.decisive)} decisive of {len(verdict.evidence)} passages (★)</p>{table}{checks}</div>")
