"""Default locations, in one place: the project folder (``models/``, ``splits/``, ``corpus/``), the shared
datasets beside it and the default corpus store."""
from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
MODELS_DIR = PROJECT_ROOT / "models"
SHARED_DATASETS_DIR = PROJECT_ROOT.parent / "shared" / "datasets"
# Relative to the working directory, like the CLI's --store.
DEFAULT_STORE = Path("corpus/store")
