"""Sentences of a post or a speech (abbreviation-aware, trimmed of non-claim tokens) and the routing of a
text to the post or the speech domain by its form."""
from __future__ import annotations

import re

DOMAINS = ("post", "speech")


# What ``--domain`` accepts: a domain, or ``auto`` (each row routed by ``route_domain``).
AUTO = "auto"


# Words after which a full stop does not end a sentence.
_ABBREVIATIONS = frozenset("""mr mrs ms dr prof sr jr st mt vs etc e.g i.e u.s u.k u.n a.m p.m no nos fig gen gov
sen rep col lt sgt capt inc ltd co corp jan feb mar apr jun jul aug sep sept oct nov dec approx est""".split())


# A sentence ends at . ! ? … with any closing quotes and any emoji that follow (they belong to
# the sentence they close), then whitespace; or at a line break.
_END = re.compile(r"[.!?…]+[\"'”’)\]]*(?:[ \t]*[^\w\s\"'“‘(\[#@<]+)*(?=\s|$)|\n+")


_WORD = re.compile(r"[^\W\d_]{2,}")


_NON_CLAIM_TOKEN = re.compile(r"https?://\S+|www\.\S+|[#@]\w+", re.IGNORECASE)


def split_sentences(post: str) -> list[tuple[int, int]]:
    """(start, end) offsets of the sentences of a post; cheap, no parser.

    Ends a sentence at . ! ? … (with closing quotes and trailing emoji) followed by whitespace,
    and at line breaks;
    not after common abbreviations, initials or inside URLs and decimals (no whitespace there).
    Leading/trailing whitespace is trimmed from every span; a post without final punctuation
    still yields its last sentence.
    """
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _END.finditer(post):
        if match.group().startswith(("\n",)):
            end = match.start()
        else:
            before = post[start:match.start()].split()
            last = before[-1].lower().rstrip(".") if before else ""
            if match.group()[0] == "." and (last in _ABBREVIATIONS or (len(last) == 1 and last.isalpha())):
                continue
            end = match.end()
        _append_trimmed(post, start, end, spans)
        start = match.end()
    _append_trimmed(post, start, len(post), spans)
    return spans


def _append_trimmed(post: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    while start < end and post[start].isspace():
        start += 1
    while end > start and post[end - 1].isspace():
        end -= 1
    if end > start:
        spans.append((start, end))


def has_words(text: str) -> bool:
    """A sentence made only of links, hashtags, handles, emoji or numbers is not a claim."""
    return bool(_WORD.search(_NON_CLAIM_TOKEN.sub(" ", text)))


# Marks of a social post: links, @handles, #hashtags, emoji, "RT", HTML entities of a feed
# ("&amp;") and the capitalised headers of news posts ("JUST IN:", "FYI:").
_SOCIAL_MARK = re.compile(r"https?://|www\.|(?<!\w)[@#]\w|^RT\b|[\U0001F000-\U0001FAFF\u2600-\u27BF]|&(amp|lt|gt|quot);"
                          r"|^(BREAKING|JUST IN|FYI|UPDATE|ALERT|NEW|WATCH|THREAD|PSA|NEWS)\b")


# A transcript line opens with its speaker in capitals: "TRUMP: ...", "BOB SCHIEFFER: ...".
_SPEAKER_PREFIX = re.compile(r"^[A-Z][A-Z.'\- ]{1,40}:\s")


# A transcribed sentence ends with its punctuation (all but 0.4% of ClaimBuster's); posts often do not.
_SENTENCE_END = re.compile(r"[.!?…\"'”’)\]]\s*$")


def route_domain(text: str) -> str:
    """``post`` or ``speech`` for one row, from its form alone.

    A row with social marks (links, handles, hashtags, emoji, feed entities, news headers) is a
    post; a row that opens with a speaker in capitals is a transcript line (speech); of the rest,
    a row of several sentences or lines, or one without closing punctuation, is a post, and a
    single punctuated plain sentence is speech (a debate or speech sentence). On the shared dev
    data 1,785 of the 1,797 held-out ClaimBuster sentences route to speech, and 191 of the 195
    CheckThat! 2022 1A and 141 of the 150 CheckThat! 2020 dev tweets to post.
    """
    if _SOCIAL_MARK.search(text):
        return "post"
    if _SPEAKER_PREFIX.match(text):
        return "speech"
    if len(split_sentences(text)) > 1 or not _SENTENCE_END.search(text):
        return "post"
    return "speech"
