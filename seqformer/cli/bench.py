"""``seqformer bench``: every benchmark verb (speed, memory, GPU checks); results as tables and JSON.

- ``seqformer bench attention``: encoder speed and memory per attention implementation and length.
- ``seqformer bench converted``: a masked LM under other attention kinds: drift from dense, speed vs transformers.
- ``seqformer bench flex``: BigBird's FlexAttention path against dense FlashAttention per computed FLOP.
- ``seqformer bench gpu-checks``: the prepared, time-boxed GPU measurements of docs/benchmarks.md.
- ``seqformer bench scan``: genome-scan throughput against forward-only throughput on the same windows.
- ``seqformer bench tokenize``: k-mer encoding throughput against a plain-Python reference.
- ``seqformer bench variants``: variant-scoring throughput against forward-only throughput on the same windows.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from seqformer.cli.app import app, make_app
from seqformer.cli.tokenize import kmer_tokenizer
from seqformer.device import resolve_device
from seqformer.errors import InputError

bench_app = make_app("Benchmarks: speed and memory, results as JSON and tables.")
app.add_typer(bench_app, name="bench")


# --- bench attention ---------------------------------------------------------------------------
def _int_list(text: str, option: str) -> list[int]:
    """'1024,4096' → [1024, 4096]; anything else is an InputError."""
    try:
        return [int(item) for item in text.split(",") if item.strip()]
    except ValueError:
        raise InputError(f"{option} must be comma-separated integers, got {text!r}") from None


@bench_app.command("attention")
def bench_attention(
    lengths: str = typer.Option("1024,4096,16384", help="Comma-separated sequence lengths."),
    impl: str = typer.Option(None, help="Comma-separated implementations (default: every registered "
                             "attention kind (dense, bigbird, performer-softmax, performer-relu, longformer, "
                             "nystromformer, reformer-lsh), then the peers hf-bigbird and performer-pytorch)."),
    json_path: Path = typer.Option(None, "--json", help="Write rows, settings and machine to this JSON file."),
    plot: Path = typer.Option(None, help="Write a log-log plot of seconds vs length: PATH as PNG, and SVG beside it."),
    repeats: int = typer.Option(3, min=1, help="Timed passes after one warm-up; the best is kept."),
    timeout: float = typer.Option(600.0, min=1, help="Seconds allowed per (implementation, length) worker."),
    threads: int = typer.Option(None, min=1, help="torch threads per worker (default: torch's default)."),
    max_rss_gb: float = typer.Option(None, min=0.5, help="Address-space cap per worker in GiB (RLIMIT_AS); "
                                     "a worker over it is reported as 'oom' (default: 3/4 of RAM)."),
    reversible: bool = typer.Option(False, "--reversible", help="Reversible encoder blocks: activations "
                                    "recomputed in backward (peers are then reported unavailable)."),
    ffn_chunk_size: int = typer.Option(None, min=1, help="Tokens per chunk of the encoder MLPs (default: all)."),
    layers: int = typer.Option(2, min=1, help="Encoder layers."),
    batch_size: int = typer.Option(1, "--batch-size", min=1, help="Sequences per timed forward+backward pass."),
    device: str = typer.Option("cpu", help="cpu, or cuda (then GPU peak memory is reported too)."),
    dtype: str = typer.Option("fp32", help="fp32, or bf16 (autocast; BigBird uses FlexAttention on CUDA)."),
) -> None:
    """Time encoder forward+backward (batch 1, or --batch-size) for each implementation and length, each in a fresh process."""
    from seqformer.bench.attention import (BenchSettings, available_impls, plot_benchmark, results_table,
                                           run_benchmark, write_json)  # torch: import on use
    from seqformer.figures.style import save_figure

    impls = [name.strip() for name in impl.split(",") if name.strip()] if impl else available_impls()
    settings = BenchSettings(repeats=repeats, timeout=timeout, threads=threads, max_rss_gb=max_rss_gb,
                             reversible=reversible, ffn_chunk_size=ffn_chunk_size, num_layers=layers,
                             batch_size=batch_size,
                             device=device, dtype=dtype)
    log = Console(stderr=True)
    rows = run_benchmark(_int_list(lengths, "--lengths"), impls, settings,
                         on_row=lambda row: log.print(f"{row.impl} L={row.length}: {row.status}"
                                                      + ("" if row.seconds is None else f" {row.seconds:.3f} s")))
    Console().print(results_table(rows, batch_size))
    if json_path is not None:
        write_json(rows, settings, json_path)
    if plot is not None:
        save_figure(plot_benchmark(rows, settings), plot)


# --- bench flex --------------------------------------------------------------------------------
@bench_app.command("flex")
def bench_flex(
    lengths: str = typer.Option("4096,16384,65536", help="Comma-separated lengths (multiples of --block-size)."),
    device: str = typer.Option("cuda", help="cuda (the measurement), or cpu (eager FlexAttention: a check only)."),
    dtype: str = typer.Option("bf16", help="bf16, fp16 or fp32 q, k, v."),
    batch_size: int = typer.Option(4, min=1, help="Sequences per pass (B)."),
    heads: int = typer.Option(4, min=1, help="Attention heads (H)."),
    head_dim: int = typer.Option(64, min=1, help="Width of each head (Dh)."),
    block_size: int = typer.Option(64, min=16, help="BigBird block size b (FlexAttention's BLOCK_SIZE)."),
    random_blocks: int = typer.Option(3, min=0, help="Random key blocks per query block."),
    forward_only: bool = typer.Option(False, "--forward-only", help="Time the forward pass only (required "
                                      "on the CPU, where FlexAttention has no backward)."),
    repeats: int = typer.Option(5, min=1, help="Timed passes after the warm-up; the best is kept."),
    json_path: Path = typer.Option(None, "--json", help="Write rows, settings and machine to this JSON file."),
) -> None:
    """Attention alone: BigBird's FlexAttention path vs dense SDPA (FlashAttention), TFLOP/s on what each computes.

    ratio = BigBird TFLOP/s / dense TFLOP/s (target on a GPU: >= 0.6); "vs gather" = max |flex - gather| output.
    """
    from seqformer.bench.flex import FlexBenchSettings, flex_table, run_flex_benchmark, write_flex_json

    settings = FlexBenchSettings(batch_size=batch_size, num_heads=heads, head_dim=head_dim, block_size=block_size,
                                 num_random_blocks=random_blocks, device=device, dtype=dtype, repeats=repeats,
                                 backward=not forward_only)
    log = Console(stderr=True)
    rows = run_flex_benchmark(_int_list(lengths, "--lengths"), settings,
                              on_row=lambda row: log.print(f"L={row.length}: {row.status}"
                                                           + (f" ({row.detail})" if row.detail else "")))
    Console().print(flex_table(rows))
    if json_path is not None:
        write_flex_json(rows, settings, json_path)


# --- bench gpu-checks --------------------------------------------------------------------------
@bench_app.command("gpu-checks")
def bench_gpu_checks(
    data: Path = typer.Option(Path(".gpu-data"), "--data", help="Folder from `make gpu-prep`: chr20, Swiss-Prot, "
                              "a VCF, the demo slice."),
    out: Path = typer.Option(..., "--out", help="Where summary.json, summary.md and gpu_checks.tar.gz go."),
    work: Path = typer.Option(Path("/tmp/seqformer_gpu_checks"), "--work", help="Working folder of the checks."),
    checks: str = typer.Option(None, "--checks", help="Comma-separated groups: tests, flex, attention, pretrain-dna, "
                               "pretrain-protein, pretrain-protein-all, variants, scan (default: all but "
                               "pretrain-protein-all)."),
    deadline: float = typer.Option(560.0, min=30, help="Seconds for all of them; later checks get what is left."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the commands and limits; run nothing."),
) -> None:
    """Run the GPU checks of docs/benchmarks.md in order, each time-boxed, and summarise them."""
    import torch

    from seqformer.bench.gpu_checks import DATA_FILES, build_checks, run_checks, select

    repo = Path(__file__).resolve().parents[2]
    names = [name.strip() for name in checks.split(",") if name.strip()] if checks else None
    chosen = select(build_checks(data.resolve(), repo), names)
    if dry_run:
        for check in chosen:
            typer.echo(f"[{check.label}] {check.section}, at most {check.timeout:g} s: {shlex.join(check.argv)}")
        return
    if not torch.cuda.is_available():
        raise InputError(f"no CUDA device visible to torch {torch.__version__}: run this on a GPU machine")
    needed = [name for name in DATA_FILES if any(name in arg for check in chosen for arg in check.argv)]
    missing = [name for name in needed if not (data / name).is_file()]
    if missing:
        raise InputError(f"{data}: missing {', '.join(missing)} (make gpu-prep copies them into .gpu-data)")
    log = Console(stderr=True)
    results = run_checks(chosen, work, out, deadline=deadline,
                         on_result=lambda r: log.print(f"[{r['label']}] {r['status']} {r.get('seconds', '')}"))
    Console().print((out / "summary.md").read_text())
    log.print(f"{len(results)} checks -> {out}/summary.json, summary.md, gpu_checks.tar.gz")


# --- bench scan --------------------------------------------------------------------------------
@bench_app.command("scan")
def bench_scan(
    genome: Path = typer.Option(..., "--genome", help="Reference FASTA (plain or BGZF .fa.gz)."),
    region: str = typer.Option(..., "--region", help="Samtools-style region (1-based inclusive) or contig name."),
    model: Path | None = typer.Option(None, "--model", help="Sequence-classifier folder."),
    random_model: bool = typer.Option(False, "--random-model", help="Instead of --model, a randomly initialised "
                                      "classifier: k=6, hidden 128, 2 layers, 4 heads, FFN 512, window 300."),
    batch_size: int = typer.Option(64, "--batch-size", min=1, help="Windows per forward pass (each strand)."),
    stride: int | None = typer.Option(None, "--stride", min=1, help="Bases between windows (default window/2)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    repeats: int = typer.Option(1, "--repeats", min=1, help="Alternating scan / forward-only passes; best of each."),
    json_output: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
) -> None:
    """Time a scan of a region and the model's forward passes alone on the same windows; report the overhead."""
    from seqformer.bench.scan import random_classifier, run_scan_benchmark
    from seqformer.io import Genome
    from seqformer.models import SequenceClassifier, load_model

    if (model is None) == (not random_model):
        raise InputError("give either --model or --random-model")
    where = resolve_device(device)
    with Genome(genome) as ref:
        target = ref.region(region)
        classifier = random_classifier() if random_model else load_model(model, where, expect=SequenceClassifier)
        result = run_scan_benchmark(classifier, ref, target, batch_size=batch_size, stride=stride, device=where,
                                    repeats=repeats)
    if json_output:
        typer.echo(json.dumps(result, indent=2))
        return
    table = Table(title=f"bench scan: {result['region']} ({result['bases']:,} bp, {result['windows']:,} windows, "
                        f"{result['device']})")
    for column in ("timing", "seconds", "windows/s", "bases/s"):
        table.add_column(column, justify="left" if column == "timing" else "right")
    table.add_row("scan (end to end)", f"{result['scan_seconds']:.2f}", f"{result['scan_windows_per_s']:,.0f}",
                  f"{result['scan_bases_per_s']:,.0f}")
    table.add_row("forward only", f"{result['forward_seconds']:.2f}", f"{result['forward_windows_per_s']:,.0f}", "")
    table.add_row("overhead", f"{result['overhead_pct']:.1f}%", "", "")
    Console().print(table)


# --- bench track-scan --------------------------------------------------------------------------
@bench_app.command("track-scan")
def bench_track_scan(
    genome: Path = typer.Option(..., "--genome", help="Reference FASTA (plain or BGZF .fa.gz)."),
    region: str = typer.Option(..., "--region", help="Samtools-style region (1-based inclusive) or contig name."),
    model: Path | None = typer.Option(None, "--model", help="Track model folder (finetune promoter-track); "
                                      "default: a random one of the promoter-track recipe's shape (6-mers non-overlapping, hidden 128, "
                                      "2 layers, 4 heads, FFN 512, BigBird, tile 16,500, context 1,020)."),
    window_model: Path | None = typer.Option(None, "--window-model", help="Window classifier folder to compare "
                                             "with; default: bench scan's random one (k=6 overlapping, hidden 128, "
                                             "2 layers, window 300, stride 150)."),
    repeats: int = typer.Option(1, "--repeats", min=1, help="Alternating track / window scans; best of each."),
    no_window: bool = typer.Option(False, "--track-only", help="Time the track model alone (e.g. all of a "
                                   "chromosome); no window scan."),
    memory: Optional[str] = typer.Option(None, "--memory", help="Comma-separated regions: peak resident memory of a "
                                         "random track model's scan of each, in a fresh process (instead of timing)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    json_output: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
) -> None:
    """Time a track model's tile scan against the window scanner on the same region, or its memory by length."""
    from seqformer.bench.scan import random_classifier
    from seqformer.bench.track_scan import (
        _scan_seconds,
        machine_line,
        random_track_model,
        run_memory_benchmark,
        run_track_scan_benchmark,
    )
    from seqformer.io import Genome
    from seqformer.models import SequenceClassifier, load_model
    from seqformer.models.token_classifier import TokenClassifier

    where = resolve_device(device)
    if memory is not None:
        rows = run_memory_benchmark(genome, [r.strip() for r in memory.split(",") if r.strip()])
        typer.echo(json.dumps(rows, indent=2))
        return
    track = load_model(model, where, expect=TokenClassifier) if model else random_track_model()
    with Genome(genome) as ref:
        target = ref.region(region)
        if no_window:
            seconds, result = _scan_seconds(track.to(where).eval(), ref, target)
            out = {"region": str(target), "bases": len(target), "seconds": seconds,
                   "bases_per_s": len(target) / seconds, "tiles": result.scored, "machine": machine_line(where)}
        else:
            window = load_model(window_model, where, expect=SequenceClassifier) if window_model else random_classifier()
            out = run_track_scan_benchmark(track, window, ref, target, repeats=repeats, device=where)
    if json_output or no_window:
        typer.echo(json.dumps(out, indent=2))
        return
    table = Table(title=f"bench track-scan: {out['region']} ({out['bases']:,} bp, {out['device']})")
    for column in ("scanner", "seconds", "bases/s", "parameters"):
        table.add_column(column, justify="left" if column == "scanner" else "right")
    for name in ("track", "window"):
        row = out[name]
        table.add_row(name, f"{row['seconds']:.1f}", f"{row['bases_per_s']:,.0f}", f"{row['parameters']:,}")
    table.add_row("speed-up", f"{out['speedup']:.1f}x", "", "")
    Console().print(table)


# --- bench tokenize ----------------------------------------------------------------------------
@bench_app.command("tokenize")
def bench_tokenize(
    fasta: Path = typer.Argument(..., help="FASTA file (plain, gzip or BGZF); every record is encoded."),
    k: int = typer.Option(6, min=1, max=8, help="k-mer length."),
    stride: int = typer.Option(1, min=1, help="1 (overlapping k-mers) or k (non-overlapping)."),
    repeats: int = typer.Option(3, min=1, help="Timed passes of each encoder; the best is reported."),
    json_output: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
) -> None:
    """Time vectorised k-mer encoding of every record and DNABERT-style splitting of the first 1 Mb."""
    from seqformer.bench.tokenize import results_table, run_tokenize_benchmark

    result = run_tokenize_benchmark(fasta, kmer_tokenizer(k, stride), repeats=repeats)
    if json_output:
        typer.echo(json.dumps(result, indent=2))
    else:
        Console().print(results_table(result))


# --- bench variants ----------------------------------------------------------------------------
def _classifier(model: Path | None, random_model: bool, device):
    """The classifier to time: the ``--model`` folder, or bench scan's random one."""
    from seqformer.bench.scan import random_classifier
    from seqformer.models import SequenceClassifier, load_model

    if (model is None) == (not random_model):
        raise InputError("give either --model or --random-model")
    return random_classifier() if random_model else load_model(model, device, expect=SequenceClassifier)


@bench_app.command("variants")
def bench_variants(
    vcf: Path = typer.Option(..., "--vcf", help="Variants to score (.vcf or .vcf.gz)."),
    genome: Path = typer.Option(..., "--genome", help="Reference FASTA (plain or BGZF .fa.gz)."),
    model: Path | None = typer.Option(None, "--model", help="Sequence-classifier folder."),
    random_model: bool = typer.Option(False, "--random-model", help="Instead of --model, a randomly initialised "
                                      "classifier: k=6, hidden 128, 2 layers, 4 heads, FFN 512, window 300."),
    batch_size: int = typer.Option(64, "--batch-size", min=1, help="Windows per forward pass (4 per variant)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    repeats: int = typer.Option(1, "--repeats", min=1, help="Alternating scoring / forward-only passes; best of each."),
    json_output: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
) -> None:
    """Time score-variants on a VCF and the model's forward passes alone on the same windows; report the overhead."""
    from seqformer.bench.variants import run_variant_benchmark
    from seqformer.io import Genome

    where = resolve_device(device)
    with Genome(genome) as ref:
        result = run_variant_benchmark(_classifier(model, random_model, where), ref, vcf, batch_size=batch_size,
                                       device=where, repeats=repeats)
    if json_output:
        typer.echo(json.dumps(result, indent=2))
        return
    table = Table(title=f"bench variants: {result['scored']:,} variants scored of {result['alleles']:,} "
                        f"({result['ref_mismatches']:,} REF mismatches), {result['windows']:,} windows, "
                        f"{result['device']}")
    for column in ("timing", "seconds", "variants/s", "windows/s"):
        table.add_column(column, justify="left" if column == "timing" else "right")
    table.add_row("score-variants (end to end)", f"{result['score_seconds']:.2f}",
                  f"{result['score_variants_per_s']:,.1f}", f"{result['windows'] / result['score_seconds']:,.0f}")
    table.add_row("forward only", f"{result['forward_seconds']:.2f}", f"{result['forward_variants_per_s']:,.1f}",
                  f"{result['forward_windows_per_s']:,.0f}")
    table.add_row("overhead", f"{result['overhead_pct']:.1f}%", "", "")
    Console().print(table)


# --- bench converted ---------------------------------------------------------------------------
@bench_app.command("converted")
def bench_converted(
    model: Path = typer.Option(..., "--model", help="Masked-LM folder (converted with `seqformer convert`, or native)."),
    fasta: Path = typer.Option(..., "--fasta", help="Held-apart sequences; joined in file order into rows of L tokens."),
    source: Path | None = typer.Option(None, "--source", help="The transformers checkpoint folder the model was "
                                       "converted from: timed beside it (needs the `convert` extra)."),
    lengths: str = typer.Option("1024,4096", help="Comma-separated L for the drift and perplexity comparison."),
    speed_lengths: str = typer.Option("1024,2048,4096,8192,16384", help="Comma-separated L for speed and memory "
                                      "(empty: skip)."),
    kinds: str = typer.Option(",".join(("dense", "bigbird", "performer-softmax", "performer-relu", "longformer")),
                              help="Comma-separated attention kinds to run the same weights with."),
    rows: int = typer.Option(4, min=1, help="Rows of L tokens for the drift comparison."),
    repeats: int = typer.Option(2, min=1, help="Timed forward passes after one warm-up; the best is kept."),
    threads: int = typer.Option(None, min=1, help="torch threads (default: torch's default)."),
    seed: int = typer.Option(0, help="Seed of the masked positions."),
    json_path: Path = typer.Option(None, "--json", help="Write rows, settings and machine to this JSON file."),
) -> None:
    """The same weights under other attention kinds: logit drift and perplexity vs dense, then speed and memory vs transformers."""
    import torch

    from seqformer.bench.converted import drift_table, measure_drift, run_speed, speed_table, write_json
    from seqformer.io.fasta import read_fasta
    from seqformer.models import MaskedLM, load_model

    if threads is not None:
        torch.set_num_threads(threads)
    kind_list = [name.strip() for name in kinds.split(",") if name.strip()]
    mlm = load_model(model, expect=MaskedLM)
    records = [record.seq for record in read_fasta(fasta)]
    log = Console(stderr=True)
    drift = measure_drift(mlm, records, _int_list(lengths, "--lengths"), kind_list, rows=rows, seed=seed,
                          on_row=lambda r: log.print(f"drift {r.kind} L={r.length}: rel {r.logit_rel_error:.2e}, "
                                                     f"perplexity {r.perplexity:.3f}"))
    if drift:
        typer.echo(drift_table(drift))
    speed = run_speed(model, source, _int_list(speed_lengths, "--speed-lengths"), kind_list, repeats=repeats,
                      threads=threads, on_row=lambda r: log.print(f"speed {r.impl} L={r.length}: {r.status}"
                                                                  + ("" if r.seconds is None else f" {r.seconds:.3f} s")))
    if speed:
        typer.echo(speed_table(speed))
    if json_path is not None:
        write_json(drift, speed, {"model": str(model), "source": None if source is None else str(source),
                                  "rows": rows, "seed": seed, "threads": threads, "repeats": repeats}, json_path)


# --- bench long-attention ----------------------------------------------------------------------
@bench_app.command("long-attention")
def bench_long_attention(
    lengths: str = typer.Option("1024,2048,4096,8192", help="Comma-separated input lengths L (tokens)."),
    kinds: str = typer.Option("performer-relu,bigbird", help="Comma-separated attention kinds with maps."),
    top_k: int = typer.Option(32, "--top-k", help="Keys kept per query by the chunked path."),
    chunk_size: Optional[int] = typer.Option(None, "--chunk-size", help="Query rows per chunk (default: "
                                             "automatic, H·rows·L ≤ 4M probabilities)."),
    threads: int = typer.Option(1, help="torch threads per worker."),
    timeout: float = typer.Option(300.0, help="Seconds allowed per (kind, length, method) worker."),
    json_path: Path = typer.Option(None, "--json", help="Write rows, settings and machine to this JSON file."),
) -> None:
    """Attention maps of one long protein: chunked (top-k) extraction vs the dense need_weights path, MiB and seconds.

    Peak MiB is the worker's peak RSS during the call above its RSS before it; the dense path is
    "refused" above the kind's max_weights_length and skipped where its projected peak exceeds half
    the available memory.
    """
    from seqformer.bench.long_attention import LongBenchSettings, markdown_table, results_table, run_benchmark
    from seqformer.bench.long_attention import write_json as write_long_json

    if top_k < 1 or (chunk_size is not None and chunk_size < 1) or threads < 1:
        raise InputError(f"--top-k, --chunk-size and --threads must be at least 1, got {top_k}, {chunk_size}, "
                         f"{threads}")
    settings = LongBenchSettings(top_k=top_k, chunk_size=chunk_size, threads=threads, timeout=timeout)
    log = Console(stderr=True)
    rows = run_benchmark(_int_list(lengths, "--lengths"), [k.strip() for k in kinds.split(",") if k.strip()],
                         settings, on_row=lambda r: log.print(f"{r.kind} L={r.length} {r.method}: {r.status}"))
    Console().print(results_table(rows))
    typer.echo(markdown_table(rows))
    if json_path is not None:
        write_long_json(rows, settings, json_path)
