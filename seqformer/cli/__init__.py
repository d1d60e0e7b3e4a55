"""The ``seqformer`` command line: thin typer verbs over library functions.

Every verb module registers itself on :data:`app` (or a sub-app such as :data:`bench_app`).
:class:`InputError` raised anywhere below becomes one line on stderr and exit code 2.
"""

from __future__ import annotations

import sys

import click
import typer
from typer.core import TyperGroup

from seqformer.errors import InputError


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
bench_app = make_app("Benchmarks: speed and memory, results as JSON and tables.")
app.add_typer(bench_app, name="bench")


@app.callback()
def _root() -> None:
    """seqformer: long-sequence Transformers (BigBird, Performer, Longformer, ...) for DNA and proteins."""


# Verb modules: importing each registers its commands.
# (one line per verb module, e.g. `from seqformer.cli import tokenize as _tokenize  # noqa: E402,F401`)
from seqformer.cli import fetch as _fetch  # noqa: E402,F401
from seqformer.cli import bench_attention as _bench_attention  # noqa: E402,F401
from seqformer.cli import bench_flex as _bench_flex  # noqa: E402,F401
from seqformer.cli import bench_gpu_checks as _bench_gpu_checks  # noqa: E402,F401
from seqformer.cli import tokenize as _tokenize  # noqa: E402,F401
from seqformer.cli import bench_tokenize as _bench_tokenize  # noqa: E402,F401
from seqformer.cli import pretrain as _pretrain  # noqa: E402,F401
from seqformer.cli import evaluate as _evaluate  # noqa: E402,F401
from seqformer.cli import data as _data  # noqa: E402,F401
from seqformer.cli import finetune as _finetune  # noqa: E402,F401
from seqformer.cli import evaluate_scan as _evaluate_scan  # noqa: E402,F401
from seqformer.cli import predict as _predict  # noqa: E402,F401
from seqformer.cli import bench_scan as _bench_scan  # noqa: E402,F401
from seqformer.cli import score_variants as _score_variants  # noqa: E402,F401
from seqformer.cli import mutagenesis as _mutagenesis  # noqa: E402,F401
from seqformer.cli import bench_variants as _bench_variants  # noqa: E402,F401
from seqformer.cli import attention as _attention  # noqa: E402,F401


def main() -> None:
    """Console-script entry point."""
    app(prog_name="seqformer")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
