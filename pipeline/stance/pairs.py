"""A labelled (claim, evidence) pair, the three stance labels and the aliases other data sets use for them."""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass

# Aliases accepted in user files and in the source datasets.
LABEL_ALIASES = {
    "SUPPORTS": "SUPPORTS", "SUPPORT": "SUPPORTS", "SUPPORTED": "SUPPORTS", "ENTAILMENT": "SUPPORTS",
    "REFUTES": "REFUTES", "REFUTE": "REFUTES", "REFUTED": "REFUTES", "CONTRADICTION": "REFUTES",
    "NOT_ENOUGH_INFO": "NOT_ENOUGH_INFO", "NOT ENOUGH INFO": "NOT_ENOUGH_INFO", "NEI": "NOT_ENOUGH_INFO",
    "NEUTRAL": "NOT_ENOUGH_INFO", "NOT ENOUGH EVIDENCE": "NOT_ENOUGH_INFO",
}


_ALIASES = {" ".join(k.replace("_", " ").split()): v for k, v in LABEL_ALIASES.items()}


@dataclass(frozen=True)
class StancePair:
    claim: str
    evidence: str
    label: str  # one of STANCE_LABELS
    source: str
    group: str  # normalised claim: the unit of the grouped splits

    def to_dict(self) -> dict:
        return asdict(self)


def normalise_label(raw: object) -> str | None:
    if not isinstance(raw, str):
        return None
    return _ALIASES.get(" ".join(raw.upper().replace("_", " ").replace("-", " ").split()))


def claim_key(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def make_pair(claim: str, evidence: str, label: str, source: str) -> StancePair:
    return StancePair(" ".join(claim.split()), " ".join(evidence.split()), label, source, claim_key(claim))
