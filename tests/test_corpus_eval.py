"""End-to-end corpus evaluation (pipeline/evaluation/corpus.py) and the corpus split manifest
(pipeline/core/splits.py): evidence matching, label mappings, grouping, the committed manifest, the
stance trainer's filter, masking, and a small version of the harness with floors."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.core.errors import InputError
from pipeline.core.splits import (
    MANIFEST_PATH,
    SPLITS,
    SplitClaim,
    SplitManifest,
    assign_splits,
    split_of_group,
    text_hash,
)
from pipeline.datasets.builders import healthver_verdict
from pipeline.datasets.claims import evidence_matches, read_corpus_claims
from pipeline.datasets.corpora import build_dataset, select_claims, split_claims_of
from pipeline.evaluation.corpus import evaluate_corpus

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def test_evidence_matches_whole_words_either_way_and_ignores_tokenisation():
    gold = "Soul Food is a 1997 American comedy-drama film produced by Kenneth `` Babyface '' Edmonds ."
    assert evidence_matches("Soul Food is a 1997 American comedy-drama film produced by Kenneth \"Babyface\" Edmonds.",
                            gold)
    # A passage sentence that is part of a longer gold text, and a gold substring of a sentence.
    assert evidence_matches("It was released by Fox 2000 Pictures.", "Soul Food is a film. It was released by "
                                                                     "Fox 2000 Pictures. It grossed $43 million.")
    assert evidence_matches("On 1 October 2024, Mark Rutte became the new NATO secretary general.",
                            "Mark Rutte became the new NATO secretary")
    # Short texts match only when equal; a word cut in half is no match.
    assert not evidence_matches("No.", "No. Hunter Biden had no experience in the energy sector.")
    assert evidence_matches("No.", "no")
    assert not evidence_matches("Rutte became the new NATO secretaries", "Mark Rutte became the new NATO secretary")


def test_healthver_claim_label_from_its_pairs():
    assert healthver_verdict({"Supports", "Neutral"}) == "SUPPORTED"
    assert healthver_verdict({"Refutes"}) == "REFUTED"
    assert healthver_verdict({"Supports", "Refutes", "Neutral"}) == "CONFLICTING"
    assert healthver_verdict({"Neutral"}) == "NOT_ENOUGH_INFO"


def test_claims_sharing_evidence_or_wording_are_one_group_in_one_split():
    claims = [
        SplitClaim("a", "1", "Vitamin D cures COVID-19.", ("Vitamin D does not cure it.",)),
        SplitClaim("a", "2", "Vitamin D prevents COVID-19.", ("vitamin d does NOT cure it",)),  # same evidence text
        SplitClaim("b", "9", "Vitamin-D prevents   COVID-19!"),  # same wording, another corpus
        SplitClaim("a", "3", "Masks stop the flu.", (), ("doc-7",)),
        SplitClaim("a", "4", "Masks stop colds.", (), ("doc-7",)),  # same gold document
        SplitClaim("c", "5", "Masks stop colds, says a study.", (), ("doc-7",)),  # document ids are per corpus
    ]
    assigned = {a.claim_id: a for a in assign_splits(claims)}
    assert assigned["1"].group == assigned["2"].group == assigned["9"].group
    assert assigned["3"].group == assigned["4"].group != assigned["5"].group
    assert assigned["1"].group != assigned["3"].group
    for a in assigned.values():
        assert a.split == split_of_group(a.group) in SPLITS
    # The group key is its smallest claim hash: a claim's split does not depend on the others' order.
    again = {a.claim_id: a for a in assign_splits(reversed(claims))}
    assert {k: a.split for k, a in again.items()} == {k: a.split for k, a in assigned.items()}


def test_split_buckets_are_near_70_15_15():
    counts = {s: 0 for s in SPLITS}
    for i in range(20000):
        counts[split_of_group(f"group-{i}")] += 1
    assert abs(counts["train"] / 20000 - 0.70) < 0.02
    assert abs(counts["tune"] / 20000 - 0.15) < 0.02
    assert abs(counts["report"] / 20000 - 0.15) < 0.02


def test_committed_manifest_is_ids_and_hashes_with_every_corpus_split():
    manifest = SplitManifest.load(MANIFEST_PATH)
    keys = [(a.corpus, a.claim_id) for a in manifest.assignments]
    assert len(keys) == len(set(keys))
    counts = manifest.counts()
    assert set(counts) == {"averitec", "fever", "covidfact", "liar", "healthver", "seeds"}
    for corpus, per_split in counts.items():
        assert all(per_split[s] > 0 for s in SPLITS), (corpus, per_split)
    # No dataset text: every field is an id, a hash or a split name.
    line = MANIFEST_PATH.read_text(encoding="utf-8").splitlines()[0]
    assert set(json.loads(line)) <= {"corpus", "id", "claim_hash", "group", "split", "evidence_hashes"}
    by_group: dict[str, set[str]] = {}
    for a in manifest.assignments:
        by_group.setdefault(a.group, set()).add(a.split)
    assert all(len(splits) == 1 for splits in by_group.values())


def test_claims_file_problems_are_reported_with_line_numbers(tmp_path):
    path = tmp_path / "claims.jsonl"
    path.write_text("\n".join([
        json.dumps({"id": "a", "claim": "The Eiffel Tower is in Paris.", "label": "SUPPORTED"}),
        json.dumps({"id": "a", "claim": "The Eiffel Tower is in Rome.", "label": "REFUTED"}),
        json.dumps({"id": "b", "claim": "The Eiffel Tower is in Rome.", "label": "FALSE"}),
        json.dumps({"id": "c", "claim": "The Eiffel Tower is tall.", "label": "SUPPORTED", "date": "yesterday-ish"}),
        "{not json",
    ]) + "\n", encoding="utf-8")
    with pytest.raises(InputError) as raised:
        read_corpus_claims(path)
    message = str(raised.value)
    assert "line 2: id 'a' already used on line 1" in message
    assert "line 3: label 'FALSE'" in message
    assert "line 4: date" in message
    assert "line 5:" in message


def test_limit_takes_a_fixed_subset_that_grows_with_the_limit(tmp_path):
    path = tmp_path / "claims.jsonl"
    path.write_text("".join(json.dumps({"id": f"c{i}", "claim": f"Claim number {i} is about the city of Paris.",
                                        "label": "SUPPORTED"}) + "\n" for i in range(40)), encoding="utf-8")
    claims = read_corpus_claims(path)
    splits = ["tune"] * len(claims)
    small = [c.id for c, _ in select_claims(claims, splits, "tune", 5)]
    large = [c.id for c, _ in select_claims(claims, splits, "tune", 12)]
    assert len(small) == 5 and set(small) < set(large)
    assert small == [c.id for c, _ in select_claims(claims, splits, "tune", 5)]


def test_corpus_results_are_built_where_the_command_line_builds_them_whatever_the_working_directory(
        tmp_path, monkeypatch, invoke_cli):
    # out/corpora was relative to the working directory: a notebook started in notebooks/ built every
    # corpus again under notebooks/out/corpora instead of reusing the command line's.
    import pipeline.datasets.corpora as corpora
    from pipeline.core.paths import PROJECT_ROOT
    from pipeline.evaluation import corpus as corpus_eval

    class Built(Exception):
        """Stops the run where the corpus would be built: where it goes is what is tested."""

    asked: list[Path] = []

    def build(name, data_dir=None, corpora_dir=None, rebuild=False):
        asked.append(Path(corpora_dir).resolve())
        raise Built(name)

    monkeypatch.setattr(corpus_eval, "build_dataset", build)
    monkeypatch.setattr(corpora, "build_dataset", build)  # the command imports it from here when it runs
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    monkeypatch.chdir(notebooks)
    with pytest.raises(Built):
        corpus_eval.corpus_results_frame("fever")
    assert isinstance(invoke_cli("evaluate", "corpus", "--dataset", "fever").exception, Built)
    with pytest.raises(Built):
        corpus_eval.corpus_results_frame("fever", corpora_dir=tmp_path / "mine")
    assert asked == [PROJECT_ROOT / "out" / "corpora"] * 2 + [tmp_path / "mine"]
    assert not (notebooks / "out").exists()


@pytest.fixture(scope="module")
def built_corpora(shared_datasets, tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("corpora")
    return {name: build_dataset(name, shared_datasets, folder)
            for name in ("averitec", "fever", "covidfact", "liar", "healthver", "seeds")}


def test_manifest_is_what_the_builders_and_the_code_give(built_corpora):
    """The committed manifest equals the grouping recomputed from the shared datasets."""
    claims = []
    for name, built in built_corpora.items():
        claims += split_claims_of(name, built)
    recomputed = {(a.corpus, a.claim_id): (a.group, a.split) for a in assign_splits(claims)}
    committed = {(a.corpus, a.claim_id): (a.group, a.split) for a in SplitManifest.load().assignments}
    assert recomputed == committed


def test_corpora_builders_follow_the_rules(built_corpora, shared_datasets):
    # AVeriTeC: never the justification, never "No answer could be found".
    averitec = built_corpora["averitec"]
    text = averitec.documents[0].read_text(encoding="utf-8")
    assert "No answer could be found" not in text
    raw = json.loads((shared_datasets / "averitec" / "train.json").read_text(encoding="utf-8"))
    # (Some annotators copied an answer into the justification: those are not checked.)
    justifications = [c["justification"] for c in raw[:300] if len(c.get("justification") or "") > 80
                      and c["justification"] not in json.dumps(c["questions"], ensure_ascii=False)]
    assert len(justifications) > 100
    assert not any(j in text for j in justifications)
    # FEVER: every masked re-check is NOT_ENOUGH_INFO and masks its own gold document.
    fever = read_corpus_claims(built_corpora["fever"].claims)
    masked = [c for c in fever if c.exclude_documents]
    assert masked and all(c.label == "NOT_ENOUGH_INFO" and set(c.gold_documents) <= set(c.exclude_documents)
                          for c in masked)
    assert {c.label for c in fever} == {"SUPPORTED", "REFUTED", "NOT_ENOUGH_INFO"}
    # LIAR-PLUS: the mixed verdicts are not checked.
    liar = read_corpus_claims(built_corpora["liar"].claims)
    assert {c.label for c in liar} == {"SUPPORTED", "REFUTED"}


def test_stance_training_pairs_of_held_out_claims_are_left_out(shared_datasets):
    from pipeline.stance import data as stance_data

    pairs = stance_data.healthver_pairs(shared_datasets)
    manifest = SplitManifest.load()
    held_claims, _ = manifest.held_out(("tune", "report"))
    kept = stance_data.without_held_out(pairs)
    assert 0 < len(kept) < len(pairs)
    assert not any(text_hash(p.claim) in held_claims for p in kept)
    train_claims = {a.claim_hash for a in manifest.assignments if a.corpus == "healthver" and a.split == "train"}
    assert all(p in kept for p in pairs if text_hash(p.claim) in train_claims)


@pytest.mark.slow
def test_masked_documents_are_never_shown(seed_checker):
    claim = "NATO has no mechanism to expel a member country."
    first = seed_checker.check_many([claim])[0]
    top_doc = first.evidence[0].doc_id
    masked = seed_checker.check_many([claim, claim], exclude_docs=[{top_doc}, set()])
    assert masked[0].evidence and all(e.doc_id != top_doc for e in masked[0].evidence)
    assert [e.doc_id for e in masked[1].evidence] == [e.doc_id for e in first.evidence]


def _checkable(claim: str) -> bool:
    from pipeline.verdict.validation import InvalidClaimError, validate_claim

    try:
        validate_claim(claim)
        return True
    except InvalidClaimError:
        return False


def _train_slice(shared_datasets, tmp_path, name: str, n: int) -> tuple[Path, Path]:
    """``n`` train-split claims of a public corpus with their gold documents and as many other
    documents of the corpus (distractors), as a small corpus in ``tmp_path``."""
    built = build_dataset(name, shared_datasets, tmp_path / "corpora")
    split_of = SplitManifest.load().split_of()
    claims = [json.loads(line) for line in built.claims.read_text(encoding="utf-8").splitlines()]
    chosen = [c for c in claims if split_of[(name, c["id"])] == "train" and c.get("gold_documents")
              and _checkable(c["claim"])][:n]
    wanted = {d for c in chosen for d in c["gold_documents"]}
    documents = [json.loads(line) for line in built.documents[0].read_text(encoding="utf-8").splitlines()]
    others = [d for d in documents if d["id"] not in wanted][:len(wanted)]
    picked = [d for d in documents if d["id"] in wanted] + others
    folder = tmp_path / name
    folder.mkdir()
    (folder / "documents.jsonl").write_text("".join(json.dumps(d) + "\n" for d in picked), encoding="utf-8")
    # The first claim once more with its own documents masked: it must not see them.
    masked = {**chosen[0], "id": chosen[0]["id"] + "-masked", "label": "NOT_ENOUGH_INFO",
              "exclude_documents": chosen[0]["gold_documents"]}
    (folder / "claims.jsonl").write_text("".join(json.dumps(c) + "\n" for c in chosen + [masked]), encoding="utf-8")
    return folder / "documents.jsonl", folder / "claims.jsonl"


@pytest.mark.slow
def test_harness_on_seed_claims_and_a_healthver_slice(seed_store, seed_checker, shared_datasets, tmp_path):
    """A small version of ``claimsift evaluate corpus``: the 36 first seed claims against the
    seed store, and 20 HealthVer train-split claims against their passages and as many others.
    The floors sit below what the default Checker measured here; a regression fails them."""
    seeds = tmp_path / "seed_claims.jsonl"
    rows = [json.loads(line) for line in (SEEDS.parent / "tests" / "data" / "seed_claims.jsonl").read_text().splitlines()]
    seeds.write_text("".join(json.dumps({"id": f"s{i}", "claim": r["claim"], "label": r["label"],
                                         "gold_evidence": [sub for _, sub in r["evidence"]]}) + "\n"
                             for i, r in enumerate(rows)), encoding="utf-8")
    on_seeds = evaluate_corpus(None, seeds, seed_store, checker=seed_checker).summary
    assert on_seeds["n"] + on_seeds["n_refused"] == 36 and on_seeds["n"] >= 35
    assert on_seeds["accuracy"] >= SEED_FLOORS["accuracy"], on_seeds
    assert on_seeds["evidence_recall@5"] >= SEED_FLOORS["recall"], on_seeds

    documents, claims = _train_slice(shared_datasets, tmp_path, "healthver", 20)  # + 1 masked re-check
    evaluation = evaluate_corpus([documents], claims, tmp_path / "healthver-store")
    summary, frame = evaluation.summary, evaluation.frame
    assert summary["n"] == len(frame) == 21
    assert set(frame["corpus"]) == {Path(claims).stem}  # a user's claims file names its corpus (was "corpus")
    assert summary["evidence_recall@5"] >= HEALTHVER_FLOORS["recall"], summary
    assert summary["macro_f1"] >= HEALTHVER_FLOORS["macro_f1"], summary
    assert summary["macro_f1"] > summary["majority_baseline_in_split"]["macro_f1"]
    masked = frame[frame["excluded_documents"].map(len) > 0]
    assert len(masked) == 1
    assert not set(masked.iloc[0]["evidence_documents"]) & set(masked.iloc[0]["excluded_documents"])
    own = frame[frame["claim_id"] == masked.iloc[0]["claim_id"].removesuffix("-masked")]
    assert set(own.iloc[0]["evidence_documents"]) & set(masked.iloc[0]["excluded_documents"])
    row = frame.iloc[0]
    assert len(row["evidence_doc_ids"]) == len(row["evidence_probs"]) == 5
    assert abs(sum(row["evidence_probs"][0].values()) - 1.0) < 1e-3


# Measured with the default Checker of 1918e4c (no rule pack, stance@v5, verdict@v5): the 36
# seed claims 0.639 accuracy (23 of 36), recall@5 0.963; the HealthVer slice (20 claims + 1
# masked) accuracy 0.286, macro-F1 0.261, recall@5 0.667 (10 of 15 with gold evidence). With the
# index read with the previous sentence and verdict@v6: the seed claims 0.583 (21 of 36), recall@5
# 1.0. The floors allow two or three claims' drift.
SEED_FLOORS = {"accuracy": 0.5, "recall": 0.9}
HEALTHVER_FLOORS = {"recall": 0.55, "macro_f1": 0.2}


@pytest.mark.slow
def test_an_evaluation_store_holds_exactly_the_documents_given_and_never_a_users_own(tmp_path):
    from pipeline.core.errors import UserError
    from pipeline.corpus.ingest import ingest
    from pipeline.corpus.store import Corpus
    from pipeline.datasets.stores import ensure_store

    def folder(name: str, texts: dict[str, str]) -> Path:
        (tmp_path / name).mkdir()
        for file, text in texts.items():
            (tmp_path / name / file).write_text(text)
        return tmp_path / name

    first = folder("first", {"a.txt": "The council approved the budget in May.\n",
                             "b.txt": "The mayor opened the new bridge on Sunday.\n"})
    second = folder("second", {"c.txt": "The river flooded the old town in 2021.\n"})
    store = tmp_path / "eval-store"
    assert ensure_store([first], store).documents == 2
    built = ensure_store([second], store)
    assert not built.reused and built.documents == 1  # replaced, not added to: 3 measured other documents
    assert set(Corpus(store).documents()["name"]) == {"second/c.txt"}
    assert ensure_store([second], store).reused

    broken = folder("broken", {"d.txt": "A sentence.\n", "e.txt": "bad\x00bytes\n"})
    with pytest.raises(UserError, match="rejected inputs: .*e.txt.*nothing was written to"):
        ensure_store([broken], store)
    assert set(Corpus(store).documents()["name"]) == {"second/c.txt"}  # the store before the refused run
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken", "eval-store", "first", "second"]

    own = tmp_path / "my-store"
    ingest([first], own)
    with pytest.raises(UserError, match="my-store holds files that were not built from documents given here"):
        ensure_store([second], own)
    assert set(Corpus(own).documents()["name"]) == {"first/a.txt", "first/b.txt"}


@pytest.mark.slow
def test_joint_reading_pairs_come_from_train_claims_and_never_show_a_held_out_claims_evidence(shared_datasets, tmp_path):
    import random

    from pipeline.datasets.corpora import corpus_with_store
    from pipeline.training.joint_pairs import joint_pairs_of_corpus

    rows, stats = joint_pairs_of_corpus("healthver", per_corpus=60, rng=random.Random(1), data_dir=shared_datasets,
                                        corpora_dir=tmp_path)
    built = corpus_with_store("healthver", shared_datasets, tmp_path)
    split_of = {c.id: s for c, s in zip(built.claims, built.splits)}
    label_of = {c.id: c.label for c in built.claims}
    held_out_documents = {d for c, s in zip(built.claims, built.splits) if s != "train" for d in c.gold_documents}
    assert rows and stats["claims"] == 60 and stats["pairs"] == len(rows)
    assert stats["a passage from a held-out claim's evidence"] > 0  # HealthVer's passages are shared widely
    for row in rows:
        assert split_of[row["claim_id"]] == "train"
        assert label_of[row["claim_id"]] != "CONFLICTING" and row["label"] in ("SUPPORTS", "REFUTES", "NOT_ENOUGH_INFO")
        assert 1 <= len(row["documents"]) <= 5 and not set(row["documents"]) & held_out_documents
    # A claim whose evidence is not among the passages read is answered by none of them.
    assert any(label_of[r["claim_id"]] != "NOT_ENOUGH_INFO" and r["label"] == "NOT_ENOUGH_INFO" for r in rows)
