"""Versioned model registry under ``models/``.

Layout::

    models/<name>/<version>/card.json   machine-readable card: data, metrics, versions, file hashes
    models/<name>/<version>/CARD.md     the same card for people
    models/<name>/<version>/...         weights in safe formats (safetensors, skops, JSON + .npy)
    models/<name>/CURRENT               one line: the version in use
    models/<name>/HISTORY.jsonl         every change of CURRENT (promote, rollback), oldest first

A version directory is written under a temporary name (``.partial-<version>``, created atomically,
so two writers never choose one version) and renamed into place, so a crashed training run never
leaves a half model; the temporary folder of a writer that was killed is removed by the next one.
``CURRENT`` is replaced atomically, and promotion and rollback hold a lock on the model's folder
while they read and write ``CURRENT`` and ``HISTORY.jsonl``. Loading checks every file against the
hash in its card.
"""
from __future__ import annotations

import datetime as _dt
import fcntl
import json
import os
import platform
import shutil
import socket
import time
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Iterator

from pipeline.core.errors import UserError
from pipeline.core.io import atomic_write_text, read_jsonl, sha256_file  # noqa: F401 (part of the registry's surface)
from pipeline.core.paths import MODELS_DIR

DEFAULT_MODELS_DIR = MODELS_DIR
HISTORY_FILE = "HISTORY.jsonl"
PARTIAL_PREFIX = ".partial-"
OWNER_FILE = ".owner.json"  # in a partial folder: the writer's host and process id
LOCK_FILE = ".lock"
# A partial folder with no owner file, older than this, is left over from a writer of an older
# claimsift (which named it at random) or one killed before it wrote the file.
STALE_UNOWNED_S = 3600


class ModelIntegrityError(RuntimeError):
    """A model file does not match the hash recorded in its card."""


class ModelNotFoundError(FileNotFoundError):
    pass


def library_versions(*names: str) -> dict[str, str]:
    base = ("numpy", "scikit-learn", "torch", "sentence-transformers", "transformers", "spacy")
    out = {"python": platform.python_version()}
    for name in dict.fromkeys(base + names):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def _pid_namespace() -> str:
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return ""


def _owner() -> dict:
    """Who writes a partial folder: enough to tell, on this host and in this PID namespace, whether
    the process still lives (containers may share a host name and a models volume)."""
    return {"host": socket.gethostname(), "pidns": _pid_namespace(), "pid": os.getpid()}


def _writer_alive(partial: Path) -> bool:
    """Whether the process that made a partial version folder may still be writing it."""
    try:
        owner = json.loads((partial / OWNER_FILE).read_text())
        if not isinstance(owner, dict):
            raise ValueError("not an object")
    except (OSError, ValueError):
        try:
            return time.time() - partial.stat().st_mtime < STALE_UNOWNED_S
        except OSError:
            return False
    if owner.get("host") != socket.gethostname() or owner.get("pidns") != _pid_namespace():
        return True  # another machine's or container's process cannot be checked from here
    try:
        os.kill(int(owner["pid"]), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError, KeyError, TypeError):
        return True
    return True


def _version_key(version: str) -> tuple:
    return (0, int(version[1:]), "") if version[:1] == "v" and version[1:].isdigit() else (1, 0, version)


@dataclass(frozen=True)
class ModelRef:
    name: str
    version: str
    path: Path
    card: dict

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}"


class Registry:
    def __init__(self, root: Path | str = DEFAULT_MODELS_DIR) -> None:
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():  # else a traceback when a model is written into it
            raise UserError(f"{self.root}: is a file, not a models folder")

    # -- reading -----------------------------------------------------------------
    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))

    def versions(self, name: str) -> list[str]:
        folder = self.root / name
        if not folder.is_dir():
            return []
        # A writer's partial folder holds its card before it is renamed into place: not a version yet.
        names = [p.name for p in folder.iterdir()
                 if p.is_dir() and not p.name.startswith(".") and (p / "card.json").is_file()]
        return sorted(names, key=_version_key)  # v10 after v9: a plain sort puts it before v2

    def current_version(self, name: str) -> str | None:
        pointer = self.root / name / "CURRENT"
        return pointer.read_text().strip() if pointer.is_file() else None

    def resolve(self, spec: str) -> ModelRef:
        """``name`` (the current version), ``name@version`` or a path to a version directory."""
        as_path = Path(spec)
        if (as_path / "card.json").is_file():
            path = as_path.resolve()
            card = json.loads((path / "card.json").read_text())
            return ModelRef(card.get("name", path.parent.name), card.get("version", path.name), path, card)
        name, _, version = spec.partition("@")
        version = version or self.current_version(name) or ""
        path = self.root / name / version
        if not version or not (path / "card.json").is_file():
            known = ", ".join(f"{n}@{v}" for n in self.names() for v in self.versions(n)) or "none"
            raise ModelNotFoundError(f"no model {spec!r} under {self.root} (known: {known})")
        return ModelRef(name, version, path, json.loads((path / "card.json").read_text()))

    def copy_advice(self, spec: str) -> str | None:
        """For a pinned ``name@version`` missing here: the version folder to copy (training would
        register a new version, never this one); None for an unpinned name, to be trained."""
        name, _, version = spec.partition("@")
        if not version:
            return None
        return (f"copy its folder {name}/{version}/ from the models folder it was trained in to "
                f"{self.root / name / version}/")

    def verify(self, ref: ModelRef) -> None:
        for fname, expected in ref.card.get("files", {}).items():
            target = ref.path / fname
            if not target.is_file():
                raise ModelIntegrityError(f"{ref.label}: file {fname} named in card.json is missing")
            actual = sha256_file(target)
            if actual != expected:
                raise ModelIntegrityError(
                    f"{ref.label}: {fname} has sha256 {actual[:12]}… but its card says {expected[:12]}…; "
                    "refusing to load a model that does not match its card"
                )

    def load_ref(self, spec: str) -> ModelRef:
        ref = self.resolve(spec)
        self.verify(ref)
        return ref

    # -- writing -----------------------------------------------------------------
    def next_version(self, name: str) -> str:
        """The version a new model of ``name`` would get: after every registered version and every
        version a live writer has reserved."""
        taken = self.versions(name) + [v for v, _ in self._partials(name)]
        numbers = [int(v[1:]) for v in taken if v.startswith("v") and v[1:].isdigit()]
        return f"v{max(numbers, default=0) + 1}"

    @staticmethod
    def version_of(scratch: Path) -> str:
        """The version a ``new_version`` folder will become."""
        return scratch.name.removeprefix(PARTIAL_PREFIX)

    def _partials(self, name: str, sweep: bool = False) -> list[tuple[str, Path]]:
        """(version, folder) of the partial folders of live writers. ``sweep`` (under the model's
        lock, so that no writer reserves a number while it is judged): remove those of dead
        writers on this host, and unowned old ones."""
        folder = self.root / name
        if not folder.is_dir():
            return []
        live = []
        for path in folder.glob(PARTIAL_PREFIX + "*"):
            if not path.is_dir():
                continue
            if _writer_alive(path):
                live.append((self.version_of(path), path))
            elif sweep:
                shutil.rmtree(path, ignore_errors=True)
        return live

    @contextmanager
    def new_version(self, name: str, version: str | None = None) -> Iterator[Path]:
        """Yield a scratch directory; on success it becomes ``models/<name>/<version>``
        (``version_of(scratch)`` names it: the next free one unless ``version`` is given).

        The version is reserved when the scratch directory is made (an atomic mkdir), so writers in
        other processes never choose the same one. The caller writes its files and a card (see
        ``write_card``) into the directory. On an exception, or SIGTERM in the command line, the
        scratch directory is removed and the registry is unchanged.
        """
        folder = self.root / name
        folder.mkdir(parents=True, exist_ok=True)
        scratch = self._reserve(name, version)
        try:
            yield scratch
            target = folder / self.version_of(scratch)
            if not (scratch / "card.json").is_file():
                raise RuntimeError("a model version needs a card.json (use Registry.write_card)")
            (scratch / OWNER_FILE).unlink(missing_ok=True)
            scratch.chmod(0o755)  # made private; a model is meant to be shared
            os.replace(scratch, target)
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise

    def _reserve(self, name: str, version: str | None) -> Path:
        folder = self.root / name
        if version is not None and (version.startswith(".") or "/" in version or not version.strip()):
            raise UserError(f"{version!r} cannot name a version (no leading dot, no slash)")
        with self._locked(name):  # the sweep and the reservation: one writer at a time, for a moment
            self._partials(name, sweep=True)
            if version is not None:
                candidates = [version]
            else:
                first = int(self.next_version(name)[1:])
                candidates = [f"v{n}" for n in range(first, first + 1000)]
            for candidate in candidates:
                scratch = folder / f"{PARTIAL_PREFIX}{candidate}"
                if (folder / candidate).exists() or scratch.exists():
                    # A registered version, a folder in the way (no card, or a partial that could
                    # not be removed), or a live writer's: the next number, or a refusal by name.
                    if version is not None:
                        why = ("exists" if (folder / candidate).exists() else
                               f"is being written by another process ({scratch})")
                        raise UserError(f"{name}@{version} {why} in {self.root}; choose another version")
                    continue
                scratch.mkdir(mode=0o700)  # under the lock: nothing else makes it now
                (scratch / OWNER_FILE).write_text(json.dumps(_owner()))
                return scratch
        raise RuntimeError(f"could not reserve a version of {name} under {self.root}: {folder} holds "
                           "a thousand folders in the way")

    @contextmanager
    def _locked(self, name: str) -> Iterator[None]:
        """An OS lock on the model's folder (released if the holder dies) around a read and
        write of ``CURRENT`` and ``HISTORY.jsonl``: concurrent promotions lost history entries."""
        folder = self.root / name
        if not folder.is_dir():  # making it here registered a misspelt name (rollback of "typo")
            raise ModelNotFoundError(f"no model {name!r} under {self.root}")
        with open(folder / LOCK_FILE, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def promote(self, spec: str) -> ModelRef:
        return self.promote_from(spec)[0]

    def promote_from(self, spec: str) -> tuple[ModelRef, str | None]:
        """Promote ``spec``; also the version it replaced (read under the same lock)."""
        ref = self.load_ref(spec)
        with self._locked(ref.name):
            previous = self.current_version(ref.name)
            atomic_write_text(self.root / ref.name / "CURRENT", ref.version + "\n")
            if previous != ref.version:
                self._record(ref.name, "promote", previous, ref.version)
        return ref, previous

    # -- history and rollback (every change of CURRENT is logged, so it can be undone) -------
    def history(self, name: str) -> list[dict]:
        """Changes of ``CURRENT``, oldest first: ``{at, action, from, to}``."""
        path = self.root / name / HISTORY_FILE
        if not path.is_file():
            return []
        return list(read_jsonl(path))

    def _record(self, name: str, action: str, previous: str | None, version: str) -> None:
        entry = {"at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), "action": action,
                 "from": previous, "to": version}
        lines = [json.dumps(e) for e in self.history(name)] + [json.dumps(entry)]
        atomic_write_text(self.root / name / HISTORY_FILE, "\n".join(lines) + "\n")

    def previous_version(self, name: str) -> str | None:
        """The version ``rollback`` would make current: the one in use before the present one
        (promotions push the version they replace, rollbacks pop), else the newest older one."""
        current = self.current_version(name)
        stack: list[str] = []
        for entry in self.history(name):
            if entry["action"] == "rollback":
                while stack and stack[-1] != entry["to"]:
                    stack.pop()
                if stack:
                    stack.pop()
            elif entry.get("from") and entry["from"] != entry["to"]:
                stack.append(entry["from"])
        available = set(self.versions(name))
        for version in reversed(stack):
            if version != current and version in available:
                return version
        older = [v for v in self.versions(name) if current and _version_key(v) < _version_key(current)]
        return max(older, key=_version_key) if older else None

    def rollback(self, name: str) -> ModelRef:
        """Make the previously current version current again (atomic); raise if there is none."""
        with self._locked(name):
            current = self.current_version(name)
            if current is None:
                raise ModelNotFoundError(f"{name}: no current version to roll back from")
            previous = self.previous_version(name)
            if previous is None:
                raise ModelNotFoundError(f"{name}: nothing to roll back to: no version was current before {current} "
                                         "and there is no older version")
            ref = self.load_ref(f"{name}@{previous}")
            atomic_write_text(self.root / name / "CURRENT", ref.version + "\n")
            self._record(name, "rollback", current, ref.version)
        return ref

    @staticmethod
    def write_card(folder: Path, *, name: str, version: str, description: str, training_data: list[dict],
                   metrics: dict, extra: dict | None = None, libraries: tuple[str, ...] = ()) -> dict:
        """Write card.json and CARD.md, hashing every other file already in ``folder``.

        training_data: one dict per source with keys ``dataset``, ``files``, ``licence`` (and
        optionally ``rows``).
        """
        files = {
            p.name: sha256_file(p)
            for p in sorted(folder.iterdir())
            if p.is_file() and p.name not in {"card.json", "CARD.md", OWNER_FILE}
        }
        card = {
            "name": name,
            "version": version,
            "description": description,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "training_data": training_data,
            "metrics": metrics,
            "libraries": library_versions(*libraries),
            "files": files,
            **(extra or {}),
        }
        (folder / "card.json").write_text(json.dumps(card, indent=2, sort_keys=False) + "\n")
        (folder / "CARD.md").write_text(render_card_markdown(card))
        return card


def render_card_markdown(card: dict) -> str:
    lines = [f"# Model card: {card['name']} {card['version']}", "", card.get("description", ""), ""]
    lines += [f"- Created: {card.get('created')}", ""]
    lines += ["## Training data", ""]
    for src in card.get("training_data", []):
        parts = [*src.get("files", []), *([f"{src['rows']} rows"] if "rows" in src else [])]
        detail = f" ({', '.join(parts)})" if parts else ""
        lines.append(f"- `{src.get('dataset')}`{detail}; licence: {src.get('licence', 'not stated')}")
    lines += ["", "## Metrics (dev data)", "", "```json", json.dumps(card.get("metrics", {}), indent=2), "```", ""]
    lines += ["## Library versions", ""]
    lines += [f"- {k}: {v}" for k, v in card.get("libraries", {}).items()]
    lines += ["", "## Files (sha256, checked at load)", ""]
    lines += [f"- `{k}`: `{v}`" for k, v in card.get("files", {}).items()]
    for key, value in card.items():
        if key in {"name", "version", "description", "created", "training_data", "metrics", "libraries", "files"}:
            continue
        lines += ["", f"## {key}", "", "```json", json.dumps(value, indent=2), "```"]
    return "\n".join(lines) + "\n"


def headline_metric(card: dict) -> tuple[str, float | None]:
    """The card's primary dev metric: (what it is, value)."""
    metrics = card.get("metrics") or {}
    primary = metrics.get("primary")
    if isinstance(primary, dict) and "value" in primary:
        where = f" ({primary['set']})" if primary.get("set") else ""
        return f"{primary.get('metric', 'primary')}{where}", primary.get("value")
    name = metrics.get("primary_metric") or (primary if isinstance(primary, str) else None)
    for key in ([name] if name else []) + ["macro_f1", "f1", "accuracy"]:
        if isinstance(metrics.get(key), (int, float)):
            return f"dev {key}", float(metrics[key])
        # e.g. {"primary": "map@5", "dev": {"map@5": 0.91, ...}}
        for part, values in metrics.items():
            if isinstance(values, dict) and isinstance(values.get(key), (int, float)):
                return f"{key} ({part})", float(values[key])
    return "", None


def model_rows(registry: "Registry") -> list[dict]:
    """One row per model version: current or not, its card's date, kind and headline metric."""
    rows = []
    for name in registry.names():
        current = registry.current_version(name)
        for version in registry.versions(name):
            card = json.loads((registry.root / name / version / "card.json").read_text())
            metric, value = headline_metric(card)
            rows.append({"name": name, "version": version, "current": version == current,
                         "created": card.get("created"), "kind": card.get("kind") or card.get("task") or "",
                         "metric": metric, "value": value, "parent": card.get("parent"),
                         "description": card.get("description", "")})
    return rows
