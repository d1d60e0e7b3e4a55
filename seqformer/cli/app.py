"""The ``seqformer`` typer app that every verb module registers on, and its error handling.

:class:`InputError` raised anywhere below a verb becomes one line on stderr and exit code 2.
Packages outside ``seqformer`` add command groups through the ``seqformer.commands`` entry-point
group (``name = "module:typer_app"``); the dataset builders add ``seqformer data`` that way, so
the package never imports them.
"""

from __future__ import annotations

from importlib.metadata import entry_points

import click
import typer
from typer.core import TyperGroup

from seqformer.errors import InputError

PLUGIN_GROUP = "seqformer.commands"


class _Group(TyperGroup):
    """A click group that reports :class:`InputError` as one line and exit code 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except InputError as err:
            click.echo(f"error: {err}", err=True)
            ctx.exit(2)


def make_app(help: str) -> typer.Typer:
    """A typer app (or sub-app) with seqformer's error handling."""
    return typer.Typer(cls=_Group, help=help, no_args_is_help=True, add_completion=False,
                       pretty_exceptions_enable=False)


app = make_app("seqformer: long-sequence Transformers for DNA and proteins.")


@app.callback()
def _root() -> None:
    """seqformer: long-sequence Transformers (dense, BigBird, Performer (softmax and ReLU), Longformer, Nyströmformer, Reformer-LSH) for DNA and proteins."""


def add_plugin_commands(target: typer.Typer = app) -> list[str]:
    """Add the command groups of the ``seqformer.commands`` entry points; returns their names."""
    names = []
    for point in sorted(entry_points(group=PLUGIN_GROUP), key=lambda p: p.name):
        target.add_typer(point.load(), name=point.name)
        names.append(point.name)
    return names
