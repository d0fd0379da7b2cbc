"""One train / tune / report split over every labelled claim corpus, by evidence-connected groups.

Claims that share an evidence text, a gold document, or the same normalised wording (in any two
corpora) are one group (union-find), and a group goes whole to one split by a stable hash of its
key, so no evidence and no claim is on both sides. The stance model, any re-ranker, the verdict
aggregator and ``claimsift evaluate corpus`` all use this one assignment: train on ``train``,
choose settings on ``tune``, report on ``report`` (and read none of its errors).

The assignment is recorded in ``splits/corpus_splits.jsonl`` (ids and hashes only, never dataset
text) so that it can be audited and so that code without the datasets (the stance trainer's
filter) can apply it; ``python -m pipeline.core.splits --data-dir ../shared/datasets`` rebuilds it
from the corpora that ``pipeline.datasets`` builds (``python -m pipeline.datasets.manifest``).
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from pipeline.core.errors import InputError
from pipeline.core.io import jsonl_lines, write_jsonl
from pipeline.core.paths import PROJECT_ROOT

SPLITS = ("train", "tune", "report")
# Percent of groups per split; a group's bucket is a hash of its key, so the assignment does not
# depend on the order or the number of corpora.
SPLIT_PERCENT = {"train": 70, "tune": 15, "report": 15}
SPLIT_SALT = "claimsift-corpus-splits-v1"
MANIFEST_PATH = PROJECT_ROOT / "splits" / "corpus_splits.jsonl"
HASH_CHARS = 12

# Penn Treebank bracket tokens in FEVER's tokenised text ("Soul Food -LRB-film-RRB-").
_PTB = re.compile(r"-(?:LRB|RRB|LSB|RSB|LCB|RCB)-")


def text_key(text: str) -> str:
    """Lower-case words joined by one space: punctuation, tokenisation and spacing do not matter."""
    return " ".join(re.findall(r"\w+", _PTB.sub(" ", text).lower()))


def text_hash(text: str) -> str:
    return hashlib.sha256(text_key(text).encode("utf-8")).hexdigest()[:HASH_CHARS]


def split_of_group(group_key: str) -> str:
    bucket = int(hashlib.sha256(f"{SPLIT_SALT}:{group_key}".encode("utf-8")).hexdigest()[:8], 16) % 100
    cumulative = 0
    for split in SPLITS:
        cumulative += SPLIT_PERCENT[split]
        if bucket < cumulative:
            return split
    return SPLITS[-1]


@dataclass(frozen=True)
class SplitClaim:
    """What grouping needs of a claim: where it is from and what it shares with others."""

    corpus: str
    claim_id: str
    claim: str
    evidence: tuple[str, ...] = ()  # gold evidence texts
    documents: tuple[str, ...] = ()  # gold document ids (within the corpus)

    @property
    def key(self) -> tuple[str, str]:
        return (self.corpus, self.claim_id)


@dataclass(frozen=True)
class SplitAssignment:
    corpus: str
    claim_id: str
    claim_hash: str
    evidence_hashes: tuple[str, ...]
    group: str
    split: str

    def to_dict(self) -> dict:
        # Evidence hashes are kept for held-out claims only: the stance trainer's filter needs
        # them, and a train claim's evidence is in no held-out group by construction.
        return {"corpus": self.corpus, "id": self.claim_id, "claim_hash": self.claim_hash, "group": self.group,
                "split": self.split, **({"evidence_hashes": list(self.evidence_hashes)} if self.split != "train" else {})}


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, item: str) -> str:
        self.parent.setdefault(item, item)
        root = item
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[item] != root:  # path compression
            self.parent[item], item = root, self.parent[item]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def assign_splits(claims: Iterable[SplitClaim]) -> list[SplitAssignment]:
    """Each claim with its group and split. Nodes are claim wordings (across corpora), evidence
    texts (across corpora) and gold documents (within a corpus); a group's key is the smallest
    claim hash in it, so adding an unrelated corpus moves no existing claim."""
    claims = list(claims)
    links = _UnionFind()
    claim_hashes = [text_hash(c.claim) for c in claims]
    evidence_hashes = [tuple(sorted({text_hash(e) for e in c.evidence if text_key(e)})) for c in claims]
    for claim, claim_hash, evidence in zip(claims, claim_hashes, evidence_hashes):
        node = f"claim:{claim_hash}"
        links.find(node)
        for e in evidence:
            links.union(node, f"evidence:{e}")
        for document in claim.documents:
            links.union(node, f"document:{claim.corpus}:{document}")
    group_key: dict[str, str] = {}
    for claim_hash in claim_hashes:
        root = links.find(f"claim:{claim_hash}")
        group_key[root] = min(group_key.get(root, claim_hash), claim_hash)
    out = []
    for claim, claim_hash, evidence in zip(claims, claim_hashes, evidence_hashes):
        group = group_key[links.find(f"claim:{claim_hash}")]
        out.append(SplitAssignment(claim.corpus, claim.claim_id, claim_hash, evidence, group, split_of_group(group)))
    return out


@dataclass(frozen=True)
class SplitManifest:
    """The recorded assignment: (corpus, claim id) -> split, and the hashes held out."""

    assignments: tuple[SplitAssignment, ...]

    @classmethod
    def load(cls, path: Path | str = MANIFEST_PATH) -> "SplitManifest":
        path = Path(path)
        if not path.is_file():
            raise InputError(path, "no split manifest here; build it with `python -m pipeline.datasets.manifest`")
        rows = []
        for line_no, obj, problem in jsonl_lines(path, reads=("corpus", "id", "claim_hash", "evidence_hashes", "group",
                                                              "split")):
            try:
                if obj is None:
                    raise ValueError(problem)
                if obj["split"] not in SPLITS:
                    raise ValueError(f"unknown split {obj['split']!r}")
                rows.append(SplitAssignment(str(obj["corpus"]), str(obj["id"]), str(obj["claim_hash"]),
                                            tuple(obj.get("evidence_hashes") or ()), str(obj["group"]),
                                            str(obj["split"])))
            except (ValueError, KeyError, TypeError) as exc:
                raise InputError(path, f"line {line_no}: {exc}") from exc
        return cls(tuple(rows))

    def split_of(self) -> dict[tuple[str, str], str]:
        return {(a.corpus, a.claim_id): a.split for a in self.assignments}

    def held_out(self, splits: Sequence[str] = ("tune", "report")) -> tuple[frozenset[str], frozenset[str]]:
        """Claim hashes and evidence hashes of the claims in ``splits``."""
        chosen = [a for a in self.assignments if a.split in splits]
        return (frozenset(a.claim_hash for a in chosen),
                frozenset(e for a in chosen for e in a.evidence_hashes))

    def counts(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for a in self.assignments:
            out.setdefault(a.corpus, {s: 0 for s in SPLITS})[a.split] += 1
        return out


def write_manifest(assignments: Sequence[SplitAssignment], path: Path | str = MANIFEST_PATH) -> Path:
    """Sorted by corpus and id, one JSON object a line; written atomically."""
    rows = sorted(assignments, key=lambda a: (a.corpus, a.claim_id))
    return write_jsonl(Path(path), [a.to_dict() for a in rows], sort_keys=True, ensure_ascii=True)


def excluded_from_training(claim: str, evidence: str, held_out: tuple[frozenset[str], frozenset[str]]) -> bool:
    """A (claim, evidence) training pair touches a held-out claim or its evidence."""
    claims, evidence_hashes = held_out
    return text_hash(claim) in claims or text_hash(evidence) in evidence_hashes


def split_counts(assignments: Sequence[SplitAssignment]) -> Mapping[str, Mapping[str, int]]:
    return SplitManifest(tuple(assignments)).counts()

