"""Is a sentence or a post worth checking.

- ``model``: ``CheckworthyModel`` (the served model: ``score``, ``detect``, domain routing).
- ``sentences``: ``split_sentences``, ``route_domain``; ``features`` and ``classifier``: the regression.
- ``sentence_classifier`` and ``post``: the fine-tuned sentence classifier and the post network.
- ``training``: ``train_checkworthy``; ``data``: the public labelled sets and user files.
"""
