"""docs/cli.md is the generated command-line reference, and it is up to date."""

from __future__ import annotations

from pathlib import Path

from seqformer.cli.reference import cli_reference

DOC = Path(__file__).resolve().parents[1] / "docs" / "cli.md"


def test_docs_cli_md_is_up_to_date():
    assert DOC.read_text() == cli_reference(), "docs/cli.md is stale: run `make docs`"


def test_every_command_and_option_is_listed():
    text = cli_reference()
    for heading in ("## `seqformer data chromatin`", "## `seqformer finetune`", "## `seqformer predict sequences`",
                    "## `seqformer evaluate scan`", "## `seqformer bench attention`"):
        assert heading in text
    assert "| `--holdout-chrom` |" in text and "| `TASK` | required |" in text
