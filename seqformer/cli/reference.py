"""The command-line reference (docs/cli.md), generated from the typer app itself.

``python -m seqformer.cli.reference > docs/cli.md`` (or ``make docs``) rewrites it; a test checks
that the file in the repository equals what this prints, so the reference never drifts from the code.
"""

from __future__ import annotations

import typer

HEADER = """# Command-line reference

Generated from the command definitions by `python -m seqformer.cli.reference > docs/cli.md`
(`make docs`); `tests/test_cli_reference.py` fails when it is out of date. Every command also has
`--help`. Bad input anywhere gives one line on stderr and exit code 2.
"""


def _commands(command, path: list[str]):
    """(path, command) of every leaf command under ``command`` (a click command or group), in definition order."""
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():
            if not sub.hidden:
                yield from _commands(sub, [*path, name])
    else:
        yield path, command


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _option_row(param) -> str:
    """One table row of a click parameter (option or argument)."""
    if param.param_type_name == "argument":
        name = f"`{(param.metavar or param.name).upper()}`"
    else:
        names = ", ".join(f"`{o}`" for o in param.opts)
        if param.secondary_opts:
            names += " / " + ", ".join(f"`{o}`" for o in param.secondary_opts)
        name = names
    default = param.default
    flag_off = getattr(param, "is_flag", False) and default is False
    if param.required:
        shown = "required"
    elif callable(default) or default is None or default == () or default == [] or flag_off:
        shown = ""
    else:
        shown = f"`{list(default) if isinstance(default, tuple) else default}`"
    return f"| {name} | {_cell(shown)} | {_cell(getattr(param, 'help', None) or '')} |"


def cli_reference(app: typer.Typer | None = None) -> str:
    """The markdown reference of every command of ``app`` (the seqformer app by default)."""
    if app is None:
        from seqformer.cli import app
    root = typer.main.get_command(app)
    blocks = [HEADER.strip()]
    for path, command in _commands(root, ["seqformer"]):
        blocks.append(f"## `{' '.join(path)}`")
        help_text = (command.help or "").strip()
        if help_text:
            blocks.append(" ".join(help_text.split("\n\n")[0].split()))
        params = [p for p in command.params if p.name != "help"]
        if params:
            blocks.append("\n".join(["| option | default | what |", "| --- | --- | --- |",
                                     *(_option_row(p) for p in params)]))
    return "\n\n".join(blocks) + "\n"


if __name__ == "__main__":  # pragma: no cover
    print(cli_reference(), end="")
