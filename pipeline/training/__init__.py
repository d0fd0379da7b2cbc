"""Training on the stages' behalf; high: it uses the stages.

- ``retrain``: ``retrain`` (a new model version from a user's labelled file).
- ``data``: ``validate`` and ``load_training_data`` (a labelled file checked before training).
- ``hard_negatives``: NOT_ENOUGH_INFO pairs mined with the project's own retriever.
- ``verdict_fit``: the verdict model learned from claim labels on several corpora.
"""
