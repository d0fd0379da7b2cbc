"""The ``claimsift`` command line.

Each stage registers its own commands from a ``cli_<area>.py`` module; heavy libraries are
imported inside the commands so that ``--help`` and ``inspect`` start fast.
"""
from __future__ import annotations

import importlib
import os
import signal
import sys

from pipeline.core.errors import UserError

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Model-loading progress bars say nothing to a person checking a claim.
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import warnings

import typer

# transformers warns about its own deprecations on every model load; they are not the user's to fix.
warnings.filterwarnings("ignore", category=FutureWarning, module="transformers")


def _flag_takes_no_value() -> None:
    """typer (0.29) lists a value type beside every option in ``--help``, ``<bool>`` beside a flag too, as if
    ``--resume`` took a value: a flag (``--json``, ``--progress/--no-progress``) is shown as it is used, bare."""
    from typer.core import TyperOption

    shown = TyperOption.display_type_rich

    def display_type_rich(self: TyperOption, ctx: object) -> str | None:
        return None if self.is_flag and self.metavar is None else shown(self, ctx)  # type: ignore[arg-type]

    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


def _arguments_read_as_usage() -> None:
    """typer (0.29) writes a command's arguments as their Python names in braces, ``ingest [OPTIONS]
    {paths}...``, ``models show {spec}``, and the type of a variadic argument or a repeatable option as
    ``<list[Path]>``: shown as a command line's usage is conventionally written, ``ingest [OPTIONS]
    PATHS...``, ``check [OPTIONS] [CLAIM]``, ``PATHS... <path>``, ``--rule-pack <str>``; an error says
    ``Missing argument 'PATHS'``."""
    from pathlib import PurePath
    from typing import get_args, get_origin

    from typer.core import TyperArgument, TyperOption

    def display_name_raw(self: TyperArgument) -> str:
        return self.metavar if self.metavar is not None else (self.name or "").upper()

    def usage_display_name(self: TyperArgument) -> str:
        name = self.display_name_raw if self.required else f"[{self.display_name_raw}]"
        return name + "..." if self.nargs != 1 else name

    def each_value_typed(cls: type[TyperArgument] | type[TyperOption]) -> None:
        shown = cls.display_type_rich

        def display_type_rich(self: TyperArgument | TyperOption, ctx: object) -> str | None:
            annotation = self.type_descriptor.annotation
            if get_origin(annotation) is list:  # the type of each value: PATHS... takes paths
                (element,) = get_args(annotation)
                is_path = isinstance(element, type) and issubclass(element, PurePath)
                return f"<{'path' if is_path else self._bare_type(element)}>"
            return shown(self, ctx)  # type: ignore[arg-type]

        cls.display_type_rich = display_type_rich  # type: ignore[method-assign]

    TyperArgument.display_name_raw = property(display_name_raw)  # type: ignore[assignment,method-assign]
    TyperArgument._usage_display_name = usage_display_name  # type: ignore[method-assign]
    each_value_typed(TyperArgument)
    each_value_typed(TyperOption)


_flag_takes_no_value()
_arguments_read_as_usage()
app = typer.Typer(help="claimsift: offline claim detection and fact-checking.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
train_app = typer.Typer(help="Train models (stance, verdict, checkworthy, matcher, query adapter).",
                        no_args_is_help=True)
evaluate_app = typer.Typer(help="Evaluate a stage against labelled data; prints JSON with --json.",
                           no_args_is_help=True)


def _print_version(wanted: bool) -> None:
    if wanted:
        from importlib.metadata import version

        typer.echo(f"claimsift {version('claimsift')}")
        raise typer.Exit()


@app.callback()
def _options(show_version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                               help="Print claimsift's version and exit.")) -> None:
    """claimsift: offline claim detection and fact-checking."""


app.add_typer(train_app, name="train")
app.add_typer(evaluate_app, name="evaluate")

AREAS = ("corpus", "check", "stance", "retrieval", "checkworthy", "score", "factcheck", "models",
         "review", "corpus_eval")


def _register_all() -> None:
    for area in AREAS:
        module = importlib.import_module(f"pipeline.cli.{area}")
        module.register(app, train_app, evaluate_app)


_register_all()


def _exit_on_sigterm(signum: int, frame: object) -> None:
    # SystemExit unwinds like Ctrl-C does: a half-written model version, checkpoint or store
    # write is removed by its own cleanup instead of being left behind (`timeout`, `kill`).
    raise SystemExit(128 + signum)


def main() -> None:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        app()
    except UserError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
