"""Compare a candidate model with the current one on the same labelled rows.

Both models predict every row; each metric is computed for both, with the difference
(candidate - current) and a paired bootstrap 95% confidence interval of that difference:
the same resampled rows score both models, so the interval reflects how much the difference
itself depends on which rows happened to be in the data. The seed is fixed, so a report is
reproducible.

The task's primary metric comes first: the one the candidate's card declares
(``metrics.primary_metric``), else the task default (``PRIMARY_METRIC``).

``Comparison.write_html`` writes a self-contained report: the metric table, confusion matrices,
a reliability diagram (calibration) and precision-recall curves, drawn with matplotlib's Agg
canvas (no pyplot state) and embedded as base64 PNGs.
"""
from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import json
import os
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from pipeline.checkworthy.model import CheckworthyModel
from pipeline.checkworthy.sentences import AUTO
from pipeline.core.errors import UserError
from pipeline.core.io import atomic_write_text, sha256_file
from pipeline.core.metrics import (
    CALIBRATION_BINS,
    N_BOOTSTRAP,
    SEED,
    accuracy,
    average_precision,
    bootstrap_indices,
    brier,
    confusion_counts,
    expected_calibration_error,
    f1_positive,
    log_loss,
    macro_f1,
    per_class_f1,
    precision_positive,
    recall_positive,
)
from pipeline.registry.registry import DEFAULT_MODELS_DIR, ModelNotFoundError, Registry
from pipeline.stance.model import StanceModel
from pipeline.training.data import SCHEMAS, load_evaluation_data

# Imported where used, not here (slow to load; most callers of this module never need them): matplotlib,
# pandas, scikit-learn.

PRIMARY_METRIC = {"stance": "macro_f1", "checkworthy": "f1"}


# -- the metrics of each task (defined over bootstrap resamples in pipeline.core.metrics) ----------


@dataclass(frozen=True)
class Metric:
    name: str
    fn: Callable
    higher_is_better: bool = True
    description: str = ""


def _class_f1(k: int) -> Callable:
    def fn(gold, predicted, probs, idx):
        f1, _ = per_class_f1(confusion_counts(gold, predicted, idx, probs.shape[1]))
        return f1[:, k]
    return fn


def metrics_for(task: str, labels: Sequence) -> list[Metric]:
    probabilistic = [
        Metric("ece", expected_calibration_error, False, f"expected calibration error, {CALIBRATION_BINS} bins"),
        Metric("brier", brier, False, "Brier score (sum over classes)"),
        Metric("log_loss", log_loss, False, "negative log-likelihood of the gold label"),
    ]
    if task == "stance":
        return [Metric("macro_f1", macro_f1, True, "F1 averaged over the classes present"),
                Metric("accuracy", accuracy)] + [
            Metric(f"f1_{label}", _class_f1(i), True, f"F1 of {label}") for i, label in enumerate(labels)
        ] + probabilistic
    if task == "checkworthy":
        return [Metric("f1", f1_positive, True, "F1 of the check-worthy class"),
                Metric("average_precision", average_precision, True, "area under the PR curve of class 1"),
                Metric("precision", precision_positive), Metric("recall", recall_positive),
                Metric("accuracy", accuracy)] + probabilistic
    raise UserError(f"unknown task {task!r}; expected stance or checkworthy")


# -- results ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ModelPredictions:
    """What one model made of the rows: ``probs`` (n, K) over ``labels``; ``predicted`` (n,)
    indices into ``labels`` (argmax, or the model's own decision threshold)."""

    model: str
    probs: np.ndarray
    predicted: np.ndarray
    card: dict = field(default_factory=dict)
    threshold: float | None = None  # the one decision threshold; None where rows met several
    # Check-worthiness: rows per domain each was read in (auto: routed per row), and the domains' thresholds.
    domains: dict[str, int] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class MetricRow:
    metric: str
    candidate: float
    current: float
    difference: float
    ci_low: float
    ci_high: float
    higher_is_better: bool
    primary: bool = False

    @property
    def verdict(self) -> str:
        """better / worse when the interval excludes 0, else no clear difference."""
        if self.ci_low > 0 or self.ci_high < 0:
            improved = (self.difference > 0) == self.higher_is_better
            return "better" if improved else "worse"
        return "no clear difference"

    def to_dict(self) -> dict:
        return {"metric": self.metric, "candidate": round(self.candidate, 4), "current": round(self.current, 4),
                "difference": round(self.difference, 4), "ci95": [round(self.ci_low, 4), round(self.ci_high, 4)],
                "higher_is_better": self.higher_is_better, "primary": self.primary, "verdict": self.verdict}


@dataclass(frozen=True, repr=False)
class Comparison:
    task: str
    labels: tuple
    gold: np.ndarray
    candidate: ModelPredictions
    current: ModelPredictions
    rows: tuple[MetricRow, ...]
    primary_metric: str
    data: str = ""
    n_bootstrap: int = N_BOOTSTRAP
    seed: int = SEED
    warnings: tuple[str, ...] = ()  # e.g. the data is what a model was trained on

    @property
    def n(self) -> int:
        return len(self.gold)

    @property
    def primary(self) -> MetricRow:
        return next(r for r in self.rows if r.metric == self.primary_metric)

    def metric(self, name: str) -> MetricRow:
        return next(r for r in self.rows if r.metric == name)

    def to_frame(self):
        import pandas as pd

        frame = pd.DataFrame([r.to_dict() for r in self.rows])
        frame[["ci_low", "ci_high"]] = pd.DataFrame(frame.pop("ci95").tolist(), index=frame.index)
        return frame.set_index("metric")

    def confusion_matrices(self) -> dict[str, list[list[int]]]:
        k = len(self.labels)
        out = {}
        for name, pred in (("candidate", self.candidate), ("current", self.current)):
            out[name] = confusion_counts(self.gold, pred.predicted, np.arange(self.n)[None], k)[0].tolist()
        return out

    def to_dict(self) -> dict:
        return {"task": self.task, "data": self.data, "n": self.n, "labels": [str(x) for x in self.labels],
                "candidate": self.candidate.model, "current": self.current.model,
                "primary_metric": self.primary_metric,
                "bootstrap": {"resamples": self.n_bootstrap, "seed": self.seed, "paired": True, "interval": 0.95},
                "metrics": [r.to_dict() for r in self.rows],
                "confusion_matrices": {"rows_gold_cols_predicted": self.confusion_matrices()},
                **({"domains": {"candidate": self.candidate.domains, "current": self.current.domains}}
                   if self.candidate.domains else {}),
                "warnings": list(self.warnings)}

    def summary(self) -> str:
        p = self.primary
        return (f"{self.candidate.model} vs {self.current.model} on {self.n} rows: {p.metric} "
                f"{p.candidate:.4f} vs {p.current:.4f} ({p.difference:+.4f}, 95% CI "
                f"[{p.ci_low:+.4f}, {p.ci_high:+.4f}]): {p.verdict}")

    def __repr__(self) -> str:
        return f"<Comparison {self.summary()}>"

    def figures(self) -> dict[str, str]:
        """The report's plots as base64 PNGs: confusion, calibration, precision_recall."""
        return {"confusion": plot_confusion(self), "calibration": plot_calibration(self),
                "precision_recall": plot_precision_recall(self)}

    def to_html(self) -> str:
        return render_html(self)

    def write_html(self, path: Path | str) -> Path:
        """Write the report atomically (a reader never sees half a file)."""
        path = Path(path)
        atomic_write_text(path, self.to_html())
        os.chmod(path, 0o644)  # a report is for sharing, not private like the temp file it came from
        return path

    def _repr_html_(self) -> str:
        return render_html(self, full_page=False)


# -- comparing ----------------------------------------------------------------------------------


def compare_predictions(task: str, labels: Sequence, gold: Sequence[int], candidate: ModelPredictions,
                        current: ModelPredictions, *, primary_metric: str | None = None, data: str = "",
                        n_bootstrap: int = N_BOOTSTRAP, seed: int = SEED) -> Comparison:
    """Metrics of both models, their difference and its paired-bootstrap 95% interval."""
    gold_ids = np.asarray(gold, dtype=np.int64)
    n = len(gold_ids)
    if n == 0:
        raise UserError("nothing to compare: no rows")
    for pred in (candidate, current):
        if pred.probs.shape != (n, len(labels)):
            raise ValueError(f"{pred.model}: probabilities of shape {pred.probs.shape}, expected {(n, len(labels))}")
    metrics = metrics_for(task, labels)
    primary_metric = primary_metric or PRIMARY_METRIC[task]
    names = [m.name for m in metrics]
    if primary_metric not in names:
        primary_metric = PRIMARY_METRIC[task]
    metrics.sort(key=lambda m: m.name != primary_metric)  # primary first, the rest in order
    whole = np.arange(n)[None]
    resamples = bootstrap_indices(n, n_bootstrap, seed)
    rows = []
    for metric in metrics:
        values = {}
        for name, pred in (("candidate", candidate), ("current", current)):
            values[name] = (float(metric.fn(gold_ids, pred.predicted, pred.probs, whole)[0]),
                            metric.fn(gold_ids, pred.predicted, pred.probs, resamples))
        diffs = values["candidate"][1] - values["current"][1]
        low, high = np.percentile(diffs, [2.5, 97.5])
        rows.append(MetricRow(metric.name, values["candidate"][0], values["current"][0],
                              values["candidate"][0] - values["current"][0], float(low), float(high),
                              metric.higher_is_better, metric.name == primary_metric))
    return Comparison(task, tuple(labels), gold_ids, candidate, current, tuple(rows), primary_metric, data,
                      n_bootstrap, seed)


def declared_primary_metric(card: dict) -> str | None:
    """The primary metric a model's evaluator declared in its card, if any."""
    metrics = card.get("metrics") or {}
    primary = metrics.get("primary")
    if isinstance(primary, dict) and primary.get("metric"):
        return str(primary["metric"])
    if isinstance(primary, str):
        return primary
    return metrics.get("primary_metric")


def infer_task(card: dict) -> str:
    task = card.get("task")
    if task in PRIMARY_METRIC:
        return task
    name = str(card.get("name", ""))
    for candidate in PRIMARY_METRIC:
        if name.startswith(candidate):
            return candidate
    raise UserError(f"cannot tell the task of model {name!r} from its card; pass --task stance|checkworthy")


def predict_stance(spec: str, claims: Sequence[str], evidence: Sequence[str],
                   models_dir: Path | str | None = None) -> ModelPredictions:

    model = StanceModel(spec, models_dir=models_dir)
    probs = np.asarray(model.predict_proba(list(claims), list(evidence)), dtype=np.float64)
    ref = model._ref  # set by warm_up; the card says what was compared
    return ModelPredictions(ref.label if ref else spec, probs, probs.argmax(axis=1), ref.card if ref else {})


def predict_checkworthy(spec: str, texts: Sequence[str], models_dir: Path | str | None = None,
                        domain: str = AUTO) -> ModelPredictions:
    """Probabilities of [not, check-worthy]: each row read as batch scoring reads it (split into
    sentences, in its domain: ``auto`` routes each row by its form, ``post`` / ``speech`` force
    one), predicted check-worthy at its domain's threshold. Every row read as a post had debate
    sentences judged by the post model and its threshold."""
    model = CheckworthyModel(spec, models_dir=models_dir)
    if domain != AUTO and domain not in model.thresholds:
        raise UserError(f"unknown domain {domain!r}; use {AUTO} or one the model knows: {', '.join(model.thresholds)}")
    scored = model.score_posts_routed(list(texts), domain)
    scores = np.array([post.score for post in scored], dtype=np.float64)
    cuts = np.array([model.thresholds[post.domain] for post in scored], dtype=np.float64)
    used = dict(Counter(post.domain for post in scored))
    probs = np.column_stack([1.0 - scores, scores])
    threshold = float(model.thresholds[next(iter(used))]) if len(used) == 1 else None
    return ModelPredictions(model.label, probs, (scores >= cuts).astype(np.int64), model.card or {}, threshold,
                            domains=used, thresholds={d: float(model.thresholds[d]) for d in used})


def trained_on_warnings(refs: Sequence, files: Sequence[str]) -> list[str]:
    """A warning per model whose card records training on one of ``files`` (by content hash): its
    figures on them measure memory, not skill."""
    hashes = {sha256_file(Path(f)): Path(f).name for f in files if Path(f).is_file()}
    out = []
    for ref in refs:
        for entry in ref.card.get("training_data", []):
            recorded = entry.get("sha256")
            seen = recorded.values() if isinstance(recorded, dict) else [recorded] if recorded else []
            for digest in seen:
                if digest in hashes:
                    out.append(f"{ref.label} was trained on {hashes[digest]}: its figures on it are not a fair "
                               "comparison; evaluate on rows it never saw")
    return out


def _predict_all(specs: Sequence[str], data: Path | str, task: str | None, models_dir: Path | str | None,
                 domain: str = AUTO):
    """Resolve the models, read the labelled rows, run every model on them:
    (task, labels, gold indices, predictions, refs, rows)."""
    registry = Registry(models_dir or DEFAULT_MODELS_DIR)
    try:
        refs = [registry.resolve(spec) for spec in specs]
    except ModelNotFoundError as exc:
        raise UserError(str(exc)) from exc
    if task is None:
        tasks = {infer_task(ref.card) for ref in refs}
        if len(tasks) > 1:
            raise UserError(f"{' and '.join(ref.label for ref in refs)} are models of different tasks")
        task = tasks.pop()
    rows = load_evaluation_data(data, task)
    labels = SCHEMAS[task].labels
    if task == "stance":
        claims, evidence = rows.frame["claim"].tolist(), rows.frame["evidence"].tolist()
        preds = [predict_stance(spec, claims, evidence, models_dir) for spec in specs]
        gold = [labels.index(label) for label in rows.labels()]
    else:
        texts = rows.texts()
        preds = [predict_checkworthy(spec, texts, models_dir, domain) for spec in specs]
        gold = [int(label) for label in rows.labels()]
    return task, labels, gold, preds, refs, rows


def compare_models(candidate: str, current: str, data: Path | str, *, task: str | None = None,
                   models_dir: Path | str | None = None, n_bootstrap: int = N_BOOTSTRAP,
                   seed: int = SEED, domain: str = AUTO) -> Comparison:
    """Run both registry models (``name``, ``name@version`` or a version folder) on a labelled
    file of the task's schema (see ``training_data``) and compare them. ``domain``
    (check-worthiness): how rows are read, as ``claimsift evaluate checkworthy --domain``. The
    comparison's ``warnings`` say where a model was trained on the data."""
    task, labels, gold, preds, refs, rows = _predict_all([candidate, current], data, task, models_dir, domain)
    if preds[0].model == preds[1].model:
        # The same name@version from two registries (a scratch one and models/): say which is which.

        preds = [replace(p, model=f"{p.model} ({ref.path})") for p, ref in zip(preds, refs)]
    primary = declared_primary_metric(preds[0].card or refs[0].card)
    comparison = compare_predictions(task, labels, gold, preds[0], preds[1], primary_metric=primary,
                                     data=", ".join(rows.report.files), n_bootstrap=n_bootstrap, seed=seed)
    return replace(comparison, warnings=tuple(trained_on_warnings(refs, rows.report.files)))


def evaluate_model(spec: str, data: Path | str, *, task: str | None = None, models_dir: Path | str | None = None,
                   n_bootstrap: int = N_BOOTSTRAP, seed: int = SEED, domain: str = AUTO):
    """One model on a labelled file: a DataFrame of every metric of the task (primary first) with
    a bootstrap 95% interval over rows (``domain`` as in ``compare_models``)."""
    import pandas as pd

    task, labels, gold, preds, refs, rows = _predict_all([spec], data, task, models_dir, domain)
    pred = preds[0]
    gold = np.asarray(gold, dtype=np.int64)
    primary = declared_primary_metric(pred.card or refs[0].card) or PRIMARY_METRIC[task]
    metrics = sorted(metrics_for(task, labels), key=lambda m: m.name != primary)
    whole = np.arange(len(gold))[None]
    resamples = bootstrap_indices(len(gold), n_bootstrap, seed)
    out = []
    for metric in metrics:
        low, high = np.percentile(metric.fn(gold, pred.predicted, pred.probs, resamples), [2.5, 97.5])
        out.append({"metric": metric.name, "value": round(float(metric.fn(gold, pred.predicted, pred.probs,
                                                                           whole)[0]), 4),
                    "ci_low": round(float(low), 4), "ci_high": round(float(high), 4),
                    "higher_is_better": metric.higher_is_better, "primary": metric.name == primary})
    frame = pd.DataFrame(out).set_index("metric")
    frame.attrs.update({"model": pred.model, "task": task, "n": len(gold), "data": ", ".join(rows.report.files)})
    return frame


# -- plots --------------------------------------------------------------------------------------

def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure(nrows: int = 1, ncols: int = 1, figsize: tuple[float, float] = (4.8, 4.4), squeeze: bool = True):
    """A figure outside pyplot: drawn with the Agg canvas, no global backend switched, nothing
    left open (a notebook's inline plotting is untouched)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, squeeze=squeeze)


def plot_confusion(comparison: Comparison) -> str:
    labels = [str(x) for x in comparison.labels]
    matrices = comparison.confusion_matrices()
    fig, axes = _figure(1, 2, figsize=(4.2 * 2, 3.8))
    for ax, (role, pred) in zip(axes, (("candidate", comparison.candidate), ("current", comparison.current))):
        cm = np.asarray(matrices[role])
        shares = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
        ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
        for i in range(len(labels)):
            for j in range(len(labels)):
                ax.text(j, i, str(cm[i, j]), ha="center", va="center",
                        color="white" if shares[i, j] > 0.55 else "black", fontsize=10)
        ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=8)
        ax.set_yticks(range(len(labels)), labels, fontsize=8)
        ax.set_xlabel("predicted")
        ax.set_ylabel("gold")
        ax.set_title(f"{role}: {pred.model}", fontsize=9)
    fig.tight_layout()
    return _png(fig)


def reliability(gold: np.ndarray, probs: np.ndarray, bins: int = CALIBRATION_BINS):
    """Per confidence bin: mean confidence, accuracy and rows (top-label reliability)."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == gold
    which = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    out = []
    for b in range(bins):
        mask = which == b
        if mask.any():
            out.append((float(confidence[mask].mean()), float(correct[mask].mean()), int(mask.sum())))
    return out


def plot_calibration(comparison: Comparison) -> str:
    fig, ax = _figure(figsize=(4.8, 4.4))
    ax.plot([0, 1], [0, 1], ls=":", color="grey", label="perfect calibration")
    for (role, pred), style in zip((("candidate", comparison.candidate), ("current", comparison.current)),
                                   (dict(color="tab:blue", marker="o"), dict(color="tab:orange", marker="s"))):
        points = reliability(comparison.gold, pred.probs)
        if points:
            conf, acc, n = zip(*points)
            ece = comparison.metric("ece")
            value = ece.candidate if role == "candidate" else ece.current
            ax.plot(conf, acc, label=f"{role} {pred.model} (ECE {value:.3f})", **style)
            for x, y, count in points:
                ax.annotate(str(count), (x, y), textcoords="offset points", xytext=(3, -10), fontsize=6,
                            color=style["color"])
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence of the predicted label")
    ax.set_ylabel("accuracy")
    ax.set_title("Reliability diagram (numbers: rows per bin)", fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    return _png(fig)


def plot_precision_recall(comparison: Comparison) -> str:
    from sklearn.metrics import average_precision_score, precision_recall_curve

    labels = list(comparison.labels)
    # Binary tasks: the positive class only; multi-class: one-vs-rest per class.
    classes = [1] if len(labels) == 2 else list(range(len(labels)))
    fig, axes = _figure(1, len(classes), figsize=(4.2 * len(classes), 3.8), squeeze=False)
    for ax, k in zip(axes[0], classes):
        y = comparison.gold == k
        for (role, pred), color in zip((("candidate", comparison.candidate), ("current", comparison.current)),
                                       ("tab:blue", "tab:orange")):
            if y.any():
                precision, recall, _ = precision_recall_curve(y, pred.probs[:, k])
                ap = average_precision_score(y, pred.probs[:, k])
                ax.step(recall, precision, where="post", color=color, label=f"{role} (AP {ap:.3f})")
        ax.axhline(y.mean(), ls=":", color="grey", label=f"base rate {y.mean():.2f}")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
        ax.set_title(f"class {labels[k]}", fontsize=9)
        ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return _png(fig)


# -- the HTML report ----------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2em;max-width:1100px;color:#222}
table.cmp{border-collapse:collapse;margin:1em 0;font-size:14px}
table.cmp th,table.cmp td{border:1px solid #ccc;padding:4px 10px;text-align:right}
table.cmp th{background:#f3f3f3} table.cmp td.name{text-align:left}
tr.primary td{font-weight:bold;background:#fffbe6}
.better{color:#11772d}.worse{color:#b3261e}.same{color:#666}
.meta{color:#555;font-size:13px} img{max-width:100%}
"""


def _metric_table(comparison: Comparison) -> str:
    head = ("<tr><th>metric</th><th>candidate</th><th>current</th><th>difference</th>"
            "<th>95% CI of the difference</th><th>verdict</th></tr>")
    body = []
    for row in comparison.rows:
        css = {"better": "better", "worse": "worse"}.get(row.verdict, "same")
        arrow = "" if row.higher_is_better else " (lower is better)"
        body.append(
            f"<tr class='{'primary' if row.primary else ''}'><td class='name'>{html.escape(row.metric)}"
            f"{' (primary)' if row.primary else ''}{arrow}</td><td>{row.candidate:.4f}</td><td>{row.current:.4f}</td>"
            f"<td>{row.difference:+.4f}</td><td>[{row.ci_low:+.4f}, {row.ci_high:+.4f}]</td>"
            f"<td class='{css}'>{row.verdict}</td></tr>")
    return f"<table class='cmp'>{head}{''.join(body)}</table>"


def render_html(comparison: Comparison, full_page: bool = True) -> str:
    c = comparison
    figures = c.figures()
    cards = []
    for role, pred in (("candidate", c.candidate), ("current", c.current)):
        card = pred.card or {}
        data = ", ".join(f"{d.get('dataset')} ({d.get('rows', '?')} rows)" for d in card.get("training_data", []))
        threshold = (f"; decision threshold {pred.threshold:.3f}" if pred.threshold is not None else
                     "; decision thresholds " + ", ".join(f"{d} {pred.thresholds[d]:.3f} ({n} rows)"
                                                          for d, n in pred.domains.items()) if pred.domains else "")
        cards.append(f"<li><b>{role}</b>: {html.escape(pred.model)}, created {html.escape(str(card.get('created', '?')))}"
                     f"{threshold}; trained on {html.escape(data or 'not stated')}</li>")
    body = f"""
<h1>Model comparison: {html.escape(c.candidate.model)} vs {html.escape(c.current.model)}</h1>
<p class='meta'>Task <b>{c.task}</b>; {c.n} labelled rows from {html.escape(c.data or 'the given data')};
difference = candidate - current; 95% intervals from a paired bootstrap over rows ({c.n_bootstrap}
resamples, seed {c.seed}); a difference is called better or worse only when its interval excludes 0.
Generated {_dt.datetime.now(_dt.timezone.utc).isoformat(timespec='seconds')}.</p>
<p><b>{html.escape(c.summary())}</b></p>
{''.join(f"<p class='warning'><b>Warning:</b> {html.escape(w)}</p>" for w in c.warnings)}
<ul class='meta'>{''.join(cards)}</ul>
<h2>Metrics</h2>{_metric_table(c)}
<h2>Confusion matrices</h2><p class='meta'>Rows gold, columns predicted; shading is the share of each gold row.</p>
<img alt='confusion matrices' src='data:image/png;base64,{figures["confusion"]}'>
<h2>Calibration</h2><img alt='reliability diagram' src='data:image/png;base64,{figures["calibration"]}'>
<h2>Precision-recall</h2><img alt='precision-recall curves' src='data:image/png;base64,{figures["precision_recall"]}'>
<h2>Raw figures</h2><pre>{html.escape(json.dumps(c.to_dict(), indent=2))}</pre>
"""
    if not full_page:
        return f"<div><style>{_CSS.replace('body{', '.claimsift-cmp{')}</style><div class='claimsift-cmp'>{body}</div></div>"
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>claimsift comparison: "
            f"{html.escape(c.candidate.model)} vs {html.escape(c.current.model)}</title><style>{_CSS}</style></head>"
            f"<body>{body}</body></html>\n")
