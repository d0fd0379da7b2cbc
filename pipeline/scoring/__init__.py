"""Batch scoring of posts.

- ``scorer``: ``score_file`` (the job: chunks, checkpoints, resume), ``score_frame``, ``ScoreSummary``.
- ``models``: ``ModelScorer`` (check-worthiness, then the Checker); ``output``: rows and the Parquet schema.
- ``posts``: ``PostReader`` (JSONL, CSV, Parquet, gzip); ``checkpoint``: ``Checkpoint``; ``dask_engine``: ``run_dask``.
"""
