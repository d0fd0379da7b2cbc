"""Shared vocabulary of every stage; imports nothing above it.

- ``types``: the frozen records passed between stages (``Document``, ``Sentence``, ``Entity``, ``Quote``,
  ``Evidence``, ``Verdict``) and the labels (``StanceLabel``, ``VerdictLabel``, ``QuoteKind``).
- ``errors``: ``UserError``, ``InputError`` (file, row, problem).
- ``io``: the one JSONL reader and writer (``jsonl_lines``, ``read_jsonl``, ``write_jsonl``), ``atomic_write_text``,
  ``sha256_file``.
- ``metrics``: every quality metric (F1, AP, ECE, Brier, bootstrap, ranking metrics).
- ``paths``: default locations (``DEFAULT_STORE``, ``MODELS_DIR``, ``SHARED_DATASETS_DIR``).
- ``splits``: which claims are held out (the split manifest). ``types`` also holds the notebook HTML views.
"""
