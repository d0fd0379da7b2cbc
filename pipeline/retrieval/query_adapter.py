"""A learned linear map applied to claim vectors before dense search.

The index's sentence vectors come from all-MiniLM-L6-v2 as packaged, trained to place sentences
that *mean the same* near each other; a claim and the sentence that settles it often share little
wording or meaning ("Obama used a Koran at his swearing-in" / "Ellison used a Koran that once
belonged to Thomas Jefferson"). The query adapter moves only the claim's vector (``v ↦ W v``,
L2-normalised again), learned from claims and their gold evidence
(``pipeline.training.retriever_fit``), so every index stays as built: no sentence is embedded
again and the vectors of the check-worthiness model, the fact-check matcher and the index are
unchanged. The map starts at the identity and is kept near it by its training penalty.

Stored as numpy (``allow_pickle=False``) plus JSON under ``models/query-adapter/<version>``,
hash-checked by the registry at load. Cheap to construct and pickle; loads on ``warm_up``.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from pipeline.core.errors import UserError
from pipeline.registry.registry import DEFAULT_MODELS_DIR, ModelIntegrityError, ModelNotFoundError, Registry

QUERY_ADAPTER = "query-adapter"
MATRIX_FILE = "query_adapter.npy"
CONFIG_FILE = "query_adapter.json"
NO_ADAPTER = "none"
# The public corpora triplets are mined from (``pipeline.training.retriever_fit``).
TRIPLET_CORPORA = ("averitec", "fever", "covidfact", "liar", "healthver")
# LIAR's train split is among the claims the verdict model is fitted on: retrieval fitted to
# them would make its features look better there than on a user's corpus.
ADAPTER_EXCLUDED = ("liar",)
ADAPTER_PENALTY = 3.0
QUERY_ADAPTER_HELP = ("the map applied to claim vectors before dense search: `none`, or a registry spec such as "
                      "query-adapter@v1 (default: the one the verdict model was fitted with)")


def apply_map(vectors: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """``vectors`` (n, d) mapped by ``matrix`` (v -> W v) and L2-normalised again, as float32."""
    adapted = np.asarray(vectors, dtype=np.float32) @ np.asarray(matrix, dtype=np.float32).T
    return adapted / np.clip(np.linalg.norm(adapted, axis=1, keepdims=True), 1e-12, None)


class QueryAdapter:
    """``spec``: a registry spec (``query-adapter``, ``query-adapter@v1``)."""

    def __init__(self, spec: str = QUERY_ADAPTER, models_dir: Path | str | None = None) -> None:
        self.spec = spec
        self.models_dir = models_dir
        self._matrix: np.ndarray | None = None
        self._tag: dict = {}

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_matrix"] = None
        return state

    def warm_up(self) -> None:
        if self._matrix is not None:
            return
        registry = Registry(self.models_dir or DEFAULT_MODELS_DIR)
        try:
            ref = registry.load_ref(self.spec)
        except (ModelIntegrityError, ModelNotFoundError) as exc:
            raise UserError(f"query adapter: {exc}") from exc
        if ref.name != QUERY_ADAPTER or not (ref.path / CONFIG_FILE).is_file():
            raise UserError(f"{ref.label} is not a query adapter (a {QUERY_ADAPTER}@vN of the registry)")
        config = json.loads((ref.path / CONFIG_FILE).read_text())
        matrix = np.load(ref.path / MATRIX_FILE, allow_pickle=False).astype(np.float32)
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] != config["dimension"]:
            raise UserError(f"{ref.label}: {MATRIX_FILE} has shape {matrix.shape}, "
                            f"not the square of dimension {config['dimension']} its config names")
        # The tag first: ``_matrix`` set is what says the adapter is loaded.
        self._tag = {"model": ref.name, "version": ref.version, "encoder": config["encoder"],
                     "sha256": ref.card.get("files", {}).get(MATRIX_FILE)}
        self._matrix = matrix

    @property
    def tag(self) -> dict:
        self.warm_up()
        return self._tag

    @property
    def matrix(self) -> np.ndarray:
        """W, (d, d): ``adapt`` maps v to W v."""
        self.warm_up()
        assert self._matrix is not None  # set by warm_up
        return self._matrix

    def check_encoder(self, encoder_tag: dict) -> None:
        """Refuse to adapt vectors of another model than the one the map was learned on."""
        learned_on = self.tag["encoder"]
        if learned_on.get("model") != encoder_tag.get("model") or learned_on.get("dimension") != encoder_tag.get(
                "dimension"):
            raise UserError(f"{self.tag['model']}@{self.tag['version']} was learned on vectors of "
                            f"{learned_on.get('model')}, not {encoder_tag.get('model')}")

    def adapt(self, vectors: np.ndarray) -> np.ndarray:
        """``vectors`` (n, d), L2-normalised claim vectors -> the adapted vectors, L2-normalised."""
        return apply_map(vectors, self.matrix)
