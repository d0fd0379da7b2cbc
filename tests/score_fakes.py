"""A tiny deterministic scorer for testing the scoring job's machinery without the models.

It plays the part of ``ModelScorer``: sentences with a digit or a claim word are "claims", the
verdict and evidence derive from the claim text alone, so two runs give identical output.
"""
from __future__ import annotations

import hashlib
import os
import re
import time
from typing import Sequence

from pipeline.scoring.models import ModelScorer

SENTENCE = re.compile(r"\S.*?(?:[.!?](?=\s|$)|$)", re.S)
CLAIM_HINT = re.compile(r"\d|\b(?:says|said|expel|spends?|became|percent|million)\b", re.I)
VERDICTS = ("SUPPORTED", "REFUTED", "NOT_ENOUGH_INFO", "CONFLICTING")

# Five posts for the fake scorers: three hold a claim (a number, a report of words), two do not.
POSTS = [
    {"id": "a1", "text": "NATO has 32 members. Lovely day."},
    {"id": "a2", "text": "Good morning!"},
    {"id": "a3", "text": "Poland spends 4.12% of GDP on defence."},
    {"id": "a4", "text": "Rutte said he would expel the US."},
    {"id": "a5", "text": "No numbers here at all"},
]


class KeywordScorer:
    def __init__(self, delay_per_post: float = 0.0, warm_up_log: str | None = None) -> None:
        self.delay_per_post = delay_per_post
        self.warm_up_log = warm_up_log  # a file that gets one line per warm_up (per process)
        self._warm = False

    def __getstate__(self) -> dict:
        return self.__dict__ | {"_warm": False}

    def fingerprint(self) -> dict:
        return {"scorer": "KeywordScorer"}

    def warm_up(self) -> None:
        if self._warm:
            return
        if self.warm_up_log:
            with open(self.warm_up_log, "a") as handle:
                handle.write(f"{os.getpid()}\n")
        self._warm = True

    def score_posts(self, texts: Sequence[str]) -> list[dict]:
        self.warm_up()
        out = []
        for text in texts:
            if self.delay_per_post:
                time.sleep(self.delay_per_post)
            claims = []
            for match in SENTENCE.finditer(text):
                sentence, start = match.group(), match.start()
                if not CLAIM_HINT.search(sentence):
                    continue
                digest = int(hashlib.sha256(sentence.encode()).hexdigest(), 16)
                claims.append({
                    "text": sentence, "start": start, "end": start + len(sentence),
                    "checkworthiness": round(0.5 + (digest % 500) / 1000, 4),
                    "verdict": VERDICTS[digest % 4], "confidence": round((digest % 1000) / 1000, 4),
                    "needs_review": (digest % 1000) / 1000 < 0.45,
                    "evidence": [{"doc_id": f"doc{digest % 7}", "source": "test", "title": "t",
                                  "published": None, "url": f"https://example.org/doc{digest % 7}",
                                  "sentence": sentence[::-1], "start": 0, "end": len(sentence),
                                  "stance": "SUPPORTS", "stance_probs": {"SUPPORTS": 0.7, "REFUTES": 0.2,
                                                                         "NOT_ENOUGH_INFO": 0.1},
                                  "score": 0.5, "decisive": True}],
                    "fact_checks": [{"id": f"fc{digest % 5}", "claim": sentence.upper(), "rating": "False",
                                     "verdict": "REFUTED", "publisher": "test", "url": "https://example.org",
                                     "date": None, "similarity": 0.9}] if digest % 2 else [],
                })
            score = max((c["checkworthiness"] for c in claims), default=0.1)
            out.append({"checkworthiness": score, "claims": claims})
        return out


class RefusingKeywordScorer(KeywordScorer):
    """KeywordScorer that refuses the posts starting with "REFUSE" as ``ModelScorer`` refuses a post in
    another language: ``{"rejected": reason}`` in its place."""

    def score_posts(self, texts: Sequence[str]) -> list[dict]:
        scored = iter(super().score_posts([t for t in texts if not t.startswith("REFUSE")]))
        return [{"rejected": "refused by the scorer"} if t.startswith("REFUSE") else next(scored) for t in texts]


class EmptyScorer:
    """Finds no claim in any post: the cost of the job's own machinery (read, chunk, write)."""

    def fingerprint(self) -> dict:
        return {"scorer": "EmptyScorer"}

    def warm_up(self) -> None:
        pass

    def score_posts(self, texts: Sequence[str]) -> list[dict]:
        return [{"checkworthiness": 0.0, "claims": []} for _ in texts]


def real_models_missing() -> str | None:
    """Why the shipped models cannot run here (a skip reason), or None when they can."""
    from pipeline.registry.registry import Registry
    from pipeline.stance.model import StanceModel

    registry = Registry()
    for spec in ("checkworthy", StanceModel("stance").resolve_spec()):
        try:
            registry.resolve(spec)
        except FileNotFoundError as exc:
            return f"needs the shipped models: {exc}"
    return None


class PinnedKeywordScorer(ModelScorer):
    """ModelScorer's pinning and fingerprint with KeywordScorer's scores: no model loads.
    ``fail_on_chunk``: raise on that chunk, as a crash mid-run."""

    fail_on_chunk: int | None = None
    chunks = 0

    def score_posts(self, texts):
        self.chunks += 1
        if self.chunks == self.fail_on_chunk:
            raise RuntimeError("killed")
        return KeywordScorer().score_posts(texts)
