"""One builder per public corpus: the documents (ingest table rows) and labelled claims it makes from
the files in ``../shared/datasets`` (the seeds: from this repository)."""
from __future__ import annotations

import csv
import hashlib
import json
import random
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from pipeline.core.errors import InputError
from pipeline.core.io import jsonl_lines, read_jsonl, read_tsv_rows
from pipeline.core.paths import PROJECT_ROOT

ROOT = PROJECT_ROOT


@dataclass
class CorpusRows:
    """What a builder makes: document rows (ingest table schema), claim rows, and what it left out."""

    documents: list[dict] = field(default_factory=list)
    claims: list[dict] = field(default_factory=list)
    left_out: Counter = field(default_factory=Counter)
    notes: dict = field(default_factory=dict)
    by_text: dict[str, str] = field(default_factory=dict, repr=False)  # document text -> its id

    def document_id(self, text: str, row: dict) -> str:
        """The id of the document with this text, adding ``row`` if the text is new: ingest stores
        one document per distinct text, so two rows with one text would leave one id unknown."""
        key = " ".join(text.split())
        if key not in self.by_text:
            self.documents.append(row)
            self.by_text[key] = row["id"]
        return self.by_text[key]

    def add_claim(self, row: dict) -> None:
        # Only what no checker could read is left out here: what the Checker refuses (language,
        # length) changes with it, and the corpus and the split manifest must not.
        row["claim"] = " ".join(str(row.get("claim") or "").split())
        if not row["claim"]:
            self.left_out["claim without text"] += 1
            return
        self.claims.append(row)


AVERITEC_VERDICT = {"Supported": "SUPPORTED", "Refuted": "REFUTED", "Not Enough Evidence": "NOT_ENOUGH_INFO",
                    "Conflicting Evidence/Cherrypicking": "CONFLICTING"}


def _dmy(value: str) -> str | None:
    match = re.fullmatch(r"(\d{1,2})-(\d{1,2})-(\d{4})", str(value or "").strip())
    return f"{match.group(3)}-{int(match.group(2)):02d}-{int(match.group(1)):02d}" if match else None


def _averitec_answer(answer: dict) -> str:
    text = " ".join(str(answer.get("answer", "")).split())
    if answer.get("answer_type") == "Boolean" and answer.get("boolean_explanation"):
        text = f"{text.rstrip('.')}. {' '.join(str(answer['boolean_explanation']).split())}"
    return text


def build_averitec(data_dir: Path) -> CorpusRows:
    """One document per claim from its question-answer evidence: each question and each answer a
    paragraph (a Boolean answer with its explanation); the claim date as the document's date.
    Never the justification; answers "No answer could be found" are dropped (they would tell the
    label), and so is a question left without answers. The gold evidence is the answers."""
    rows = CorpusRows()
    claims = json.loads((data_dir / "averitec" / "train.json").read_text(encoding="utf-8"))
    for i, c in enumerate(claims):
        label = AVERITEC_VERDICT.get(c.get("label"))
        if label is None:
            rows.left_out[f"label {c.get('label')!r}"] += 1
            continue
        paragraphs, answers = [], []
        for q in c.get("questions") or []:
            kept = [_averitec_answer(a) for a in q.get("answers") or []]
            kept = [a for a in kept if a and not a.lower().startswith("no answer could be found")]
            if not kept:
                rows.left_out["question without an answer (dropped from the document)"] += 1
                continue
            paragraphs.append(" ".join(str(q.get("question", "")).split()))
            paragraphs += kept
            answers += kept
        date = _dmy(c.get("claim_date"))
        documents = []
        if paragraphs:
            text = "\n\n".join(p for p in paragraphs if p)
            documents = [rows.document_id(text, {"id": f"averitec-doc-{i}", "text": text,
                                                  "source": "averitec", "published": date})]
        else:
            rows.left_out["claim without answered questions (checked, no document)"] += 1
        rows.add_claim({"id": f"averitec-{i}", "claim": c["claim"], "label": label, "date": date,
                        "gold_evidence": answers, "gold_documents": documents})
    return rows


def fever_detokenise(text: str) -> str:
    """FEVER's Penn-Treebank tokens back to plain text ("Soul Food -LRB-film-RRB- ," -> "Soul Food (film),")."""
    for token, char in (("-LRB-", "("), ("-RRB-", ")"), ("-LSB-", "["), ("-RSB-", "]"), ("-LCB-", "{"),
                        ("-RCB-", "}"), ("``", '"'), ("''", '"')):
        text = text.replace(token, char)
    text = re.sub(r"\s+([.,;:!?%)\]}])", r"\1", text)
    text = re.sub(r"([(\[{])\s+", r"\1", text)
    text = re.sub(r"\s+(n't|'s|'re|'ve|'ll|'d|'m)\b", r"\1", text)
    return " ".join(text.split())


def _fever_page_title(page: str) -> str:
    return fever_detokenise(page.replace("_", " ").replace("-COLON-", ":"))


FEVER_SAMPLE = {"SUPPORTS": 1000, "REFUTES": 1000, "NOT ENOUGH INFO": 1000}


FEVER_SEED = 13


def build_fever(data_dir: Path) -> CorpusRows:
    """FEVER dev: the gold evidence texts as documents, one per Wikipedia page (or page set, for
    evidence drawn from several pages), for a fixed-seed sample of SUPPORTS, REFUTES and NOT
    ENOUGH INFO claims; and every sampled SUPPORTS/REFUTES claim once more with the documents of
    its own pages masked (``exclude_documents``), labelled NOT_ENOUGH_INFO. Pages are joined
    to the (claim, evidence) pairs by the claim text."""
    rows = CorpusRows()
    root = data_dir / "fever-dev-pairs"
    labels = json.loads((root / "fever_shared_task_dev_labels.json").read_text(encoding="utf-8"))
    pairs: dict[str, dict] = {}
    for pair in read_jsonl(root / "dev_pairs.derived.jsonl"):
        pairs.setdefault(" ".join(pair["claim"].split()), pair)
    by_label: dict[str, list[dict]] = defaultdict(list)
    seen_claims: set[str] = set()
    for entry in labels:
        claim = " ".join(str(entry["claim"]).split())
        if claim in seen_claims:
            rows.left_out["claim repeated in the labels file"] += 1
            continue
        seen_claims.add(claim)
        if entry["label"] != "NOT ENOUGH INFO":
            found = pairs.get(claim)
            if found is None or not entry.get("evidence_pages"):
                rows.left_out["SUPPORTS/REFUTES claim without an evidence pair"] += 1
                continue
            if {"SUPPORTS": "SUPPORTS", "REFUTES": "REFUTES"}[entry["label"]] != found["label"]:
                rows.left_out["label differs between the two files"] += 1
                continue
        by_label[entry["label"]].append(entry)
    rng = random.Random(FEVER_SEED)
    sample = []
    for label, n in FEVER_SAMPLE.items():
        pool = sorted(by_label[label], key=lambda e: e["id"])
        sample += rng.sample(pool, min(n, len(pool)))
    sample.sort(key=lambda e: e["id"])
    page_keys: dict[str, set[str]] = defaultdict(set)  # page -> the page sets (document keys) drawn from it
    page_texts: dict[str, list[str]] = {}  # page set -> its evidence texts
    planned: list[tuple[dict, str, str | None, tuple[str, ...]]] = []
    for entry in sample:
        claim = " ".join(str(entry["claim"]).split())
        if entry["label"] == "NOT ENOUGH INFO":
            planned.append((entry, claim, None, ()))
            continue
        pages = tuple(sorted(set(entry["evidence_pages"])))
        evidence = fever_detokenise(pairs[claim]["evidence"])
        key = "|".join(pages)
        planned.append((entry, claim, evidence, pages))
        texts = page_texts.setdefault(key, [])
        if evidence not in texts:
            texts.append(evidence)
        for page in pages:
            page_keys[page].add(key)
    doc_of_key = {}
    for key, texts in sorted(page_texts.items()):
        text = "\n\n".join(texts)
        title = "; ".join(_fever_page_title(p) for p in key.split("|"))
        doc_id = f"fever-doc-{hashlib.sha256(key.encode('utf-8')).hexdigest()[:12]}"
        doc_of_key[key] = rows.document_id(text, {"id": doc_id, "text": text, "title": title,
                                                  "source": "fever"})
    for entry, claim, gold, pages in planned:
        claim_id = f"fever-{entry['id']}"
        if gold is None:
            rows.add_claim({"id": claim_id, "claim": claim, "label": "NOT_ENOUGH_INFO"})
            continue
        own = doc_of_key["|".join(pages)]
        # Every document drawn from one of its pages, not only the one holding its own evidence.
        masked = sorted({doc_of_key[k] for p in pages for k in page_keys[p]})
        label = "SUPPORTED" if entry["label"] == "SUPPORTS" else "REFUTED"
        rows.add_claim({"id": claim_id, "claim": claim, "label": label, "gold_evidence": [gold],
                        "gold_documents": [own]})
        rows.add_claim({"id": f"{claim_id}-masked", "claim": claim, "label": "NOT_ENOUGH_INFO",
                        "gold_documents": [own], "exclude_documents": masked, "masked_label": label})
    rows.notes["sample"] = {"seed": FEVER_SEED, **FEVER_SAMPLE}
    return rows


def build_covidfact(data_dir: Path) -> CorpusRows:
    """COVID-Fact (RTE form, train and dev): each distinct evidence passage a document; each
    (claim, evidence) pair a claim, entailment -> SUPPORTED, not_entailment (its machine-made
    counter-claims) -> REFUTED. A claim paired with several passages keeps them all as gold."""
    rows = CorpusRows()
    merged: dict[str, dict] = {}
    for split in ("train", "dev"):
        # Read with CSV quoting: a claim holding a quote is quoted the CSV way (``"... 16"" people"``).
        for fields in read_tsv_rows(data_dir / "covid-fact" / "rte" / f"{split}.tsv"):
            row = list(fields.values())
            if len(row) < 4 or not row[1].strip() or not row[2].strip():
                rows.left_out["malformed row"] += 1
                continue
            evidence, claim = " ".join(row[1].split()), " ".join(row[2].split())
            label = "SUPPORTED" if row[3].strip() == "entailment" else "REFUTED"
            n = len(rows.documents)
            doc = rows.document_id(evidence, {"id": f"covidfact-doc-{n}", "text": evidence,
                                              "source": "covidfact"})
            item = merged.setdefault(claim, {"id": f"covidfact-{split}-{row[0].strip()}", "claim": claim,
                                             "labels": set(), "gold_evidence": [], "gold_documents": []})
            item["labels"].add(label)
            if doc not in item["gold_documents"]:
                item["gold_evidence"].append(evidence)
                item["gold_documents"].append(doc)
    for item in merged.values():
        labels = item.pop("labels")
        if len(labels) > 1:
            rows.left_out["claim both entailed and not by its passages"] += 1
            continue
        rows.add_claim({**item, "label": labels.pop()})
    return rows


LIAR_VERDICT = {"true": "SUPPORTED", "mostly-true": "SUPPORTED", "false": "REFUTED", "pants-fire": "REFUTED"}


LIAR_LEFT_OUT = ("half-true", "barely-true")


def _liar_rows(path: Path) -> Iterable[list[str]]:
    """The rows of a LIAR-PLUS tsv; a justification broken over lines is joined back."""
    with open(path, encoding="utf-8") as handle:
        pending: list[str] | None = None
        for fields in csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
            if pending is not None and len(pending) < 16:
                pending = pending[:-1] + [pending[-1] + "\n" + (fields[0] if fields else "")] + fields[1:]
                continue
            if pending is not None:
                yield pending
            pending = fields
        if pending is not None:
            yield pending


def build_liar(data_dir: Path) -> CorpusRows:
    """LIAR-PLUS val2 + test2: one document per claim from the fact-checker's justification (its
    verdict words already removed). true / mostly-true -> SUPPORTED, false / pants-fire ->
    REFUTED. half-true and barely-true claims are not checked: they are mixed verdicts on one
    account of the facts, not evidence on both sides, so CONFLICTING would be a wrong gold label
    and no other verdict fits; their justifications stay in the store as documents."""
    rows = CorpusRows()
    for split in ("val2", "test2"):
        for fields in _liar_rows(data_dir / "liar-plus" / f"{split}.tsv"):
            if len(fields) < 16:
                rows.left_out["malformed row"] += 1
                continue
            json_id, label, statement = fields[1].strip(), fields[2].strip(), fields[3]
            justification = " ".join(fields[15].split())
            claim_id = f"liar-{json_id.removesuffix('.json')}"
            if not justification:
                rows.left_out["no justification"] += 1
                continue
            doc = rows.document_id(justification, {"id": f"{claim_id}-doc", "text": justification,
                                                   "source": "liar-plus"})
            if label in LIAR_LEFT_OUT:
                rows.left_out[f"label {label} (document kept, claim not checked)"] += 1
                continue
            if label not in LIAR_VERDICT:
                rows.left_out[f"label {label!r}"] += 1
                continue
            rows.add_claim({"id": claim_id, "claim": statement, "label": LIAR_VERDICT[label],
                            "gold_evidence": [justification], "gold_documents": [doc]})
    return rows


def healthver_verdict(stances: set[str]) -> str:
    """The claim's verdict from the labels of its (evidence, claim) pairs."""
    polar = stances & {"Supports", "Refutes"}
    if polar == {"Supports", "Refutes"}:
        return "CONFLICTING"
    if polar == {"Supports"}:
        return "SUPPORTED"
    if polar == {"Refutes"}:
        return "REFUTED"
    return "NOT_ENOUGH_INFO"


def build_healthver(data_dir: Path) -> CorpusRows:
    """HealthVer dev: each distinct evidence passage a document; each claim once, labelled from
    its pairs (only Supports -> SUPPORTED, only Refutes -> REFUTED, both -> CONFLICTING, only
    Neutral -> NOT_ENOUGH_INFO). Gold evidence: the passages of its Supports/Refutes pairs."""
    rows = CorpusRows()
    merged: dict[str, dict] = {}
    with open(data_dir / "healthver" / "healthver_dev.csv", encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            evidence, claim = " ".join(row["evidence"].split()), " ".join(row["claim"].split())
            if not evidence or not claim or row["label"] not in ("Supports", "Refutes", "Neutral"):
                rows.left_out["malformed row"] += 1
                continue
            n = len(rows.documents)
            doc = rows.document_id(evidence, {"id": f"healthver-doc-{n}", "text": evidence,
                                              "source": "healthver"})
            item = merged.setdefault(claim, {"id": f"healthver-{row['id'].strip()}", "claim": claim,
                                             "stances": set(), "gold_evidence": [], "gold_documents": []})
            item["stances"].add(row["label"])
            if doc not in item["gold_documents"]:
                item["gold_documents"].append(doc)
            if row["label"] != "Neutral" and evidence not in item["gold_evidence"]:
                item["gold_evidence"].append(evidence)
    for item in merged.values():
        label = healthver_verdict(item.pop("stances"))
        rows.add_claim({**item, "label": label})
    return rows


SEED_CLAIM_FILES = ("tests/data/seed_claims.jsonl", "tests/data/seed_claims_heldout.jsonl")


def build_seeds(data_dir: Path) -> CorpusRows:
    """The seed documents (``seeds/``, ingested as files, as ``make demo`` does) with the 64 seed
    claims; gold evidence: the sentence substrings the claims name."""
    rows = CorpusRows()
    for name in SEED_CLAIM_FILES:
        path = ROOT / name
        for line_no, obj, problem in jsonl_lines(path, reads=("claim", "label", "evidence")):
            if obj is None:
                raise InputError(path, problem or "not a JSON object", row=line_no)
            rows.add_claim({"id": f"{path.stem}-{line_no}", "claim": obj["claim"], "label": obj["label"],
                            "gold_evidence": [sub for _, sub in obj.get("evidence") or []]})
    return rows


BUILDERS: dict[str, Callable[[Path], CorpusRows]] = {
    "averitec": build_averitec, "fever": build_fever, "covidfact": build_covidfact, "liar": build_liar,
    "healthver": build_healthver, "seeds": build_seeds,
}


# The files each builder reads (relative to the datasets folder; seeds: to the repository).
SOURCES = {
    "averitec": ("averitec/train.json",),
    "fever": ("fever-dev-pairs/dev_pairs.derived.jsonl", "fever-dev-pairs/fever_shared_task_dev_labels.json"),
    "covidfact": ("covid-fact/rte/train.tsv", "covid-fact/rte/dev.tsv"),
    "liar": ("liar-plus/val2.tsv", "liar-plus/test2.tsv"),
    "healthver": ("healthver/healthver_dev.csv",),
    "seeds": SEED_CLAIM_FILES,
}
