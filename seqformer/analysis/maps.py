"""``seqformer attention maps``: the attention of chosen sequences as arrays, figures and head statistics.

Axes: N layers, H heads, L tokens, n letters.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
from torch import nn

from seqformer.analysis.attention import AttentionMaps, head_statistics, sequence_attention
from seqformer.analysis.reports import write_figure
from seqformer.data.corpus import check_letters
from seqformer.errors import InputError
from seqformer.figures.attention import plot_heads
from seqformer.io.atomic import atomic_open, atomic_path
from seqformer.io.fasta import read_fasta


def safe_name(name: str) -> str:
    """A file-name stem for a record id or region (``chr20:1-300`` → ``chr20_1-300``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "sequence"


def select_sequences(model: nn.Module, *, fasta: str | Path | None = None, record: str | None = None,
                     genome: str | Path | None = None, region: str | None = None,
                     max_seqs: int = 10) -> list[tuple[str, str]]:
    """(name, sequence) pairs: a genome region (DNA models), or FASTA records (``record``, else the first ``max_seqs``)."""
    from seqformer.io import Genome

    if (genome is None) != (region is None) or (genome is None) == (fasta is None):
        raise InputError("give either --genome with --region, or --fasta (with --record to pick one)")
    alphabet = "dna" if model.tokenizer.type_name == "kmer" else "protein"
    if fasta is None:
        if alphabet != "dna":
            raise InputError("--genome/--region needs a DNA (k-mer) model; this one reads proteins")
        with Genome(genome) as ref:
            target = ref.region(region)
            return [(str(target), ref.fetch_region(target))]
    chosen = []
    for entry in read_fasta(fasta, alphabet=alphabet):
        if not chosen and record is None:
            check_letters(entry.seq, alphabet, str(fasta))
        if record is None or entry.id == record:
            chosen.append((entry.id, entry.seq))
        if len(chosen) == (1 if record is not None else max_seqs):
            break
    if not chosen:
        raise InputError(f"no record {record!r}", path=fasta)
    return chosen


def maps_report(model: nn.Module, sequences: list[tuple[str, str]], out: str | Path) -> list[Path]:
    """Attention maps of each (name, sequence) into ``out``; returns the files written.

    Per sequence ``NAME.npz`` (``tokens`` (N, H, L, L), ``letters`` (N, H, n, n), ``spans`` (L, 2),
    ``token_labels`` (L,), ``seq``) and ``NAME.layerI.png`` (every head of layer I over letters);
    for all of them ``heads.tsv`` (:func:`~seqformer.analysis.attention.head_statistics`, with a
    ``sequence`` column).
    """
    if not sequences:
        raise InputError("no sequence to extract attention from")
    names = [safe_name(name) for name, _ in sequences]
    if len(set(names)) != len(names):
        raise InputError(f"two sequences share a file name: {sorted({n for n in names if names.count(n) > 1})}")
    maps = [sequence_attention(model, seq, name) for name, seq in sequences]  # every error before any file
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for stem, one in zip(names, maps):
        files.append(_write_npz(one, out / f"{stem}.npz"))
        for layer in range(one.num_layers):
            files.append(out / f"{stem}.layer{layer}.png")
            write_figure(plot_heads(one, layer), files[-1])
    table = pd.concat([head_statistics(one).assign(sequence=one.name) for one in maps], ignore_index=True)
    files.append(out / "heads.tsv")
    with atomic_open(files[-1]) as handle:
        table.to_csv(handle, sep="\t", index=False, float_format="%.6g")
    return files


def _write_npz(maps: AttentionMaps, path: Path) -> Path:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, tokens=maps.probs, letters=maps.letters(), spans=maps.spans,
                                token_labels=np.array(maps.tokens), seq=np.array(maps.seq))
    return path


def write_attention_maps(model: nn.Module, out: str | Path, **source) -> list[Path]:
    """:func:`maps_report` of the sequences :func:`select_sequences` picks from ``source``."""
    return maps_report(model, select_sequences(model, **source), out)
