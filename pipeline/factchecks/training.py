"""Training and evaluating the matcher on CheckThat! 2020 task 2 (tweets to verified claims)."""
from __future__ import annotations

import json
import time
import unicodedata
from pathlib import Path
from typing import Sequence

import numpy as np

from pipeline.core.errors import UserError
from pipeline.core.metrics import ranking_metrics
from pipeline.corpus.factchecks import FactCheck, make_fact_check
from pipeline.factchecks.index import DEFAULT_BACKEND, FEATURE_NAMES, FactCheckIndex, blas_controller
from pipeline.factchecks.matcher import rank_with
from pipeline.factchecks.reranker import MatchReranker
from pipeline.factchecks.text import normalise_post
from pipeline.registry.embedding import Encoder
from pipeline.registry.registry import DEFAULT_MODELS_DIR, ModelRef, Registry

# Imported where used, not here (slow to load; most callers of this module never need them): pandas.

CHECKTHAT_DIR = "checkthat2020-task2-claim-retrieval"


CHECKTHAT_LICENCE = "free for general research use (sshaar/clef2020-factchecking-task2)"


def checkthat_folder(datasets_dir: Path | str) -> Path:
    folder = Path(datasets_dir) / CHECKTHAT_DIR
    if not (folder / "verified_claims.docs.tsv").is_file():
        raise UserError(f"{folder}: no verified_claims.docs.tsv here; pass the shared datasets folder "
                        "(default ../shared/datasets)")
    return folder


def checkthat_records(datasets_dir: Path | str) -> list[FactCheck]:
    """The 10,375 verified claims (Snopes) as fact-check records; the set carries no ratings."""
    import pandas as pd


    table = pd.read_csv(checkthat_folder(datasets_dir) / "verified_claims.docs.tsv", sep="\t", dtype=str,
                        keep_default_na=False)
    table.columns = ["id", "claim", "title"]
    return [make_fact_check({"id": row.id, "claim": row.claim, "title": row.title, "rating": "",
                             "publisher": "Snopes"}, source="verified_claims.docs.tsv")
            for row in table.itertuples(index=False)]


def checkthat_queries(datasets_dir: Path | str, split: str) -> list[dict]:
    """``[{id, query, relevant: [record ids]}]`` of the ``train`` or ``dev`` tweets."""
    import pandas as pd

    folder = checkthat_folder(datasets_dir) / split
    tweets = pd.read_csv(folder / "tweets.queries.tsv", sep="\t", dtype=str, keep_default_na=False)
    tweets.columns = ["id", "query"]
    qrels = pd.read_csv(folder / "tweet-vclaim-pairs.qrels", sep="\t", header=None, dtype=str)
    relevant: dict[str, list[str]] = {}
    for qid, _, vid, rel in qrels.itertuples(index=False):
        if str(rel).strip() == "1":
            relevant.setdefault(qid, []).append(vid)
    return [{"id": row.id, "query": row.query, "relevant": relevant.get(row.id, [])}
            for row in tweets.itertuples(index=False)]


def _candidate_table(index: FactCheckIndex, queries: list[dict], encoder, n_candidates: int):
    """Per query: (slots, features, labels) where a slot is positive when one of its records is."""
    clean = encoder.encode([normalise_post(q["query"]) for q in queries])
    raw = encoder.encode([unicodedata.normalize("NFKC", q["query"]) for q in queries])
    position_of = {r.id: i for i, r in enumerate(index.records)}
    slot_of = {p: s for s, group in enumerate(index.groups) for p in group}
    out = []
    with blas_controller().limit(limits=1, user_api="blas"):
        for q, qv, rv in zip(queries, clean, raw):
            slots, features = index.candidate_features(q["query"], qv, rv, n_candidates)
            gold = {slot_of[position_of[r]] for r in q["relevant"] if r in position_of}
            out.append((slots, features, np.isin(slots, list(gold)).astype(int), qv, rv))
    return out


def _evaluate_table(index: FactCheckIndex, reranker: MatchReranker, queries: list[dict], table,
                    k: int = 50) -> tuple[dict, list[float], list[int]]:
    rankings, top_probs, top_correct = [], [], []
    for q, (_, _, _, qv, rv) in zip(queries, table):
        ranked = rank_with(index, reranker, q["query"], qv, rv, k)
        ids = [index.records[i].id for i, _ in ranked]
        rankings.append(ids)
        if ranked:
            top_probs.append(ranked[0][1])
            top_correct.append(int(ids[0] in set(q["relevant"])))
    return ranking_metrics(rankings, [q["relevant"] for q in queries]), top_probs, top_correct


def _baseline_metrics(index: FactCheckIndex, queries: list[dict], table) -> dict:
    """Dev metrics of each first-stage signal alone, for the model card."""
    out = {}
    for name, column in (("bm25", FEATURE_NAMES.index("bm25_both")), ("dense", FEATURE_NAMES.index("cos_claim"))):
        rankings = []
        for slots, features, _, _, _ in table:
            order = np.lexsort((slots, -features[:, column]))
            rankings.append([index.records[p].id for j in order for p in index.groups[slots[j]]])
        metrics = ranking_metrics(rankings, [q["relevant"] for q in queries], ks=(1, 5, 10))
        out[name] = {k: metrics[k] for k in ("map@1", "map@5", "mrr", "recall@10")}
    return out


def train_matcher(datasets_dir: Path | str, backend: str = DEFAULT_BACKEND, Cs: Sequence[float] = (0.1, 1.0, 10.0),
                  n_candidates: int = 50, models_dir: Path | str | None = None, version: str | None = None,
                  promote: bool = True, index_cache: Path | str | None = None,
                  progress=lambda message: None) -> tuple[ModelRef, dict]:
    """Train the re-ranker on CheckThat! 2020 task 2 train, pick C on dev, register it."""

    started = time.time()
    records = checkthat_records(datasets_dir)
    train, dev = checkthat_queries(datasets_dir, "train"), checkthat_queries(datasets_dir, "dev")
    encoder = Encoder(backend=backend)
    index = None
    if index_cache and (Path(index_cache) / "manifest.json").is_file():
        try:
            index = FactCheckIndex.load(Path(index_cache), records, encoder.tag)
            progress(f"re-using the verified-claim vectors in {index_cache}")
        except UserError:
            index = None
    if index is None:
        progress(f"encoding {len(records)} verified claims ({backend})")
        index = FactCheckIndex.build(records, encoder)
        if index_cache:
            index.save(Path(index_cache))
    progress("computing candidate features")
    train_table = _candidate_table(index, train, encoder, n_candidates)
    dev_table = _candidate_table(index, dev, encoder, n_candidates)
    X = np.vstack([t[1] for t in train_table])
    y = np.concatenate([t[2] for t in train_table])
    tuning = {}
    best = None
    for C in Cs:
        reranker = MatchReranker(C=C).fit(X, y)
        metrics, probs, correct = _evaluate_table(index, reranker, dev, dev_table)
        tuning[str(C)] = {k: metrics[k] for k in ("map@1", "map@5", "mrr")}
        progress(f"C={C}: dev MAP@5 {metrics['map@5']:.4f}")
        if best is None or metrics["map@5"] > best[1]["map@5"]:
            best = (reranker, metrics, probs, correct)
    assert best is not None  # the grid of C values is not empty
    reranker, metrics, probs, correct = best
    top1 = {}
    for cut in (0.1, 0.3, 0.5, 0.7, 0.9):
        kept = [c for p, c in zip(probs, correct) if p >= cut]
        top1[str(cut)] = {"coverage": round(len(kept) / max(len(dev), 1), 4),
                          "precision": round(sum(kept) / len(kept), 4) if kept else None}
    baselines = _baseline_metrics(index, dev, dev_table)
    registry = Registry(models_dir or DEFAULT_MODELS_DIR)
    folder_files = [f"{CHECKTHAT_DIR}/verified_claims.docs.tsv", f"{CHECKTHAT_DIR}/train/tweets.queries.tsv",
                    f"{CHECKTHAT_DIR}/train/tweet-vclaim-pairs.qrels"]
    with registry.new_version("matcher", version) as folder:
        version = registry.version_of(folder)
        (folder / "reranker.json").write_text(json.dumps(reranker.to_json(), indent=1) + "\n")
        registry.write_card(
            folder, name="matcher", version=version,
            description=("Re-ranker for matching social posts to already fact-checked claims: standardised "
                         "logistic regression over BM25, MiniLM cosine and overlap features of the hybrid "
                         "top candidates (pipeline.factchecks.matcher). C tuned on CheckThat! 2020 task 2 dev. "
                         "Near-duplicate records (same claim up to case, punctuation and quote style; 184 "
                         "groups in the verified claims) are folded onto the first-ingested one, which "
                         "is ranked first: all metrics here, baselines included, are measured with that "
                         "folding. Dev tweets all have a relevant claim, so the similarity cut-offs below "
                         "say nothing about posts that were never fact-checked."),
            training_data=[{"dataset": CHECKTHAT_DIR, "files": folder_files, "licence": CHECKTHAT_LICENCE,
                            "rows": len(train)},
                           {"dataset": CHECKTHAT_DIR, "files": [f"{CHECKTHAT_DIR}/dev/tweets.queries.tsv",
                                                                f"{CHECKTHAT_DIR}/dev/tweet-vclaim-pairs.qrels"],
                            "licence": CHECKTHAT_LICENCE, "rows": len(dev), "use": "tuning C, metrics"}],
            metrics={"primary": "map@5", "dev": metrics, "dev_baselines": baselines, "tuning": tuning,
                     "dev_top1_by_similarity": top1},
            extra={"encoder": encoder.tag, "encoder_backend": backend, "n_candidates": n_candidates,
                   "features": list(FEATURE_NAMES), "suggested_min_similarity": 0.5,
                   "training_pairs": int(len(y)), "training_positives": int(y.sum()),
                   "train_seconds": round(time.time() - started, 1)},
            libraries=("bm25s", "onnxruntime", "PyStemmer"))
    ref = registry.promote(f"matcher@{version}") if promote else registry.resolve(f"matcher@{version}")
    return ref, metrics
