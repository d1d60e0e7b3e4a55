"""Genome-scan throughput against the model's own forward throughput on the same windows.

Axes: B windows per batch, L tokens. ``scan`` times :func:`~seqformer.predict.scan.scan_genome` over a
region (fetching, N checks, reverse complements, tokenizing, forward passes, stitching, writing BED and
bedGraph). ``forward`` times only the forward passes and probabilities on the same scored windows, both
strands, pre-tokenized into tensors on the device beforehand, in the same batches. The overhead is
``scan_seconds / forward_seconds - 1`` (target <= 30%). One warm-up batch runs before either timing;
with ``repeats`` > 1 the scan and the forward-only pass alternate and the best of each is reported
(``*_runs`` lists every pass), so load from other processes on a shared machine biases neither side.
"""

from __future__ import annotations

import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from seqformer.bench.machine import gpu_name, synchronize
from seqformer.io.regions import Region
from seqformer.io.sequence import reverse_complement
from seqformer.predict.scan import MAX_N_FRACTION, scan_genome
from seqformer.predict.scorer import label_index
from seqformer.predict.windows import batched, tile


def random_classifier(window: int = 300, k: int = 6, hidden_size: int = 128, num_layers: int = 2,
                      num_heads: int = 4, ffn_size: int = 512, seed: int = 0):
    """A randomly initialised promoter classifier (speed does not depend on the weights)."""
    from seqformer.models import EncoderConfig
    from seqformer.models.classifier import ClassifierConfig, SequenceClassifier
    from seqformer.tokenizers import KmerTokenizer

    torch.manual_seed(seed)
    tok = KmerTokenizer(k)
    encoder = EncoderConfig.for_tokenizer(tok, hidden_size=hidden_size, num_layers=num_layers,
                                          num_heads=num_heads, ffn_size=ffn_size)
    return SequenceClassifier(ClassifierConfig(encoder=encoder, labels=("promoter",), window=window),
                              tokenizer=tok).eval()


def _pretokenize(model, genome, region: Region, window: int, stride: int, batch_size: int,
                 device: torch.device) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The scan's scored windows as (input_ids, attention_mask) batches on ``device``, + then - strand."""
    batches = []
    kept = (w.seq for w in tile(genome, region, window, stride) if w.n_fraction <= MAX_N_FRACTION)
    for seqs in batched(kept, batch_size):
        for strand in (seqs, [reverse_complement(s) for s in seqs]):
            enc = model.tokenizer.batch_encode(strand, padding="longest")
            batches.append((enc.input_ids.to(device), enc.attention_mask.to(device)))
    return batches


@torch.inference_mode()
def _forward_seconds(model, batches: list[tuple[torch.Tensor, torch.Tensor]], device: torch.device) -> float:
    """Seconds of forward passes and probabilities alone over pre-tokenized ``batches``."""
    synchronize(device)
    began = time.perf_counter()
    for ids, mask in batches:
        model.predict_proba(model(ids, mask).logits).cpu()
    synchronize(device)
    return time.perf_counter() - began


def run_scan_benchmark(model, genome, region: Region, *, batch_size: int = 64, stride: int | None = None,
                       device: torch.device | str = "cpu", label: str = "promoter",
                       repeats: int = 1) -> dict[str, Any]:
    """Scan and forward-only timings of ``model`` over ``region`` (see the module docstring)."""
    device = torch.device(device)
    model = model.to(device).eval()
    label_index(model, label)
    window = model.config.window
    stride = stride or max(1, window // 2)
    warm = [w.seq for w, _ in zip(tile(genome, region, window, stride), range(batch_size))]
    with torch.inference_mode():
        enc = model.tokenizer.batch_encode(warm, padding="longest")
        model(enc.input_ids.to(device), enc.attention_mask.to(device))
    batches = _pretokenize(model, genome, region, window, stride, batch_size, device)
    scored = sum(len(ids) for ids, _ in batches[::2])
    scans, forwards = [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            result = scan_genome(model, genome, region, Path(tmp) / "calls.bed", label=label,
                                 bedgraph=Path(tmp) / "track.bedgraph", stride=stride, batch_size=batch_size)
        scans.append(result.seconds)
        forwards.append(_forward_seconds(model, batches, device))
    scan, forward = min(scans), min(forwards)
    bases = len(region)
    return {
        "region": str(region), "bases": bases, "window": window, "stride": stride, "batch_size": batch_size,
        "device": str(device), "windows": result.windows, "scored": result.scored, "skipped": result.skipped,
        "calls": result.calls, "repeats": repeats, "scan_seconds": scan, "forward_seconds": forward,
        "scan_seconds_runs": scans, "forward_seconds_runs": forwards,
        "scan_bases_per_s": bases / scan, "scan_windows_per_s": result.windows / scan,
        "forward_windows_per_s": scored / forward if forward else float("nan"),
        "overhead_pct": (scan / forward - 1) * 100 if forward else float("nan"),
        "load_average": os.getloadavg(),
        "parameters": sum(p.numel() for p in model.parameters()),
        "machine": f"{platform.machine()} {platform.processor() or platform.system()}, {os.cpu_count()} CPUs, "
                   f"torch {torch.__version__}, {torch.get_num_threads()} threads"
                   + (f", {gpu_name(device)}" if device.type == "cuda" else ""),
    }
