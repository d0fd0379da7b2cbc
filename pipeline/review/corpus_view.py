"""What the review desk shows of the corpus store: documents cut into sentences and entities,
the context of an evidence passage, the quotes in it, and the timeline of publication dates.

Everything here returns plain data for the templates (which escape every text); nothing here
writes HTML from document text.
"""
from __future__ import annotations

import io
import json
import sqlite3
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from pipeline.core.io import read_only_sqlite
from pipeline.corpus.store import Corpus
from pipeline.retrieval.index import current_index_dir

# Imported where used, not here (slow to load; most callers of this module never need them): matplotlib.


@dataclass(frozen=True)
class Piece:
    text: str
    entity: str = ""  # the entity label when this piece is an entity mention


@dataclass(frozen=True)
class SentenceView:
    index: int
    start: int
    end: int
    pieces: tuple[Piece, ...]
    gap: str = ""  # the text between the previous sentence and this one (blank lines, spaces)


@dataclass(frozen=True)
class PassageContext:
    """An evidence sentence inside its neighbours, as stored in the corpus."""

    before: str
    sentence: str
    after: str
    sentence_index: int
    quotes: tuple[tuple[str, str], ...]  # (speaker, content) of quotes overlapping the context


def store_problem(store: Path) -> str | None:
    """A sentence for the page when the store or its index cannot serve, else None."""
    corpus = Corpus(store)
    if not corpus.exists():
        return (f"No corpus store at {store}: build it with `make index` (or `claimsift ingest seeds "
                f"--store {store}`). Evidence context, documents and checks need it.")
    index = current_index_dir(store)
    if index is None:
        return f"The store at {store} has no evidence index: build it with `claimsift index --store {store}`."

    try:
        count = json.loads((index / "manifest.json").read_text()).get("count")
        with read_only_sqlite(corpus.db_path) as connection:
            sentences = connection.execute("SELECT COUNT(*) FROM sentences").fetchone()[0]
    except (OSError, ValueError, sqlite3.Error) as exc:
        return f"The store at {store} cannot be read ({exc}); rebuild it with `make index`."
    if count != sentences:
        return (f"The evidence index of {store} is stale ({count} sentences indexed, {sentences} in the store): "
                f"update it with `claimsift index --store {store}`.")
    return None


def document_sentences(corpus: Corpus, doc_id: str, text: str) -> list[SentenceView]:
    """The document as its sentences, each cut at its entity mentions (offsets from the store)."""
    sentences = corpus.sentences(doc_id)
    entities = corpus.entities(doc_id).sort_values("start")
    mentions = list(zip(entities["start"].tolist(), entities["end"].tolist(), entities["label"].tolist()))
    out: list[SentenceView] = []
    previous_end = 0
    for row in sentences.itertuples(index=False):
        start, end = int(row.start), int(row.end)
        pieces: list[Piece] = []
        at = start
        for m_start, m_end, label in mentions:
            if m_start < at or m_end > end:
                continue  # outside this sentence, or overlapping a mention already drawn
            if m_start > at:
                pieces.append(Piece(text[at:m_start]))
            pieces.append(Piece(text[m_start:m_end], label))
            at = m_end
        if at < end:
            pieces.append(Piece(text[at:end]))
        out.append(SentenceView(int(row.index), start, end, tuple(pieces), text[previous_end:start]))
        previous_end = end
    return out


def passage_context(corpus: Corpus, doc_id: str, start: int, end: int) -> PassageContext | None:
    """The stored sentence at ``start:end`` with the sentences on either side, or None when the
    document is no longer in the store (re-ingested since the scores were made)."""
    try:
        document = corpus.document(doc_id)
    except Exception:  # UserError for a missing document; a broken store is reported elsewhere
        return None
    sentences = corpus.sentences(doc_id)
    rows = list(sentences.itertuples(index=False))
    at = next((i for i, r in enumerate(rows) if int(r.start) == start), None)
    if at is None:
        return None
    first = rows[max(at - 1, 0)]
    last = rows[min(at + 1, len(rows) - 1)]
    text = document.text
    ctx_start, ctx_end = int(first.start), int(last.end)
    quotes = corpus.quotes(doc_id)
    inside = quotes[(quotes["start"] < ctx_end) & (quotes["end"] > ctx_start)]
    return PassageContext(text[ctx_start:start] if at > 0 else "", text[start:end],
                          text[end:ctx_end] if at + 1 < len(rows) else "", int(rows[at].index),
                          tuple(zip(inside["speaker"].tolist(), inside["content"].tolist())))


def entities_by_type(corpus: Corpus, top: int = 12) -> dict[str, list[tuple[str, int]]]:
    entities = corpus.entities()
    grouped: dict[str, Counter] = defaultdict(Counter)
    for text, label in zip(entities["text"].tolist(), entities["label"].tolist()):
        grouped[label][" ".join(text.split())] += 1
    order = sorted(grouped, key=lambda label: -sum(grouped[label].values()))
    return {label: grouped[label].most_common(top) for label in order}


def quotes_by_speaker(corpus: Corpus) -> dict[str, list[tuple[str, str]]]:
    """speaker -> [(doc_id, content)], most quoted first."""
    quotes = corpus.quotes()
    grouped: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for speaker, doc_id, content in zip(quotes["speaker"].tolist(), quotes["doc_id"].tolist(),
                                        quotes["content"].tolist()):
        grouped[speaker].append((doc_id, content))
    return dict(sorted(grouped.items(), key=lambda item: (-len(item[1]), item[0])))


def timeline_svg(published: list[str | None]) -> str:
    """Documents per publication month as an SVG bar chart (undated ones counted in the title)."""
    import matplotlib

    matplotlib.use("Agg")  # no display on a server
    import matplotlib.pyplot as plt

    dated = sorted(p[:7] for p in published if isinstance(p, str) and len(p) >= 7)
    counts = Counter(dated)
    undated = sum(1 for p in published if not (isinstance(p, str) and len(p) >= 7))
    figure, axes = plt.subplots(figsize=(7, 2.4), dpi=96)
    try:
        if counts:
            months = sorted(counts)
            axes.bar(range(len(months)), [counts[m] for m in months], color="#3b6ea5")
            axes.set_xticks(range(len(months)), months, rotation=45, ha="right", fontsize=8)
        else:
            axes.text(0.5, 0.5, "no dated documents", ha="center", va="center", transform=axes.transAxes)
            axes.set_xticks([])
        axes.set_ylabel("documents")
        axes.yaxis.get_major_locator().set_params(integer=True)  # type: ignore[call-arg]  # an AutoLocator takes it
        axes.set_title(f"Publication dates ({len(dated)} dated, {undated} undated)", fontsize=10)
        axes.spines[["top", "right"]].set_visible(False)
        figure.tight_layout()
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg")
        return buffer.getvalue()
    finally:
        plt.close(figure)
