"""The model registry: atomic versions, hash checks, promotion, rollback, and its CLI."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pipeline.core.errors import UserError
from pipeline.registry.registry import ModelIntegrityError, ModelNotFoundError, Registry

DATA = Path(__file__).resolve().parent / "data"


def add_version(registry: Registry, name: str, payload: str, f1: float) -> str:
    with registry.new_version(name) as folder:
        version = registry.version_of(folder)
        (folder / "weights.json").write_text(json.dumps({"payload": payload}))
        registry.write_card(folder, name=name, version=version, description=f"test model {payload}",
                            training_data=[{"dataset": "hand-made", "files": ["x.jsonl"], "licence": "CC0", "rows": 3}],
                            metrics={"f1": f1, "primary_metric": "f1"}, extra={"task": "checkworthy"})
    return version


@pytest.fixture()
def registry(tmp_path) -> Registry:
    registry = Registry(tmp_path / "models")
    add_version(registry, "checkworthy", "one", 0.50)
    add_version(registry, "checkworthy", "two", 0.60)
    return registry


def test_a_failed_write_leaves_no_version_and_no_scratch(tmp_path):
    registry = Registry(tmp_path / "models")
    with pytest.raises(RuntimeError, match="disk full"):
        with registry.new_version("stance") as folder:
            (folder / "weights.npy").write_bytes(b"half")
            raise RuntimeError("disk full")
    with pytest.raises(KeyboardInterrupt):
        with registry.new_version("stance") as folder:
            (folder / "weights.npy").write_bytes(b"half")
            raise KeyboardInterrupt
    assert registry.versions("stance") == []
    assert [p.name for p in (tmp_path / "models" / "stance").iterdir()] == [".lock"]  # the reservation's lock file only


def _write_version(root: str, payload: str, hold_s: float) -> str:
    """A writer in another process: reserves a version, holds it ``hold_s`` seconds, registers it."""
    import time

    registry = Registry(Path(root))
    with registry.new_version("checkworthy") as folder:
        time.sleep(hold_s)
        version = registry.version_of(folder)
        (folder / "weights.json").write_text(json.dumps({"payload": payload}))
        registry.write_card(folder, name="checkworthy", version=version, description=payload, training_data=[],
                            metrics={"f1": 0.5, "primary_metric": "f1"})
    return version


def _promote(root: str, spec: str) -> str:
    return Registry(Path(root)).promote(spec).version


def test_writers_in_several_processes_each_get_their_own_version(tmp_path):
    # The version was chosen when the write ended: the second of two retrains crashed with
    # "…/v3 exists" after all its training.
    from concurrent.futures import ProcessPoolExecutor

    root = str(tmp_path / "models")
    with ProcessPoolExecutor(4) as pool:
        versions = list(pool.map(_write_version, [root] * 4, ["a", "b", "c", "d"], [0.5, 0.3, 0.4, 0.2]))
    assert sorted(versions) == ["v1", "v2", "v3", "v4"]
    registry = Registry(Path(root))
    assert registry.versions("checkworthy") == ["v1", "v2", "v3", "v4"]
    for version in versions:  # each card names the folder it is in
        assert registry.load_ref(f"checkworthy@{version}").card["version"] == version
    assert not [p for p in (Path(root) / "checkworthy").iterdir() if p.name.startswith(".partial")]


def test_a_version_being_written_is_reserved_and_a_named_one_is_refused_while_taken(tmp_path):
    registry = Registry(tmp_path / "models")
    with registry.new_version("stance") as first:
        assert registry.version_of(first) == "v1" and registry.versions("stance") == []
        assert registry.next_version("stance") == "v2"  # v1 is taken while it is written
        with pytest.raises(UserError, match="being written by another process"):
            with registry.new_version("stance", "v1"):
                pass
        registry.write_card(first, name="stance", version="v1", description="x", training_data=[], metrics={})
    with pytest.raises(UserError, match="stance@v1 exists"):
        with registry.new_version("stance", "v1"):
            pass


def test_the_partial_folder_of_a_killed_writer_is_removed_by_the_next(tmp_path):
    import subprocess
    import sys

    from pipeline.registry.registry import _owner

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    folder = tmp_path / "models" / "stance"
    for version in ("v7", "ngo1"):
        stale = folder / f".partial-{version}"
        stale.mkdir(parents=True)
        (stale / "card.json").write_text("{}")
        (stale / ".owner.json").write_text(json.dumps(_owner() | {"pid": int(dead.stdout)}))
    registry = Registry(tmp_path / "models")
    assert registry.versions("stance") == []  # a partial folder is never a version, card or not
    assert registry.next_version("stance") == "v1"  # a dead writer's number is not taken
    with registry.new_version("stance") as scratch:
        assert registry.version_of(scratch) == "v1" and not (folder / ".partial-v7").exists()
        registry.write_card(scratch, name="stance", version="v1", description="x", training_data=[], metrics={})
    # A name given again after its writer was killed: was "being written by another process" forever.
    with registry.new_version("stance", "ngo1") as scratch:
        registry.write_card(scratch, name="stance", version="ngo1", description="x", training_data=[], metrics={})
    assert registry.versions("stance") == ["v1", "ngo1"]


def test_a_folder_in_the_way_is_stepped_over_and_bad_names_refused(tmp_path):
    # A v1 folder without a card (half copied by hand): the reservation spun on v1 a thousand times.
    registry = Registry(tmp_path / "models")
    (tmp_path / "models" / "stance" / "v1").mkdir(parents=True)
    with registry.new_version("stance") as scratch:
        assert registry.version_of(scratch) == "v2"
        registry.write_card(scratch, name="stance", version="v2", description="x", training_data=[], metrics={})
    for bad in (".hidden", "a/b", " "):
        with pytest.raises(UserError, match="cannot name a version"):
            with registry.new_version("stance", bad):
                pass


def test_a_rollback_of_a_misspelt_name_registers_nothing(registry):
    with pytest.raises(ModelNotFoundError):
        registry.rollback("checkworthiness")
    assert registry.names() == ["checkworthy"]


def test_sigterm_in_the_command_line_removes_the_version_being_written(tmp_path):
    # `timeout` and `kill` send SIGTERM, which left ".partial-…" folders behind; Ctrl-C did not.
    import subprocess
    import sys

    script = (
        "import os, signal, signal as s\n"
        "from pathlib import Path\n"
        "from pipeline.cli.app import _exit_on_sigterm\n"
        "from pipeline.registry.registry import Registry\n"
        "s.signal(s.SIGTERM, _exit_on_sigterm)\n"
        f"registry = Registry(Path({str(tmp_path / 'models')!r}))\n"
        "with registry.new_version('stance') as folder:\n"
        "    (folder / 'weights.npy').write_bytes(b'half')\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "    import time; time.sleep(30)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 143, done.stderr
    assert "Traceback" not in done.stderr
    assert [p.name for p in (tmp_path / "models" / "stance").iterdir()] == [".lock"]


def test_concurrent_promotions_keep_every_change_in_the_history(registry):
    from concurrent.futures import ProcessPoolExecutor

    add_version(registry, "checkworthy", "three", 0.7)
    specs = [f"checkworthy@v{1 + i % 3}" for i in range(12)]
    with ProcessPoolExecutor(6) as pool:
        list(pool.map(_promote, [str(registry.root)] * len(specs), specs))
    history = registry.history("checkworthy")
    # A chain: each change starts where the one before it ended, and the last is what is current.
    assert all(later["from"] == earlier["to"] for earlier, later in zip(history, history[1:]))
    assert history[-1]["to"] == registry.current_version("checkworthy")


def test_versions_are_listed_in_version_order_past_nine(tmp_path):
    registry = Registry(tmp_path / "models")
    for i in range(11):
        add_version(registry, "verdict", f"n{i}", 0.5)
    assert registry.versions("verdict") == [f"v{i}" for i in range(1, 12)]
    assert registry.next_version("verdict") == "v12"


def test_a_version_without_a_card_is_refused(tmp_path):
    registry = Registry(tmp_path / "models")
    with pytest.raises(RuntimeError, match="card.json"):
        with registry.new_version("stance") as folder:
            (folder / "weights.npy").write_bytes(b"w")
    assert registry.versions("stance") == []


def test_card_records_hashes_and_load_refuses_a_tampered_file(registry):
    ref = registry.load_ref("checkworthy@v1")
    assert set(ref.card["files"]) == {"weights.json"}
    assert ref.card["training_data"][0]["licence"] == "CC0"
    assert "python" in ref.card["libraries"] and ref.card["created"]
    assert (ref.path / "CARD.md").read_text().startswith("# Model card: checkworthy v1")
    (ref.path / "weights.json").write_text('{"payload": "evil"}')
    with pytest.raises(ModelIntegrityError, match="weights.json"):
        registry.load_ref("checkworthy@v1")


def test_new_versions_are_not_current_until_promoted(registry):
    assert registry.versions("checkworthy") == ["v1", "v2"]
    assert registry.current_version("checkworthy") is None
    with pytest.raises(ModelNotFoundError):
        registry.resolve("checkworthy")  # no current version yet
    registry.promote("checkworthy@v1")
    assert registry.resolve("checkworthy").version == "v1"


def test_promote_then_rollback_restores_the_previous_model(registry):
    registry.promote("checkworthy@v1")
    registry.promote("checkworthy@v2")
    assert registry.current_version("checkworthy") == "v2"
    assert registry.previous_version("checkworthy") == "v1"
    ref = registry.rollback("checkworthy")
    assert ref.version == "v1" and registry.current_version("checkworthy") == "v1"
    assert (registry.root / "checkworthy" / "v2" / "card.json").is_file()  # still available
    with pytest.raises(ModelNotFoundError, match="nothing to roll back to"):
        registry.rollback("checkworthy")
    actions = [(e["action"], e["from"], e["to"]) for e in registry.history("checkworthy")]
    assert actions == [("promote", None, "v1"), ("promote", "v1", "v2"), ("rollback", "v2", "v1")]


def test_rollback_walks_back_through_several_promotions(registry):
    add_version(registry, "checkworthy", "three", 0.7)
    for version in ("v1", "v3", "v2"):
        registry.promote(f"checkworthy@{version}")
    assert registry.rollback("checkworthy").version == "v3"
    assert registry.rollback("checkworthy").version == "v1"


def test_rollback_without_history_falls_back_to_the_newest_older_version(registry):
    (registry.root / "checkworthy" / "CURRENT").write_text("v2\n")  # as a hand-edited registry would be
    assert registry.rollback("checkworthy").version == "v1"


def test_promotion_replaces_current_atomically(registry, monkeypatch):
    registry.promote("checkworthy@v1")
    pointer = registry.root / "checkworthy" / "CURRENT"

    def crash(*args, **kwargs):
        raise OSError("power cut")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        registry.promote("checkworthy@v2")
    monkeypatch.undo()
    assert pointer.read_text() == "v1\n"
    assert not [p for p in pointer.parent.iterdir() if p.name.endswith(".tmp")]


# -- CLI -----------------------------------------------------------------------------------------

def test_cli_list_show_promote_rollback(registry, invoke_cli):
    where = ["--models-dir", str(registry.root)]
    result = invoke_cli("models", "list", "--json", *where)
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [(r["version"], r["current"], r["value"]) for r in rows] == [("v1", False, 0.5), ("v2", False, 0.6)]
    assert rows[0]["created"]

    result = invoke_cli("models", "promote", "checkworthy@v2", *where)
    assert result.exit_code == 0 and "current is now v2 (was none)" in result.output
    table = invoke_cli("models", "list", *where).output
    assert "checkworthy" in table and "0.6000" in table and "✔" in table

    shown = invoke_cli("models", "show", "checkworthy", *where)
    assert shown.exit_code == 0 and "checkworthy@v2 (current)" in shown.output and "hand-made" in shown.output
    card = json.loads(invoke_cli("models", "show", "checkworthy@v1", "--json", *where).output)
    assert card["version"] == "v1" and card["metrics"]["f1"] == 0.5

    invoke_cli("models", "promote", "checkworthy@v1", *where)
    result = invoke_cli("models", "rollback", "checkworthy", *where)
    assert result.exit_code == 0 and "rolled back from v1 to v2" in result.output
    assert registry.current_version("checkworthy") == "v2"


@pytest.mark.slow
def test_cli_errors_are_one_line_without_traceback(registry, run_cli):
    for args, expected in ((["models", "promote", "checkworthy@v9"], "no model 'checkworthy@v9'"),
                           (["models", "promote", "checkworthy"], "name the version"),
                           (["models", "rollback", "checkworthy"], "no current version")):
        proc = run_cli(*args, "--models-dir", registry.root, timeout=60)
        assert proc.returncode == 2, proc.stderr
        assert expected in proc.stderr and "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1


def test_a_models_folder_that_is_a_file_is_refused_before_any_fit(tmp_path, run_cli):
    (tmp_path / "models.txt").write_text("")
    proc = run_cli("train", "query-adapter", "--triplets", tmp_path / "no-triplets.jsonl",
                   "--out", tmp_path / "models.txt", timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == f"error: {tmp_path / 'models.txt'}: is a file, not a models folder"


# -- retraining writes a version without promoting it; a failed run writes nothing ----------------

def test_promoting_a_stance_model_says_which_one_verdicts_read(tmp_path, invoke_cli):
    import shutil

    root = Path(__file__).resolve().parent.parent / "models"
    models = tmp_path / "models"
    for name in ("stance", "verdict"):
        shutil.copytree(root / name, models / name)
    fitted = json.loads((models / "verdict" / Registry(models).current_version("verdict") / "card.json").read_text())
    fitted_label = "stance@" + fitted["stance_model"][0]["stance"]["version"]
    other = next(f"stance@{v}" for v in Registry(models).versions("stance") if f"stance@{v}" != fitted_label)
    said = invoke_cli("models", "promote", other, "--models-dir", models)
    assert said.exit_code == 0 and f"verdicts still read {fitted_label}" in said.output, said.output
    assert f"--stance-model {other}" in said.output
    same = invoke_cli("models", "promote", fitted_label, "--models-dir", models)
    assert same.exit_code == 0 and "verdicts still read" not in same.output


def test_retraining_registers_an_unpromoted_version(tmp_path):
    from pipeline.training.retrain import retrain

    models = tmp_path / "models"
    result = retrain("checkworthy", DATA / "retrain_checkworthy.jsonl", include_public=False, datasets_dir=None,
                     models_dir=models, params={"use_embeddings": False}, log=lambda m: None)
    registry = Registry(models)
    assert result.model == "checkworthy@v1" and registry.versions("checkworthy") == ["v1"]
    assert registry.current_version("checkworthy") is None
    card = registry.load_ref("checkworthy@v1").card
    user = [d for d in card["training_data"] if d["dataset"] == "user-supplied"][0]
    assert user["files"] == [str(DATA / "retrain_checkworthy.jsonl")] and len(user["sha256"]) == 1
    # 12 of the 44 hand-made rows are held out, half of them claims; their words separate them.
    heldout = card["metrics"]["user_heldout"]
    assert (heldout["rows"], heldout["positives"]) == (12, 6) and heldout["f1"] >= 0.8
    assert card["thresholds"]["post"] == heldout["threshold"]
    # Trained without embeddings, and its card says so (it described MiniLM embeddings).
    assert "MiniLM" not in card["description"] and "no embeddings" in card["description"]


def test_a_training_run_that_fails_midway_leaves_no_model(tmp_path, monkeypatch):
    from pipeline.checkworthy.classifier import CheckworthyClassifier
    from pipeline.training.retrain import retrain

    def save_half(self, folder):
        (Path(folder) / "coef.npy").write_bytes(b"partial")
        raise KeyboardInterrupt  # the user pressed Ctrl-C while weights were being written

    monkeypatch.setattr(CheckworthyClassifier, "save", save_half)
    models = tmp_path / "models"
    with pytest.raises(KeyboardInterrupt):
        retrain("checkworthy", DATA / "retrain_checkworthy.jsonl", include_public=False, datasets_dir=None,
                models_dir=models, params={"use_embeddings": False}, log=lambda m: None)
    assert Registry(models).versions("checkworthy") == []
    assert [p.name for p in (models / "checkworthy").iterdir()] == [".lock"]


def test_cli_retrain_registers_without_promoting(tmp_path, shared_datasets, invoke_cli):
    models = tmp_path / "models"
    result = invoke_cli("models", "retrain", "checkworthy", "--data", str(DATA / "retrain_checkworthy.jsonl"),
                     "--no-public", "--no-embeddings", "--datasets", str(shared_datasets), "--out", str(models),
                     "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout[result.stdout.index("{"):])
    assert payload["model"] == "checkworthy@v1" and payload["promoted"] is False
    assert payload["user_rows"] == 44 and payload["public_rows"] == 0
    # Trained on the user rows alone, measured on the public dev sets.
    assert set(payload["metrics"]) >= {"ct22_1a_dev", "claimbuster_heldout", "primary"}
    assert Registry(models).current_version("checkworthy") is None


@pytest.mark.slow
def test_stance_retraining_on_the_user_file_alone(tmp_path):
    from pipeline.stance.model import StanceModel
    from pipeline.training.retrain import retrain

    models = tmp_path / "models"
    result = retrain("stance", DATA / "retrain_stance.jsonl", include_public=False, datasets_dir=None,
                     models_dir=models, log=lambda m: None)
    # 12 claims, each with 3 pairs: a quarter of the claims (3) is held out as dev.
    assert result.model == "stance-embed@v1" and (result.user_rows, result.public_rows) == (27, 0)
    assert result.metrics["n"] == 9
    card = Registry(models).load_ref(result.model).card
    assert card["kind"] == "embedding-lr" and card["metrics"]["primary_metric"] == "macro_f1"
    assert Registry(models).current_version("stance-embed") is None
    probs = StanceModel(result.model, models_dir=models).predict_proba(
        ["Sweden joined NATO in 2024."], ["Sweden formally became NATO's 32nd member on 7 March 2024."])
    assert probs.shape == (1, 3) and abs(probs.sum() - 1) < 1e-5


def test_base_gives_the_new_version_its_name_parameters_and_parent(tmp_path):
    from pipeline.core.errors import UserError
    from pipeline.training.retrain import retrain

    models = tmp_path / "models"
    quiet = dict(include_public=False, datasets_dir=None, models_dir=models, log=lambda m: None)
    first = retrain("checkworthy", DATA / "retrain_checkworthy.jsonl", params={"use_embeddings": False, "C": 0.5},
                    **quiet)
    second = retrain("checkworthy", DATA / "retrain_checkworthy.jsonl", base=first.model, **quiet)
    card = Registry(models).load_ref(second.model).card
    assert second.model == "checkworthy@v2" and card["parent"] == "checkworthy@v1"
    assert card["params"]["use_embeddings"] is False and card["params"]["C"] == 0.5
    with pytest.raises(UserError, match="--base: no model 'checkworthy@v7'"):
        retrain("checkworthy", DATA / "retrain_checkworthy.jsonl", base="checkworthy@v7", **quiet)


def test_the_listed_metric_is_each_card_s_declared_primary():
    from pipeline.cli.models import headline_metric

    assert headline_metric({"metrics": {"primary": {"metric": "f1", "set": "ct22_1a_dev", "value": 0.7}}}) == \
        ("f1 (ct22_1a_dev)", 0.7)
    assert headline_metric({"metrics": {"primary_metric": "macro_f1", "macro_f1": 0.61, "accuracy": 0.7}}) == \
        ("dev macro_f1", 0.61)
    assert headline_metric({"metrics": {"primary": "map@5", "dev": {"map@1": 0.8, "map@5": 0.9}}}) == \
        ("map@5 (dev)", 0.9)
    assert headline_metric({"metrics": {}}) == ("", None)


def test_history_of_a_misspelt_model_is_an_error_not_silence(registry, invoke_cli):
    result = invoke_cli("models", "history", "checkworthiness", "--models-dir", registry.root)
    assert "no model 'checkworthiness'" in str(result.exception) and "checkworthy" in str(result.exception)
    assert invoke_cli("models", "history", "checkworthy", "--models-dir", registry.root).exit_code == 0


def test_promoting_stance_embed_says_the_cross_encoder_is_what_is_read(tmp_path, invoke_cli):
    import shutil

    root = Path(__file__).resolve().parent.parent / "models"
    models = tmp_path / "models"
    for name in ("stance", "stance-embed"):
        shutil.copytree(root / name, models / name)
    version = Registry(models).versions("stance-embed")[0]
    said = invoke_cli("models", "promote", f"stance-embed@{version}", "--models-dir", models)
    assert said.exit_code == 0 and "stance-embed is their fallback" in said.output, said.output
