"""Versioned models on disk (cards, hashes, promote/rollback), the base models they are built on and the
shared sentence encoder. Low: every stage loads its models through it."""
