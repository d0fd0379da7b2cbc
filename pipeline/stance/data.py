"""Labelled (claim, evidence, label) pairs for the stance model, assembled from ``../shared/datasets``.

Every pair carries the source it came from and a ``group`` (the claim, normalised) so that dev
splits are held out per source and grouped by claim: no claim is on both sides of a split.

NOT_ENOUGH_INFO is built from hard negatives only (on-topic passages that are not evidence):
HealthVer ``Neutral``, AVeriTeC ``Not Enough Evidence``, FEVER ``NOT ENOUGH INFO`` claims paired
with their BM25 nearest FEVER evidence, and BM25 neighbours within the same source that are not
the claim's gold evidence. Random unrelated pairs teach a model nothing about "related but not
evidence", which is the case retrieval actually produces.

Everything is deterministic for a given ``seed``.
"""
from __future__ import annotations

import csv
import json
import random
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from pipeline.core.errors import InputError, UserError
from pipeline.core.io import parse_object, read_jsonl, read_tsv_rows
from pipeline.core.paths import SHARED_DATASETS_DIR
from pipeline.core.splits import MANIFEST_PATH, SplitManifest, excluded_from_training
from pipeline.core.types import STANCE_LABELS
from pipeline.stance.pairs import StancePair, claim_key, make_pair, normalise_label
from pipeline.stance.synthetic import bm25_hard_negatives, denial_pairs, denial_report_pairs, negation_pairs

# Imported where used, not here (slow to load; most callers of this module never need them): scikit-learn.

DEFAULT_DATA_DIR = SHARED_DATASETS_DIR

LICENCES = {
    "fever": ("fever-dev-pairs", ["dev_pairs.derived.jsonl", "fever_shared_task_dev_labels.json"],
              "CC BY-SA 3.0 (Wikipedia)"),
    "covidfact": ("covid-fact/rte", ["train.tsv", "dev.tsv"], "none stated"),
    "healthver": ("healthver", ["healthver_dev.csv"], "none stated"),
    "scifact": ("scifact-rationale-pairs", ["train.tsv", "dev.tsv"], "claims CC BY 4.0, abstracts ODC-By"),
    "averitec": ("averitec", ["train.json"], "CC BY-NC 4.0"),
    "denial": ("averitec (derived: quote-verification claims in denial/attribution templates)", ["train.json"],
               "CC BY-NC 4.0"),
    "denial-report": ("averitec (derived: claims that report a denial or call an attribution false, against "
                      "denial, confirmation and unrelated templates)", ["train.json"], "CC BY-NC 4.0"),
    "negation": ("derived: SUPPORTS pairs of the sources above with claim and/or evidence negated by rule",
                 [], "as the source pair"),
    "joint": ("derived: train-split claims of averitec, fever, covid-fact and healthver (the corpus split "
              "manifest) against the passages the Checker shows them, read together (claimsift train "
              "joint-pairs)", [], "as the source corpus"),
    "fever_symmetric": ("fever-symmetric", ["fever_symmetric_dev.jsonl"], "data CC BY-SA 3.0, code MIT"),
}


# -- user files -----------------------------------------------------------------------------------

def load_labelled_file(path: Path | str, require_label: bool = True) -> list[StancePair]:
    """Read a JSONL file of ``claim``, ``evidence`` (and ``label``) rows, refusing bad rows.

    Every problem is collected and reported together, each with its 1-based line number, so a
    user fixes the file in one pass: unknown labels, missing columns, empty fields, unparsable
    lines and duplicate (claim, evidence) rows.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(path, "is a folder, not a file")
    if not path.is_file():
        raise InputError(path, "file not found")
    problems: list[str] = []
    pairs: list[StancePair] = []
    seen: dict[tuple[str, str], int] = {}
    with open(path, "rb") as handle:  # bytes: a line that is not UTF-8 is named with the others
        for line_no, raw in enumerate(handle, start=1):
            try:
                # utf-8-sig: a file saved with a byte-order mark reads like one without.
                line = raw.decode("utf-8-sig" if line_no == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                problems.append(f"row {line_no}: invalid UTF-8 (byte 0x{raw[exc.start]:02x}); re-save the file as UTF-8")
                continue
            if not line.strip():
                problems.append(f"row {line_no}: empty row")
                continue
            row, problem = parse_object(line.rstrip())  # also refuses half a surrogate pair ("\\ud83d")
            if row is None:
                problems.append(f"row {line_no}: {problem}")
                continue
            needed = ("claim", "evidence", "label") if require_label else ("claim", "evidence")
            missing = [c for c in needed if c not in row]
            if missing:
                problems.append(f"row {line_no}: missing column(s) {', '.join(missing)}")
                continue
            empty = [c for c in needed if not isinstance(row[c], str) or not row[c].strip()]
            if empty:
                problems.append(f"row {line_no}: empty or non-text {', '.join(empty)}")
                continue
            label = "NOT_ENOUGH_INFO"
            if require_label or "label" in row:
                given = normalise_label(row.get("label"))
                if given is None:
                    problems.append(f"row {line_no}: unknown label {row.get('label')!r} "
                                    f"(expected one of {', '.join(STANCE_LABELS)})")
                    continue
                label = given
            key = (" ".join(row["claim"].split()), " ".join(row["evidence"].split()))
            # Duplicates matter only for training (a pair counted twice, or split across train and
            # dev); at inference every row gets its prediction.
            if require_label and key in seen:
                problems.append(f"row {line_no}: duplicate of row {seen[key]} (same claim and evidence)")
                continue
            seen[key] = line_no
            pairs.append(make_pair(row["claim"], row["evidence"], label, str(row.get("source", path.stem))))
    if problems:
        shown = problems[:20]
        more = f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""
        raise InputError(path, f"{len(problems)} bad row(s): " + "; ".join(shown) + more)
    if not pairs:
        raise InputError(path, "no rows")
    return pairs


def write_pairs(pairs: Iterable[StancePair], path: Path | str) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for pair in pairs:
            handle.write(json.dumps(pair.to_dict(), ensure_ascii=False) + "\n")


# -- the shared datasets --------------------------------------------------------------------------

def _check_dir(root: Path) -> Path:
    root = Path(root)
    if not (root / "fever-dev-pairs").is_dir():
        raise UserError(f"{root} does not look like the shared datasets folder (no fever-dev-pairs/ in it)")
    return root


def known_label(raw: object, path: Path) -> str:
    """A shared dataset's stance label in the project's vocabulary; a label outside it is an error."""
    label = normalise_label(raw)
    if label is None:
        raise UserError(f"{path}: unknown stance label {raw!r} (expected one of {', '.join(STANCE_LABELS)})")
    return label


def _jsonl_pairs(path: Path, source: str) -> list[StancePair]:
    """Rows with ``claim``, ``evidence`` and ``label`` fields, one JSON object per line."""
    rows = list(read_jsonl(path))
    return [make_pair(r["claim"], r["evidence"], known_label(r["label"], path), source) for r in rows]


def fever_pairs(root: Path) -> list[StancePair]:
    return _jsonl_pairs(root / "fever-dev-pairs" / "dev_pairs.derived.jsonl", "fever")


def fever_nei_claims(root: Path) -> list[str]:
    rows = json.loads((root / "fever-dev-pairs" / "fever_shared_task_dev_labels.json").read_text())
    return [r["claim"] for r in rows if r["label"] == "NOT ENOUGH INFO"]


def fever_symmetric_dev(root: Path) -> list[StancePair]:
    return _jsonl_pairs(root / "fever-symmetric" / "fever_symmetric_dev.jsonl", "fever_symmetric")


def _rte_tsv(path: Path, source: str) -> list[StancePair]:
    # Both files: index, evidence sentence, claim, entailment|not_entailment. The not_entailment
    # pairs are refutations (COVID-Fact counter-claims; SciFact CONTRADICT rationales).
    # Read with CSV quoting: a claim holding a quote is quoted the CSV way (``"... 16"" people"``).
    out = []
    for row in read_tsv_rows(path):
        index, evidence, claim, label = (list(row.values()) + ["", "", "", ""])[:4]
        if not label:
            continue
        out.append(make_pair(claim, evidence, "SUPPORTS" if label.strip() == "entailment" else "REFUTES", source))
    return out


def covidfact_pairs(root: Path, split: str) -> list[StancePair]:
    return _rte_tsv(root / "covid-fact" / "rte" / f"{split}.tsv", "covidfact")


def scifact_pairs(root: Path, split: str) -> list[StancePair]:
    return _rte_tsv(root / "scifact-rationale-pairs" / f"{split}.tsv", "scifact")


def healthver_pairs(root: Path) -> list[StancePair]:
    out = []
    path = root / "healthver" / "healthver_dev.csv"
    with open(path, encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            out.append(make_pair(row["claim"], row["evidence"], known_label(row["label"], path), "healthver"))
    return out


def averitec_claims(root: Path) -> list[dict]:
    return json.loads((root / "averitec" / "train.json").read_text(encoding="utf-8"))


def averitec_qa_texts(claim: dict) -> list[str]:
    """Each question with its answers, read as one evidence passage."""
    texts = []
    for q in claim.get("questions", []):
        answers = []
        for a in q.get("answers", []):
            text = str(a.get("answer", "")).strip()
            if a.get("answer_type") == "Boolean" and a.get("boolean_explanation"):
                text = f"{text}. {a['boolean_explanation']}"
            if text and text.lower() != "no answer could be found.":
                answers.append(text)
        if answers:
            texts.append(" ".join((q.get("question", "").strip() + " " + " ".join(answers)).split()))
    return texts


AVERITEC_STANCE = {"Supported": "SUPPORTS", "Refuted": "REFUTES", "Not Enough Evidence": "NOT_ENOUGH_INFO"}
AVERITEC_VERDICT = {"Supported": "SUPPORTED", "Refuted": "REFUTED", "Not Enough Evidence": "NOT_ENOUGH_INFO",
                    "Conflicting Evidence/Cherrypicking": "CONFLICTING"}


def averitec_pairs(claims: Sequence[dict]) -> list[StancePair]:
    """One pair per claim: the claim against all its question-answer evidence together.

    The label is the claim's verdict, which holds for the evidence as a whole, not necessarily
    for each single answer. Conflicting claims are left out (no stance label fits them).
    """
    out = []
    for c in claims:
        label = AVERITEC_STANCE.get(str(c.get("label")))
        texts = averitec_qa_texts(c)
        if label and texts:
            out.append(make_pair(c["claim"], " ".join(texts), label, "averitec"))
    return out


# -- denials and attributions ---------------------------------------------------------------------


# -- negation pairs ---------------------------------------------------------------------------------


# -- hard negatives -------------------------------------------------------------------------------


# -- the splits -----------------------------------------------------------------------------------

def claim_only_weights(pairs: Sequence[StancePair], source: str = "fever", seed: int = 13) -> list[float]:
    """Example weights that down-weight what a claim-only model already gets right.

    FEVER's refuted claims give themselves away by their words ("only", "not", "incapable"),
    and a model that learns those cues fails FEVER-Symmetric. Following the example
    reweighting of Clark et al. (2019), each SUPPORTS/REFUTES pair of ``source`` is weighted
    by 1 - p(gold | claim alone), the probability coming from a TF-IDF logistic regression
    cross-validated over the same pairs; weights are rescaled to mean 1 within the source.
    Every other pair keeps weight 1.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict
    from sklearn.pipeline import make_pipeline

    idx = [i for i, p in enumerate(pairs) if p.source == source and p.label in ("SUPPORTS", "REFUTES")]
    weights = [1.0] * len(pairs)
    if len(idx) < 50:
        return weights
    claims = [pairs[i].claim for i in idx]
    gold = np.array([pairs[i].label == "REFUTES" for i in idx], dtype=int)
    bias_model = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True),
                               LogisticRegression(C=1.0, max_iter=1000))
    p_refutes = cross_val_predict(bias_model, claims, gold, cv=5, method="predict_proba")[:, 1]
    p_gold = np.where(gold == 1, p_refutes, 1.0 - p_refutes)
    raw = np.clip(1.0 - p_gold, 0.05, None)
    raw = raw / raw.mean()
    for i, w in zip(idx, raw):
        weights[i] = float(w)
    return weights


def _alnum(text: str) -> str:
    # FEVER-Symmetric is tokenised ("death metal .") where FEVER pairs are not.
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / max(1, len(a | b))


def split_groups(pairs: Sequence[StancePair], dev_fraction: float, seed: int) -> tuple[list, list]:
    groups = sorted({p.group for p in pairs})
    rng = random.Random(seed)
    rng.shuffle(groups)
    dev_groups = set(groups[: int(round(len(groups) * dev_fraction))])
    return [p for p in pairs if p.group not in dev_groups], [p for p in pairs if p.group in dev_groups]


def averitec_claim_split(claims: Sequence[dict], dev_fraction: float = 0.35, seed: int = 13) -> tuple[list, list]:
    """AVeriTeC claims for stance training and the held-out claims for dev and the verdict model."""
    keys = sorted({claim_key(c["claim"]) for c in claims})
    rng = random.Random(seed)
    rng.shuffle(keys)
    dev = set(keys[: int(round(len(keys) * dev_fraction))])
    return [c for c in claims if claim_key(c["claim"]) not in dev], [c for c in claims if claim_key(c["claim"]) in dev]


def _sample(pairs: Sequence[StancePair], n: int, rng: random.Random) -> list[StancePair]:
    pairs = list(pairs)
    if n >= len(pairs):
        return pairs
    return rng.sample(pairs, n)


def _balanced(pairs: Sequence[StancePair], per_label: int, rng: random.Random) -> list[StancePair]:
    by_label = defaultdict(list)
    for p in pairs:
        by_label[p.label].append(p)
    out = []
    for label in STANCE_LABELS:
        out += _sample(by_label[label], per_label, rng)
    return out


# Training pairs per source at the default budget (about 12,700 pairs: what fits one epoch of
# cross-encoder training in ~30-40 minutes on 2 shared cores). HealthVer and AVeriTeC are closest
# to the product's real-world claims, so they are taken whole.
TRAIN_QUOTA = {"fever": 9000, "covidfact": 2400, "scifact": 800, "healthver": 100_000, "averitec": 100_000,
               "denial": 100_000}
# HealthVer has only ~1,400 training pairs but is the closest to real health claims: its pairs
# are seen this many times per epoch.
HEALTHVER_REPEAT = 2
DEV_CAP = 600


def build_stance_splits(root: Path | str = DEFAULT_DATA_DIR, seed: int = 13,
                        max_pairs: int | None = None, negation: int = 0,
                        healthver_repeat: int = HEALTHVER_REPEAT,
                        reported_denials: bool = False,
                        held_out_splits: Sequence[str] = ("tune", "report")) -> dict[str, list[StancePair]]:
    """``{"train": [...], "dev": [...], "fever_symmetric": [...]}``; dev holds every source's
    grouped held-out part. ``max_pairs`` scales every source's training quota down together.
    ``reported_denials`` adds ``denial_report_pairs`` (off by default, so that models trained
    before they existed are reproduced pair for pair). ``held_out_splits``: training pairs whose
    claim or evidence belongs to a claim of these splits of the corpus split manifest
    (``pipeline.core.splits``) are left out, so that the end-to-end tune and report figures are of
    claims the model never saw; ``()`` reproduces the data of stance@v4 and before."""
    root = _check_dir(Path(root))
    rng = random.Random(seed)
    train: list[StancePair] = []
    dev: list[StancePair] = []

    # FEVER: gold pairs (S/R) + NEI claims against their nearest evidence + supported/refuted
    # claims against on-topic non-gold evidence.
    # FEVER-Symmetric was built from FEVER dev claims and sentences: any pair sharing a claim or
    # a sentence with it is left out, so that the probe measures reading, not memory.
    probe = fever_symmetric_dev(root)
    probe_texts = {_alnum(p.claim) for p in probe} | {_alnum(p.evidence) for p in probe}
    fever = [p for p in fever_pairs(root)
             if _alnum(p.claim) not in probe_texts and _alnum(p.evidence) not in probe_texts]
    fever_train, fever_dev = split_groups(fever, 0.08, seed)
    gold_by_claim: dict[str, set[str]] = defaultdict(set)
    for p in fever:
        gold_by_claim[p.claim].add(p.evidence)
    pool = [p.evidence for p in fever]
    nei_claims = [c for c in fever_nei_claims(root) if _alnum(c) not in probe_texts]
    rng_nei = random.Random(seed + 1)
    nei_claims = rng_nei.sample(nei_claims, min(len(nei_claims), 2400))
    nei = bm25_hard_negatives([(c, set()) for c in nei_claims], pool, "fever", per_query=1)
    sr_claims = sorted(gold_by_claim)
    rng_nei.shuffle(sr_claims)
    # FEVER mutates one sentence into many claims, so another claim's gold sentence is often
    # evidence for this one too: drop a neighbour that is gold for a claim sharing many words.
    claims_by_passage: dict[str, list[set[str]]] = defaultdict(list)
    for p in fever:
        claims_by_passage[p.evidence].append(set(p.group.split()))
    candidates = bm25_hard_negatives([(c, gold_by_claim[c]) for c in sr_claims[:1800]], pool, "fever",
                                     per_query=1, skip_top=1)
    nei += [p for p in candidates
            if max(_jaccard(set(p.group.split()), other) for other in claims_by_passage[p.evidence]) < 0.3]
    nei_train, nei_dev = split_groups(nei, 0.08, seed)
    train += _balanced(fever_train + nei_train, TRAIN_QUOTA["fever"] // 3, rng)
    dev += _balanced(fever_dev + nei_dev, 200, rng)

    # COVID-Fact and SciFact: the published train/dev split, plus BM25 non-evidence as NEI.
    for name, loader in (("covidfact", covidfact_pairs), ("scifact", scifact_pairs)):
        parts = {}
        for split in ("train", "dev"):
            pairs = loader(root, split)
            gold = defaultdict(set)
            for p in pairs:
                gold[p.claim].add(p.evidence)
            negatives = bm25_hard_negatives([(c, g) for c, g in gold.items()], [p.evidence for p in pairs], name,
                                            per_query=1)
            negatives = _sample(negatives, len(pairs) // 3, random.Random(seed + 2))
            parts[split] = pairs + negatives
        train += _sample(parts["train"], TRAIN_QUOTA[name], rng)
        dev += parts["dev"]

    # HealthVer: only a dev file exists; split it by claim.
    hv_train, hv_dev = split_groups(healthver_pairs(root), 0.25, seed)
    train += hv_train * healthver_repeat
    dev += hv_dev

    # AVeriTeC: claims held out for dev are also the verdict model's training claims.
    claims = averitec_claims(root)
    av_train_claims, av_dev_claims = averitec_claim_split(claims, seed=seed)
    for part_claims, target in ((av_train_claims, train), (av_dev_claims, dev)):
        pairs = averitec_pairs(part_claims)
        evidence_of = {p.claim: {p.evidence} for p in pairs}
        negatives = bm25_hard_negatives([(c, g) for c, g in evidence_of.items()], [p.evidence for p in pairs],
                                        "averitec", per_query=1)
        negatives = _sample(negatives, len(pairs) // 3, random.Random(seed + 3))
        target += pairs + negatives
        target += denial_pairs(part_claims, seed=seed)
        if reported_denials:
            target += denial_report_pairs(part_claims, seed=seed)

    # Dev is capped per source so that scoring it stays a few minutes on 2 shared cores.
    dev_by_source = defaultdict(list)
    for p in dev:
        dev_by_source[p.source].append(p)
    dev = [p for source in sorted(dev_by_source) for p in _sample(dev_by_source[source], DEV_CAP, random.Random(seed + 4))]
    if held_out_splits:
        train = without_held_out(train, held_out_splits)
        # Dev calibrates the temperature and is read while tuning: the report split stays unread.
        dev = without_held_out(dev, ("report",))
    if max_pairs is not None and max_pairs < len(train):
        train = _sample(train, max_pairs, rng)
    if negation:
        train += negation_pairs(train, negation, seed=seed)
    rng.shuffle(train)
    train_groups = {p.group for p in train}
    # A claim can come from two sources (e.g. AVeriTeC and its derived denials): keep it out of dev.
    dev = [p for p in dev if p.group not in train_groups]
    return {"train": train, "dev": dev, "fever_symmetric": probe}


def without_held_out(pairs: Sequence[StancePair], splits: Sequence[str] = ("tune", "report"),
                     manifest_path: Path | None = None) -> list[StancePair]:
    """``pairs`` less those whose claim (normalised wording) or evidence text is a claim or gold
    evidence of the corpus split manifest's ``splits``."""

    held_out = SplitManifest.load(manifest_path or MANIFEST_PATH).held_out(splits)
    return [p for p in pairs if not excluded_from_training(p.claim, p.evidence, held_out)]


def without_claims_of(pairs: Sequence[StancePair], dev: Sequence[StancePair]) -> list[StancePair]:
    """``pairs`` less those about a claim of ``dev``: pairs read from a file are added after the dev
    split was drawn, and a dev claim's pair would be trained on and then scored (the temperature
    fitted on it too)."""
    dev_claims = {p.group for p in dev}
    return [p for p in pairs if p.group not in dev_claims]


def pairs_to_add(path: Path | str, dev: Sequence[StancePair]) -> list[StancePair]:
    """The labelled pairs of a file (mined negatives, joint readings) that may join the training
    pairs: none that touches a held-out claim of the corpus split or a claim of ``dev``."""
    return without_claims_of(without_held_out(load_labelled_file(path)), dev)


def focused(train: Sequence[StancePair], focus: Sequence[str], replay: int, seed: int = 13) -> list[StancePair]:
    """Every training pair of the ``focus`` sources plus ``replay`` pairs drawn from the others:
    the set for training a model further on some sources without forgetting the rest (no focus:
    ``replay`` pairs of all sources)."""
    unknown = sorted(set(focus) - set(LICENCES))
    if unknown:
        raise UserError(f"unknown source(s) {', '.join(unknown)}; known: {', '.join(sorted(LICENCES))}")
    present = {p.source for p in train}
    empty = [source for source in focus if source not in present]
    if empty:
        # Else the model was trained on the replayed pairs alone, under a focus that said otherwise.
        raise UserError(f"no training pair of {', '.join(empty)} to focus on (--joint-pairs FILE gives joint pairs, "
                        "--reported-denials the denial-report ones, --negation N the negation ones)")
    chosen = [p for p in train if p.source in focus]
    others = [p for p in train if p.source not in focus]
    out = chosen + _sample(others, min(replay, len(others)), random.Random(seed + 6))
    random.Random(seed + 7).shuffle(out)
    return out


def describe(pairs: Sequence[StancePair]) -> dict:
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for (source, label), n in sorted(Counter((p.source, p.label) for p in pairs).items()):
        counts[source][label] = n
    return dict(counts)


def training_data_card(splits: dict[str, list[StancePair]]) -> list[dict]:
    counts = Counter(p.source for p in splits["train"])
    out = []
    for source, (dataset, files, licence) in LICENCES.items():
        if source == "fever_symmetric":
            out.append({"dataset": dataset, "files": files, "licence": licence, "rows": 0,
                        "use": "evaluation only"})
        elif counts.get(source):
            out.append({"dataset": dataset, "files": files, "licence": licence, "rows": counts[source]})
    return out
