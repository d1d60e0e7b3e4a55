"""``seqformer tokenize``: token statistics of a FASTA file or a genome region."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from seqformer.cli.app import app
from seqformer.errors import InputError

if TYPE_CHECKING:
    from seqformer.tokenizers.summary import TokenizeSummary


@app.command("tokenize")
def tokenize(
    fasta: Path = typer.Option(None, help="FASTA file (plain or gzip) to tokenize, every record."),
    genome: Path = typer.Option(None, help="Indexed genome FASTA (plain or BGZF .fa.gz)."),
    region: str = typer.Option(None, help="Genome region, samtools style (1-based, inclusive), e.g. "
                               "chr20:1-4000000; default: every contig."),
    alphabet: str = typer.Option("dna", help="dna (k-mers) or protein (residues)."),
    k: int = typer.Option(6, min=1, max=8, help="k-mer length (DNA)."),
    stride: int = typer.Option(1, min=1, help="1 (overlapping k-mers) or k (non-overlapping)."),
    json_path: Path = typer.Option(None, "--json", help="Also write the summary to this JSON file."),
) -> None:
    """Tokenize a FASTA file or genome region; print records, bases, tokens, [UNK] share, top tokens."""
    from seqformer.tokenizers import ProteinTokenizer
    from seqformer.tokenizers.summary import summarize_fasta, summarize_genome

    if (fasta is None) == (genome is None):
        raise InputError("give exactly one of --fasta and --genome")
    if region is not None and genome is None:
        raise InputError("--region needs --genome")
    if alphabet not in ("dna", "protein"):
        raise InputError(f"--alphabet must be dna or protein, got {alphabet!r}")
    tokenizer = kmer_tokenizer(k, stride) if alphabet == "dna" else ProteinTokenizer()
    if fasta is not None:
        summary = summarize_fasta(fasta, tokenizer)
    else:
        summary = summarize_genome(genome, tokenizer, region)
    Console().print(_table(summary))
    if json_path is not None:
        summary.write_json(json_path)


def kmer_tokenizer(k: int, stride: int):
    """A :class:`KmerTokenizer`, with a bad k/stride pair reported as an InputError."""
    from seqformer.tokenizers import KmerTokenizer

    try:
        return KmerTokenizer(k, stride)
    except ValueError as err:
        raise InputError(f"--k/--stride: {err}") from None


def _table(summary: TokenizeSummary) -> Table:
    """The summary as a two-column rich table."""
    title = f"tokenize {Path(summary.path).name} {summary.region or ''}".strip()
    table = Table(title=title, show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", justify="right")
    rows = [
        ("tokenizer", ", ".join(f"{key}={value}" for key, value in summary.tokenizer.items())),
        ("records", f"{summary.records:,}"),
        ("bases", f"{summary.bases:,}"),
        ("tokens", f"{summary.tokens:,}"),
        ("[UNK] share", f"{summary.unk_share:.2%}"),
        ("vocab size", f"{summary.vocab_size:,}"),
        *((f"top {rank}", f"{item['token']}  {item['count']:,}")
          for rank, item in enumerate(summary.top_tokens, 1)),
        ("seconds", f"{summary.seconds:.2f}"),
    ]
    for field, value in rows:
        table.add_row(field, value)
    return table
