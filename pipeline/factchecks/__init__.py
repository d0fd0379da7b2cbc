"""Matching a claim or a post to earlier fact-checks (the records are ``pipeline.corpus.factchecks``).

- ``matcher``: ``FactCheckMatcher``, ``FactCheckMatch``.
- ``index``: the store's fact-check index (``build_store_index``, ``load_store_index``); ``text``: post normalisation.
- ``reranker``: ``MatchReranker``; ``training``: ``train_matcher`` (CheckThat! 2020 task 2).
"""
