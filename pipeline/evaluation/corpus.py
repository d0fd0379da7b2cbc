"""End-to-end evaluation on corpora: build a store from a document table, check every labelled
claim against the whole store with the normal ``Checker``, and measure verdicts and retrieval.

Inputs:
- documents: anything ``claimsift ingest`` reads (a ``.jsonl/.csv/.parquet`` table with ``text``
  and optional ``id, title, url, source, published``; files or folders);
- claims (JSONL): ``id``, ``claim``, ``label`` (one of the four verdicts), optional ``date``,
  ``gold_evidence`` (texts), ``gold_documents`` (document ids of the table) and
  ``exclude_documents`` (document ids this claim may not draw evidence from: a masked re-check).

Evidence recall@k: a claim counts as found when one of the first k passages shown matches one
of its gold evidence texts. Texts are compared as lower-case words (``splits.text_key``:
punctuation and tokenisation do not matter); a passage sentence matches when it is a whole-word
part of a gold text, or a gold text is a whole-word part of it, the contained side having at
least ``MIN_MATCH_WORDS`` words (shorter ones must be equal), so "No." matches nothing.

``build_dataset(NAME, data_dir)`` writes the documents and claims of a public corpus from
``../shared/datasets`` to ``out/corpora/NAME/`` (reused while its sources and this builder are
unchanged); ``evaluate_corpus`` returns the figures and a per-claim DataFrame (``frame``), the
input an aggregator or a re-ranker is fitted on.
"""
from __future__ import annotations

import csv
import hashlib
import json
import random
import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

from pipeline.core.errors import InputError, UserError
from pipeline.registry.registry import atomic_write_text, sha256_file
from pipeline.core.splits import SPLITS, SplitClaim, assign_splits, text_key
from pipeline.core.types import VERDICT_LABELS, Verdict
from pipeline.core.paths import PROJECT_ROOT

ROOT = PROJECT_ROOT
DEFAULT_DATA_DIR = ROOT.parent / "shared" / "datasets"
DEFAULT_CORPORA_DIR = Path("out/corpora")
DATASETS = ("averitec", "fever", "covidfact", "liar", "healthver", "seeds")
# Bumped when a builder changes what it writes, so that cached corpora are rebuilt.
BUILDER_VERSION = 2
MIN_MATCH_WORDS = 4
RECALL_AT = 5
CHECK_BATCH = 32


# -- claims ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CorpusClaim:
    id: str
    claim: str
    label: str
    date: str | None = None
    gold_evidence: tuple[str, ...] = ()
    gold_documents: tuple[str, ...] = ()
    exclude_documents: tuple[str, ...] = ()
    line: int = 0


def _text_list(obj: dict, key: str, problems: list[str], line_no: int) -> tuple[str, ...]:
    value = obj.get(key)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, (str, int)) for v in value):
        problems.append(f"line {line_no}: `{key}` must be a list of texts")
        return ()
    return tuple(str(v) for v in value)


def read_corpus_claims(path: Path | str) -> list[CorpusClaim]:
    """The labelled claims of ``path``; every bad line is reported together (line numbers)."""
    from pipeline.corpus.ingest import normalise_date
    from pipeline.core.io import parse_object

    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file")
    rows: list[CorpusClaim] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for line_no, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), 1):
        if not line.strip():
            continue
        obj, problem = parse_object(line)
        if problem:
            problems.append(f"line {line_no}: {problem}")
            continue
        claim_id, claim, label = obj.get("id"), obj.get("claim"), obj.get("label")
        if not isinstance(claim_id, (str, int)) or not str(claim_id).strip():
            problems.append(f"line {line_no}: no `id`")
            continue
        claim_id = str(claim_id).strip()
        if claim_id in seen:
            problems.append(f"line {line_no}: id {claim_id!r} already used on line {seen[claim_id]}")
            continue
        seen[claim_id] = line_no
        if label not in VERDICT_LABELS:
            problems.append(f"line {line_no}: label {label!r} is not one of {', '.join(VERDICT_LABELS)}")
            continue
        # Whether the Checker accepts the claim (language, length) is decided when it is checked:
        # a refused claim is counted and named there, not a reason to refuse the file.
        if not isinstance(claim, str) or not claim.strip():
            problems.append(f"line {line_no}: no `claim` text")
            continue
        claim = " ".join(claim.split())
        date = obj.get("date")
        iso = normalise_date(date) if date not in (None, "") else None
        if date not in (None, "") and iso is None:
            problems.append(f"line {line_no}: date {date!r} is not a date")
            continue
        lists = [_text_list(obj, key, problems, line_no)
                 for key in ("gold_evidence", "gold_documents", "exclude_documents")]
        rows.append(CorpusClaim(claim_id, claim, label, iso, *lists, line=line_no))
    if problems:
        more = f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""
        raise InputError(path, "; ".join(problems[:20]) + more)
    if not rows:
        raise InputError(path, "no labelled claims")
    return rows


def evidence_matches(sentence: str, gold: str) -> bool:
    """``sentence`` (a passage shown) is, or contains, the gold evidence text (module doc)."""
    s, g = text_key(sentence), text_key(gold)
    if not s or not g:
        return False
    if s == g:
        return True

    def inside(short: str, long: str) -> bool:
        return len(short.split()) >= MIN_MATCH_WORDS and f" {short} " in f" {long} "

    return inside(s, g) or inside(g, s)


def first_gold_rank(passages: Sequence[str], gold: Sequence[str]) -> int | None:
    """1-based position of the first passage that matches a gold text, or None."""
    for rank, sentence in enumerate(passages, 1):
        if any(evidence_matches(sentence, g) for g in gold):
            return rank
    return None


# -- writing --------------------------------------------------------------------------------------

def _jsonl(rows: Iterable[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


# -- dataset builders -----------------------------------------------------------------------------

@dataclass
class CorpusRows:
    """What a builder makes: document rows (ingest table schema), claim rows, and what it left out."""

    documents: list[dict] = field(default_factory=list)
    claims: list[dict] = field(default_factory=list)
    left_out: Counter = field(default_factory=Counter)
    notes: dict = field(default_factory=dict)
    by_text: dict[str, str] = field(default_factory=dict, repr=False)  # document text -> its id

    def document_id(self, text: str, make: Callable[[], dict]) -> str:
        """The id of the document with this text, adding it (``make()``) if new: ingest stores one
        document per distinct text, so two rows with one text would leave one id unknown."""
        key = " ".join(text.split())
        if key not in self.by_text:
            row = make()
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
            documents = [rows.document_id(text, lambda: {"id": f"averitec-doc-{i}", "text": text,
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
    with open(root / "dev_pairs.derived.jsonl", encoding="utf-8") as handle:
        for line in handle:
            pair = json.loads(line)
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
            pair = pairs.get(claim)
            if pair is None or not entry.get("evidence_pages"):
                rows.left_out["SUPPORTS/REFUTES claim without an evidence pair"] += 1
                continue
            if {"SUPPORTS": "SUPPORTS", "REFUTES": "REFUTES"}[entry["label"]] != pair["label"]:
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
    planned = []
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
        doc_of_key[key] = rows.document_id(text, lambda: {"id": doc_id, "text": text, "title": title,
                                                          "source": "fever"})
    for entry, claim, evidence, pages in planned:
        claim_id = f"fever-{entry['id']}"
        if evidence is None:
            rows.add_claim({"id": claim_id, "claim": claim, "label": "NOT_ENOUGH_INFO"})
            continue
        own = doc_of_key["|".join(pages)]
        # Every document drawn from one of its pages, not only the one holding its own evidence.
        masked = sorted({doc_of_key[k] for p in pages for k in page_keys[p]})
        label = "SUPPORTED" if entry["label"] == "SUPPORTS" else "REFUTED"
        rows.add_claim({"id": claim_id, "claim": claim, "label": label, "gold_evidence": [evidence],
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
        with open(data_dir / "covid-fact" / "rte" / f"{split}.tsv", encoding="utf-8") as handle:
            reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
            next(reader)
            for row in reader:
                if len(row) < 4 or not row[1].strip() or not row[2].strip():
                    rows.left_out["malformed row"] += 1
                    continue
                evidence, claim = " ".join(row[1].split()), " ".join(row[2].split())
                label = "SUPPORTED" if row[3].strip() == "entailment" else "REFUTED"
                n = len(rows.documents)
                doc = rows.document_id(evidence, lambda: {"id": f"covidfact-doc-{n}", "text": evidence,
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
            doc = rows.document_id(justification, lambda: {"id": f"{claim_id}-doc", "text": justification,
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
            doc = rows.document_id(evidence, lambda: {"id": f"healthver-doc-{n}", "text": evidence,
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
        for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            obj = json.loads(line)
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


@dataclass(frozen=True)
class BuiltCorpus:
    name: str
    documents: tuple[Path, ...]  # inputs for ``ingest``
    claims: Path
    info: dict  # build.json: sources, counts, what was left out, seconds

    @property
    def folder(self) -> Path:
        return self.claims.parent


def _source_paths(name: str, data_dir: Path) -> list[Path]:
    if name == "seeds":
        return [ROOT / f for f in SEED_CLAIM_FILES] + sorted((ROOT / "seeds").iterdir())
    return [data_dir / f for f in SOURCES[name]]


def build_dataset(name: str, data_dir: Path | str = DEFAULT_DATA_DIR,
                  corpora_dir: Path | str = DEFAULT_CORPORA_DIR, rebuild: bool = False) -> BuiltCorpus:
    """The documents and claims of the public corpus ``name`` in ``corpora_dir/name/``; reused
    when ``build.json`` says they were made by this builder from the same source files."""
    if name not in BUILDERS:
        raise UserError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    data_dir, folder = Path(data_dir), Path(corpora_dir) / name
    sources = _source_paths(name, data_dir)
    missing = [str(p) for p in sources if not p.is_file()]
    if missing:
        raise UserError(f"dataset {name!r} needs {', '.join(missing)}; pass the shared datasets folder "
                        f"with --data-dir (now {data_dir})")
    fingerprint = {str(p.relative_to(ROOT if name == "seeds" else data_dir)): sha256_file(p) for p in sources}
    documents = (ROOT / "seeds",) if name == "seeds" else (folder / "documents.jsonl",)
    info_path, claims_path = folder / "build.json", folder / "claims.jsonl"
    if not rebuild and info_path.is_file() and claims_path.is_file() and all(p.exists() for p in documents):
        info = json.loads(info_path.read_text(encoding="utf-8"))
        if info.get("builder_version") == BUILDER_VERSION and info.get("sources") == fingerprint:
            return BuiltCorpus(name, documents, claims_path, info)
    started = time.perf_counter()
    rows = BUILDERS[name](data_dir)
    if name != "seeds":
        atomic_write_text(documents[0], _jsonl(rows.documents))
    atomic_write_text(claims_path, _jsonl(rows.claims))
    info = {"name": name, "builder_version": BUILDER_VERSION, "sources": fingerprint,
            "documents": len(rows.documents) if name != "seeds" else len(list((ROOT / "seeds").iterdir())),
            "claims": len(rows.claims), "labels": dict(Counter(r["label"] for r in rows.claims)),
            "left_out": dict(rows.left_out), **rows.notes,
            "build_seconds": round(time.perf_counter() - started, 2)}
    atomic_write_text(info_path, json.dumps(info, indent=1, sort_keys=True) + "\n")
    return BuiltCorpus(name, documents, claims_path, info)


def split_claims_of(corpus: str, built: BuiltCorpus) -> list[SplitClaim]:
    """The claims for grouping: their gold evidence and the texts of their gold documents (an
    AVeriTeC document is the question-answer text the stance trainer pairs with the claim)."""
    texts: dict[str, str] = {}
    for path in built.documents:
        if path.is_file() and path.suffix == ".jsonl":
            for line in path.read_text(encoding="utf-8").splitlines():
                row = json.loads(line)
                texts[str(row["id"])] = row["text"]
    return [SplitClaim(corpus, c.id, c.claim, c.gold_evidence + tuple(texts[d] for d in c.gold_documents if d in texts),
                       c.gold_documents)
            for c in read_corpus_claims(built.claims)]


# -- store ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class StoreBuild:
    store_dir: Path
    reused: bool
    seconds: float
    documents: int
    sentences: int


def _inputs_fingerprint(documents: Sequence[Path]) -> dict[str, str]:
    out = {}
    for root in documents:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            out[str(path.resolve())] = sha256_file(path)
    return out


STORE_STAMP = "corpus_eval_inputs.json"


def ensure_store(documents: Sequence[Path | str], store_dir: Path | str,
                 progress: Callable[[str], None] | None = None) -> StoreBuild:
    """Ingest ``documents`` into ``store_dir`` and index it, unless the store was built from
    exactly these files (same content) and its index exists. Any rejected row stops here."""
    from pipeline.corpus.nlp import Analyser
    from pipeline.retrieval.index import current_index_dir, update_index
    from pipeline.corpus.ingest import ingest
    from pipeline.corpus.store import Corpus

    documents = [Path(p) for p in documents]
    for path in documents:
        if not path.exists():
            raise InputError(path, "no such file or folder")
    store_dir = Path(store_dir)
    stamp_path = store_dir / STORE_STAMP
    started = time.perf_counter()
    fingerprint = _inputs_fingerprint(documents)
    analyser = Analyser()
    stamp = {"inputs": fingerprint, "analyser": analyser.tag}
    reused = (stamp_path.is_file() and current_index_dir(store_dir) is not None
              and json.loads(stamp_path.read_text(encoding="utf-8")) == stamp)
    if not reused:
        report = ingest(documents, store_dir, analyser=analyser, progress=progress)
        if report.rejected:
            raise UserError("rejected inputs: " + "; ".join(str(r) for r in report.rejected[:5])
                            + (f" (and {len(report.rejected) - 5} more)" if len(report.rejected) > 5 else ""))
        update_index(store_dir)
        atomic_write_text(stamp_path, json.dumps(stamp, indent=1, sort_keys=True) + "\n")
    summary = Corpus(store_dir).summary()
    return StoreBuild(store_dir, reused, round(time.perf_counter() - started, 2),
                      int(summary.get("documents", 0)), int(summary.get("sentences", 0)))


def existing_store(store_dir: Path | str) -> StoreBuild:
    from pipeline.corpus.store import Corpus

    corpus = Corpus(store_dir)
    if not corpus.exists():
        raise UserError(f"{store_dir}: no corpus store here; give --documents to build one")
    summary = corpus.summary()
    return StoreBuild(Path(store_dir), True, 0.0, int(summary["documents"]), int(summary["sentences"]))


# -- evaluation -----------------------------------------------------------------------------------

def claim_splits(corpus: str | None, claims: Sequence[CorpusClaim], manifest_path: Path | None = None) -> list[str]:
    """Each claim's split: from the committed manifest for a named public corpus; for any other
    corpus, from its own evidence-connected groups (``splits.assign_splits``)."""
    from pipeline.core.splits import MANIFEST_PATH, SplitManifest

    if corpus in BUILDERS:
        known = SplitManifest.load(manifest_path or MANIFEST_PATH).split_of()
        missing = [c.id for c in claims if (corpus, c.id) not in known]
        if missing:
            raise UserError(f"{len(missing)} claims of {corpus!r} (e.g. {missing[0]}) are not in the split "
                            "manifest; rebuild it with `python -m pipeline.core.splits`")
        return [known[(corpus, c.id)] for c in claims]
    assigned = assign_splits(SplitClaim(corpus or "corpus", c.id, c.claim, c.gold_evidence, c.gold_documents)
                             for c in claims)
    return [a.split for a in assigned]


def select_claims(claims: Sequence[CorpusClaim], splits: Sequence[str], split: str,
                  limit: int | None) -> list[tuple[CorpusClaim, str]]:
    """The claims of ``split`` ("all": every one); with ``limit``, a fixed pseudo-random subset
    (by a hash of the id, so a larger limit keeps the smaller one's claims), in file order."""
    if split not in (*SPLITS, "all"):
        raise UserError(f"unknown split {split!r}; one of {', '.join(SPLITS)}, all")
    chosen = [(c, s) for c, s in zip(claims, splits) if split == "all" or s == split]
    if limit is not None and limit < len(chosen):
        keep = set(sorted(range(len(chosen)),
                          key=lambda i: hashlib.sha256(chosen[i][0].id.encode("utf-8")).hexdigest())[:limit])
        chosen = [item for i, item in enumerate(chosen) if i in keep]
    return chosen


@dataclass(frozen=True)
class ClaimResult:
    corpus: str
    claim: CorpusClaim
    split: str
    verdict: Verdict
    gold_rank: int | None  # first passage (1-based) matching gold evidence, within all shown

    @property
    def evidence_hit(self) -> bool | None:
        if not self.claim.gold_evidence:
            return None
        return self.gold_rank is not None and self.gold_rank <= RECALL_AT

    def to_row(self, names: dict[str, str]) -> dict:
        v, c = self.verdict, self.claim
        return {
            "corpus": self.corpus, "claim_id": c.id, "claim": c.claim, "split": self.split, "date": c.date,
            "gold": c.label, "predicted": v.verdict, "correct": v.verdict == c.label,
            "confidence": float(v.confidence),
            "evidence_doc_ids": [e.doc_id for e in v.evidence],
            "evidence_documents": [names.get(e.doc_id, "") for e in v.evidence],
            "evidence_texts": [e.sentence for e in v.evidence],
            "evidence_scores": [float(e.score) for e in v.evidence],
            "evidence_stances": [e.stance for e in v.evidence],
            "evidence_probs": [dict(e.stance_probs) for e in v.evidence],
            "decisive": list(v.decisive),
            "n_gold_evidence": len(c.gold_evidence), "gold_rank": self.gold_rank, "evidence_hit": self.evidence_hit,
            "excluded_documents": list(c.exclude_documents),
        }


@dataclass(frozen=True)
class CorpusEvaluation:
    summary: dict
    results: tuple[ClaimResult, ...]
    document_names: dict[str, str]  # store doc id -> the document's id in the table

    @property
    def frame(self):
        """One row per claim: ids, gold and predicted verdicts, confidence, and per passage
        shown the document, text, retrieval score and stance probabilities."""
        import pandas as pd

        return pd.DataFrame([r.to_row(self.document_names) for r in self.results])


def verdict_metrics(gold: Sequence[str], predicted: Sequence[str]) -> dict:
    """Accuracy, macro-F1 over the gold classes present, per-class F1 and the confusion matrix
    (rows gold, columns predicted, in ``VERDICT_LABELS`` order)."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

    present = [label for label in VERDICT_LABELS if label in set(gold)]
    per_class = f1_score(gold, predicted, labels=present, average=None, zero_division=0)
    return {
        "accuracy": round(float(accuracy_score(gold, predicted)), 4),
        "macro_f1": round(float(f1_score(gold, predicted, labels=present, average="macro", zero_division=0)), 4),
        "f1": {label: round(float(f), 4) for label, f in zip(present, per_class)},
        "labels": list(VERDICT_LABELS),
        "confusion": confusion_matrix(gold, predicted, labels=list(VERDICT_LABELS)).tolist(),
    }


def majority_baseline(train_labels: Sequence[str], gold: Sequence[str]) -> dict:
    """Always the most frequent label of ``train_labels`` (the corpus's train split)."""
    label = Counter(train_labels).most_common(1)[0][0]
    figures = verdict_metrics(gold, [label] * len(gold))
    return {"label": label, "accuracy": figures["accuracy"], "macro_f1": figures["macro_f1"]}


def _accuracy_of(results: Sequence[ClaimResult]) -> dict | None:
    if not results:
        return None
    return {"n": len(results),
            "accuracy": round(sum(r.verdict.verdict == r.claim.label for r in results) / len(results), 4),
            "predicted": dict(Counter(r.verdict.verdict for r in results))}


def evaluate_corpus(documents: Sequence[Path | str] | None, claims_path: Path | str, store_dir: Path | str, *,
                    corpus: str | None = None, split: str = "all", limit: int | None = None, checker=None,
                    manifest_path: Path | None = None,
                    progress: Callable[[int, int], None] | None = None) -> CorpusEvaluation:
    """Build (or reuse) the store, check the chosen claims against all of it, and measure.
    ``documents``: None to check against ``store_dir`` as it is (already built and indexed).
    ``corpus``: the public corpus's name (its split comes from the manifest), or None.
    ``checker``: a ``Checker`` on ``store_dir`` (default: ``Checker(store_dir)``, as shipped)."""
    from pipeline.verdict.checker import Checker, InvalidClaimError, validate_claim
    from pipeline.corpus.store import Corpus

    claims = read_corpus_claims(claims_path)
    splits = claim_splits(corpus, claims, manifest_path)
    chosen, refused = [], []
    for claim, claim_split in select_claims(claims, splits, split, limit):
        try:
            validate_claim(claim.claim)
            chosen.append((claim, claim_split))
        except InvalidClaimError as exc:
            refused.append({"id": claim.id, "line": claim.line, "reason": str(exc)})
    if not chosen:
        raise UserError(f"{claims_path}: no claims to check in split {split!r} ({len(refused)} refused)")
    built = ensure_store(documents, store_dir) if documents else existing_store(store_dir)
    checker = checker or Checker(store_dir)
    started = time.perf_counter()
    checker.warm_up()
    warm_up_s = time.perf_counter() - started
    names_frame = Corpus(store_dir).documents()
    # A table row's stored name is its id, scoped to its source since ingest scopes ids
    # ("fever#id=fever-doc-1"): documents are named by the table's id here, and an id used by
    # two sources names both documents.
    names = {doc_id: name.split("#id=", 1)[-1]
             for doc_id, name in zip(names_frame["doc_id"].astype(str), names_frame["name"].astype(str))}
    doc_of_name: dict[str, set[str]] = defaultdict(set)
    for doc_id, name in names.items():
        doc_of_name[name].add(doc_id)
    results: list[ClaimResult] = []
    started = time.perf_counter()
    for offset in range(0, len(chosen), CHECK_BATCH):
        batch = chosen[offset:offset + CHECK_BATCH]
        excluded = []
        for claim, _ in batch:
            unknown = [d for d in claim.exclude_documents if d not in doc_of_name]
            if unknown:
                raise InputError(claims_path, f"exclude_documents names {unknown[0]!r}, not a document of the store",
                                 row=claim.line)
            excluded.append({doc_id for d in claim.exclude_documents for doc_id in doc_of_name[d]})
        verdicts = checker.check_many([c.claim for c, _ in batch], top_k=max(RECALL_AT, checker.top_k),
                                      exclude_docs=excluded)
        for (claim, claim_split), verdict in zip(batch, verdicts):
            rank = first_gold_rank([e.sentence for e in verdict.evidence], claim.gold_evidence)
            results.append(ClaimResult(corpus or "corpus", claim, claim_split, verdict, rank))
        if progress:
            progress(len(results), len(chosen))
    check_s = time.perf_counter() - started
    gold = [r.claim.label for r in results]
    predicted = [r.verdict.verdict for r in results]
    hits = [r.evidence_hit for r in results if r.evidence_hit is not None]
    train_labels = [c.label for c, s in zip(claims, splits) if s == "train"] or gold
    summary = {
        "corpus": corpus or str(claims_path), "split": split, "n": len(results),
        # Claims the Checker will not check (another language, too long): named, not scored.
        "n_refused": len(refused), "refused": refused,
        "labels_present": dict(Counter(gold)),
        **verdict_metrics(gold, predicted),
        f"evidence_recall@{RECALL_AT}": round(sum(hits) / len(hits), 4) if hits else None,
        "n_with_gold_evidence": len(hits),
        # Re-checks with the claim's own documents masked (FEVER): how often they come out as
        # their gold label (NOT_ENOUGH_INFO) rather than as the verdict the evidence had given.
        "masked": _accuracy_of([r for r in results if r.claim.exclude_documents]),
        # The train split's most frequent label (what a system could know), and this split's own.
        "majority_baseline": majority_baseline(train_labels, gold),
        "majority_baseline_in_split": majority_baseline(gold, gold),
        "claims_per_s": round(len(results) / check_s, 3) if check_s > 0 else None,
        "check_seconds": round(check_s, 1), "warm_up_seconds": round(warm_up_s, 1),
        "store": {"dir": str(built.store_dir), "reused": built.reused, "seconds": built.seconds,
                  "documents": built.documents, "sentences": built.sentences},
        "checker": {"stance": checker.stance_models, "rules": checker.rules.label(),
                    "verdict": checker.verdict_spec, "top_k": checker.top_k,
                    "rule_packs": list(getattr(checker, "rule_packs", ())),
                    "reranker": checker.reranker.tag if getattr(checker, "reranker", None) else None},
        "limit": limit,
        "evidence_match": (f"a passage sentence and a gold text compared as lower-case words; one a whole-word "
                           f"part of the other, the contained side >= {MIN_MATCH_WORDS} words (or equal)"),
    }
    return CorpusEvaluation(summary, tuple(results), names)


def corpus_results_frame(name: str, *, split: str = "train", limit: int | None = None,
                         data_dir: Path | str = DEFAULT_DATA_DIR, corpora_dir: Path | str = DEFAULT_CORPORA_DIR,
                         store_dir: Path | str | None = None, checker=None):
    """Per-claim results (a DataFrame, ``CorpusEvaluation.frame``) of the public corpus ``name``
    on ``split``: the rows an aggregator or re-ranker is fitted on (train) or tuned on (tune)."""
    built = build_dataset(name, data_dir, corpora_dir)
    evaluation = evaluate_corpus(built.documents, built.claims, store_dir or built.folder / "store", corpus=name,
                                 split=split, limit=limit, checker=checker)
    return evaluation.frame
