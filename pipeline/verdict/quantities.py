"""Numbers a claim and a passage both state, read with their units by quantulum3, in any domain.

Cross-encoders read numbers poorly: "unemployment rose 12%" and "unemployment rose 21%" look
alike to them. Here every quantity is parsed with its unit ("12%" → 12 percentage, "$2.3 billion"
→ 2.3e9 dollar, "1.5 degrees Celsius"); a passage that states a quantity in the unit of one of
the claim's and agrees with it (``agrees``: rounding allowed) *matches*, one that states that
unit only with other values *conflicts*. Bare four-digit numbers from 1000 to 2100 are read as
years, their own unit, so "in 2014" is compared with years only.

quantulum3's optional unit classifier is a joblib pickle shipped in its wheel; it is switched off
(``_parser``) and the package's classifier-free disambiguation is used instead: this project never
unpickles a file it did not write.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipeline.core.types import Evidence

RELATIVE_TOLERANCE = 0.05
PERCENT_POINTS = 1.0
YEAR_RANGE = (1000, 2100)
QUANTITY_FEATURE_NAMES = ("claim_has_quantity", "quantity_match_shown", "quantity_conflict_shown")
MAX_TEXT_CHARS = 2000  # quantulum3's regexes grow slow on very long texts; sentences are far shorter


@dataclass(frozen=True)
class Quantity:
    """One number with its unit (quantulum3's unit name, or "year")."""

    value: float
    unit: str
    surface: str


def _parser() -> Any:
    # Imported here, not at module level: quantulum3 takes ~2 s to import and ~4 s to load its unit
    # tables on the first parse, and only the evidence-v3 verdict features need it.
    import quantulum3.classifier as unit_classifier  # type: ignore[import-untyped]
    from quantulum3 import parser

    # The classifier path loads clf.joblib (a pickle) whenever scikit-learn is importable, as it
    # is here; the flag is the package's own switch (its tests set it the same way).
    unit_classifier.USE_CLF = False
    return parser


MAX_CACHED_TEXTS = 50_000


@dataclass
class QuantityReader:
    """Parses texts into ``Quantity`` lists, loading quantulum3 on first use and caching each text."""

    _parser: Any = field(default=None, repr=False)
    _cache: dict[str, tuple[Quantity, ...]] = field(default_factory=dict, repr=False)

    def read(self, text: str) -> tuple[Quantity, ...]:
        if text in self._cache:
            return self._cache[text]
        if self._parser is None:
            self._parser = _parser()
        found = []
        try:
            parsed = self._parser.parse(text[:MAX_TEXT_CHARS])
        except Exception:  # noqa: BLE001 - a parser error on one odd text must not stop a batch
            parsed = []
        for item in parsed:
            value = item.value
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                continue
            unit = str(item.unit.name)
            surface = str(item.surface)
            if unit == "dimensionless" and surface.isdigit() and len(surface) == 4 \
                    and YEAR_RANGE[0] <= value <= YEAR_RANGE[1]:
                unit = "year"
            found.append(Quantity(float(value), unit, surface))
        quantities = tuple(found)
        if len(self._cache) >= MAX_CACHED_TEXTS:  # a long batch reads many texts once each
            self._cache.clear()
        self._cache[text] = quantities
        return quantities


def agrees(a: float, b: float, unit: str = "") -> bool:
    """Whether two values of ``unit`` state the same figure, allowing for rounding: years exactly,
    percentages within ``PERCENT_POINTS`` points, anything else within ``RELATIVE_TOLERANCE``."""
    if unit == "year":
        return a == b
    if unit == "percentage":
        return abs(a - b) <= PERCENT_POINTS
    return a == b or abs(a - b) <= RELATIVE_TOLERANCE * max(abs(a), abs(b))


def compare(claim: Sequence[Quantity], passage: Sequence[Quantity]) -> tuple[bool, bool]:
    """(match, conflict): does the passage state one of the claim's quantities in its unit with an
    agreeing value, and does it state a unit of the claim's only with other values."""
    match = conflict = False
    for wanted in claim:
        values = [q.value for q in passage if q.unit == wanted.unit]
        if not values:
            continue
        if any(agrees(wanted.value, v, wanted.unit) for v in values):
            match = True
        else:
            conflict = True
    return match, conflict


def quantity_features(claim: str, shown: Sequence[Evidence], probs: np.ndarray,
                      reader: QuantityReader) -> np.ndarray:
    """``QUANTITY_FEATURE_NAMES`` for one claim: whether it states a quantity, and the strongest
    passage that matches / conflicts with one, each passage weighted by how related the stance
    model reads it (1 − P(NOT_ENOUGH_INFO)), so an unrelated number counts for little."""
    wanted = reader.read(claim)
    if not wanted or not len(shown):
        return np.array([float(bool(wanted)), 0.0, 0.0])
    match = conflict = 0.0
    for passage, row in zip(shown, probs):
        related = 1.0 - float(row[2])
        found_match, found_conflict = compare(wanted, reader.read(passage.sentence))
        if found_match:
            match = max(match, related)
        elif found_conflict:
            conflict = max(conflict, related)
    return np.array([1.0, match, conflict])
