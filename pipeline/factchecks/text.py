"""The text of a post or a fact-check as the matcher reads it: posts normalised (links, signatures, hashtags
split, emoji dropped), duplicate keys, and the word, number and name sets its features compare."""
from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Sequence

# Imported where used, not here (slow to load; most callers of this module never need them): bm25s.

_URL = re.compile(r"(?:https?://|www\.|pic\.twitter\.com/)\S+", re.I)


_SIGNATURE = re.compile(r"[—–]\s*([^—–()\n]{0,80}?)\s*\(@(\w{1,30})\)\s*(?:[A-Z][a-z]+ \d{1,2}, \d{4})?\s*$")


_TAG = re.compile(r"(?<![\w])([#@])(\w+)")


_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|(?<=[A-Za-z])(?=\d)|(?<=\d)(?=[A-Za-z])")


_SPACES = re.compile(r"\s+")


def split_camel(word: str) -> str:
    return _CAMEL.sub(" ", word.replace("_", " ")).strip()


def _strip_emoji(text: str) -> str:
    return "".join(" " if unicodedata.category(c) in ("So", "Sk", "Cs", "Co") or c in "\ufe0f\u200d" else c
                   for c in text)


def normalise_post(text: str) -> str:
    """A social post as plain words: URLs and emoji out, hashtags and handles split into words."""
    text = unicodedata.normalize("NFKC", text or "")
    text = _URL.sub(" ", text)
    signature = _SIGNATURE.search(text)
    if signature:
        name, handle = signature.group(1).strip(), split_camel(signature.group(2))
        same = re.sub(r"\W", "", name).lower() == re.sub(r"\W", "", handle).lower()
        text = f"{text[:signature.start()]} {name} {'' if same else handle}"
    text = _TAG.sub(lambda m: f" {split_camel(m.group(2))} ", text)
    return _SPACES.sub(" ", _strip_emoji(text)).strip()


def duplicate_key(claim: str) -> str:
    """Claims that differ only in case, punctuation, spacing or quote style share a key."""
    return re.sub(r"[^0-9a-z]", "", unicodedata.normalize("NFKC", claim).lower())


def tokenise(texts: Sequence[str], stemmer) -> list[list[str]]:
    import bm25s

    return bm25s.tokenize(list(texts), stopwords="en", stemmer=stemmer, return_ids=False, show_progress=False)


_WORD = re.compile(r"[a-z0-9]+")


_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")


_NAME = re.compile(r"\b[A-Z][a-zA-Z]+")


_STOP = frozenset("the a an of to in and or is are was were be for on at by with that this it as from he she they "
                  "we you i his her their its not no but".split())


def content_words(text: str) -> frozenset[str]:
    return frozenset(w for w in _WORD.findall(text.lower()) if w not in _STOP)


def numbers_in(text: str) -> frozenset[str]:
    return frozenset(_NUMBER.findall(text))


def names_in(text: str) -> frozenset[str]:
    return frozenset(w.lower() for w in _NAME.findall(text))


def text_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]
