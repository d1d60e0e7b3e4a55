"""Encoder speed and memory per attention implementation and sequence length.

Axes: B batch (``batch_size``, 1 by default), L tokens, D width. Every (implementation, length) pair runs in a fresh Python
process (``python -m seqformer.bench.attention --worker SPEC``) that builds one encoder with the
shared settings, runs ``warmup`` forward+backward passes on random token ids (B=1, L), then times
``repeats`` more and keeps the best. ``peak_mb`` is that worker's ``ru_maxrss`` (peak resident set
over its whole life, interpreter and libraries included, nothing subtracted), read before
``approx_error`` is measured; on CUDA ``peak_gpu_mb`` is ``torch.cuda.max_memory_allocated`` over
the worker's life (weights, activations, gradients), timings synchronize the device, and ``dtype``
``bf16`` runs the passes under bf16 autocast (BigBird then takes its FlexAttention path on CUDA).
``approx_error`` is for a registered kind at L ≤ ``max_error_length``, the relative error
‖out − exact‖ / ‖exact‖ of the attention module alone on seeded N(0, 1) q, k, v (1, H, L, D/H),
where "exact" is dense softmax attention on the same q, k, v, except for the shared-QK
``reformer-lsh``, whose exact counterpart is dense attention of q against k̂ = q/‖q‖ without self.
With ``reversible`` the encoders use reversible blocks (peers are then "unavailable").

Implementations are the registered attention kinds (inside :class:`SeqEncoder`) and two peers from
the ``bench`` extra: ``hf-bigbird`` (transformers ``BigBirdModel``, ``attention_type="block_sparse"``)
and ``performer-pytorch`` (token embedding → ``performer_pytorch.Performer`` → LayerNorm).
A run that fails is kept as a row with status "oom", "timeout", "unavailable" or "error: ...".
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import platform
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from seqformer.attention import ATTENTION_KINDS
from seqformer.errors import InputError
from seqformer.io.atomic import atomic_open
from seqformer.bench import cell
from seqformer.bench.machine import cpu_model, gpu_name, require_cuda, synchronize
from seqformer.training.metrics import peak_gpu_mb, peak_rss_mb

#: Peer implementations: name → the package (import name) it needs.
PEERS: dict[str, str] = {"hf-bigbird": "transformers", "performer-pytorch": "performer_pytorch"}
#: Peer → the registered kind it is a peer of (the plot draws it dashed, in that kind's colour).
PEER_OF: dict[str, str] = {"hf-bigbird": "bigbird", "performer-pytorch": "performer-softmax"}


@dataclass(frozen=True)
class BenchSettings:
    """One configuration shared by every implementation, plus how to time it."""

    hidden_size: int = 256  # D, the encoder width
    num_layers: int = 2  # Transformer blocks
    batch_size: int = 1  # B sequences per timed forward+backward pass
    num_heads: int = 4  # attention heads (head width D / heads)
    ffn_size: int = 1024  # MLP inner width
    block_size: int = 64  # BigBird block size (ours and Hugging Face's)
    num_random_blocks: int = 3  # BigBird random key blocks per query block
    num_features: int = 256  # Performer random features M (ours and performer-pytorch's)
    window: int = 256  # Longformer one-sided window w (2w + 1 keys per query, as BigBird's 8 blocks of 64 ≈ 512)
    num_landmarks: int = 64  # Nyströmformer landmarks m
    n_hashes: int = 2  # Reformer LSH hash rounds
    lsh_chunk_size: int = 64  # Reformer LSH chunk c (a chunk attends to itself and the previous one)
    n_buckets: int | None = None  # Reformer LSH buckets; None = 2^⌊log2(2L / c)⌋ per length (Hugging Face's rule)
    reversible: bool = False  # reversible encoder blocks (activations recomputed in backward)
    ffn_chunk_size: int | None = None  # tokens per chunk of the encoder MLPs; None = all at once
    device: str = "cpu"  # "cpu" or "cuda" (the worker's first GPU)
    dtype: str = "fp32"  # "fp32", or "bf16" (autocast; weights and gradients stay fp32)
    max_error_length: int = 4096  # approx_error is measured up to this length (its dense reference is L x L)
    vocab_size: int | None = None  # token ids are drawn below this; None = a 6-mer tokenizer's vocabulary
    repeats: int = 3  # timed forward+backward passes; the best is reported
    warmup: int = 1  # untimed passes first
    threads: int | None = None  # torch intra-op threads in each worker; None = torch's default
    timeout: float = 600.0  # seconds allowed per worker process (import, build, warm-up, repeats)
    max_rss_gb: float | None = None  # address-space cap per worker (RLIMIT_AS) so it fails as "oom"; None = 3/4 of RAM
    seed: int = 0  # seed of weights, token ids and random attention patterns / features

    def __post_init__(self) -> None:
        if self.device not in ("cpu", "cuda"):
            raise InputError(f"device must be cpu or cuda, got {self.device!r}")
        if self.dtype not in ("fp32", "bf16"):
            raise InputError(f"dtype must be fp32 or bf16, got {self.dtype!r}")

    def resolved_vocab_size(self) -> int:
        """``vocab_size``, or the vocabulary size of overlapping 6-mers."""
        if self.vocab_size is not None:
            return self.vocab_size
        from seqformer.tokenizers import KmerTokenizer

        return KmerTokenizer(k=6, stride=1).vocab_size


@dataclass
class BenchRow:
    """One (implementation, length) result."""

    impl: str  # a registered attention kind or a peer name
    length: int  # L, tokens per sequence
    seconds: float | None  # best forward+backward time; None unless status is "ok"
    peak_mb: float | None  # worker's peak resident memory (ru_maxrss) in MiB; None if it did not finish
    status: str  # "ok" | "oom" | "timeout" | "unavailable" | "error: ..."
    detail: str | None = None  # why, when the status is not "ok"
    approx_error: float | None = None  # relative error of the attention output vs exact (see module docstring)
    peak_gpu_mb: float | None = None  # on CUDA: torch.cuda.max_memory_allocated over the worker's life, MiB


def available_impls() -> list[str]:
    """Every implementation name the benchmark knows: registered kinds, then peers."""
    return [*ATTENTION_KINDS, *PEERS]


def run_benchmark(lengths: list[int], impls: list[str], settings: BenchSettings = BenchSettings(),
                  on_row: Callable[[BenchRow], None] | None = None) -> list[BenchRow]:
    """Time every implementation at every length, each in a fresh worker process.

    Once an implementation runs out of memory or time, its longer lengths are not run and are
    reported with the same status. Raises InputError for an unknown implementation or a bad length.
    """
    unknown = [impl for impl in impls if impl not in available_impls()]
    if unknown:
        raise InputError(f"unknown implementation(s) {unknown}; choose from {available_impls()}")
    if not lengths or any(length < 1 for length in lengths):
        raise InputError(f"lengths must be positive integers, got {lengths}")
    require_cuda(settings.device)
    rows, failed = [], {}
    for length in sorted(lengths):
        for impl in impls:
            if impl in failed:
                status, at = failed[impl]
                row = BenchRow(impl, length, None, None, status, f"not run: {status} at L={at}")
            else:
                row = run_one(impl, length, settings)
                if row.status in ("oom", "timeout"):
                    failed[impl] = (row.status, length)
            rows.append(row)
            if on_row is not None:
                on_row(row)
    return rows


def peer_unavailable_reason(impl: str) -> str | None:
    """Why a peer implementation cannot run here (its package is missing), or None."""
    package = PEERS.get(impl)
    if package is not None and importlib.util.find_spec(package) is None:
        return f"package {package!r} is not installed (pip install 'seqformer[bench]')"
    return None


def run_one(impl: str, length: int, settings: BenchSettings) -> BenchRow:
    """Run one (implementation, length) in a fresh ``python -m seqformer.bench.attention`` process."""
    reason = peer_unavailable_reason(impl)
    if impl in PEERS and settings.reversible:
        reason = "--reversible applies to seqformer encoders only"
    if reason is not None:
        return BenchRow(impl, length, None, None, "unavailable", reason)
    spec = json.dumps({"impl": impl, "length": length, "settings": dataclasses.asdict(settings)})
    command = [sys.executable, "-m", "seqformer.bench.attention", "--worker", spec]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=settings.timeout)
    except subprocess.TimeoutExpired:
        return BenchRow(impl, length, None, None, "timeout", f"worker ran past {settings.timeout:g} s")
    lines = done.stdout.strip().splitlines()
    if done.returncode == 0 and lines:
        return BenchRow(**json.loads(lines[-1]))
    if done.returncode == -9:
        return BenchRow(impl, length, None, None, "oom", "worker killed by SIGKILL (out-of-memory killer?)")
    last = (done.stderr.strip().splitlines() or ["no output"])[-1]
    return BenchRow(impl, length, None, None, f"error: worker exit {done.returncode}", last[-300:])


# --- inside the worker process -------------------------------------------------------------------


def build_model(impl: str, length: int, settings: BenchSettings) -> tuple[nn.Module, Callable]:
    """The model of ``impl`` and a function token ids (B, L) → hidden states (B, L, D)."""
    vocab = settings.resolved_vocab_size()
    D, H = settings.hidden_size, settings.num_heads
    if impl == "hf-bigbird":
        from transformers import BigBirdConfig, BigBirdModel

        config = BigBirdConfig(
            vocab_size=vocab, hidden_size=D, num_hidden_layers=settings.num_layers, num_attention_heads=H,
            intermediate_size=settings.ffn_size, hidden_act="gelu", hidden_dropout_prob=0.0,
            attention_probs_dropout_prob=0.0, attention_type="block_sparse", block_size=settings.block_size,
            num_random_blocks=settings.num_random_blocks, max_position_embeddings=max(length, 4096))
        model = BigBirdModel(config, add_pooling_layer=False)
        return model, lambda ids: model(input_ids=ids).last_hidden_state
    if impl == "performer-pytorch":
        from performer_pytorch import Performer

        model = nn.Sequential(
            nn.Embedding(vocab, D),
            Performer(dim=D, depth=settings.num_layers, heads=H, dim_head=D // H, causal=False,
                      nb_features=settings.num_features, ff_mult=settings.ffn_size // D),
            nn.LayerNorm(D))
        return model, model
    from seqformer.models import EncoderConfig, SeqEncoder

    config = EncoderConfig(
        vocab_size=vocab, hidden_size=D, num_layers=settings.num_layers, num_heads=H,
        ffn_size=settings.ffn_size, attention=impl, max_length=max(length, 16384), seed=settings.seed,
        attention_options=attention_options(impl, length, settings), reversible=settings.reversible,
        ffn_chunk_size=settings.ffn_chunk_size)
    model = SeqEncoder(config)
    return model, lambda ids: model(ids).last_hidden_state


def lsh_buckets(length: int, chunk: int) -> int:
    """Hugging Face's default number of LSH buckets: 2^⌊log2(2L / c)⌋, at least 2."""
    return 2 ** max(1, int(2 * length // chunk).bit_length() - 1)


def attention_options(impl: str, length: int, settings: BenchSettings) -> dict[str, Any]:
    """The options of attention kind ``impl`` under ``settings`` at ``length`` tokens."""
    if impl == "bigbird":
        return {"block_size": settings.block_size, "num_random_blocks": settings.num_random_blocks}
    if impl.startswith("performer"):
        return {"num_features": settings.num_features}
    if impl == "longformer":
        return {"window": settings.window}
    if impl == "nystromformer":
        return {"num_landmarks": settings.num_landmarks}
    if impl == "reformer-lsh":
        return {"n_hashes": settings.n_hashes, "chunk_size": settings.lsh_chunk_size,
                "n_buckets": settings.n_buckets or lsh_buckets(length, settings.lsh_chunk_size)}
    return {}


def approximation_error(impl: str, length: int, settings: BenchSettings,
                        inputs: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None) -> float:
    """‖out − exact‖ / ‖exact‖ of kind ``impl`` alone on ``inputs`` q, k, v (1, H, L, Dh), else on
    seeded N(0, 1) ones with H = ``num_heads`` and Dh = ``hidden_size / num_heads``."""
    from seqformer.attention import build_attention, masked_softmax_attention

    if inputs is None:
        heads, dim = settings.num_heads, settings.hidden_size // settings.num_heads
        generator = torch.Generator().manual_seed(settings.seed)
        inputs = tuple(torch.randn(1, heads, length, dim, generator=generator) for _ in range(3))
    q, k, v = (x.float() for x in inputs)
    module = build_attention(impl, attention_options(impl, length, settings), num_heads=q.shape[1],
                             head_dim=q.shape[3], seed=settings.seed)
    with torch.no_grad():
        if module.shared_qk:  # keys are the normalised queries, and a token does not attend to itself
            out = module(q, q, v).out
            exact, _ = masked_softmax_attention(q, q / q.norm(dim=-1, keepdim=True), v,
                                                ~torch.eye(length, dtype=torch.bool))
        else:
            out = module(q, k, v).out
            exact, _ = masked_softmax_attention(q, k, v)
    return float((out - exact).norm() / exact.norm())


def model_qkv(encoder: nn.Module, input_ids: torch.Tensor) -> list[tuple[torch.Tensor, ...]]:
    """The (q, k, v), each (B, H, L, Dh), that every attention layer of a SeqEncoder gets on ``input_ids``."""
    captured: list[tuple[torch.Tensor, ...]] = []
    hooks = [block.attention.attention.register_forward_pre_hook(
        lambda module, args: captured.append(tuple(x.detach() for x in args[:3]))) for block in encoder.blocks]
    try:
        with torch.no_grad():
            encoder.eval()(input_ids)
    finally:
        for hook in hooks:
            hook.remove()
    return captured


def trained_model_errors(model_dir: str | Path, sequence: str, impls: list[str],
                         settings: BenchSettings = BenchSettings()) -> dict[str, list[float]]:
    """Per layer, the approximation error of each kind on the q, k, v of a trained model on ``sequence``.

    ``model_dir`` holds a masked LM or an encoder (a model folder); ``sequence`` is tokenized with its
    tokenizer (one row, no padding). The kinds run with ``settings``' options at that length.
    """
    from seqformer.models.mlm import MaskedLM

    model = MaskedLM.from_pretrained(model_dir)
    ids = model.tokenizer.batch_encode([sequence]).input_ids  # (1, L)
    layers = model_qkv(model.encoder, ids)
    return {impl: [approximation_error(impl, ids.shape[1], settings, qkv) for qkv in layers] for impl in impls}


def measure(impl: str, length: int, settings: BenchSettings) -> BenchRow:
    """Build ``impl``, warm up, and time forward+backward of ``batch_size`` sequences of ``length`` tokens."""
    if settings.threads is not None:
        torch.set_num_threads(settings.threads)
    torch.manual_seed(settings.seed)
    device = torch.device(settings.device)
    model, forward = build_model(impl, length, settings)
    model.to(device).train()
    ids = torch.randint(5, settings.resolved_vocab_size(), (settings.batch_size, length)).to(device)  # (B, L), no specials
    bf16 = settings.dtype == "bf16"

    def step() -> None:
        model.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            hidden = forward(ids)
        hidden.float().sum().backward()
        synchronize(device)

    for _ in range(settings.warmup):
        step()
    best = float("inf")
    for _ in range(settings.repeats):
        start = time.perf_counter()
        step()
        best = min(best, time.perf_counter() - start)
    return BenchRow(impl, length, best, peak_rss_mb(), "ok", peak_gpu_mb=peak_gpu_mb(device))


def physical_memory() -> int:
    """Bytes of RAM on this machine."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def is_out_of_memory(err: BaseException) -> bool:
    """Whether an exception means an allocation failed."""
    text = str(err).lower()
    return isinstance(err, MemoryError) or "out of memory" in text or "can't allocate memory" in text


def worker(impl: str, length: int, settings: BenchSettings) -> BenchRow:
    """:func:`measure` with failures turned into rows."""
    if settings.device == "cpu":  # CUDA reserves far more address space than it uses: no cap there
        cap = int(settings.max_rss_gb * 2**30) if settings.max_rss_gb is not None else physical_memory() * 3 // 4
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    try:
        row = measure(impl, length, settings)  # peak_mb is read before the error's dense reference runs
        if impl in ATTENTION_KINDS and length <= settings.max_error_length:
            row.approx_error = approximation_error(impl, length, settings)
        return row
    except ImportError as err:
        return BenchRow(impl, length, None, None, "unavailable", f"{type(err).__name__}: {err}")
    except (MemoryError, RuntimeError) as err:
        if not is_out_of_memory(err):
            return BenchRow(impl, length, None, None, f"error: {type(err).__name__}", str(err)[:300])
        return BenchRow(impl, length, None, peak_rss_mb(), "oom", str(err).splitlines()[0][:200],
                        peak_gpu_mb=peak_gpu_mb(torch.device(settings.device)))
    except Exception as err:  # noqa: BLE001 - any failure becomes a row, never a lost run
        return BenchRow(impl, length, None, None, f"error: {type(err).__name__}", str(err)[:300])


# --- results -------------------------------------------------------------------------------------


def machine_info(settings: BenchSettings) -> dict[str, Any]:
    """Where the numbers were measured: CPU, cores, memory, torch version, threads, load at the end."""
    return {
        "cpu": cpu_model(), "logical_cores": os.cpu_count(), "platform": platform.platform(),
        "memory_gb": round(physical_memory() / 2**30, 1),
        "python": platform.python_version(), "torch": torch.__version__,
        "threads": settings.threads or torch.get_num_threads(),
        "gpu": gpu_name(settings.device),
        "load_average_1_5_15min": [round(load, 2) for load in os.getloadavg()],  # others' jobs skew timings
    }


def write_json(rows: list[BenchRow], settings: BenchSettings, path: str | Path) -> None:
    """Write ``{"rows": [...], "settings": {...}, "machine": {...}}`` to ``path`` atomically."""
    payload = {"rows": [dataclasses.asdict(row) for row in rows], "settings": dataclasses.asdict(settings),
               "machine": machine_info(settings)}
    with atomic_open(path) as handle:
        json.dump(payload, handle, indent=2)
        handle.write("\n")


def results_table(rows: list[BenchRow], batch_size: int = 1):
    """A rich Table: one line per (implementation, length); a GPU memory column for CUDA runs, a tokens/s
    column for batches of more than one sequence."""
    from rich.table import Table

    gpu = any(row.peak_gpu_mb is not None for row in rows)
    table = Table(title=f"Encoder forward+backward, batch {batch_size}")
    names = ("impl", "length", "seconds", *(("tokens/s",) if batch_size > 1 else ()), "peak MiB",
             *(("GPU peak MiB",) if gpu else ()), "approx error", "status")
    for name in names:
        table.add_column(name, justify="left" if name in ("impl", "status") else "right")
    for row in rows:
        rate = None if row.seconds is None else batch_size * row.length / row.seconds
        table.add_row(row.impl, f"{row.length:,}", cell(row.seconds, ".3f"),
                      *((cell(rate, ",.0f"),) if batch_size > 1 else ()), cell(row.peak_mb, ",.0f"),
                      *((cell(row.peak_gpu_mb, ",.0f"),) if gpu else ()), cell(row.approx_error, ".3g"),
                      row.status if row.detail is None else f"{row.status} ({row.detail})")
    return table


def plot_about(settings: BenchSettings, machine: dict[str, Any]) -> dict[str, str]:
    """The plot's caption: the device, torch threads, dtype, torch and the encoder's shape."""
    cpu = f"CPU {machine.get('cpu', '?')} ({machine.get('logical_cores', '?')} logical cores)"
    device = f"GPU {machine['gpu']}" if machine.get("gpu") else cpu
    dtype = "bf16 autocast (fp32 weights)" if settings.dtype == "bf16" else settings.dtype
    shape = (f"D {settings.hidden_size}, {settings.num_layers} layers, {settings.num_heads} heads"
             + (", reversible" if settings.reversible else ""))
    return {"device": device, "threads": str(machine.get("threads", settings.threads or "torch default")),
            "dtype": dtype, "torch": str(machine.get("torch", "")), "encoder": shape}


def plot_benchmark(rows: list[BenchRow], settings: BenchSettings | None = None,
                   machine: dict[str, Any] | None = None):
    """Log-log seconds vs length, one line per implementation (peers dashed); failed runs named in the legend.

    The caption names the device, threads and dtype: from ``machine`` (as :func:`machine_info` records
    it, e.g. a results JSON's ``"machine"``), else this machine under ``settings``.
    """
    from seqformer.figures.benchmark import plot_attention_speed

    settings = settings if settings is not None else BenchSettings()
    machine = machine if machine is not None else machine_info(settings)
    return plot_attention_speed(rows, peers={peer: PEER_OF.get(peer) for peer in PEERS},
                                about=plot_about(settings, machine))


def plot_json(path: str | Path):
    """:func:`plot_benchmark` of a results JSON that :func:`write_json` wrote (its rows, settings, machine)."""
    payload = json.loads(Path(path).read_text())
    fields = {field.name for field in dataclasses.fields(BenchSettings)}
    settings = BenchSettings(**{key: value for key, value in payload.get("settings", {}).items() if key in fields})
    return plot_benchmark([BenchRow(**row) for row in payload["rows"]], settings, payload.get("machine", {}))


def main(argv: list[str] | None = None) -> int:
    """Worker entry point: ``python -m seqformer.bench.attention --worker SPEC`` prints one JSON row."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", required=True, help="JSON: {impl, length, settings}")
    spec = json.loads(parser.parse_args(argv).worker)
    row = worker(spec["impl"], spec["length"], BenchSettings(**spec["settings"]))
    print(json.dumps(dataclasses.asdict(row)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
