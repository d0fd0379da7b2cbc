"""The corpus commands: `claimsift ingest`, `claimsift inspect`, `claimsift evaluate quotes`."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
runner = CliRunner()


@pytest.fixture()
def fake_index(monkeypatch):
    import pipeline.retrieval.index

    calls = []
    monkeypatch.setattr(pipeline.retrieval.index, "update_index", lambda store, *a, **k: calls.append(Path(store)))
    return calls


@pytest.mark.slow
def test_ingest_reports_rejections_exits_nonzero_and_keeps_the_rest(tmp_path, fake_index):
    store = tmp_path / "store"
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "no_text.csv").write_text("id,body\n1,hello\n")
    result = runner.invoke(app, ["ingest", str(SEEDS / "001_5fb9f27d840b8ced.txt"), str(tmp_path / "empty.txt"),
                                 str(tmp_path / "no_text.csv"), str(tmp_path / "missing.md"), "--store", str(store)])
    assert result.exit_code == 1, result.output
    output = " ".join(result.output.split())
    assert "1 added" in output and "3 rejected" in output
    assert "empty.txt: empty file" in output
    assert "no_text.csv: no `text` column (columns: id, body)" in output
    assert "missing.md: no such file or directory" in output
    assert fake_index == [store]  # the index follows the store
    again = runner.invoke(app, ["ingest", str(SEEDS / "001_5fb9f27d840b8ced.txt"), "--store", str(store), "--json"])
    assert again.exit_code == 0, again.output
    report = json.loads(again.stdout)
    assert report["added"] == [] and len(report["unchanged"]) == 1
    assert fake_index == [store]  # nothing changed: no index update


@pytest.mark.slow
def _small_store(path: Path) -> Path:
    import hashlib

    from pipeline.core.types import Document, Entity, Quote, Sentence
    from pipeline.corpus.nlp import AnalysedDocument
    from pipeline.corpus.store import Corpus

    text = '"Rutte has never said this," Riggio said.'
    doc_id = hashlib.sha256(text.encode()).hexdigest()[:16]
    analysed = AnalysedDocument(Document(doc_id, text, "a.txt", published="2024-11-10"),
                                (Sentence(doc_id, 0, 0, len(text), text),),
                                (Entity(doc_id, 30, 36, "Riggio", "PERSON"),),
                                (Quote(doc_id, "Daniele Riggio", "said", "Rutte has never said this", 1, 26,
                                       30, 36, 37, 41),))
    with Corpus(path).batch() as batch:
        batch.add(analysed)
    return path


def test_inspect_summary_and_no_heavy_imports(tmp_path):
    store = _small_store(tmp_path / "store")
    result = runner.invoke(app, ["inspect", "--store", str(store), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["documents"] == 1 and summary["quotes_by_speaker"] == {"Daniele Riggio": 1}
    assert summary["entities_by_label"] == {"PERSON": 1}
    table = runner.invoke(app, ["inspect", "--store", str(store)])
    assert table.exit_code == 0 and "Quotes by speaker" in table.output and "Daniele Riggio" in table.output
    code = ("import sys; from typer.testing import CliRunner; from pipeline.cli import app; "
            f"r = CliRunner().invoke(app, ['inspect', '--store', {str(store)!r}]); "
            "heavy = [m for m in ('torch', 'sentence_transformers', 'spacy') if m in sys.modules]; "
            "print(r.exit_code, heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "0 []"


def test_inspect_missing_store_is_a_clear_error(tmp_path):
    result = subprocess.run([sys.executable, "-m", "pipeline.cli", "inspect", "--store", str(tmp_path / "none")],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2
    assert "no corpus store here" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_evaluate_quotes_prints_plain_json():
    result = runner.invoke(app, ["evaluate", "quotes", "--json", "--gold", str(ROOT / "tests/data/quotes_gold.jsonl"),
                                 "--seeds", str(SEEDS)])
    assert result.exit_code == 0, result.output
    scores = json.loads(result.stdout)
    assert scores["primary_metric"] == "speaker_f1"
    for part in ("content", "speaker"):
        assert scores[part]["precision"] >= 0.9 and scores[part]["recall"] >= 0.9
