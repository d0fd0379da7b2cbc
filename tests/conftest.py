"""Shared fixtures: the seed corpus store (built once per test session) and the shared data."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
DATA = Path(__file__).resolve().parent / "data"
SHARED_DATASETS = ROOT.parent / "shared" / "datasets"


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    if not SHARED_DATASETS.is_dir():
        pytest.skip(f"needs the shared labelled data at {SHARED_DATASETS} (present in CI, absent in a user's clone)")
    return SHARED_DATASETS


@pytest.fixture(scope="session")
def seed_store(tmp_path_factory) -> Path:
    """A store with the five seed documents ingested and indexed; read-only for tests."""
    from pipeline.retrieval.index import update_index
    from pipeline.corpus.ingest import ingest

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
    """The seed checker with the ``nato`` rule pack on (``pipeline.verdict.packs.nato``): the topic rules
    the seed claims were measured with."""
    from pipeline.verdict.checker import Checker

    checker = Checker(seed_store, rule_packs=("nato",))
    checker.warm_up()
    return checker
