"""`claimsift train TASK --data USER_FILE` validates the file and registers a version without promoting it."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent / "data"


@pytest.mark.slow
def test_train_checkworthy_on_a_user_file_registers_without_promoting(tmp_path, run_cli):
    result = run_cli("train", "checkworthy", "--data", str(DATA / "retrain_checkworthy.jsonl"), "--no-public",
                     "--out", str(tmp_path), "--json")
    assert result.returncode == 0, result.stderr
    registered = json.loads(result.stdout.strip().splitlines()[-1])
    card = json.loads((tmp_path / "checkworthy" / "v1" / "card.json").read_text())
    assert card["files"] and registered
    assert not (tmp_path / "checkworthy" / "CURRENT").exists()


@pytest.mark.slow
def test_train_on_a_bad_file_names_the_rows_and_trains_nothing(tmp_path, run_cli):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "NATO has 32 members.", "label": 1}\n{"text": "", "label": 0}\n{"text": "x", "label": 7}\n')
    result = run_cli("train", "checkworthy", "--data", str(bad), "--no-public", "--out", str(tmp_path / "reg"))
    assert result.returncode == 2
    assert "row 2" in result.stderr or "line 2" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not any((tmp_path / "reg").glob("checkworthy/v*"))


def test_train_with_a_user_file_refuses_the_options_it_would_ignore(tmp_path, invoke_cli):
    # --version, --promote and --sentence-epochs were ignored: the version came out v19, not current.
    result = invoke_cli("train", "checkworthy", "--data", DATA / "retrain_checkworthy.jsonl", "--version", "ngo1",
                        "--promote", "--sentence-epochs", "0", "--out", tmp_path)
    assert "--version, --promote/--no-promote, --sentence-epochs do not apply" in str(result.exception)
    stance = invoke_cli("train", "stance", "--data", DATA / "retrain_stance.jsonl", "--max-pairs", "200",
                        "--out", tmp_path)
    assert "--max-pairs does not apply" in str(stance.exception)
    seeded = invoke_cli("train", "stance", "--data", DATA / "retrain_stance.jsonl", "--seed", "14",
                        "--joint-pairs", DATA / "retrain_stance.jsonl", "--out", tmp_path)
    assert "--joint-pairs, --seed do not apply" in str(seeded.exception)
    assert not list(tmp_path.iterdir())


def test_retrain_refuses_a_time_budget_of_nothing_and_takes_models_dir(tmp_path, invoke_cli):
    result = invoke_cli("models", "retrain", "stance", "--data", DATA / "retrain_stance.jsonl", "--kind",
                        "cross-encoder", "--time-budget", "0", "--models-dir", tmp_path)
    assert "--time-budget 0: give a number of seconds above 0" in str(result.exception)
    assert not list(tmp_path.iterdir())
    # `train stance --data FILE --time-budget 0` and the notebook API reach the same refusal.
    from pipeline.core.errors import UserError
    from pipeline.training.retrain import retrain

    with pytest.raises(UserError, match="time budget 0 s"):
        retrain("stance", DATA / "retrain_stance.jsonl", kind="cross-encoder", time_budget_s=0, models_dir=tmp_path,
                include_public=False, datasets_dir=None, log=lambda m: None)
    assert not list(tmp_path.iterdir())
