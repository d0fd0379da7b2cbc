"""claimsift: offline claim detection and fact-checking.

The notebook API is imported lazily so that ``import pipeline`` stays cheap.
"""
from __future__ import annotations

__version__ = "0.1.0"
