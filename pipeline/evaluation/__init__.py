"""Quality figures.

- ``compare``: ``compare_models``, ``Comparison`` (paired bootstrap, HTML report).
- ``corpus``: ``evaluate_corpus`` (every claim of a corpus against its whole store).
- ``claims``: ``evaluate_claims``; ``quotes``: ``evaluate_quotes``.
"""
