"""What a Dask worker receives of a stage object, checked without unpickling anything.

The stages are shipped to workers by pickling; the tests check that this works and that the
heavy parts stay behind. ``pickle.dumps`` proves the object serialises; ``copy.deepcopy`` then
rebuilds it from the same ``__getstate__`` state that pickling sends, so no test unpickles.
"""
from __future__ import annotations

import copy
import pickle


def as_shipped(obj):
    pickle.dumps(obj)  # must serialise: this is how Dask sends it
    return copy.deepcopy(obj)


def pickled_size(obj) -> int:
    """The bytes a worker receives: a warm stage that kept its models behind ships in a few kB."""
    return len(pickle.dumps(obj))
