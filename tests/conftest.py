"""Shared fixtures: the seed corpus store (built once per test session), the shared data, the
command line run in a new process (``run_cli``) or in this one (``invoke_cli``), and JSONL input
files (``write_jsonl``). A test that uses the seed store must be marked slow (checked here)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
DATA = Path(__file__).resolve().parent / "data"
SHARED_DATASETS = ROOT.parent / "shared" / "datasets"

# Fixtures that build the seed store or load models into it: a test that uses one is slow and must
# say so, so that `make test-fast` (`pytest -m "not slow"`) stays fast.
SEED_STORE_FIXTURES = frozenset({"seed_store", "seed_store_copy", "seed_checker", "nato_checker"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    unmarked = [item.nodeid for item in items
                if SEED_STORE_FIXTURES & set(getattr(item, "fixturenames", ()))
                and item.get_closest_marker("slow") is None]
    if unmarked:
        raise pytest.UsageError("these tests build the seed store or load models but are not marked "
                                "@pytest.mark.slow:\n  " + "\n  ".join(unmarked))


def run_claimsift(*args: object, env: dict[str, str] | None = None, timeout: float = 600,
                  script: Path | None = None) -> subprocess.CompletedProcess:
    """The command line in a new process, as a user runs it (`python -m pipeline.cli`, the
    `claimsift` entry point's module), from the repository root; ``script``: a stand-in entry
    point such as tests/cli_fake_scorer.py."""
    command = [sys.executable, str(script)] if script else [sys.executable, "-m", "pipeline.cli"]
    return subprocess.run(command + [str(a) for a in args], capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout, env=os.environ | (env or {}))


@pytest.fixture(scope="session")
def run_cli() -> Callable[..., subprocess.CompletedProcess]:
    """``run_cli("check", claim, "--store", store)``: the finished process (``run_claimsift``)."""
    return run_claimsift


def write_jsonl_rows(path: Path, rows: Iterable[dict | str]) -> Path:
    """One JSON object per line; a string is written as it is (a broken or blank line on purpose)."""
    path.write_text("".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows),
                    encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def write_jsonl() -> Callable[[Path, Iterable[dict | str]], Path]:
    """``write_jsonl(path, rows)``: a JSONL input file (``write_jsonl_rows``); returns its path."""
    return write_jsonl_rows


@pytest.fixture(scope="session")
def invoke_cli() -> Callable:
    """``invoke_cli("models", "list")``: the command line run in this process by typer's
    ``CliRunner`` (faster; exceptions stay on the result as ``result.exception``)."""
    from typer.testing import CliRunner

    from pipeline.cli import app

    return lambda *args: CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    if not SHARED_DATASETS.is_dir():
        pytest.skip(f"needs the shared labelled data at {SHARED_DATASETS} (present in CI, absent in a user's clone)")
    return SHARED_DATASETS


@pytest.fixture(scope="session")
def retrained_checkworthy(tmp_path_factory, shared_datasets):
    """The current checkworthy version retrained once per session on ``tests/data/retrain_checkworthy.jsonl``
    + 300 public rows (no embeddings: the regression is not what the tests of it check), in a
    private registry holding a copy of the base: ``(result, base_version, models_dir)``. The
    retraining scores every dev set with the carried networks (minutes on 2 cores), so the tests
    of what a retrain carries share it."""
    from pipeline.registry.registry import Registry
    from pipeline.training.retrain import retrain

    version = Registry().current_version("checkworthy")
    models_dir = tmp_path_factory.mktemp("retrained_checkworthy")
    shutil.copytree(Registry().root / "checkworthy" / version, models_dir / "checkworthy" / version)
    (models_dir / "checkworthy" / "CURRENT").write_text(version + "\n")
    result = retrain("checkworthy", DATA / "retrain_checkworthy.jsonl", base="checkworthy", public_sample=300,
                     models_dir=models_dir, datasets_dir=shared_datasets, params={"use_embeddings": False},
                     log=lambda m: None)
    return result, version, models_dir


@pytest.fixture(scope="session")
def seed_store(tmp_path_factory) -> Path:
    """A store with the five seed documents ingested and indexed; read-only for tests."""
    from pipeline.corpus.ingest import ingest
    from pipeline.retrieval.index import update_index

    store = tmp_path_factory.mktemp("seed") / "store"
    report = ingest([SEEDS], store)
    assert not report.rejected, report.rejected
    update_index(store)
    return store


@pytest.fixture()
def seed_store_copy(seed_store, tmp_path) -> Path:
    """A private copy of the seed store for tests that modify it."""
    target = tmp_path / "store"
    shutil.copytree(seed_store, target)
    return target


@pytest.fixture(scope="session")
def seed_checker(seed_store):
    from pipeline.verdict.checker import Checker

    checker = Checker(seed_store)
    checker.warm_up()
    return checker


@pytest.fixture(scope="session")
def nato_checker(seed_store):
    """The seed-tuned set-up: the ``nato`` rule pack on (``pipeline.verdict.packs.nato``), stance@v4
    (mpnet) with the stance@v2 screen and the hand-set thresholds, as the pack was written with."""
    from pipeline.verdict.checker import Checker

    checker = Checker(seed_store, rule_packs=("nato",), stance_spec="stance@v4", screen_stance_spec="stance@v2",
                      verdict_spec="rules")
    checker.warm_up()
    return checker
