"""Building the evidence corpus.

- ``readers``: files and tables in, ``Document`` out (``expand_inputs``, ``documents_of``, ``Rejection``).
- ``ingest``: ``ingest`` (analyse and store, in short transactions), ``IngestReport``.
- ``nlp``: the spaCy pipeline and ``Analyser``; ``layout``, ``speakers`` and ``quotes`` (``find_quotes``) are its parts.
- ``store``: ``Corpus``, the SQLite store; ``factchecks``: the fact-check records it holds.
- ``language``: is a claim surely not English.
"""
