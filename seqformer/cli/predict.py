"""``seqformer predict``: run a trained sequence classifier over a genome region or given windows."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from seqformer.cli.app import app, make_app
from seqformer.cli.progress import counted_progress
from seqformer.device import resolve_device
from seqformer.errors import InputError

predict_app = make_app("Predict with trained sequence classifiers: genome scans and given windows.")
app.add_typer(predict_app, name="predict")


@predict_app.command("promoters")
def promoters(
    genome: Path = typer.Option(..., "--genome", help="Reference FASTA (plain or BGZF .fa.gz), indexed or indexable."),
    model: Path = typer.Option(..., "--model", help="Sequence-classifier folder with a 'promoter' output "
                               "(scanned in windows), or a track model (`finetune promoter-track`, scanned in tiles)."),
    out: Path = typer.Option(..., "--out", help="Promoter calls, sorted BED6 (score = peak probability x 1000)."),
    region: str | None = typer.Option(None, "--region", help="Samtools-style region, 1-based inclusive, "
                                         "e.g. chr20:50000001-63025520, or a contig name (default: the first contig)."),
    bedgraph: Path | None = typer.Option(None, "--bedgraph", help="Also write the per-base probability track "
                                         "(bedGraph)."),
    bigwig: Path | None = typer.Option(None, "--bigwig", help="Also write the per-base probability track as "
                                       "bigWig (contig lengths from the genome's index)."),
    narrowpeak: Path | None = typer.Option(None, "--narrowpeak", help="Also write the calls as narrowPeak "
                                           "(signalValue = peak probability, pValue = qValue = -1, "
                                           "peak = summit offset)."),
    threshold: float | None = typer.Option(None, "--threshold", help="Call bases whose probability is >= this "
                                           "(default: the model's calibrated threshold from its calibration.json, "
                                           "else 0.5)."),
    stride: int | None = typer.Option(None, "--stride", min=1, help="Window models: bases between window starts "
                                         "(default: half the model's window)."),
    tile: int | None = typer.Option(None, "--tile", min=1, help="Track models: bases per tile, one pass per "
                                    "strand (default: the model's training tile; a multiple of its k)."),
    context: int | None = typer.Option(None, "--context", min=0, help="Track models: bases at each tile edge "
                                       "read but not kept (default: the model's; 1020 in the recipe)."),
    smooth: int | None = typer.Option(None, "--smooth", min=0, help="Track models: bases of the moving mean "
                                      "applied to each strand's track before calling (default: the model's, "
                                      "which its calibration used; 0 = the raw per-token track)."),
    batch_size: int | None = typer.Option(None, "--batch-size", min=1, help="Windows (default 64) or tiles "
                                          "(default 8) per forward pass, each strand."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    label: str = typer.Option("promoter", "--label", help="The model output to scan for."),
    max_n: float = typer.Option(0.5, "--max-n", min=0.0, max=1.0,
                                help="Window models: skip windows whose fraction of N bases is above this, "
                                     "unscored (track models leave all-N tokens unscored)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Scan a region on both strands and write merged promoter calls with summits: a window model tiles it with
    overlapping windows, a track model (promoter-track) reads long tiles once per strand."""
    from seqformer.io import Genome
    from seqformer.models import SequenceClassifier, load_model
    from seqformer.models.loader import model_class
    from seqformer.models.token_classifier import TokenClassifier
    from seqformer.predict.scan import scan_genome
    from seqformer.predict.scorer import label_index
    from seqformer.predict.tiles import check_tiles
    from seqformer.predict.windows import check_tiling
    from seqformer.tasks.calibration import scan_threshold

    where = resolve_device(device)
    track = model_class(model) is TokenClassifier
    with Genome(genome) as ref:
        target = ref.region(region) if region is not None else ref.region(next(iter(ref.contigs)))
        classifier = load_model(model, where, expect=TokenClassifier if track else SequenceClassifier)
        label_index(classifier, label)
        if track:
            if stride is not None:
                raise InputError("--stride applies to window models; a track model is scanned in tiles "
                                 "(--tile, --context)")
            tile_bases = tile or classifier.config.tile
            edge = classifier.config.context if context is None else context
            step = check_tiles(tile_bases, edge, classifier.config.k)
            options, unit = {"tile": tile_bases, "context": edge, "smooth": smooth, "batch_size": batch_size or 8}, "tiles"
        else:
            if tile is not None or context is not None or smooth is not None:
                raise InputError("--tile, --context and --smooth apply to track models (finetune promoter-track); "
                                 f"{model} is a window model")
            window = classifier.config.window
            step = stride if stride is not None else max(1, window // 2)
            check_tiling(target, window, step)
            options, unit = {"stride": stride, "max_n_fraction": max_n, "batch_size": batch_size or 64}, "windows"
        chosen = scan_threshold(model, threshold, label=label, stride=step)
        typer.echo(chosen.message, err=True)
        if track and smooth is not None and smooth != classifier.config.smooth and chosen.source == "calibrated":
            typer.echo(f"note: calibrated with --smooth {classifier.config.smooth}, scanning with {smooth}, so the "
                       f"false-call rate may differ", err=True)
        with counted_progress("scan", len(target), "bases", unit, quiet) as report:
            result = scan_genome(classifier, ref, target, out, label=label, bedgraph=bedgraph, bigwig=bigwig,
                                 narrowpeak=narrowpeak, threshold=chosen.value, **options,
                                 on_batch=report and (lambda done, end: report(end - target.start, done)))
    skipped = "" if track else f", {result.skipped:,} skipped as mostly N"
    typer.echo(json.dumps({**result.to_dict(), **chosen.to_dict()}) if quiet else
               f"{result.calls:,} calls ({result.called_bases:,} bases) in {result.region} at threshold "
               f"{chosen.value:.3g} ({chosen.source}): {result.scored:,} {unit} scored{skipped}, "
               f"{result.bases_per_s:,.0f} bases/s -> {out}")


@predict_app.command("windows")
def windows(
    genome: Path = typer.Option(..., "--genome", help="Reference FASTA (plain or BGZF .fa.gz)."),
    bed: Path = typer.Option(..., "--bed", help="Windows to score, BED3+ (minus-strand rows are "
                             "reverse-complemented)."),
    model: Path = typer.Option(..., "--model", help="Sequence-classifier folder."),
    out: Path = typer.Option(..., "--out", help="TSV: the input columns plus prob_<label> per model output."),
    batch_size: int = typer.Option(64, "--batch-size", min=1, help="Windows per forward pass."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
) -> None:
    """Score given BED windows, centre-cropped or N-padded to the model's window; one row per input row."""
    from seqformer.io import Genome, atomic_open, read_bed
    from seqformer.predict.score_windows import score_bed_windows
    from seqformer.models import SequenceClassifier, load_model

    where = resolve_device(device)
    table = read_bed(bed)
    with Genome(genome) as ref:
        classifier = load_model(model, where, expect=SequenceClassifier)
        scored = score_bed_windows(classifier, ref, table, batch_size=batch_size, bed_path=bed)
    with atomic_open(out) as handle:
        scored.to_csv(handle, sep="\t", index=False, na_rep=".", float_format="%.6g")
    typer.echo(f"{len(scored):,} windows scored -> {out}")


@predict_app.command("sequences")
def sequences(
    fasta: Path = typer.Option(..., "--fasta", help="FASTA of DNA sequences (plain or gzip), one row per record."),
    model: Path = typer.Option(..., "--model", help="Sequence-classifier folder."),
    out: Path = typer.Option(..., "--out", help="TSV: id, length, fit (exact/cropped/padded), then one "
                             "probability column per target."),
    batch_size: int = typer.Option(64, "--batch-size", min=1, help="Records per forward pass."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
) -> None:
    """Score each record, centre-cropped or N-padded to the model's window (never cut from one end)."""
    from seqformer.models import SequenceClassifier, load_model
    from seqformer.predict.sequences import score_fasta

    classifier = load_model(model, resolve_device(device), expect=SequenceClassifier)
    count = score_fasta(classifier, fasta, out, batch_size=batch_size)
    typer.echo(f"{count:,} records scored ({classifier.config.window}-base window) -> {out}")
