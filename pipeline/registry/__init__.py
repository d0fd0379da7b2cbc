"""Models on disk; every stage loads its models through it.

- ``registry``: ``Registry`` (versions, cards, hashes checked at load, promote and roll back), ``ModelRef``.
- ``base_models``: the pretrained transformers models are built on (MiniLM, mpnet), found offline.
- ``embedding``: ``Encoder``, the shared MiniLM sentence encoder (retrieval, stance, check-worthiness, matching).
"""
