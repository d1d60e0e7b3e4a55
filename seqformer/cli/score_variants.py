"""``seqformer score-variants``: classifier (and masked-LM) scores of every short variant in a VCF."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import typer

from seqformer.cli.app import app
from seqformer.errors import InputError


@contextlib.contextmanager
def _progress(quiet: bool):
    """A rich counter on stderr (records read, variants scored, variants/s; plain lines every 30 s outside a
    terminal), or None when quiet."""
    if quiet:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from seqformer.training.progress import LogProgress

    if not Console(stderr=True).is_terminal:
        log = LogProgress("score-variants")
        yield lambda records, scored: log.report(
            scored, f"{records:,} records, {scored:,} variants scored, {scored / max(log.elapsed, 1e-9):,.0f} variants/s")
        return
    bar = Progress(TextColumn("score-variants"), BarColumn(), TextColumn("{task.fields[status]}"),
                   TimeElapsedColumn(), console=Console(stderr=True), transient=True)
    with bar:
        task = bar.add_task("score", total=None, status="")

        def on_chunk(records: int, scored: int) -> None:
            elapsed = bar.tasks[0].elapsed or 0.0
            rate = f", {scored / elapsed:,.0f} variants/s" if elapsed else ""
            bar.update(task, status=f"{records:,} records, {scored:,} variants scored{rate}")

        yield on_chunk


def _distinct(out: Path, vcf: Path, vcf_out: Path | None) -> None:
    """InputError when an output would replace the input VCF or the other output."""
    targets = [("--out", out)] + ([("--vcf-out", vcf_out)] if vcf_out is not None else [])
    for flag, path in targets:
        if path.resolve() == vcf.resolve():
            raise InputError(f"{flag} would overwrite the input VCF", path=path)
    if vcf_out is not None and vcf_out.resolve() == out.resolve():
        raise InputError("--out and --vcf-out are the same file", path=out)


@app.command("score-variants")
def score_variants(
    vcf: Path = typer.Option(..., "--vcf", help="Variants: .vcf or .vcf.gz (multi-allelic records are split)."),
    genome: Path = typer.Option(..., "--genome", help="Reference FASTA (plain or BGZF .fa.gz) the VCF was called on."),
    model: Path = typer.Option(..., "--model", help="Sequence-classifier folder; windows of its config.window bases."),
    out: Path = typer.Option(..., "--out", help="TSV: chrom pos id ref alt, then <target>_{p_ref,p_alt,delta_p,"
                             "delta_logit,abs_logit_x_abs_p} per target (and mlm_llr)."),
    mlm: Path | None = typer.Option(None, "--mlm", help="Pretrained masked-LM folder (k-mer tokenizer): adds "
                                    "mlm_llr = LL(ALT) - LL(REF) at the variant's masked tokens."),
    vcf_out: Path | None = typer.Option(None, "--vcf-out", help="Also write the VCF with the scores as INFO fields "
                                        "SF_<column> (Number=A); .gz is bgzipped."),
    batch_size: int = typer.Option(64, "--batch-size", min=1, help="Windows per forward pass (4 per variant)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    max_allele: int = typer.Option(50, "--max-allele", min=1, help="Longest REF or ALT (after trimming shared "
                                   "bases, anchor kept) that is scored; longer ones are skipped and counted."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress display; the summary as one JSON line."),
) -> None:
    """Score SNVs and short indels: REF and ALT windows centred on each, both strands averaged."""
    from seqformer.device import resolve_device
    from seqformer.io import Genome
    from seqformer.models import MaskedLM, SequenceClassifier, load_model
    from seqformer.variants.mlm import check_dna_mlm
    from seqformer.variants.score import score_vcf

    where = resolve_device(device)
    _distinct(out, vcf, vcf_out)
    with Genome(genome) as ref:
        classifier = load_model(model, where, expect=SequenceClassifier)
        masked_lm = None if mlm is None else check_dna_mlm(load_model(mlm, where, expect=MaskedLM), mlm)
        with _progress(quiet) as on_chunk:
            summary = score_vcf(classifier, ref, vcf, out, mlm=masked_lm, vcf_out=vcf_out, batch_size=batch_size,
                                device=where, max_allele=max_allele, on_chunk=on_chunk)
    for line in summary.report:
        typer.echo(f"warning: {line}", err=True)
    if quiet:
        typer.echo(json.dumps(summary.to_dict()))
        return
    skipped = sum(summary.skipped.values())
    typer.echo(f"{summary.scored:,} of {summary.alleles:,} alleles ({summary.records:,} records) scored, "
               f"{skipped:,} skipped ({summary.skipped.get('ref_mismatch', 0):,} REF mismatches), "
               f"{summary.variants_per_s:,.1f} variants/s -> {out}" + (f", {vcf_out}" if vcf_out else ""))
