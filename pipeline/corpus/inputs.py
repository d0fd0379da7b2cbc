"""What an ingest reads: its arguments expanded into files (folders recursively), each with the
document name by which a later version of it replaces it (``expand_inputs``), and the name the store
holds the file under where the arguments would name it otherwise (``adopt_stored_names``)."""
from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

from pipeline.corpus.readers import SUPPORTED, Rejection, supported_list


@dataclass(frozen=True)
class InputItem:
    path: Path
    # The stable name of the file, by which a later version replaces it: its path relative to the
    # arguments' common base (see expand_inputs).
    name: str
    # Where the file is (POSIX), however it was given: its folder resolved, its own name kept; stored with
    # its documents, so that the file given another way keeps its stored name (adopt_stored_names).
    located: str = ""


def _common_base(bases: list[Path]) -> Path | None:
    """The deepest folder holding every base, or None when there is none (paths on two drives)."""
    try:
        return Path(os.path.commonpath([str(base) for base in bases]))
    except ValueError:
        return None


def expand_inputs(paths: Iterable[Path | str], rejected: list[Rejection],
                  notes: list[str] | None = None) -> list[InputItem]:
    """The files to read, each with its document name. An argument's base is the folder its names
    start from: a folder argument's parent (``docs`` names ``docs/sub/a.txt``), a file argument's own
    folder (``a.txt``). With several arguments every name starts from their bases' common folder:
    with each argument's own base, ``x/report.txt`` and ``y/report.txt`` were both ``report.txt``, and
    the second replaced the first in the store. One argument, or files of one folder, keep the names
    they always had. Two different files that would still share a name are a rejection, never a
    silent replacement; one file given twice is read once."""
    # (an argument's base, its files with their paths from that base)
    found: list[tuple[Path, list[tuple[Path, Path]]]] = []
    for given in paths:
        path = Path(given)
        if not path.exists():
            rejected.append(Rejection(str(path), None, "no such file or directory"))
            continue
        if path.is_dir():
            resolved = path.resolve()
            visible = [p for p in path.rglob("*")
                       if not any(part.startswith(".") for part in p.relative_to(path).parts)]
            # Not followed (a link can loop back to a parent), but never skipped silently.
            for link in sorted(p for p in visible if p.is_symlink() and p.is_dir()):
                if notes is not None:
                    notes.append(f"skipped {link}: a symbolic link to a folder (not followed); "
                                 "give its target as an argument to ingest it")
            in_folder = sorted(p for p in visible if p.is_file())
            kept = [file for file in in_folder if file.suffix.lower() in SUPPORTED]
            if notes is not None:
                note = _skipped_note(path, [file for file in in_folder if file.suffix.lower() not in SUPPORTED])
                if note:
                    notes.append(note)
            # Named from the folder, not from where a linked file points (that can be outside it).
            found.append((resolved.parent, [(file, Path(resolved.name) / file.relative_to(path)) for file in kept]))
            continue
        if path.suffix.lower() not in SUPPORTED:
            rejected.append(Rejection(str(path), None, f"unsupported file type {path.suffix or '(none)'}; "
                                                       f"expected one of {', '.join(sorted(SUPPORTED))}"))
            continue
        # The folder resolved, not the file: a linked file keeps its own name.
        found.append((path.parent.resolve(), [(path, Path(path.name))]))
    common = _common_base([base for base, _ in found]) if len(found) > 1 else None
    inputs: list[InputItem] = []
    named: dict[str, tuple[Path, Path]] = {}  # name -> (the file resolved, as given) it names in this call
    for base, files in found:
        prefix = base.relative_to(common) if common is not None else Path()
        for file, relative in files:
            name = (prefix / relative).as_posix()
            real = file.resolve()
            if name in named:
                if named[name][0] == real:
                    continue  # one file given twice (as itself and inside its folder): read once
                rejected.append(Rejection(str(file), None, f"its document name {name} is already that of "
                                                           f"{named[name][1]} in this ingest; two files cannot "
                                                           "share a name (one would replace the other): "
                                                           "ingest them from a common folder"))
                continue
            named[name] = (real, file)
            inputs.append(InputItem(file, name, (base / relative).as_posix()))
    return _with_utf8_names(inputs, rejected)


def adopt_stored_names(inputs: list[InputItem], origins_by_location: Mapping[str, str]) -> list[InputItem]:
    """The inputs, each file that the store holds under another name, from the same location
    (``Corpus.origins_by_location``), renamed to that name.

    A name is a path relative to the folder above the folder argument it came in with: ingested as
    part of ``archive/``, ``archive/articles/x.txt``; given alone, ``x.txt``. The same file, edited and
    ingested by its own path, was added as a second document beside its old version, which kept being
    cited. Matched by the file's location, not by the end of its path: ``wapo/articles/x.txt`` given
    alone must not replace ``nyt/articles/x.txt``, stored from its folder as ``articles/x.txt``. A file
    renamed so must not take a name another input of this ingest has or takes: those keep their own."""
    if not origins_by_location:
        return inputs
    own = {item.name for item in inputs}
    wanted = {position: origins_by_location[item.located] for position, item in enumerate(inputs)
              if item.located and origins_by_location.get(item.located, item.name) != item.name}
    takers = Counter(wanted.values())
    return [InputItem(item.path, wanted[position], item.located)
            if position in wanted and takers[wanted[position]] == 1 and wanted[position] not in own else item
            for position, item in enumerate(inputs)]


def _skipped_note(folder: Path, skipped: list[Path]) -> str:
    """One note for the files of a folder that are not of a supported type (hidden ones excepted):
    they were skipped without a word, a PDF in a folder of articles went unnoticed."""
    if not skipped:
        return ""
    by_type: dict[str, list[str]] = {}
    for file in skipped:
        by_type.setdefault(file.suffix.lower() or "(no extension)", []).append(file.relative_to(folder).as_posix())
    # The commonest types first, each with up to 3 of its files: the note stays one short line.
    ordered = sorted(by_type.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    shown = [f"{suffix}: {', '.join(names[:3])}" + (f" and {len(names) - 3} more" if len(names) > 3 else "")
             for suffix, names in ordered[:5]]
    if len(ordered) > 5:
        shown.append(f"{len(ordered) - 5} other types")
    files = "1 file" if len(skipped) == 1 else f"{len(skipped)} files"
    return (f"skipped {files} of an unsupported type in {folder} ({'; '.join(shown)}); "
            f"supported: {supported_list()}")


def _with_utf8_names(inputs: list[InputItem], rejected: list[Rejection]) -> list[InputItem]:
    """A name with bytes that are not UTF-8 (``caf\\xe9.txt`` from a Latin-1 system) reaches Python
    as lone surrogates, which the store cannot hold: the input was rejected as "could not be
    analysed (UnicodeEncodeError…)", as if its text were at fault."""
    kept = []
    for item in inputs:
        bad = re.search("[\udc80-\udcff]", item.name)
        if bad is None:
            kept.append(item)
            continue
        rejected.append(Rejection(str(item.path), None, f"the file name is not UTF-8 (byte "
                                                        f"0x{ord(bad.group()) - 0xDC00:02x}); rename the file"))
    return kept
