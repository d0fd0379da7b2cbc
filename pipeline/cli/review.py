"""``claimsift serve`` (the review desk) and ``claimsift labels export`` (reviewers' labels as training data)."""
from __future__ import annotations

import os
import signal
import socket
from pathlib import Path
from typing import Optional

import typer

from pipeline.core.errors import UserError, refuse_output_over_input
from pipeline.core.paths import DEFAULT_STORE

# The stages are imported inside the commands: `claimsift --help` and the quick commands then start in a
# fraction of a second.

labels_app = typer.Typer(help="Reviewers' labels from the review desk.", no_args_is_help=True)


class _DeskSignals:
    """The desk's SIGTERM and SIGINT handler, installed over the command line's. SIGTERM is how a service
    manager (systemd, `kill`) stops the desk, its normal end: exit status 0, where the other commands exit 143
    (a failure to systemd). SIGINT (Ctrl-C) stops it as it stops every command. While serving, uvicorn shuts
    down gracefully on either, then raises the signal again into this handler."""

    def __init__(self) -> None:
        self.raised: BaseException | None = None

    def __call__(self, signum: int, frame: object) -> None:
        # Raised, not only noted: preparing a large scores file takes minutes, and its caches are written
        # atomically, so unwinding out of it leaves nothing half-written.
        self.raised = SystemExit(0) if signum == signal.SIGTERM else KeyboardInterrupt()
        raise self.raised


def serve(store: Path = typer.Option(DEFAULT_STORE, "--store", help="Corpus store folder."),
          scores: Optional[Path] = typer.Option(None, "--scores", help="A `claimsift score` output "
                                                "(.jsonl or .parquet) to review."),
          host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; any other than loopback "
                                   "needs an access token."),
          port: int = typer.Option(8000, "--port", min=1, max=65535),
          reviewer: Optional[str] = typer.Option(None, "--reviewer", help="Your name on every label (else "
                                                 "asked on the page)."),
          token: Optional[str] = typer.Option(None, "--token", help="Access token every request must carry "
                                              "(default: $CLAIMSIFT_REVIEW_TOKEN)."),
          labels: Optional[Path] = typer.Option(None, "--labels", help="Labels folder (default: labels/ "
                                                "beside the store folder, outside it)."),
          read_only: bool = typer.Option(False, "--read-only", help="Browse only: labelling is off."),
          models_dir: Optional[Path] = typer.Option(None, "--models-dir", help="Model registry (default "
                                                    "models/)."),
          reports: Path = typer.Option(Path("out/reports"), "--reports", help="Folder of compare reports "
                                       "(the newest is shown on the Models page).")) -> None:
    """Start the review desk: a local web app over the store and the scored posts."""
    from pipeline.review.app import ReviewConfig
    from pipeline.review.app import serve as run
    from pipeline.review.security import TOKEN_ENV, is_loopback

    token = token or os.environ.get(TOKEN_ENV) or None
    if not is_loopback(host) and not token:
        raise UserError(f"--host {host} opens the desk beyond this machine: give an access token with "
                        f"--token or ${TOKEN_ENV}")
    if scores is not None and not scores.is_file():
        typer.secho(f"warning: {scores}: no scores file here; the queue will say so", err=True,
                    fg=typer.colors.YELLOW)
    config = ReviewConfig(store=store, scores=scores, labels_dir=labels, reviewer=(reviewer or "").strip(),
                          read_only=read_only, host=host, token=token, models_dir=models_dir, reports_dir=reports)
    # 0.0.0.0 is where it listens, not an address a colleague can open: name this machine instead.
    shown = socket.gethostname() if host in ("0.0.0.0", "::", "") else host
    address = f"http://{'[' + shown + ']' if ':' in shown else shown}:{port}/"
    typer.echo(f"review desk on {address}{'?token=' + token if token else ''}  (labels in {config.labels_path}"
               f"{', read-only' if read_only else ''}); Ctrl-C stops it")
    stop = _DeskSignals()
    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        run(config, port=port)
    except Exception:
        # DuckDB runs the handler inside its query while the scores file is prepared and reports its own
        # "Query interrupted" (a RuntimeError, printed as a traceback) in place of what the handler raised.
        if stop.raised is None:
            raise
        raise stop.raised from None
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def export(task: str = typer.Option(..., "--task", help="stance, checkworthy or verdict."),
           out: Path = typer.Option(..., "--out", help="JSONL file to write (atomically)."),
           labels: Optional[Path] = typer.Option(None, "--labels", help="Labels folder (default: labels/ "
                                                 "beside the store folder)."),
           store: Path = typer.Option(DEFAULT_STORE, "--store", help="Store whose labels folder is "
                                      "the default.")) -> None:
    """Write the labels in force in the task's training schema (stance: claim, evidence, label;
    checkworthy: text, label; verdict: claim, label, evidence), ready for `claimsift models retrain`."""
    from pipeline.review.labels import EXPORT_TASKS, LabelStore, default_labels_dir

    if task not in EXPORT_TASKS:
        raise UserError(f"unknown task {task!r}; expected one of {', '.join(EXPORT_TASKS)}")
    folder = labels or default_labels_dir(store)
    label_store = LabelStore(folder)
    if not label_store.path.is_file():
        raise UserError(f"{folder}: no labels here yet (label claims on the review desk, `claimsift serve`)")
    refuse_output_over_input(out, label_store.path)  # --out labels.jsonl replaced every label with an export
    n = label_store.export(task, out)
    typer.echo(f"{n} {task} label{'s' if n != 1 else ''} from {folder} written to {out}")


def register(app: typer.Typer, train_app: typer.Typer, evaluate_app: typer.Typer) -> None:
    app.add_typer(labels_app, name="labels")
    app.command("serve")(serve)
    labels_app.command("export")(export)
