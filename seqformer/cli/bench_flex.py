"""``seqformer bench flex``: BigBird's FlexAttention path against dense FlashAttention per computed FLOP."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from seqformer.cli import bench_app
from seqformer.cli.bench_attention import _int_list


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
