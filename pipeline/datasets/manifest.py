"""``python -m pipeline.datasets.manifest`` rebuilds the committed split manifest (``splits/corpus_splits.jsonl``)
from the shared datasets."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Sequence

from pipeline.core.splits import MANIFEST_PATH, SplitClaim, assign_splits, split_counts, write_manifest
from pipeline.datasets.corpora import DATASETS, DEFAULT_CORPORA_DIR, DEFAULT_DATA_DIR, build_dataset, split_claims_of


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Rebuild the corpus split manifest from the shared datasets.")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--corpora-dir", type=Path, default=DEFAULT_CORPORA_DIR)
    parser.add_argument("--out", type=Path, default=MANIFEST_PATH)
    args = parser.parse_args(argv)
    claims: list[SplitClaim] = []
    for name in DATASETS:
        built = build_dataset(name, args.data_dir, args.corpora_dir)
        claims += split_claims_of(name, built)
    assignments = assign_splits(claims)
    write_manifest(assignments, args.out)
    print(json.dumps({"claims": len(assignments), "groups": len({a.group for a in assignments}),
                      "counts": split_counts(assignments)}, indent=1))


if __name__ == "__main__":
    main()
