"""The layout of a normalised text: where its lines and paragraphs break, the marks that end a sentence
and the quotation marks."""
from __future__ import annotations

import re
from bisect import bisect_right
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass


_NEWLINES = re.compile(r"[ \t]*\n[\s]*")


def layout_breaks(text: str) -> list[tuple[int, int]]:
    """Character spans of the newline runs that end a sentence.

    A blank line always does. A single newline does too (one-paragraph-per-line text and
    heading lines), except where it plainly wraps prose: the line before ends in a lowercase
    letter or comma and the next line starts with a lowercase letter.
    """
    breaks = []
    for match in _NEWLINES.finditer(text):
        start, end = match.span()
        if end >= len(text) or start == 0:
            continue
        if match.group().count("\n") == 1:
            before = text[start - 1]
            after = text[end]
            if (before.islower() or before == ",") and after.islower():
                continue
        breaks.append((start, end))
    return breaks


def paragraph_of(breaks: list[tuple[int, int]], offset: int) -> int:
    """Index of the paragraph (break-separated block) that contains a character offset."""
    return bisect_right([end for _, end in breaks], offset)


SENTENCE_END = set('.!?…:;"”’)')


DOUBLE_MARKS = '"“”'


MARKS = DOUBLE_MARKS + "‘’"
