"""Batch scoring of posts: readers, the scorer, checkpoints, local and Dask engines."""
