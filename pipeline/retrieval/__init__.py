"""Finding evidence for a claim: the dense + BM25 index over the store and the hybrid retriever."""
