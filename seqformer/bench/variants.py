"""Variant-scoring throughput against the model's own forward throughput on the same windows.

Axes: B windows per batch, L tokens. ``score`` times :func:`~seqformer.variants.score.score_vcf`
end to end on a VCF (reading and checking records, fetching REF/ALT windows, reverse complements,
tokenizing, forward passes, writing the TSV). ``forward`` times only the forward passes and
probabilities on the same windows (REF and ALT, both strands: four per scored variant),
pre-tokenized into tensors on the device beforehand, in the same batches. The overhead is
``score_seconds / forward_seconds - 1``. One warm-up batch runs first; with ``repeats`` > 1 the two
alternate and the best of each is reported (``*_runs`` lists every pass).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from seqformer.bench.machine import gpu_name, machine_info
from seqformer.bench.scan import _forward_seconds
from seqformer.io.sequence import reverse_complement
from seqformer.io.vcf import read_vcf
from seqformer.predict.windows import batched
from seqformer.variants.alleles import AlleleCounts, ContigMatcher, checked_alleles
from seqformer.variants.score import score_vcf
from seqformer.variants.windows import allele_windows


def _windows(model, genome, vcf: Path) -> list[str]:
    """Every window :func:`score_vcf` scores, in its order: per chunk, REF then ALT, + strand then -."""
    window, batch = model.config.window, []
    records = checked_alleles(read_vcf(vcf), genome, AlleleCounts(), ContigMatcher(genome.contigs), window=window)
    for _, alleles in records:
        for allele in alleles:
            w = allele_windows(genome, allele.chrom, *allele.trimmed(), window)
            batch += [w.ref, w.alt]
    return batch + [reverse_complement(s) for s in batch]


def _pretokenize(model, seqs: list[str], batch_size: int, device: torch.device):
    """(input_ids, attention_mask) batches of ``seqs`` on ``device``."""
    out = []
    for chunk in batched(seqs, batch_size):
        enc = model.tokenizer.batch_encode(chunk, padding="longest")
        out.append((enc.input_ids.to(device), enc.attention_mask.to(device)))
    return out


def run_variant_benchmark(model, genome, vcf: str | Path, *, batch_size: int = 64, device: torch.device | str = "cpu",
                          repeats: int = 1) -> dict[str, Any]:
    """Scoring and forward-only timings of ``model`` on the variants of ``vcf`` (see the module docstring)."""
    device = torch.device(device)
    model = model.to(device).eval()
    seqs = _windows(model, genome, Path(vcf))
    batches = _pretokenize(model, seqs, batch_size, device)
    if batches:
        _forward_seconds(model, batches[:1], device)  # warm-up
    scores, forwards = [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            began = time.perf_counter()
            summary = score_vcf(model, genome, vcf, Path(tmp) / "scores.tsv", batch_size=batch_size, device=device)
            scores.append(time.perf_counter() - began)
        forwards.append(_forward_seconds(model, batches, device))
    score, forward = min(scores), min(forwards)
    variants = summary.scored
    return {
        "vcf": str(vcf), "window": model.config.window, "batch_size": batch_size, "device": str(device),
        "records": summary.records, "alleles": summary.alleles, "scored": variants, "skipped": summary.skipped,
        "ref_mismatches": summary.skipped.get("ref_mismatch", 0), "renamed": summary.renamed,
        "windows": len(seqs), "repeats": repeats, "score_seconds": score, "forward_seconds": forward,
        "score_seconds_runs": scores, "forward_seconds_runs": forwards,
        "score_variants_per_s": variants / score if score else float("nan"),
        "forward_windows_per_s": len(seqs) / forward if forward else float("nan"),
        "forward_variants_per_s": variants / forward if forward else float("nan"),
        "overhead_pct": (score / forward - 1) * 100 if forward else float("nan"),
        "load_average": os.getloadavg(),
        "parameters": sum(p.numel() for p in model.parameters()),
        "machine": machine_info() | ({"gpu": gpu_name(device)} if device.type == "cuda" else {}),
    }
