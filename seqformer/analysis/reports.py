"""Files of the attention analyses: what ``seqformer attention blosum`` and ``attention maps`` write.

Axes: N layers, H heads, L tokens, n letters, A = 20 amino acids.
Everything is computed before the first file is written, and every file is written to a
temporary name and renamed, so a failure (bad input raises :class:`InputError`) leaves no outputs.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
from torch import nn

from seqformer.analysis.attention import (AttentionMaps, check_extractable, encoder_of, extraction_limit,
                                          head_statistics, sequence_attention)
from seqformer.analysis.plots import plot_heads, plot_substitution_comparison
from seqformer.analysis.substitution import (DEFAULT_MATRIX, DEFAULT_MIN_HEAD_WEIGHT, DEFAULT_THRESHOLD,
                                             SubstitutionAnalysis, substitution_analysis)
from seqformer.data.corpus import check_letters
from seqformer.errors import InputError
from seqformer.io.atomic import atomic_open, atomic_path
from seqformer.io.fasta import read_fasta

DPI = 120


def read_proteins(fasta: str | Path, *, max_seqs: int | None, max_residues: int) -> tuple[list[str], int]:
    """The first ``max_seqs`` records of a protein FASTA, each cut to its first ``max_residues``; (seqs, cut)."""
    seqs, cut = [], 0
    for record in read_fasta(fasta, alphabet="protein"):
        if not seqs:
            check_letters(record.seq, "protein", str(fasta))
        if max_seqs is not None and len(seqs) >= max_seqs:
            break
        cut += len(record.seq) > max_residues
        seqs.append(record.seq[:max_residues])
    return seqs, cut


def write_json(data: dict, path: Path) -> None:
    """``data`` as indented JSON, atomically."""
    with atomic_open(path) as handle:
        json.dump(data, handle, indent=2)
        handle.write("\n")


def write_figure(figure, path: Path) -> None:
    """A Figure as PNG, atomically."""
    with atomic_open(path, "wb") as handle:
        figure.savefig(handle, format="png", dpi=DPI)


def blosum_report(model: nn.Module, fasta: str | Path, out: str | Path, *, matrix: str = DEFAULT_MATRIX,
                  max_seqs: int | None = 500, threshold: float = DEFAULT_THRESHOLD,
                  min_head_weight: float = DEFAULT_MIN_HEAD_WEIGHT, max_length: int | None = None,
                  control_seed: int = 0, batch_size: int = 8) -> tuple[SubstitutionAnalysis, dict]:
    """Run :func:`~seqformer.analysis.substitution.substitution_analysis` on a FASTA file; write the report.

    Records are read in file order up to ``max_seqs`` and cut to their first ``max_length - 2``
    residues (default: the extraction limit; Vig et al. cut at 512 tokens). Writes into ``out``:
    ``summary.json``, ``attention_correlations.csv``, ``control_correlations.csv``,
    ``substitution_matrix.csv`` (the 20 x 20 matrices), ``head_shares.csv`` (kept heads x 20) and
    ``comparison.png`` (the model at θ and at θ = 0, the control at θ = 0, the matrix). Returns
    (analysis, summary).
    """
    check_extractable(model)
    limit = extraction_limit(model)
    if max_length is None:
        max_length = limit
    if not 3 <= max_length <= limit:
        raise InputError(f"--max-length must be from 3 to the model's attention-extraction limit {limit:,}, "
                         f"got {max_length:,}")
    seqs, cut = read_proteins(fasta, max_seqs=max_seqs, max_residues=max_length - 2)
    analysis = substitution_analysis(model, seqs, matrix=matrix, threshold=threshold,
                                     min_head_weight=min_head_weight, control_seed=control_seed,
                                     batch_size=batch_size, source=fasta)
    figure = plot_substitution_comparison(analysis.panels(), analysis.matrix, matrix_name=matrix)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tables = {"attention_correlations.csv": analysis.learned.correlations,
              "control_correlations.csv": analysis.control.correlations,
              "substitution_matrix.csv": analysis.matrix, "head_shares.csv": analysis.learned.shares}
    files = [out / name for name in (*tables, "comparison.png", "summary.json")]
    summary = {**analysis.summary(), "fasta": str(fasta), "max_length": max_length, "cropped": cut,
               "attention": encoder_of(model).config.attention, "files": [f.name for f in files]}
    for name, table in tables.items():
        with atomic_open(out / name) as handle:
            table.to_csv(handle, float_format="%.6g")
    write_figure(figure, out / "comparison.png")
    write_json(summary, out / "summary.json")
    return analysis, summary


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
