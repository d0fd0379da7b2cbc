"""One reading of a JSONL line for every reader of the project, so that each names the same
problems the same way: the caller decides whether a bad line is an error, a rejected row or a
problem collected with the others."""
from __future__ import annotations

import json


def parse_object(line: str) -> tuple[dict | None, str | None]:
    """``(object, None)`` for a line holding a JSON object, else ``(None, problem)``."""
    try:
        value = json.loads(line)
    except ValueError as exc:
        column = f", column {exc.colno}" if hasattr(exc, "colno") else ""
        return None, f"not valid JSON ({getattr(exc, 'msg', exc)}{column})"
    if not isinstance(value, dict):
        return None, f"line is a JSON {_kind(value)}, not an object"
    return value, None


def _kind(value: object) -> str:
    return {list: "list", str: "string", bool: "boolean", type(None): "null"}.get(type(value), "number")
