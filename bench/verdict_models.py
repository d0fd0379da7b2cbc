"""End-to-end verdicts of several Checker set-ups on the public corpora, side by side: one JSON in
bench/results/verdict_models_<split>.json (figures only, no claim text).

    nice -n 10 python bench/verdict_models.py --split tune --limit 200
    nice -n 10 python bench/verdict_models.py --split report --limit 200 --setups shipped

Set-ups (``SETUPS``): the stance model, the screen model, the verdict model and the re-ranker. The
tune split chooses among them; the report split is run once, for the chosen one and the one it
replaces.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.core.io import atomic_write_text  # noqa: E402
from pipeline.datasets.corpora import build_dataset  # noqa: E402
from pipeline.evaluation.corpus import evaluate_corpus  # noqa: E402
from pipeline.stance.rerank import Reranker  # noqa: E402
from pipeline.verdict.checker import Checker  # noqa: E402

SETUPS = {
    # stance@v4 (mpnet, trained on claims now in the tune and report splits), screen stance@v2, rules.
    "before": {"stance_spec": "stance@v4", "screen_stance_spec": "stance@v2", "verdict_spec": "rules"},
    "v5-rules": {"stance_spec": "stance@v5", "screen_stance_spec": None, "verdict_spec": "rules"},
    "v5-verdict": {"stance_spec": "stance@v5", "screen_stance_spec": None, "verdict_spec": "verdict@v5"},
    "v5-verdict-rerank": {"stance_spec": "stance@v5", "screen_stance_spec": None, "verdict_spec": "verdict@v5",
                          "rerank": "stance@v5"},
    "v5-rules-previous": {"stance_spec": "stance@v5", "screen_stance_spec": None, "verdict_spec": "rules",
                          "stance_input": "previous"},
    "v6": {"verdict_spec": "verdict@v6"},
    "v6-previous": {"verdict_spec": "verdict@v6", "stance_input": "previous"},
    # verdict@v8 retrieves with claim vectors as encoded; verdict@v9 with the query adapter.
    "v8": {"verdict_spec": "verdict@v8"},
    "v9": {"verdict_spec": "verdict@v9"},
    # verdict@v8 reading what the current query adapter retrieves (a model not fitted on it).
    "v8-adapter": {"verdict_spec": "verdict@v8", "query_adapter": "query-adapter@v2"},
    # stance@v6 (v5's recipe trained to the end of its schedule) + the verdict model fitted on it.
    "v10": {"verdict_spec": "verdict@v10"},
    # verdict@v8's rows and search with the evidence-monotone fit among the choices (it was chosen).
    "v11": {"verdict_spec": "verdict@v11"},
    # The same rows, monotone in both stages and neutral readings barred from tipping SUPPORTED
    # against REFUTED (v11 left them free, so a passage read as more refuting could raise SUPPORTED).
    "v12": {"verdict_spec": "verdict@v12"},
    # The same search with ties (within 0.005) going to the smallest C: C 0.01 instead of 0.1.
    "v13": {"verdict_spec": "verdict@v13"},
    # What the Checker does with no options.
    "shipped": {},
}
CORPORA = ("averitec", "fever", "covidfact", "liar", "healthver", "seeds")


def checker_for(setup: dict, store: Path) -> Checker:
    options = dict(setup)
    rerank = options.pop("rerank", None)
    return Checker(store, reranker=Reranker(rerank) if rerank else None, **options)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpora", nargs="*", default=list(CORPORA))
    parser.add_argument("--split", default="tune")
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--setups", default=",".join(SETUPS))
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    out = args.out or ROOT / "bench" / "results" / f"verdict_models_{args.split}.json"
    results = json.loads(out.read_text()) if out.is_file() else {}
    for name in args.corpora:
        built = build_dataset(name)
        for setup_name in args.setups.split(","):
            setup = SETUPS[setup_name]
            started = time.perf_counter()
            evaluation = evaluate_corpus(built.documents, built.claims, built.folder / "store", corpus=name,
                                         split=args.split, limit=args.limit,
                                         checker=checker_for(setup, built.folder / "store"))
            s = evaluation.summary
            needs_review = evaluation.frame["needs_review"] if "needs_review" in evaluation.frame else None
            row = {k: s[k] for k in ("n", "accuracy", "macro_f1", "f1", "confusion", "evidence_recall@5",
                                     "claims_per_s", "majority_baseline", "checker")}
            if needs_review is not None:
                flagged = needs_review.astype(bool)
                correct = evaluation.frame["correct"].astype(bool)
                row["needs_review_share"] = round(float(flagged.mean()), 4)
                row["accuracy_not_flagged"] = round(float(correct[~flagged].mean()), 4) if (~flagged).any() else None
            row["seconds"] = round(time.perf_counter() - started, 1)
            results.setdefault(name, {})[setup_name] = row
            atomic_write_text(out, json.dumps(results, indent=1) + "\n")
            print(json.dumps({"corpus": name, "setup": setup_name, "n": row["n"], "accuracy": row["accuracy"],
                              "macro_f1": row["macro_f1"], "recall@5": row["evidence_recall@5"],
                              "claims_per_s": row["claims_per_s"]}), flush=True)


if __name__ == "__main__":
    main()
