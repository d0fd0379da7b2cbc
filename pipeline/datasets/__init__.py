"""The public labelled corpora, read by both training and evaluation.

- ``corpora``: ``build_dataset`` (AVeriTeC, FEVER, COVID-Fact, LIAR-PLUS, HealthVer, the seed claims),
  ``claim_splits``, ``select_claims``; ``builders``: one builder per corpus.
- ``claims``: ``CorpusClaim``, ``read_corpus_claims``, ``evidence_matches``.
- ``stores``: ``ensure_store`` (a corpus's store, built once); ``manifest``: rebuilds the split manifest.
"""
