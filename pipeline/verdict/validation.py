"""What a claim must be before it is checked: text with words, of bounded length, without terminal
control sequences, in English (a claim surely in another language is refused, naming it)."""
from __future__ import annotations

import re

from pipeline.core.errors import UserError
from pipeline.corpus.language import surely_not_english

MAX_CLAIM_CHARS = 1000


# Terminal escape sequences (colours, cursor moves, titles) and other control or bidi-override
# characters: printed raw they rewrite the terminal, and read as text they change the verdict.
TERMINAL_ESCAPE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]?|\x9b[0-?]*[ -/]*[@-~]")


CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


SURROGATE = re.compile("[\ud800-\udfff]")
URL = re.compile(r"https?://\S+|www\.\S+")


WORD = re.compile(r"[^\W\d_]{2,}")


class InvalidClaimError(UserError):
    pass


def validate_claim(claim: object) -> str:
    """The claim, stripped; raise InvalidClaimError with a reason a person can act on."""
    if not isinstance(claim, str):
        raise InvalidClaimError(f"a claim must be text, got {type(claim).__name__}")
    text = " ".join(CONTROL.sub(" ", TERMINAL_ESCAPE.sub("", claim)).split())
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
    words = WORD.findall(URL.sub(" ", text))
    if not words:
        raise InvalidClaimError("the claim has no words to check (only emoji, URLs, numbers or symbols)")

    other = surely_not_english(text, len(words))
    if other is not None:
        raise InvalidClaimError(f"the claim is in another language ({other.language}, confidence "
                                f"{other.confidence:.2f}); the corpus models are English-only")
    return text
