"""BigBird's FlexAttention path against dense FlashAttention, FLOP for FLOP on what each computes.

Axes: B batch, H heads, L tokens, Dh head width, b block size, nb = L / b blocks.

For each length the two attention modules alone (no encoder) run forward+backward (forward only with
``backward`` off: FlexAttention has no backward on the CPU) on seeded random
q, k, v (B, H, L, Dh) in ``dtype`` on ``device``: BigBird with its flex backend (compiled on CUDA,
one BlockMask built from the block table per layout, cached), and dense
``scaled_dot_product_attention`` (FlashAttention on CUDA; forced there with ``sdpa_kernel``). Best
of ``repeats`` after ``warmup`` passes, the device synchronised around each.

FLOPs count the score and value products of the blocks computed: dense ``4·B·H·L²·Dh`` forward,
BigBird ``4·B·H·(computed blocks)·b²·Dh`` forward, where the computed blocks are the True entries of
its (H, nb, nb) block mask (global rows and columns, window, random); backward is counted as 2.5x
forward for both (FlashAttention's convention) when timed, so ``efficiency`` = BigBird TFLOP/s ÷ dense
TFLOP/s does not depend on it. The GPU target is efficiency ≥ 0.6.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from seqformer.bench import cell
from seqformer.bench.machine import gpu_name, machine_info, require_cuda, synchronize
from seqformer.errors import InputError

BACKWARD_FLOPS_FACTOR = 2.5  # backward FLOPs per forward FLOP of attention (FlashAttention's convention)
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class FlexBenchSettings:
    """Shapes, BigBird pattern and timing of the FlexAttention benchmark."""

    batch_size: int = 4  # B
    num_heads: int = 4  # H
    head_dim: int = 64  # Dh
    block_size: int = 64  # b, BigBird's block and FlexAttention's BLOCK_SIZE
    num_random_blocks: int = 3  # random key blocks per query block (with 2 global and 3 window blocks)
    device: str = "cuda"  # "cuda", or "cpu" (eager FlexAttention, forward only: a check, not a speed figure)
    dtype: str = "bf16"  # "bf16", "fp16" or "fp32" of q, k, v
    backward: bool = True  # time forward+backward; False = forward only (needed on the CPU)
    repeats: int = 5  # timed passes; the best is kept
    warmup: int = 2  # untimed passes first (the first compiles FlexAttention on CUDA)
    seed: int = 0  # seed of q, k, v and of the random blocks

    def __post_init__(self) -> None:
        if self.device not in ("cpu", "cuda"):
            raise InputError(f"device must be cpu or cuda, got {self.device!r}")
        if self.dtype not in DTYPES:
            raise InputError(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        if self.device == "cpu" and self.backward:
            raise InputError("FlexAttention has no backward pass on the CPU: time the forward only (--forward-only)")


@dataclass
class FlexRow:
    """One length: both implementations' best times, FLOP rates and the efficiency ratio."""

    length: int  # L
    computed_fraction: float | None  # BigBird's computed blocks / nb²
    dense_seconds: float | None  # best forward+backward of dense SDPA
    flex_seconds: float | None  # best forward+backward of BigBird's flex path
    dense_tflops: float | None  # dense FLOPs / dense_seconds / 1e12
    flex_tflops: float | None  # BigBird's computed-block FLOPs / flex_seconds / 1e12
    efficiency: float | None  # flex_tflops / dense_tflops
    max_abs_diff_vs_gather: float | None  # |flex − gather| of the forward output at this length (a check)
    status: str  # "ok" | "oom" | "error: ..."
    detail: str | None = None


def attention_flops(settings: FlexBenchSettings, length: int, computed_blocks: int | None = None) -> float:
    """FLOPs of the timed passes of dense attention (``computed_blocks`` None) or of those blocks (all B, H)."""
    D, b = settings.head_dim, settings.block_size
    pairs = settings.batch_size * settings.num_heads * length**2 if computed_blocks is None \
        else computed_blocks * b * b  # (query, key) pairs computed
    return 4 * pairs * D * (1 + (BACKWARD_FLOPS_FACTOR if settings.backward else 0))


def _bigbird(settings: FlexBenchSettings, backend: str):
    from seqformer.attention.bigbird import BigBirdAttention, BigBirdAttentionConfig

    config = BigBirdAttentionConfig(block_size=settings.block_size, num_random_blocks=settings.num_random_blocks,
                                    backend=backend)
    return BigBirdAttention(config, num_heads=settings.num_heads, head_dim=settings.head_dim, seed=settings.seed)


def _best_time(step: Callable[[], None], settings: FlexBenchSettings, device: torch.device) -> float:
    for _ in range(settings.warmup):
        step()
    synchronize(device)
    best = float("inf")
    for _ in range(settings.repeats):
        start = time.perf_counter()
        step()
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    return best


def _dense_kernel(device: torch.device):
    """FlashAttention on CUDA (an error if it cannot run there), SDPA's own choice elsewhere."""
    if device.type != "cuda":
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel(SDPBackend.FLASH_ATTENTION)


def measure_length(length: int, settings: FlexBenchSettings) -> FlexRow:
    """Time dense and BigBird-flex attention at ``length`` tokens (a multiple of the block size)."""
    device, dtype = torch.device(settings.device), DTYPES[settings.dtype]
    generator = torch.Generator().manual_seed(settings.seed)
    shape = (settings.batch_size, settings.num_heads, length, settings.head_dim)
    q, k, v = (torch.randn(shape, generator=generator).to(device, dtype).requires_grad_(settings.backward)
               for _ in range(3))
    flex = _bigbird(settings, "flex").to(device)
    blocks = int(flex.block_mask(length // settings.block_size).sum()) * settings.batch_size  # (H, nb, nb) summed
    with torch.no_grad():  # the flex path must agree with the gather path it replaces
        reference = _bigbird(settings, "gather").to(device)(q, k, v).out.float()
        diff = float((flex(q, k, v).out.float() - reference).abs().max())

    def timed(attend: Callable[[], torch.Tensor]) -> Callable[[], None]:
        def step() -> None:
            if settings.backward:
                torch.autograd.grad(attend().float().sum(), (q, k, v))
            else:
                with torch.no_grad():
                    attend()
        return step

    def dense() -> torch.Tensor:
        with _dense_kernel(device):
            return F.scaled_dot_product_attention(q, k, v)

    dense_step, flex_step = timed(dense), timed(lambda: flex(q, k, v).out)

    dense_seconds, flex_seconds = _best_time(dense_step, settings, device), _best_time(flex_step, settings, device)
    dense_tflops = attention_flops(settings, length) / dense_seconds / 1e12
    flex_tflops = attention_flops(settings, length, blocks) / flex_seconds / 1e12
    nb = length // settings.block_size
    return FlexRow(length, blocks / (settings.batch_size * settings.num_heads * nb * nb), dense_seconds, flex_seconds,
                   dense_tflops, flex_tflops, flex_tflops / dense_tflops, diff, "ok")


def run_flex_benchmark(lengths: list[int], settings: FlexBenchSettings, on_row: Callable[[FlexRow], None] | None = None) -> list[FlexRow]:
    """:func:`measure_length` at every length; out-of-memory and other failures become rows."""
    from seqformer.attention import flex as flex_backend

    if not flex_backend.available():
        raise InputError(f"torch {torch.__version__} has no torch.nn.attention.flex_attention (needs torch >= 2.5)")
    require_cuda(settings.device)
    bad = [n for n in lengths if n < 1 or n % settings.block_size]
    if not lengths or bad:
        raise InputError(f"lengths must be positive multiples of the block size {settings.block_size}, got {lengths}")
    rows = []
    for length in sorted(lengths):
        try:
            row = measure_length(length, settings)
        except (MemoryError, RuntimeError) as err:
            oom = isinstance(err, MemoryError) or "out of memory" in str(err).lower()
            row = FlexRow(length, None, None, None, None, None, None, None,
                          "oom" if oom else f"error: {type(err).__name__}", str(err).splitlines()[0][:300])
        finally:
            if settings.device == "cuda":
                torch.cuda.empty_cache()
        rows.append(row)
        if on_row is not None:
            on_row(row)
    return rows


def flex_table(rows: list[FlexRow]):
    """A rich Table of the rows."""
    from rich.table import Table

    table = Table(title="BigBird FlexAttention vs dense FlashAttention")
    names = ("L", "blocks", "dense s", "flex s", "dense TF/s", "flex TF/s", "ratio", "vs gather", "status")
    for name in names:
        table.add_column(name, justify="left" if name == "status" else "right")
    for row in rows:
        table.add_row(f"{row.length:,}", cell(row.computed_fraction, ".1%"), cell(row.dense_seconds, ".4f"),
                      cell(row.flex_seconds, ".4f"), cell(row.dense_tflops, ".1f"),
                      cell(row.flex_tflops, ".1f"), cell(row.efficiency, ".2f"),
                      cell(row.max_abs_diff_vs_gather, ".2g"),
                      row.status)
    return table


def write_flex_json(rows: list[FlexRow], settings: FlexBenchSettings, path) -> None:
    """Write ``{"rows": [...], "settings": {...}, "machine": {...}}`` to ``path`` atomically."""
    import dataclasses
    import json

    from seqformer.io.atomic import atomic_open

    machine = machine_info() | {"gpu": gpu_name(settings.device)}
    payload = {"rows": [dataclasses.asdict(row) for row in rows], "settings": dataclasses.asdict(settings),
               "machine": machine}
    with atomic_open(path) as handle:
        json.dump(payload, handle, indent=2)
        handle.write("\n")
