"""Does a passage support or refute a claim: the cross-encoder, its backends, training data and training,
and the re-ranker that reuses it."""
