"""Model registry commands (``claimsift models ...``), retraining on user data and
``claimsift evaluate compare``. Heavy libraries are imported inside the commands."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional

import typer

from pipeline.core.errors import UserError
from pipeline.registry.registry import headline_metric, model_rows

# The stages and rich are imported inside the commands: `claimsift --help` and the quick commands then start
# in a fraction of a second.

models_app = typer.Typer(help="The model registry: list, show, promote, roll back, retrain on your data.",
                         no_args_is_help=True)

MODELS_DIR_HELP = "Registry folder (default: the project's models/)."


def _registry(models_dir: Optional[Path]):
    from pipeline.registry.registry import DEFAULT_MODELS_DIR, Registry

    return Registry(models_dir or DEFAULT_MODELS_DIR)


def _print_json(payload) -> None:
    typer.echo(json.dumps(payload, indent=2, default=str))


def list_models(models_dir: Optional[Path] = typer.Option(None, "--models-dir", help=MODELS_DIR_HELP),
                as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Every model and version: which is current, its primary dev metric, its card's date."""
    registry = _registry(models_dir)
    rows = model_rows(registry)
    if as_json:
        _print_json(rows)
        return
    from rich.console import Console
    from rich.table import Table

    if not rows:
        Console().print(f"no models under {registry.root}")
        return
    table = Table(title=f"models in {registry.root}")
    with_parent = any(row["parent"] for row in rows)
    for column in ("name", "version", "current", "primary dev metric", "value", "created") + (
            ("parent",) if with_parent else ()):
        table.add_column(column, overflow="fold")
    for row in rows:
        value = "" if row["value"] is None else f"{row['value']:.4f}"
        table.add_row(row["name"], row["version"], "[green]✔[/green]" if row["current"] else "",
                      row["metric"], value, str(row["created"] or "")[:10],
                      *((str(row["parent"] or ""),) if with_parent else ()))
    Console().print(table)


def show(spec: str = typer.Argument(..., help="NAME (its current version) or NAME@VERSION."),
         models_dir: Optional[Path] = typer.Option(None, "--models-dir", help=MODELS_DIR_HELP),
         as_json: bool = typer.Option(False, "--json", help="Print card.json instead of the card.")) -> None:
    """Print a model's card (data, metrics, library versions, file hashes)."""
    from pipeline.registry.registry import ModelNotFoundError

    registry = _registry(models_dir)
    try:
        ref = registry.resolve(spec)
    except ModelNotFoundError as exc:
        raise UserError(str(exc)) from exc
    if as_json:
        _print_json(ref.card)
        return
    from rich.console import Console
    from rich.markdown import Markdown

    card_md = ref.path / "CARD.md"
    current = registry.current_version(ref.name) == ref.version
    console = Console()
    console.print(f"[bold]{ref.label}[/bold] {'(current)' if current else '(not current)'} at {ref.path}")
    if card_md.is_file():
        console.print(Markdown(card_md.read_text(encoding="utf-8")))
    else:
        _print_json(ref.card)


def promote(spec: str = typer.Argument(..., help="NAME@VERSION to make current."),
            models_dir: Optional[Path] = typer.Option(None, "--models-dir", help=MODELS_DIR_HELP)) -> None:
    """Make a version current (atomic). The previous one stays available for rollback."""
    from pipeline.registry.registry import ModelIntegrityError, ModelNotFoundError

    if "@" not in spec:
        raise UserError(f"name the version to promote: {spec}@VERSION (see `claimsift models list`)")
    registry = _registry(models_dir)
    try:
        ref, before = registry.promote_from(spec)
    except (ModelNotFoundError, ModelIntegrityError) as exc:
        raise UserError(str(exc)) from exc
    typer.echo(f"{ref.name}: current is now {ref.version} (was {before or 'none'})")
    if ref.name == "stance":
        _say_which_stance_model_verdicts_read(registry, ref.label)
    cross_encoder = registry.current_version("stance")
    if ref.name == "stance-embed" and cross_encoder is not None:
        typer.echo(f"note: stance@{cross_encoder} (a cross-encoder) is current, and `claimsift stance`, `check` and "
                   "`score` read it; stance-embed is their fallback only where no stance model is current")


def _say_which_stance_model_verdicts_read(registry, promoted: str) -> None:
    """Verdicts read the stance model their verdict model was fitted on: a promoted stance model
    alone does not change them, which would otherwise surprise."""
    from pipeline.verdict.aggregator import fitted_stance_spec

    try:
        fitted = fitted_stance_spec("verdict", registry.root)
    except UserError:
        return
    if fitted and fitted != promoted:
        typer.echo(f"verdicts still read {fitted} (the current verdict model was fitted on it); to check with "
                   f"{promoted}, fit a verdict model on it: `claimsift train verdict --from-corpora "
                   f"--stance-model {promoted} --stance-input previous`, then promote that")


def rollback(name: str = typer.Argument(..., help="Model name."),
             models_dir: Optional[Path] = typer.Option(None, "--models-dir", help=MODELS_DIR_HELP)) -> None:
    """Make the previously current version current again (atomic)."""
    from pipeline.registry.registry import ModelIntegrityError, ModelNotFoundError

    registry = _registry(models_dir)
    before = registry.current_version(name)
    try:
        ref = registry.rollback(name)
    except (ModelNotFoundError, ModelIntegrityError) as exc:
        raise UserError(str(exc)) from exc
    typer.echo(f"{name}: rolled back from {before} to {ref.version}")


def history(name: str = typer.Argument(..., help="Model name."),
            models_dir: Optional[Path] = typer.Option(None, "--models-dir", help=MODELS_DIR_HELP)) -> None:
    """Every promotion and rollback of a model, oldest first (JSON lines)."""
    registry = _registry(models_dir)
    if name not in registry.names():  # a misspelt name printed nothing and exited 0
        raise UserError(f"no model {name!r} under {registry.root} (known: {', '.join(registry.names()) or 'none'})")
    for entry in registry.history(name):
        typer.echo(json.dumps(entry))


def validate(task: str = typer.Argument(..., help="stance or checkworthy."),
             data: Path = typer.Argument(..., help="Labelled JSONL/CSV/Parquet file or folder."),
             datasets: Optional[Path] = typer.Option(None, "--datasets",
                                                     help="Shared datasets folder (leakage check against its "
                                                          "dev/test data; default ../shared/datasets)."),
             eval_files: list[Path] = typer.Option([], "--eval", help="Also check leakage into this file."),
             public: bool = typer.Option(True, "--public/--no-public",
                                         help="As `models retrain`: a file added to the public data may be small "
                                              "(corrections); one trained on alone needs 20 rows and every class."),
             as_json: bool = typer.Option(False, "--json", help="Print the report as JSON.")) -> None:
    """Check a labelled file as retraining would, without training; exit 2 when it is bad."""
    from pipeline.training import data as training_data
    from pipeline.training.retrain import DEFAULT_DATASETS_DIR, user_minimum

    training_data.schema_of(task)
    root = datasets or DEFAULT_DATASETS_DIR
    keys = training_data.evaluation_keys(task, root, eval_files)
    report, _ = training_data.validate(data, task, evaluation=keys,
                                       **user_minimum(public, root if Path(root).is_dir() else None))
    if as_json:
        _print_json(report.to_dict())
    if not report.ok:
        raise training_data.TrainingDataError(report)
    if not as_json:
        typer.echo(report.summary())


def retrain(task: str = typer.Argument(..., help="stance or checkworthy."),
            data: Path = typer.Option(..., "--data", help="Your labelled JSONL/CSV/Parquet file or folder "
                                      "(stance: claim, evidence, label; checkworthy: text, label)."),
            base: Optional[str] = typer.Option(None, "--base", help="Model to derive from (kind, "
                                               "hyper-parameters, name), e.g. checkworthy or stance-embed@v1."),
            out: Optional[Path] = typer.Option(None, "--out", "--models-dir",
                                               help="Registry folder to write the new version into (default "
                                                    "models/)."),
            public: bool = typer.Option(True, "--public/--no-public", help="Add the public training data "
                                        "(default) or train on your file alone."),
            datasets: Optional[Path] = typer.Option(None, "--datasets", help="Shared datasets folder "
                                                    "(default ../shared/datasets)."),
            public_sample: Optional[int] = typer.Option(None, "--public-sample", min=1,
                                                        help="Use only this many public rows (a quick run)."),
            kind: Optional[str] = typer.Option(None, "--kind", help="stance only: embedding-lr (alias embed; "
                                               "fast, the default) or cross-encoder."),
            time_budget: Optional[float] = typer.Option(None, "--time-budget", help="stance cross-encoder: "
                                                        "stop training after this many seconds."),
            further: bool = typer.Option(False, "--further", help="stance cross-encoder: start from --base's "
                                         "adapter (minutes, with --public-sample as the replayed public pairs)."),
            no_embeddings: bool = typer.Option(False, "--no-embeddings", help="checkworthy only: TF-IDF and "
                                               "cheap features without MiniLM embeddings (much faster)."),
            eval_files: list[Path] = typer.Option([], "--eval", help="A file you will evaluate on: refuse "
                                                  "training rows that are also in it."),
            as_json: bool = typer.Option(False, "--json", help="Print the result as JSON.")) -> None:
    """Validate your labelled file and train a new model version on it (not promoted).

    Promote it with `claimsift models promote NAME@VERSION` after comparing it with
    `claimsift evaluate compare NAME@VERSION NAME --data FILE`.
    """
    from rich.console import Console

    from pipeline.registry.registry import DEFAULT_MODELS_DIR
    from pipeline.training.retrain import DEFAULT_DATASETS_DIR
    from pipeline.training.retrain import retrain as run_retrain

    console = Console(stderr=True)
    started = time.monotonic()
    options: dict = {}
    if task == "stance":
        options = {"kind": kind, "time_budget_s": time_budget, "further": further}
    elif kind or time_budget is not None or further:
        raise UserError("--kind, --time-budget and --further apply to the stance model only")
    if time_budget is not None and time_budget <= 0:  # registered an untrained model
        raise UserError(f"--time-budget {time_budget:g}: give a number of seconds above 0")
    if task == "checkworthy" and no_embeddings:
        options["params"] = {"use_embeddings": False}
    result = run_retrain(task, data, base=base, include_public=public,
                         datasets_dir=datasets or DEFAULT_DATASETS_DIR, models_dir=out or DEFAULT_MODELS_DIR,
                         public_sample=public_sample, evaluation_files=eval_files,
                         log=lambda message: console.print(f"[dim]{time.monotonic() - started:6.1f}s[/dim] {message}",
                                                           highlight=False), **options)
    if as_json:
        _print_json(result.to_dict())
        return
    metric, value = headline_metric(json.loads((result.path / "card.json").read_text()))
    Console().print(f"[green]registered {result.model}[/green] (not current) in {result.seconds:.0f}s: "
                    f"{metric} {value}; promote with `claimsift models promote {result.model}"
                    + (f" --models-dir {out}" if out else "") + "`")


def compare(candidate: str = typer.Argument(..., help="Candidate model: NAME@VERSION, NAME or a folder."),
            current: str = typer.Argument(..., help="Model to compare with, usually NAME (the current one)."),
            data: Path = typer.Option(..., "--data", help="Labelled file in the task's schema."),
            task: Optional[str] = typer.Option(None, "--task", help="stance or checkworthy (default: "
                                               "from the candidate's card)."),
            report: Optional[Path] = typer.Option(None, "--report", help="Write an HTML report here."),
            models_dir: Optional[Path] = typer.Option(None, "--models-dir", help=MODELS_DIR_HELP),
            bootstrap: int = typer.Option(1000, "--bootstrap", min=100, help="Bootstrap resamples."),
            seed: int = typer.Option(20240, "--seed", help="Bootstrap seed."),
            domain: str = typer.Option("auto", "--domain",
                                       help="check-worthiness: auto (each row routed by its form, as batch "
                                            "scoring does), post or speech"),
            as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Run both models on the same rows: metrics, differences, paired-bootstrap 95% CIs."""
    from pipeline.core.errors import refuse_output_over_input
    from pipeline.evaluation.compare import compare_models

    if report is not None:  # before the models run, not after (a folder ended in a traceback)
        refuse_output_over_input(report, data, option="--report")
    result = compare_models(candidate, current, data, task=task, models_dir=models_dir,
                            n_bootstrap=bootstrap, seed=seed, domain=domain)
    if report is not None:
        result.write_html(report)
    for warning in result.warnings:
        typer.secho(f"warning: {warning}", fg=typer.colors.YELLOW, err=True)
    if as_json:
        _print_json(result.to_dict() | ({"report": str(report)} if report else {}))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{result.candidate.model} (candidate) vs {result.current.model} (current), "
                        f"{result.n} rows")
    for column in ("metric", "candidate", "current", "difference", "95% CI", "verdict"):
        table.add_column(column, justify="left" if column in ("metric", "verdict") else "right")
    for row in result.rows:
        colour = {"better": "green", "worse": "red"}.get(row.verdict, "white")
        table.add_row(f"{row.metric}{' (primary)' if row.primary else ''}"
                      f"{'' if row.higher_is_better else ' ↓'}", f"{row.candidate:.4f}", f"{row.current:.4f}",
                      f"{row.difference:+.4f}", f"[{row.ci_low:+.3f}, {row.ci_high:+.3f}]",
                      f"[{colour}]{row.verdict}[/{colour}]")
    console = Console()
    console.print(table)
    console.print("↓: lower is better. Paired bootstrap over rows, "
                  f"{result.n_bootstrap} resamples, seed {result.seed}.")
    if report is not None:
        console.print(f"report: {report}")


def register(app: typer.Typer, train_app: typer.Typer, evaluate_app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")
    models_app.command("list")(list_models)
    models_app.command("show")(show)
    models_app.command("promote")(promote)
    models_app.command("rollback")(rollback)
    models_app.command("history")(history)
    models_app.command("validate")(validate)
    models_app.command("retrain")(retrain)
    evaluate_app.command("compare")(compare)
