"""Shared vocabulary of every stage: the dataclasses and labels passed between stages, errors, file I/O
(JSONL, atomic writes, hashes), metrics, default paths, held-out splits and notebook display."""
