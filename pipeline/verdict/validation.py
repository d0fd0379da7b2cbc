"""What a claim must be before it is checked: text with words, of bounded length, without terminal
control sequences, in English (a claim surely in another language is refused, naming it). Also the
check's settings (``before``, ``top_k``), refused alike from the command line and from Python."""
from __future__ import annotations

import datetime as dt
import re
import sys
from numbers import Integral

import numpy as np

from pipeline.core.errors import UserError
from pipeline.corpus.language import LanguageGuess, surely_not_english

MAX_CLAIM_CHARS = 1000
MAX_TOP_K = 50


# Terminal escape sequences (colours, cursor moves, titles) and other control or bidi-override
# characters: printed raw they rewrite the terminal, and read as text they change the verdict.
TERMINAL_ESCAPE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]?|\x9b[0-?]*[ -/]*[@-~]")


CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


SURROGATE = re.compile("[\ud800-\udfff]")
URL = re.compile(r"https?://\S+|www\.\S+")


WORD = re.compile(r"[^\W\d_]{2,}")
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# What ``check_claims`` and ``Checker.check_many`` expect, as their refusals name it.
CLAIMS = "claims (check_claim checks one)"


class InvalidClaimError(UserError):
    pass


def claim_as_checked(text: str) -> str:
    """A claim's text as the checker reads it: terminal escape sequences removed, other control and
    bidi-override characters made spaces, runs of whitespace one space. Also what a score output's
    claim ``text`` holds, so that no ESC or NUL of a post reaches a terminal, a spreadsheet or the
    review desk through it."""
    return " ".join(CONTROL.sub(" ", TERMINAL_ESCAPE.sub("", text)).split())


def other_language(text: str) -> LanguageGuess | None:
    """The language of a text (a claim, a post) as checked (``claim_as_checked``) when it is surely not
    English, else None (unsure, or no words: ``pipeline.corpus.language.surely_not_english``)."""
    words = WORD.findall(URL.sub(" ", text))
    return surely_not_english(text, len(words)) if words else None


def validate_claim(claim: object) -> str:
    """The claim, stripped; raise InvalidClaimError with a reason a person can act on."""
    if not isinstance(claim, str):
        raise InvalidClaimError(f"a claim must be text, got {type(claim).__name__}")
    text = claim_as_checked(claim)
    if not text:
        raise InvalidClaimError("the claim is empty")
    broken = SURROGATE.search(text)
    if broken:  # a shell argument with bytes that are not UTF-8 arrives so; no UTF-8 writer takes it
        code = ord(broken.group())
        what = f"byte 0x{code - 0xDC00:02x}, not UTF-8" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}, half a pair"
        raise InvalidClaimError(f"the claim holds an invalid character ({what}) at character {broken.start() + 1}")
    if len(text) > MAX_CLAIM_CHARS:
        raise InvalidClaimError(
            f"the claim is {len(text):,} characters; one claim is at most {MAX_CLAIM_CHARS:,}. Split the text "
            "into statements, or run `claimsift score` on it, which finds the check-worthy claims itself"
        )
    if not WORD.search(URL.sub(" ", text)):
        raise InvalidClaimError("the claim has no words to check (only emoji, URLs, numbers or symbols)")
    other = other_language(text)
    if other is not None:
        raise InvalidClaimError(f"the claim is in another language ({other.language}, confidence "
                                f"{other.confidence:.2f}); the corpus models are English-only")
    return text


def refuse_single_string(values: object, what: str = CLAIMS) -> None:
    """A UserError where one str is given for a sequence of ``what``: a str is a sequence too, and
    taken for one each of its characters was checked (or scored) alone."""
    if isinstance(values, str):
        raise UserError(f"expected a sequence of {what}, not a single string")


def refuse_data_frame(values: object, what: str = CLAIMS, column: str = "claim") -> None:
    """A UserError where a pandas DataFrame is given for a sequence of ``what``: iterated, a
    DataFrame gives its column names, so the header was checked and the rows never were. The
    message names the frame's only column, else ``column``, as the one to pass."""
    pandas = sys.modules.get("pandas")  # not imported: then it cannot be a DataFrame
    if pandas is not None and isinstance(values, pandas.DataFrame):
        columns = list(values.columns)
        example = columns[0] if len(columns) == 1 else column
        raise UserError(f"expected a sequence of {what}, not a DataFrame; pass the column that holds them, "
                        f"e.g. df[{example!r}]")


def valid_before(value: object, name: str = "before") -> str | None:
    """The date cut-off as YYYY-MM-DD (None: no cut-off); a UserError naming ``name`` (``--before``
    on the command line) otherwise. Unchecked, a string that is not a date filtered nothing.
    A ``datetime.date``, ``datetime.datetime`` or pandas ``Timestamp`` is taken as its date."""
    if value is None:
        return None
    if isinstance(value, np.datetime64):  # as a DataFrame column's .values gives it
        if np.isnat(value):
            raise UserError(f"{name} {value!r} is a missing date; give None for no cut-off")
        return str(value.astype("datetime64[D]"))
    if isinstance(value, dt.date):  # a datetime and a pandas Timestamp are dates too
        if value != value:  # pandas' NaT: a missing date, whose isoformat() is "NaT"
            raise UserError(f"{name} {value!r} is a missing date; give None for no cut-off")
        date = value.date() if isinstance(value, dt.datetime) else value
        return date.isoformat()
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value).isoformat()
        except ValueError as exc:
            if ISO_DATE.fullmatch(value):  # the form is right: the month or the day is not
                raise UserError(f"{name} {value!r} is not a real date ({exc})") from None
    raise UserError(f"{name} {value!r} is not a date in the form YYYY-MM-DD")


def valid_top_k(value: object, name: str = "top_k") -> int:
    """The number of evidence passages per claim, 1 to ``MAX_TOP_K``; a UserError naming ``name``
    otherwise. Unchecked, 0 meant the default and a negative or fractional number every sentence."""
    # Integral: a NumPy integer from a notebook's range is as good as an int; True is not a count.
    if isinstance(value, Integral) and not isinstance(value, bool) and 1 <= int(value) <= MAX_TOP_K:
        return int(value)
    raise UserError(f"{name} {value!r} is not a whole number from 1 to {MAX_TOP_K}")
