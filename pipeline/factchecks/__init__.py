"""Matching a claim or post to earlier fact-checks: the matcher index, re-ranker and training."""
