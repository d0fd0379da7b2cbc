"""Errors that are the user's to fix: printed as one clear line, never as a traceback."""
from __future__ import annotations

import os
from pathlib import Path


class UserError(Exception):
    """Bad input, a missing store, a mismatched model: the CLI prints it and exits non-zero."""

    exit_code = 2

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class InputError(UserError):
    """A problem with one input file, row or line; the message names the file and the row."""

    def __init__(self, path: object, problem: str, row: int | None = None) -> None:
        where = f"{path}" + (f", row {row}" if row is not None else "")
        super().__init__(f"{where}: {problem}")
        self.path = str(path)
        self.row = row
        self.problem = problem


def refuse_output_over_input(output: object, *inputs: object, option: str = "--out") -> None:
    """Raise before anything is written when ``output`` is one of ``inputs`` (the same path once
    resolved, or the same file through a link): writing it would destroy the input. An output that
    is a folder, or under a file, is refused here too: found only at the final write, it cost the
    whole run and ended in a traceback."""
    target = Path(str(output))
    if target.is_dir():
        raise UserError(f"{output}: is a folder, not a file; choose another {option}")
    existing = next((folder for folder in target.parents if folder.exists()), None)
    if existing is not None and not existing.is_dir():
        raise UserError(f"{output}: {existing} is a file, not a folder; choose another {option}")
    for given in inputs:
        source = Path(str(given))
        same = target.resolve() == source.resolve()
        if not same and target.exists() and source.exists():
            same = os.path.samefile(target, source)
        if same:
            raise UserError(f"{output}: the output is the input ({given}); writing it would destroy the input. "
                            f"Choose another {option}")
