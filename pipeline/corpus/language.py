"""Which language a claim is in, from lingua's language identifier (`lingua-language-detector`),
whose models ship inside its wheel: nothing is downloaded.

The corpus models are English-only, so a claim in another language is refused, but only when
the identifier is sure: a claim the identifier is unsure about is checked (a false refusal
costs the user an answer; checking a French claim costs only a poor one). How often each
happens is measured by ``bench/bench_language.py`` on every English claim of the shared data
and on non-English sentences (``bench/results/language.json``).
"""
from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

# Imported where used, not here (slow to load; most callers of this module never need them): lingua.

# Refuse only when both passes give one other language at least this share of their confidence
# (sure of which language it is, not only that it is not English: "Seohyun is a dog." is 0.17
# Indonesian), and the text has at least MIN_WORDS words (shorter texts, names and hashtags are too little to
# tell). Set before measuring; the second pass was added after reading the first pass's false
# refusals on the even-numbered half of the English claims (the bench reports both halves).
REFUSE_CONFIDENCE = 0.9
MIN_WORDS = 3
# English is written in the Latin alphabet: a text whose letters are mostly of other scripts is
# another language, whatever its length.
MIN_LATIN_SHARE = 0.5


# Links, @handles and #hashtags are no language: left out of what the identifier reads.
NOT_LANGUAGE = re.compile(r"https?://\S+|www\.\S+|\S+\.\S+/\S*|[@#]\w+")


@dataclass(frozen=True)
class LanguageGuess:
    language: str  # ISO 639-1 code of the most likely language, e.g. "de"
    confidence: float  # the identifier's confidence in that language, 0..1
    english: float = 0.0  # its confidence in English


@functools.lru_cache(maxsize=1)
def _first_pass():
    # Imported and built lazily, once: only claims need it. Low-accuracy mode (trigram models):
    # 0.3 s to load and ~110 MB, 1-2 ms a claim; it mistakes about 3% of English claims (short,
    # full of names: "Seohyun is a dog.") for another language, so it only proposes.
    from lingua import LanguageDetectorBuilder

    return LanguageDetectorBuilder.from_all_languages().with_low_accuracy_mode().build()


@functools.lru_cache(maxsize=1)
def _second_pass():
    # High-accuracy mode (1- to 5-gram models) over the Latin-script languages: ~0.8 GB once
    # loaded, so it is built only when the first pass proposes another language for a claim in
    # Latin script, which is rare for English input.
    from lingua import Language, LanguageDetectorBuilder

    return LanguageDetectorBuilder.from_languages(*Language.all_with_latin_script()).build()


def warm_up() -> None:
    """Load both passes now (about 5 s and 0.9 GB once): a batch job that reads the language of every
    post loads them where it loads its models, not inside its first chunk's time. lingua reads its
    models at the first text a detector is given, not when it is built."""
    for detector in (_first_pass, _second_pass):
        detector().compute_language_confidence_values("Die Strompreise sind gesunken, sagt der Verband.")


def _top(detector, text: str) -> LanguageGuess | None:
    values = detector.compute_language_confidence_values(text)
    if not values or values[0].value <= 0:
        return None
    english = next((v.value for v in values if v.language.name == "ENGLISH"), 0.0)
    return LanguageGuess(values[0].language.iso_code_639_1.name.lower(), float(values[0].value), float(english))


def latin_share(text: str) -> float:
    """The share of the letters of ``text`` that are Latin (1.0 for a text without letters)."""
    letters = [char for char in text if char.isalpha()]
    if not letters:
        return 1.0
    return sum(char.isascii() or unicodedata.name(char, "").startswith("LATIN") for char in letters) / len(letters)


def surely_not_english(text: str, words: int) -> LanguageGuess | None:
    """The language of ``text`` (of ``words`` words) when it is surely not English; None when it
    is English or the identifier is unsure ("when unsure, check the claim")."""
    text = " ".join(NOT_LANGUAGE.sub(" ", text).split())
    if latin_share(text) < MIN_LATIN_SHARE:
        guess = _top(_first_pass(), text)
        return guess if guess is not None and guess.language != "en" else LanguageGuess("und", 1.0)
    if words < MIN_WORDS:
        return None
    for detector in (_first_pass, _second_pass):
        guess = _top(detector(), text)
        if guess is None or guess.language == "en" or guess.confidence < REFUSE_CONFIDENCE:
            return None
    return guess
