"""Finding evidence for a claim.

- ``index``: ``EvidenceIndex`` (dense FAISS + BM25 over the store's sentences), ``update_index``, ``load_index``.
- ``retrieve``: ``retrieve`` (hybrid fusion, quote-aware boosts, date cut-off), ``RetrievalConfig``, ``CorpusView``.
"""
