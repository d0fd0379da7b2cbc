"""Quote extraction measured against a hand-checked fixture.

The fixture (``tests/data/quotes_gold.jsonl``) has one line per quote::

    {"doc": "001_….txt", "speaker": "Daniele Riggio", "content": "Secretary General Rutte has never said this",
     "cue": "said", "kind": "direct", "aliases": [], "occurrence": 1}

``content`` is text of the (NFKC-normalised) document; ``occurrence`` picks the n-th place where
it occurs when it occurs more than once. A found quote matches a gold quote of the same document
when their content spans overlap by at least half of the longer one (one-to-one, best overlap
first). Content precision/recall count matches; speaker precision/recall count matches whose
speaker is right too (case-, accent- and article-insensitive, or one of the gold ``aliases``).
The primary metric is the F1 of speaker-correct quotes.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from pipeline.core.errors import InputError
from pipeline.core.io import jsonl_lines, parse_object
from pipeline.core.types import Document
from pipeline.corpus.nlp import Analyser
from pipeline.corpus.readers import normalise

PRIMARY_METRIC = "speaker_f1"
MIN_OVERLAP = 0.5


@dataclass(frozen=True)
class GoldQuote:
    doc: str
    speaker: str
    content: str
    start: int
    end: int
    cue: str = ""
    kind: str = ""
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Scores:
    tp: int
    n_predicted: int
    n_gold: int

    @property
    def precision(self) -> float:
        return self.tp / self.n_predicted if self.n_predicted else 0.0

    @property
    def recall(self) -> float:
        return self.tp / self.n_gold if self.n_gold else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def to_dict(self) -> dict:
        return {"precision": round(self.precision, 4), "recall": round(self.recall, 4), "f1": round(self.f1, 4),
                "matched": self.tp, "predicted": self.n_predicted, "gold": self.n_gold}


@dataclass
class QuoteEvaluation:
    content: Scores
    speaker: Scores
    speaker_last_word: Scores  # lenient: the last word of the speaker agrees (`Rutte` for `Mark Rutte`)
    n_gold: int
    n_predicted: int
    missed: list[GoldQuote] = field(default_factory=list)
    spurious: list[dict] = field(default_factory=list)
    wrong_speaker: list[tuple[GoldQuote, dict]] = field(default_factory=list)
    extractor: str = "claimsift"

    @property
    def primary(self) -> float:
        return self.speaker.f1

    def error_lines(self) -> list[str]:
        lines = [f"missed  {g.doc} [{g.speaker}] {g.content[:100]!r}" for g in self.missed]
        lines += [f"spurious {p['doc']} [{p['speaker']}] {p['content'][:100]!r}" for p in self.spurious]
        lines += [f"speaker {g.doc} gold [{g.speaker}] found [{p['speaker']}] {g.content[:80]!r}"
                  for g, p in self.wrong_speaker]
        return lines

    def to_dict(self, errors: bool = False) -> dict:
        out = {"extractor": self.extractor, "primary_metric": PRIMARY_METRIC, PRIMARY_METRIC: round(self.primary, 4),
               "content": self.content.to_dict(), "speaker": self.speaker.to_dict(),
               "speaker_last_word": self.speaker_last_word.to_dict(),
               "gold": self.n_gold, "predicted": self.n_predicted}
        if errors:
            out["errors"] = self.error_lines()
        return out


def fold_speaker(name: str) -> str:
    text = "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c)).casefold()
    text = re.sub(r"(’s|'s)\b", "", text)
    text = re.sub(r"^(the|a|an)\s+", "", text.strip())
    return re.sub(r"\s+", " ", text).strip(" .,")


def read_gold(path: Path, seeds: Path) -> list[GoldQuote]:
    texts: dict[str, str] = {}
    out: list[GoldQuote] = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip() or line.lstrip().startswith("//"):
                continue
            record, problem = parse_object(line)
            if record is None:
                raise InputError(path, problem or "not a JSON object", row=number)
            for key in ("doc", "speaker", "content"):
                if not record.get(key):
                    raise InputError(path, f"missing `{key}`", row=number)
            doc = record["doc"]
            if doc not in texts:
                file = seeds / doc
                if not file.is_file():
                    raise InputError(path, f"document {doc} not found in {seeds}", row=number)
                texts[doc] = normalise(file.read_text(encoding="utf-8"))
            text = texts[doc]
            content = unicodedata.normalize("NFKC", record["content"])
            start = -1
            for _ in range(int(record.get("occurrence", 1))):
                start = text.find(content, start + 1)
                if start < 0:
                    raise InputError(path, f"content not found in {doc}: {content[:60]!r}", row=number)
            out.append(GoldQuote(doc=doc, speaker=record["speaker"], content=content, start=start,
                                 end=start + len(content), cue=record.get("cue", ""), kind=record.get("kind", ""),
                                 aliases=tuple(record.get("aliases", ()))))
    return out


def score(gold: list[GoldQuote], predicted: list[dict], extractor: str = "claimsift") -> QuoteEvaluation:
    """Match predicted quotes (dicts with doc, speaker, content, start, end) to the gold ones."""
    pairs = []
    for gi, g in enumerate(gold):
        for pi, p in enumerate(predicted):
            if p["doc"] != g.doc:
                continue
            overlap = min(g.end, p["end"]) - max(g.start, p["start"])
            longer = max(g.end - g.start, p["end"] - p["start"])
            if overlap > 0 and overlap >= MIN_OVERLAP * longer:
                pairs.append((overlap / longer, gi, pi))
    pairs.sort(reverse=True)
    gold_match: dict[int, int] = {}
    used: set[int] = set()
    for _, gi, pi in pairs:
        if gi in gold_match or pi in used:
            continue
        gold_match[gi] = pi
        used.add(pi)
    right_speaker = right_last_word = 0
    wrong: list[tuple[GoldQuote, dict]] = []
    for gi, pi in gold_match.items():
        g, p = gold[gi], predicted[pi]
        accepted = {fold_speaker(g.speaker)} | {fold_speaker(a) for a in g.aliases}
        found = fold_speaker(p["speaker"])
        if found in accepted:
            right_speaker += 1
        else:
            wrong.append((g, p))
        if found in accepted or (found.split() and found.split()[-1] in {a.split()[-1] for a in accepted if a}):
            right_last_word += 1
    return QuoteEvaluation(
        content=Scores(len(gold_match), len(predicted), len(gold)),
        speaker=Scores(right_speaker, len(predicted), len(gold)),
        speaker_last_word=Scores(right_last_word, len(predicted), len(gold)),
        n_gold=len(gold), n_predicted=len(predicted),
        missed=[g for gi, g in enumerate(gold) if gi not in gold_match],
        spurious=[p for pi, p in enumerate(predicted) if pi not in used],
        wrong_speaker=wrong, extractor=extractor)


def claimsift_quotes(docs: dict[str, str]) -> list[dict]:
    analyser = Analyser()
    out = []
    documents = [Document(doc_id=name, text=text, name=name) for name, text in docs.items()]
    for analysed in analyser.analyse_many(documents):
        for q in analysed.quotes:
            out.append({"doc": analysed.document.name, "speaker": q.speaker, "content": q.content,
                        "start": q.start, "end": q.end, "cue": q.cue, "kind": q.kind})
    return out


def read_predictions(path: Path) -> list[dict]:
    """Quotes found by another extractor (one JSON object a line: doc, speaker, content, start, end)."""
    out = []
    for number, record, problem in jsonl_lines(path):
        if record is None:
            raise InputError(path, problem or "not a JSON object", row=number)
        missing = [k for k in ("doc", "speaker", "content", "start", "end") if k not in record]
        if missing:
            raise InputError(path, f"missing {', '.join(missing)}", row=number)
        out.append(record)
    return out


def evaluate_quotes(gold_path: Path, seeds: Path = Path("seeds"),
                    extract: Callable[[dict[str, str]], list[dict]] = claimsift_quotes,
                    extractor: str = "claimsift", predictions: Path | None = None,
                    kinds: tuple[str, ...] = ()) -> QuoteEvaluation:
    """Score claimsift's quotes (or the quotes in a ``predictions`` file) against the fixture;
    ``kinds`` restricts the gold to some kinds (e.g. ``direct colon`` for an extractor that
    only finds quotations in quotation marks)."""

    gold_path, seeds = Path(gold_path), Path(seeds)
    if not gold_path.is_file():
        raise InputError(gold_path, "no such gold file")
    gold = read_gold(gold_path, seeds)
    if kinds:
        gold = [g for g in gold if g.kind in kinds]
    if predictions is not None:
        return score(gold, read_predictions(Path(predictions)), extractor=str(predictions))
    names = sorted({g.doc for g in gold} | {p.name for p in seeds.glob("*.txt")})
    docs = {name: normalise((seeds / name).read_text(encoding="utf-8")) for name in names}
    found = extract(docs)
    if kinds:
        found = [q for q in found if q.get("kind") in kinds]
    return score(gold, found, extractor=extractor)
