"""Default locations, in one place: the project folder (``models/``, ``splits/``, ``corpus/``), the shared
datasets beside it, the corpora built from them and the default corpus store."""
from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
MODELS_DIR = PROJECT_ROOT / "models"
SHARED_DATASETS_DIR = PROJECT_ROOT.parent / "shared" / "datasets"
# The public corpora built from the shared datasets (and their stores), for the command line and the notebook
# API alike. In the project folder, not the working directory: a notebook started in notebooks/ would build them
# all again under notebooks/out/corpora.
DEFAULT_CORPORA_DIR = PROJECT_ROOT / "out" / "corpora"
# Relative to the working directory, like the CLI's --store.
DEFAULT_STORE = Path("corpus/store")
