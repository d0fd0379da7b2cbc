"""Does a passage support or refute a claim.

- ``model``: ``StanceModel`` (the served model: cross-encoder or embedding baseline, calibrated).
- ``backends``: building, loading and running the cross-encoder (torch, bfloat16, ONNX).
- ``training``: ``train_cross_encoder`` (checkpointed), ``train_and_register``.
- ``pairs``, ``data``, ``synthetic``: ``StancePair``; the public-corpus readers and training/dev splits; made pairs.
- ``rerank``: ``Reranker``, the cross-encoder re-ordering retrieval candidates.
"""
