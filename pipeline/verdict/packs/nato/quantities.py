"""The NATO pack's number readers (``pipeline.verdict.packs.nato``), off by default.

How many members of a group meet a threshold: "23 NATO members spend at least 2% of GDP",
"nine allies are not at two per cent", "all NATO members have achieved the 2% target".

Stance models read such numbers poorly: stance@v4 takes "a record 23 members spending at or
above the 2% target" as support for "All NATO members meet the 2% target" (0.82). A count
statement is read here as the range of members that meet the threshold, and two statements
about the same threshold are compared as ranges: one inside the other supports, disjoint ranges
refute. Statements that fall short ("nine are not at 2%") count the members that meet it as the
group's size less that number; the size is the one the passage states ("out of the 32 NATO
members") or the corpus's usual one (``group_size_of``).
"""
from __future__ import annotations

import functools
import re
from collections import Counter
from dataclasses import dataclass
from typing import Iterable

from pipeline.lang.en import YEAR_MENTION, mention_pattern

UNITS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
         "sixteen seventeen eighteen nineteen").split()
TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50}
FRACTIONS = {"half": 1 / 2, "a third": 1 / 3, "one-third": 1 / 3, "one third": 1 / 3, "two-thirds": 2 / 3,
             "two thirds": 2 / 3, "a quarter": 1 / 4, "one-quarter": 1 / 4, "three-quarters": 3 / 4,
             "three quarters": 3 / 4}
NUMBER = (r"(?<![\d,.])\d{1,3}(?![\d,])|(?:twenty|thirty|forty|fifty)(?:[- ](?:one|two|three|four|five|six|seven|eight|nine))?|"
          r"eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|"
          r"one|two|three|four|five|six|seven|eight|nine|ten")
GROUP = (r"(?:(?:NATO|EU|allied|member|European)\s+)?(?:members?|allies|member states|member countries|countries|"
         r"nations|states)")
ALLIANCE = rf"(?:NATO|the alliance|the allies|{GROUP})"
# "2%", "2 percent", "two per cent"
THRESHOLD = re.compile(rf"\b({NUMBER}|\d+(?:\.\d+)?)\s*(?:%|per ?cent\b|percent\b)", re.IGNORECASE)
# Between a count and its threshold: the members fall short of it ...
SHORT_OF = re.compile(r"\b(?:not|never|fail\w*|fall\w* short|fell short|short of|below|less than|"
                      r"miss(?:es|ed|ing)?|yet to|lag\w*|behind)\b|n't\b", re.IGNORECASE)
# ... unless the words say the opposite or something else ("no less than 2%", "not counting the US").
NOT_SHORT_OF = re.compile(r"\b(?:no less than|no fewer than|not only|not just|not counting|not including)\b",
                          re.IGNORECASE)
# Between a count and its threshold, or just after it: the members meet, spend or fall short of
# it ("23 members spending at or above the 2% target", "nine are not at two per cent") ...
MEETING = re.compile(r"\b(?:spend\w*|spent|meet\w*|met|reach\w*|achiev\w*|hit|exceed\w*|surpass\w*|above|"
                     r"at least|at|fall\w* short|fell short|short of|below|less than|target|guideline|commitment|"
                     r"goal|benchmark|threshold)\b", re.IGNORECASE)
# ... and not that they pledged to, or changed their spending by that much.
NOT_MEETING = re.compile(r"\b(?:pledg\w*|commit\w* to|plan\w*|aim\w*|promis\w*|agreed to|vow\w*|intend\w*|"
                         r"want\w*|will|would|raised|increased|cut|boosted|grew|rose|by)\s*(?:\w+\s+){0,3}$",
                         re.IGNORECASE)
GROUP_QUALIFIER = re.compile(r"\b(NATO|EU|European)\b", re.IGNORECASE)

# The group's size stated outright: "out of the 32 NATO members", "the 32-nation alliance".
STATED_SIZE = re.compile(rf"\b(?:out of|of|among|all)\s+(?:the\s+|its\s+)?({NUMBER})(?:\s+{GROUP}\b|-(?:nation|member)\b)"
                         rf"|\b(?:the|a|its)\s+({NUMBER})-(?:nation|member)\b", re.IGNORECASE)

# Words that bound a number ("fewer than ten members", "at least 20 allies").
BOUND = (r"fewer than|less than|under|below|more than|over|above|at least|at most|up to|no more than|"
         r"no fewer than|nearly|almost|about|around|roughly|approximately|some")
# Count expressions, most specific first. Each names its kind.
PATTERNS = (
    ("all", re.compile(rf"\b(?:all|every|each)\s+(?:of\s+)?(?:the\s+|its\s+)?(?:(?:{NUMBER})\s+)?{GROUP}\b", re.IGNORECASE)),
    ("most", re.compile(rf"\b(?:most|the majority|a majority)\s+(?:of\s+)?(?:the\s+)?{ALLIANCE}\b", re.IGNORECASE)),
    ("fraction", re.compile(rf"\b({'|'.join(FRACTIONS)})\s+of\s+(?:the\s+)?(?:(?:{NUMBER})\s+)?{ALLIANCE}\b", re.IGNORECASE)),
    ("several", re.compile(rf"\b(?:several|a number of|many)\s+(?:key\s+|major\s+)?{GROUP}\b", re.IGNORECASE)),
    # "Among the allies, nine are not at …"
    ("number", re.compile(rf"\bamong\s+(?:the\s+)?{ALLIANCE},\s+(?:({BOUND})\s+)?({NUMBER})\s+(?:are|were|have|had|do|did|spend)\b",
                          re.IGNORECASE)),
    ("number", re.compile(rf"(?:\b({BOUND})\s+)?\b({NUMBER})\s+(?:of\s+the\s+(?:{NUMBER})\s+)?{GROUP}\b", re.IGNORECASE)),
)
# "Croatia, Portugal, Italy, … and Spain were the countries not meeting …": a closed list.
LISTED = re.compile(r"((?:[A-Z][\w.-]+(?:\s+[A-Z][\w.-]+)?,\s+){2,}[A-Z][\w.-]+(?:\s+[A-Z][\w.-]+)?,?\s+and\s+"
                    r"[A-Z][\w.-]+(?:\s+[A-Z][\w.-]+)?)\s+(?:were|are)\s+the\s+(?:only\s+)?(?:countries|allies|members|nations)\b")


def number_value(text: str) -> int | None:
    text = text.lower().replace(" ", "-")
    if text.isdigit():
        return int(text)
    if text in UNITS:
        return UNITS.index(text)
    head, _, unit = text.partition("-")
    if head in TENS:
        return TENS[head] + (UNITS.index(unit) if unit in UNITS else 0)
    return None


@dataclass(frozen=True)
class CountStatement:
    """Between ``low`` and ``high`` members of a group meet ``threshold`` (a percentage), or,
    where ``meet`` is False because the group's size is unknown, fall short of it."""

    low: int
    high: int
    threshold: float
    meet: bool = True

    def consistent_with(self, other: "CountStatement") -> bool | None:
        """True: ``other`` implies this statement; False: they cannot both hold; None: neither."""
        if self.threshold != other.threshold or self.meet != other.meet:
            return None
        if self.low <= other.low and other.high <= self.high:
            return True
        if other.high < self.low or self.high < other.low:
            return False
        return None


def group_size_of(texts: Iterable[str]) -> int | None:
    """The size the texts most often state for a group ("the 32 NATO members"), or None."""
    sizes: Counter[int] = Counter()
    for text in texts:
        for match in STATED_SIZE.finditer(text):
            value = number_value(match.group(1) or match.group(2))
            if value and value > 2:
                sizes[value] += 1
    return sizes.most_common(1)[0][0] if sizes else None


# Each claim is read against every passage, and the same passages against many claims.
@functools.lru_cache(maxsize=8192)
def count_statement(text: str, group_size: int | None = None) -> CountStatement | None:
    """The count statement of a sentence, or None when it makes none that can be compared."""
    size = group_size_of([text]) or group_size
    found = _count(text, size)
    if found is None:
        return None
    low, high, start, end = found
    if size is not None and high > size:
        return None  # "40 countries …": not members of this group
    threshold = THRESHOLD.search(text, end)
    if threshold is None:
        return None
    between = text[end:threshold.start()]
    if not MEETING.search(between + text[threshold.end():threshold.end() + 25]) or NOT_MEETING.search(between):
        return None
    value = number_value(threshold.group(1))
    percent = float(value) if value is not None else float(threshold.group(1))
    if not SHORT_OF.search(NOT_SHORT_OF.sub(" ", between)):
        return CountStatement(low, high, percent)
    if size is None:
        return CountStatement(low, high, percent, meet=False)
    return CountStatement(max(0, size - high), size - low, percent)


def bounded(value: int, bound: str | None, size: int | None) -> tuple[int, int]:
    """The range a bounded number allows: "fewer than ten" is 0-9, "nearly 20" 18-19."""
    top = size if size is not None else 10 ** 6
    bound = " ".join(bound.lower().split()) if bound else ""
    if bound in ("fewer than", "less than", "under", "below"):
        return 0, value - 1
    if bound in ("at most", "up to", "no more than"):
        return 0, value
    if bound in ("more than", "over", "above"):
        return value + 1, top
    if bound in ("at least", "no fewer than"):
        return value, top
    slack = max(1, round(0.1 * value))
    if bound in ("nearly", "almost"):
        return value - slack, value - 1
    if bound:  # about, around, roughly, approximately, some
        return value - slack, value + slack
    return value, value


def _count(text: str, size: int | None) -> tuple[int, int, int, int] | None:
    """(low, high, start, end of the expression) of the first count in ``text``. Counts relative
    to the group ("all", "most", "two-thirds") need its size."""
    stated = [m.span() for m in STATED_SIZE.finditer(text)]
    candidates = []
    if listed := LISTED.search(text):
        candidates.append((listed.start(), "listed", listed))
    for kind, pattern in PATTERNS:
        for match in pattern.finditer(text):
            # "out of the 32 NATO members" states the size, not a count.
            if kind == "number" and any(lo <= match.start(2) < hi for lo, hi in stated):
                continue
            candidates.append((match.start(), kind, match))
    if not candidates:
        return None
    _, kind, match = min(candidates, key=lambda candidate: candidate[0])
    start, end = match.span()
    if kind == "listed":
        names = re.split(r",\s+(?:and\s+)?|,?\s+and\s+", match.group(1))
        return len(names), len(names), start, end
    negated = bool(re.search(r"\bnot\s*$", text[:start], re.IGNORECASE))
    if negated and not (kind == "all" and size is not None):
        return None  # "not most members …" says too little to compare
    if kind == "number":
        value = number_value(match.group(2))
        return None if value is None else (*bounded(value, match.group(1), size), start, end)
    if size is None:
        return None
    if kind == "all":  # "not all members …": fewer than all
        return (0, size - 1, start, end) if negated else (size, size, start, end)
    if kind == "most":
        return size // 2 + 1, size, start, end
    if kind == "several":
        return 2, size, start, end
    share = round(FRACTIONS[match.group(1).lower()] * size)
    return share - 1, share + 1, start, end


def count_stance(claim: str, passage: str, probs: dict[str, float], group_size: int | None) -> dict[str, float]:
    """The stance of ``passage`` towards ``claim`` where both count the members that meet the
    same threshold; ``probs`` unchanged otherwise."""
    claimed = count_statement(claim, group_size)
    if claimed is None:
        return probs
    reported = count_statement(passage, group_size)
    if reported is None:
        return probs
    # Counts of another group ("EU members"), or of another year ("in 2014, only three allies
    # met the guideline") than the claim's, are not compared.
    groups = [{g.upper() for g in GROUP_QUALIFIER.findall(text)} & {"NATO", "EU"} for text in (claim, passage)]
    if all(groups) and not groups[0] & groups[1]:
        return probs
    if set(YEAR_MENTION.findall(passage)) - set(YEAR_MENTION.findall(claim)):
        return probs
    consistent = claimed.consistent_with(reported)
    if consistent is None:
        return probs
    return decided_stance(probs, "SUPPORTS" if consistent else "REFUTES")


def decided_stance(probs: dict[str, float], decided: str) -> dict[str, float]:
    """``decided`` at 0.9; the model's probabilities keep a tenth, so that of two passages the
    numbers decide alike, the one the model also reads that way ranks first."""
    total = sum(probs.values()) or 1.0
    return {label: 0.1 * p / total + (0.9 if label == decided else 0.0) for label, p in probs.items()}


# ---- how long someone held a post ------------------------------------------------------------
# "Jens Stoltenberg led NATO for only two years" against "Jens Stoltenberg, who over his ten-year
# tenure …": stance@v4 put the refutation at 0.50, under the threshold.
YEARS = rf"(?:({NUMBER})\s+years?|(a|one|two|three)\s+decades?)"
DURATION_BOUND = r"(?:(only|just|more than|over|nearly|almost|about|around|some|less than|under|fewer than)\s+)?"
# A claim that someone led or served for some years.
TENURE_CLAIM = re.compile(
    rf"\b(?:led|headed|ran|served|chaired|governed|ruled|was|been|held|remained|stayed)\b[^.;]{{0,80}}?\bfor\s+"
    rf"{DURATION_BOUND}{YEARS}", re.IGNORECASE)
# A passage that says how long a tenure was. Not "a four-year term", which may be one begun or
# one of several.
TENURE_PASSAGE = (
    re.compile(rf"\b({NUMBER})-year\s+(?:tenure|stint|reign|leadership|premiership)\b", re.IGNORECASE),
    re.compile(rf"\b(?:after|for|over)\s+(?:(more than|nearly|almost|over)\s+)?{YEARS}\s+"
               rf"(?:at the helm|in office|in charge|in power|as\b)", re.IGNORECASE),
    re.compile(r"\b(?:serv\w+|was|been|led|ruled|governed)\s+as\b[^.;]{0,60}?\bfrom\s+((?:19|20)\d\d)\s+(?:to|until)\s+"
               r"((?:19|20)\d\d)\b", re.IGNORECASE),
)
DECADES = {"a": 1, "one": 1, "two": 2, "three": 3}


@dataclass(frozen=True)
class Tenure:
    """A tenure of ``low`` to ``high`` years."""

    low: float
    high: float

    def consistent_with(self, other: "Tenure") -> bool | None:
        if self.low <= other.low and other.high <= self.high:
            return True
        if other.high < self.low or self.high < other.low:
            return False
        return None


def _years(number: str | None, decades: str | None) -> float | None:
    if decades:
        return 10.0 * DECADES[decades.lower()]
    return None if number is None else number_value(number)


def _bounded_years(match: re.Match) -> tuple[float, str] | None:
    """(years, bound word) of a match whose groups are (bound, number, decades)."""
    years = _years(match.group(2), match.group(3))
    return None if years is None else (years, (match.group(1) or "").lower())


@functools.lru_cache(maxsize=4096)
def claimed_tenure(claim: str) -> Tenure | None:
    match = TENURE_CLAIM.search(claim)
    found = _bounded_years(match) if match else None
    if match is None or found is None:
        return None
    years, bound = found
    if bound in ("more than", "over"):
        return Tenure(years + 0.5, float("inf"))
    if bound in ("less than", "under", "fewer than"):
        return Tenure(0.0, years - 0.5)
    if bound in ("nearly", "almost"):
        return Tenure(years - 1.5, years)
    # A year either way for a tenure counted in whole years ("from 2010 to 2024" is 13 to 14).
    slack = 1.5 if bound in ("about", "around", "some") or match.group(3) else 1.0
    return Tenure(years - slack, years + slack)


# The tenure is the subject's when the subject is named at most this far before it.
TENURE_REACH = 100


def reported_tenure(passage: str, subject: str) -> Tenure | None:
    """The tenure the passage gives for ``subject``, named just before it."""
    hyphenated, spelled, ranged = TENURE_PASSAGE
    for pattern in (hyphenated, spelled, ranged):
        for match in pattern.finditer(passage):
            before = passage[max(0, match.start() - TENURE_REACH):match.start()]
            if re.search(rf"\b{re.escape(subject)}\b", before, re.IGNORECASE) is None:
                continue
            if pattern is ranged:
                span = int(match.group(2)) - int(match.group(1))
                return Tenure(span - 1.0, span)  # "from 2010 to 2024": 13 to 14 years, by the months
            if pattern is hyphenated:
                stated = number_value(match.group(1))
                return None if stated is None else Tenure(stated, stated)
            found = _bounded_years(match)
            if found is None:
                return None
            years, bound = found
            if bound in ("more than", "over"):
                return Tenure(years + 0.5, float("inf"))
            return Tenure(years - 1.5, years) if bound else Tenure(years, years)
    return None


def tenure_stance(claim: str, passage: str, probs: dict[str, float], subject: str | None) -> dict[str, float]:
    """The stance of ``passage`` towards a claim that ``subject`` held a post for some years,
    where the passage names the subject just before saying how long the tenure was; ``probs``
    unchanged otherwise."""
    if subject is None:
        return probs
    claimed = claimed_tenure(claim)
    reported = reported_tenure(passage, subject) if claimed is not None else None
    consistent = claimed.consistent_with(reported) if claimed is not None and reported is not None else None
    return probs if consistent is None else decided_stance(probs, "SUPPORTS" if consistent else "REFUTES")


# ---- one member's share of GDP -------------------------------------------------------------
# "Poland spent 3% of its GDP on defence" against "Poland led NATO members in defense spending
# last year, allocating 4.12% of its GDP, followed by Estonia at 3.43%, …": stance@v4 read it as
# support (its numbers are close and its words the same).
PERCENT = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)\s*(?:%|per ?cent\b|percent\b)", re.IGNORECASE)
SHARE_BOUND = re.compile(r"\b(more than|over|above|at least|less than|under|below|at most|nearly|almost)\s+$",
                         re.IGNORECASE)
# Capitalised words that may stand between a member and its share without being another member.
NOT_A_MEMBER = frozenset({"nato", "gdp", "the", "a", "in"})
MAX_GAP_WORDS = 12


@functools.lru_cache(maxsize=4096)
def claimed_share(claim: str) -> tuple[float, float] | None:
    """The range of a GDP share the claim states ("3%": 2.5-3.5, "4.12%": exactly, "less than
    2%": below 2)."""
    if "gdp" not in claim.lower():
        return None
    match = PERCENT.search(claim)
    if match is None:
        return None
    value = float(match.group(1))
    bound = SHARE_BOUND.search(claim[:match.start()])
    kind = bound.group(1).lower() if bound else ""
    if kind in ("more than", "over", "above"):
        return value + 1e-9, float("inf")
    if kind == "at least":
        return value, float("inf")
    if kind in ("less than", "under", "below"):
        return 0.0, value - 1e-9
    if kind == "at most":
        return 0.0, value
    if kind in ("nearly", "almost"):
        return value - 0.5, value
    # A whole number is a rounded one; a decimal is read as written.
    slack = 0.5 if "." not in match.group(1) else 0.005
    return value - slack, value + slack


def reported_share(passage: str, names: Iterable[str]) -> float | None:
    """The GDP share the passage gives for the member ``names`` name: the first percentage after
    a mention with no other capitalised name between ("Estonia at 3.43%", "Poland …, allocating
    4.12% of its GDP")."""
    # "Poland, Estonia and the US …, at 4.12%, 3.43% and 3.38% respectively" pairs by order.
    if "gdp" not in passage.lower() or "respectively" in passage.lower():
        return None
    for name in names:
        for mention in mention_pattern(name).finditer(passage):
            share = PERCENT.search(passage, mention.end())
            if share is None:
                continue
            between = passage[mention.end():share.start()].split()
            others = [w for w in between if w[:1].isupper() and w.strip(",.;:").lower() not in NOT_A_MEMBER]
            if not others and len(between) <= MAX_GAP_WORDS:
                return float(share.group(1))
    return None


def share_stance(claim: str, passage: str, probs: dict[str, float], names: Iterable[str]) -> dict[str, float]:
    """The stance of ``passage`` towards a claim of what share of GDP its subject (``names``:
    the subject's name and aliases, lower case) spends, where the passage gives that share."""
    claimed = claimed_share(claim)
    reported = reported_share(passage, names) if claimed is not None else None
    if claimed is None or reported is None:
        return probs
    low, high = claimed
    return decided_stance(probs, "SUPPORTS" if low <= reported <= high else "REFUTES")
