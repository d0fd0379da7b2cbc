"""The corpus commands: `claimsift ingest`, `claimsift inspect`, `claimsift evaluate quotes`."""
from __future__ import annotations

import json
import subprocess
import sys
import types
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


def _store_of(path: Path, documents: list[tuple[str, str, str | None, int]]) -> Path:
    """A store of (name, title, published, number of sentences) documents, written as ingest writes them."""
    from pipeline.core.types import Document, Sentence
    from pipeline.corpus.nlp import AnalysedDocument
    from pipeline.corpus.readers import doc_id_of
    from pipeline.corpus.store import Corpus

    with Corpus(path).batch() as batch:
        for name, title, published, n in documents:
            text = " ".join(f"Sentence {i} of {name}." for i in range(n))
            doc_id = doc_id_of(text)
            sentences, start = [], 0
            for i in range(n):
                sentence = f"Sentence {i} of {name}."
                sentences.append(Sentence(doc_id, i, start, start + len(sentence), sentence))
                start += len(sentence) + 1
            batch.add(AnalysedDocument(Document(doc_id, text, name, title=title, published=published),
                                       tuple(sentences), (), ()), origin=name)
    return path


def test_inspect_lists_the_documents_by_name_with_title_date_and_sentences(tmp_path):
    # inspect gave counts only: what was in the store could not be seen
    store = _store_of(tmp_path / "store", [("b/wind.txt", "Wind power in Denmark", None, 3),
                                           ("a/heat.txt", "Spain records its hottest July", "2023-08-03", 2),
                                           ("t.jsonl#id=1", "[draft] Obesity", "2024-03-01", 1)])
    result = runner.invoke(app, ["inspect", "--store", str(store), "--json", "--documents", "2"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)["document_list"]
    assert [(d["name"], d["title"], d["published"], d["sentences"]) for d in listed] == [
        ("a/heat.txt", "Spain records its hottest July", "2023-08-03", 2),
        ("b/wind.txt", "Wind power in Denmark", None, 3)]
    shown = runner.invoke(app, ["inspect", "--store", str(store), "--documents", "2"], env={"COLUMNS": "200"})
    lines = [" ".join(line.strip("│ ").split()) for line in shown.output.splitlines()]
    assert "a/heat.txt │ Spain records its hottest July │ 2023-08-03 │ 2" in lines
    assert "b/wind.txt │ Wind power in Denmark │ │ 3" in lines
    assert "the first 2 of 3 by name; --documents N lists more" in lines
    every = runner.invoke(app, ["inspect", "--store", str(store)], env={"COLUMNS": "200"}).output
    assert "[draft] Obesity" in every and "lists more" not in every  # a title is text, not markup
    none = runner.invoke(app, ["inspect", "--store", str(store), "--documents", "0"], env={"COLUMNS": "200"}).output
    assert "a/heat.txt" not in none and "Documents" not in none


def test_remove_deletes_the_named_documents_updates_the_index_and_refuses_a_name_not_stored(tmp_path, monkeypatch):
    import pipeline.retrieval.index

    store = _store_of(tmp_path / "store", [("b/wind.txt", "Wind power in Denmark", None, 3),
                                           ("a/heat.txt", "Spain records its hottest July", "2023-08-03", 2)])
    updates = []
    monkeypatch.setattr(pipeline.retrieval.index, "current_index_dir", lambda store: Path(store) / "index" / "v1")
    monkeypatch.setattr(pipeline.retrieval.index, "update_index",
                        lambda store, *a, **k: updates.append(Path(store)) or types.SimpleNamespace(
                            version="v2", total=3, embedded=0, removed=2, seconds=0.1))
    refused = runner.invoke(app, ["remove", "a/heat.txt", "c/gone.txt", "--store", str(store)])
    assert refused.exit_code != 0 and "no document named 'c/gone.txt' (nothing removed)" in str(refused.exception)
    assert updates == []
    result = runner.invoke(app, ["remove", "a/heat.txt", "--store", str(store), "--json"])
    assert result.exit_code == 0, result.output
    assert [d["name"] for d in json.loads(result.stdout)["removed"]] == ["a/heat.txt"]
    assert updates == [store]
    listed = json.loads(runner.invoke(app, ["inspect", "--store", str(store), "--json"]).stdout)["document_list"]
    assert [d["name"] for d in listed] == ["b/wind.txt"]


def test_version_is_printed_from_the_installed_package():
    from importlib.metadata import version

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"claimsift {version('claimsift')}"


def test_usage_lines_write_arguments_as_a_command_line_does():
    # typer wrote `ingest [OPTIONS] {paths}...` and `<list[Path]>`, and `models show {spec}`
    import typer

    command = typer.main.get_command(app)
    usages = {}

    def walk(group, path):
        for name, sub in group.commands.items():
            if hasattr(sub, "commands"):
                walk(sub, path + [name])
            else:
                result = runner.invoke(app, path + [name, "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
                assert result.exit_code == 0, result.output
                usages[" ".join(path + [name])] = result.output
    walk(command, [])
    assert {"ingest", "check", "score", "models show", "factcheck ingest", "evaluate quotes"} <= set(usages)
    for name, help_text in usages.items():
        usage = next(line for line in help_text.splitlines() if "Usage:" in line)
        # a repeatable option (`--kind`, `--rule-pack`) gave `<list[str]>` too
        assert "{" not in usage and "<list[" not in help_text, (name, usage)
    assert " ".join(usages["ingest"].split()).count("[OPTIONS] PATHS...") == 1
    assert "PATHS... <path>" in " ".join(usages["ingest"].split())
    assert "[OPTIONS] [CLAIM]" in usages["check"] and "[OPTIONS] SPEC" in usages["models show"]
    missing = runner.invoke(app, ["ingest"], env={"COLUMNS": "200"})
    assert missing.exit_code == 2 and "Missing argument 'PATHS'" in missing.output


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
