"""The ``nato`` rule pack: what the seed corpus's topic (NATO defence spending and leadership)
taught the checker, kept out of the default path. Turn it on with ``Checker(rule_packs=("nato",))``
or ``claimsift check --rule-pack nato``.

It knows:
- a group whose members are counted against a threshold, and the group's size the corpus states
  ("out of the 32 NATO members"): counts of members that meet a share of GDP decide the stance
  between count statements (``quantities.count_stance``);
- one member's share of GDP, and how many years someone held a post (``quantities``);
- statements about all members of a group ("all NATO members have achieved the 2% target") read
  for the member a claim names ("Spain have achieved the 2% target"), where the corpus lists that
  member among the group's;
- other names of the US, the UK and NATO ("Washington", "Britain", "the allies");
- three general rules written after reading the seed claims' errors that did not earn a place
  in the default path on other corpora (bench/default_rules_ablation.py): the subject gate (a
  passage votes only where it names the claim's subject), the plans rule (what was done does
  not decide what is planned) and the entity boost in retrieval.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.core.types import Evidence
from pipeline.retrieval.retrieve import ENTITY_BOOST, CorpusView, RetrievalConfig, _entity_key
from pipeline.verdict.packs import RULE_PACKS
from pipeline.verdict.packs.nato.quantities import count_stance, group_size_of, share_stance, tenure_stance
from pipeline.verdict.rules import VerdictRules

if TYPE_CHECKING:
    import pandas as pd

# Other names of a subject, as news text writes them. Short upper-case ones ("US") are matched
# in upper case only (``pipeline.lang.en.mention_pattern``).
_US = ("us", "u.s.", "united states", "america", "american", "americans", "washington")
_UK = ("uk", "u.k.", "united kingdom", "britain", "british", "london")
SUBJECT_ALIASES = {
    **{name: tuple(alias for alias in _US if alias != name) for name in _US[:3]},
    **{name: tuple(alias for alias in _UK if alias != name) for name in _UK[:3]},
    "nato": ("alliance", "allies"),
}

# "all NATO members", "all 32 members", "every member state": a statement about each member of a
# group, so about any member a claim names. Group 1 is the noun that names the members.
UNIVERSAL_GROUP = re.compile(
    r"\b(?:all|every|each of the)\s+(?:of\s+the\s+|the\s+)?(?:\d+\s+)?(?:(?:NATO|EU|European|allied|member)\s+)?"
    r"(members?|allies|member states|member countries|countries|nations|states)\b",
    re.IGNORECASE,
)
# Entity labels that can be members of such a group.
MEMBER_LABELS = frozenset({"GPE", "NORP", "ORG"})
# Evidence of membership: a sentence that speaks of members or allies and lists three or more
# such entities ("out of the 32 NATO members, Croatia, Portugal, … and Spain were …").
MEMBERSHIP_NOUN = re.compile(r"\b(members?|allies|member states|member countries)\b", re.IGNORECASE)
LIST_SEPARATOR = re.compile(r"^\s*(?:,|and|or|,\s*and|,\s*or)\s*$")


def group_noun(noun: str) -> str:
    """"members", "member states" -> "member"; "allies" -> "ally"; other nouns as they are."""
    noun = noun.lower()
    return "ally" if noun == "allies" else "member" if noun.startswith("member") else noun


def listed_members(entities, sentences) -> dict[str, set[str]]:
    """Entity key -> the group nouns ("member", "ally") of the sentences that list it among three
    or more member-like entities ("A, B, C and D") and speak of members or allies."""
    members: dict[str, set[str]] = {}
    candidates = entities[entities["label"].isin(MEMBER_LABELS) & entities["sentence_id"].notna()]
    for sid, group in candidates.sort_values("start").groupby("sentence_id"):
        sentence = sentences.loc[int(sid)]
        text, offset = str(sentence["text"]), int(sentence["start"])
        nouns = {group_noun(m.group(1)) for m in MEMBERSHIP_NOUN.finditer(text)}
        if not nouns:
            continue
        spans = list(zip(group["start"], group["end"], group["text"]))
        runs, run = [], spans[:1]
        for previous, current in zip(spans, spans[1:]):
            if LIST_SEPARATOR.match(text[int(previous[1]) - offset:int(current[0]) - offset]):
                run.append(current)
            else:
                runs.append(run)
                run = [current]
        for listed in runs + [run]:
            if len(listed) >= 3:
                for span in listed:
                    members.setdefault(_entity_key(str(span[2])), set()).update(nouns)
    return members


@dataclass(frozen=True)
class NatoPack:
    """The pack bound to one corpus: the group's members and size as the corpus states them."""

    sentences: pd.Series = field(repr=False)  # the corpus's sentence texts, indexed by sentence id
    group_members: dict[str, set[str]] = field(default_factory=dict)  # entity key -> "member" / "ally"
    universal: dict[int, tuple[str, str]] = field(default_factory=dict)  # sentence id -> (group phrase, noun)
    group_size: int | None = None  # members of the group the corpus speaks of ("the 32 NATO members")
    name: str = "nato"

    @classmethod
    def of(cls, view: CorpusView, store_dir: Path) -> "NatoPack":
        from pipeline.corpus.store import Corpus

        texts = view.sentences["text"]
        universal = {int(sid): (m.group(0), group_noun(m.group(1)))
                     for sid, text in zip(view.sentences["sentence_id"], texts.astype(str))
                     if (m := UNIVERSAL_GROUP.search(text))}
        entities = Corpus(store_dir).entities()
        members = listed_members(entities, view.sentences) if len(entities) else {}
        return cls(texts, members, universal, group_size_of(texts.astype(str)))

    def aliases(self, name: str) -> tuple[str, ...]:
        return SUBJECT_ALIASES.get(name, ())

    def statements_about(self, entity: str, claim: str) -> dict[int, str]:
        """The sentences about all members of a group ("all NATO members", "all 32 members"), each
        rewritten as a statement about ``entity`` in the claim's spelling: "all NATO members have
        achieved" -> "Spain have achieved". Only for an entity that the corpus lists as a member
        under the same noun (``listed_members``); which group it is a member of is not checked."""
        nouns = self.group_members.get(entity, set())
        if not nouns or not self.universal:
            return {}
        spelled = re.search(re.escape(entity).replace(r"\ ", r"\s+"), claim, re.IGNORECASE)
        member = spelled.group(0) if spelled else entity
        return {sid: str(self.sentences.loc[sid]).replace(phrase, member, 1)
                for sid, (phrase, noun) in self.universal.items() if noun in nouns}

    def voting_rules(self, rules: VerdictRules) -> VerdictRules:
        return replace(rules, subject_required=True, deeds_cannot_decide_plans=True)

    def retrieval_config(self, config: RetrievalConfig) -> RetrievalConfig:
        return config if config.entity_boost > 0 else replace(config, entity_boost=ENTITY_BOOST)

    def stance(self, claim: str, passage: Evidence, probs: dict[str, float], subject: str | None) -> dict[str, float]:
        """Where claim and passage state comparable numbers: counts of members that meet a
        threshold, how many years the claim's subject held a post, or what share of GDP it spends."""
        text = passage.read_as or passage.sentence
        probs = tenure_stance(claim, text, count_stance(claim, text, probs, self.group_size), subject)
        if subject is None:
            return probs
        return share_stance(claim, text, probs, (subject.lower(), *self.aliases(subject.lower())))


@RULE_PACKS.register("nato")
def nato_pack(view: CorpusView, store_dir: Path) -> NatoPack:
    return NatoPack.of(view, store_dir)
