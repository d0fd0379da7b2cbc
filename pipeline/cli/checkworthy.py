"""``claimsift checkworthy``, ``train checkworthy`` and ``evaluate checkworthy`` (see pipeline.checkworthy.model)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from pipeline.cli.options import options_given
from pipeline.core.errors import UserError, refuse_output_over_input
from pipeline.core.io import write_jsonl
from pipeline.core.paths import SHARED_DATASETS_DIR
from pipeline.registry.registry import DEFAULT_MODELS_DIR

# The stages and rich are imported inside the commands: `claimsift --help` and the quick commands then start
# in a fraction of a second.

DOMAIN_HELP = ("auto (default: each row routed by its form: links, handles, hashtags, emoji or several sentences "
               "make a post; a single plain sentence or a 'SPEAKER:' line is speech), post or speech (forced). "
               "Every row is split into sentences; its score is the max over them.")


def _load_model(model: str, models_dir: Optional[Path], encoder_backend: Optional[str]):
    from pipeline.checkworthy.model import CheckworthyModel
    from pipeline.registry.registry import ModelIntegrityError, ModelNotFoundError

    detector = CheckworthyModel(model, models_dir=models_dir, encoder_backend=encoder_backend)
    try:
        detector.warm_up()
    except (ModelIntegrityError, ModelNotFoundError) as exc:
        raise UserError(str(exc)) from None
    return detector


def _routed(detector, texts: list[str], domain: str):
    """Each row split into sentences and scored in its domain (``auto``: routed per row), as in
    batch scoring; a row's score is the max over its sentences."""
    from pipeline.checkworthy.sentences import AUTO

    if domain != AUTO and domain not in detector.thresholds:
        raise UserError(f"unknown --domain {domain!r}; use {AUTO} or one the model knows: "
                        f"{', '.join(detector.thresholds)}")
    return detector.score_posts_routed(texts, domain)


def _write_jsonl_atomic(path: Path, rows: list[dict]) -> None:
    try:
        write_jsonl(path, rows)
    except OSError as exc:
        raise UserError(f"{path}: cannot write the predictions ({exc.strerror or exc})") from None


def checkworthy(
    data: Path = typer.Option(..., "--data", help="JSONL with a `text` field per row."),
    out: Path = typer.Option(..., "--out", help="Predictions JSONL: one row per input row, in order."),
    model: str = typer.Option("checkworthy", "--model", help="Registry name, name@version or a model folder."),
    models_dir: Optional[Path] = typer.Option(None, "--models-dir", help="Registry root (default: models/)."),
    domain: str = typer.Option("auto", "--domain", help=DOMAIN_HELP),
    claims: bool = typer.Option(False, "--claims", help="Also write the check-worthy sentences of each post."),
    encoder_backend: Optional[str] = typer.Option(None, "--encoder-backend", help="onnx or torch (default: the model's)."),
) -> None:
    """Score every row: `score` (probability of check-worthy) and `label` (0/1 at the shipped threshold)."""
    from pipeline.checkworthy.data import read_jsonl_texts

    refuse_output_over_input(out, data)
    texts, _ = read_jsonl_texts(data, labelled=False)
    detector = _load_model(model, models_dir, encoder_backend)
    rows = []
    for result in _routed(detector, texts, domain):
        threshold = detector.thresholds[result.domain]
        row = {"score": round(float(result.score), 6), "label": int(result.score >= threshold),
               "domain": result.domain}
        if claims:
            row["claims"] = [{"text": s.text, "start": s.start, "end": s.end, "score": round(s.score, 6)}
                             for s in result.claims]
        rows.append(row)
    _write_jsonl_atomic(out, rows)
    per_domain = ", ".join(f"{sum(1 for r in rows if r['domain'] == d)} as {d} (threshold {t})"
                           for d, t in detector.thresholds.items() if any(r["domain"] == d for r in rows))
    typer.echo(f"{len(rows)} rows scored with {detector.label}: {per_domain}; "
               f"{sum(r['label'] for r in rows)} check-worthy -> {out}", err=True)


def evaluate_checkworthy(
    data: Path = typer.Option(..., "--data", help="JSONL with `text` and `label` (0/1)."),
    model: str = typer.Option("checkworthy", "--model", help="Registry name, name@version or a model folder."),
    models_dir: Optional[Path] = typer.Option(None, "--models-dir", help="Registry root (default: models/)."),
    domain: str = typer.Option("auto", "--domain", help=DOMAIN_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout."),
    encoder_backend: Optional[str] = typer.Option(None, "--encoder-backend", help="onnx or torch (default: the model's)."),
) -> None:
    """F1 of the positive class, average precision, precision and recall at the shipped threshold."""
    from pipeline.checkworthy.data import read_jsonl_texts
    from pipeline.checkworthy.training import routed_metrics

    texts, labels = read_jsonl_texts(data, labelled=True)
    assert labels is not None  # read with labelled=True
    detector = _load_model(model, models_dir, encoder_backend)
    results = _routed(detector, texts, domain)
    report = {"model": detector.label, "data": str(data), "domain": domain, "primary_metric": "f1",
              **routed_metrics(labels, results, detector.thresholds),
              "thresholds": detector.thresholds}
    if as_json:
        typer.echo(json.dumps(report))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"check-worthiness of {data} with {detector.label} ({domain})")
    for key in ("f1", "average_precision", "precision", "recall", "thresholds", "rows", "positives",
                "rows_per_domain"):
        table.add_row(key, str(report[key]))
    Console().print(table)


def train_checkworthy_command(
    ctx: typer.Context,
    data: Path = typer.Option(SHARED_DATASETS_DIR, "--data", help="The shared datasets folder."),
    out: Path = typer.Option(DEFAULT_MODELS_DIR, "--out", help="Registry root to add the new version to."),
    version: Optional[str] = typer.Option(None, "--version", help="Version name (default: the next vN)."),
    promote: bool = typer.Option(True, "--promote/--no-promote", help="Point CURRENT at the new version."),
    encoder_backend: str = typer.Option("onnx", "--encoder-backend", help="onnx (default) or torch."),
    as_json: bool = typer.Option(False, "--json", help="Print the card's metrics as JSON on stdout."),
    base: Optional[str] = typer.Option(None, "--base", help="With a labelled file: the model to derive from."),
    public: bool = typer.Option(True, "--public/--no-public",
                                help="With a labelled file: add the public training data (default) or not."),
    datasets: Optional[Path] = typer.Option(None, "--datasets", help="Shared datasets folder for --public."),
    sentence_epochs: float = typer.Option(
        1.0, "--sentence-epochs",
        help="Epochs of the sentence classifier fine-tuned on the debates (0: none; ~24 min each for mpnet "
             "on 2 cores)."),
    sentence_base: str = typer.Option(
        "all-mpnet-base-v2", "--sentence-base",
        help="Base of the sentence classifier: all-mpnet-base-v2 (default) or all-MiniLM-L6-v2 (6x faster, "
             "3.5 points lower F1 alone)."),
    sentence_time_budget: Optional[float] = typer.Option(
        None, "--sentence-time-budget", help="Stop fine-tuning the sentence classifier after this many seconds."),
    speech_from: Optional[str] = typer.Option(
        None, "--speech-from", help="Carry this version's speech sentence classifier (e.g. checkworthy@v3) "
                                    "instead of fine-tuning one; use with --sentence-epochs 0."),
    post_epochs: float = typer.Option(
        2.0, "--post-epochs", help="Epochs of the post network fine-tuned on the training tweets (0: none, "
                                   "the post threshold is then tuned on dev); ~9 min each for MiniLM on one "
                                   "core, run once per fold and once on every tweet."),
    post_base: str = typer.Option("all-MiniLM-L6-v2", "--post-base", help="Base of the post network."),
    post_folds: int = typer.Option(3, "--post-folds", help="Folds for the out-of-fold weight, calibration, "
                                                           "band and threshold of the post network."),
    post_folds_used: Optional[int] = typer.Option(
        None, "--post-folds-used", help="Train only the first N folds' networks (default: all): the stage is then "
                                        "chosen on the tweets of those folds alone."),
    post_final_stop_epochs: Optional[int] = typer.Option(
        None, "--post-final-stop-epochs", help="Stop the network on every tweet after this many epochs of its "
                                               "schedule (its checkpoint; when time is short)."),
    post_work_dir: Optional[Path] = typer.Option(
        None, "--post-work-dir", help="Where each fold's scores and the post network are kept, so a killed run "
                                      "resumes (default: the claimsift cache)."),
    post_max_share: Optional[float] = typer.Option(
        None, "--post-max-share", min=0.0, max=1.0,
        help="The most of the post sentences (of the posts, where posts are read whole) the post network may run "
             "on (its cost in batch scoring): the band is then the lowest regression score within that share, "
             "chosen out-of-fold like the rest; the card lists what each band costs."),
    post_reading: str = typer.Option(
        "sentences", "--post-reading",
        help="How a post's own score is read: sentences (the max over its sentences), whole (the post read whole: "
             "the post network runs once per post and the regression alone picks its claim sentences) or best "
             "(whichever ranks the training tweets better out of fold)."),
    post_head: str = typer.Option(
        "lora", "--post-head", help="lora: fine-tune the post network (--post-epochs); frozen: a logistic regression "
                                    "on the frozen --post-base's embeddings, its C and the mix chosen on "
                                    "--post-folds grouped folds of the training tweets (minutes, not hours)."),
) -> None:
    """Train the check-worthiness model on ClaimBuster + CheckThat! and register it with its card.

    With --data pointing at your own labelled file or folder (`text`, `label`), it is validated and
    added to the public data (or used alone with --no-public); the new version is not promoted.
    """
    from pipeline.training.retrain import is_shared_datasets_root, retrain_from_cli

    if not is_shared_datasets_root(data):
        retrain_from_cli("checkworthy", data, base=base, include_public=public, datasets_dir=datasets,
                         models_dir=out, as_json=as_json, given=options_given(ctx),
                         applicable=("--data", "--out", "--base", "--public/--no-public", "--datasets", "--json"))
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from pipeline.checkworthy.training import train_checkworthy

    console = Console(stderr=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TimeRemainingColumn(), console=console, disable=not console.is_terminal) as bar:
        task = bar.add_task("loading data", total=None)
        last_step = [""]

        def progress(step: str, done: int, total: int) -> None:
            bar.update(task, description=step, completed=done, total=total or None)
            if step != last_step[0] and not console.is_terminal:
                console.print(f"[dim]{step}…[/dim]")
            last_step[0] = step

        try:
            ref = train_checkworthy(data, out, version=version, promote=promote,
                                    encoder_backend=encoder_backend, sentence_epochs=sentence_epochs,
                                    sentence_time_budget_s=sentence_time_budget, sentence_base=sentence_base,
                                    speech_from=speech_from, post_epochs=post_epochs, post_base=post_base,
                                    post_folds=post_folds, post_work_dir=post_work_dir,
                                    post_folds_used=post_folds_used,
                                    post_final_stop_epochs=post_final_stop_epochs, post_head=post_head,
                                    post_max_share=post_max_share, post_reading=post_reading,
                                    progress=progress,
                                    log=lambda message: console.print(f"[dim]{message}[/dim]"))
        except FileExistsError as exc:
            raise UserError(str(exc)) from None
    metrics = ref.card["metrics"]
    if as_json:
        typer.echo(json.dumps({"model": ref.label, "path": str(ref.path), "thresholds": ref.card["thresholds"],
                               "metrics": metrics, "training_seconds": ref.card["training_seconds"]}))
        return
    from rich.table import Table

    table = Table(title=f"{ref.label} at {ref.path} (dev data; thresholds {ref.card['thresholds']})")
    for column in ("dev set", "F1", "AP", "precision", "recall", "rows"):
        table.add_column(column)
    for name, values in metrics.items():
        if "f1" in values and "rows" in values:
            table.add_row(name, str(values["f1"]), str(values["average_precision"]), str(values["precision"]),
                          str(values["recall"]), str(values["rows"]))
    Console().print(table)
    console.print(f"trained in {ref.card['training_seconds']['total']} s")


def register(app: typer.Typer, train_app: typer.Typer, evaluate_app: typer.Typer) -> None:
    app.command("checkworthy")(checkworthy)
    evaluate_app.command("checkworthy")(evaluate_checkworthy)
    train_app.command("checkworthy")(train_checkworthy_command)
