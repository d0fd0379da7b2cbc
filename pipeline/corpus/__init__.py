"""Building the evidence corpus: file readers, ingest, the spaCy pipeline (sentences, entities, quotes),
the SQLite store and the fact-check records it holds."""
