"""HTML views of results for notebooks (``_repr_html_``): plain strings, no JavaScript, no
external resources, so they render the same in Jupyter, VS Code and an exported HTML file."""
from __future__ import annotations

import html
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipeline.core.types import Evidence, Verdict

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
    where = " · ".join(html.escape(str(x)) for x in (evidence.source, evidence.title, evidence.published) if x)
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
