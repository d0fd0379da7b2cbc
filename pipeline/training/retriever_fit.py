"""Fit the query adapter (``pipeline.retrieval.query_adapter``) from claims and their gold evidence.

The index's encoder is all-MiniLM-L6-v2 as packaged: trained to match sentences that mean the
same, not a claim to the sentence that settles it (a fact-checker's justification rarely repeats
the claim's words). The query adapter is a linear map on the claim's vector, learned from
triplets built from the train split of the corpus manifest only (or, for a user's corpus, from
the train split of its own evidence groups):

- the claim;
- a positive: a sentence of one of its gold documents that is (or holds) a gold evidence text
  (``datasets.claims.evidence_matches``), read as the index reads it (``indexed_texts``:
  title and previous sentence before it);
- a hard negative: one of the claim's best ``NEGATIVE_RANKS`` passages under the retriever with
  no adapter that is not gold, not from a gold document or a document of any tune/report claim,
  not a near-copy of a gold text, and not read as support or refutation with high confidence by
  the stance screen (annotations are incomplete: a confident reading is more likely a missed gold).

A triplet whose positive or negative holds the gold evidence text of a tune or report claim is
dropped (``held_out_evidence``): the corpora repeat sentences across documents, so the split's
evidence groups alone do not keep held-out evidence out. Loss: in-batch softmax over every
positive and negative of the batch (as sentence-transformers' ``MultipleNegativesRankingLoss``)
plus a penalty that keeps the map near the identity.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import random
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from pipeline.core.errors import UserError
from pipeline.core.io import write_jsonl
from pipeline.core.splits import text_key
from pipeline.datasets.claims import CorpusClaim, evidence_matches, read_corpus_claims
from pipeline.datasets.corpora import (
    DEFAULT_CORPORA_DIR,
    DEFAULT_DATA_DIR,
    claim_splits,
    claims_with_gold,
    corpus_with_store,
)
from pipeline.datasets.stores import table_ids
from pipeline.retrieval.query_adapter import ADAPTER_EXCLUDED, ADAPTER_PENALTY, TRIPLET_CORPORA, apply_map
from pipeline.training.hard_negatives import MAX_SCREEN_CONFIDENCE, near_copy
from pipeline.verdict.validation import InvalidClaimError, validate_claim

# Imported where used, not here (slow to load, and most callers need only part of them): torch, the
# encoder, the stance screen, the Checker, the store builder.

NEGATIVE_RANKS = 10
SCALE = 20.0
CACHE_DIR = Path("out/query_adapter")


@dataclass(frozen=True)
class RetrieverTriplet:
    corpus: str
    claim_id: str
    claim: str
    positive: str
    negative: str


def mine_triplets(corpus: str, *, screen, per_claim: int = 2, seed: int = 13,
                  data_dir: Path | str = DEFAULT_DATA_DIR, corpora_dir: Path | str = DEFAULT_CORPORA_DIR,
                  limit: int | None = None, log: Callable[[str], None] = print) -> tuple[list[RetrieverTriplet], dict]:
    """Triplets of one public corpus's train-split claims (module doc) and counts of what was dropped why."""
    built = corpus_with_store(corpus, data_dir, corpora_dir)
    return mine_store_triplets(corpus, built.store_dir, built.claims, built.splits, screen=screen,
                               per_claim=per_claim, seed=seed, limit=limit, log=log)


def mine_store_triplets(corpus: str, store_dir: Path, claims: Sequence[CorpusClaim], splits: Sequence[str], *,
                        screen, per_claim: int = 2, seed: int = 13, limit: int | None = None,
                        gold_by_retrieval: bool = False,
                        log: Callable[[str], None] = print) -> tuple[list[RetrieverTriplet], dict]:
    """Triplets of the train-split ``claims`` against the built store ``store_dir`` (``corpus``
    labels them), and counts of what was dropped why. ``gold_by_retrieval``: for a claim that
    names no gold document (a user's claims file need not), its positives are the retrieved
    candidates that match a gold text, and their documents count as its gold pages."""
    from pipeline.retrieval.index import SENTENCE_CONTEXT, index_titles, indexed_texts
    from pipeline.retrieval.query_adapter import NO_ADAPTER
    from pipeline.retrieval.retrieve import CorpusView
    from pipeline.verdict.checker import Checker

    name_of = table_ids(store_dir)
    held_out_docs = {d for c, s in zip(claims, splits) if s != "train" for d in c.gold_documents}
    view = CorpusView.from_store(store_dir)
    sentences = view.sentences
    indexed = dict(zip(zip(sentences["doc_id"].astype(str), sentences["index"].astype(int)),
                       indexed_texts(sentences, index_titles(view.documents), SENTENCE_CONTEXT)))
    rows_of_doc: dict[str, list[tuple[int, str]]] = {}
    for doc_id, position, text in zip(sentences["doc_id"].astype(str), sentences["index"].astype(int),
                                      sentences["text"].astype(str)):
        rows_of_doc.setdefault(doc_id, []).append((position, text))
    docs_of_name: dict[str, list[str]] = {}
    for doc_id, name in name_of.items():
        docs_of_name.setdefault(name, []).append(doc_id)

    rng = random.Random(seed)
    dropped: Counter = Counter()
    chosen = []
    for claim, split in zip(claims, splits):
        if split != "train" or not claim.gold_evidence or claim.exclude_documents:
            continue
        try:
            validate_claim(claim.claim)
        except InvalidClaimError:
            dropped["invalid claim"] += 1
            continue
        gold_docs = {d for name in claim.gold_documents for d in docs_of_name.get(name, [])}
        positives = [indexed[(doc_id, position)] for doc_id in sorted(gold_docs)
                     for position, text in rows_of_doc.get(doc_id, [])
                     if len(text.split()) >= 3 and any(evidence_matches(text, g) for g in claim.gold_evidence)]
        if not positives and not (gold_by_retrieval and not gold_docs):
            dropped["no gold sentence in the store"] += 1
            continue
        chosen.append((claim, gold_docs, positives))
    if limit is not None and limit < len(chosen):
        chosen = sorted(rng.sample(chosen, limit), key=lambda item: item[0].id)

    # Mined with the retriever as encoded: a map must not choose the negatives it is fitted against.
    checker = Checker(store_dir, query_adapter=NO_ADAPTER)
    proposals: list[tuple[int, str, str, str]] = []  # (claim position, positive, negative, negative sentence)
    started = time.perf_counter()
    for offset in range(0, len(chosen), 64):
        batch = chosen[offset:offset + 64]
        for position, ((claim, gold_docs, positives), evidence) in enumerate(
                zip(batch, checker.retrieve([c.claim for c, _, _ in batch], top_k=3 * NEGATIVE_RANKS)), offset):
            if gold_by_retrieval and not gold_docs:
                found = [item for item in evidence if len(item.sentence.split()) >= 3
                         and any(evidence_matches(item.sentence, g) for g in claim.gold_evidence)]
                positives = [indexed[(item.doc_id, item.sentence_index)] for item in found]
                gold_docs = {item.doc_id for item in found}
                if not positives:
                    dropped["no gold sentence among the retrieved"] += 1
                    continue
            eligible = []
            for item in evidence:
                document = name_of.get(item.doc_id, "")
                if item.doc_id in gold_docs or document in claim.gold_documents:
                    dropped["gold page"] += 1
                elif document in held_out_docs:
                    dropped["document of a held-out claim"] += 1
                elif any(near_copy(item.sentence, g) or evidence_matches(item.sentence, g)
                         for g in claim.gold_evidence):
                    dropped["gold or near-copy"] += 1
                elif len(item.sentence.split()) < 5:
                    dropped["under 5 words"] += 1
                else:
                    eligible.append(item)
            eligible = eligible[:NEGATIVE_RANKS]
            for positive in rng.sample(positives, min(per_claim, len(positives))):
                if not eligible:
                    dropped["no eligible negative"] += 1
                    break
                negative = rng.choice(eligible)
                proposals.append((position, positive, indexed[(negative.doc_id, negative.sentence_index)],
                                  negative.sentence))
        log(f"{corpus}: retrieved for {min(offset + 64, len(chosen))}/{len(chosen)} claims "
            f"({time.perf_counter() - started:.0f} s)")
    probs = (screen.predict_proba([chosen[p][0].claim for p, _, _, _ in proposals], [s for _, _, _, s in proposals])
             if proposals else [])
    triplets = []
    for (position, positive, negative_text, _), row in zip(proposals, probs):
        if max(float(row[0]), float(row[1])) >= MAX_SCREEN_CONFIDENCE:
            dropped["screen reads support/refutation"] += 1
            continue
        claim = chosen[position][0]
        triplets.append(RetrieverTriplet(corpus, claim.id, claim.claim, positive, negative_text))
    stats = {"corpus": corpus, "claims": len(chosen), "triplets": len(triplets),
             "claims_with_triplets": len({t.claim_id for t in triplets}), "dropped": dict(dropped),
             "seconds": round(time.perf_counter() - started, 1)}
    log(json.dumps(stats))
    return triplets, stats


def mine_all(out: Path | str, corpora: Sequence[str] = TRIPLET_CORPORA, *, screen_spec: str = "stance@v5",
             per_claim: int = 2, seed: int = 13, data_dir: Path | str = DEFAULT_DATA_DIR,
             corpora_dir: Path | str = DEFAULT_CORPORA_DIR, limit: int | None = None,
             log: Callable[[str], None] = print) -> dict:
    """Every corpus's triplets in one JSONL (atomic) and the counts in ``OUT.stats.json``."""
    from pipeline.core.io import atomic_write_text
    from pipeline.stance.model import StanceModel

    screen = StanceModel(screen_spec, backend="bf16")
    rows, stats = [], []
    for corpus in corpora:
        triplets, corpus_stats = mine_triplets(corpus, screen=screen, per_claim=per_claim, seed=seed,
                                               data_dir=data_dir, corpora_dir=corpora_dir, limit=limit, log=log)
        rows += [asdict(t) for t in triplets]
        stats.append(corpus_stats)
    out = Path(out)
    write_jsonl(out, rows)
    summary = {"out": str(out), "rows": len(rows), "screen": screen_spec, "per_claim": per_claim, "seed": seed,
               "negative_ranks": NEGATIVE_RANKS, "max_screen_confidence": MAX_SCREEN_CONFIDENCE, "corpora": stats}
    atomic_write_text(out.with_suffix(".stats.json"), json.dumps(summary, indent=1) + "\n")
    return summary


def read_triplets(path: Path | str) -> list[RetrieverTriplet]:
    """The triplets of a JSONL file (``mine_all``'s output); every bad line is named."""
    from pipeline.core.errors import InputError
    from pipeline.core.io import jsonl_lines

    fields = [f.name for f in dataclasses.fields(RetrieverTriplet)]
    out, problems = [], []
    for line_no, row, error in jsonl_lines(path):  # every key is read: a triplet has its fields and no other
        if error is not None or row is None:
            problems.append(f"line {line_no}: {error or 'not a JSON object'}")
        elif sorted(row) != sorted(fields) or not all(isinstance(row[f], str) and row[f] for f in fields):
            problems.append(f"line {line_no}: a triplet has the texts {', '.join(fields)} and nothing else")
        else:
            out.append(RetrieverTriplet(**row))
    if problems:
        raise InputError(path, "; ".join(problems[:5]) + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""))
    if not out:
        raise InputError(path, "no triplets")
    return out


def fit_query_adapter(claims: np.ndarray, positives: np.ndarray, negatives: np.ndarray, *,
                      penalty: float = ADAPTER_PENALTY, epochs: int = 8, learning_rate: float = 1e-3,
                      batch_size: int = 256, scale: float = SCALE, seed: int = 13,
                      claim_ids: Sequence[str] | None = None) -> np.ndarray:
    """The query adapter's matrix W (d, d), learned so that each claim vector, mapped by W and
    normalised, is nearer its positive than every other positive and negative of its batch
    (in-batch softmax at ``scale``), with ``penalty`` * ||W - I||^2 / d keeping W near the
    identity (a map far from it would forget what the packaged encoder knows). Inputs: (n, d)
    L2-normalised vectors of the triplets' claims, positives and negatives.

    ``claim_ids``: where given, a claim's other triplets in its batch are masked (their positives
    are evidence for it too, not negatives); a small corpus fits in one batch, where that matters.
    The public fit leaves them unmasked (about 2.5% of claims once an epoch among ~10,000
    triplets; a masked variant measured the same), which keeps the shipped map reproducible."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a 384 x 384 map; a second thread only spins on the shared 2 cores
    try:
        return _fit(torch, claims, positives, negatives, penalty=penalty, epochs=epochs,
                    learning_rate=learning_rate, batch_size=batch_size, scale=scale, seed=seed, claim_ids=claim_ids)
    finally:
        torch.set_num_threads(threads)


def _fit(torch, claims, positives, negatives, *, penalty, epochs, learning_rate, batch_size, scale, seed,
         claim_ids) -> np.ndarray:
    generator = torch.Generator().manual_seed(seed)
    groups = None
    if claim_ids is not None:
        groups = torch.as_tensor(np.unique(np.asarray(claim_ids), return_inverse=True)[1])
    q, p, n = (torch.as_tensor(np.asarray(a, dtype=np.float32)) for a in (claims, positives, negatives))
    d = q.shape[1]
    identity = torch.eye(d)
    matrix = torch.nn.Parameter(identity.clone())
    optimiser = torch.optim.Adam([matrix], lr=learning_rate)
    for _ in range(epochs):
        order = torch.randperm(len(q), generator=generator)
        for start in range(0, len(q), batch_size):
            batch = order[start:start + batch_size]
            adapted = torch.nn.functional.normalize(q[batch] @ matrix.T, dim=-1)
            scores = scale * adapted @ torch.cat([p[batch], n[batch]]).T
            if groups is not None:
                same = groups[batch][:, None] == groups[batch][None, :]
                same.fill_diagonal_(False)
                scores[:, :len(batch)] = scores[:, :len(batch)].masked_fill(same, float("-inf"))
            loss = (torch.nn.functional.cross_entropy(scores, torch.arange(len(batch)))
                    + penalty * ((matrix - identity) ** 2).sum() / d)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return matrix.detach().numpy().astype(np.float32)


def encoded_triplets(triplets: Sequence[RetrieverTriplet], encoder, cache_dir: Path | str = CACHE_DIR,
                     log: Callable[[str], None] = print) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The claim, positive and negative vectors of ``triplets``, cached by the triplets' texts and
    the encoder's tag (encoding ~37k passages takes about ten minutes on one core)."""
    from pipeline.core.io import atomic_write_bytes

    digest = hashlib.sha256(json.dumps(encoder.tag, sort_keys=True).encode())
    for t in triplets:
        digest.update(f"{t.claim}\t{t.positive}\t{t.negative}\n".encode("utf-8"))
    path = Path(cache_dir) / f"vectors-{digest.hexdigest()[:16]}.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as cached:
            return cached["claims"], cached["positives"], cached["negatives"]
    started = time.perf_counter()
    vectors = {key: encoder.encode([getattr(t, attr) for t in triplets])
               for key, attr in (("claims", "claim"), ("positives", "positive"), ("negatives", "negative"))}
    log(f"encoded {len(triplets)} triplets in {time.perf_counter() - started:.0f} s")
    buffer = io.BytesIO()
    np.savez(buffer, **vectors)
    atomic_write_bytes(path, buffer.getvalue())
    return vectors["claims"], vectors["positives"], vectors["negatives"]


def first_stage_recall(corpus: str, split: str, matrix: np.ndarray | None, *, encoder, limit: int | None = 300,
                       corpora_dir: Path | str = DEFAULT_CORPORA_DIR, ks: Sequence[int] = (5, 10)) -> dict:
    """Evidence recall@k of the shipped first stage on the public ``corpus``'s ``split`` claims
    with gold evidence (as ``claimsift evaluate corpus`` counts it), claim vectors mapped by
    ``matrix`` (None: as encoded)."""
    built = corpus_with_store(corpus, corpora_dir=corpora_dir)
    return store_recall(built.store_dir, claims_with_gold(built.claims, built.splits, split, limit), matrix,
                        encoder=encoder, ks=ks)


def store_recall(store: Path, chosen: Sequence[CorpusClaim], matrix: np.ndarray | None, *, encoder,
                 ks: Sequence[int] = (5, 10)) -> dict:
    """Evidence recall@k of the shipped first stage on the store ``store`` for the claims
    ``chosen`` (each with gold evidence), claim vectors mapped by ``matrix`` (None: as encoded)."""
    from pipeline.datasets.stores import documents_by_table_id
    from pipeline.retrieval.index import load_index
    from pipeline.retrieval.retrieve import CorpusView, RetrievalConfig, retrieve

    doc_of_name = documents_by_table_id(store)
    excluded = [{d for name in c.exclude_documents for d in doc_of_name.get(name, ())} for c in chosen]
    vectors = encoder.encode([c.claim for c in chosen])
    if matrix is not None:
        vectors = apply_map(vectors, matrix)
    found = retrieve([c.claim for c in chosen], vectors, load_index(store, expected_encoder=encoder.tag),
                     CorpusView.from_store(store), RetrievalConfig(), top_k=max(ks), exclude_docs=excluded)
    out: dict = {"claims": len(chosen)}
    for k in ks:
        hits = [any(evidence_matches(e.sentence, g) for e in evidence[:k] for g in c.gold_evidence)
                for c, evidence in zip(chosen, found)]
        out[f"recall@{k}"] = round(float(np.mean(hits)), 4) if hits else None
    return out


HELD_OUT_MIN_WORDS = 6


def held_out_evidence(corpora: Sequence[str], corpora_dir: Path | str = DEFAULT_CORPORA_DIR) -> list[str]:
    """The gold evidence texts (as ``text_key``, at least ``HELD_OUT_MIN_WORDS`` words) of every
    tune and report claim of ``corpora``: what no training text may hold."""
    keys: set[str] = set()
    for corpus in corpora:
        built = corpus_with_store(corpus, corpora_dir=corpora_dir)
        keys.update(held_out_keys(built.claims, built.splits))
    return sorted(keys)


def held_out_keys(claims: Sequence[CorpusClaim], splits: Sequence[str]) -> list[str]:
    """``held_out_evidence`` for one corpus's ``claims`` and their ``splits``."""
    return sorted({k for claim, split in zip(claims, splits) if split != "train"
                   for k in map(text_key, claim.gold_evidence) if len(k.split()) >= HELD_OUT_MIN_WORDS})


def holds_any(text: str, keys: Sequence[str]) -> bool:
    """``text`` holds one of ``keys`` (``text_key`` forms) as whole words."""
    padded = f" {text_key(text)} "
    return any(f" {key} " in padded for key in keys)


def primary_metric(loco: dict) -> dict:
    """The card's headline: mean first-stage recall@5 over the corpora, each with a map fitted without it."""
    values = [figures["adapter_fitted_without_this_corpus"]["recall@5"] for figures in loco.values()
              if figures["adapter_fitted_without_this_corpus"]["recall@5"] is not None]
    if not values:
        return {"metric": "recall@5", "set": "each corpus unseen, train split, mean", "value": None}
    return {"metric": "recall@5", "set": "each corpus unseen, train split, mean",
            "value": round(float(np.mean(values)), 4)}


def train_query_adapter(models_dir: Path | str, triplets_path: Path | str, *,
                        exclude: Sequence[str] = ADAPTER_EXCLUDED, penalty: float = ADAPTER_PENALTY,
                        epochs: int = 8, corpora_dir: Path | str = DEFAULT_CORPORA_DIR, promote: bool = False,
                        evaluate: bool = True, cache_dir: Path | str = CACHE_DIR,
                        log: Callable[[str], None] = print) -> dict:
    """Fit the query adapter on the triplets of every corpus but ``exclude``, measure it, register
    ``query-adapter@vN`` with its card. The measure that says whether it generalises: for each
    corpus, an adapter fitted *without* that corpus, first-stage recall@5 of its train-split claims
    with and without it (leave-one-corpus-out; the corpus's own tune split with the shipped adapter
    is reported too)."""
    from pipeline.registry.embedding import Encoder

    started = time.monotonic()
    triplets = read_triplets(triplets_path)
    corpora = np.array([t.corpus for t in triplets], dtype=str)
    encoder = Encoder()
    claims, positives, negatives = encoded_triplets(triplets, encoder, cache_dir, log=log)
    held_out = held_out_evidence(list(dict.fromkeys(corpora.tolist())), corpora_dir=corpora_dir)
    clean = np.array([not (holds_any(t.positive, held_out) or holds_any(t.negative, held_out)) for t in triplets])
    log(f"{int((~clean).sum())} of {len(triplets)} triplets hold a tune or report claim's gold evidence: left out")
    kept = ~np.isin(corpora, list(exclude)) & clean
    if not kept.any():
        raise UserError(f"{triplets_path}: no triplet left to fit on once {', '.join(exclude)} and held-out "
                        "evidence are left out")
    matrix = fit_query_adapter(claims[kept], positives[kept], negatives[kept], penalty=penalty, epochs=epochs)
    metrics: dict = {}
    if evaluate:
        loco = {}
        for corpus in dict.fromkeys(corpora.tolist()):
            # The shipped recipe less this corpus: what a corpus nobody fitted on meets.
            rows = kept & (corpora != corpus)
            without = fit_query_adapter(claims[rows], positives[rows], negatives[rows], penalty=penalty, epochs=epochs)
            loco[corpus] = {"without_adapter": first_stage_recall(corpus, "train", None, encoder=encoder,
                                                                  corpora_dir=corpora_dir),
                            "adapter_fitted_without_this_corpus": first_stage_recall(
                                corpus, "train", without, encoder=encoder, corpora_dir=corpora_dir)}
            log(f"{corpus}: {json.dumps(loco[corpus])}")
        tune = {corpus: {"without_adapter": first_stage_recall(corpus, "tune", None, encoder=encoder, limit=200,
                                                               corpora_dir=corpora_dir),
                         "with_adapter": first_stage_recall(corpus, "tune", matrix, encoder=encoder, limit=200,
                                                            corpora_dir=corpora_dir)}
                for corpus in (*dict.fromkeys(corpora.tolist()), "seeds")}
        metrics = {"primary": primary_metric(loco), "leave_one_corpus_out_train_split": loco, "tune_split": tune}
    counts = Counter(corpora[kept].tolist())
    label = register_adapter(
        models_dir, matrix, encoder.tag, metrics=metrics, promote=promote,
        training_data=[{"dataset": f"claimsift evaluate corpus --dataset {c} (train split)", "rows": n,
                        "licence": "as the dataset (see ../shared/datasets/README.md)"}
                       for c, n in sorted(counts.items())],
        extra={"penalty": penalty, "epochs": epochs, "excluded_corpora": list(exclude), "triplets": int(kept.sum()),
               "left_out_holding_held_out_evidence": int((~clean).sum()),
               "fitted_on": sorted(f"{c}/train" for c in set(corpora[kept].tolist())),
               "triplets_sha256": hashlib.sha256(Path(triplets_path).read_bytes()).hexdigest(),
               "total_seconds": round(time.monotonic() - started, 1),
               "reproduce": ("claimsift train mine-triplets --out out/query_adapter/triplets.jsonl && "
                             "claimsift train query-adapter --triplets out/query_adapter/triplets.jsonl "
                             f"--exclude {','.join(exclude)} --out models")})
    log(f"wrote {label} ({int(kept.sum())} triplets)")
    return {"model": label, "metrics": metrics}


ADAPTER_DESCRIPTION = (
    "Linear map (384 x 384, started at the identity, penalised towards it) applied to a claim's "
    "all-MiniLM-L6-v2 vector before dense search, so that a claim lands nearer the sentences that settle "
    "it; sentence vectors and indexes are unchanged. Fitted by in-batch softmax over triplets (claim, gold "
    "evidence sentence read as the index reads it, a hard negative mined with the retriever without a map)")


def register_adapter(models_dir: Path | str, matrix: np.ndarray, encoder_tag: dict, *, metrics: dict,
                     training_data: list[dict], extra: dict, description: str = "", promote: bool = False) -> str:
    """Write ``matrix`` as ``query-adapter@vN`` (numpy + JSON, atomically, with its card); its label."""
    from pipeline.registry.registry import Registry
    from pipeline.retrieval.query_adapter import CONFIG_FILE, MATRIX_FILE, QUERY_ADAPTER

    registry = Registry(models_dir)
    with registry.new_version(QUERY_ADAPTER) as folder:
        version = registry.version_of(folder)
        np.save(folder / MATRIX_FILE, matrix, allow_pickle=False)
        (folder / CONFIG_FILE).write_text(json.dumps({"dimension": int(matrix.shape[0]), "encoder": encoder_tag},
                                                     indent=1) + "\n")
        registry.write_card(
            folder, name=QUERY_ADAPTER, version=version,
            description=ADAPTER_DESCRIPTION + (description or " from the train split of the corpus manifest."),
            training_data=training_data, metrics=metrics,
            extra={"kind": "query-adapter", "encoder": encoder_tag, "scale": SCALE, **extra},
            libraries=("torch", "numpy"))
    label = f"{QUERY_ADAPTER}@{version}"
    if promote:
        registry.promote(label)
    return label


MIN_TUNE_CLAIMS = 30


def adapt_to_corpus(models_dir: Path | str, documents: Sequence[Path | str], claims_path: Path | str,
                    store_dir: Path | str, *, public_triplets: Path | str | None = None,
                    penalty: float = ADAPTER_PENALTY, epochs: int = 8, screen_spec: str = "stance@v5",
                    source_models_dir: Path | str | None = None, log: Callable[[str], None] = print) -> dict:
    """A query adapter for your own corpus: your documents (ingest's table schema or files) and
    labelled claims with gold evidence (``claimsift evaluate corpus``'s claims JSONL). The claims are
    split by evidence-connected groups (``datasets.corpora.claim_splits``); triplets are mined from
    the train split (none holding a tune or report claim's gold evidence), added to the public
    ``public_triplets`` where given (less the excluded corpora and held-out evidence, as
    ``train_query_adapter`` leaves them out), and the map is fitted (a claim's other positives
    masked in its batch) and registered in ``models_dir``, never made current. Compared on the
    tune split, first-stage recall@5: no map, the current map of ``source_models_dir`` (the
    shipped models by default; the stance screen comes from there too), the new one. Use it with
    ``claimsift check --query-adapter query-adapter@vN``."""
    from pipeline.corpus.store import Corpus
    from pipeline.datasets.stores import ensure_store
    from pipeline.registry.embedding import Encoder
    from pipeline.registry.registry import DEFAULT_MODELS_DIR, Registry
    from pipeline.retrieval.index import stale_index_message
    from pipeline.retrieval.query_adapter import NO_ADAPTER, QUERY_ADAPTER, QueryAdapter
    from pipeline.stance.model import StanceModel

    started = time.monotonic()
    source = Path(source_models_dir or DEFAULT_MODELS_DIR)
    store_dir = Path(store_dir)
    # Everything that can be wrong with the inputs is found before minutes of ingesting and mining.
    claims = read_corpus_claims(claims_path)
    public = read_triplets(public_triplets) if public_triplets else []
    screen = StanceModel(screen_spec, models_dir=source, backend="bf16")
    screen.warm_up()
    if documents:
        ensure_store(documents, store_dir)
    elif not Corpus(store_dir).exists():
        raise UserError(f"{store_dir}: no corpus store here; give --documents to build it")
    # Triplets mined from an index that reads sentences another way, or misses some, would teach
    # the map passages the Checker never retrieves.
    stale = stale_index_message(store_dir)
    if stale:
        raise UserError(f"{stale}; run it before mining triplets")
    splits = claim_splits(None, claims)
    yours, stats = mine_store_triplets("yours", store_dir, claims, splits, screen=screen, gold_by_retrieval=True,
                                       log=log)
    your_held_out = held_out_keys(claims, splits)
    kept_yours = [t for t in yours if not (holds_any(t.positive, your_held_out) or holds_any(t.negative, your_held_out))]
    stats["left_out_holding_held_out_evidence"] = len(yours) - len(kept_yours)
    if not kept_yours:
        raise UserError(f"{claims_path}: no train-split claim has a gold evidence sentence in the store "
                        f"({json.dumps(stats['dropped'])}); the claims need `gold_evidence` texts found in the documents")
    if public:
        public_held_out = held_out_evidence(sorted({t.corpus for t in public} - set(ADAPTER_EXCLUDED)))
        public = [t for t in public if t.corpus not in ADAPTER_EXCLUDED
                  and not (holds_any(t.positive, public_held_out) or holds_any(t.negative, public_held_out))]
    encoder = Encoder()
    cache_dir = store_dir / ".query_adapter_cache"
    # Encoded apart, so the public triplets' vectors are cached once per store.
    parts = [encoded_triplets(part, encoder, cache_dir, log=log) for part in (public, kept_yours) if part]
    claim_vectors, positives, negatives = (np.concatenate([part[i] for part in parts]) for i in range(3))
    claim_ids = [f"{t.corpus}/{t.claim_id}" for t in (*public, *kept_yours)]
    matrix = fit_query_adapter(claim_vectors, positives, negatives, penalty=penalty, epochs=epochs,
                               claim_ids=claim_ids)
    tune = claims_with_gold(claims, splits, "tune")
    if len(tune) < MIN_TUNE_CLAIMS:
        log(f"warning: only {len(tune)} tune-split claims with gold evidence to compare on; "
            f"the comparison below says little under {MIN_TUNE_CLAIMS}")
    current_version = Registry(source).current_version(QUERY_ADAPTER)
    current = f"{QUERY_ADAPTER}@{current_version}" if current_version else NO_ADAPTER
    comparison: dict = {"claims": len(tune)}
    if tune:
        comparison["without_adapter"] = store_recall(store_dir, tune, None, encoder=encoder)
        if current != NO_ADAPTER:
            comparison[f"current ({current})"] = store_recall(
                store_dir, tune, QueryAdapter(current, models_dir=source).matrix, encoder=encoder)
        comparison["new"] = store_recall(store_dir, tune, matrix, encoder=encoder)
    log(f"your tune split: {json.dumps(comparison)}")
    reproduce = " ".join(["claimsift train query-adapter", *(f"--documents {d}" for d in documents),
                          f"--claims {claims_path} --store {store_dir}", f"--penalty {penalty}",
                          *([f"--public-triplets {public_triplets}"] if public_triplets else []),
                          f"--out {models_dir}"])
    label = register_adapter(
        models_dir, matrix, encoder.tag, metrics={"your_tune_split": comparison, "mining": stats},
        description=f" from your corpus's train split ({len(kept_yours)} triplets)"
                    + (f" and {len(public)} public triplets." if public else "."),
        training_data=[{"dataset": f"{claims_path} (train split by evidence groups)", "rows": len(kept_yours),
                        "licence": "yours"}]
                      + ([{"dataset": str(public_triplets), "rows": len(public),
                           "licence": "as the public datasets (see ../shared/datasets/README.md)"}] if public else []),
        extra={"penalty": penalty, "epochs": epochs, "triplets": len(kept_yours) + len(public),
               "fitted_on": sorted({"yours/train", *(f"{t.corpus}/train" for t in public)}),
               "total_seconds": round(time.monotonic() - started, 1), "reproduce": reproduce})
    log(f"wrote {label}: use it with `claimsift check --query-adapter {label}`")
    return {"model": label, "metrics": comparison}
