"""Which language a text is in, from lingua's language identifier (`lingua-language-detector`),
whose models ship inside its wheel: nothing is downloaded.

The corpus models are English-only, so a claim in another language is refused, but only when
the identifier is sure: a claim the identifier is unsure about is checked (a false refusal
costs the user an answer; checking a French claim costs only a poor one). How often each
happens is measured by ``bench/bench_language.py`` on every English claim of the shared data
and on non-English sentences (``bench/results/language.json``).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

# Refuse only when another language has at least this share of the identifier's confidence,
# and the text has at least MIN_WORDS words (shorter texts, names and hashtags are too little
# to tell). Chosen before measuring, not tuned on the figures the bench reports.
REFUSE_CONFIDENCE = 0.9
MIN_WORDS = 3


@dataclass(frozen=True)
class LanguageGuess:
    language: str  # ISO 639-1 code, e.g. "en", "de"
    confidence: float  # the identifier's confidence in that language, 0..1
    english: float  # its confidence in English


@functools.lru_cache(maxsize=1)
def _detector():
    # Imported and built lazily, once: only claims need it. Low-accuracy mode (trigram models):
    # 0.3 s to load and ~110 MB, against 6 s and ~900 MB for the high-accuracy mode's larger
    # n-gram models, which a batch-scoring worker would pay too.
    from lingua import LanguageDetectorBuilder

    return LanguageDetectorBuilder.from_all_languages().with_low_accuracy_mode().build()


def guess_language(text: str) -> LanguageGuess | None:
    """The most likely language of ``text``, or None when the identifier cannot tell."""
    values = _detector().compute_language_confidence_values(text)
    if not values or values[0].value <= 0:
        return None
    english = next((v.value for v in values if v.language.name == "ENGLISH"), 0.0)
    top = values[0]
    return LanguageGuess(top.language.iso_code_639_1.name.lower(), float(top.value), float(english))


def surely_not_english(text: str, words: int) -> LanguageGuess | None:
    """The guess when ``text`` (of ``words`` words) is surely in another language; None when it
    is English or the identifier is unsure ("when unsure, check the claim")."""
    if words < MIN_WORDS:
        return None
    guess = guess_language(text)
    if guess is None or guess.language == "en" or guess.confidence < REFUSE_CONFIDENCE:
        return None
    return guess
