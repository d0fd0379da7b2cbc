"""From evidence to a verdict.

- ``checker``: ``Checker`` (orchestration: retrieve, read stances, vote) and ``check``.
- ``rules``: ``VerdictRules`` and the stance adjustments; ``subject``: what a claim is about;
  ``validation``: ``validate_claim``, ``InvalidClaimError``.
- ``aggregator``: ``VerdictAggregator``, the learned alternative to the rules.
- ``packs``: opt-in topic rule packs (``nato``), off by default.
"""
