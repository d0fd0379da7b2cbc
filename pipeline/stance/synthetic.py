"""Stance pairs made rather than read: denials and reports of a claim written from templates, negated
claims, and BM25 hard negatives from a corpus's own pool."""
from __future__ import annotations

import random
import re
from typing import Sequence

import numpy as np

from pipeline.corpus.nlp import DEFAULT_MODEL
from pipeline.stance.pairs import StancePair, make_pair

# Imported where used, not here (slow to load; most callers of this module never need them): bm25s, spacy.

_ATTRIBUTION = re.compile(
    r"^(?P<who>[A-Z][^\d\"“”]{2,60}?)\s+(?P<verb>said|says|claimed|claims|threatened|threatens|announced|"
    r"tweeted|wrote|declared|admitted|promised|vowed|stated)\b\s*(?P<rest>.{10,})$")


_DENIALS = (
    '"{who} has never said this," a spokesperson said.',
    "A spokesperson for {who} said the claim was bogus and that {who} never made such a statement.",
    "There is no record of {who} saying this; the quote was fabricated and {who}'s office denied it.",
    "{who} denied ever saying it, calling the posts circulating online fake.",
    'Asked about the quote, an aide said: "{who} never said that. It is made up."',
    "Fact-checkers found no evidence that {who} made the remark, and {who}'s spokesperson called it false.",
)


_CONFIRMS = (
    "{who} {verb} {rest}",
    "Speaking to reporters, {who} {verb} {rest}",
    "In a statement published on Tuesday, {who} {verb} {rest}",
)


_UNRELATED = (
    "{who} spoke to reporters on Tuesday about the budget and thanked staff for their work.",
    "{who} congratulated the winner of the election and said they looked forward to working together.",
    "{who} will travel to the summit next week, a spokesperson said.",
    "{who} posted a photo from the event on social media on Monday.",
)


def denial_pairs(claims: Sequence[dict], seed: int = 13) -> list[StancePair]:
    """Attribution claims ("X said/threatened Y") from AVeriTeC set in denial, confirmation and
    same-person-but-unrelated passages: the real-world pattern "X threatened Y" vs "X never said
    this" that none of the NLI-style sources covers."""
    rng = random.Random(seed)
    out = []
    for c in claims:
        match = _ATTRIBUTION.match(" ".join(str(c.get("claim", "")).split()))
        if not match or len(match["who"].split()) > 7:
            continue
        who, verb, rest = match["who"].strip(), match["verb"], match["rest"].strip()
        claim = match.group(0)
        out.append(make_pair(claim, rng.choice(_DENIALS).format(who=who), "REFUTES", "denial"))
        out.append(make_pair(claim, rng.choice(_CONFIRMS).format(who=who, verb=verb, rest=rest), "SUPPORTS", "denial"))
        out.append(make_pair(claim, rng.choice(_UNRELATED).format(who=who), "NOT_ENOUGH_INFO", "denial"))
    return out


# Claims about a denial rather than about the words: "A spokesperson called the claim that X
# threatened Y bogus" is supported by "X has never said this" and refuted by X saying it. The
# denial templates above teach the opposite reading for the bare attribution, so without these a
# model learns "denial in the passage = REFUTES" whatever the claim says.
_FALSITY_CLAIMS = (
    "The claim that {who} {verb} {rest} is false.",
    "It is not true that {who} {verb} {rest}.",
    "Fact-checkers rated the claim that {who} {verb} {rest} as false.",
    "Posts saying that {who} {verb} {rest} are fake.",
)


_DENIAL_EVENT_CLAIMS = (
    "A spokesperson for {who} denied that {who} {verb} {rest}.",
    "{who}'s office called reports that {who} {verb} {rest} bogus.",
    "{who} has denied claims that {who} {verb} {rest}.",
)


def denial_report_pairs(claims: Sequence[dict], seed: int = 13) -> list[StancePair]:
    """AVeriTeC attribution claims restated as claims that the attribution is false or was denied,
    against the denial (SUPPORTS), confirmation (REFUTES: only for claims of falsity, since a
    denial can be issued of words that were said) and same-person-but-unrelated (NOT_ENOUGH_INFO)
    templates of ``denial_pairs``; and the unrelated templates as claims against the denial
    (NOT_ENOUGH_INFO: "X never said this" tells nothing of where X worked)."""
    rng = random.Random(seed + 5)
    out = []
    for c in claims:
        match = _ATTRIBUTION.match(" ".join(str(c.get("claim", "")).split()))
        if not match or len(match["who"].split()) > 7:
            continue
        fill = {"who": match["who"].strip(), "verb": match["verb"], "rest": match["rest"].strip().rstrip(".!?;,")}
        falsity = rng.choice(_FALSITY_CLAIMS).format(**fill)
        event = rng.choice(_DENIAL_EVENT_CLAIMS).format(**fill)
        out.append(make_pair(falsity, rng.choice(_DENIALS).format(**fill), "SUPPORTS", "denial-report"))
        out.append(make_pair(falsity, rng.choice(_CONFIRMS).format(**fill) + ".", "REFUTES", "denial-report"))
        out.append(make_pair(event, rng.choice(_DENIALS).format(**fill), "SUPPORTS", "denial-report"))
        out.append(make_pair(event, rng.choice(_UNRELATED).format(**fill), "NOT_ENOUGH_INFO", "denial-report"))
        # A denial is about words; it says nothing of anything else the person did.
        out.append(make_pair(rng.choice(_UNRELATED).format(**fill), rng.choice(_DENIALS).format(**fill),
                         "NOT_ENOUGH_INFO", "denial-report"))
    return out


_NEGATORS = {"not", "n't", "never"}


_DO_FORMS = {"VBD": "did", "VBZ": "does", "VBP": "do"}


def negate(doc) -> str | None:
    """The sentence with its main clause negated, or un-negated if it was negative; None where no
    simple edit applies. ``doc`` is a spaCy Doc of one sentence (tagger and parser needed).

    "X is Y" -> "X is not Y"; "X has won" -> "X has not won"; "X won" -> "X did not win";
    "X never said" -> "X said"; "X does not have" -> "X does have".
    """
    roots = [t for t in doc if t.dep_ == "ROOT"]
    if len(roots) != 1:
        return None
    root = roots[0]
    words = [t.text_with_ws for t in doc]
    negations = [c for c in root.children if c.dep_ == "neg" and c.lower_ in _NEGATORS]
    # "has no mechanism": the negation sits on the object's determiner.
    no_determiners = [t for t in doc if t.lower_ == "no" and t.dep_ == "det" and t.head.head == root]
    if any(t.lower_ in ("nobody", "nothing", "none", "neither", "nor") for t in doc):
        return None
    if no_determiners:
        for t in no_determiners:
            words[t.i] = ("some" if t.head.tag_ in ("NNS", "NNPS") else "a") + t.whitespace_
    elif negations:
        for n in negations:
            words[n.i] = ""
            if n.i > 0 and not doc[n.i - 1].whitespace_ and n.lower_ == "n't":
                words[n.i - 1] = doc[n.i - 1].text + " "
    else:
        auxiliaries = [c for c in root.children if c.dep_ in ("aux", "auxpass") and c.i < root.i]
        if auxiliaries:
            first = auxiliaries[0]
            if first.lower_ == "to":
                return None
            words[first.i] = first.text + " not "
        elif root.lemma_ == "be" and root.tag_ in ("VBZ", "VBD", "VBP"):
            words[root.i] = root.text + " not "
        elif root.pos_ == "VERB" and root.tag_ in _DO_FORMS:
            words[root.i] = f"{_DO_FORMS[root.tag_]} not {root.lemma_}" + root.whitespace_
        else:
            return None
    text = " ".join("".join(words).split())
    return text if text and text != doc.text.strip() else None


def negation_pairs(pairs: Sequence[StancePair], n: int, seed: int = 13, nlp=None,
                   max_words: int = 25) -> list[StancePair]:
    """Pairs that teach how negation composes, made from SUPPORTS pairs (claim C, evidence E):
    (not-C, E) REFUTES, (C, not-E) REFUTES and (not-C, not-E) SUPPORTS. Without them the model
    reads any negated sentence as a refutation, e.g. "NATO has no mechanism to expel a member"
    against "NATO does not have a specific mechanism to expel a member"."""
    import spacy


    nlp = nlp or spacy.load(DEFAULT_MODEL, exclude=["ner"])
    rng = random.Random(seed)
    candidates = [p for p in pairs if p.label == "SUPPORTS" and p.source != "denial"
                  and len(p.evidence.split()) <= max_words and len(p.claim.split()) <= max_words]
    rng.shuffle(candidates)
    out: list[StancePair] = []
    for p in candidates:
        if len(out) >= 3 * n:
            break
        claim_doc, evidence_doc = nlp(p.claim), nlp(p.evidence)
        if len(list(claim_doc.sents)) != 1 or len(list(evidence_doc.sents)) != 1:
            continue
        not_claim, not_evidence = negate(claim_doc), negate(evidence_doc)
        if not_claim is None or not_evidence is None:
            continue
        out.append(StancePair(not_claim, p.evidence, "REFUTES", "negation", p.group))
        out.append(StancePair(p.claim, not_evidence, "REFUTES", "negation", p.group))
        out.append(StancePair(not_claim, not_evidence, "SUPPORTS", "negation", p.group))
    return out


def bm25_hard_negatives(queries: Sequence[tuple[str, set[str]]], passages: Sequence[str], source: str,
                        per_query: int = 1, skip_top: int = 0, k: int = 8) -> list[StancePair]:
    """For each (claim, its gold passages) the top BM25 passages of the same source that are not
    gold evidence and share no claim group with it: on topic, but not evidence."""
    import bm25s

    if not queries or not passages:
        return []
    unique = list(dict.fromkeys(passages))
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(unique, stopwords="en", show_progress=False), show_progress=False)
    k = min(k, len(unique))
    ids, _ = retriever.retrieve(bm25s.tokenize([q for q, _ in queries], stopwords="en", show_progress=False),
                                k=k, show_progress=False, n_threads=1)
    out = []
    for (claim, gold), row in zip(queries, np.asarray(ids)):
        taken = 0
        for rank, idx in enumerate(row):
            passage = unique[int(idx)]
            if rank < skip_top or passage in gold or any(g and (g in passage or passage in g) for g in gold):
                continue
            out.append(make_pair(claim, passage, "NOT_ENOUGH_INFO", source))
            taken += 1
            if taken >= per_query:
                break
    return out
