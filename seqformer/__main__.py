"""``python -m seqformer``: the command line, where no ``seqformer`` script is installed (e.g. a GPU machine)."""

from seqformer.cli import main

main()
