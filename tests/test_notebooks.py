"""The notebooks run top to bottom headless (nbclient) and are committed without outputs."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
SHARED_DATASETS = ROOT.parent / "shared" / "datasets"
NAMES = ("01_explore_corpus", "02_check_claims", "03_retrain_and_compare")
CELL_TIMEOUT_S = 300


def test_every_notebook_is_here():
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_notebooks_are_committed_without_outputs(name):
    book = json.loads((NOTEBOOKS / f"{name}.ipynb").read_text(encoding="utf-8"))
    code = [cell for cell in book["cells"] if cell["cell_type"] == "code"]
    assert code, "a notebook without code"
    for number, cell in enumerate(code, start=1):
        assert cell.get("outputs") == [], f"{name}: code cell {number} has outputs; clear them before committing"
        assert cell.get("execution_count") is None, f"{name}: code cell {number} has an execution count"
    assert set(book["metadata"]) <= {"kernelspec", "language_info"}, "strip notebook metadata (widgets, ...)"


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder`` with its size and modification time. Files that appear while
    a notebook runs are not counted against it: in a shared checkout other work may add models."""
    if not folder.is_dir():
        return {}
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in folder.rglob("*") if p.is_file()}


def _needs(name: str) -> None:
    if name == "02_check_claims":
        from pipeline.registry.registry import ModelNotFoundError
        from pipeline.stance.model import StanceModel

        model = StanceModel("stance")
        try:
            model.registry.resolve(model.resolve_spec())
        except ModelNotFoundError:
            pytest.skip("no stance model in models/ yet (train one with `claimsift train stance`)")
    if name == "03_retrain_and_compare" and not SHARED_DATASETS.is_dir():
        pytest.skip(f"needs the shared labelled data at {SHARED_DATASETS}")


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_headless(name, tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    _needs(name)
    book = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    models_before = _snapshot(ROOT / "models")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    started = time.perf_counter()
    client = nbclient.NotebookClient(book, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute()
    seconds = time.perf_counter() - started
    errors = [o for cell in book.cells if cell.cell_type == "code" for o in cell.outputs if o.output_type == "error"]
    assert not errors
    outputs = [o for cell in book.cells if cell.cell_type == "code" for o in cell.outputs]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    html = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert images, f"{name} drew no plots"
    assert html, f"{name} showed no tables"
    if name == "02_check_claims":
        assert any("<mark" in h and "★" in h for h in html), "no verdict with a highlighted decisive sentence"
    if name == "03_retrain_and_compare":
        assert any("95% CI of the difference" in h and h.count("data:image/png;base64,") == 3 for h in html)
    after = _snapshot(ROOT / "models")
    changed = sorted(path for path, stamp in models_before.items() if after.get(path) != stamp)
    assert not changed, f"a notebook changed or removed shipped model files: {changed[:5]}"
    print(f"{name}: {seconds:.1f}s")
