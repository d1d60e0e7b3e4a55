"""k-mer tokenizer throughput: the vectorised encoder against DNABERT-style string splitting.

Every record of a FASTA file is read through :func:`seqformer.io.fasta.read_fasta` (timed as
``read_seconds``; the records are held in memory) and encoded with :class:`KmerTokenizer`
``repeats`` times (``seconds`` is the best pass over all records: letter checks, k-mer ids,
[CLS]/[SEP], the int32 output). The reference, :func:`reference_kmer_ids`
(``[seq[i:i+k] for i in ...]`` then a dict lookup per k-mer), is timed the same way in the same
run on the first ``reference_bases`` bases of the file, and its ids are compared with the
encoder's there (``reference_match``). Both run on one thread: the encoder is plain numpy
without BLAS.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from rich.table import Table

from seqformer.bench.machine import machine_info
from seqformer.io.fasta import read_fasta
from seqformer.tokenizers.kmer import KmerTokenizer
from seqformer.tokenizers.reference import kmer_vocab, reference_kmer_ids

REFERENCE_BASES = 1_000_000


def run_tokenize_benchmark(path: str | os.PathLike, tokenizer: KmerTokenizer, *,
                           reference_bases: int = REFERENCE_BASES, repeats: int = 3) -> dict[str, Any]:
    """Encode every record of ``path`` ``repeats`` times; time the reference on the first bases.

    Returns:
        A JSON-able dict: ``bases``, ``tokens``, ``seconds`` (best encoding pass over all
        records; every pass in ``seconds_runs``), ``read_seconds``, ``mb_per_s``,
        ``reference_mb_per_s`` (best of ``repeats`` too), ``speedup``, ``reference_match``,
        the tokenizer, ``machine`` (see :func:`machine_info`), ``torch_threads`` and ``numpy``.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    started = time.perf_counter()
    records = [(record.id, record.seq) for record in read_fasta(path)]
    read_seconds = time.perf_counter() - started
    runs, tokens = [], 0
    for _ in range(repeats):
        started = time.perf_counter()
        tokens = sum(len(tokenizer.encode(seq, record=name, path=path)) for name, seq in records)
        runs.append(time.perf_counter() - started)
    bases = sum(len(seq) for _, seq in records)
    samples = _first_bases(records, reference_bases)
    reference = _time_reference(samples, tokenizer, repeats)
    mb_per_s = bases / min(runs) / 1e6 if min(runs) else None
    machine = machine_info()
    return {
        "file": str(path),
        "tokenizer": {"type": tokenizer.type_name, "k": tokenizer.k, "stride": tokenizer.stride},
        "records": len(records),
        "bases": bases,
        "tokens": tokens,
        "repeats": repeats,
        "seconds": min(runs),
        "seconds_runs": runs,
        "read_seconds": read_seconds,
        "mb_per_s": mb_per_s,
        **reference,
        "speedup": mb_per_s / reference["reference_mb_per_s"]
        if mb_per_s and reference["reference_mb_per_s"] else None,
        "machine": machine,
        "torch_threads": machine["torch_threads"],
        "numpy": machine["numpy"],
    }


def _first_bases(records: list[tuple[str, str]], wanted: int) -> list[str]:
    """The first ``wanted`` bases of the file, one piece per record (no k-mer spans two)."""
    pieces = []
    for _, seq in records:
        if wanted <= 0:
            break
        pieces.append(seq[:wanted])
        wanted -= len(pieces[-1])
    return pieces


def _time_reference(samples: list[str], tokenizer: KmerTokenizer, repeats: int) -> dict[str, Any]:
    """Time :func:`reference_kmer_ids` on the samples (best of ``repeats``); check the encoder."""
    vocab = kmer_vocab(tokenizer.k)  # built outside the timing
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        expected = [reference_kmer_ids(seq, tokenizer.k, tokenizer.stride, vocab) for seq in samples]
        runs.append(time.perf_counter() - started)
    match = all(tokenizer.encode(seq, add_special_tokens=False).tolist() == ids
                for seq, ids in zip(samples, expected))
    ref_bases = sum(map(len, samples))
    return {
        "reference_bases": ref_bases,
        "reference_seconds": min(runs),
        "reference_mb_per_s": ref_bases / min(runs) / 1e6 if min(runs) else None,
        "reference_match": match,
    }


def results_table(result: dict[str, Any]) -> Table:
    """The benchmark result as a small rich table."""
    table = Table(title=f"bench tokenize {Path(result['file']).name} "
                        f"(k={result['tokenizer']['k']}, stride={result['tokenizer']['stride']})")
    table.add_column("encoder")
    for column in ("bases", "seconds", "Mb/s"):
        table.add_column(column, justify="right")
    table.add_row("seqformer (vectorised)", f"{result['bases']:,}", f"{result['seconds']:.3f}",
                  f"{result['mb_per_s']:.1f}" if result["mb_per_s"] else "-")
    table.add_row("reference (string split)", f"{result['reference_bases']:,}",
                  f"{result['reference_seconds']:.3f}",
                  f"{result['reference_mb_per_s']:.1f}" if result["reference_mb_per_s"] else "-")
    speedup = f"{result['speedup']:.0f}x" if result["speedup"] else "-"
    table.caption = (f"speedup {speedup}; ids match reference: {result['reference_match']}; "
                     f"best of {result['repeats']}; reading {result['read_seconds']:.2f} s; "
                     f"{result['machine']['cpu']}")
    return table
