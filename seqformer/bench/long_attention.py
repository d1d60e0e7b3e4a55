"""Attention maps of long inputs: chunked extraction against the dense need_weights path, memory and seconds.

Axes: L tokens, N layers, H heads, c query rows per chunk, k keys kept per query.

Two small random protein models (:class:`LongBenchSettings`: width 64, 2 layers, 4 heads, the
kinds' default options): ``performer-relu`` and ``bigbird``. At each length L one random protein
of L - 2 residues (L tokens with [CLS] and [SEP]) is read two ways:

- ``chunked``: :func:`~seqformer.analysis.long_attention.sparse_sequence_attention` (top-k keys per
  query, exact per-head statistics), c query rows at a time: what ``attention maps`` does above
  the dense limit;
- ``dense``: the encoder's forward with ``output_attentions=True`` (``need_weights=True``: one
  (1, H, L, L) tensor per layer), stacked into the (N, H, L, L) float32 array, as
  :func:`~seqformer.analysis.attention.attention_probs` does (without its 2,048-token cap).

Every (kind, L, method) runs in a fresh worker process (``python -m seqformer.bench.long_attention
--worker SPEC``) with ``threads`` torch threads, after a warm-up on 128 tokens. ``seconds`` is the
wall time of the call; ``peak_mib`` is the process's peak resident memory during the call minus
its resident memory just before it (psutil RSS sampled every millisecond by a thread, and
``ru_maxrss`` where it rose during the call): what the extraction and its result add, the model
and the interpreter excluded (pages the warm-up freed and the call reuses are not counted; pages
the allocator keeps after a free are, so it errs high rather than low). A dense run the kind
refuses (L above its ``max_weights_length``) is the row "refused", with the kind's message.
Before each dense run its peak is projected from the longest dense run measured for that kind,
``peak × (L / L0)²``; where that exceeds ``memory_share`` of the memory available at that moment
the run is skipped ("would exceed memory"), and a refused row states the projection too.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import os
import resource
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from seqformer.bench import cell
from seqformer.bench.machine import machine_info
from seqformer.errors import InputError
from seqformer.io.atomic import atomic_open

KINDS = ("performer-relu", "bigbird")
METHODS = ("chunked", "dense")
WARMUP_TOKENS = 128  # a first short call before the measured one: kernels and patterns loaded
SAMPLE_SECONDS = 0.001  # RSS sampling interval


@dataclass(frozen=True)
class LongBenchSettings:
    """The models and how to run them."""

    hidden_size: int = 64  # D, the encoder width
    num_layers: int = 2  # N
    num_heads: int = 4  # H (head width D / H = 16)
    ffn_size: int = 256  # MLP inner width
    top_k: int = 32  # k: keys kept per query by the chunked path
    chunk_size: int | None = None  # c: query rows per chunk; None = automatic (H·c·L ≤ 4M probabilities)
    max_weights_length: int = 4096  # the kinds' need_weights limit (their default): the dense path refuses above
    threads: int = 1  # torch intra-op threads per worker
    timeout: float = 300.0  # seconds allowed per worker (import, build, warm-up, call)
    memory_share: float = 0.5  # run dense only when its projected peak is below this share of available memory
    seed: int = 0  # weights, BigBird patterns, Performer projections and the protein

    def __post_init__(self) -> None:
        if self.chunk_size is not None and self.chunk_size < 1:
            raise InputError(f"chunk size must be at least 1 query row, got {self.chunk_size}")
        if self.top_k < 1:
            raise InputError(f"top-k must be at least 1, got {self.top_k}")


@dataclass
class LongBenchRow:
    """One (kind, length, method) result."""

    kind: str  # attention kind
    length: int  # L tokens, [CLS] and [SEP] included
    method: str  # "chunked" or "dense"
    status: str  # "ok" | "refused" | "would exceed memory" | "timeout" | "error: ..."
    seconds: float | None = None  # wall time of the extraction call
    peak_mib: float | None = None  # peak RSS during the call minus RSS before it (MiB)
    detail: str | None = None  # why, when the status is not "ok"
    projected_mib: float | None = None  # dense rows not run: peak projected from the longest dense run
    weights_kept: int | None = None  # chunked: kept (query, key) weights; dense: N·H·L² values


def run_benchmark(lengths: list[int], kinds: list[str] = list(KINDS), settings: LongBenchSettings = LongBenchSettings(),
                  on_row: Callable[[LongBenchRow], None] | None = None) -> list[LongBenchRow]:
    """Both methods for every kind at every length (ascending), each in a fresh worker process."""
    import psutil

    from seqformer.analysis.attention import map_kinds

    unknown = [kind for kind in kinds if kind not in map_kinds()]
    if unknown:
        raise InputError(f"kind(s) {unknown} have no attention maps; choose from {map_kinds()}")
    if not lengths or any(length < 3 for length in lengths):
        raise InputError(f"lengths must be integers of at least 3 tokens, got {lengths}")
    rows: list[LongBenchRow] = []
    for kind in kinds:
        dense_at: tuple[int, float] | None = None  # (L0, peak MiB) of the longest dense run measured
        for length in sorted(lengths):
            for method in METHODS:
                projected = None if method == "chunked" or dense_at is None \
                    else dense_at[1] * (length / dense_at[0]) ** 2
                available = psutil.virtual_memory().available / 2**20
                if projected is not None and projected > settings.memory_share * available:
                    row = LongBenchRow(kind, length, method, "would exceed memory", projected_mib=projected,
                                       detail=_projection(projected, available))
                else:
                    row = run_one(kind, length, method, settings)
                    if row.status == "ok" and method == "dense":
                        dense_at = (length, row.peak_mib)
                    elif row.status != "ok" and projected is not None:
                        row.projected_mib = projected
                        row.detail = f"{row.detail}; {_projection(projected, available)}"
                rows.append(row)
                if on_row is not None:
                    on_row(row)
    return rows


def _projection(projected: float, available: float) -> str:
    """'projected X GiB (...), Y GiB available': the dense peak this length would need."""
    return (f"projected {projected / 1024:,.1f} GiB (measured dense peak × (L/L0)²), "
            f"{available / 1024:,.1f} GiB available")


def run_one(kind: str, length: int, method: str, settings: LongBenchSettings) -> LongBenchRow:
    """One (kind, length, method) in a fresh ``python -m seqformer.bench.long_attention`` process."""
    spec = json.dumps({"kind": kind, "length": length, "method": method, "settings": dataclasses.asdict(settings)})
    command = [sys.executable, "-m", "seqformer.bench.long_attention", "--worker", spec]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=settings.timeout)
    except subprocess.TimeoutExpired:
        return LongBenchRow(kind, length, method, "timeout", detail=f"worker ran past {settings.timeout:g} s")
    lines = done.stdout.strip().splitlines()
    if done.returncode == 0 and lines:
        return LongBenchRow(**json.loads(lines[-1]))
    last = (done.stderr.strip().splitlines() or ["no output"])[-1]
    status = "error: killed (out of memory?)" if done.returncode == -9 else f"error: worker exit {done.returncode}"
    return LongBenchRow(kind, length, method, status, detail=last[-300:])


# --- inside the worker process -------------------------------------------------------------------


def build_model(kind: str, length: int, settings: LongBenchSettings):
    """A random protein encoder of ``kind`` with max_length ``max(length, WARMUP_TOKENS)``, in eval mode."""
    import torch

    from seqformer.models import EncoderConfig, SeqEncoder
    from seqformer.tokenizers import ProteinTokenizer

    torch.manual_seed(settings.seed)
    tokenizer = ProteinTokenizer()
    config = EncoderConfig.for_tokenizer(
        tokenizer, hidden_size=settings.hidden_size, num_layers=settings.num_layers, num_heads=settings.num_heads,
        ffn_size=settings.ffn_size, attention=kind, max_length=max(length, WARMUP_TOKENS), seed=settings.seed,
        attention_options={"max_weights_length": settings.max_weights_length})
    return SeqEncoder(config, tokenizer=tokenizer).eval()


def random_protein(residues: int, seed: int) -> str:
    """``residues`` letters drawn uniformly from the 20 amino acids."""
    import numpy as np

    from seqformer.tokenizers.protein import STANDARD_AMINO_ACIDS

    return "".join(np.random.default_rng(seed).choice(list(STANDARD_AMINO_ACIDS), residues))


def dense_maps(model, seq: str):
    """(N, H, L, L) float32 from need_weights=True: the dense path of attention_probs, without its cap."""
    import numpy as np
    import torch

    ids = torch.from_numpy(model.tokenizer.encode(seq).astype(np.int64))[None]
    with torch.no_grad():
        out = model(ids, torch.ones_like(ids, dtype=torch.bool), output_attentions=True)
        return torch.stack(out.attentions, dim=1)[0].float().numpy()


def peak_call(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """(result, seconds, MiB): ``fn()``'s wall time and the peak RSS during it above the RSS before it."""
    import psutil

    process = psutil.Process()
    gc.collect()
    before = process.memory_info().rss
    max_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    peak, done = before, threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, process.memory_info().rss)
            done.wait(SAMPLE_SECONDS)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    try:
        result = fn()
        seconds = time.perf_counter() - start
    finally:
        done.set()
        sampler.join()
    max_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    if max_after > max_before:  # the process's all-time peak was set during the call
        peak = max(peak, max_after)
    return result, seconds, (peak - before) / 2**20


def measure(kind: str, length: int, method: str, settings: LongBenchSettings) -> LongBenchRow:
    """Build the model, warm up on a short protein, then time one extraction of a random protein of L tokens."""
    import torch

    from seqformer.analysis.long_attention import sparse_sequence_attention

    torch.set_num_threads(settings.threads)
    model = build_model(kind, length, settings)
    if method == "chunked":
        def extract(seq):
            return sparse_sequence_attention(model, seq, "random", top_k=settings.top_k,
                                             chunk_size=settings.chunk_size)
    else:
        def extract(seq):
            return dense_maps(model, seq)
    extract(random_protein(WARMUP_TOKENS - 2, settings.seed + 1))
    result, seconds, peak = peak_call(lambda: extract(random_protein(length - 2, settings.seed)))
    kept = len(result.weights) if method == "chunked" else int(result.size)
    return LongBenchRow(kind, length, method, "ok", seconds=seconds, peak_mib=peak, weights_kept=kept)


def worker(kind: str, length: int, method: str, settings: LongBenchSettings) -> LongBenchRow:
    """:func:`measure` with failures turned into rows."""
    try:
        return measure(kind, length, method, settings)
    except ValueError as err:
        if "max_weights_length" not in str(err):
            return LongBenchRow(kind, length, method, "error: ValueError", detail=str(err)[:300])
        return LongBenchRow(kind, length, method, "refused", detail=str(err).splitlines()[0][:300])
    except MemoryError as err:
        return LongBenchRow(kind, length, method, "error: MemoryError", detail=str(err)[:300])
    except Exception as err:  # noqa: BLE001 - any failure becomes a row, never a lost run
        return LongBenchRow(kind, length, method, f"error: {type(err).__name__}", detail=str(err)[:300])


# --- results -------------------------------------------------------------------------------------


def results_table(rows: list[LongBenchRow]):
    """A rich Table: one line per (kind, length, method)."""
    from rich.table import Table

    table = Table(title="Attention maps of one long protein: chunked (top-k) vs dense need_weights")
    for name in ("kind", "L", "method", "seconds", "peak MiB", "weights kept", "status"):
        table.add_column(name, justify="left" if name in ("kind", "method", "status") else "right")
    for row in rows:
        table.add_row(row.kind, f"{row.length:,}", row.method, cell(row.seconds, ".2f"), cell(row.peak_mib, ",.0f"),
                      cell(row.weights_kept, ",d"),
                      row.status if row.detail is None else f"{row.status} ({row.detail})")
    return table


def markdown_table(rows: list[LongBenchRow]) -> str:
    """The rows as a Markdown table (for docs/benchmarks.md)."""
    lines = ["| kind | L | method | seconds | peak MiB | weights kept | status |",
             "| --- | ---: | --- | ---: | ---: | ---: | --- |"]
    for row in rows:
        status = row.status if row.detail is None else f"{row.status}: {row.detail}"
        lines.append(f"| {row.kind} | {row.length:,} | {row.method} | {cell(row.seconds, '.2f')} | "
                     f"{cell(row.peak_mib, ',.0f')} | {cell(row.weights_kept, ',d')} | {status} |")
    return "\n".join(lines)


def write_json(rows: list[LongBenchRow], settings: LongBenchSettings, path: str | Path) -> None:
    """Write ``{"rows": [...], "settings": {...}, "machine": {...}}`` to ``path`` atomically."""
    payload = {"rows": [dataclasses.asdict(row) for row in rows], "settings": dataclasses.asdict(settings),
               "machine": {**machine_info(), "torch_threads": settings.threads,
                           "load_average_1_5_15min": [round(load, 2) for load in os.getloadavg()]},
               "memory": "peak RSS during the call minus RSS before it (psutil every 1 ms, and ru_maxrss), "
                         "one fresh worker process per row"}
    with atomic_open(path) as handle:
        json.dump(payload, handle, indent=2)
        handle.write("\n")


def main(argv: list[str] | None = None) -> int:
    """Worker entry point: ``python -m seqformer.bench.long_attention --worker SPEC`` prints one JSON row."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", required=True, help="JSON: {kind, length, method, settings}")
    spec = json.loads(parser.parse_args(argv).worker)
    row = worker(spec["kind"], spec["length"], spec["method"], LongBenchSettings(**spec["settings"]))
    print(json.dumps(dataclasses.asdict(row)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
