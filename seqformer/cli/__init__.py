"""The ``seqformer`` command line: thin typer verbs over library functions.

:mod:`seqformer.cli.app` holds the app; each verb module below registers its commands on it (or on
a sub-app such as ``bench``), and command groups of other packages (``seqformer data``, from the
dataset builders) come in through entry points. :class:`InputError` raised anywhere below becomes
one line on stderr and exit code 2.
"""

from __future__ import annotations

import sys

# Verb modules, in the order `seqformer --help` lists them: importing each registers its commands.
from seqformer.cli import fetch as _fetch  # noqa: F401, I001
from seqformer.cli import tokenize as _tokenize  # noqa: F401
from seqformer.cli import pretrain as _pretrain  # noqa: F401
from seqformer.cli import finetune as _finetune  # noqa: F401
from seqformer.cli import score_variants as _score_variants  # noqa: F401
from seqformer.cli import mutagenesis as _mutagenesis  # noqa: F401
from seqformer.cli import attribute as _attribute  # noqa: F401
from seqformer.cli import motifs as _motifs  # noqa: F401
from seqformer.cli import evaluate as _evaluate  # noqa: F401
from seqformer.cli import evaluate_scan as _evaluate_scan  # noqa: F401
from seqformer.cli import predict as _predict  # noqa: F401
from seqformer.cli import embed as _embed  # noqa: F401
from seqformer.cli import attention as _attention  # noqa: F401
from seqformer.cli import convert as _convert  # noqa: F401
from seqformer.cli import bench as _bench  # noqa: F401
from seqformer.cli.app import add_plugin_commands, app, make_app

add_plugin_commands(app)

__all__ = ["app", "main", "make_app"]


def main() -> None:
    """Console-script entry point."""
    app(prog_name="seqformer")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
