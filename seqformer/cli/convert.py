"""``seqformer convert``: import an ESM-2, Nucleotide Transformer v1, DNABERT, BigBird or fair-esm checkpoint."""

from __future__ import annotations

from pathlib import Path

import typer

from seqformer.cli.app import app
from seqformer.errors import InputError


@app.command("convert")
def convert(
    src: Path = typer.Argument(..., metavar="SRC", help="A Hugging Face folder (config.json, weights, vocab.txt or "
                               "tokenizer.json) of an EsmForMaskedLM, BertForMaskedLM or BigBirdForMaskedLM, or a "
                               "fair-esm ESM-2 .pt file."),
    out: Path = typer.Option(..., "--out", help="Model folder to write (config.json, model.safetensors, "
                             "tokenizer.json), atomically; an existing folder of model files is replaced."),
    attention: str = typer.Option(None, "--attention", help="Run the converted weights with this attention kind "
                                  "(bigbird, performer-softmax, performer-relu, longformer, nystromformer; default: "
                                  "dense, the exact import)."),
    attention_option: list[str] = typer.Option(None, "--attention-option", metavar="KEY=VALUE",
                                               help="An option of that kind, e.g. block_size=64 (repeatable; "
                                               "values read as YAML)."),
    max_length: int = typer.Option(None, "--max-length", min=1, help="Longest input the folder accepts (rotary "
                                   "models may exceed their trained length; learned positions may not)."),
) -> None:
    """Convert a masked language model exactly (fp32 logits within 1e-4) into a seqformer model folder."""
    from seqformer.convert import convert_to_folder

    options = _options(attention_option or [])
    typer.echo(convert_to_folder(src, out, attention=attention, attention_options=options,
                                 max_length=max_length).line())


def _options(pairs: list[str]) -> dict:
    """["block_size=64", "global_tokens=[0]"] → {"block_size": 64, "global_tokens": [0]} (InputError otherwise)."""
    import yaml

    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--attention-option takes KEY=VALUE, got {pair!r}")
        try:
            options[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise InputError(f"--attention-option {key}: cannot read the value {value!r}") from None
    return options
