"""What the command line said, as opposed to an option's default."""
from __future__ import annotations

import click
import typer


def options_given(ctx: click.Context | typer.Context) -> list[str]:
    """The options given on the command line (their first spelling, e.g. ``--max-pairs``), in the
    command's order; an option left at its default is not among them."""
    return ["/".join(param.opts + param.secondary_opts) for param in ctx.command.params
            if param.param_type_name == "option" and param.name is not None  # typer's options are not click's class
            and getattr(ctx.get_parameter_source(param.name), "name", None) == "COMMANDLINE"]
