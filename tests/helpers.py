"""Helpers shared by the tests: driving the CLI and writing fixtures in every encoding."""

from __future__ import annotations

import gzip
from pathlib import Path

from Bio import bgzf
from typer.testing import CliRunner

from seqformer.cli import app

runner = CliRunner()


def cli_ok(*args: object) -> str:
    """Run ``seqformer ARGS`` and return its stdout; the run must succeed."""
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.stdout


def cli_error(*args: object) -> str:
    """Run ``seqformer ARGS`` that must fail as bad input: exit 2, one ``error:`` line, no traceback."""
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


ENCODINGS = ["plain", "crlf", "gzip", "bgzf"]


def unknown_cli_flags(words: list[str]) -> set[str]:
    """``words`` = ``[VERB, SUBVERB..., args...]`` of a seqformer command: its flags the CLI does not know.

    Raises KeyError for a verb that does not exist; an empty set means every ``--flag`` is an option.
    """
    import typer

    command, i = typer.main.get_command(app), 0
    while hasattr(command, "commands"):
        command, i = command.commands[words[i]], i + 1
    known = {option for param in command.params for option in (*param.opts, *param.secondary_opts)}
    return {word for word in words[i:] if word.startswith("--")} - known


def write_encoded(data: bytes, path: Path, encoding: str) -> Path:
    """Write ``data`` to ``path`` as plain text, CRLF text, plain gzip or BGZF."""
    if encoding == "crlf":
        path.write_bytes(data.replace(b"\n", b"\r\n"))
    elif encoding == "gzip":
        path.write_bytes(gzip.compress(data))
    elif encoding == "bgzf":
        with bgzf.BgzfWriter(path, "wb") as handle:
            handle.write(data)
    else:
        path.write_bytes(data)
    return path
