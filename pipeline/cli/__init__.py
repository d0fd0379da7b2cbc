"""The ``claimsift`` command line: ``app`` builds the Typer app, one module per command group."""

from pipeline.cli.app import app, evaluate_app, main, train_app

__all__ = ["app", "evaluate_app", "main", "train_app"]
