"""Model comparison: metrics agree with scikit-learn, the paired bootstrap behaves, the report
holds its plots, and the command runs two registry models on the same rows."""
from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, average_precision_score, f1_score

from pipeline.core.metrics import average_precision, expected_calibration_error, macro_f1
from pipeline.evaluation.compare import ModelPredictions, compare_predictions

DATA = Path(__file__).resolve().parent / "data"
STANCE_LABELS = ("SUPPORTS", "REFUTES", "NOT_ENOUGH_INFO")


def noisy_model(name: str, gold: np.ndarray, signal: float, k: int, seed: int) -> ModelPredictions:
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(len(gold), k))
    logits[np.arange(len(gold)), gold] += signal
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return ModelPredictions(name, probs, probs.argmax(axis=1))


@pytest.fixture(scope="module")
def gold() -> np.ndarray:
    return np.random.default_rng(1).integers(0, 3, 400)


def test_metrics_agree_with_sklearn_and_the_stance_ece(gold):
    from pipeline.core.metrics import calibration_error as stance_ece

    model = noisy_model("m", gold, 1.0, 3, 2)
    whole = np.arange(len(gold))[None]
    assert macro_f1(gold, model.predicted, model.probs, whole)[0] == pytest.approx(
        f1_score(gold, model.predicted, average="macro"))
    assert expected_calibration_error(gold, model.predicted, model.probs, whole, bins=15)[0] == pytest.approx(
        stance_ece(model.probs, gold, bins=15))
    binary = (gold == 0).astype(int)
    scores = np.round(model.probs[:, 0], 2)  # ties, as real scores have
    probs = np.column_stack([1 - scores, scores])
    assert average_precision(binary, None, probs, whole)[0] == pytest.approx(average_precision_score(binary, scores))


def test_identical_models_differ_by_exactly_zero(gold):
    model = noisy_model("m", gold, 1.0, 3, 2)
    result = compare_predictions("stance", STANCE_LABELS, gold, model, model)
    for row in result.rows:
        assert (row.difference, row.ci_low, row.ci_high) == (0.0, 0.0, 0.0)
        assert row.verdict == "no clear difference"


def test_a_clearly_better_model_is_called_better_and_the_primary_metric_comes_first(gold):
    strong, weak = noisy_model("strong", gold, 2.5, 3, 3), noisy_model("weak", gold, 0.3, 3, 4)
    result = compare_predictions("stance", STANCE_LABELS, gold, strong, weak)
    assert result.rows[0].metric == "macro_f1" and result.rows[0].primary
    primary = result.primary
    assert primary.candidate == pytest.approx(f1_score(gold, strong.predicted, average="macro"))
    assert primary.current == pytest.approx(f1_score(gold, weak.predicted, average="macro"))
    assert primary.ci_low > 0 and primary.verdict == "better"
    assert result.metric("accuracy").candidate == pytest.approx(accuracy_score(gold, strong.predicted))
    # Lower is better for the log loss: the strong model's is lower, and that is "better".
    log_loss = result.metric("log_loss")
    assert log_loss.difference < 0 and not log_loss.higher_is_better and log_loss.verdict == "better"
    swapped = compare_predictions("stance", STANCE_LABELS, gold, weak, strong)
    assert swapped.primary.verdict == "worse"


def test_the_bootstrap_is_paired_and_reproducible(gold):
    a = noisy_model("a", gold, 1.0, 3, 5)
    # b is a with a little noise on top: two close, correlated models, as a retrained one and
    # the model it replaces are.
    noisy = np.log(a.probs) + np.random.default_rng(6).normal(scale=0.4, size=a.probs.shape)
    b_probs = np.exp(noisy) / np.exp(noisy).sum(axis=1, keepdims=True)
    b = ModelPredictions("b", b_probs, b_probs.argmax(axis=1))
    first = compare_predictions("stance", STANCE_LABELS, gold, a, b)
    again = compare_predictions("stance", STANCE_LABELS, gold, a, b)
    assert first.to_dict()["metrics"] == again.to_dict()["metrics"]
    other_seed = compare_predictions("stance", STANCE_LABELS, gold, a, b, seed=7)
    assert other_seed.primary.ci_low != first.primary.ci_low
    # Two similar models: the interval of the difference straddles 0, and it is far narrower
    # than it would be if the two models were resampled independently.
    primary = first.primary
    assert primary.ci_low < 0 < primary.ci_high and primary.verdict == "no clear difference"
    rng = np.random.default_rng(0)
    whole = np.arange(len(gold))
    unpaired = [macro_f1(gold, a.predicted, a.probs, rng.choice(whole, (1, len(gold))))[0]
                - macro_f1(gold, b.predicted, b.probs, rng.choice(whole, (1, len(gold))))[0] for _ in range(300)]
    assert primary.ci_high - primary.ci_low < np.subtract(*np.percentile(unpaired, [97.5, 2.5]))


def test_the_html_report_embeds_three_png_plots(gold, tmp_path):
    strong, weak = noisy_model("cand@v2", gold, 2.0, 3, 3), noisy_model("cur@v1", gold, 1.0, 3, 4)
    result = compare_predictions("stance", STANCE_LABELS, gold, strong, weak, data="dev.jsonl")
    path = result.write_html(tmp_path / "out" / "compare.html")  # the folder is made as needed
    text = path.read_text()
    images = re.findall(r"<img alt='([^']+)' src='data:image/png;base64,([A-Za-z0-9+/=]+)'", text)
    assert [alt for alt, _ in images] == ["confusion matrices", "reliability diagram", "precision-recall curves"]
    for _, payload in images:
        assert base64.b64decode(payload)[:8] == b"\x89PNG\r\n\x1a\n"
    assert "cand@v2 vs cur@v1" in text and "macro_f1 (primary)" in text and "95% CI" in text
    raw = json.loads(re.search(r"<pre>(.*)</pre>", text, re.S).group(1).replace("&quot;", '"'))
    assert raw["confusion_matrices"]["rows_gold_cols_predicted"]["candidate"] == \
        result.confusion_matrices()["candidate"]
    assert sum(map(sum, raw["confusion_matrices"]["rows_gold_cols_predicted"]["current"])) == len(gold)
    assert "<img" in result._repr_html_()


def test_binary_task_metrics_and_frame():
    gold = np.random.default_rng(2).integers(0, 2, 300)
    model = noisy_model("m", gold, 1.5, 2, 8)
    other = noisy_model("o", gold, 0.5, 2, 9)
    result = compare_predictions("checkworthy", (0, 1), gold, model, other)
    assert result.rows[0].metric == "f1"
    assert result.primary.candidate == pytest.approx(f1_score(gold, model.predicted))
    assert result.metric("average_precision").candidate == pytest.approx(
        average_precision_score(gold, model.probs[:, 1]))
    frame = result.to_frame()
    assert list(frame.index[:2]) == ["f1", "average_precision"]
    assert {"candidate", "current", "difference", "ci_low", "ci_high", "verdict"} <= set(frame.columns)


@pytest.mark.slow
def test_compare_command_runs_two_registry_models_on_the_same_rows(tmp_path, shared_datasets):
    pytest.importorskip("pipeline.checkworthy.model")
    from typer.testing import CliRunner

    from pipeline.checkworthy import data as cd
    from pipeline.cli import app
    from pipeline.training.retrain import retrain

    models = tmp_path / "models"
    quiet = dict(models_dir=models, datasets_dir=shared_datasets, params={"use_embeddings": False},
                 log=lambda m: None)
    retrain("checkworthy", DATA / "retrain_checkworthy.jsonl", public_sample=300, **quiet)
    retrain("checkworthy", DATA / "retrain_checkworthy.jsonl", public_sample=1500, **quiet)
    from pipeline.registry.registry import Registry

    Registry(models).promote("checkworthy@v1")
    dev = cd.load_sets(shared_datasets)["ct22_1a_dev"]
    data = tmp_path / "ct22_dev.jsonl"
    data.write_text("".join(json.dumps({"text": t, "label": int(y)}) + "\n" for t, y in zip(dev.texts, dev.labels)))
    report = tmp_path / "compare.html"
    result = CliRunner().invoke(app, ["evaluate", "compare", "checkworthy@v2", "checkworthy", "--data", str(data),
                                      "--models-dir", str(models), "--report", str(report), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["candidate"] == "checkworthy@v2" and payload["current"] == "checkworthy@v1"
    assert payload["n"] == len(dev) and payload["primary_metric"] == "f1"
    assert payload["metrics"][0]["metric"] == "f1"
    row = payload["metrics"][0]
    assert row["ci95"][0] <= row["difference"] <= row["ci95"][1]
    cm = payload["confusion_matrices"]["rows_gold_cols_predicted"]["candidate"]
    assert sum(cm[1]) == int(dev.labels.sum())
    assert report.is_file() and report.read_text().count("data:image/png;base64,") == 3


def test_one_model_is_evaluated_with_intervals(tmp_path):
    pytest.importorskip("pipeline.checkworthy.model")
    import pipeline
    from pipeline.training.retrain import retrain

    models = tmp_path / "models"
    result = retrain("checkworthy", DATA / "retrain_checkworthy.jsonl", include_public=False, datasets_dir=None,
                     models_dir=models, params={"use_embeddings": False}, log=lambda m: None)
    rows = [json.loads(line) for line in (DATA / "retrain_checkworthy.jsonl").read_text().splitlines()]
    data = tmp_path / "eval.jsonl"
    data.write_text("".join(json.dumps({"text": r["text"].upper(), "label": r["label"]}) + "\n" for r in rows))
    frame = pipeline.evaluate_model(result.model, data, models_dir=models)
    assert frame.index[0] == "f1" and bool(frame.loc["f1", "primary"])
    assert (frame["ci_low"] <= frame["value"] + 1e-9).all() and (frame["value"] <= frame["ci_high"] + 1e-9).all()
    assert frame.attrs["n"] == 44 and frame.attrs["model"] == "checkworthy@v1"


def test_compare_reads_rows_as_batch_scoring_does_and_warns_of_its_training_data(tmp_path):
    # Every row was scored as a post, whatever its form: on debate sentences compare disagreed with
    # `claimsift evaluate checkworthy`; and a model compared on its own training file was "better".
    pytest.importorskip("pipeline.checkworthy.model")
    import pipeline
    from pipeline.checkworthy.model import CheckworthyModel
    from pipeline.checkworthy.training import routed_metrics
    from pipeline.evaluation.compare import compare_models
    from pipeline.training.retrain import retrain

    rows = [json.loads(line) for line in (DATA / "checkworthy_eval.jsonl").read_text().splitlines()]
    data = tmp_path / "eval.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    shipped = CheckworthyModel("checkworthy")
    routed = shipped.score_posts_routed([r["text"] for r in rows], "auto")
    expected = routed_metrics([r["label"] for r in rows], routed, shipped.thresholds)
    comparison = compare_models("checkworthy", "checkworthy", data)
    assert comparison.candidate.domains == expected["rows_per_domain"] and len(comparison.candidate.domains) == 2
    assert comparison.metric("f1").candidate == pytest.approx(expected["f1"], abs=1e-4)
    assert comparison.candidate.threshold is None and set(comparison.candidate.thresholds) == {"post", "speech"}
    as_posts = compare_models("checkworthy", "checkworthy", data, domain="post")
    assert as_posts.candidate.domains == {"post": len(rows)} and as_posts.candidate.threshold is not None
    assert comparison.warnings == ()

    models = tmp_path / "models"
    result = retrain("checkworthy", DATA / "retrain_checkworthy.jsonl", include_public=False, datasets_dir=None,
                     models_dir=models, params={"use_embeddings": False}, log=lambda m: None)
    own = compare_models(result.model, result.model, DATA / "retrain_checkworthy.jsonl", models_dir=models)
    assert own.warnings and "was trained on retrain_checkworthy.jsonl" in own.warnings[0]
    assert "Warning:" in own.to_html() and own.to_dict()["warnings"] == list(own.warnings)
    assert pipeline.evaluate_model(result.model, data, models_dir=models).attrs["n"] == len(rows)


def test_a_report_path_that_is_a_folder_is_refused_before_the_models_run(tmp_path, invoke_cli):
    data = tmp_path / "eval.jsonl"
    data.write_text((DATA / "checkworthy_eval.jsonl").read_text())
    result = invoke_cli("evaluate", "compare", "checkworthy", "checkworthy", "--data", data, "--report", tmp_path)
    assert "is a folder, not a file; choose another --report" in str(result.exception)  # a UserError: one line
