"""Building the evidence corpus.

- ``inputs``: an ingest's arguments as files with their document names (``expand_inputs``).
- ``readers``: files and tables in, ``Document`` out (``documents_of``, ``Rejection``); ``markdown``: Markdown as plain text.
- ``ingest``: ``ingest`` (analyse and store, in short transactions), ``IngestReport``.
- ``nlp``: the spaCy pipeline and ``Analyser``; ``layout``, ``speakers`` and ``quotes`` (``find_quotes``) are its parts.
- ``store``: ``Corpus``, the SQLite store; ``factchecks``: the fact-check records it holds.
- ``language``: is a claim surely not English.
"""
